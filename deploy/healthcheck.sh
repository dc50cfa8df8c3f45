#!/usr/bin/env bash
# The gateway image's health check. The aspnet runtime image has neither curl nor wget, and the gateway is no HTTP
# client, so this speaks just enough HTTP/1.0 over bash's /dev/tcp: it exits 0 when the path answers 200.
#
#   healthcheck.sh [PATH]        PATH defaults to /healthz (liveness; use /readyz for "send me traffic")
#
# SSE_HEALTHCHECK_PORT: the gateway's HTTP port on 127.0.0.1 (default 8080, the image's ASPNETCORE_URLS port).
set -u
path=${1:-/healthz}
port=${SSE_HEALTHCHECK_PORT:-8080}
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET %s HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 5 status <&3 || { echo "no answer from 127.0.0.1:$port$path" >&2; exit 1; }
status=${status%$'\r'}
case "$status" in
  "HTTP/1."?" 200"*) exit 0 ;;
  *) echo "127.0.0.1:$port$path answered: $status" >&2; exit 1 ;;
esac
