#!/usr/bin/env bash
# Start a throw-away Glewlwyd 2.7 (Debian package `glewlwyd`) on 127.0.0.1:PORT,
# with a fresh sqlite database and config in WORKDIR, then configure it for the
# integration tests (OIDC plugin issuing RFC 9068 JWT access tokens, clients,
# scopes; see configure.py and README.md).
#
# usage: start.sh [--foreground] [--no-configure] PORT WORKDIR
#
#   default         background: returns once the server answers and is configured;
#                   the server keeps running, its pid is in WORKDIR/glewlwyd.pid;
#                   stop it with stop.sh WORKDIR (or kill that pid).
#   --foreground    stays attached: prints "GLEWLWYD READY <issuer>" on stdout when
#                   the server answers and is configured, then waits. Killing this
#                   script (SIGTERM/SIGINT/SIGHUP, or even SIGKILL: the server runs
#                   under `setpriv --pdeathsig KILL`) stops the server.
#   --no-configure  skip configure.py (bare server with the default admin only).
#   --install-only  install the package if `glewlwyd` is missing, then exit
#                   (no PORT WORKDIR; .ci/run and the test harness call this once).
#
# Idempotent: a server previously started from the same WORKDIR (pid file) is
# stopped first, the database is recreated from the schema the package ships,
# the signing keys in WORKDIR/keys are kept (delete them for new ones).
# Installs the package with apt-get (as root, non-interactively) if `glewlwyd`
# is missing. Needs bash, curl, openssl, python3 (stdlib), setpriv (util-linux).
#
# environment: GLEWLWYD_ALG=RS256|RS384|RS512|PS256|ES256 (first signing key, default
# RS256), GLEWLWYD_ACCESS_TOKEN_DURATION=seconds (default 3600),
# GLEWLWYD_RESOURCES="URL [URL...]" (RFC 8707 resources of payments-client, default
# https://payments.example/),
# GLEWLWYD_LOG_LEVEL=NONE|ERROR|WARNING|INFO|DEBUG (default INFO; log in WORKDIR/glewlwyd.log)
set -euo pipefail

FOREGROUND=0
CONFIGURE=1
INSTALL_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --foreground) FOREGROUND=1; shift ;;
    --no-configure) CONFIGURE=0; shift ;;
    --install-only) INSTALL_ONLY=1; shift ;;
    -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) echo "start.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ "$INSTALL_ONLY" -eq 0 ] && [ $# -ne 2 ]; then
  echo "usage: start.sh [--foreground] [--no-configure] PORT WORKDIR" >&2
  exit 2
fi
PORT=${1:-0}
WORKDIR=${2:-}
case "$PORT" in ''|*[!0-9]*) echo "start.sh: PORT must be a number" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
T0=$(date +%s.%N)

say() { echo "[start.sh] $*" >&2; }
# shellcheck source=procs.sh
. "$(dirname "${BASH_SOURCE[0]}")/procs.sh"
die() { echo "[start.sh] ERROR: $*" >&2; exit 1; }

for tool in curl openssl python3 setpriv; do
  command -v "$tool" >/dev/null 2>&1 && continue
  pkg=$tool; [ "$tool" = setpriv ] && pkg=util-linux
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "'$tool' not found: installing the Debian package $pkg"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2 ||
      { apt-get update -q >&2 || true; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2 || true; }
  fi
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not installed (Debian package: $pkg)"
done

