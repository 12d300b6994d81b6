#!/usr/bin/env bash
# Stop and remove the cluster that .ci/start-postgres.sh started (named by SOAR_AUDITOR_PG_DIR).
set -euo pipefail
dir=${SOAR_AUDITOR_PG_DIR:?SOAR_AUDITOR_PG_DIR is not set (eval the output of start-postgres.sh)}
case "$dir" in */soar-auditor-pg.*) ;; *) echo "stop-postgres: refusing to remove $dir" >&2; exit 1 ;; esac
bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ -d "$dir/data" ]; then
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  else
    "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >&2 || true
  fi
fi
rm -rf "$dir"
