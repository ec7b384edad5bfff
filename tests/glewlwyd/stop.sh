#!/usr/bin/env bash
# usage: stop.sh WORKDIR — stop the glewlwyd started by start.sh from WORKDIR
# (only the pid recorded in WORKDIR/glewlwyd.pid, and only if it is that server).
set -euo pipefail
# shellcheck source=procs.sh
. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"
[ $# -eq 1 ] || { echo "usage: stop.sh WORKDIR" >&2; exit 2; }
WORKDIR=$(cd "$1" && pwd)
PIDFILE=$WORKDIR/glewlwyd.pid
[ -f "$PIDFILE" ] || { echo "[stop.sh] no $PIDFILE: nothing to stop" >&2; exit 0; }
pid=$(cat "$PIDFILE")
if [ -n "$pid" ] && is_server "$pid" "$WORKDIR/glewlwyd.conf"; then
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  echo "[stop.sh] stopped glewlwyd pid $pid" >&2
else
  echo "[stop.sh] pid $pid is not a glewlwyd started from $WORKDIR: left alone" >&2
fi
rm -f "$PIDFILE"
