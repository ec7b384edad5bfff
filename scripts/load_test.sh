#!/usr/bin/env bash
# HTTP load test: requests per second on protected routes against an
# unprotected one of the same server (examples/resource_server in --demo mode),
# with wrk on the same machine:
#   GET /health  unprotected, answers "ok"
#   GET /ping    protected, answers "ok": the layer's cost alone
#   GET /me      protected, answers the claims as JSON (handler work included)
#
#   bash scripts/load_test.sh [seconds] [connections]
#
# Needs wrk (Debian: apt-get install wrk). Prints one line per case and the
# ratios to /health measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --example resource_server >/dev/null
bin="${CARGO_TARGET_DIR:-target}/release/examples/resource_server"

rps() { wrk -t1 -c"$conns" -d"${secs}s" "$@" | awk '/Requests\/sec/ {print $2}'; }

start() {
  out=$(mktemp)
  "$bin" --demo --listen 127.0.0.1:0 "$@" >"$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
  addr=$(sed -n 's/^listening on //p' "$out")
  token=$(sed -n '2p' "$out")
}

auth="Authorization: Bearer"
start
health=$(rps "http://$addr/health")
ping=$(rps -H "$auth $token" "http://$addr/ping")
me=$(rps -H "$auth $token" "http://$addr/me")
kill $pid
start --token-cache-capacity 0
health_cold=$(rps "http://$addr/health")
ping_cold=$(rps -H "$auth $token" "http://$addr/ping")
kill $pid

ratio() { echo "$1 / $2" | bc -l; }
printf '%-48s %12s %8s\n' "route (wrk -t1 -c$conns -d${secs}s)" "requests/s" "ratio"
printf '%-48s %12.0f %8s\n' "GET /health (unprotected)" "$health" "1.00"
printf '%-48s %12.0f %8.2f\n' "GET /ping, repeated token (cache hit)" "$ping" "$(ratio "$ping" "$health")"
printf '%-48s %12.0f %8.2f\n' "GET /me, repeated token (cache hit, JSON body)" "$me" "$(ratio "$me" "$health")"
printf '%-48s %12.0f %8s\n' "GET /health (server with the cache off)" "$health_cold" "1.00"
printf '%-48s %12.0f %8.2f\n' "GET /ping, cache off (RS256 every request)" "$ping_cold" "$(ratio "$ping_cold" "$health_cold")"
