#!/usr/bin/env bash
# Publish-to-delivery latency of sendToUser, on one in-memory gateway and, when possible, across two gateways that
# share a Redis (publish on node A, streams on node B).
#
#   bench/latency.sh
#
# Environment: USERS (200), EVENTS (5000), RATE (500 per second), WARMUP (200 events, not counted), SKIP_BUILD=1,
# KEEP_TMP=1, SKIP_REDIS=1.
# The Redis run is optional: it needs `redis-server` on PATH and src/Grains/Redis in the tree, and it only runs when
# the two gateways actually share routing (GET /sse/stats on node A lists 2 gateways); otherwise it says why it was
# skipped. Everything started here (gateways, redis-server) is stopped by PID; temp dirs are removed.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USERS=${USERS:-200}
EVENTS=${EVENTS:-5000}
RATE=${RATE:-500}
WARMUP=${WARMUP:-200}

bench_init
build_all
LOAD_START=$(loadavg)

run_latency() { # OUT URL [URL2]
  local out=$1 url=$2 url2=${3:-} pid
  local extra=()
  [[ -n "$url2" ]] && extra=(--url2 "$url2")
  dotnet "$LOADCLIENT_DLL" latency --url "$url" "${extra[@]}" --users "$USERS" --events "$EVENTS" --rate "$RATE" \
    --warmup "$WARMUP" >"$out" 2>"$out.err" &
  pid=$!
  STARTED_PIDS+=("$pid")
  # publishing time + connect + drain, with margin
  wait_exit "$pid" $(((EVENTS + WARMUP) / RATE * 3 + 120)) || log "latency client timed out"
  log "latency client exit code $EXIT_CODE"
  cat "$out" >&2
  [[ -s "$out.err" ]] && cat "$out.err" >&2
  return 0
}

# --- 1. one node, in-memory routing -----------------------------------------------------------------------------
PORT=$(free_port)
start_gateway memory "$PORT"
MEM_PID=$LAST_PID
wait_http "http://127.0.0.1:$PORT/readyz" "$MEM_PID" 60 || { tail -n 30 "$BENCH_TMP/memory.log" >&2; die "gateway did not become ready"; }
log "in-memory run: $USERS users, $EVENTS events at $RATE/s (+$WARMUP warm-up)"
run_latency "$BENCH_TMP/memory.jsonl" "http://127.0.0.1:$PORT"
stop_pid "$MEM_PID" 15 # free the CPU for the next run

# --- 2. two nodes sharing a Redis (optional) --------------------------------------------------------------------
REDIS_NOTE=""
if [[ "${SKIP_REDIS:-0}" == 1 ]]; then
  REDIS_NOTE="skipped: SKIP_REDIS=1"
elif ! command -v redis-server >/dev/null 2>&1; then
  REDIS_NOTE="skipped: redis-server not installed"
elif [[ ! -d "$REPO_DIR/src/Grains/Redis" ]]; then
  REDIS_NOTE="skipped: src/Grains/Redis does not exist (no Redis routing in this tree)"
else
  RPORT=$(free_port)
  mkdir -p "$BENCH_TMP/redis"
  redis-server --bind 127.0.0.1 --port "$RPORT" --save "" --appendonly no --dir "$BENCH_TMP/redis" \
    --protected-mode yes --daemonize no >"$BENCH_TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  STARTED_PIDS+=("$REDIS_PID")
  log "started redis-server (pid $REDIS_PID) on 127.0.0.1:$RPORT"
  for ((i = 0; i < 50; i++)); do
    [[ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null)" == PONG ]] && break
    sleep 0.2
  done
  if [[ "$(redis-cli -h 127.0.0.1 -p "$RPORT" ping 2>/dev/null)" != PONG ]]; then
    REDIS_NOTE="skipped: redis-server did not answer PING"
  else
    APORT=$(free_port)
    start_gateway node-a "$APORT" "SseCluster__Redis__Configuration=127.0.0.1:$RPORT" SseCluster__GatewayId=bench-a
    A_PID=$LAST_PID
    BPORT=$(free_port)
    start_gateway node-b "$BPORT" "SseCluster__Redis__Configuration=127.0.0.1:$RPORT" SseCluster__GatewayId=bench-b
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
        log "cluster run: publish on node A (:$APORT), streams on node B (:$BPORT), Redis :$RPORT"
        run_latency "$BENCH_TMP/redis.jsonl" "http://127.0.0.1:$APORT" "http://127.0.0.1:$BPORT"
      else
        REDIS_NOTE="skipped: with SseCluster__Redis__Configuration set, node A's /sse/stats lists ${GATEWAYS:-?} gateway(s), not 2 - this build does not route through Redis yet"
      fi
    fi
  fi
fi

# --- results side by side -----------------------------------------------------------------------------------------
echo
printf '%-14s %-16s %-16s\n' metric "in-memory" "redis A->B"
for f in events accepted delivered lost duplicated misrouted achievedRate p50Ms p90Ms p99Ms maxMs ackP50Ms ackP99Ms; do
  m=$(json_field "$BENCH_TMP/memory.jsonl" "$f")
  r="-"
  [[ -f "$BENCH_TMP/redis.jsonl" ]] && r=$(json_field "$BENCH_TMP/redis.jsonl" "$f")
  printf '%-14s %-16s %-16s\n' "$f" "${m:-?}" "${r:-?}"
done
echo "users=$USERS events=$EVENTS rate=$RATE/s warmup=$WARMUP cores=$(nproc) loadavg_start=\"$LOAD_START\" loadavg_end=\"$(loadavg)\""
[[ -n "$REDIS_NOTE" ]] && echo "redis: $REDIS_NOTE"
exit 0
