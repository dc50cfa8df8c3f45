#!/usr/bin/env bash
# Memory per idle SSE connection on one gateway node (in-memory routing).
#
#   bench/idle-connections.sh [COUNT]          COUNT defaults to 10000
#
# Builds the gateway and bench/SseCluster.LoadClient in Release when their sources changed, starts the gateway on a
# free loopback port (its silo on free ports of its own), samples
# its VmRSS after a warm-up ("before"), opens COUNT streams with the load client's `idle` mode, samples VmRSS again
# while they are all held ("after"), then stops everything by PID. Last line:
#   connections=N rss_before_kib=… rss_after_kib=… per_connection_kib=…
#
# Environment: USERS (default COUNT/10; the gateway allows 20 streams per user), SOURCE_IPS (4), CONCURRENCY (32),
# HOLD_SECONDS (20), GATEWAY_ENV (extra VAR=value pairs for the gateway, e.g. "DOTNET_gcServer=0"), SKIP_BUILD=1,
# KEEP_TMP=1 (keep logs), GATEWAY_DLL (another build of the gateway to measure; default this tree's Release build).
# One load-client process holds COUNT sockets: stay below the 20,000-descriptor limit (about 19,000).
set -uo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

COUNT=${1:-10000}
[[ "$COUNT" =~ ^[0-9]+$ && "$COUNT" -ge 1 ]] || die "COUNT must be a positive integer"
USERS=${USERS:-$(((COUNT + 9) / 10))}
SOURCE_IPS=${SOURCE_IPS:-4}
CONCURRENCY=${CONCURRENCY:-32}
HOLD_SECONDS=${HOLD_SECONDS:-20}
((HOLD_SECONDS >= 12)) || die "HOLD_SECONDS must be at least 12 (RSS is sampled 5-10 s into the hold)"
OPEN_TIMEOUT=150

bench_init
build_all
LOAD_START=$(loadavg)

PORT="" # set by free_port
free_port PORT
# shellcheck disable=SC2086 # GATEWAY_ENV is a list of VAR=value words
bench_gateway gateway "$PORT" ${GATEWAY_ENV:-}
GW_PID=$LAST_PID
wait_http "http://127.0.0.1:$PORT/readyz" "$GW_PID" 60 || { tail -n 30 "$BENCH_TMP/gateway.log" >&2; die "gateway did not become ready"; }
RSS_START=$(rss_kib "$GW_PID")
log "gateway ready: rss_start_kib=$RSS_START fds=$(fd_count "$GW_PID")"

OUT="$BENCH_TMP/idle.jsonl"
dotnet "$LOADCLIENT_DLL" idle --url "http://127.0.0.1:$PORT" --connections "$COUNT" --users "$USERS" \
  --source-ips "$SOURCE_IPS" --concurrency "$CONCURRENCY" --hold-seconds "$HOLD_SECONDS" --settle-seconds 6 \
  --open-timeout-seconds "$OPEN_TIMEOUT" >"$OUT" 2>"$BENCH_TMP/idle.err" &
CLIENT_PID=$!
track_pid "$CLIENT_PID"
tail -n +1 -f --pid="$CLIENT_PID" "$OUT" >&2 &
track_pid "$!"

# Baseline: tokens fetched, connect path warmed up on both sides, warm-up streams closed, nothing open.
wait_line "$OUT" '"phase":"baseline"' "$CLIENT_PID" 120 || { cat "$BENCH_TMP/idle.err" >&2; die "load client did not reach its baseline"; }
sleep 4
RSS_BEFORE=$(rss_kib "$GW_PID")
FDS_BEFORE=$(fd_count "$GW_PID")
heap_bytes() { curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" | awk '$1 ~ /^dotnet_gc_heap_size_bytes({|$)/ { printf "%d", $2 }'; }
HEAP_BEFORE=$(heap_bytes)

wait_line "$OUT" '"phase":"holding"' "$CLIENT_PID" $((OPEN_TIMEOUT + 60)) || { cat "$BENCH_TMP/idle.err" >&2; die "load client did not finish opening"; }
sleep 5
SAMPLES=()
for _ in 1 2 3; do
  SAMPLES+=("$(rss_kib "$GW_PID")")
  sleep 1.5
done
RSS_AFTER=$(median "${SAMPLES[@]}")
FDS_AFTER=$(fd_count "$GW_PID")
HELD_METRIC=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" | awk '$1 ~ /^sse_connections({|$)/ { print $2 }')

# Managed heap after the last collection, from the gateway's own /metrics gauge.
HEAP_AFTER=$(heap_bytes)
HEAP_NOTE=$(awk -v a="${HEAP_AFTER:-0}" -v b="${HEAP_BEFORE:-0}" -v n="${HELD_METRIC:-0}" \
  'BEGIN { if (n > 0 && a > 0) printf "heap_before_kib=%d heap_after_kib=%d heap_per_connection_kib=%.2f", b/1024, a/1024, (a-b)/1024/n; else print "managed_heap=unavailable" }')

wait_exit "$CLIENT_PID" $((HOLD_SECONDS + 60)) || log "load client still running after its hold; stopping it"
CLIENT_RC=$EXIT_CODE
OPEN_AT_END=$(json_field "$OUT" openAtEnd)
OPENED=$(json_field "$OUT" opened)
FAILED=$(json_field "$OUT" failed)
OPEN_SECONDS=$(json_field "$OUT" openSeconds)
GW_ALIVE=yes
pid_alive "$GW_PID" || GW_ALIVE=no

HELD=${HELD_METRIC:-${OPEN_AT_END:-0}}
HELD=${HELD%.*}
PER_CONN=$(awk -v a="$RSS_AFTER" -v b="$RSS_BEFORE" -v n="$HELD" 'BEGIN { if (n > 0) printf "%.2f", (a - b) / n; else print "n/a" }')

echo
echo "gateway=$GATEWAY_DLL gateway_env=${GATEWAY_ENV:-none} requested=$COUNT users=$USERS source_ips=$SOURCE_IPS opened=${OPENED:-?} failed=${FAILED:-?} open_seconds=${OPEN_SECONDS:-?} open_at_end=${OPEN_AT_END:-?} client_exit=$CLIENT_RC gateway_alive=$GW_ALIVE"
echo "loadavg_start=\"$LOAD_START\" loadavg_end=\"$(loadavg)\" cores=$(nproc) rss_start_kib=$RSS_START rss_samples_kib=${SAMPLES[*]} fds_before=$FDS_BEFORE fds_after=$FDS_AFTER $HEAP_NOTE"
echo "connections=$HELD rss_before_kib=$RSS_BEFORE rss_after_kib=$RSS_AFTER per_connection_kib=$PER_CONN"

[[ "$GW_ALIVE" == yes && "${OPEN_AT_END:-0}" == "$COUNT" ]]
