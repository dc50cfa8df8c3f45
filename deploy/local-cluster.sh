#!/usr/bin/env bash
# A local SseCluster: one redis-server, several gateways (Redis routing) and haproxy in front.
#
#   deploy/local-cluster.sh [--port 5080] [--gateway-ports 5081,5082,5083] [--redis-port N]
#                           [--stats-port 8404] [--presence-seconds 2] [--gateway-dll PATH]
#                           [--build | --no-build] [--exit-with-parent]
#
# Every option also reads an environment variable (the flag wins):
#   SSE_LB_PORT            haproxy's port                                   default 5080
#   SSE_GATEWAY_PORTS      one gateway per port, comma-separated            default 5081,5082,5083
#   SSE_REDIS_PORT         redis-server's port                              default: a free port
#   SSE_STATS_PORT         haproxy's stats page, 0 for none                 default 8404
#   SSE_PRESENCE_SECONDS   SseCluster:Redis:PresenceRefreshSeconds          default 2
#   SSE_SIGNING_KEY        HS256 key shared by every gateway (>= 32 bytes)  default: random per run
#   SSE_SESSION_KEY        stream session cookie key, shared                default: derived from the above
#   SSE_GATEWAY_DLL        the gateway to run       default src/Gateway/bin/Release/net10.0/SseCluster.Gateway.dll
#   SSE_BUILD              auto (build when the dll is missing or older than src/), always, never
#   SSE_EXIT_WITH_PARENT   1: stop everything when the process that started this script exits (for tests)
# Other SseCluster__* variables in the environment reach every gateway (e.g. SseCluster__Shutdown__DrainSeconds=3).
#
# The gateways run in the Development environment from src/Gateway: the dashboard at "/" and
# POST /dev/token work (through haproxy too), with one signing and session key for all of them.
# Redis runs without persistence in a temp directory that also holds every log.
#
# Prints the URLs and PIDs once every node is ready, then "local-cluster: ready". Ctrl-C (SIGINT)
# or SIGTERM stops everything it started, by PID (haproxy, then the gateways, which drain, then
# Redis), and removes the temp directory. A gateway that exits meanwhile (try kill -9 on one) is
# reported and the rest keep running.
set -uo pipefail

DEPLOY_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$DEPLOY_DIR/.." && pwd)"
GATEWAY_DIR="$ROOT/src/Gateway"
DEFAULT_DLL="$GATEWAY_DIR/bin/Release/net10.0/SseCluster.Gateway.dll"

LB_PORT="${SSE_LB_PORT:-5080}"
GATEWAY_PORTS="${SSE_GATEWAY_PORTS:-5081,5082,5083}"
REDIS_PORT="${SSE_REDIS_PORT:-}"
STATS_PORT="${SSE_STATS_PORT:-8404}"
PRESENCE_SECONDS="${SSE_PRESENCE_SECONDS:-2}"
SIGNING_KEY="${SSE_SIGNING_KEY:-}"
GATEWAY_DLL="${SSE_GATEWAY_DLL:-$DEFAULT_DLL}"
BUILD="${SSE_BUILD:-auto}"
EXIT_WITH_PARENT="${SSE_EXIT_WITH_PARENT:-0}"
PARENT_PID=$PPID

usage() {
  sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
}

die() {
  echo "local-cluster: $*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --port) LB_PORT="${2:?--port needs a value}"; shift 2 ;;
    --gateway-ports) GATEWAY_PORTS="${2:?--gateway-ports needs a value}"; shift 2 ;;
    --redis-port) REDIS_PORT="${2:?--redis-port needs a value}"; shift 2 ;;
    --stats-port) STATS_PORT="${2:?--stats-port needs a value}"; shift 2 ;;
    --presence-seconds) PRESENCE_SECONDS="${2:?--presence-seconds needs a value}"; shift 2 ;;
    --gateway-dll) GATEWAY_DLL="${2:?--gateway-dll needs a value}"; shift 2 ;;
    --build) BUILD=always; shift ;;
    --no-build) BUILD=never; shift ;;
    --exit-with-parent) EXIT_WITH_PARENT=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
is_port "$LB_PORT" || die "bad haproxy port '$LB_PORT'"
[[ "$STATS_PORT" =~ ^[0-9]+$ ]] && { [ "$STATS_PORT" -eq 0 ] || is_port "$STATS_PORT"; } || die "bad stats port '$STATS_PORT'"
[ -z "$REDIS_PORT" ] || is_port "$REDIS_PORT" || die "bad redis port '$REDIS_PORT'"
IFS=',' read -r -a PORTS <<< "$GATEWAY_PORTS"
[ "${#PORTS[@]}" -ge 1 ] || die "no gateway ports"
for port in "${PORTS[@]}"; do is_port "$port" || die "bad gateway port '$port'"; done
[[ "$PRESENCE_SECONDS" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "bad presence seconds '$PRESENCE_SECONDS'"
case "$BUILD" in auto | always | never) ;; *) die "SSE_BUILD must be auto, always or never" ;; esac

