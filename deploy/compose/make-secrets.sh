#!/usr/bin/env bash
# Generate the secrets of deploy/compose/compose.yaml into deploy/compose/secrets/ (or DIR):
# random passwords, the key-encryption key and audit key, and the files made from them (libpq
# password files, Kafka credentials files). The directory is 0700, every file 0600; existing
# passwords and keys are kept (run it again any time: the derived files are rewritten from
# them). Nothing is printed but the file names.
#
#   deploy/compose/make-secrets.sh [DIR]
#
# Each container reads its secrets as its own user, so as root this hands each file to the
# UID that reads it (the image's 10001 for supportes, 999 for postgres, 1000 for apache/kafka;
# override with APP_UID, POSTGRES_UID, KAFKA_UID). Not as root the files stay yours:
# run it with sudo, or run docker rootless where your UID maps into the containers.
set -euo pipefail

dir="${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets}"
supportes_uid="${APP_UID:-10001}"
postgres_uid="${POSTGRES_UID:-999}"
kafka_uid="${KAFKA_UID:-1000}"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random_text() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c "${1:-40}" || true; }

keep_or_make() { # NAME GENERATOR...: the file's text, made once
  local name="$1"
  shift
  if [ ! -s "$dir/$name" ]; then
    "$@" >"$dir/$name.partial"
    mv "$dir/$name.partial" "$dir/$name"
  fi
  chmod 0600 "$dir/$name"
}

write() { # NAME: stdin into the file, atomically, 0600
  cat >"$dir/$1.partial"
  chmod 0600 "$dir/$1.partial"
  mv "$dir/$1.partial" "$dir/$1"
}

read_secret() { tr -d '\n' <"$dir/$1"; }

# PostgreSQL: the superuser (only the init script uses it), the owner and the component roles.
for role in superuser supportes supportes_writer supportes_projector supportes_api supportes_analytics; do
  keep_or_make "pg-$role-password" random_text 40
done
# Kafka SCRAM users: admin (super user, topics and ACLs) and one per component.
for component in admin writer projector api auditor; do
  keep_or_make "kafka-$component-password" random_text 40
done
keep_or_make kek sh -c 'head -c 32 /dev/urandom | base64'
keep_or_make audit-key random_text 64

# libpq password files, one per login role that a supportes service uses.
for pair in owner:supportes writer:supportes_writer projector:supportes_projector api:supportes_api; do
  file="${pair%%:*}" role="${pair#*:}"
  printf 'postgres:5432:supportes:%s:%s\n' "$role" "$(read_secret "pg-$role-password")" | write "pgpass-$file"
done

# SUPPORTES_KAFKA_CREDENTIALS_FILE documents: the migrate service gets every identity (it makes
# the ACLs of each principal), each serving component only its own (the API: api and auditor).
credentials() { # COMPONENT...
  local first=1
  printf '{'
  for component in "$@"; do
    [ $first -eq 1 ] || printf ','
    first=0
    local user="supportes-$component"
    [ "$component" = admin ] && user=admin
    printf '"%s": {"username": "%s", "password": "%s"}' "$component" "$user" \
      "$(read_secret "kafka-$component-password")"
  done
  printf '}\n'
}
credentials admin writer projector api auditor | write kafka-credentials-admin.json
credentials writer | write kafka-credentials-writer.json
credentials projector | write kafka-credentials-projector.json
credentials api auditor | write kafka-credentials-api.json

if [ "$(id -u)" -eq 0 ]; then
  chown "$postgres_uid:$postgres_uid" "$dir"/pg-*-password
  chown "$kafka_uid:$kafka_uid" "$dir"/kafka-*-password
  chown "$supportes_uid:$supportes_uid" "$dir"/pgpass-* "$dir"/kafka-credentials-*.json \
    "$dir/kek" "$dir/audit-key"
fi
ls -1 "$dir"
