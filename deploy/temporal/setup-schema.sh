#!/bin/sh
# One-shot job of docker-compose.yml (service temporal-schema, image temporalio/admin-tools): creates
# Temporal's two databases on the stack's PostgreSQL and brings their schemas to the version of the
# admin-tools image, as the temporalio/server image expects (it sets up no schema itself).
# Safe to run at every `docker compose up`: `create` skips an existing database, `setup-schema -v 0.0`
# leaves a newer schema alone, and `update-schema` applies only the versions still missing.
# The tests run this very script against an embedded PostgreSQL (test/support/production-temporal.ts), with
# SCHEMA_DIR pointing at the schema files that scripts/provision.sh keeps beside its temporal-sql-tool.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS must name the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set (the PostgreSQL password)}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR="${SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}" # where the admin-tools image has it

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

# Where nc is missing, PostgreSQL answering is the first step succeeding (it is safe to repeat).
last_error=""
postgres_answers() {
  if command -v nc >/dev/null 2>&1; then
    nc -z "$POSTGRES_SEEDS" "$DB_PORT"
  else
    last_error="$(sql_tool --db "${DBNAME:-temporal}" create 2>&1)"
  fi
}

attempt=0
until postgres_answers; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "PostgreSQL at $POSTGRES_SEEDS:$DB_PORT did not answer within a minute${last_error:+: $last_error}" >&2
    exit 1
  fi
  sleep 1
done

setup_database() { # database, schema directory
  echo "Temporal database $1: create if missing, then update its schema"
  sql_tool --db "$1" create
  sql_tool --db "$1" setup-schema -v 0.0
  sql_tool --db "$1" update-schema -d "$2"
}

setup_database "${DBNAME:-temporal}" "$SCHEMA_DIR/temporal/versioned"
setup_database "${VISIBILITY_DBNAME:-temporal_visibility}" "$SCHEMA_DIR/visibility/versioned"
echo "Temporal schemas are up to date"
