#!/usr/bin/env bash
# The fleet under faults: two replicas of examples/resource_server (release,
# --features redis) sharing a three-master Redis Cluster on loopback, under
# steady load from benches/fleet_faults.rs, while the authorization server
# rotates its key twice, its JWKS endpoint is down, Redis is down, and one
# master is killed and brought back. Prints per phase the requests served,
# answered 503, refused, answered wrongly (must be 0) and the p99 latency,
# and each replica's RSS before and after; exits 1 on any wrong answer.
#
#   bash scripts/fleet_faults.sh           # the full run (about 3 minutes)
#   bash scripts/fleet_faults.sh --short   # the short form CI runs
#   bash scripts/fleet_faults.sh --rate 800
#
# Needs redis-server and redis-cli (Debian: redis-server, redis-tools),
# installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis-server not found: installing the Debian package redis-server"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) || {
    echo "redis-server and redis-cli are needed: apt-get install redis-server" >&2
    exit 1
  }
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --release --features redis --example resource_server
cargo build --quiet --release -p bearer-guard-bench --example fleet_faults
"$target/release/examples/fleet_faults" --server "$target/release/examples/resource_server" "$@"
