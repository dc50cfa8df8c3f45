#!/usr/bin/env bash
# Runs every test of SseCluster: .NET (unit, integration on real Kestrel and redis-server), and the JS client's
# unit and browser tests when clients/js is present, and the offline validation of deploy/ (compose, Dockerfile,
# Kubernetes manifests). Installs what it needs from Debian's packages (redis-server, haproxy, chromium, prometheus,
# docker-compose) when missing, once (scripts/lib.sh: the scripts it runs do not try again), and
# builds the solution once (clients/js/e2e.sh does not rebuild the gateway). Ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")" || exit 1
root=$(pwd)
results="$root/.artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

# shellcheck source=SCRIPTDIR/scripts/lib.sh
. "$root/scripts/lib.sh"

install_missing() {
  local wanted=(redis-server prometheus) # prometheus: promtool parses /metrics in MetricsTests
  [ -f deploy/local-cluster.sh ] && wanted+=(haproxy)
  [ -d clients/js/e2e ] && wanted+=(chromium)
  [ -f deploy/validate.sh ] && wanted+=(docker-compose)
  install_packages "${wanted[@]}"
}

passed=0
failed=0
status=0

count_trx() {
  local trx=$1 p f
  if [ ! -f "$trx" ]; then
    echo "no results in $trx" >&2
    failed=$((failed + 1))
    return
  fi
  p=$(grep -o '<Counters [^>]*' "$trx" | grep -o ' passed="[0-9]*"' | grep -o '[0-9]*')
  f=$(grep -o '<Counters [^>]*' "$trx" | grep -o ' failed="[0-9]*"' | grep -o '[0-9]*')
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
  if [ "${p:-0}" -eq 0 ]; then
    echo "$trx ran no test" >&2
    failed=$((failed + 1))
  fi
}

count_line() {
  # "<suite>: N passed, N failed" as the last such line of a suite's output
  local line
  line=$(grep -E '^[a-z0-9-]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1)
  if [ -z "$line" ]; then
    echo "no summary line in $1" >&2
    failed=$((failed + 1))
    return
  fi
  passed=$((passed + $(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')))
  failed=$((failed + $(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')))
}

install_missing || status=1

echo "== dotnet build"
# Records the gateway as built from the current sources: clients/js/e2e.sh and the other scripts do not build it again.
if ! dotnet_build "$DEFAULT_GATEWAY_DLL" SseCluster.sln; then
  echo "build failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

for project in tests/*/*.Tests.csproj; do
  name=$(basename "$project" .csproj)
  echo "== dotnet test $name"
  dotnet test "$project" -c Release --no-build -nologo \
    --logger "trx;LogFileName=$name.trx" --logger "console;verbosity=normal" \
    --results-directory "$results" --blame-hang-timeout 5m 2>&1 | tee "$results/$name.log" \
    | grep -E '^\s+(Passed|Failed|Skipped) |Passed!|Failed!|Error Message' || true
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  count_trx "$results/$name.trx"
done

if [ -f clients/js/test.sh ]; then
  echo "== clients/js unit tests"
  bash clients/js/test.sh > "$results/js-unit.log" 2>&1 || status=1
  tail -n 5 "$results/js-unit.log"
  count_line "$results/js-unit.log"
fi

if [ -f clients/js/e2e.sh ]; then
  echo "== clients/js browser tests"
  bash clients/js/e2e.sh > "$results/js-e2e.log" 2>&1 || status=1
  tail -n 15 "$results/js-e2e.log"
  count_line "$results/js-e2e.log"
fi

if [ -f deploy/validate.sh ]; then
  echo "== deploy validation (compose, Dockerfile, Kubernetes manifests)"
  bash deploy/validate.sh > "$results/deploy-validate.log" 2>&1 || status=1
  grep -E -A8 '^(  k8s )?(FAIL|skip) ' "$results/deploy-validate.log" || true
  tail -n 1 "$results/deploy-validate.log"
  count_line "$results/deploy-validate.log"
fi

# Repeats every failure right above the total, so the end of a long run names what failed and why.
recap=$(for log in "$results"/*.Tests.log; do
  [ -f "$log" ] && grep -E -A6 '^\s+Failed [A-Za-z]' "$log" | grep -v -E '^\s+at |^--$' | head -n 60
done)
if [ -n "$recap" ]; then
  echo "== failures"
  echo "$recap"
fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a step failed without a counted test failure: never report green
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
