#!/usr/bin/env bash
# Server CPU time per request over HTTP: the protected `/ping` with a cached
# token against the public `/health` sent the same `Authorization` header,
# on examples/resource_server in --demo mode. The figure is the server
# process's utime + stime over a wrk run, divided by the requests it served:
# the load generator's share of the machine cannot blur it.
#
#   bash scripts/cpu_per_request.sh [seconds] [connections] [rounds]
#
# Needs wrk (Debian: apt-get install wrk). Each round measures both routes
# back to back; the median of the rounds' ratios is the result. The server runs on CPU 0 and wrk on
# CPU 1 (taskset), so that neither's scheduling blurs the other's.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-64}
rounds=${3:-3}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
cargo build --release --example resource_server >/dev/null
bin="${CARGO_TARGET_DIR:-target}/release/examples/resource_server"
tick=$(getconf CLK_TCK)

out=$(mktemp)
taskset -c 0 "$bin" --demo --listen 127.0.0.1:0 ${EXTRA_ARGS:-} >"$out" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
addr=$(sed -n 's/^listening on //p' "$out")
token=$(sed -n '2p' "$out")
[ -n "$addr" ] || { echo "resource_server did not start" >&2; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }

# CPU microseconds per request for one wrk run against $1.
per_request() {
  local before after requests
  taskset -c 1 wrk -t1 -c"$conns" -d1s -H "Authorization: Bearer $token" "http://$addr$1" >/dev/null
  before=$(cpu_ticks)
  requests=$(taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" -H "Authorization: Bearer $token" "http://$addr$1" |
    awk '/requests in/ {print $1}')
  after=$(cpu_ticks)
  echo "scale=4; ($after - $before) * 1000000 / $tick / $requests" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

health=()
ping=()
ratios=()
for _ in $(seq 1 "$rounds"); do
  h=$(per_request /health)
  p=$(per_request /ping)
  health+=("$h")
  ping+=("$p")
  ratios+=("$(echo "scale=4; $p / $h" | bc)")
done
h=$(printf '%s\n' "${health[@]}" | median)
p=$(printf '%s\n' "${ping[@]}" | median)
r=$(printf '%s\n' "${ratios[@]}" | median)
printf 'server CPU per request (us), wrk -t1 -c%s -d%ss, %s rounds, same Authorization header\n' "$conns" "$secs" "$rounds"
printf '%-34s %8.2f   (%s)\n' "GET /health (public)" "$h" "${health[*]}"
printf '%-34s %8.2f   (%s)\n' "GET /ping (protected, cached)" "$p" "${ping[*]}"
printf '%-34s %8.3f   (per round: %s)\n' "ratio /ping : /health (median)" "$r" "${ratios[*]}"
