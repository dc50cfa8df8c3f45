#!/usr/bin/env bash
# Publish-to-delivery latency of sendToUser, for each rate of RATE, in two modes: one in-memory gateway, and two
# gateways clustered through a Redis (publish on node A, streams on node B). One table at the end (mode x rate).
#
#   bench/latency.sh
#   RATE="500 1000" bench/latency.sh                  # a sweep: every rate in both modes
#   GATEWAY_DLL=/other/checkout/src/Gateway/bin/Release/net10.0/SseCluster.Gateway.dll bench/latency.sh
#
# Environment: USERS (200), EVENTS (5000), RATE (500 per second; several, space-separated, make a sweep), WARMUP
# (200 events, not counted), GATEWAY_DLL (the gateway to measure; default this tree's Release build, built when its
# sources changed; another build, e.g. an older checkout's, is run as it is from its own directory), SKIP_BUILD=1,
# KEEP_TMP=1, SKIP_REDIS=1.
# The Redis mode runs whenever redis-server is installed: a private redis-server on a free port, two gateways in one
# Orleans cluster through it (each its own silo ports, advertising 127.0.0.1). It is measured only when the two share
# routing (GET /sse/stats on node A lists both gateways); otherwise the table says why it was skipped. One gateway
# setup per mode serves every rate (each rate with its own users). Everything started here (gateways, redis-server,
# load clients) is stopped by PID; temp dirs are removed.
set -uo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USERS=${USERS:-200}
EVENTS=${EVENTS:-5000}
RATE=${RATE:-500}
WARMUP=${WARMUP:-200}
read -r -a RATES <<<"$RATE"
((${#RATES[@]} >= 1)) || die "RATE is empty"
for rate in "${RATES[@]}"; do
  [[ "$rate" =~ ^[1-9][0-9]*$ ]] || die "RATE must be positive integers separated by spaces, not '$RATE'"
done

bench_init
build_all
LOAD_START=$(loadavg)

# run_latency OUT RATE URL [URL2]
run_latency() {
  local out=$1 rate=$2 url=$3 url2=${4:-} pid
  local extra=()
  [[ -n "$url2" ]] && extra=(--url2 "$url2")
  # Users of their own per rate: no history of an earlier run reaches this one.
  dotnet "$LOADCLIENT_DLL" latency --url "$url" "${extra[@]}" --users "$USERS" --events "$EVENTS" --rate "$rate" \
    --warmup "$WARMUP" --user-prefix "lat$rate" >"$out" 2>"$out.err" &
  pid=$!
  track_pid "$pid"
  # publishing time + connect + drain, with margin
  if ! wait_exit "$pid" $(((EVENTS + WARMUP) * 3 / rate + 120)); then
    log "latency client timed out"
    stop_pids -t 5 "$pid"
  fi
  log "latency client exit code $EXIT_CODE"
  cat "$out" >&2
  [[ -s "$out.err" ]] && cat "$out.err" >&2
  return 0
}

# run_mode MODE URL [URL2]: every rate against the running gateway(s).
run_mode() {
  local mode=$1 rate
  for rate in "${RATES[@]}"; do
    log "$mode: $USERS users, $EVENTS events at $rate/s (+$WARMUP warm-up)"
    run_latency "$BENCH_TMP/$mode-$rate.jsonl" "$rate" "${@:2}"
  done
}

# --- 1. one node, in-memory routing -----------------------------------------------------------------------------
PORT="" # set by free_port
free_port PORT
bench_gateway memory "$PORT"
MEM_PID=$LAST_PID
wait_http "http://127.0.0.1:$PORT/readyz" "$MEM_PID" 60 || { tail -n 30 "$BENCH_TMP/memory.log" >&2; die "gateway did not become ready"; }
run_mode memory "http://127.0.0.1:$PORT"
stop_pids -t 15 "$MEM_PID" # free the CPU for the next mode

# --- 2. two nodes clustered through a Redis ---------------------------------------------------------------------
REDIS_NOTE=""
if [[ "${SKIP_REDIS:-0}" == 1 ]]; then
  REDIS_NOTE="skipped: SKIP_REDIS=1"
elif ! command -v redis-server >/dev/null 2>&1; then
  REDIS_NOTE="skipped: redis-server not installed"
elif ! start_redis "$BENCH_TMP/redis"; then
  REDIS_NOTE="skipped: redis-server did not answer PING"
else
  log "started redis-server (pid $REDIS_PID) on 127.0.0.1:$REDIS_PORT"
  APORT="" BPORT="" # set by free_port
  free_port APORT BPORT
  CLUSTER=(SseCluster__Redis__Configuration="127.0.0.1:$REDIS_PORT" SseCluster__Orleans__ClusterId="bench-$$-$RANDOM")
  bench_gateway node-a "$APORT" "${CLUSTER[@]}" SseCluster__GatewayId=bench-a
  A_PID=$LAST_PID
  bench_gateway node-b "$BPORT" "${CLUSTER[@]}" SseCluster__GatewayId=bench-b
  B_PID=$LAST_PID
  if ! wait_http "http://127.0.0.1:$APORT/readyz" "$A_PID" 60 || ! wait_http "http://127.0.0.1:$BPORT/readyz" "$B_PID" 60; then
    tail -n 20 "$BENCH_TMP/node-a.log" "$BENCH_TMP/node-b.log" >&2
    REDIS_NOTE="skipped: a Redis-configured gateway did not become ready (see logs above)"
  else
    # Do the nodes share routing? Node A's stats must list both gateways.
    ADMIN=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$APORT/dev/token" -H 'Content-Type: application/json' \
      -d '{"userId":"bench-admin","roles":["admin"]}' | jq -r '.token // empty')
    GATEWAYS=0
    for ((i = 0; i < 30; i++)); do
      GATEWAYS=$(curl -s --max-time 5 "http://127.0.0.1:$APORT/sse/stats" -H "Authorization: Bearer $ADMIN" | jq -r '.gateways | length' 2>/dev/null)
      [[ "${GATEWAYS:-0}" -ge 2 ]] 2>/dev/null && break
      sleep 0.5
    done
    if [[ "${GATEWAYS:-0}" -ge 2 ]] 2>/dev/null; then
      log "cluster: publish on node A (:$APORT), streams on node B (:$BPORT), Redis :$REDIS_PORT"
      run_mode redis "http://127.0.0.1:$APORT" "http://127.0.0.1:$BPORT"
    else
      REDIS_NOTE="skipped: with SseCluster__Redis__Configuration set, node A's /sse/stats lists ${GATEWAYS:-?} gateway(s), not 2 - this build does not share routing through Redis"
    fi
  fi
fi

# --- one table: mode x rate ---------------------------------------------------------------------------------------
# p99.9 is printed when the load client reports it (p999Ms); this one reports p50/p90/p99/max.
field() {
  local value
  value=$(json_field "$1" "$2")
  echo "${value:-?}"
}
echo
printf '%-10s %6s %8s %9s %5s %4s %5s %8s %8s %8s %8s %8s %8s %8s\n' \
  mode rate/s achieved delivered lost dup misr p50ms p90ms p99ms p99.9ms maxms ack50ms ack99ms
for mode in memory redis; do
  for rate in "${RATES[@]}"; do
    f="$BENCH_TMP/$mode-$rate.jsonl"
    label=$mode
    [[ "$mode" == redis ]] && label="redis A>B"
    if [[ ! -f "$f" ]]; then
      printf '%-10s %6s  %s\n' "$label" "$rate" "${REDIS_NOTE:-no run}"
      continue
    fi
    p999=$(json_field "$f" p999Ms)
    printf '%-10s %6s %8s %9s %5s %4s %5s %8s %8s %8s %8s %8s %8s %8s\n' "$label" "$rate" \
      "$(field "$f" achievedRate)" "$(field "$f" delivered)/$(field "$f" accepted)" "$(field "$f" lost)" \
      "$(field "$f" duplicated)" "$(field "$f" misrouted)" "$(field "$f" p50Ms)" "$(field "$f" p90Ms)" \
      "$(field "$f" p99Ms)" "${p999:--}" "$(field "$f" maxMs)" "$(field "$f" ackP50Ms)" "$(field "$f" ackP99Ms)"
  done
done
echo "users=$USERS events=$EVENTS warmup=$WARMUP cores=$(nproc) gateway=$GATEWAY_DLL loadavg_start=\"$LOAD_START\" loadavg_end=\"$(loadavg)\""
[[ -n "$REDIS_NOTE" ]] && echo "redis: $REDIS_NOTE"
exit 0
