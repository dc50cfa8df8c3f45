#!/usr/bin/env bash
# A local SseCluster: one redis-server, several gateways (each an Orleans silo; one cluster, whose membership and
# stream stores live in that Redis) and haproxy in front. Everything listens on 127.0.0.1.
#
#   deploy/local-cluster.sh [--port 5080] [--gateway-ports 5081,5082,5083] [--silo-ports S1,S2,S3 | S1:G1,S2:G2,S3:G3]
#                           [--redis-port N] [--stats-port 8404] [--cluster-id ID] [--gateway-dll PATH]
#                           [--build | --no-build] [--keep-logs] [--exit-with-parent]
#
# Every option also reads an environment variable (the flag wins):
#   SSE_LB_PORT            haproxy's port                                   default 5080
#   SSE_GATEWAY_PORTS      one gateway per port, comma-separated            default 5081,5082,5083
#   SSE_SILO_PORTS         per gateway, in the same order: its silo port, or SILO:GATEWAY (GATEWAY = Orleans' port
#                          for publishers, 0 for none)                      default: free ports
#   SSE_REDIS_PORT         redis-server's port                              default: a free port
#   SSE_STATS_PORT         haproxy's stats page, 0 for none                 default 8404
#   SSE_CLUSTER_ID         SseCluster:Orleans:ClusterId                     default: ssecluster (each run has its own Redis)
#   SSE_SIGNING_KEY        HS256 key shared by every gateway (>= 32 bytes)  default: random per run
#   SSE_SESSION_KEY        stream session cookie key, shared                default: derived from the above
#   SSE_GATEWAY_DLL        the gateway to run       default src/Gateway/bin/Release/net10.0/SseCluster.Gateway.dll
#   SSE_BUILD              auto (build this tree's gateway when its sources changed since its last build), always,
#                          never
#   SSE_KEEP_LOGS          1: keep the temp directory (every log) on exit and print where it is
#   SSE_EXIT_WITH_PARENT   1: stop everything when the process that started this script exits (for tests)
# Other SseCluster__* variables in the environment reach every gateway (e.g. SseCluster__Shutdown__DrainSeconds=3);
# the gateway id, the ports and the advertised address are set per gateway by the script.
#
# Each gateway advertises 127.0.0.1 (a clustered silo would otherwise advertise the host's first non-loopback address)
# on silo and publisher ports of its own, and detects failures fast (SseCluster:Orleans:Membership:ProbeTimeoutSeconds
# 1, MissedProbesLimit 2: a SIGKILLed gateway is declared dead in ~1-3 s; the environment may set others). The
# gateways run in the Development environment from src/Gateway: the dashboard at "/" and POST /dev/token work
# (through haproxy too), with one signing and session key for all of them. Redis runs without persistence in a temp
# directory that also holds every log.
#
# Prints the URLs and PIDs once every gateway answers /readyz (its silo joined the cluster) and lists all the others
# in /sse/stats, and haproxy sees each one up; then "local-cluster: ready". Ctrl-C (SIGINT) or SIGTERM stops
# everything it started, by PID and nothing else: the gateways first (each drains: every stream gets event: close
# with reason "shutdown", through haproxy), haproxy once they have exited, then Redis; then it removes the temp
# directory unless --keep-logs. Its children run in sessions of their own, so a Ctrl-C in the terminal reaches the
# script alone and that order holds. A gateway that exits meanwhile (try kill -9 on one) is reported and the rest
# keep running. The gateway is built only when it is this tree's and its sources (src/, Directory.*.props) changed
# since its last build.
set -uo pipefail

LOG_PREFIX="local-cluster: "
DEPLOY_DIR="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=SCRIPTDIR/../scripts/lib.sh
. "$DEPLOY_DIR/../scripts/lib.sh"

