#!/usr/bin/env bash
# Publish throughput of sendToUser: how many publishes per second get accepted, through the HTTP API and through the
# publisher library, with one and two gateways. One table at the end, a row per mode:
#
#   http-memory   POST /sse/send, 1 gateway, in-memory routing
#   http-redis1   POST /sse/send, 1 gateway, cluster mode on a private redis-server
#   lib-redis1    the publisher library (SseCluster.Client), 1 gateway on that Redis
#   http-redis2   POST /sse/send round-robin over 2 gateways on that Redis (loop k -> gateway k % 2)
#   lib-redis2    the publisher library, 2 gateways on that Redis
#
#   bench/throughput.sh
#   DURATION=5 MODES="http-memory" bench/throughput.sh
#   GATEWAY_DLL=$LUA/src/Gateway/bin/Release/net10.0/SseCluster.Gateway.dll \
#     PUBLISHBENCH_DLL=/tmp/publishbench-lua/SseCluster.PublishBench.dll bench/throughput.sh      # another build
#
# Environment: USERS (1000), CONCURRENCY (32 publishes in flight), DURATION (10 s measured per mode), WARMUP_SECONDS
# (3, not counted), PAD_BYTES (0: data is {"n":<counter>}), SUBSCRIBERS (0; 1 = one SSE stream per user held during
# every run, and delivered/lost reported), MODES (the rows above, space-separated, in that order), PUBLISH_LIMIT
# (1000000: the gateways' SseCluster:Limits:PublishPerSecond, raised so the per-caller rate limit of 1,000/s does not
# cap the figure), GATEWAY_DLL / GATEWAY_CONTENT_ROOT (the gateway to measure, see scripts/lib.sh), PUBLISHBENCH_DLL
# (the publish client; default this tree's bench/SseCluster.PublishBench build, built when its sources changed; for
# another checkout build it against that checkout's client, bench/README.md "Comparing two builds"), GATEWAY_ENV
# (extra VAR=value words for every gateway), SKIP_BUILD=1, KEEP_TMP=1.
# With GATEWAY_DLL set and PUBLISHBENCH_DLL not, the lib-* rows are skipped: this tree's library would talk to a
# cluster that is not this tree's. Every gateway gets its own silo ports; one cluster id per run. Each mode publishes
# to users of its own (tp-<mode>-N), so the 2-gateway rows activate fresh stream grains, spread over both silos.
# Everything started here (gateways, redis-server, clients) is stopped by PID; temp dirs are removed.
set -uo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

USERS=${USERS:-1000}
CONCURRENCY=${CONCURRENCY:-32}
DURATION=${DURATION:-10}
WARMUP_SECONDS=${WARMUP_SECONDS:-3}
PAD_BYTES=${PAD_BYTES:-0}
SUBSCRIBERS=${SUBSCRIBERS:-0}
PUBLISH_LIMIT=${PUBLISH_LIMIT:-1000000}
ALL_MODES=(http-memory http-redis1 lib-redis1 http-redis2 lib-redis2)
read -r -a MODE_LIST <<<"${MODES:-${ALL_MODES[*]}}"
for mode in "${MODE_LIST[@]}"; do
  [[ " ${ALL_MODES[*]} " == *" $mode "* ]] || die "unknown mode '$mode' in MODES (${ALL_MODES[*]})"
done
for var in USERS CONCURRENCY DURATION; do
  [[ "${!var}" =~ ^[1-9][0-9]*$ ]] || die "$var must be a positive integer"
done
[[ "$WARMUP_SECONDS" =~ ^[0-9]+$ && "$PAD_BYTES" =~ ^[0-9]+$ ]] || die "WARMUP_SECONDS and PAD_BYTES must be integers"
[[ "$SUBSCRIBERS" == 0 || "$SUBSCRIBERS" == 1 ]] || die "SUBSCRIBERS must be 0 or 1"

PUBLISHBENCH_DIR="$BENCH_DIR/SseCluster.PublishBench"
DEFAULT_PUBLISHBENCH_DLL="$PUBLISHBENCH_DIR/bin/Release/net10.0/SseCluster.PublishBench.dll"
PUBLISHBENCH_DLL=${PUBLISHBENCH_DLL:-$DEFAULT_PUBLISHBENCH_DLL}
OTHER_GATEWAY=0
[[ "$GATEWAY_DLL" -ef "$DEFAULT_GATEWAY_DLL" || "$GATEWAY_DLL" == "$DEFAULT_GATEWAY_DLL" ]] || OTHER_GATEWAY=1
OWN_CLIENT=0
[[ "$PUBLISHBENCH_DLL" -ef "$DEFAULT_PUBLISHBENCH_DLL" || "$PUBLISHBENCH_DLL" == "$DEFAULT_PUBLISHBENCH_DLL" ]] && OWN_CLIENT=1
LIB_NOTE=""
((OTHER_GATEWAY && OWN_CLIENT)) &&
  LIB_NOTE="skipped: GATEWAY_DLL is another build; set PUBLISHBENCH_DLL to a PublishBench built against that checkout's client"

