#!/usr/bin/env bash
# Validates the deployable artifacts offline (no container engine, no Kubernetes cluster needed):
#
#   - docker-compose.yml renders (docker-compose 1.29 "config -q"), every gateway gets the same keys, and a broken
#     copy is refused;
#   - compose/haproxy.cfg passes "haproxy -c" (when haproxy is installed);
#   - the Dockerfile copies every project the gateway references before its restore, and .dockerignore keeps
#     nothing out that it copies;
#   - with a built gateway (src/Gateway/bin/Release): healthcheck.sh answers 0 for a serving gateway and non-zero
#     for a 404 and for nothing listening; the placeholder keys of the compose file and of the Kubernetes Secret
#     stop the gateway at start (exit 2 naming SseCluster:Auth:SigningKey);
#   - every Kubernetes manifest (k8s/validate.mjs, installed with npm ci), and broken copies are refused.
#
# Needs docker-compose (Debian: apt-get install docker-compose), node and npm. Prints one line per check, then
# "deploy-validate: N passed, N failed"; exits 1 when any failed.
set -uo pipefail
DEPLOY_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$DEPLOY_DIR/.." && pwd)
LOG_PREFIX="validate: "
# shellcheck source=SCRIPTDIR/../scripts/lib.sh
. "$ROOT/scripts/lib.sh"

passed=0
failed=0
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sse-deploy-validate.XXXXXX") || die "cannot create a temp directory"
trap 'stop_started 5; rm -rf "$TMP"' EXIT

ok() {
  passed=$((passed + 1))
  echo "ok    $*"
}

not_ok() {
  failed=$((failed + 1))
  echo "FAIL  $*"
}

# check NAME COMMAND...: COMMAND must succeed; its output is shown only when it fails.
check() {
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    ok "$name"
  else
    not_ok "$name"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/        /'
  fi
}

# refuses NAME COMMAND...: COMMAND must fail (a validator that accepts a broken file is itself broken).
refuses() {
  local name=$1
  shift
  if "$@" >"$TMP/refused.log" 2>&1; then
    not_ok "$name (it was accepted)"
  else
    ok "$name"
  fi
}

# ---- compose ----------------------------------------------------------------------------------------------------

COMPOSE_FILE="$DEPLOY_DIR/docker-compose.yml"
if command -v docker-compose >/dev/null 2>&1; then
  check "docker-compose.yml: docker-compose config -q" docker-compose -f "$COMPOSE_FILE" config -q

  same_keys() {
    local rendered
    rendered=$(SSE_SIGNING_KEY=validate-signing-key-0123456789-abcdefghij SSE_SESSION_KEY=validate-session-key-0123456789 \
      docker-compose -f "$COMPOSE_FILE" config) || return 1
    [ "$(grep -c 'SseCluster__Auth__SigningKey: validate-signing-key-0123456789-abcdefghij' <<<"$rendered")" -eq 3 ] &&
      [ "$(grep -c 'SseCluster__Auth__SessionKey: validate-session-key-0123456789' <<<"$rendered")" -eq 3 ] &&
      [ "$(grep -c 'SseCluster__Redis__Configuration: redis:6379' <<<"$rendered")" -eq 3 ] &&
      grep -q 'appendonly' <<<"$rendered"
  }
  check "docker-compose.yml: the three gateways share the keys and Redis from the environment; Redis keeps an AOF" same_keys

  # A broken copy next to a copy of what it refers to (build context .., ./compose/haproxy.cfg).
  mkdir -p "$TMP/compose-broken/deploy"
  cp -r "$DEPLOY_DIR/compose" "$TMP/compose-broken/deploy/"
  sed 's/^    hostname: gw-1$/    hostname: gw-1\n    restrt: always/' "$COMPOSE_FILE" > "$TMP/compose-broken/deploy/docker-compose.yml"
  compose_broken() {
    cmp -s "$COMPOSE_FILE" "$TMP/compose-broken/deploy/docker-compose.yml" && { echo "the edit changed nothing"; return 0; }
    docker-compose -f "$TMP/compose-broken/deploy/docker-compose.yml" config -q
  }
  refuses "docker-compose.yml: a copy with a misspelt service key (restrt) is refused" compose_broken
else
  not_ok "docker-compose is not installed (Debian: apt-get install docker-compose)"
fi

if command -v haproxy >/dev/null 2>&1; then
  check "compose/haproxy.cfg: haproxy -c" haproxy -c -q -f "$DEPLOY_DIR/compose/haproxy.cfg"
else
  echo "skip  compose/haproxy.cfg: haproxy is not installed"
fi

# ---- Dockerfile -------------------------------------------------------------------------------------------------

DOCKERFILE="$DEPLOY_DIR/Dockerfile"

