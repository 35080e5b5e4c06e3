#!/usr/bin/env bash
# run_sharded.sh N [run flags...]: run one scenario as N shard processes on
# this machine, all starting their schedule at the same instant (--start-at),
# then merge their results exactly into one (engram-bench merge). The same
# thing the Kubernetes manifests in scripts/k8s/ do across machines.
#
#   scripts/run_sharded.sh 4 --scenario quickstart --driver null --rate 20000 --duration 20s
#
# Environment:
#   OUT_DIR       where results go (default results/sharded-<UTC time>): shard-I.json,
#                 shard-I.hlog, shard-I.txt (its output), merged.json, merged.hlog
#   START_IN      seconds from now to the aligned start (default 5; raise it when
#                 shard 0's preload takes longer)
#   ENGRAM_BENCH  the engram-bench binary (default: built from this checkout)
#
# Exit code: the merge's (0 pass, 1 a target missed, 2 refused, 3 invalid), or
# the first failing shard's when a shard could not run at all.
set -euo pipefail

usage() {
  echo "usage: $0 N [engram-bench run flags...]   (N shard processes, then merge)" >&2
  exit 2
}
[ $# -ge 1 ] || usage
n=$1
shift
[[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run_sharded.sh: N must be a whole number >= 1, got '$n'" >&2; exit 2; }
for a in "$@"; do
  case $a in
    --shard|--shard=*|--start-at|--start-at=*|--out|--out=*|-o|--hlog|--hlog=*)
      echo "run_sharded.sh: $a is set by the script (per shard); leave it out" >&2
      exit 2 ;;
  esac
done

out_dir=${OUT_DIR:-results/sharded-$(date -u +%Y%m%dT%H%M%SZ)}
start_in=${START_IN:-5}
mkdir -p "$out_dir"
bin=${ENGRAM_BENCH:-}
if [ -z "$bin" ]; then
  root=$(cd "$(dirname "$0")/.." && pwd)
  bin="$out_dir/engram-bench"
  echo "run_sharded.sh: building engram-bench into $bin"
  (cd "$root" && go build -o "$bin" ./cmd/engram-bench)
fi

start_at=$(( $(date +%s) + start_in ))
echo "run_sharded.sh: $n shards start at $(date -u -d "@$start_at" +%Y-%m-%dT%H:%M:%SZ) ($start_at); results in $out_dir"
pids=()
results=()
for ((i = 0; i < n; i++)); do
  "$bin" run "$@" --shard "$i/$n" --start-at "$start_at" \
    --out "$out_dir/shard-$i.json" --hlog "$out_dir/shard-$i.hlog" -q >"$out_dir/shard-$i.txt" 2>&1 &
  pids+=($!)
  results+=("$out_dir/shard-$i.json")
done

# Ctrl-C or TERM: every shard writes its partial result, then we merge those.
interrupted=0
trap 'interrupted=1; kill -TERM "${pids[@]}" 2>/dev/null || true' INT TERM

failed=0
for i in "${!pids[@]}"; do
  rc=0
  while true; do
    wait "${pids[$i]}" && rc=0 || rc=$?
    # A trapped signal interrupts wait with a code above 128; wait again.
    if [ $rc -gt 128 ] && kill -0 "${pids[$i]}" 2>/dev/null; then continue; fi
    break
  done
  # A shard's own verdict (exit 0, 1 or 3) is not the run's: what matters is
  # whether it wrote a result (run creates --out empty up front).
  if [ -s "${results[$i]}" ]; then
    echo "run_sharded.sh: shard $i done (exit $rc): $(grep -m1 '^verdict:' "$out_dir/shard-$i.txt" || echo 'no verdict line')"
  else
    echo "run_sharded.sh: shard $i failed (exit $rc) without a result; its output ($out_dir/shard-$i.txt) ends:" >&2
    tail -n 5 "$out_dir/shard-$i.txt" >&2
    [ $failed -ne 0 ] || failed=$((rc == 0 ? 3 : rc))
  fi
done

have=()
for r in "${results[@]}"; do
  [ -s "$r" ] && have+=("$r")
done
partial=()
if [ $interrupted -eq 1 ]; then
  partial=(--allow-partial)
elif [ $failed -ne 0 ]; then
  exit $failed
fi
[ ${#have[@]} -gt 0 ] || { echo "run_sharded.sh: no shard wrote a result" >&2; exit 3; }
"$bin" merge "${have[@]}" --out "$out_dir/merged.json" "${partial[@]}" | tee "$out_dir/merged.txt"
exit "${PIPESTATUS[0]}"
