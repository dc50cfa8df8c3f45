# shellcheck shell=bash disable=SC2034 # GATEWAY_PID, REDIS_PORT and others are set for the scripts that source this
# What the repository's shell scripts share: free ports, starting and stopping processes by PID, gateways, a private
# redis-server, "build only when the sources changed", Debian packages. Source it, do not run it:
#
#   . "$(dirname "$0")/scripts/lib.sh"      (from the repository root; adjust the path elsewhere)
#
# Sourcing defines functions and a few variables and starts nothing. Set LOG_PREFIX (e.g. "local-cluster: ") for
# messages. Everything listens on 127.0.0.1.
#
# Processes: start_bg, start_gateway and start_redis record each PID with its start time (/proc/PID/stat), and
# stop_pids / stop_started signal only a PID recorded here whose start time still matches, so nothing this script
# did not start is ever signalled, not even a process that reused the PID of one that exited. Nothing is stopped by
# name. Each process runs in its own session (setsid), so a Ctrl-C in the terminal reaches the script alone and the
# script stops its children in the order it chooses (local-cluster.sh: gateways first, they drain).
#
#   log MESSAGE... / die MESSAGE...        to stderr with LOG_PREFIX (die exits 1)
#   free_port VAR...                       sets each VAR to a distinct free loopback port (call it in the current
#                                          shell, not in $(...): it remembers what it handed out)
#   port_in_use PORT                       a TCP socket (other than TIME_WAIT) is bound to PORT
#   http_status URL                        the HTTP status of GET URL, 000 when nothing answers
#   start_bg [-C DIR] LOG COMMAND...       runs COMMAND in the background (in DIR, output to LOG); sets BG_PID
#   track_pid PID                          records a child started otherwise (COMMAND & track_pid $!) for stop_pids
#   start_gateway PORT LOG [VAR=value...]  the gateway DLL on 127.0.0.1:PORT with its own silo ports, signing with
#                                          SSE_RUN_SIGNING_KEY (random per run) unless VAR=value sets another; sets
#                                          GATEWAY_PID, GATEWAY_SILO_PORT, GATEWAY_ORLEANS_PORT
#   wait_http URL PID SECONDS              until URL answers 2xx; fails when PID exits or time runs out
#   pid_alive PID                          the process runs (a zombie does not)
#   stop_pids [-s SIG] [-t SECONDS] PID... SIG (TERM), SECONDS (15) to exit, then SIGKILL; reaps; only PIDs started here
#   stop_started [SECONDS]                 stop_pids on everything started here and still running, newest first
#   start_redis DIR [PORT]                 redis-server without persistence in DIR on PORT or a free port, answering
#                                          PING; sets REDIS_PID, REDIS_PORT
#   sources_changed OUTPUT PATH...         OUTPUT is missing or a file under PATH... is newer than its last build
#   dotnet_build OUTPUT TARGET             dotnet build TARGET -c Release; on success records OUTPUT as up to date
#   build_if_changed OUTPUT LOG TARGET PATH...   dotnet_build when sources_changed, output to LOG
#   ensure_gateway_built LOG               build_if_changed for the gateway (src/**, Directory.*.props)
#   install_packages PACKAGE...            apt-get install what is missing, once, waiting for the apt/dpkg lock
#
# Variables: SSE_ROOT (the repository), GATEWAY_PROJECT_DIR (src/Gateway), DEFAULT_GATEWAY_DLL (its Release build),
# GATEWAY_SOURCES (what the gateway is built from). start_gateway runs GATEWAY_DLL (default DEFAULT_GATEWAY_DLL)
# with the content root GATEWAY_CONTENT_ROOT (default: the DLL's directory; src/Gateway serves the dashboard).

[[ -n "${_SSE_LIB_SOURCED:-}" ]] && return 0
_SSE_LIB_SOURCED=1

SSE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GATEWAY_PROJECT_DIR="$SSE_ROOT/src/Gateway"
DEFAULT_GATEWAY_DLL="$GATEWAY_PROJECT_DIR/bin/Release/net10.0/SseCluster.Gateway.dll"
# wwwroot is skipped by sources_changed: it is served from the project folder at run time, not compiled (and the JS
# client's build rewrites wwwroot/lib/ssecluster-client.js, which must not force a gateway build).
GATEWAY_SOURCES=("$SSE_ROOT/src" "$SSE_ROOT"/Directory.*.props)
LOG_PREFIX=${LOG_PREFIX:-"$(basename "$0"): "}

_SSE_PIDS=()              # started here, oldest first
declare -A _SSE_STARTED=() # PID -> start time (clock ticks after boot, /proc/PID/stat field 22)
_SSE_GIVEN_PORTS=()

log() { echo "${LOG_PREFIX}$*" >&2; }

