#!/usr/bin/env bash
# ci_gate.sh — the regression gate as CI runs it (.github/workflows/bench.yml),
# and as anyone can run it locally.
#
#   scripts/ci_gate.sh save NAME       run the benchmark BENCH_COUNT times and
#                                      store it as baselines/NAME (main branch)
#   scripts/ci_gate.sh stored NAME     run it BENCH_COUNT times and gate against
#                                      the stored baselines/NAME
#   scripts/ci_gate.sh ab BASE_BIN     interleaved A/B: BASE_BIN (the base
#                                      branch's engram-bench) against this checkout
#   scripts/ci_gate.sh pr NAME BASE_BIN
#                                      stored if baselines/NAME exists and was
#                                      made on an identical machine and toolchain,
#                                      else ab
#
# Writes out/gate/verdict.md (Markdown for the pull request) and exits with
# the gate's code: 0 pass, 1 regression, 2 bad input, 4 inconclusive.
# Environment: BENCH_COUNT (6), BENCH_ARGS (see run_benchmark.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
	echo "usage: scripts/ci_gate.sh save NAME | stored NAME | ab BASE_BIN | pr NAME BASE_BIN" >&2
	exit 2
}
[ $# -ge 2 ] || usage
mode=$1
count=${BENCH_COUNT:-6}
default_args="run --scenario quickstart --rate 300 --concurrency 2 --duration 4s --warmup 1s -q"
bench_args=${BENCH_ARGS:-$default_args}
out=out/gate
mkdir -p "$out"
bin=out/engram-bench
go build -o "$bin" ./cmd/engram-bench
export ENGRAM_BENCH=$bin BENCH_ARGS=$bench_args

stored() { # stored NAME [gate flags...]
	local name=$1
	shift
	rm -rf "$out/current"
	scripts/run_benchmark.sh "$out/current" "$count"
	"$bin" gate --baseline "baselines/$name" --current "$out/current" \
		--count "$count" --markdown "$out/verdict.md" "$@"
}

ab() { # ab BASE_BIN
	local -a run_args
	read -r -a run_args <<<"$bench_args"
	rm -rf "$out/ab"
	"$bin" ab --dir "$out/ab" --count "$count" --baseline-bin "$1" \
		--markdown "$out/verdict.md" -- "${run_args[@]}"
}

case $mode in
save)
	rm -rf "$out/baseline-runs"
	scripts/run_benchmark.sh "$out/baseline-runs" "$count"
	"$bin" baseline save --name "$2" --force "$out/baseline-runs"
	;;
stored)
	stored "$2"
	;;
ab)
	ab "$2"
	;;
pr)
	[ $# -eq 3 ] || usage
	if [ -f "baselines/$2/fingerprint.json" ]; then
		code=0
		stored "$2" --require-same-env || code=$?
		if [ "$code" -ne 4 ] || ! grep -q 'environments differ' "$out/verdict.md"; then
			exit "$code"
		fi
		echo "ci_gate: the stored baseline comes from another machine or toolchain; interleaved A/B instead" >&2
	else
		echo "ci_gate: no stored baseline baselines/$2; interleaved A/B against $3" >&2
	fi
	ab "$3"
	;;
*)
	usage
	;;
esac
