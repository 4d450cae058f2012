#!/bin/sh
# The official postgres image's contract, as far as Grove's compose files use it: POSTGRES_USER, POSTGRES_PASSWORD
# and POSTGRES_DB on the first start (an empty data dir), data in $PGDATA, password (scram) logins over the network,
# trusted logins on the container's own socket (pg_isready, psql in `docker compose exec`), the server running as
# the postgres user.
set -eu
if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
shift
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
install -d -o postgres -g postgres -m 0700 "$PGDATA"
install -d -o postgres -g postgres -m 2775 /var/run/postgresql
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "Error: POSTGRES_PASSWORD must be set for the first start (it initialises the database)" >&2
    exit 1
  fi
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$password_file"
  chown postgres "$password_file"
  as_postgres initdb --pgdata="$PGDATA" --username="$user" --pwfile="$password_file" --encoding=UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
  if [ "$database" != postgres ]; then
    # On the socket only while the database is made, so that nothing connects to a half-initialised server.
    as_postgres pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
    as_postgres psql --username="$user" --dbname=postgres --quiet --no-psqlrc \
      --command="CREATE DATABASE \"$database\" OWNER \"$user\""
    as_postgres pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
  fi
  echo "Initialised a new database cluster in $PGDATA (user $user, database $database)"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" "$@"