bench_init

if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
  log "SKIP_BUILD=1: using existing builds"
else
  if ((OTHER_GATEWAY)); then
    log "GATEWAY_DLL=$GATEWAY_DLL: measuring that build as it is"
  else
    ensure_gateway_built "$BENCH_TMP/build-gateway.log" || die "gateway build"
  fi
  if ((OWN_CLIENT)); then
    build_if_changed "$DEFAULT_PUBLISHBENCH_DLL" "$BENCH_TMP/build-publishbench.log" "$PUBLISHBENCH_DIR" \
      "$PUBLISHBENCH_DIR" "$BENCH_DIR/Directory.Build.props" "$SSE_ROOT"/Directory.*.props "$SSE_ROOT/src" ||
      die "publish bench build"
  else
    log "PUBLISHBENCH_DLL=$PUBLISHBENCH_DLL: using that build as it is"
  fi
fi
[[ -f "$GATEWAY_DLL" ]] || die "missing $GATEWAY_DLL"
[[ -f "$PUBLISHBENCH_DLL" ]] || die "missing $PUBLISHBENCH_DLL"
LOAD_START=$(loadavg)

# shellcheck disable=SC2206 # GATEWAY_ENV is a list of VAR=value words
GW_ENV=(SseCluster__Limits__PublishPerSecond="$PUBLISH_LIMIT" ${GATEWAY_ENV:-})

# run_publishbench MODE ARGS...: one PublishBench run, its JSON line in $BENCH_TMP/MODE.json.
run_publishbench() {
  local mode=$1 out="$BENCH_TMP/$1.json" pid
  shift
  log "$mode: $CONCURRENCY in flight over $USERS users, ${WARMUP_SECONDS} s warm-up + ${DURATION} s"
  dotnet "$PUBLISHBENCH_DLL" "$@" --users "$USERS" --concurrency "$CONCURRENCY" --seconds "$DURATION" \
    --warmup-seconds "$WARMUP_SECONDS" --pad-bytes "$PAD_BYTES" --user-prefix "tp-$mode" \
    --subscribers "$SUBSCRIBERS" >"$out" 2>"$out.err" &
  pid=$!
  track_pid "$pid"
  if ! wait_exit "$pid" $((WARMUP_SECONDS + DURATION + 240 + USERS / 50)); then
    log "$mode: the publish client timed out"
    stop_pids -t 5 "$pid"
  fi
  log "$mode: exit code $EXIT_CODE"
  cat "$out" >&2
  grep -v '^publishbench ' "$out.err" | tail -n 20 >&2
  return 0
}

wanted() { [[ " ${MODE_LIST[*]} " == *" $1 "* ]]; }

# wait_ready NAME PORT PID
wait_ready() {
  wait_http "http://127.0.0.1:$2/readyz" "$3" 90 && return 0
  tail -n 30 "$BENCH_TMP/$1.log" >&2
  return 1
}

declare -A NOTE=()

# --- 1 gateway, in-memory -----------------------------------------------------------------------------------------
if wanted http-memory; then
  PORT="" # set by free_port
  free_port PORT
  bench_gateway memory "$PORT" "${GW_ENV[@]}"
  MEM_PID=$LAST_PID
  if wait_ready memory "$PORT" "$MEM_PID"; then
    run_publishbench http-memory http --url "http://127.0.0.1:$PORT"
  else
    NOTE[http-memory]="skipped: the gateway did not become ready"
  fi
  stop_pids -t 15 "$MEM_PID"
fi

