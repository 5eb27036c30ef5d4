#!/bin/sh
# Start PostgreSQL the way the official image does for what shopnet's compose file uses:
# on first start (empty $PGDATA) create the cluster from POSTGRES_USER, POSTGRES_PASSWORD
# (or POSTGRES_PASSWORD_FILE) and POSTGRES_DB, then exec the server as PID 1's child.
set -eu

case "${1:-postgres}" in
    -*) set -- postgres "$@" ;;  # `docker run image -c key=value` means options for postgres
esac

if [ "${1:-postgres}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
        POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
    fi
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    pwfile=$(mktemp)
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    echo "initializing the database cluster in $PGDATA (superuser $user, database $db)"
    initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --no-locale --no-instructions >/dev/null
    rm -f "$pwfile"
    printf '\n# any address, with a password (as the official image)\nhost all all all scram-sha-256\n' \
        >> "$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    if [ "$db" != postgres ]; then
        # Single-user mode: no server listens while the cluster is half made.
        printf 'CREATE DATABASE "%s";\n' "$db" | postgres --single -D "$PGDATA" postgres >/dev/null
    fi
    echo "database cluster ready"
fi

exec "$@"
