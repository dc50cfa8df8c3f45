#!/usr/bin/env bash
# probe-gcdump.sh CHECKOUT N NAME: one gateway, a gcdump (a full GC, then every live object by type) before the
# load client connects and another while N idle connections are held; RSS beside each.
set -u
CHK=$1 N=$2 NAME=$3
export SSECLUSTER_CHECKOUT=$CHK PATH="$PATH:$HOME/.dotnet/tools"
D=results/gcdump-$NAME; mkdir -p $D
( ./run-ssecluster.sh -n "$N" -u $((N/10)) --user-prefix u -s idle -d 60 --settle-ms 3000 --quiet --json-out $D/run.jsonl >/dev/null 2>"$D/run.err" ) &
RUN=$!
for _ in $(seq 120); do grep -q "nodes pids" "$D/run.err" 2>/dev/null && break; sleep 0.5; done
PID=$(sed -n 's/.*nodes pids=\[\([0-9]*\)\].*ports=\[\([0-9]*\)\].*/\1/p' "$D/run.err"); PORT=$(sed -n 's/.*nodes pids=\[\([0-9]*\)\].*ports=\[\([0-9]*\)\].*/\2/p' "$D/run.err")
sleep 2
dotnet-gcdump collect -p $PID -o $D/before.gcdump >/dev/null 2>&1
R0=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
for _ in $(seq 240); do c=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" | awk '$1 ~ /^sse_connections/ {print $2}'); [ "${c%.*}" -ge "$N" ] 2>/dev/null && break; sleep 0.5; done
sleep 8
R1=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
dotnet-gcdump collect -p $PID -o $D/held.gcdump >/dev/null 2>&1
R2=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" | grep -E '^(aspnetcore_memory_pool_(pooled|allocated)|dotnet_gc_heap_size_bytes|sse_connections)' > $D/metrics.txt
dotnet-gcdump report $D/before.gcdump > $D/before.txt 2>&1
dotnet-gcdump report $D/held.gcdump > $D/held.txt 2>&1
echo "pid=$PID conns=$c rss_before_kib=$R0 rss_held_kib=$R1 rss_after_gcdump_kib=$R2" | tee $D/summary.txt
wait $RUN
