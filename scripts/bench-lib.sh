# Shared helpers for the bench-*.sh scripts (sourced, not run).
# shellcheck shell=bash

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"
work="$(mktemp -d -t engram-bench-XXXXXX)"
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do
		if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; fi
	done
	wait 2>/dev/null || true
	[ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

build() {
	mkdir -p "$repo/bin"
	(cd "$repo" && go build -o bin/engram-bench ./cmd/engram-bench && go build -o bin/engramd ./cmd/engramd)
	eb="$repo/bin/engram-bench"
	export engramd="$repo/bin/engramd"
}

have() { command -v "$1" >/dev/null 2>&1; }

# listen_url FILE [SECONDS]: the first http:// URL a server printed to FILE,
# waiting up to SECONDS (default 10) for it; empty if none came.
listen_url() {
	local u="" i
	for ((i = 0; i < ${2:-10} * 20; i++)); do
		u=$(grep -o 'http://[0-9.:]*' "$1" | head -1 || true)
		[ -n "$u" ] && break
		sleep 0.05
	done
	echo "$u"
}

# start_stub NAME [stub-server flags...]: starts a stub target on a free
# loopback port; sets stub_url and stub_pid.
start_stub() {
	local name=$1
	shift
	"$eb" stub-server --addr 127.0.0.1:0 "$@" >"$work/$name.stub" 2>&1 &
	stub_pid=$!
	pids+=("$stub_pid")
	stub_url=$(listen_url "$work/$name.stub" 5)
	[ -n "$stub_url" ] || { cat "$work/$name.stub"; echo "stub-server did not start" >&2; exit 1; }
	stub_url="$stub_url/"
}

# stop_stub NAME: stops the stub and prints how many requests it answered.
# Called as n=$(stop_stub ...) it runs in a subshell, where wait cannot wait
# for the stub (not its child): it then waits up to 10 s for the stub's last
# line instead of reading the file before the stub wrote it.
stop_stub() {
	kill -TERM "$stub_pid" 2>/dev/null || true
	wait "$stub_pid" 2>/dev/null || true
	for _ in $(seq 200); do
		grep -q 'answered [0-9]*' "$work/$1.stub" && break
		sleep 0.05
	done
	# Nothing printed (the stub died): an empty count, which callers report
	# as a failed run instead of the script stopping silently (set -e).
	grep -o 'answered [0-9]*' "$work/$1.stub" | awk '{print $2}' || true
}

# timed NAME CMD...: runs CMD under GNU time; output in $work/NAME.out,
# user+system CPU seconds in $work/NAME.cpu.
timed() {
	local name=$1
	shift
	/usr/bin/time -f '%U %S' -o "$work/$name.time" "$@" >"$work/$name.out" 2>&1 || true
	tail -1 "$work/$name.time" | awk '{printf "%.2f\n", $1 + $2}' >"$work/$name.cpu"
}

# json FILE PYTHON-EXPR: evaluates an expression over the JSON document r.
json() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print($2)" "$1"; }

machine() {
	echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ), commit $(cd "$repo" && git rev-parse --short HEAD)"
}
