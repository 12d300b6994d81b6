#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests, on 127.0.0.1 only, in a temporary folder.
# Prints (on stdout, nothing else) the lines to eval:
#   export SOAR_AUDITOR_TEST_POSTGRES=postgresql://auditor:<password>@127.0.0.1:<port>/soar_auditor_test
#   export SOAR_AUDITOR_PG_DIR=<folder>          (what .ci/stop-postgres.sh stops and removes)
# Installs Debian's `postgresql` package when no server is installed. Progress goes to stderr.
set -euo pipefail
log() { echo "start-postgres: $*" >&2; }

if ! compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null; then
  log "installing postgresql from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

# The server refuses to run as root: run it as `postgres` then (the package creates that user).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port=${SOAR_AUDITOR_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
dir=$(mktemp -d "${TMPDIR:-/tmp}/soar-auditor-pg.XXXXXX")
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
printf '%s\n' "$password" > "$dir/pwfile"
if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
chmod 700 "$dir"

log "initdb in $dir/data ($bindir)"
as_pg "$bindir/initdb" -D "$dir/data" -U auditor --pwfile="$dir/pwfile" \
  --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
rm -f "$dir/pwfile"

log "starting on 127.0.0.1:$port"
as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >&2 || { cat "$dir/server.log" >&2; exit 1; }

as_pg "$bindir/createdb" -h "$dir" -p "$port" -U auditor soar_auditor_test >&2

echo "export SOAR_AUDITOR_TEST_POSTGRES=postgresql://auditor:${password}@127.0.0.1:${port}/soar_auditor_test"
echo "export SOAR_AUDITOR_PG_DIR=$dir"
log "ready"
