#!/usr/bin/env bash
# Server CPU time per request over HTTP: the protected `/ping` with a cached
# token against the public `/health` sent the same `Authorization` header,
# on examples/resource_server in --demo mode. The figure is the server
# process's CPU time (its threads' run time from /proc/PID/task/*/sched,
# to the nanosecond) over wrk runs, divided by the requests they were served:
# the load generator's share of the machine cannot blur it.
#
#   bash scripts/cpu_per_request.sh [seconds] [connections] [rounds]
#
# Needs wrk (Debian: apt-get install wrk). A round starts a server process
# of its own and gives each route `seconds` of load in 1-second runs,
# alternated A B B A (`/health`, `/ping`, `/ping`, `/health`, …), so that a
# drift of the machine's speed within the round (a noisy neighbour, the
# clock) weighs on both routes alike; the
# round's ratio is of the two routes' CPU per request over the round, and
# the result is the median of the rounds' ratios. The server runs on CPU 0
# and wrk on CPU 1 (taskset), so that neither's scheduling blurs the other's.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-8}
conns=${2:-8}
rounds=${3:-7}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 1; }
# RESOURCE_SERVER=path measures another build (an older commit's, say).
if [ -n "${RESOURCE_SERVER:-}" ]; then
  bin=$RESOURCE_SERVER
else
  cargo build --release --example resource_server >/dev/null
  bin="${CARGO_TARGET_DIR:-target}/release/examples/resource_server"
fi

out=$(mktemp)
pid=
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
# Each round runs its own server process: a process's layout (its hash
# seeds, where the allocator put the cache, the token and the counters)
# can favour or cost one route by a few per cent for as long as it lives
# (three 7-round runs against one process each gave medians 1.024, 1.054
# and 1.105 in one session), so the rounds' median is over as many
# processes as rounds, not over one.
start_server() {
  taskset -c 0 "$bin" --demo --listen 127.0.0.1:0 ${EXTRA_ARGS:-} >"$out" 2>/dev/null &
  pid=$!
  for _ in $(seq 1 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
  addr=$(sed -n 's/^listening on //p' "$out")
  token=$(sed -n '2p' "$out")
  [ -n "$addr" ] || { echo "resource_server did not start" >&2; exit 1; }
}
stop_server() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  : >"$out"
}

# The server's CPU time so far, in nanoseconds: the run time of each of its
# threads (they live as long as the server: tokio's workers), from the
# scheduler's `se.sum_exec_runtime` (milliseconds, to the nanosecond).
cpu_ns() {
  cat /proc/"$pid"/task/*/sched | awk '/^se.sum_exec_runtime/ {s += $3} END {printf "%.0f\n", s * 1000000}'
}

# One 1-second wrk run against $1: "cpu_ns requests".
run() {
  local before after requests
  before=$(cpu_ns)
  requests=$(taskset -c 1 wrk -t1 -c"$conns" -d1s -H "Authorization: Bearer $token" "http://$addr$1" |
    awk '/requests in/ {print $1}')
  after=$(cpu_ns)
  echo "$((after - before)) $requests"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# A distribution-free interval for the median of the rounds' ratios: the
# k-th smallest and k-th largest round, k the largest for which the pair
# covers the median with at least 90 % confidence (binomial, p = 1/2: for
# 7 rounds the smallest and largest, 98.4 %; for 21, the 7th of each end,
# 92.2 %). Prints "low high coverage".
interval() {
  sort -n | awk '{a[NR]=$1} END {
    n = NR; k = 1; tail = 0; c = 1
    for (i = 0; i < n; i++) {
      # c = C(n, i); tail = P(Bin(n, 1/2) <= i)
      tail += c / 2 ^ n
      if (1 - 2 * tail < 0.9) break
      k = i + 1; cov = 1 - 2 * tail
      c = c * (n - i) / (i + 1)
    }
    if (k > (n + 1) / 2 || cov == "") { k = 1; cov = 1 - 2 / 2 ^ n }
    printf "%.3f %.3f %.1f\n", a[k], a[n + 1 - k], cov * 100
  }'
}

health=()
ping=()
ratios=()
# The whole run's CPU and requests, for the pooled ratio.
HC=0 HR=0 PC=0 PR=0
for _ in $(seq 1 "$rounds"); do
  start_server
  # Warm both routes (connections, the token cache, the allocator).
  run /health >/dev/null
  run /ping >/dev/null
  hc=0 hr=0 pc=0 pr=0
  for _ in $(seq 1 $(((secs + 1) / 2))); do
    for path in /health /ping /ping /health; do
      read -r c r < <(run "$path")
      if [ "$path" = /health ]; then hc=$((hc + c)) hr=$((hr + r)); else pc=$((pc + c)) pr=$((pr + r)); fi
    done
  done
  h=$(echo "scale=4; $hc / 1000 / $hr" | bc)
  p=$(echo "scale=4; $pc / 1000 / $pr" | bc)
  health+=("$h")
  ping+=("$p")
  ratios+=("$(echo "scale=4; $p / $h" | bc)")
  HC=$((HC + hc)) HR=$((HR + hr)) PC=$((PC + pc)) PR=$((PR + pr))
  stop_server
done
h=$(printf '%s\n' "${health[@]}" | median)
p=$(printf '%s\n' "${ping[@]}" | median)
r=$(printf '%s\n' "${ratios[@]}" | median)
printf 'server CPU per request (us), wrk -t1 -c%s, %s rounds of %s s a route (1-s runs, A B B A, a server process a round), same Authorization header\n' "$conns" "$rounds" "$(((secs + 1) / 2 * 2))"
printf '%-34s %8.2f   (%s)\n' "GET /health (public)" "$h" "${health[*]}"
printf '%-34s %8.2f   (%s)\n' "GET /ping (protected, cached)" "$p" "${ping[*]}"
printf '%-34s %8.3f   (per round: %s)\n' "ratio /ping : /health (median)" "$r" "${ratios[*]}"
read -r lo hi cov < <(printf '%s\n' "${ratios[@]}" | interval)
printf '%-34s %s - %s   (%s %% confidence, from the rounds alone)\n' "  interval for that median" "$lo" "$hi" "$cov"
printf '%-34s %8.3f   (all rounds: CPU over requests, each route)\n' "ratio, pooled" \
  "$(echo "scale=6; ($PC / $PR) / ($HC / $HR)" | bc)"
