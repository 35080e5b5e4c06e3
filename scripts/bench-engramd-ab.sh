#!/usr/bin/env bash
# Compare two builds of engramd on the same data: how many mixed_balanced
# ops a second each serves when asked for more than it can (its capacity),
# in alternating rounds so that the machine's drift hits both alike.
#
# One store of PRELOAD memories is loaded once (by the NEW build); each
# round copies it, starts a build on the copy, runs mixed_balanced (no
# preload) at RATE ops/s for SECS seconds after a 3-s warm-up with
# CONCURRENCY workers, and records the ops finished per second and the CPU
# engramd used. Both builds must read the same store format.
#
#   scripts/bench-engramd-ab.sh OLD [NEW]   # git revisions; NEW defaults to the working tree
#   # PRELOAD=100000 ROUNDS=3 RATE=2500 SECS=20 CONCURRENCY=64
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
old=${1:?usage: scripts/bench-engramd-ab.sh OLD-REVISION [NEW-REVISION]}
new=${2:-}
PRELOAD=${PRELOAD:-100000}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-2500}
SECS=${SECS:-20}
CONC=${CONCURRENCY:-64}
build
machine

# engramd_of REV NAME: builds engramd of git revision REV as $work/engramd-NAME.
engramd_of() {
	mkdir -p "$work/src-$2"
	git -C "$repo" archive "$1" | tar -x -C "$work/src-$2"
	(cd "$work/src-$2" && go build -o "$work/engramd-$2" ./cmd/engramd)
	rm -rf "$work/src-$2"
}
engramd_of "$old" old
if [ -n "$new" ]; then
	engramd_of "$new" new
else
	cp "$engramd" "$work/engramd-new"
fi
echo "old: $old; new: ${new:-the working tree}"

# start BINARY DATA: starts engramd; sets url and epid.
start() {
	"$1" --addr 127.0.0.1:0 --data "$2" --max-inflight 4096 >"$work/engramd.out" 2>&1 &
	epid=$!
	pids+=("$epid")
	url=$(listen_url "$work/engramd.out" 60)
	[ -n "$url" ] || { cat "$work/engramd.out"; exit 1; }
}
stop() {
	kill -TERM "$epid"
	wait "$epid" || true
}
ticks() { awk '{print $14 + $15}' "/proc/$epid/stat"; }

load="$work/load.toml"
sed -e "s/^preload = .*/preload = $PRELOAD/" "$repo/scripts/scenarios/mixed_balanced_100k.toml" >"$load"
sc="$work/run.toml"
sed -e "s/^preload = .*/preload = 0/" "$repo/scripts/scenarios/mixed_balanced_100k.toml" >"$sc"

start "$work/engramd-new" "$work/base"
"$eb" run --scenario "$load" --driver engram --target "$url" -c 16 --rate 10 --duration 1s -q --out "$work/load.json" >"$work/load.out" 2>&1 || true
echo "preload: $(json "$work/load.json" "'%d memories in %.1f s (%d errors)' % (r['preload']['memories'], r['preload']['duration_s'], r['preload'].get('errors', 0))")"
stop

hz=$(getconf CLK_TCK)
printf '%6s %5s %10s %9s %9s %12s %7s\n' round build "ops/s" "p50 ms" "p99 ms" "engramd cpu" errors
for i in $(seq "$ROUNDS"); do
	for v in old new; do
		rm -rf "$work/run"
		cp -a "$work/base" "$work/run"
		sync # the copy's dirty pages would otherwise be written back under the run's fsyncs
		start "$work/engramd-$v" "$work/run"
		t0=$(ticks)
		"$eb" run --scenario "$sc" --driver engram --target "$url" --driver-opt recall=post -c "$CONC" --rate "$RATE" --duration "${SECS}s" --warmup 3s -q --out "$work/$v-$i.json" >"$work/$v-$i.out" 2>&1 || true
		t1=$(ticks)
		stop
		[ -s "$work/$v-$i.json" ] || { tail -5 "$work/$v-$i.out"; exit 1; }
		json "$work/$v-$i.json" "'%6d %5s %10.0f %9.1f %9.1f %10.1f s %7d' % ($i, '$v', r['achieved_rate'], r['total']['latency_ns']['p50']/1e6, r['total']['latency_ns']['p99']/1e6, ($t1 - $t0) / $hz, r['total']['errors'])"
	done
done
python3 - "$work" "$ROUNDS" <<'EOF'
import json, sys
work, rounds = sys.argv[1], int(sys.argv[2])
rate = {v: [json.load(open(f"{work}/{v}-{i}.json"))["achieved_rate"] for i in range(1, rounds + 1)] for v in ("old", "new")}
mean = {v: sum(x) / len(x) for v, x in rate.items()}
wins = sum(n > o for o, n in zip(rate["old"], rate["new"]))
print(f"old {min(rate['old']):.0f}-{max(rate['old']):.0f} ops/s, new {min(rate['new']):.0f}-{max(rate['new']):.0f}; "
      f"new/old {mean['new'] / mean['old']:.2f}x (means); new ahead in {wins} of {rounds} rounds")
EOF
