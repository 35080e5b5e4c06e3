#!/usr/bin/env bash
# Installs the load generators engram-bench is compared with: wrk (Debian),
# hey and vegeta (go install), fortio (go install of v1.66.0: releases from
# v1.70.0 on need grol.io/grol, which the Go module proxy here refuses), and
# GNU time for the CPU accounting. Idempotent: skips what is installed.
set -euo pipefail
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
[ -x /usr/bin/time ] || need_apt+=(time)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
	apt-get update -qq
	apt-get install -y -qq "${need_apt[@]}"
fi
gobin="$(go env GOPATH)/bin"
[ -x "$gobin/hey" ] || GOFLAGS='' go install github.com/rakyll/hey@v0.1.5
[ -x "$gobin/vegeta" ] || GOFLAGS='' go install github.com/tsenart/vegeta/v12@v12.13.0
[ -x "$gobin/fortio" ] || GOFLAGS='' go install fortio.org/fortio@v1.66.0 || echo "install-peers: fortio did not install; the comparison leaves it out" >&2
echo "install-peers: wrk $(command -v wrk), hey/vegeta/fortio in $gobin"
