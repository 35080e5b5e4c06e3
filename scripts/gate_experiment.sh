#!/usr/bin/env bash
# gate_experiment.sh — the proof that the regression gate works, on this
# machine: A/A gates (the same build against itself: any FAIL is a false
# alarm), A/B gates with a planted 25% slowdown (must FAIL) and with a
# planted 5% slowdown (must not FAIL). Every gate is an interleaved A/B
# (engram-bench ab), and the three kinds of gate alternate, so machine
# drift hits them alike. Prints a summary and writes DIR/summary.tsv.
#
#   scripts/gate_experiment.sh [DIR]          # default out/gate-experiment
#   scripts/gate_experiment.sh --regate DIR   # judge DIR's stored runs again
#                                             # with this checkout's gate
#
# Knobs (environment): AA_GATES (20), AB_GATES (6), COUNT (runs per side, 6),
# RUN_ARGS (the run command both arms get). Takes about
# (AA_GATES + 2*AB_GATES) * 2 * COUNT * 6 s: ~38 min with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."

regate=false
if [ "${1:-}" = "--regate" ]; then
	regate=true
	shift
fi
dir=${1:-out/gate-experiment}
aa=${AA_GATES:-20}
ab=${AB_GATES:-6}
count=${COUNT:-6}
read -r -a run_args <<<"${RUN_ARGS:-run --scenario quickstart --rate 300 --concurrency 2 --duration 4s --warmup 1s -q}"

mkdir -p "$dir"
bin="$dir/engram-bench"
go build -o "$bin" ./cmd/engram-bench

summary="$dir/summary.tsv"
printf 'kind\tgate\texit\n' >"$summary"

report() {
	echo
	echo "exit codes per kind (0 pass, 1 regression, 2 bad input, 4 inconclusive):"
	awk -F'\t' 'NR > 1 { n[$1]++; c[$1 "\t" $3]++ }
		END { for (k in c) { split(k, p, "\t"); printf "  %-7s exit %s: %d of %d\n", p[1], p[2], c[k], n[p[1]] } }' "$summary" | sort
	echo
	echo "metrics past their failure limit: FAIL, or too noisy to tell (p = Mann-Whitney U, q = Benjamini-Hochberg):"
	for f in "$dir"/*.txt; do
		grep 'worse (limit' "$f" | sed "s|^ *|  $(basename "$f" .txt): |" || true
	done
}

if $regate; then
	for d in "$dir"/*/; do
		d=${d%/}
		name=${d##*/}
		[ -d "$d/baseline" ] || continue
		code=0
		"$bin" gate --baseline "$d/baseline" --current "$d/candidate" --count "$count" \
			--markdown "$d/verdict.md" >"$d.txt" 2>"$d.err" || code=$?
		printf '%s\t%s\t%s\n' "${name%-*}" "${name##*-}" "$code" >>"$summary"
	done
	report
	exit 0
fi

gate() { # gate KIND N [candidate args...]
	local kind=$1 n=$2 code=0
	shift 2
	local cand=()
	for a in "$@"; do cand+=("--candidate-arg=$a"); done
	"$bin" ab --dir "$dir/$kind-$n" --count "$count" "${cand[@]}" \
		--markdown "$dir/$kind-$n/verdict.md" -- "${run_args[@]}" \
		>"$dir/$kind-$n.txt" 2>"$dir/$kind-$n.err" || code=$?
	printf '%s\t%s\t%s\n' "$kind" "$n" "$code" >>"$summary"
	echo "$(date -u +%H:%M:%S) $kind gate $n: exit $code"
}

for n in $(seq 1 "$aa"); do
	gate aa "$n"
	if [ "$n" -le "$ab" ]; then
		gate slow25 "$n" --driver-opt=slowdown=0.25
		gate slow05 "$n" --driver-opt=slowdown=0.05
	fi
done

report
