#!/usr/bin/env bash
# compare_benchmarks.sh — benchstat-style comparison of two or more sides.
#
#   scripts/compare_benchmarks.sh OLD NEW [NEW...]
#       OLD and NEW are result files, Go benchmark files or directories of
#       them (a saved baseline, or scripts/run_benchmark.sh output).
#   scripts/compare_benchmarks.sh --go-test BASE_REF [PKG [REGEX [COUNT]]]
#       `go test -bench REGEX` of PKG (default ./engine, ., 10) at BASE_REF
#       and in this checkout, the two test binaries run alternately COUNT
#       times, then compared. Files stay in out/go-test-compare/.
#
# Environment: FORMAT=md for Markdown; ENGRAM_BENCH as in run_benchmark.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${ENGRAM_BENCH:-}
if [ -z "$bin" ]; then
	bin=out/engram-bench
	go build -o "$bin" ./cmd/engram-bench
fi
format=${FORMAT:-text}

if [ "${1:-}" != "--go-test" ]; then
	if [ $# -lt 2 ]; then
		echo "usage: scripts/compare_benchmarks.sh OLD NEW [NEW...] | --go-test BASE_REF [PKG [REGEX [COUNT]]]" >&2
		exit 2
	fi
	exec "$bin" compare --format "$format" "$@"
fi

base_ref=${2:?usage: scripts/compare_benchmarks.sh --go-test BASE_REF [PKG [REGEX [COUNT]]]}
pkg=${3:-./engine}
regex=${4:-.}
count=${5:-10}
root=$PWD
work=$root/out/go-test-compare
rm -rf "$work"
mkdir -p "$work"
tree="$work/base-tree"
git worktree add --detach "$tree" "$base_ref" >/dev/null
trap 'git worktree remove --force "$tree"' EXIT

(cd "$tree" && go test -c -o "$work/base.test" "$pkg")
go test -c -o "$work/head.test" "$pkg"
: >"$work/base.txt"
: >"$work/head.txt"
for i in $(seq 1 "$count"); do
	echo "round $i of $count" >&2
	(cd "$tree/$pkg" && "$work/base.test" -test.run '^$' -test.bench "$regex" -test.benchmem -test.count 1) >>"$work/base.txt"
	(cd "$root/$pkg" && "$work/head.test" -test.run '^$' -test.bench "$regex" -test.benchmem -test.count 1) >>"$work/head.txt"
done
"$bin" compare --format "$format" "base=$work/base.txt" "head=$work/head.txt"