LB_PORT="${SSE_LB_PORT:-5080}"
GATEWAY_PORTS="${SSE_GATEWAY_PORTS:-5081,5082,5083}"
SILO_PORTS="${SSE_SILO_PORTS:-}"
REDIS_PORT="${SSE_REDIS_PORT:-}"
STATS_PORT="${SSE_STATS_PORT:-8404}"
CLUSTER_ID="${SSE_CLUSTER_ID:-${SseCluster__Orleans__ClusterId:-}}"
SIGNING_KEY="${SSE_SIGNING_KEY:-}"
GATEWAY_DLL="${SSE_GATEWAY_DLL:-$DEFAULT_GATEWAY_DLL}"
BUILD="${SSE_BUILD:-auto}"
KEEP_LOGS="${SSE_KEEP_LOGS:-0}"
EXIT_WITH_PARENT="${SSE_EXIT_WITH_PARENT:-0}"
PARENT_PID=$PPID

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --port) LB_PORT="${2:?--port needs a value}"; shift 2 ;;
    --gateway-ports) GATEWAY_PORTS="${2:?--gateway-ports needs a value}"; shift 2 ;;
    --silo-ports) SILO_PORTS="${2:?--silo-ports needs a value}"; shift 2 ;;
    --redis-port) REDIS_PORT="${2:?--redis-port needs a value}"; shift 2 ;;
    --stats-port) STATS_PORT="${2:?--stats-port needs a value}"; shift 2 ;;
    --cluster-id) CLUSTER_ID="${2:?--cluster-id needs a value}"; shift 2 ;;
    --gateway-dll) GATEWAY_DLL="${2:?--gateway-dll needs a value}"; shift 2 ;;
    --build) BUILD=always; shift ;;
    --no-build) BUILD=never; shift ;;
    --keep-logs) KEEP_LOGS=1; shift ;;
    --exit-with-parent) EXIT_WITH_PARENT=1; shift ;;
    --presence-seconds) die "--presence-seconds is gone: gateways find each other through Orleans membership now" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done

is_port() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
is_port "$LB_PORT" || die "bad haproxy port '$LB_PORT'"
if ! [[ "$STATS_PORT" =~ ^[0-9]+$ ]] || { [ "$STATS_PORT" -ne 0 ] && ! is_port "$STATS_PORT"; }; then
  die "bad stats port '$STATS_PORT'"
fi
[ -z "$REDIS_PORT" ] || is_port "$REDIS_PORT" || die "bad redis port '$REDIS_PORT'"
IFS=',' read -r -a PORTS <<< "$GATEWAY_PORTS"
[ "${#PORTS[@]}" -ge 1 ] || die "no gateway ports"
for port in "${PORTS[@]}"; do is_port "$port" || die "bad gateway port '$port'"; done
SILOS=()    # per gateway: its silo port, or empty (a free one)
ORLEANS=()  # per gateway: its publisher (Orleans gateway) port, or empty (a free one)
if [ -n "$SILO_PORTS" ]; then
  IFS=',' read -r -a pairs <<< "$SILO_PORTS"
  [ "${#pairs[@]}" -eq "${#PORTS[@]}" ] || die "--silo-ports needs one entry per gateway (${#PORTS[@]}), got '$SILO_PORTS'"
  for pair in "${pairs[@]}"; do
    silo=${pair%%:*}
    is_port "$silo" || die "bad silo port '$silo' in '$SILO_PORTS'"
    orleans=""
    if [[ "$pair" == *:* ]]; then
      orleans=${pair#*:}
      [ "$orleans" = 0 ] || is_port "$orleans" || die "bad publisher port '$orleans' in '$SILO_PORTS'"
    fi
    SILOS+=("$silo")
    ORLEANS+=("$orleans")
  done
else
  for _ in "${PORTS[@]}"; do SILOS+=(""); ORLEANS+=(""); done
fi
case "$BUILD" in auto | always | never) ;; *) die "SSE_BUILD must be auto, always or never" ;; esac
[[ "$KEEP_LOGS" =~ ^[01]$ ]] || die "SSE_KEEP_LOGS must be 0 or 1"
if [ -z "$CLUSTER_ID" ]; then
  # The product's default, so a publisher needs only the Redis address; each run's Redis is its own.
  CLUSTER_ID="ssecluster"
