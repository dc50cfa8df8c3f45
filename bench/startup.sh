#!/usr/bin/env bash
# Start time to ready: from the moment a gateway process is started to its first /readyz 200, the median of STARTS
# starts, in two modes:
#
#   single    one gateway, in-memory routing
#   cluster   two gateways on a private redis-server (cluster mode), started back to back; the time until BOTH
#             answer /readyz 200, measured from the start of the first
#
#   bench/startup.sh
#   STARTS=9 bench/startup.sh
#   GATEWAY_DLL=$LUA/src/Gateway/bin/Release/net10.0/SseCluster.Gateway.dll bench/startup.sh
#
# Environment: STARTS (5 per mode), POLL_MS (20: /readyz is polled with curl every POLL_MS ms, so times are rounded
# up to about that), PAUSE_SECONDS (2: idle time after each stop, so one start's shutdown does not slow the next),
# GATEWAY_DLL / GATEWAY_CONTENT_ROOT (the gateway to measure, see scripts/lib.sh), GATEWAY_ENV (extra VAR=value words
# for every gateway), SKIP_REDIS=1 (single only), SKIP_BUILD=1, KEEP_TMP=1.
# Each cluster start gets an empty Redis (FLUSHALL; the redis-server itself is started once) and a cluster id of its
# own, so no start finds an earlier start's membership or routing state; after each cluster start the script checks
# that node A's /sse/stats lists both gateways (not timed) and says so. Gateways run as in the other bench scripts
# (bench/lib.sh bench_gateway: Development, Warning logs, DrainSeconds=1, their own silo ports). Everything started
# here is stopped by PID; temp dirs are removed.
set -uo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STARTS=${STARTS:-5}
POLL_MS=${POLL_MS:-20}
PAUSE_SECONDS=${PAUSE_SECONDS:-2}
[[ "$STARTS" =~ ^[1-9][0-9]*$ ]] || die "STARTS must be a positive integer"
[[ "$POLL_MS" =~ ^[1-9][0-9]*$ ]] || die "POLL_MS must be a positive integer"
[[ "$PAUSE_SECONDS" =~ ^[0-9]+$ ]] || die "PAUSE_SECONDS must be an integer"
command -v curl >/dev/null 2>&1 || die "curl is needed"
POLL_S=$(awk -v ms="$POLL_MS" 'BEGIN { printf "%.3f", ms / 1000 }')
TIMEOUT_S=120

bench_init
if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
  log "SKIP_BUILD=1: using the existing build"
elif [[ "$GATEWAY_DLL" -ef "$DEFAULT_GATEWAY_DLL" || "$GATEWAY_DLL" == "$DEFAULT_GATEWAY_DLL" ]]; then
  ensure_gateway_built "$BENCH_TMP/build-gateway.log" || die "gateway build"
else
  log "GATEWAY_DLL=$GATEWAY_DLL: measuring that build as it is"
fi
[[ -f "$GATEWAY_DLL" ]] || die "missing $GATEWAY_DLL"
LOAD_START=$(loadavg)

# shellcheck disable=SC2206 # GATEWAY_ENV is a list of VAR=value words
GW_ENV=(${GATEWAY_ENV:-})

now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }

