#!/usr/bin/env bash
# End-to-end browser tests of the client and the dashboard, with the system Chromium and
# a real gateway on a loopback port (Development environment: dev tokens, in-memory
# routing). Builds what it needs, ends every process it starts by PID, and prints as its
# last line:  js-e2e: N passed, N failed
# Exits non-zero when a test failed, something could not be built or started, or no
# test ran.
set -uo pipefail
cd "$(dirname "$0")"
JS_DIR="$(pwd)"
ROOT="$(cd ../.. && pwd)"
GATEWAY_DIR="$ROOT/src/Gateway"
GATEWAY_DLL="$GATEWAY_DIR/bin/Release/net10.0/SseCluster.Gateway.dll"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
ARTIFACTS="$JS_DIR/.artifacts"
TAP="$ARTIFACTS/e2e.tap"
GATEWAY_PID=""

summary() {
  echo "js-e2e: $1 passed, $2 failed"
}

fail_early() {
  echo "e2e: $1" >&2
  summary 0 1
  exit 1
}

cleanup() {
  if [ -n "$GATEWAY_PID" ] && kill -0 "$GATEWAY_PID" 2>/dev/null; then
    kill "$GATEWAY_PID" 2>/dev/null
    for _ in $(seq 1 50); do
      kill -0 "$GATEWAY_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$GATEWAY_PID" 2>/dev/null || true
    wait "$GATEWAY_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$ARTIFACTS" e2e/artifacts

# 1. The client (its build also refreshes src/Gateway/wwwroot/lib/ssecluster-client.js).
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund || fail_early "npm ci failed"
fi
npm run --silent build || fail_early "client build failed"

# 2. Chromium from Debian (never 'playwright install').
if [ ! -x "$CHROMIUM" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  # A background apt run may hold the lock: wait for it (up to 5 minutes).
  for _ in $(seq 1 60); do
    [ -x "$CHROMIUM" ] && break
    if command -v fuser >/dev/null && fuser /var/lib/dpkg/lock-frontend /var/lib/apt/lists/lock >/dev/null 2>&1; then
      sleep 5
    else
      break
    fi
  done
  if [ ! -x "$CHROMIUM" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium >/dev/null 2>&1; }
  fi
fi
[ -x "$CHROMIUM" ] || fail_early "no Chromium at $CHROMIUM"

# 3. The gateway.
[ -f "$GATEWAY_DIR/SseCluster.Gateway.csproj" ] || fail_early "no gateway project at $GATEWAY_DIR"
dotnet build "$GATEWAY_DIR" -c Release -nologo -v quiet > "$ARTIFACTS/gateway-build.log" 2>&1 ||
  { tail -30 "$ARTIFACTS/gateway-build.log" >&2; fail_early "gateway build failed"; }
[ -f "$GATEWAY_DLL" ] || fail_early "no $GATEWAY_DLL after the build"

PORT="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
GATEWAY_URL="http://127.0.0.1:$PORT"
# The project folder is the content root: appsettings.Development.json and wwwroot.
(cd "$GATEWAY_DIR" && ASPNETCORE_ENVIRONMENT=Development DOTNET_NOLOGO=1 exec dotnet "$GATEWAY_DLL" --urls "$GATEWAY_URL") \
  > "$ARTIFACTS/gateway.log" 2>&1 &
GATEWAY_PID=$!

ready=0
for _ in $(seq 1 150); do
  if ! kill -0 "$GATEWAY_PID" 2>/dev/null; then
    tail -30 "$ARTIFACTS/gateway.log" >&2
    fail_early "the gateway exited"
  fi
  if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))' "$GATEWAY_URL/healthz"; then
    ready=1
    break
  fi
  sleep 0.2
done
[ "$ready" = 1 ] || fail_early "the gateway did not answer /healthz within 30 s"

# 4. The tests (node's test runner, one file at a time, at most 150 s).
rm -f "$TAP"
GATEWAY_URL="$GATEWAY_URL" CHROMIUM_PATH="$CHROMIUM" timeout 150 node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$TAP" \
  e2e/*.test.mjs
test_rc=$?

passed="$(grep -E '^# pass [0-9]+' "$TAP" 2>/dev/null | tail -1 | awk '{print $3}')"
failed="$(grep -E '^# fail [0-9]+' "$TAP" 2>/dev/null | tail -1 | awk '{print $3}')"
cancelled="$(grep -E '^# cancelled [0-9]+' "$TAP" 2>/dev/null | tail -1 | awk '{print $3}')"
passed="${passed:-0}"
failed=$(( ${failed:-0} + ${cancelled:-0} ))
if [ "$test_rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "e2e: the test runner exited with $test_rc" >&2
  failed=1
fi

cleanup
GATEWAY_PID=""
rc=0
if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  rc=1
fi
summary "$passed" "$failed"
exit "$rc"