die() {
  log "$*"
  exit 1
}

# ---- ports --------------------------------------------------------------------------------------------------------

# "PORT STATE" for every TCP socket on this machine (STATE in hex: 0A listen, 06 time-wait).
_sse_tcp_sockets() {
  local file
  for file in /proc/net/tcp /proc/net/tcp6; do
    [[ -r "$file" ]] || continue
    awk 'function hex(s,   i, n) { n = 0; for (i = 1; i <= length(s); i++) n = n * 16 + index("0123456789ABCDEF", toupper(substr(s, i, 1))) - 1; return n }
      NR > 1 { n = split($2, a, ":"); print hex(a[n]), $4 }' "$file"
  done
}

port_in_use() {
  local port state
  while read -r port state; do
    [[ "$port" == "$1" && "$state" != 06 ]] && return 0
  done < <(_sse_tcp_sockets)
  return 1
}

# Ports are drawn at random below the kernel's ephemeral range (32768-60999 here), where outgoing connections and
# programs that bind port 0 never land, so a port stays free between the choice and the bind; one no socket uses in
# any state, not handed out before by this shell, and not an Orleans default (11111, 30000).
free_port() {
  local _fp_port _fp_state _fp_lo _fp_hi _fp_first _fp_last _fp_var _fp_try
  local -A _fp_taken=([11111]=1 [30000]=1)
  while read -r _fp_port _fp_state; do _fp_taken[$_fp_port]=1; done < <(_sse_tcp_sockets)
  for _fp_port in "${_SSE_GIVEN_PORTS[@]}"; do _fp_taken[$_fp_port]=1; done
  read -r _fp_lo _fp_hi </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || { _fp_lo=32768 _fp_hi=60999; }
  if ((_fp_lo > 21000)); then
    _fp_first=20000 _fp_last=$((_fp_lo - 1))
  elif ((_fp_hi < 64000)); then
    _fp_first=$((_fp_hi + 1)) _fp_last=65535
  else
    _fp_first=20000 _fp_last=65535
  fi
  for _fp_var in "$@"; do
    for ((_fp_try = 0; _fp_try < 1000; _fp_try++)); do
      _fp_port=$((_fp_first + (RANDOM * 32768 + RANDOM) % (_fp_last - _fp_first + 1)))
      [[ -z "${_fp_taken[$_fp_port]:-}" ]] && break
    done
    _fp_taken[$_fp_port]=1
    _SSE_GIVEN_PORTS+=("$_fp_port")
    printf -v "$_fp_var" '%s' "$_fp_port"
  done
}

# ---- HTTP ---------------------------------------------------------------------------------------------------------