# --- 1 then 2 gateways on a private Redis -------------------------------------------------------------------------
REDIS_MODES=(http-redis1 lib-redis1 http-redis2 lib-redis2)
need_redis=0
for mode in "${REDIS_MODES[@]}"; do wanted "$mode" && need_redis=1; done
redis_skip() { for mode in "${REDIS_MODES[@]}"; do [[ -s "$BENCH_TMP/$mode.json" ]] || NOTE[$mode]=${NOTE[$mode]:-$1}; done; }
if ((need_redis)); then
  if ! command -v redis-server >/dev/null 2>&1; then
    redis_skip "skipped: redis-server not installed"
  elif ! start_redis "$BENCH_TMP/redis"; then
    redis_skip "skipped: redis-server did not answer PING"
  else
    log "started redis-server (pid $REDIS_PID) on 127.0.0.1:$REDIS_PORT"
    CLUSTER_ID="bench-tp-$$-$RANDOM"
    CLUSTER=(SseCluster__Redis__Configuration="127.0.0.1:$REDIS_PORT" SseCluster__Orleans__ClusterId="$CLUSTER_ID")
    LIB=(library --redis "127.0.0.1:$REDIS_PORT" --cluster-id "$CLUSTER_ID")
    APORT="" BPORT="" # set by free_port
    free_port APORT BPORT
    A="http://127.0.0.1:$APORT" B="http://127.0.0.1:$BPORT"
    SUB_A=() SUB_AB=()
    if [[ "$SUBSCRIBERS" == 1 ]]; then SUB_A=(--url "$A") SUB_AB=(--url "$A" --url2 "$B"); fi
    bench_gateway node-a "$APORT" "${CLUSTER[@]}" SseCluster__GatewayId=bench-a "${GW_ENV[@]}"
    A_PID=$LAST_PID
    if ! wait_ready node-a "$APORT" "$A_PID"; then
      redis_skip "skipped: a Redis-configured gateway did not become ready"
    else
      wanted http-redis1 && run_publishbench http-redis1 http --url "$A"
      if wanted lib-redis1; then
        if [[ -n "$LIB_NOTE" ]]; then NOTE[lib-redis1]=$LIB_NOTE; else run_publishbench lib-redis1 "${LIB[@]}" "${SUB_A[@]}"; fi
      fi
      if wanted http-redis2 || wanted lib-redis2; then
        bench_gateway node-b "$BPORT" "${CLUSTER[@]}" SseCluster__GatewayId=bench-b "${GW_ENV[@]}"
        B_PID=$LAST_PID
        if ! wait_ready node-b "$BPORT" "$B_PID"; then
          redis_skip "skipped: gateway B did not become ready"
        else
          # Do the nodes share routing? Node A's stats must list both gateways.
          ADMIN=$(curl -s --max-time 5 -X POST "$A/dev/token" -H 'Content-Type: application/json' \
            -d '{"userId":"bench-admin","roles":["admin"]}' | jq -r '.token // empty')
          GATEWAYS=0
          for ((i = 0; i < 30; i++)); do
            GATEWAYS=$(curl -s --max-time 5 "$A/sse/stats" -H "Authorization: Bearer $ADMIN" | jq -r '.gateways | length' 2>/dev/null)
            [[ "${GATEWAYS:-0}" -ge 2 ]] 2>/dev/null && break
            sleep 0.5
          done
          if [[ "${GATEWAYS:-0}" -ge 2 ]] 2>/dev/null; then
            wanted http-redis2 && run_publishbench http-redis2 http --url "$A" --url2 "$B"
            if wanted lib-redis2; then
              if [[ -n "$LIB_NOTE" ]]; then NOTE[lib-redis2]=$LIB_NOTE; else run_publishbench lib-redis2 "${LIB[@]}" "${SUB_AB[@]}"; fi
            fi
          else
            redis_skip "skipped: node A's /sse/stats lists ${GATEWAYS:-?} gateway(s), not 2"
          fi
        fi
      fi
    fi
  fi
fi

# --- one table ------------------------------------------------------------------------------------------------------
field() {
  local value
  value=$(json_field "$1" "$2")
  echo "${value:--}"
}
echo
printf '%-12s %4s %-9s %-7s %9s %8s %8s %7s %8s %8s %8s %8s %s\n' \
  mode gws routing via sends/s sends accepted refused p50ms p99ms maxms cpu_s delivered/lost
for mode in "${ALL_MODES[@]}"; do
  wanted "$mode" || continue
  case "$mode" in
    http-memory) gws=1 routing=memory via=http ;;
    http-redis1) gws=1 routing=redis via=http ;;
    lib-redis1) gws=1 routing=redis via=library ;;
    http-redis2) gws=2 routing=redis via=http ;;
    lib-redis2) gws=2 routing=redis via=library ;;
  esac
  f="$BENCH_TMP/$mode.json"
  if [[ -n "${NOTE[$mode]:-}" || ! -s "$f" ]] || ! grep -qF '"phase":"summary"' "$f"; then
    reason=${NOTE[$mode]:-"failed: $(jq -r '.message // empty' "$f" 2>/dev/null | head -n 1)"}
    printf '%-12s %4s %-9s %-7s  %s\n' "$mode" "$gws" "$routing" "$via" "$reason"
    continue
  fi
  refused=$(field "$f" refused)
  [[ "$refused" != 0 && "$refused" != - ]] && refused="$refused $(json_field "$f" refusedBy | jq -c . 2>/dev/null)"
  dl=-
  [[ "$SUBSCRIBERS" == 1 ]] && dl="$(field "$f" delivered)/$(field "$f" lost)"
  printf '%-12s %4s %-9s %-7s %9s %8s %8s %7s %8s %8s %8s %8s %s\n' "$mode" "$gws" "$routing" "$via" \
    "$(field "$f" sendsPerSecond)" "$(field "$f" sends)" "$(field "$f" accepted)" "$refused" \
    "$(field "$f" p50Ms)" "$(field "$f" p99Ms)" "$(field "$f" maxMs)" "$(field "$f" clientCpuSeconds)" "$dl"
done
echo "users=$USERS concurrency=$CONCURRENCY duration=${DURATION}s warmup=${WARMUP_SECONDS}s pad_bytes=$PAD_BYTES subscribers=$SUBSCRIBERS cores=$(nproc) loadavg_start=\"$LOAD_START\" loadavg_end=\"$(loadavg)\""
echo "gateway=$GATEWAY_DLL"
echo "publishbench=$PUBLISHBENCH_DLL"
exit 0