fi
[[ "$CLUSTER_ID" =~ ^[A-Za-z0-9._-]+$ ]] || die "bad cluster id '$CLUSTER_ID' (letters, digits, . _ -)"

# ---- prerequisites -------------------------------------------------------------------------

command -v dotnet >/dev/null 2>&1 || die "dotnet is missing: install the .NET 10 SDK"
command -v redis-server >/dev/null 2>&1 || die "redis-server is missing: sudo apt-get install -y redis-server"
command -v haproxy >/dev/null 2>&1 || die "haproxy is missing: sudo apt-get install -y haproxy"

# ---- state and cleanup ---------------------------------------------------------------------

TMP_DIR=""
REDIS_PID=""
HAPROXY_PID=""
GATEWAY_PIDS=()
GATEWAY_IDS=()
SLEEP_PID=""
STOPPING=0

# Seconds a gateway may take to drain and exit: its host allows DrainSeconds + 10.
drain_seconds() {
  local drain=${SseCluster__Shutdown__DrainSeconds:-10}
  drain=${drain%%.*}
  [[ "$drain" =~ ^[0-9]+$ ]] || drain=10
  echo $((drain + 15))
}

cleanup() {
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  trap '' INT TERM HUP
  [ -n "$SLEEP_PID" ] && kill "$SLEEP_PID" 2>/dev/null
  local started="$HAPROXY_PID$REDIS_PID${GATEWAY_PIDS[*]:-}"
  [ -n "$started" ] && echo "local-cluster: stopping"
  # 1. The gateways (SIGTERM): each turns not-ready and drains, closing every stream with event: close (reason
  #    "shutdown"); those frames reach the clients through haproxy, so haproxy must outlive them.
  if [ "${#GATEWAY_PIDS[@]}" -gt 0 ]; then
    stop_pids -t "$(drain_seconds)" "${GATEWAY_PIDS[@]}"
  fi
  # 2. haproxy, once no gateway is left; 3. Redis.
  [ -n "$HAPROXY_PID" ] && stop_pids -t 5 "$HAPROXY_PID"
  [ -n "$REDIS_PID" ] && stop_pids -t 5 "$REDIS_PID"
  stop_started 5 # anything else started here (nothing, normally)
  if [ -n "$TMP_DIR" ] && [ -d "$TMP_DIR" ]; then
    if [ "$KEEP_LOGS" = 1 ]; then
      echo "local-cluster: logs kept in $TMP_DIR"
    else
      rm -rf "$TMP_DIR"
    fi
  fi
  [ -n "$started" ] && echo "local-cluster: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Tail of a log and a hint, then exit.
fail() {
  local log=$1
  shift
  [ -f "$log" ] && tail -n 20 "$log" >&2
  [ "$KEEP_LOGS" = 1 ] || log "(--keep-logs keeps every log)"
  die "$*"
}

# ---- ports ---------------------------------------------------------------------------------

for port in "$LB_PORT" "${PORTS[@]}" $([ "$STATS_PORT" -ne 0 ] && echo "$STATS_PORT") $REDIS_PORT "${SILOS[@]}" "${ORLEANS[@]}"; do
  { [ -z "$port" ] || [ "$port" = 0 ]; } && continue
  port_in_use "$port" && die "port $port is in use (choose others with --port, --gateway-ports, --silo-ports, --stats-port, --redis-port)"
done
all_ports=("$LB_PORT" "${PORTS[@]}")
[ "$STATS_PORT" -ne 0 ] && all_ports+=("$STATS_PORT")
[ -n "$REDIS_PORT" ] && all_ports+=("$REDIS_PORT")
for port in "${SILOS[@]}" "${ORLEANS[@]}"; do
  [ -n "$port" ] && [ "$port" != 0 ] && all_ports+=("$port")
done
[ "$(printf '%s\n' "${all_ports[@]}" | sort | uniq -d | wc -l)" -eq 0 ] || die "a port is given twice: ${all_ports[*]}"
# free_port must not hand out a port given here.
_SSE_GIVEN_PORTS+=("${all_ports[@]}")

# ---- build ---------------------------------------------------------------------------------

TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/sse-local-cluster.XXXXXX")" || die "cannot create a temp directory"

if [ "$GATEWAY_DLL" = "$DEFAULT_GATEWAY_DLL" ] || [ "$GATEWAY_DLL" -ef "$DEFAULT_GATEWAY_DLL" ]; then
  if [ "$BUILD" = always ]; then
    log "building the gateway (dotnet build src/Gateway -c Release)"
    dotnet_build "$DEFAULT_GATEWAY_DLL" "$GATEWAY_PROJECT_DIR" > "$TMP_DIR/build.log" 2>&1 ||
      fail "$TMP_DIR/build.log" "the gateway build failed"
  elif [ "$BUILD" = auto ]; then
    ensure_gateway_built "$TMP_DIR/build.log" || die "the gateway build failed"
  fi
fi
[ -f "$GATEWAY_DLL" ] || die "no gateway at $GATEWAY_DLL (build it: dotnet build src/Gateway -c Release)"

if [ -z "$SIGNING_KEY" ]; then
  SIGNING_KEY="local-cluster-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
fi
[ "${#SIGNING_KEY}" -ge 32 ] || die "SSE_SIGNING_KEY must be at least 32 bytes"
SESSION_KEY="${SSE_SESSION_KEY:-session-$SIGNING_KEY}"

# ---- redis ---------------------------------------------------------------------------------

start_redis "$TMP_DIR/redis" "$REDIS_PORT" ||
  fail "" "redis-server did not start on ${REDIS_PORT:+port }${REDIS_PORT:-a free port}"

# ---- gateways ------------------------------------------------------------------------------

# The project folder is the content root: appsettings.Development.json and wwwroot (the dashboard).
GATEWAY_CONTENT_ROOT="$GATEWAY_PROJECT_DIR"
GATEWAY_SILO=()
GATEWAY_ORLEANS=()
for index in "${!PORTS[@]}"; do
  id="gw-$((index + 1))"
  fixed=()
  [ -n "${SILOS[$index]}" ] && fixed+=(SseCluster__Orleans__SiloPort="${SILOS[$index]}")
  [ -n "${ORLEANS[$index]}" ] && fixed+=(SseCluster__Orleans__GatewayPort="${ORLEANS[$index]}")
  start_gateway "${PORTS[$index]}" "$TMP_DIR/$id.log" \
    ASPNETCORE_ENVIRONMENT=Development \
    SseCluster__GatewayId="$id" \
    SseCluster__Redis__Configuration="127.0.0.1:$REDIS_PORT" \
    SseCluster__Orleans__ClusterId="$CLUSTER_ID" \
    SseCluster__Orleans__Membership__ProbeTimeoutSeconds="${SseCluster__Orleans__Membership__ProbeTimeoutSeconds:-1}" \
    SseCluster__Orleans__Membership__MissedProbesLimit="${SseCluster__Orleans__Membership__MissedProbesLimit:-2}" \
    SseCluster__Auth__SigningKey="$SIGNING_KEY" \
    SseCluster__Auth__SessionKey="$SESSION_KEY" \
    "${fixed[@]}" || die "cannot start gateway $id"
  GATEWAY_PIDS+=("$GATEWAY_PID")
  GATEWAY_IDS+=("$id")
  GATEWAY_SILO+=("$GATEWAY_SILO_PORT")
  GATEWAY_ORLEANS+=("$GATEWAY_ORLEANS_PORT")
done

# /readyz answers 200 once the gateway's silo joined the cluster.
deadline=$((SECONDS + 90))
for index in "${!PORTS[@]}"; do
  id=${GATEWAY_IDS[$index]}
  wait_http "http://127.0.0.1:${PORTS[$index]}/readyz" "${GATEWAY_PIDS[$index]}" $((deadline > SECONDS ? deadline - SECONDS : 1)) ||
    fail "$TMP_DIR/$id.log" "gateway $id (port ${PORTS[$index]}) did not become ready"
done

# One cluster: every gateway lists all of them in /sse/stats (needs curl; skipped without it).
if command -v curl >/dev/null 2>&1; then
  admin=$(curl -s -m 5 -X POST "http://127.0.0.1:${PORTS[0]}/dev/token" -H 'Content-Type: application/json' \
    -d '{"userId":"local-cluster","roles":["admin"]}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  [ -n "$admin" ] || fail "$TMP_DIR/gw-1.log" "gw-1 gave no development token (POST /dev/token)"
  deadline=$((SECONDS + 30))
  for index in "${!PORTS[@]}"; do
    id=${GATEWAY_IDS[$index]}
    while :; do
      seen=$(curl -s -m 5 "http://127.0.0.1:${PORTS[$index]}/sse/stats" -H "Authorization: Bearer $admin" |
        grep -o '"gatewayId":"[^"]*"' | sort -u | wc -l)
      [ "$seen" -ge "${#PORTS[@]}" ] && break
      [ "$SECONDS" -lt "$deadline" ] ||
        fail "$TMP_DIR/$id.log" "gateway $id lists $seen of ${#PORTS[@]} gateways in /sse/stats: they did not form one cluster"
      sleep 0.5
    done
  done
fi

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
start_bg "$TMP_DIR/haproxy.log" haproxy -db -f "$TMP_DIR/haproxy.cfg"
HAPROXY_PID=$BG_PID

wait_http "http://127.0.0.1:$LB_PORT/readyz" "$HAPROXY_PID" 20 ||
  fail "$TMP_DIR/haproxy.log" "haproxy on port $LB_PORT did not answer /readyz"
if [ "$STATS_PORT" -ne 0 ] && command -v curl >/dev/null 2>&1; then
  # Every server passed its health checks.
  deadline=$((SECONDS + 20))
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
for index in "${!PORTS[@]}"; do
  publisher_port=${GATEWAY_ORLEANS[$index]}
  [ "$publisher_port" = 0 ] && publisher_port=none
  echo "  silo       ${GATEWAY_IDS[$index]}  127.0.0.1:${GATEWAY_SILO[$index]}  publisher port $publisher_port"
done
echo "  cluster    $CLUSTER_ID  (SseCluster__Orleans__ClusterId; membership in Redis 127.0.0.1:$REDIS_PORT)"
echo "  redis      127.0.0.1:$REDIS_PORT  pid $REDIS_PID"
echo "  haproxy    http://127.0.0.1:$LB_PORT/  pid $HAPROXY_PID"
[ "$STATS_PORT" -ne 0 ] && echo "  stats      http://127.0.0.1:$STATS_PORT/"
if [ "$KEEP_LOGS" = 1 ]; then
  echo "  logs       $TMP_DIR  (kept on exit)"
else
  echo "  logs       $TMP_DIR  (removed on exit; --keep-logs keeps them)"
fi
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
    if [ -z "${reported[$pid]:-}" ] && ! pid_alive "$pid"; then
      reported[$pid]=1
      wait "$pid" 2>/dev/null
      rc=$?
      echo "local-cluster: gateway ${GATEWAY_IDS[$index]} (pid $pid) exited with $rc; the others keep serving"
    fi
  done
  for pid in "$REDIS_PID" "$HAPROXY_PID"; do
    if [ -z "${reported[$pid]:-}" ] && ! pid_alive "$pid"; then
      reported[$pid]=1
      wait "$pid" 2>/dev/null
      rc=$?
      name=haproxy
      [ "$pid" = "$REDIS_PID" ] && name=redis-server
      echo "local-cluster: $name (pid $pid) exited with $rc"
    fi
  done
  if [ "$EXIT_WITH_PARENT" = 1 ] && ! pid_alive "$PARENT_PID"; then
    echo "local-cluster: the process that started it (pid $PARENT_PID) is gone"
    exit 0
  fi
done