http_status() {
  local url=$1 rest hostport path line
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 3 -w '%{http_code}' "$url" 2>/dev/null || true
    return
  fi
  # Without curl: HTTP/1.0 over bash's /dev/tcp (http://HOST:PORT/PATH only).
  rest=${url#http://}
  hostport=${rest%%/*}
  path=/${rest#*/}
  [[ "$rest" == */* ]] || path=/
  { exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}"; } 2>/dev/null || { echo 000; return; }
  printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
  IFS= read -r -t 3 line <&3 || line=""
  exec 3<&- 3>&-
  line=${line%$'\r'}
  read -r _ line <<<"$line"
  echo "${line%% *}" | grep -E '^[0-9]{3}$' || echo 000
}

wait_http() {
  local url=$1 pid=$2 seconds=$3 deadline status
  deadline=$((SECONDS + seconds))
  while :; do
    status=$(http_status "$url")
    [[ "$status" == 2?? ]] && return 0
    if ! pid_alive "$pid"; then
      log "pid $pid exited while waiting for $url"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      log "$url did not answer 2xx within ${seconds}s (last status $status)"
      return 1
    fi
    sleep 0.2
  done
}

# ---- processes ----------------------------------------------------------------------------------------------------

# The fields of /proc/PID/stat after "PID (comm) ": [0] is the state, [19] the start time.
_sse_stat() {
  local line
  { IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  read -r -a _SSE_STAT <<<"${line##*) }"
}

pid_alive() {
  [[ "$1" =~ ^[0-9]+$ ]] && _sse_stat "$1" && [[ "${_SSE_STAT[0]}" != Z && "${_SSE_STAT[0]}" != X ]]
}

# Started here, and still the same process (same start time), and running.
_sse_ours() {
  [[ -n "${_SSE_STARTED[$1]:-}" ]] && _sse_stat "$1" && [[ "${_SSE_STAT[19]}" == "${_SSE_STARTED[$1]}" ]] &&
    [[ "${_SSE_STAT[0]}" != Z && "${_SSE_STAT[0]}" != X ]]
}

track_pid() {
  _sse_stat "$1" || return 0 # exited already: nothing to stop later
  _SSE_STARTED[$1]=${_SSE_STAT[19]}
  _SSE_PIDS+=("$1")
}

_sse_untrack() {
  local pid kept=()
  unset "_SSE_STARTED[$1]"
  for pid in "${_SSE_PIDS[@]}"; do [[ "$pid" == "$1" ]] || kept+=("$pid"); done
  _SSE_PIDS=("${kept[@]}")
}

start_bg() {
  local dir=. log
  if [[ "$1" == -C ]]; then
    dir=$2
    shift 2
  fi
  log=$1
  shift
  local session=()
  # A non-interactive shell runs background jobs in its own process group, so setsid does not fork: $! stays the
  # PID of COMMAND itself (exec keeps it through cd, setsid and env).
  command -v setsid >/dev/null 2>&1 && session=(setsid)
  (cd "$dir" && exec "${session[@]}" "$@") </dev/null >"$log" 2>&1 &
  BG_PID=$!
  track_pid "$BG_PID"
}

stop_pids() {
  local signal=TERM seconds=15 pid left ours=() i
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -s) signal=$2; shift 2 ;;
      -t) seconds=$2; shift 2 ;;
      *) break ;;
    esac
  done
  for pid in "$@"; do
    [[ -n "$pid" ]] || continue
    if _sse_ours "$pid"; then
      kill "-$signal" "$pid" 2>/dev/null
      ours+=("$pid")
    elif [[ -n "${_SSE_STARTED[$pid]:-}" ]]; then
      wait "$pid" 2>/dev/null # exited already: reap it
      _sse_untrack "$pid"
    else
      log "not stopping pid $pid: not started by this script"
    fi
  done
  for ((i = 0; i < seconds * 10; i++)); do
    left=0
    for pid in "${ours[@]}"; do _sse_ours "$pid" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for pid in "${ours[@]}"; do
    if _sse_ours "$pid"; then
      log "pid $pid still runs ${seconds}s after SIG$signal: SIGKILL"
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    _sse_untrack "$pid"
  done
  return 0
}

stop_started() {
  local seconds=${1:-15} i pids=("${_SSE_PIDS[@]}")
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    stop_pids -t "$seconds" "${pids[i]}"
  done
}

# ---- gateway and redis --------------------------------------------------------------------------------------------

# One HS256 key for every gateway this script starts (random per run, so nothing here signs with a key another run or
# the developer's own gateway knows); a VAR=value argument (SseCluster__Auth__SigningKey=...) replaces it.
SSE_RUN_SIGNING_KEY="run-$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"

# Every gateway co-hosts an Orleans silo: each gets its own silo and client-gateway ports (free ones unless VAR=value
# sets them) and advertises 127.0.0.1, so several run side by side on one machine and nothing leaves loopback.
start_gateway() {
  local port=$1 log=$2 arg silo="" orleans=""
  shift 2
  local dll=${GATEWAY_DLL:-$DEFAULT_GATEWAY_DLL}
  local root=${GATEWAY_CONTENT_ROOT:-$(dirname "$dll")}
  [[ -f "$dll" ]] || { log "no gateway at $dll"; return 1; }
  for arg in "$@"; do
    case "$arg" in
      SseCluster__Orleans__SiloPort=*) silo=${arg#*=} ;;
      SseCluster__Orleans__GatewayPort=*) orleans=${arg#*=} ;;
    esac
  done
  [[ -n "$silo" ]] || free_port silo
  [[ -n "$orleans" ]] || free_port orleans
  start_bg -C "$root" "$log" env DOTNET_NOLOGO=1 \
    SseCluster__Auth__SigningKey="$SSE_RUN_SIGNING_KEY" \
    SseCluster__Orleans__AdvertisedAddress=127.0.0.1 \
    SseCluster__Orleans__SiloPort="$silo" \
    SseCluster__Orleans__GatewayPort="$orleans" \
    "$@" dotnet "$dll" --urls "http://127.0.0.1:$port"
  GATEWAY_PID=$BG_PID
  GATEWAY_SILO_PORT=$silo
  GATEWAY_ORLEANS_PORT=$orleans
}

start_redis() {
  local dir=$1 fixed=${2:-} port attempt i
  command -v redis-server >/dev/null 2>&1 || { log "redis-server is not installed"; return 1; }
  mkdir -p "$dir" || return 1
  for attempt in 1 2 3 4 5; do
    port=$fixed
    [[ -n "$port" ]] || free_port port
    start_bg "$dir/redis.log" redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
      --save '' --appendonly no --dir "$dir" --daemonize no
    for ((i = 0; i < 100; i++)); do
      pid_alive "$BG_PID" || break
      if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" == PONG ]] && { REDIS_PID=$BG_PID REDIS_PORT=$port; return 0; }
      elif port_in_use "$port"; then
        REDIS_PID=$BG_PID REDIS_PORT=$port
        return 0
      fi
      sleep 0.1
    done
    stop_pids -t 5 "$BG_PID"
    tail -n 5 "$dir/redis.log" >&2
    [[ -z "$fixed" ]] || break # a port taken meanwhile: try another, unless it was given
    log "redis-server did not answer PING on port $port (attempt $attempt)"
  done
  return 1
}

# ---- builds -------------------------------------------------------------------------------------------------------

# The stamp beside OUTPUT holds the time its last build through dotnet_build began.
_sse_stamp() { echo "$(dirname "$1")/.$(basename "$1").built"; }

# A file saved during a build counts as built when the build wrote OUTPUT later; it is picked up when it next changes.
sources_changed() {
  local output=$1 ref stamp
  shift
  [[ -f "$output" ]] || return 0
  ref=$output
  stamp=$(_sse_stamp "$output")
  [[ -f "$stamp" && "$stamp" -nt "$output" ]] && ref=$stamp
  [[ -n "$(find "$@" \( -name bin -o -name obj -o -name node_modules -o -name wwwroot \) -prune \
    -o -type f -newer "$ref" -print -quit 2>/dev/null)" ]]
}

dotnet_build() {
  local output=$1 target=$2 stamp started
  stamp=$(_sse_stamp "$output")
  mkdir -p "$(dirname "$output")" || return 1
  started="$stamp.$$"
  : >"$started" || return 1
  if dotnet build "$target" -c Release -nologo -v q; then
    mv -f "$started" "$stamp"
    return 0
  fi
  rm -f "$started"
  return 1
}

build_if_changed() {
  local output=$1 log=$2 target=$3
  shift 3
  sources_changed "$output" "$@" || return 0
  log "building ${target#"$SSE_ROOT"/} (Release): its sources changed since the last build"
  dotnet_build "$output" "$target" >"$log" 2>&1 && return 0
  tail -n 30 "$log" >&2
  log "the build of ${target#"$SSE_ROOT"/} failed (full log: $log)"
  return 1
}

ensure_gateway_built() {
  build_if_changed "$DEFAULT_GATEWAY_DLL" "$1" "$GATEWAY_PROJECT_DIR" "${GATEWAY_SOURCES[@]}"
}

# ---- packages -----------------------------------------------------------------------------------------------------

# Waits (up to SECONDS) while a process holds apt's or dpkg's lock; apt-get's own DPkg::Lock::Timeout covers the
# dpkg lock only, not the lists lock of apt-get update.
_sse_wait_apt_lock() {
  local deadline=$((SECONDS + $1))
  command -v fuser >/dev/null 2>&1 || return 0
  while fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 0
    sleep 3
  done
}

# A package counts as present when its command is on PATH or dpkg has it. SSE_PACKAGES_TRIED (exported) lists what a
# script already tried, so a script started by another (test.sh -> clients/js/e2e.sh) does not try again.
install_packages() {
  local wanted=() package sudo=() attempt out
  for package in "$@"; do
    command -v "$package" >/dev/null 2>&1 && continue
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' && continue
    [[ " ${SSE_PACKAGES_TRIED:-} " == *" $package "* ]] && continue
    wanted+=("$package")
  done
  ((${#wanted[@]})) || return 0
  export SSE_PACKAGES_TRIED="${SSE_PACKAGES_TRIED:-} ${wanted[*]}"
  command -v apt-get >/dev/null 2>&1 || { log "missing ${wanted[*]} and no apt-get: install them by hand"; return 1; }
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || { log "missing ${wanted[*]}: run as root or install them (apt-get install ${wanted[*]})"; return 1; }
    sudo=(sudo -n) # never wait for a password nobody will type; at a terminal, sudo may ask
    [[ -t 0 ]] && sudo=(sudo)
  fi
  log "installing ${wanted[*]} from Debian's packages"
  out=$(mktemp "${TMPDIR:-/tmp}/sse-apt.XXXXXX")
  for attempt in 1 2 3; do
    _sse_wait_apt_lock 300
    if "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${wanted[@]}" >"$out" 2>&1; then
      rm -f "$out"
      return 0
    fi
    # Stale or missing package lists: refresh them once per attempt.
    _sse_wait_apt_lock 300
    "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq >>"$out" 2>&1 &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${wanted[@]}" >>"$out" 2>&1 &&
      { rm -f "$out"; return 0; }
    sleep 10
  done
  tail -n 10 "$out" >&2
  rm -f "$out"
  log "could not install ${wanted[*]}"
  return 1
}
