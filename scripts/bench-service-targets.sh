#!/usr/bin/env bash
# Service targets: Engram's mixed_balanced against engramd on loopback with
# 100,000 memories preloaded, at 10,000 ops/s for 60 s (targets: P50 < 5 ms,
# P99 < 10 ms, P99.9 < 50 ms, errors < 0.1%), then a 30-s burst at 50,000
# ops/s against the same data. A CPU profile of engramd is taken during
# each measured phase and its top functions printed: where the time goes.
#
# Then a capacity sweep at lower rates (SWEEP_RATES) shows where engramd
# saturates on this machine.
#
#   scripts/bench-service-targets.sh    # RATE=10000 DURATION=60 BURST_RATE=50000 BURST_DURATION=30 PRELOAD=100000 SWEEP_RATES="250 500 1000 2000"
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
RATE=${RATE:-10000}
D=${DURATION:-60}
BURST_RATE=${BURST_RATE:-50000}
BD=${BURST_DURATION:-30}
PRELOAD=${PRELOAD:-100000}
CONC=${CONCURRENCY:-512}
SWEEP=${SWEEP_RATES:-250 500 1000 2000}
BURST_CONC=${BURST_CONCURRENCY:-1024}
build
machine
sc="$work/steady.toml"
sed -e "s/^preload = .*/preload = $PRELOAD/" "$repo/scripts/scenarios/mixed_balanced_100k.toml" >"$sc"

"$engramd" --addr 127.0.0.1:0 --data "$work/data" --max-inflight $((2 * BURST_CONC)) >"$work/engramd.out" 2>&1 &
pids+=($!)
url=$(listen_url "$work/engramd.out")
[ -n "$url" ] || { cat "$work/engramd.out"; exit 1; }
echo "engramd at $url (data $work/data, sync on)"

# profile URL SECONDS NAME: once engramd holds at least $2 memories, waits $3
# seconds, then takes a CPU profile of $4 seconds.
profile() {
	local min=$1 delay=$2 secs=$3 name=$4
	until [ "$(curl -s "$url/api/v1/system/health" | python3 -c 'import json,sys; print(sum(s["memories"] for s in json.load(sys.stdin)["spaces"]))' 2>/dev/null || echo 0)" -ge "$min" ]; do sleep 1; done
	sleep "$delay"
	curl -s -o "$work/$name.pb.gz" "$url/debug/pprof/profile?seconds=$secs"
}

summary() { # RESULT.json
	json "$1" "'achieved %.0f ops/s of %.0f; p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.1f ms; errors %d (%.3f%%) %s; harness cpu %.0f%%, lag p99 %.2f ms, queued %d; verdict %s' % (r['achieved_rate'], r['target_rate'], r['total']['latency_ns']['p50']/1e6, r['total']['latency_ns']['p99']/1e6, r['total']['latency_ns']['p999']/1e6, r['total']['latency_ns']['max']/1e6, r['total']['errors'], 100*r['total']['error_rate'], r['total'].get('errors_by_class') or '', r['harness']['cpu_percent'], r['harness']['lag_p99_ns']/1e6, r['harness']['queued'], r['verdict'])"
	json "$1" "'\\n'.join('    %-18s %8d ops  p50 %7.2f ms  p99 %7.2f ms  p99.9 %7.2f ms  hit rate %s' % (k, v['count'], v['latency_ns']['p50']/1e6, v['latency_ns']['p99']/1e6, v['latency_ns']['p999']/1e6, ('%.3f' % v['hit_rate']) if v.get('hit_rate') is not None else '-') for k, v in sorted(r['ops'].items()))"
	json "$1" "'\\n'.join('    target %-14s %s' % (t['name'], 'PASS' if t['pass'] else 'FAIL (%.3g %s vs %.3g)' % (t['achieved'], t['unit'], t['target'])) for t in r.get('targets') or [])"
	json "$1" "'\\n'.join('    why: ' + x for x in (r.get('reasons') or []) + ['warm-up ops finished inside the window: %d; ops still in flight at the end: %d' % (r['harness'].get('warmup_spill', 0), r['harness'].get('abandoned', 0))])"
}

top() { # NAME
	if [ -s "$work/$1.pb.gz" ]; then
		echo "  engramd CPU profile ($1), top functions by cumulative time:"
		go tool pprof -top -cum -nodecount=25 "$engramd" "$work/$1.pb.gz" 2>/dev/null | sed -n '1,6p;/flat%/,$p' | sed 's/^/    /'
	fi
}

echo
echo "== steady: mixed_balanced, $PRELOAD memories preloaded, $RATE ops/s for $D s (+5 s warm-up), concurrency $CONC"
profile "$PRELOAD" 8 $((D / 2)) steady &
pids+=($!)
"$eb" run --scenario "$sc" --driver engram --target "$url" --driver-opt recall=post -c "$CONC" --rate "$RATE" --duration "${D}s" -q --out "$work/steady.json" >"$work/steady.out" 2>&1 || true
wait "${pids[-1]}" 2>/dev/null || true
if [ -s "$work/steady.json" ]; then
	echo "  preload: $(json "$work/steady.json" "'%d memories in %.1f s (%d errors)' % (r['preload']['memories'], r['preload']['duration_s'], r['preload'].get('errors', 0))")"
	summary "$work/steady.json" >"$work/steady.sum"
	sed 's/^/  /' "$work/steady.sum"
else
	tail -20 "$work/steady.out"
fi
top steady

echo
echo "== burst: $BURST_RATE ops/s for $BD s against the same data, concurrency $BURST_CONC"
(sleep 10 && curl -s -o "$work/burst.pb.gz" "$url/debug/pprof/profile?seconds=$((BD / 2))") &
pids+=($!)
"$eb" run --scenario "$repo/scripts/scenarios/mixed_balanced_burst.toml" --driver engram --target "$url" --driver-opt recall=post -c "$BURST_CONC" --rate "$BURST_RATE" --duration "${BD}s" --warmup 5s -q --out "$work/burst.json" >"$work/burst.out" 2>&1 || true
wait "${pids[-1]}" 2>/dev/null || true
if [ -s "$work/burst.json" ]; then
	summary "$work/burst.json" >"$work/burst.sum"
	sed 's/^/  /' "$work/burst.sum"
else
	tail -20 "$work/burst.out"
fi
top burst

# Where does it saturate? Short runs at lower rates against the same data
# (no targets: the achieved rate and the tail tell).
echo
echo "== capacity: mixed_balanced at ${SWEEP} ops/s, 15 s each, concurrency 64"
printf '  %8s %10s %9s %9s %9s %8s  %s\n' asked achieved "p50 ms" "p99 ms" "p99.9 ms" errors queued
for rate in $SWEEP; do
	"$eb" run --scenario "$repo/scripts/scenarios/mixed_balanced_burst.toml" --driver engram --target "$url" --driver-opt recall=post -c 64 --rate "$rate" --duration 15s --warmup 2s -q --out "$work/sweep-$rate.json" >"$work/sweep-$rate.out" 2>&1 || true
	[ -s "$work/sweep-$rate.json" ] || { tail -3 "$work/sweep-$rate.out"; continue; }
	json "$work/sweep-$rate.json" "'  %8d %10.0f %9.2f %9.2f %9.2f %8d  %d' % ($rate, r['achieved_rate'], r['total']['latency_ns']['p50']/1e6, r['total']['latency_ns']['p99']/1e6, r['total']['latency_ns']['p999']/1e6, r['total']['errors'], r['harness']['queued'])"
done
