#!/usr/bin/env bash
# probe-idle.sh CHECKOUT N "ENV..." : one gateway, N idle SSE connections held 40 s; scrapes /metrics and RSS while they are held
set -u
CHK=$1 N=$2 ENVV=${3:-}
export SSECLUSTER_CHECKOUT=$CHK GATEWAY_ENV="$ENVV"
OUT=/tmp/probe-$$.txt
( ./run-ssecluster.sh -n "$N" -u $((N/10)) --user-prefix u -s idle -d 40 --settle-ms 3000 --quiet --json-out results/probe.jsonl >/dev/null 2>"$OUT.err" ) &
RUN=$!
# wait for the gateway pid line, then for established connections
for _ in $(seq 120); do grep -q "nodes pids" "$OUT.err" 2>/dev/null && break; sleep 1; done
PID=$(sed -n 's/.*nodes pids=\[\([0-9]*\)\].*ports=\[\([0-9]*\)\].*/\1/p' "$OUT.err"); PORT=$(sed -n 's/.*nodes pids=\[\([0-9]*\)\].*ports=\[\([0-9]*\)\].*/\2/p' "$OUT.err")
m() { curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics"; }
RSS0=$(awk '/VmRSS/{print $2}' /proc/$PID/status); m > $OUT.m0
for _ in $(seq 120); do c=$(m | awk '$1 ~ /^sse_connections/ {print $2}'); [ "${c%.*}" -ge "$N" ] 2>/dev/null && break; sleep 1; done
sleep 15
RSS1=$(awk '/VmRSS/{print $2}' /proc/$PID/status); m > $OUT.m1
echo "pid=$PID port=$PORT conns=$c rss0_kib=$RSS0 rss1_kib=$RSS1 rss_per_conn_kib=$(awk -v a=$RSS0 -v b=$RSS1 -v n=$c 'BEGIN{printf "%.2f",(b-a)/n}')"
for f in m0 m1; do
  awk -v tag=$f '/^(aspnetcore_memory_pool|dotnet_gc_last_collection_heap_size|dotnet_gc_heap_size_bytes|dotnet_gc_collections_total|dotnet_process_memory)/ { gsub(/otel_scope_name="[^"]*",?/,""); print tag, $0 }' $OUT.$f
done
wait $RUN