# ---------------------------------------------------------------- install
install_glewlwyd() {
  [ "$(id -u)" -eq 0 ] || die "glewlwyd is not installed and this is not root: run 'apt-get install glewlwyd' as root"
  command -v apt-get >/dev/null 2>&1 || die "glewlwyd is not installed and apt-get is not available"
  say "glewlwyd not found: installing the Debian package (non-interactive)"
  export DEBIAN_FRONTEND=noninteractive
  # "No configuration" skips the package's dbconfig-common database setup entirely
  # (its "Personalized" path runs a PostgreSQL init that fails without a DB server);
  # dbconfig-install=false is the usual dbconfig preseed, set too for good measure.
  debconf-set-selections <<'EOF'
glewlwyd glewlwyd/config_type select No configuration
glewlwyd glewlwyd/dbconfig-install boolean false
EOF
  local opts=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  # dbconfig-no-thanks satisfies glewlwyd's "dbconfig-mysql | dbconfig-sqlite3 | ..."
  # dependency without pulling in dbconfig-mysql, a MariaDB client and perl
  local pkgs=(glewlwyd dbconfig-no-thanks)
  if ! apt-get install "${opts[@]}" "${pkgs[@]}" >&2; then
    say "apt-get install failed: running apt-get update and retrying"
    apt-get update -q >&2 || true
    apt-get install "${opts[@]}" "${pkgs[@]}" >&2 || dpkg --configure -a >&2 || true
  fi
  command -v glewlwyd >/dev/null 2>&1 || die "could not install the 'glewlwyd' package with apt-get (see the output above)"
}
command -v glewlwyd >/dev/null 2>&1 || install_glewlwyd
GLEWLWYD=$(command -v glewlwyd)
if [ "$INSTALL_ONLY" -eq 1 ]; then
  say "glewlwyd is installed: $GLEWLWYD"
  exit 0
fi

SCHEMA=/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3
SCHEMA_GZ=/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz
STATIC=/usr/share/glewlwyd/webapp
MODS=/usr/lib/glewlwyd
[ -f "$SCHEMA" ] || [ -f "$SCHEMA_GZ" ] || die "no sqlite schema found ($SCHEMA or $SCHEMA_GZ): is glewlwyd-common/glewlwyd complete? try 'apt-get install --reinstall glewlwyd'"
[ -d "$MODS/plugin" ] || die "$MODS/plugin missing"

# ---------------------------------------------------------------- workdir
mkdir -p "$WORKDIR"
WORKDIR=$(cd "$WORKDIR" && pwd)
PIDFILE=$WORKDIR/glewlwyd.pid
CONF=$WORKDIR/glewlwyd.conf
DB=$WORKDIR/glewlwyd.db
LOG=$WORKDIR/glewlwyd.log

# stop a server this script started before from the same WORKDIR (only that pid)
if [ -f "$PIDFILE" ]; then
  old=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$old" ] && is_server "$old" "$CONF"; then
    say "stopping previous glewlwyd (pid $old) started from $WORKDIR"
    kill "$old" 2>/dev/null || true
    for _ in $(seq 1 50); do alive "$old" || break; sleep 0.1; done
    if alive "$old"; then kill -9 "$old" 2>/dev/null || true; fi
  fi
  rm -f "$PIDFILE"
fi

if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
  die "something already listens on 127.0.0.1:$PORT (not a server started from $WORKDIR): pick another port"
fi

# ---------------------------------------------------------------- database
rm -f "$DB" "$DB-journal" "$DB-wal" "$DB-shm" "$WORKDIR/admin-api-key"
if [ -f "$SCHEMA" ]; then
  python3 - "$DB" "$SCHEMA" <<'EOF'
import sqlite3, sys
# one transaction, no fsync per statement: ~0.2 s instead of ~2 s
con = sqlite3.connect(sys.argv[1], isolation_level=None); con.execute("PRAGMA synchronous=OFF")
con.executescript("BEGIN;\n" + open(sys.argv[2]).read() + "\nCOMMIT;"); con.close()
EOF
else
  python3 - "$DB" "$SCHEMA_GZ" <<'EOF'
import gzip, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None); con.execute("PRAGMA synchronous=OFF")
con.executescript("BEGIN;\n" + gzip.open(sys.argv[2], "rt").read() + "\nCOMMIT;"); con.close()
EOF
fi