# Every project the gateway references, transitively, as repository-relative paths.
project_closure() {
  local queue=("src/Gateway/SseCluster.Gateway.csproj") seen=() project dir reference
  while [ "${#queue[@]}" -gt 0 ]; do
    project=${queue[0]}
    queue=("${queue[@]:1}")
    [[ " ${seen[*]:-} " == *" $project "* ]] && continue
    seen+=("$project")
    dir=$(dirname "$project")
    while read -r reference; do
      [ -n "$reference" ] || continue
      queue+=("$(realpath -m --relative-to="$ROOT" "$ROOT/$dir/${reference//\\//}")")
    done < <(grep -o '<ProjectReference Include="[^"]*"' "$ROOT/$project" | sed 's/.*Include="\([^"]*\)"/\1/')
  done
  printf '%s\n' "${seen[@]}"
}

restores_every_project() {
  local restore_line project missing=0
  restore_line=$(grep -n '^RUN dotnet restore' "$DOCKERFILE" | head -n 1 | cut -d: -f1)
  [ -n "$restore_line" ] || { echo "no 'RUN dotnet restore' line"; return 1; }
  while read -r project; do
    if ! head -n "$restore_line" "$DOCKERFILE" | grep -q "^COPY $project "; then
      echo "$project is not copied before the restore"
      missing=1
    fi
  done < <(project_closure)
  return "$missing"
}
check "Dockerfile: every project the gateway references is copied before the restore" restores_every_project

copies_exist() {
  local source bad=0 pattern
  while read -r source; do
    [ -e "$ROOT/$source" ] || { echo "COPY source $source does not exist"; bad=1; }
    while read -r pattern; do
      pattern=${pattern%/}
      case "$pattern" in '' | '#'*) continue ;; esac
      # shellcheck disable=SC2053 # the .dockerignore line is a glob
      if [[ "$source" == $pattern || "$source" == $pattern/* || "${source%/}" == "${pattern#\*\*/}" ]]; then
        echo "COPY source $source is excluded by .dockerignore ($pattern)"
        bad=1
      fi
    done < "$ROOT/.dockerignore"
  done < <(grep '^COPY ' "$DOCKERFILE" | grep -v -- '--from=' | sed -E 's/^COPY (--[^ ]+ )*//' | awk '{ for (i = 1; i < NF; i++) print $i }')
  return "$bad"
}
check "Dockerfile: every COPY source exists and .dockerignore keeps none of them out" copies_exist

image_settings() {
  grep -q '^FROM mcr.microsoft.com/dotnet/sdk:\${DOTNET_VERSION} AS build' "$DOCKERFILE" &&
    grep -q '^FROM mcr.microsoft.com/dotnet/aspnet:\${DOTNET_VERSION} AS runtime' "$DOCKERFILE" &&
    grep -q '^USER \$APP_UID' "$DOCKERFILE" &&
    grep -q '^EXPOSE 8080 11111 30000$' "$DOCKERFILE" &&
    grep -q '^HEALTHCHECK .*sse-healthcheck' "$DOCKERFILE" &&
    grep -q 'deploy/healthcheck.sh /usr/local/bin/sse-healthcheck' "$DOCKERFILE" &&
    grep -q 'ASPNETCORE_URLS=http://+:8080' "$DOCKERFILE"
}
check "Dockerfile: sdk build and aspnet runtime stages, non-root user, three ports, health check" image_settings

# ---- the image's health check and the placeholder keys, against the built gateway --------------------------------

# The gateway with exactly the given environment (VAR=value lines in FILE) on a free port; its exit code and output
# in $TMP/NAME.log. A gateway that keeps running after 60 s is stopped and reported.
run_gateway_with() {
  local name=$1 env_file=$2 port rc
  free_port port
  local vars=()
  mapfile -t vars < "$env_file"
  (cd "$(dirname "$DEFAULT_GATEWAY_DLL")" &&
    exec timeout 60 env -i PATH="$PATH" HOME="$TMP" DOTNET_CLI_HOME="$TMP" "${vars[@]}" \
      dotnet "$DEFAULT_GATEWAY_DLL" --urls "http://127.0.0.1:$port") >"$TMP/$name.log" 2>&1
  rc=$?
  echo "exit $rc" >>"$TMP/$name.log"
  return "$rc"
}

# The gateway stops at start, naming the signing key (exit 2, as for any configuration mistake).
refuses_placeholder() {
  local name=$1 env_file=$2 rc
  run_gateway_with "$name" "$env_file"
  rc=$?
  if [ "$rc" -eq 2 ] && grep -q 'SseCluster:Auth:SigningKey' "$TMP/$name.log"; then
    return 0
  fi
  tail -n 20 "$TMP/$name.log"
  return 1
}

if [ -f "$DEFAULT_GATEWAY_DLL" ]; then
  healthcheck_answers() {
    local port rc=0
    free_port port
    start_gateway "$port" "$TMP/healthcheck-gateway.log" ASPNETCORE_ENVIRONMENT=Production \
      SseCluster__Auth__SigningKey=validate-signing-key-0123456789-abcdefghij || return 1
    local pid=$GATEWAY_PID
    wait_http "http://127.0.0.1:$port/healthz" "$pid" 60 || { tail -n 20 "$TMP/healthcheck-gateway.log"; return 1; }
    SSE_HEALTHCHECK_PORT=$port bash "$DEPLOY_DIR/healthcheck.sh" || { echo "/healthz: not healthy"; rc=1; }
    SSE_HEALTHCHECK_PORT=$port bash "$DEPLOY_DIR/healthcheck.sh" /healthz || { echo "/healthz (given): not healthy"; rc=1; }
    if SSE_HEALTHCHECK_PORT=$port bash "$DEPLOY_DIR/healthcheck.sh" /no-such-path 2>/dev/null; then
      echo "a 404 counted as healthy"
      rc=1
    fi
    stop_pids -t 30 "$pid"
    if SSE_HEALTHCHECK_PORT=$port bash "$DEPLOY_DIR/healthcheck.sh" 2>/dev/null; then
      echo "a stopped gateway counted as healthy"
      rc=1
    fi
    return "$rc"
  }
  check "healthcheck.sh: 0 for a serving gateway's /healthz, non-zero for a 404 and for a stopped gateway" healthcheck_answers

  if command -v docker-compose >/dev/null 2>&1; then
    # gw-1's environment as compose renders it with nothing set: the placeholders.
    compose_env() {
      env -u SSE_SIGNING_KEY -u SSE_SESSION_KEY docker-compose -f "$COMPOSE_FILE" config > "$TMP/compose.rendered.yml" &&
        node "$DEPLOY_DIR/k8s/env-of.mjs" compose "$TMP/compose.rendered.yml" gw-1 > "$TMP/compose.env" &&
        refuses_placeholder compose-placeholder "$TMP/compose.env"
    }
  fi
  k8s_env() {
    node "$DEPLOY_DIR/k8s/env-of.mjs" k8s "$DEPLOY_DIR/k8s" > "$TMP/k8s.env" &&
      refuses_placeholder k8s-placeholder "$TMP/k8s.env"
  }
else
  echo "skip  healthcheck.sh and placeholder keys: no gateway build at $DEFAULT_GATEWAY_DLL (dotnet build src/Gateway -c Release)"
fi

# ---- Kubernetes -------------------------------------------------------------------------------------------------

K8S="$DEPLOY_DIR/k8s"
if [ ! -d "$K8S/node_modules" ]; then
  (cd "$K8S" && npm ci --no-audit --no-fund >"$TMP/npm.log" 2>&1) || { cat "$TMP/npm.log"; not_ok "npm ci in deploy/k8s"; }
fi

if [ -d "$K8S/node_modules" ]; then
  if [ -f "$DEFAULT_GATEWAY_DLL" ]; then
    [ "$(type -t compose_env)" = function ] &&
      check "docker-compose.yml: the gateway refuses the placeholder signing key (exit 2)" compose_env
    check "k8s: the gateway refuses the Secret's placeholder signing key (exit 2)" k8s_env
  fi

  node "$K8S/validate.mjs" "$K8S" > "$TMP/k8s.log" 2>&1
  k8s_rc=$?
  sed 's/^/  k8s /' "$TMP/k8s.log" | grep -v '^  k8s k8s-validate:'
  line=$(grep -E '^k8s-validate: [0-9]+ passed, [0-9]+ failed' "$TMP/k8s.log" | tail -n 1)
  if [ -n "$line" ]; then
    passed=$((passed + $(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")))
    failed=$((failed + $(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")))
    [ "$k8s_rc" -eq 0 ] || [ "$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")" -gt 0 ] || not_ok "k8s/validate.mjs exited $k8s_rc"
  else
    not_ok "k8s/validate.mjs printed no summary"
  fi

  # Broken copies: each must be refused.
  broken() {
    local name=$1 file=$2 expression=$3
    rm -rf "$TMP/k8s-$name"
    mkdir -p "$TMP/k8s-$name"
    cp "$K8S"/*.yaml "$TMP/k8s-$name/"
    sed -i -E "$expression" "$TMP/k8s-$name/$file"
    cmp -s "$K8S/$file" "$TMP/k8s-$name/$file" && { echo "the edit changed nothing"; return 0; }
    node "$K8S/validate.mjs" "$TMP/k8s-$name"
  }
  refuses "k8s: a misspelt field is refused (readinesProbe)" broken typo deployment.yaml 's/readinessProbe:/readinesProbe:/'
  refuses "k8s: a wrong type is refused (replicas: \"three\")" broken type deployment.yaml 's/replicas: 3/replicas: "three"/'
  refuses "k8s: an unknown kind is refused (PodDisruptionBudgett)" broken kind pdb.yaml 's/^kind: PodDisruptionBudget$/kind: PodDisruptionBudgett/'
  refuses "k8s: a drain longer than the grace period is refused" broken drain configmap.yaml 's/DrainSeconds: "10"/DrainSeconds: "60"/'
  refuses "k8s: RBAC without patch on pods is refused" broken rbac rbac.yaml 's/, "patch"//'
fi

echo "deploy-validate: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
