#!/usr/bin/env bash
# Reconnect storm on one gateway: COUNT clients resume at once with Last-Event-ID, as after their gateway died, and
# each must get exactly the EVENTS broadcasts it missed; the gateway's replay counters show what that cost it.
#
#   bench/reconnect-storm.sh [COUNT]           COUNT defaults to 10000
#   COUNT=500 EVENTS=20 REDIS=1 bench/reconnect-storm.sh
#
# Builds the gateway and bench/SseCluster.LoadClient in Release when their sources changed, starts one gateway on a
# free loopback port (in-memory history, or with REDIS=1 a private redis-server holding it), runs the load client's
# `storm` mode against it (open COUNT streams, close them all, publish EVENTS broadcasts, reopen all at once, count
# what each gets), prints its summary line, then stops everything by PID. Last line:
#   connections=N events=K storm_seconds=… reconnects_per_s=… p50_ms=… p99_ms=… max_ms=… refused=… failed=… lost=…
#   duplicated=… out_of_order=… store_reads=… frames_formatted_per_connection=…
#
# Environment: COUNT (10000), EVENTS (50; at most SseCluster:History:MaxEventsPerStream, 1000 by default), USERS
# (COUNT/10; the gateway allows 20 streams per user), STORM_CONCURRENCY (1000 reconnects in flight), CONCURRENCY (32
# handshakes in flight for the first open), SOURCE_IPS (4), TIMEOUT_SECONDS (120, for the first open and for the
# storm each), REDIS=1, GATEWAY_ENV (extra VAR=value words for the gateway), GATEWAY_DLL, SKIP_BUILD=1, KEEP_TMP=1.
# One load-client process holds COUNT sockets: stay below the 20,000-descriptor limit (about 19,000).
# Exit code: the load client's (0 = every stream got its EVENTS exactly once, in order), 1 when the gateway died.
set -uo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNT=${1:-${COUNT:-10000}}
[[ "$COUNT" =~ ^[0-9]+$ && "$COUNT" -ge 1 ]] || die "COUNT must be a positive integer"
EVENTS=${EVENTS:-50}
[[ "$EVENTS" =~ ^[0-9]+$ && "$EVENTS" -ge 1 ]] || die "EVENTS must be a positive integer"
USERS=${USERS:-$(((COUNT + 9) / 10))}
STORM_CONCURRENCY=${STORM_CONCURRENCY:-1000}
CONCURRENCY=${CONCURRENCY:-32}
SOURCE_IPS=${SOURCE_IPS:-4}
TIMEOUT_SECONDS=${TIMEOUT_SECONDS:-120}

bench_init
build_all
LOAD_START=$(loadavg)

GATEWAY_EXTRA=()
HISTORY=memory
if [[ "${REDIS:-0}" == 1 ]]; then
  start_redis "$BENCH_TMP/redis" || die "REDIS=1 needs redis-server (sudo apt-get install -y redis-server)"
  log "started redis-server (pid $REDIS_PID) on 127.0.0.1:$REDIS_PORT"
  # Cluster mode on that Redis: histories are Redis streams, so every history read is a round trip.
  GATEWAY_EXTRA=(SseCluster__Redis__Configuration="127.0.0.1:$REDIS_PORT" SseCluster__Orleans__ClusterId="storm-$$-$RANDOM")
  HISTORY="redis 127.0.0.1:$REDIS_PORT"
fi

PORT="" # set by free_port
free_port PORT
# shellcheck disable=SC2086 # GATEWAY_ENV is a list of VAR=value words
bench_gateway gateway "$PORT" "${GATEWAY_EXTRA[@]}" ${GATEWAY_ENV:-}
GW_PID=$LAST_PID
wait_http "http://127.0.0.1:$PORT/readyz" "$GW_PID" 60 || { tail -n 30 "$BENCH_TMP/gateway.log" >&2; die "gateway did not become ready"; }
log "gateway ready (history: $HISTORY): $COUNT streams, $USERS users, $EVENTS events, $STORM_CONCURRENCY reconnects in flight"

OUT="$BENCH_TMP/storm.jsonl"
: >"$OUT" # before the client starts, so the tail below can follow it from its first line
dotnet "$LOADCLIENT_DLL" storm --url "http://127.0.0.1:$PORT" --connections "$COUNT" --users "$USERS" \
  --events "$EVENTS" --source-ips "$SOURCE_IPS" --concurrency "$CONCURRENCY" \
  --storm-concurrency "$STORM_CONCURRENCY" --timeout-seconds "$TIMEOUT_SECONDS" >"$OUT" 2>"$BENCH_TMP/storm.err" &
CLIENT_PID=$!
track_pid "$CLIENT_PID"
tail -n +1 -f --pid="$CLIENT_PID" "$OUT" >&2 &
track_pid "$!"

# tokens + first open + up to 60 s for the gateway to let go + publishing + storm, with margin
if ! wait_exit "$CLIENT_PID" $((2 * TIMEOUT_SECONDS + COUNT / 50 + EVENTS + 180)); then
  log "load client still running; stopping it"
  stop_pids -t 5 "$CLIENT_PID"
fi
CLIENT_RC=$EXIT_CODE
[[ -s "$BENCH_TMP/storm.err" ]] && cat "$BENCH_TMP/storm.err" >&2
GW_ALIVE=yes
pid_alive "$GW_PID" || GW_ALIVE=no

field() {
  local value
  value=$(json_field "$OUT" "$1")
  echo "${value:-null}"
}
echo
echo "gateway=$GATEWAY_DLL gateway_env=${GATEWAY_ENV:-none} history=\"$HISTORY\" users=$USERS source_ips=$SOURCE_IPS storm_concurrency=$STORM_CONCURRENCY client_exit=$CLIENT_RC gateway_alive=$GW_ALIVE"
echo "loadavg_start=\"$LOAD_START\" loadavg_end=\"$(loadavg)\" cores=$(nproc) refused_by_reason=$(field refused_by_reason | tr -d ' \n') failures=$(field failures | tr -d ' \n') replayed_events=$(field replayed_events) frames_formatted=$(field frames_formatted)"
SUMMARY=$(grep -F '"phase":"summary"' "$OUT" | tail -n 1)
[[ -n "$SUMMARY" ]] && echo "$SUMMARY"
echo "connections=$COUNT events=$EVENTS storm_seconds=$(field storm_seconds) reconnects_per_s=$(field reconnects_per_s) p50_ms=$(field complete_ms_p50) p99_ms=$(field complete_ms_p99) max_ms=$(field complete_ms_max) refused=$(field refused) failed=$(field failed) lost=$(field lost) duplicated=$(field duplicated) out_of_order=$(field out_of_order) store_reads=$(field store_reads) frames_formatted_per_connection=$(field frames_formatted_per_connection)"

[[ "$GW_ALIVE" == yes ]] || exit 1
exit "$CLIENT_RC"
