#!/usr/bin/env bash
# usage: stop.sh WORKDIR — stop the glewlwyd started by start.sh from WORKDIR
# (only the pid recorded in WORKDIR/glewlwyd.pid, and only if it is that server).
set -euo pipefail
# a pid is alive if /proc has it and it is not a zombie (PID 1 of a container
# may be slow to reap the orphans)
alive() { [ -r "/proc/$1/stat" ] && [ "$(sed -E 's/^.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# is pid $1 a live glewlwyd whose command line names config file $2?
is_server() {
  local cmd
  alive "$1" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  case "$cmd" in *glewlwyd*"$2"*) return 0 ;; *) return 1 ;; esac
}
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