# ---- prerequisites -------------------------------------------------------------------------

command -v dotnet >/dev/null 2>&1 || die "dotnet is missing: install the .NET 10 SDK"
command -v redis-server >/dev/null 2>&1 || die "redis-server is missing: sudo apt-get install -y redis-server"
command -v haproxy >/dev/null 2>&1 || die "haproxy is missing: sudo apt-get install -y haproxy"

# ---- small helpers -------------------------------------------------------------------------

# The HTTP status of GET http://127.0.0.1:<port><path>, or 000.
http_status() {
  local port=$1 path=$2 line
  if command -v curl >/dev/null 2>&1; then
    curl -s -o /dev/null -m 3 -w '%{http_code}' "http://127.0.0.1:$port$path" 2>/dev/null || true
    return
  fi
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || { echo 000; return; }
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$path" "$port" >&3
  IFS= read -r -t 3 line <&3 || line=""
  exec 3<&- 3>&-
  line=${line%$'\r'}
  set -- $line
  echo "${2:-000}"
}

# Something accepts connections on the port.
port_in_use() {
  { exec 4<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  exec 4<&- 4>&-
  return 0
}

# The process runs (a child that exited but was not reaped yet counts as gone).
alive() {
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  local state
  state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}

# stop_pids SIGNAL SECONDS PID... : signal, wait up to SECONDS, then SIGKILL what is left; reap.
stop_pids() {
  local signal=$1 seconds=$2 pid left
  shift 2
  for pid in "$@"; do alive "$pid" && kill "-$signal" "$pid" 2>/dev/null; done
  for _ in $(seq 1 $((seconds * 10))); do
    left=0
    for pid in "$@"; do alive "$pid" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for pid in "$@"; do
    alive "$pid" && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  return 0
}

# ---- state and cleanup ---------------------------------------------------------------------

TMP_DIR=""
REDIS_PID=""
HAPROXY_PID=""
GATEWAY_PIDS=()
GATEWAY_IDS=()
SLEEP_PID=""
STOPPING=0

cleanup() {
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  trap '' INT TERM
  [ -n "$SLEEP_PID" ] && kill "$SLEEP_PID" 2>/dev/null
  if [ -n "$HAPROXY_PID$REDIS_PID${GATEWAY_PIDS[*]:-}" ]; then
    echo "local-cluster: stopping"
  fi
  # haproxy first (no new streams reach the gateways), then the gateways (SIGTERM: each drains, closing its
  # streams with event: close), then Redis.
  [ -n "$HAPROXY_PID" ] && stop_pids TERM 5 "$HAPROXY_PID"
  if [ "${#GATEWAY_PIDS[@]}" -gt 0 ]; then
    stop_pids TERM "$(( ${SseCluster__Shutdown__DrainSeconds:-10} + 15 ))" "${GATEWAY_PIDS[@]}"
  fi
  [ -n "$REDIS_PID" ] && stop_pids TERM 5 "$REDIS_PID"
  [ -n "$TMP_DIR" ] && rm -rf "$TMP_DIR"
  if [ -n "$HAPROXY_PID$REDIS_PID${GATEWAY_PIDS[*]:-}" ]; then
    echo "local-cluster: stopped"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- ports ---------------------------------------------------------------------------------

for port in "$LB_PORT" "${PORTS[@]}" $([ "$STATS_PORT" -ne 0 ] && echo "$STATS_PORT") $REDIS_PORT; do
  port_in_use "$port" && die "port $port is in use (choose others with --port, --gateway-ports, --stats-port, --redis-port)"
done
all_ports=("$LB_PORT" "${PORTS[@]}")
[ "$STATS_PORT" -ne 0 ] && all_ports+=("$STATS_PORT")
[ -n "$REDIS_PORT" ] && all_ports+=("$REDIS_PORT")
[ "$(printf '%s\n' "${all_ports[@]}" | sort | uniq -d | wc -l)" -eq 0 ] || die "a port is given twice: ${all_ports[*]}"

# ---- build ---------------------------------------------------------------------------------

needs_build() {
  [ -f "$GATEWAY_DLL" ] || return 0
  [ -n "$(find "$ROOT/src/Gateway" "$ROOT/src/Grains" "$ROOT/src/Contracts" \
    \( -name bin -o -name obj -o -name node_modules \) -prune -o -type f -newer "$GATEWAY_DLL" -print -quit 2>/dev/null)" ]
}
TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sse-local-cluster.XXXXXX")" || die "cannot create a temp directory"

if [ "$BUILD" = always ] || { [ "$BUILD" = auto ] && [ "$GATEWAY_DLL" = "$DEFAULT_DLL" ] && needs_build; }; then
  echo "local-cluster: building the gateway (dotnet build src/Gateway -c Release)"
  dotnet build "$GATEWAY_DIR" -c Release -nologo -v quiet > "$TMP_DIR/build.log" 2>&1 ||
    { tail -30 "$TMP_DIR/build.log" >&2; die "the gateway build failed"; }
fi
[ -f "$GATEWAY_DLL" ] || die "no gateway at $GATEWAY_DLL (build it: dotnet build src/Gateway -c Release)"

if [ -z "$SIGNING_KEY" ]; then
  SIGNING_KEY="local-cluster-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
fi
[ "${#SIGNING_KEY}" -ge 32 ] || die "SSE_SIGNING_KEY must be at least 32 bytes"
SESSION_KEY="${SSE_SESSION_KEY:-session-$SIGNING_KEY}"

# ---- redis ---------------------------------------------------------------------------------

start_redis() {
  local port=$1
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP_DIR" \
    --daemonize no --logfile "$TMP_DIR/redis.log" >/dev/null 2>&1 &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    alive "$REDIS_PID" || { wait "$REDIS_PID" 2>/dev/null; REDIS_PID=""; return 1; }
    if command -v redis-cli >/dev/null 2>&1; then
      [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ] && return 0
    elif port_in_use "$port"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

if [ -n "$REDIS_PORT" ]; then
  start_redis "$REDIS_PORT" || { tail -5 "$TMP_DIR/redis.log" >&2 2>/dev/null; die "redis-server did not start on port $REDIS_PORT"; }
else
  # A free port: try a few random ones (another process may take one between the check and the bind).
  for _ in $(seq 1 20); do
    candidate=$((20000 + RANDOM % 20000))
    port_in_use "$candidate" && continue
    printf '%s\n' "${all_ports[@]}" | grep -qx "$candidate" && continue
    if start_redis "$candidate"; then
      REDIS_PORT=$candidate
      break
    fi
  done
  [ -n "$REDIS_PORT" ] || { tail -5 "$TMP_DIR/redis.log" >&2 2>/dev/null; die "redis-server did not start on a free port"; }
fi

# ---- gateways ------------------------------------------------------------------------------

i=0
for port in "${PORTS[@]}"; do
  i=$((i + 1))
  id="gw-$i"
  # The project folder is the content root: appsettings.Development.json and wwwroot (the dashboard).
  (
    cd "$GATEWAY_DIR" &&
      ASPNETCORE_ENVIRONMENT=Development \
      DOTNET_NOLOGO=1 \
      SseCluster__GatewayId="$id" \
      SseCluster__Redis__Configuration="127.0.0.1:$REDIS_PORT" \
      SseCluster__Redis__PresenceRefreshSeconds="$PRESENCE_SECONDS" \
      SseCluster__Auth__SigningKey="$SIGNING_KEY" \
      SseCluster__Auth__SessionKey="$SESSION_KEY" \
      exec dotnet "$GATEWAY_DLL" --urls "http://127.0.0.1:$port"
  ) > "$TMP_DIR/$id.log" 2>&1 &
  GATEWAY_PIDS+=($!)
  GATEWAY_IDS+=("$id")
done

deadline=$((SECONDS + 60))
for index in "${!PORTS[@]}"; do
  port=${PORTS[$index]}
  pid=${GATEWAY_PIDS[$index]}
  id=${GATEWAY_IDS[$index]}
  until [ "$(http_status "$port" /readyz)" = 200 ]; do
    if ! alive "$pid"; then
      tail -20 "$TMP_DIR/$id.log" >&2
      die "gateway $id (port $port) exited"
    fi
    [ "$SECONDS" -lt "$deadline" ] || { tail -20 "$TMP_DIR/$id.log" >&2; die "gateway $id (port $port) not ready within 60 s"; }
    sleep 0.2
  done
done

# ---- haproxy -------------------------------------------------------------------------------

servers=""
for index in "${!PORTS[@]}"; do
  servers+="server ${GATEWAY_IDS[$index]} 127.0.0.1:${PORTS[$index]} check"$'\n'"    "
done
stats=""
if [ "$STATS_PORT" -ne 0 ]; then
  stats="listen stats
    bind 127.0.0.1:$STATS_PORT
    stats enable
    stats uri /
    stats refresh 5s
    stats show-legends"
fi
SERVERS="$servers" STATS="$stats" LB_BIND="127.0.0.1:$LB_PORT" LOG="log stdout format raw local0 info" \
  awk '{
    gsub(/@LB_BIND@/, ENVIRON["LB_BIND"]); gsub(/@LOG@/, ENVIRON["LOG"]);
    gsub(/@SERVERS@/, ENVIRON["SERVERS"]); gsub(/@STATS@/, ENVIRON["STATS"]); print
  }' "$DEPLOY_DIR/haproxy.cfg.template" > "$TMP_DIR/haproxy.cfg"
haproxy -c -f "$TMP_DIR/haproxy.cfg" > "$TMP_DIR/haproxy-check.log" 2>&1 ||
  { cat "$TMP_DIR/haproxy-check.log" >&2; die "haproxy rejected $TMP_DIR/haproxy.cfg"; }
haproxy -db -f "$TMP_DIR/haproxy.cfg" > "$TMP_DIR/haproxy.log" 2>&1 &
HAPROXY_PID=$!

deadline=$((SECONDS + 20))
until [ "$(http_status "$LB_PORT" /readyz)" = 200 ]; do
  alive "$HAPROXY_PID" || { tail -20 "$TMP_DIR/haproxy.log" >&2; die "haproxy exited"; }
  [ "$SECONDS" -lt "$deadline" ] || die "haproxy on port $LB_PORT did not answer /readyz within 20 s"
  sleep 0.2
done
if [ "$STATS_PORT" -ne 0 ] && command -v curl >/dev/null 2>&1; then
  # Every server passed its health checks.
  until [ "$(curl -s -m 3 "http://127.0.0.1:$STATS_PORT/;csv" | awk -F, '$1 == "gateways" && $2 != "BACKEND" && $18 ~ /^UP/' | wc -l)" -eq "${#PORTS[@]}" ]; do
    [ "$SECONDS" -lt "$deadline" ] || die "haproxy does not see every gateway up within 20 s (see http://127.0.0.1:$STATS_PORT/)"
    sleep 0.2
  done
fi

# ---- ready ---------------------------------------------------------------------------------

echo "SseCluster local cluster: ${#PORTS[@]} gateways on Redis behind haproxy"
echo "  dashboard  http://127.0.0.1:$LB_PORT/"
for index in "${!PORTS[@]}"; do
  echo "  gateway    ${GATEWAY_IDS[$index]}  http://127.0.0.1:${PORTS[$index]}/  pid ${GATEWAY_PIDS[$index]}"
done
echo "  redis      127.0.0.1:$REDIS_PORT  pid $REDIS_PID"
echo "  haproxy    http://127.0.0.1:$LB_PORT/  pid $HAPROXY_PID"
[ "$STATS_PORT" -ne 0 ] && echo "  stats      http://127.0.0.1:$STATS_PORT/"
echo "  logs       $TMP_DIR  (removed on exit)"
echo "  tokens     curl -s -X POST http://127.0.0.1:$LB_PORT/dev/token -H 'Content-Type: application/json' -d '{\"userId\":\"alice\",\"roles\":[\"publisher\",\"admin\"]}'"
echo "local-cluster: ready; Ctrl-C stops everything"

# ---- run until stopped ---------------------------------------------------------------------

declare -A reported=()
while :; do
  sleep 1 &
  SLEEP_PID=$!
  wait "$SLEEP_PID" 2>/dev/null
  SLEEP_PID=""
  for index in "${!GATEWAY_PIDS[@]}"; do
    pid=${GATEWAY_PIDS[$index]}
    if [ -z "${reported[$pid]:-}" ] && ! alive "$pid"; then
      reported[$pid]=1
      wait "$pid" 2>/dev/null
      rc=$?
      echo "local-cluster: gateway ${GATEWAY_IDS[$index]} (pid $pid) exited with $rc; the others keep serving"
    fi
  done
  for pid in "$REDIS_PID" "$HAPROXY_PID"; do
    if [ -z "${reported[$pid]:-}" ] && ! alive "$pid"; then
      reported[$pid]=1
      wait "$pid" 2>/dev/null
      rc=$?
      name=haproxy
      [ "$pid" = "$REDIS_PID" ] && name=redis-server
      echo "local-cluster: $name (pid $pid) exited with $rc"
    fi
  done
  if [ "$EXIT_WITH_PARENT" = 1 ] && ! alive "$PARENT_PID"; then
    echo "local-cluster: the process that started it (pid $PARENT_PID) is gone"
    exit 0
  fi
done