# wait_ready_ms T0_US PID PORT...: polls every port's /readyz until each answered 200 once; prints, per port, the
# milliseconds from T0_US to its first 200. Fails when PID... exits or TIMEOUT_S passes.
READY_MS=()
wait_ready_ms() {
  local t0=$1 gw_pids=$2 k left status pid
  shift 2
  local ports=("$@") done_at=()
  READY_MS=()
  for ((k = 0; k < ${#ports[@]}; k++)); do done_at[k]=""; done
  while :; do
    left=0
    for ((k = 0; k < ${#ports[@]}; k++)); do
      [[ -n "${done_at[k]}" ]] && continue
      status=$(curl -s -o /dev/null -w '%{http_code}' --connect-timeout 1 --max-time 1 "http://127.0.0.1:${ports[k]}/readyz" 2>/dev/null)
      if [[ "$status" == 200 ]]; then
        done_at[k]=$(now_us)
      else
        left=1
      fi
    done
    ((left)) || break
    for pid in $gw_pids; do
      pid_alive "$pid" || { log "gateway pid $pid exited before it was ready"; return 1; }
    done
    if (($(now_us) - t0 > TIMEOUT_S * 1000000)); then
      log "not ready within ${TIMEOUT_S}s"
      return 1
    fi
    sleep "$POLL_S"
  done
  for ((k = 0; k < ${#ports[@]}; k++)); do READY_MS[k]=$(((done_at[k] - t0) / 1000)); done
}

SINGLE=() CLUSTER=() CLUSTER_NOTE=""

# --- single node, in-memory ---------------------------------------------------------------------------------------
for ((run = 1; run <= STARTS; run++)); do
  PORT="" SILO="" ORLEANS="" # set by free_port
  free_port PORT SILO ORLEANS # chosen before the clock starts (start_gateway would choose the silo ports otherwise)
  t0=$(now_us)
  bench_gateway "single-$run" "$PORT" SseCluster__Orleans__SiloPort="$SILO" SseCluster__Orleans__GatewayPort="$ORLEANS" "${GW_ENV[@]}"
  pid=$LAST_PID
  if ! wait_ready_ms "$t0" "$pid" "$PORT"; then
    tail -n 30 "$BENCH_TMP/single-$run.log" >&2
    die "single start $run: the gateway did not become ready"
  fi
  SINGLE+=("${READY_MS[0]}")
  log "single start $run: ready after ${READY_MS[0]} ms"
  stop_pids -t 15 "$pid"
  sleep "$PAUSE_SECONDS"
done

# --- two nodes on a private Redis ---------------------------------------------------------------------------------
if [[ "${SKIP_REDIS:-0}" == 1 ]]; then
  CLUSTER_NOTE="skipped: SKIP_REDIS=1"
elif ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  CLUSTER_NOTE="skipped: redis-server / redis-cli not installed"
elif ! start_redis "$BENCH_TMP/redis"; then
  CLUSTER_NOTE="skipped: redis-server did not answer PING"
else
  log "started redis-server (pid $REDIS_PID) on 127.0.0.1:$REDIS_PORT"
  for ((run = 1; run <= STARTS; run++)); do
    [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" flushall 2>&1)" == OK ]] || die "FLUSHALL failed"
    APORT="" BPORT="" ASILO="" BSILO="" AORLEANS="" BORLEANS="" # set by free_port
    free_port APORT BPORT ASILO BSILO AORLEANS BORLEANS
    CLUSTER_ENV=(SseCluster__Redis__Configuration="127.0.0.1:$REDIS_PORT" SseCluster__Orleans__ClusterId="bench-start-$$-$run")
    t0=$(now_us)
    bench_gateway "cluster-$run-a" "$APORT" "${CLUSTER_ENV[@]}" SseCluster__GatewayId=bench-a \
      SseCluster__Orleans__SiloPort="$ASILO" SseCluster__Orleans__GatewayPort="$AORLEANS" "${GW_ENV[@]}"
    a_pid=$LAST_PID
    bench_gateway "cluster-$run-b" "$BPORT" "${CLUSTER_ENV[@]}" SseCluster__GatewayId=bench-b \
      SseCluster__Orleans__SiloPort="$BSILO" SseCluster__Orleans__GatewayPort="$BORLEANS" "${GW_ENV[@]}"
    b_pid=$LAST_PID
    if ! wait_ready_ms "$t0" "$a_pid $b_pid" "$APORT" "$BPORT"; then
      tail -n 20 "$BENCH_TMP/cluster-$run-a.log" "$BENCH_TMP/cluster-$run-b.log" >&2
      die "cluster start $run: a gateway did not become ready"
    fi
    both=$((READY_MS[0] > READY_MS[1] ? READY_MS[0] : READY_MS[1]))
    CLUSTER+=("$both")
    # Not timed: do the two share routing? Node A's stats must list both gateways.
    admin=$(curl -s --max-time 5 -X POST "http://127.0.0.1:$APORT/dev/token" -H 'Content-Type: application/json' \
      -d '{"userId":"bench-admin","roles":["admin"]}' | jq -r '.token // empty')
    gateways=0
    for ((i = 0; i < 20; i++)); do
      gateways=$(curl -s --max-time 5 "http://127.0.0.1:$APORT/sse/stats" -H "Authorization: Bearer $admin" | jq -r '.gateways | length' 2>/dev/null)
      [[ "${gateways:-0}" -ge 2 ]] 2>/dev/null && break
      sleep 0.5
    done
    log "cluster start $run: A ready after ${READY_MS[0]} ms, B after ${READY_MS[1]} ms, both after $both ms; A's /sse/stats lists ${gateways:-?} gateway(s)"
    [[ "${gateways:-0}" -ge 2 ]] 2>/dev/null || CLUSTER_NOTE="WARNING: in start $run node A's /sse/stats listed ${gateways:-?} gateway(s), not 2 - the nodes did not form one cluster"
    stop_pids -t 15 "$a_pid" "$b_pid"
    sleep "$PAUSE_SECONDS"
  done
fi

# --- table ----------------------------------------------------------------------------------------------------------
row() {
  local mode=$1
  shift
  if (($# == 0)); then
    printf '%-8s %s\n' "$mode" "${CLUSTER_NOTE:-no run}"
    return
  fi
  printf '%-8s %9s %7s %7s  %s\n' "$mode" "$(median "$@")" "$(printf '%s\n' "$@" | sort -n | head -n 1)" \
    "$(printf '%s\n' "$@" | sort -n | tail -n 1)" "$*"
}
echo
printf '%-8s %9s %7s %7s  %s\n' mode median_ms min_ms max_ms "all starts (ms, in order)"
row single "${SINGLE[@]}"
row cluster "${CLUSTER[@]}"
echo "starts=$STARTS poll_ms=$POLL_MS cores=$(nproc) loadavg_start=\"$LOAD_START\" loadavg_end=\"$(loadavg)\""
echo "gateway=$GATEWAY_DLL"
[[ -n "$CLUSTER_NOTE" && ${#CLUSTER[@]} -gt 0 ]] && echo "cluster: $CLUSTER_NOTE"
exit 0
