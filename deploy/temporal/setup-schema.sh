#!/bin/sh
# One-shot job of docker-compose.yml (service temporal-schema, image temporalio/admin-tools): creates
# Temporal's two databases on the stack's PostgreSQL and brings their schemas to the version of the
# admin-tools image, as the temporalio/server image expects (it sets up no schema itself).
# Safe to run at every `docker compose up`: `create` skips an existing database, `setup-schema -v 0.0`
# leaves a newer schema alone, and `update-schema` applies only the versions still missing.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS must name the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${SQL_PASSWORD:?SQL_PASSWORD must be set (the PostgreSQL password)}"
DB_PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

attempt=0
until nc -z "$POSTGRES_SEEDS" "$DB_PORT"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "PostgreSQL at $POSTGRES_SEEDS:$DB_PORT did not answer within a minute" >&2
    exit 1
  fi
  sleep 1
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

setup_database() { # database, schema directory
  echo "Temporal database $1: create if missing, then update its schema"
  sql_tool --db "$1" create
  sql_tool --db "$1" setup-schema -v 0.0
  sql_tool --db "$1" update-schema -d "$2"
}

setup_database "${DBNAME:-temporal}" "$SCHEMA_DIR/temporal/versioned"
setup_database "${VISIBILITY_DBNAME:-temporal_visibility}" "$SCHEMA_DIR/visibility/versioned"
echo "Temporal schemas are up to date"
