#!/usr/bin/env bash
# Instruction counts per validation under callgrind: repeatable whatever else
# the machine is doing, unlike times. For each scenario of benches/probe.rs,
# runs N and 3N iterations and reports (I(3N) - I(N)) / 2N, so that set-up
# cost cancels out. Needs valgrind.
#
#   bash scripts/instructions.sh          # prints the table
#   GATE=1 bash scripts/instructions.sh   # and fails on a gross regression
#
# Note: valgrind hides some CPU features (SHA-NI), so hashing costs more
# instructions here than the CPU executes natively; ratios between two
# scenarios that hash alike stay meaningful.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
cargo bench -p bearer-guard-bench --bench probe --no-run >/dev/null 2>&1
probe=$(ls -t "${CARGO_TARGET_DIR:-target}"/release/deps/probe-* | grep -v '\.d$' | head -1)

count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$probe" "$@" 2>&1 |
    sed -n 's/.*refs: *//p' | tr -d ,
}
per_iter() { # scenario args... N
  local n=${*: -1}
  local args=("${@:1:$#-1}")
  local a b
  a=$(count "${args[@]}" "$n")
  b=$(count "${args[@]}" $((3 * n)))
  echo $(((b - a) / (2 * n)))
}

printf '%-7s %12s %12s %10s %10s\n' alg floor cold warm cold/floor
fail=0
for alg in RS256 PS256 ES256 EdDSA HS256; do
  f=$(per_iter floor "$alg" 50)
  c=$(per_iter cold "$alg" 50)
  w=$(per_iter warm "$alg" 500)
  r=$(echo "scale=3; $c / $f" | bc)
  printf '%-7s %12d %12d %10d %10.3f\n' "$alg" "$f" "$c" "$w" "$r"
  if [ "$(echo "$r > 1.5" | bc)" = 1 ]; then fail=1; fi
done
bare=$(per_iter stack-bare 500)
swarm=$(per_iter stack-warm 500)
scold=$(per_iter stack-cold 50)
vcold=$(per_iter cold RS256 50)
printf '\nRS256 through an axum router (instructions per request)\n'
printf '%-40s %10d\n' "bare router" "$bare"
printf '%-40s %10d   %.3fx of bare + cold validation\n' "bearer-guard, cold" "$scold" "$(echo "scale=4; $scold / ($bare + $vcold)" | bc)"
printf '%-40s %10d   +%d over the bare router\n' "bearer-guard, cached token" "$swarm" $((swarm - bare))
printf '\nDPoP: a cached bound token with a fresh proof (instructions per request)\n'
printf '%-7s %12s %12s %12s %22s\n' proof bearer dpop floor "(dpop-bearer)/floor"
for alg in ES256 EdDSA; do
  w=$(per_iter warm "$alg" 500)
  m=$(per_iter dpop-mint "$alg" 100)
  d=$(per_iter dpop "$alg" 100)
  f=$(($(per_iter dpop-floor "$alg" 100) - m))
  cost=$((d - m))
  printf '%-7s %12d %12d %12d %21.3fx\n' "$alg" "$w" "$cost" "$f" "$(echo "scale=4; ($cost - $w) / $f" | bc)"
done
if [ "${GATE:-0}" = 1 ] && [ "$fail" = 1 ]; then
  echo "GROSS REGRESSION: a cold validation costs over 1.5x jsonwebtoken::decode in instructions" >&2
  exit 1
fi
