#!/usr/bin/env bash
# run_benchmark.sh — run the gate's benchmark COUNT times, one result file
# per run, for `engram-bench gate` or `engram-bench baseline save`.
#
#   scripts/run_benchmark.sh OUT_DIR [COUNT]
#
# Environment:
#   BENCH_ARGS    the run arguments (default: the gate's benchmark, see
#                 docs/regression-gate.md)
#   ENGRAM_BENCH  the engram-bench executable (default: built from this
#                 checkout into out/engram-bench)
# Exit status: 0 when every run wrote a result (a run that missed its
# targets, exit 1, or was invalid, exit 3, still counts: the gate skips
# invalid runs and says so); 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: scripts/run_benchmark.sh OUT_DIR [COUNT]" >&2
	exit 2
fi
out=$1
count=${2:-6}
default_args="run --scenario quickstart --rate 300 --concurrency 2 --duration 4s --warmup 1s -q"
read -r -a args <<<"${BENCH_ARGS:-$default_args}"

bin=${ENGRAM_BENCH:-}
if [ -z "$bin" ]; then
	bin=out/engram-bench
	go build -o "$bin" ./cmd/engram-bench
fi

mkdir -p "$out"
for i in $(seq -f %03g 1 "$count"); do
	code=0
	"$bin" "${args[@]}" --out "$out/run-$i.json" >"$out/run-$i.log" 2>&1 || code=$?
	case $code in
	0 | 1 | 3) echo "run $i of $count: exit $code" ;;
	*)
		cat "$out/run-$i.log" >&2
		exit "$code"
		;;
	esac
done
