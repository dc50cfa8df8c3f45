# shellcheck shell=bash disable=SC2034 # EXIT_CODE, LAST_PID and others are set for bench/*.sh
# Helpers only bench/*.sh need, on top of scripts/lib.sh (free ports, gateways, redis-server, start/stop by PID,
# builds). Everything started is stopped by PID on exit (scripts/lib.sh records each one); nothing is ever stopped
# by name. All traffic stays on 127.0.0.0/8.
#
# GATEWAY_DLL (environment): the gateway to measure, default this tree's Release build (built when its sources
# changed). Point it at another build, e.g. an older checkout's src/Gateway/bin/Release/net10.0/SseCluster.Gateway.dll,
# to measure that one with the same load; it is run from its own directory and never built here.

LOG_PREFIX="[bench] "
# shellcheck source=SCRIPTDIR/../scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

BENCH_DIR="$SSE_ROOT/bench"
GATEWAY_DLL=${GATEWAY_DLL:-$DEFAULT_GATEWAY_DLL}
LOADCLIENT_DIR="$BENCH_DIR/SseCluster.LoadClient"
LOADCLIENT_DLL="$LOADCLIENT_DIR/bin/Release/net10.0/SseCluster.LoadClient.dll"
BENCH_TMP=""

die() {
  log "FAILED: $*"
  exit 1
}

# Builds what changed since its last build: this tree's gateway (unless GATEWAY_DLL names another build) and the load
# client, in Release. SKIP_BUILD=1 uses what is there.
build_all() {
  if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
    log "SKIP_BUILD=1: using existing builds"
  else
    if [[ "$GATEWAY_DLL" -ef "$DEFAULT_GATEWAY_DLL" || "$GATEWAY_DLL" == "$DEFAULT_GATEWAY_DLL" ]]; then
      ensure_gateway_built "$BENCH_TMP/build-gateway.log" || die "gateway build"
    else
      log "GATEWAY_DLL=$GATEWAY_DLL: measuring that build as it is"
    fi
    build_if_changed "$LOADCLIENT_DLL" "$BENCH_TMP/build-client.log" "$LOADCLIENT_DIR" \
      "$LOADCLIENT_DIR" "$BENCH_DIR/Directory.Build.props" "$SSE_ROOT"/Directory.*.props || die "load client build"
  fi
  [[ -f "$GATEWAY_DLL" ]] || die "missing $GATEWAY_DLL"
  [[ -f "$LOADCLIENT_DLL" ]] || die "missing $LOADCLIENT_DLL"
}

# bench_gateway NAME PORT [VAR=value ...]: a gateway in Development (dev tokens) on 127.0.0.1:PORT, logging to
# $BENCH_TMP/NAME.log; sets LAST_PID (the gateway's own PID: VmRSS is read from it). Logging at Warning: per-request
# Information logs would be measured as gateway cost. Its silo gets free ports of its own (scripts/lib.sh).
bench_gateway() {
  local name=$1 port=$2
  shift 2
  start_gateway "$port" "$BENCH_TMP/$name.log" ASPNETCORE_ENVIRONMENT=Development \
    Logging__LogLevel__Default=Warning \
    SseCluster__Shutdown__DrainSeconds=1 \
    "$@" || die "cannot start gateway $name"
  LAST_PID=$GATEWAY_PID
  log "started $name (pid $LAST_PID) on 127.0.0.1:$port (silo port $GATEWAY_SILO_PORT)"
}

# wait_line FILE PATTERN PID SECONDS: until FILE has a line matching PATTERN (fixed string).
wait_line() {
  local file=$1 pattern=$2 pid=$3 seconds=$4 i
  for ((i = 0; i < seconds * 5; i++)); do
    grep -qF -- "$pattern" "$file" 2>/dev/null && return 0
    pid_alive "$pid" || { grep -qF -- "$pattern" "$file" 2>/dev/null && return 0; log "process $pid exited before '$pattern'"; return 1; }
    sleep 0.2
  done
  log "timed out after ${seconds}s waiting for '$pattern' in $file"
  return 1
}

# wait_exit PID SECONDS: waits for a child to exit; sets EXIT_CODE (124 on timeout).
wait_exit() {
  local pid=$1 seconds=$2 i
  for ((i = 0; i < seconds * 5; i++)); do
    if ! pid_alive "$pid"; then
      wait "$pid" 2>/dev/null
      EXIT_CODE=$?
      return 0
    fi
    sleep 0.2
  done
  EXIT_CODE=124
  return 1
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# median of the arguments
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

cleanup() {
  stop_started 15
  if [[ -n "$BENCH_TMP" && -d "$BENCH_TMP" ]]; then
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
      log "logs kept in $BENCH_TMP"
    else
      rm -rf "$BENCH_TMP"
    fi
  fi
}

bench_init() {
  BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/sse-bench.XXXXXX")
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# json_field FILE FIELD: FIELD of the last "summary" line in FILE (empty if absent).
json_field() {
  grep -F '"phase":"summary"' "$1" 2>/dev/null | tail -n 1 | jq -r ".$2 // empty"
}
