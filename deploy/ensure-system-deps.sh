#!/usr/bin/env bash
# Make sure the machine has what supportes' local stack needs: Python >= 3.11, Java 17+ and Maven
# (Kafka broker from Maven Central jars), PostgreSQL server binaries (Debian's `postgresql`),
# curl, wrk (`make bench`'s HTTP load generator), prometheus (promtool checks the alert rules;
# the metrics e2e test scrapes a real serve), chromium and npm (the console's browser tests).
# As root, missing Debian packages are installed; otherwise this says what to install and fails.
set -euo pipefail

missing=()
python_ok() { "${PYTHON:-python3}" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
java_ok() {
  local java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  command -v "$java" >/dev/null 2>&1 || return 1
  local major
  major=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)
  [ "${major:-0}" -ge 17 ]
}
pg_ok() {
  [ -n "${SUPPORTES_PG_DSN:-}" ] && return 0   # an external server: no local binaries needed
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1
}
kafka_needed() { [ -z "${SUPPORTES_KAFKA_BOOTSTRAP:-}" ]; }

python_ok || { echo "error: Python >= 3.11 with venv is required (set PYTHON=...)" >&2; exit 1; }
if kafka_needed; then
  java_ok || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
fi
pg_ok || missing+=(postgresql)
command -v curl >/dev/null 2>&1 || missing+=(curl)  # make run's API check and curl line
command -v wrk >/dev/null 2>&1 || missing+=(wrk)  # make bench: api-read
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)  # alert rules (promtool) and the metrics e2e test
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the console's browser tests (Playwright drives it)
command -v npm >/dev/null 2>&1 || missing+=(npm)  # axe-core for the console's accessibility checks

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "error: missing system packages: ${missing[*]}" >&2
  echo "       install them as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
  echo "       (or point SUPPORTES_KAFKA_BOOTSTRAP / SUPPORTES_PG_DSN at existing services)" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
