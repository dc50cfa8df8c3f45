#!/usr/bin/env bash
# End-to-end browser tests of the client and the dashboard, with the system Chromium and
# a real gateway on a loopback port (Development environment: dev tokens, in-memory
# routing, its silo on free ports of its own). Builds the client; builds the gateway only
# when its sources changed since its last build (after test.sh's build it does not);
# installs Chromium from Debian's packages when missing (never 'playwright install').
# Ends every process it starts by PID, and prints as its last line:
#   js-e2e: N passed, N failed
# Exits non-zero when a test failed, something could not be built or started, or no
# test ran. The failover test starts deploy/local-cluster.sh itself (needs haproxy and
# redis-server; skipped without them). The gateway hands questions to samples/AnswerBackend,
# started here on a loopback port of its own (built like the gateway, when it changed).
set -uo pipefail
cd "$(dirname "$0")" || exit 1
JS_DIR="$(pwd)"
LOG_PREFIX="e2e: "
# shellcheck source=SCRIPTDIR/../../scripts/lib.sh
. "$JS_DIR/../../scripts/lib.sh"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
ARTIFACTS="$JS_DIR/.artifacts"
TAP="$ARTIFACTS/e2e.tap"
# This tree's gateway, whatever GATEWAY_DLL says elsewhere: these tests belong to this client.
GATEWAY_DLL="$DEFAULT_GATEWAY_DLL"

summary() {
  echo "js-e2e: $1 passed, $2 failed"
}

fail_early() {
  log "$1"
  summary 0 1
  exit 1
}

trap 'stop_started 10' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$ARTIFACTS" e2e/artifacts

# 1. The client (its build also refreshes src/Gateway/wwwroot/lib/ssecluster-client.js).
if [ ! -d node_modules ]; then
  npm ci --no-audit --no-fund || fail_early "npm ci failed"
fi
npm run --silent build || fail_early "client build failed"

# 2. Chromium from Debian.
[ -x "$CHROMIUM" ] || [ -n "${CHROMIUM_PATH:-}" ] || install_packages chromium
[ -x "$CHROMIUM" ] || fail_early "no Chromium at $CHROMIUM"

# 3. The gateway: built only when its sources changed.
[ -f "$GATEWAY_PROJECT_DIR/SseCluster.Gateway.csproj" ] || fail_early "no gateway project at $GATEWAY_PROJECT_DIR"
ensure_gateway_built "$ARTIFACTS/gateway-build.log" || fail_early "gateway build failed"
[ -f "$GATEWAY_DLL" ] || fail_early "no $GATEWAY_DLL after the build"

# The answer backend for streamed answers (the dashboard's chat panel), also built only when changed.
BACKEND_DIR="$SSE_ROOT/samples/AnswerBackend"
BACKEND_DLL="$BACKEND_DIR/bin/Release/net10.0/SseCluster.Samples.AnswerBackend.dll"
build_if_changed "$BACKEND_DLL" "$ARTIFACTS/answer-backend-build.log" "$BACKEND_DIR" "$BACKEND_DIR" "$SSE_ROOT"/Directory.*.props ||
  fail_early "the answer backend's build failed"
[ -f "$BACKEND_DLL" ] || fail_early "no $BACKEND_DLL after the build"

PORT="" # set by free_port
BACKEND_PORT=""
free_port PORT BACKEND_PORT
GATEWAY_URL="http://127.0.0.1:$PORT"
ANSWER_BACKEND_URL="http://127.0.0.1:$BACKEND_PORT"
# Random per run: only this gateway and this backend know it.
ANSWER_SECRET="e2e-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
start_bg -C "$(dirname "$BACKEND_DLL")" "$ARTIFACTS/answer-backend.log" env DOTNET_NOLOGO=1 \
  dotnet "$BACKEND_DLL" --urls "$ANSWER_BACKEND_URL" \
  --AnswerBackend:GatewayUrl "$GATEWAY_URL" --AnswerBackend:Secret "$ANSWER_SECRET" || fail_early "the answer backend did not start"
BACKEND_PID=$BG_PID

# The project folder is the content root: appsettings.Development.json and wwwroot.
GATEWAY_CONTENT_ROOT="$GATEWAY_PROJECT_DIR"
start_gateway "$PORT" "$ARTIFACTS/gateway.log" ASPNETCORE_ENVIRONMENT=Development \
  SseCluster__Answers__BackendUrl="$ANSWER_BACKEND_URL/answer" \
  SseCluster__Answers__BackendSecret="$ANSWER_SECRET" || fail_early "the gateway did not start"
if ! wait_http "$GATEWAY_URL/readyz" "$GATEWAY_PID" 60; then
  tail -n 30 "$ARTIFACTS/gateway.log" >&2
  fail_early "the gateway did not become ready"
fi
# The backend has no page to poll: it is ready once it listens.
for _ in $(seq 1 150); do
  port_in_use "$BACKEND_PORT" && break
  pid_alive "$BACKEND_PID" || break
  sleep 0.2
done
if ! port_in_use "$BACKEND_PORT"; then
  tail -n 30 "$ARTIFACTS/answer-backend.log" >&2
  fail_early "the answer backend did not listen on $ANSWER_BACKEND_URL"
fi

# 4. The tests (node's test runner, one file at a time, at most 180 s).
rm -f "$TAP"
GATEWAY_URL="$GATEWAY_URL" ANSWER_BACKEND_URL="$ANSWER_BACKEND_URL" CHROMIUM_PATH="$CHROMIUM" timeout 180 node --test --test-concurrency=1 \
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
  log "the test runner exited with $test_rc"
  failed=1
fi

stop_started 10
rc=0
if [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  rc=1
fi
summary "$passed" "$failed"
exit "$rc"