# ---------------------------------------------------------------- config
# No use_secure_connection line at all: Glewlwyd refuses to start when the key is
# present (even = false) without certificate files.
cat >"$CONF" <<EOF
# generated by tests/glewlwyd/start.sh
port=$PORT
bind_address="127.0.0.1"
external_url="http://127.0.0.1:$PORT"
login_url="login.html"
api_prefix="api"
static_files_path="$STATIC/"
allow_origin="*"
log_mode="console"
log_level="${GLEWLWYD_LOG_LEVEL:-INFO}"
cookie_secure=0
cookie_same_site="empty"
session_expiration=2419200
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie,api_key"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
plugin_api_run_enabled=""
add_x_frame_option_header_deny=true
max_post_size=16778240
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="$MODS/user"
client_module_path="$MODS/client"
user_auth_scheme_module_path="$MODS/scheme"
plugin_module_path="$MODS/plugin"
hash_algorithm="SHA512"
database =
{
  type = "sqlite3"
  path = "$DB"
};
static_files_mime_types =
(
  { extension = ".html" mime_type = "text/html" },
  { extension = ".css" mime_type = "text/css" },
  { extension = ".js" mime_type = "application/javascript" },
  { extension = ".json" mime_type = "application/json" },
  { extension = ".png" mime_type = "image/png" },
  { extension = ".ico" mime_type = "image/x-icon" },
  { extension = ".woff2" mime_type = "font/woff2" }
);
EOF

# ---------------------------------------------------------------- run
: >"$LOG"
if command -v setpriv >/dev/null 2>&1; then
  # the server gets SIGKILL when this script dies (matters in --foreground mode)
  if [ "$FOREGROUND" = 1 ]; then WRAP=(setpriv --pdeathsig KILL); else WRAP=(); fi
else
  WRAP=()
fi
if [ "$FOREGROUND" = 1 ]; then
  "${WRAP[@]}" "$GLEWLWYD" --config-file="$CONF" >>"$LOG" 2>&1 </dev/null &
else
  # stdin/stdout/stderr are not the caller's: a caller that captures start.sh's
  # output (e.g. Rust's Command::output) does not wait for the server
  "$GLEWLWYD" --config-file="$CONF" >>"$LOG" 2>&1 </dev/null &
fi
SERVER_PID=$!
echo "$SERVER_PID" >"$PIDFILE"

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$SERVER_PID" || break; sleep 0.1; done
  if alive "$SERVER_PID"; then kill -9 "$SERVER_PID" 2>/dev/null || true; fi
  rm -f "$PIDFILE"
}
if [ "$FOREGROUND" = 1 ]; then
  trap 'stop_server; exit 143' TERM
  trap 'stop_server; exit 130' INT
  trap 'stop_server; exit 129' HUP
fi
fail() { echo "[start.sh] ERROR: $*" >&2; echo "---- $LOG (tail)" >&2; tail -n 30 "$LOG" >&2; stop_server; exit 1; }

# wait until it answers (usually < 0.5 s)
ready=0
for _ in $(seq 1 300); do
  alive "$SERVER_PID" || fail "glewlwyd exited during startup"
  if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/config"; then ready=1; break; fi
  sleep 0.1
done
[ "$ready" = 1 ] || fail "glewlwyd did not answer on 127.0.0.1:$PORT within 30 s"
say "glewlwyd $("$GLEWLWYD" --version 2>/dev/null | tail -n1) answers on http://127.0.0.1:$PORT (pid $SERVER_PID, log $LOG)"

if [ "$CONFIGURE" = 1 ]; then
  python3 "$HERE/configure.py" setup --port "$PORT" --workdir "$WORKDIR" >"$WORKDIR/configure.out" \
    || fail "configure.py failed"
fi
T1=$(date +%s.%N)
say "ready in $(python3 -c "print(f'{$T1-$T0:.2f}')") s; summary: $WORKDIR/glewlwyd.json, env: $WORKDIR/glewlwyd.env"

if [ "$FOREGROUND" = 1 ]; then
  echo "GLEWLWYD READY http://127.0.0.1:$PORT/api/oidc"
  rc=0
  wait "$SERVER_PID" || rc=$?
  rm -f "$PIDFILE"
  say "glewlwyd exited with status $rc"
  exit "$rc"
fi
echo "GLEWLWYD READY http://127.0.0.1:$PORT/api/oidc pid=$SERVER_PID"
