# shellcheck shell=bash
# Helpers shared by bench/*.sh. Everything started here is recorded in STARTED_PIDS and stopped by PID on exit;
# nothing is ever stopped by name. All traffic stays on 127.0.0.0/8.

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
GATEWAY_DIR="$REPO_DIR/src/Gateway/bin/Release/net10.0"
GATEWAY_DLL="$GATEWAY_DIR/SseCluster.Gateway.dll"
LOADCLIENT_DLL="$REPO_DIR/bench/SseCluster.LoadClient/bin/Release/net10.0/SseCluster.LoadClient.dll"
STARTED_PIDS=()
BENCH_TMP=""

log() { echo "[bench] $*" >&2; }

die() {
  log "FAILED: $*"
  exit 1
}

# Builds the gateway and the load client in Release (SKIP_BUILD=1 reuses what is there).
build_all() {
  if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
    log "SKIP_BUILD=1: using existing builds"
  else
    log "building src/Gateway and bench/SseCluster.LoadClient (Release)"
    dotnet build "$REPO_DIR/src/Gateway" -c Release --nologo -v q -clp:ErrorsOnly >"$BENCH_TMP/build-gateway.log" 2>&1 \
      || { tail -n 30 "$BENCH_TMP/build-gateway.log" >&2; die "gateway build"; }
    dotnet build "$REPO_DIR/bench/SseCluster.LoadClient" -c Release --nologo -v q -clp:ErrorsOnly >"$BENCH_TMP/build-client.log" 2>&1 \
      || { tail -n 30 "$BENCH_TMP/build-client.log" >&2; die "load client build"; }
  fi
  [[ -f "$GATEWAY_DLL" ]] || die "missing $GATEWAY_DLL"
  [[ -f "$LOADCLIENT_DLL" ]] || die "missing $LOADCLIENT_DLL"
}

# A free TCP port on 127.0.0.1 (the kernel picks; a race with another process is possible but unlikely).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_gateway NAME PORT [VAR=value ...]: starts a gateway in Development on 127.0.0.1:PORT; sets LAST_PID.
# The subshell execs `env` which execs `dotnet`, so $! is the gateway's own PID (VmRSS is read from it).
# Logging at Warning: per-request Information logs would be measured as gateway cost.
start_gateway() {
  local name=$1 port=$2
  shift 2
  (
    cd "$GATEWAY_DIR" || exit 1
    exec env ASPNETCORE_ENVIRONMENT=Development \
      Logging__LogLevel__Default=Warning \
      SseCluster__Shutdown__DrainSeconds=1 \
      "$@" dotnet "$GATEWAY_DLL" --urls "http://127.0.0.1:$port"
  ) >"$BENCH_TMP/$name.log" 2>&1 &
  LAST_PID=$!
  STARTED_PIDS+=("$LAST_PID")
  log "started $name (pid $LAST_PID) on 127.0.0.1:$port"
}

# wait_http URL PID SECONDS: until URL answers 2xx, the process dies, or time runs out.
wait_http() {
  local url=$1 pid=$2 seconds=$3 i
  for ((i = 0; i < seconds * 5; i++)); do
    curl -sf -o /dev/null --max-time 1 "$url" && return 0
    kill -0 "$pid" 2>/dev/null || { log "process $pid exited while waiting for $url"; return 1; }
    sleep 0.2
  done
  log "timed out after ${seconds}s waiting for $url"
  return 1
}

# wait_line FILE PATTERN PID SECONDS: until FILE has a line matching PATTERN (fixed string).
wait_line() {
  local file=$1 pattern=$2 pid=$3 seconds=$4 i
  for ((i = 0; i < seconds * 5; i++)); do
    grep -qF -- "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { grep -qF -- "$pattern" "$file" 2>/dev/null && return 0; log "process $pid exited before '$pattern'"; return 1; }
    sleep 0.2
  done
  log "timed out after ${seconds}s waiting for '$pattern' in $file"
  return 1
}

# wait_exit PID SECONDS: waits for a child to exit; sets EXIT_CODE (124 on timeout).
wait_exit() {
  local pid=$1 seconds=$2 i
  for ((i = 0; i < seconds * 5; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
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

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 15). Only PIDs this script started.
stop_pid() {
  local pid=$1 seconds=${2:-15} i
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < seconds * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    sleep 0.2
  done
  log "pid $pid ignored SIGTERM for ${seconds}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local i
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${STARTED_PIDS[i]}" 15
  done
  STARTED_PIDS=()
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
  trap 'exit 130' INT TERM
}

# json_field FILE FIELD: FIELD of the last "summary" line in FILE (empty if absent).
json_field() {
  grep -F '"phase":"summary"' "$1" 2>/dev/null | tail -n 1 | jq -r ".$2 // empty"
}
