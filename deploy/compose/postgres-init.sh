#!/usr/bin/env bash
# /docker-entrypoint-initdb.d script of compose.yaml's postgres (official image; runs once, on
# an empty data directory, as postgres). Creates the owner role `supportes` (it owns the
# database and runs the migrations; no CREATEROLE) and one login role per component, as
# `supportes stack up` does locally (supportes/stack/postgres_roles.py): passwords from the
# mounted secrets, stored as SCRAM-SHA-256 verifiers. The migrate service then grants each
# role what it needs (migration 0008). The superuser may no longer log in over TCP.
set -euo pipefail

secret() { tr -d '\n' <"/run/secrets/$1"; }
never="NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS"
psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres)

"${psql[@]}" -v password="$(secret pg-supportes-password)" <<SQL
SET password_encryption = 'scram-sha-256';
CREATE ROLE supportes WITH LOGIN NOCREATEDB $never PASSWORD :'password';
CREATE DATABASE supportes OWNER supportes;
SQL
for role in supportes_writer supportes_projector supportes_api supportes_analytics; do
  "${psql[@]}" -v password="$(secret "pg-$role-password")" <<SQL
SET password_encryption = 'scram-sha-256';
CREATE ROLE $role WITH LOGIN NOCREATEDB NOINHERIT $never PASSWORD :'password';
SQL
done

# Nothing at run time is a superuser: refuse `postgres` over the network.
sed -i '1i host all postgres all reject' "$PGDATA/pg_hba.conf"
