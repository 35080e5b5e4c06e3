#!/usr/bin/env bash
# Harness ceiling: wrk, hey, vegeta, fortio and engram-bench's generic HTTP
# driver, each at its maximum rate against the same trivial loopback target
# (engram-bench stub-server, a fresh one per tool so it counts each tool's
# requests), then vegeta, fortio and engram-bench open-loop at fixed rates
# (moderate to high), each with its client CPU per request.
# Prints requests/s, client CPU per request (user+system of the tool's
# process, GNU time) and ratios to the best peer.
#
#   scripts/install-peers.sh            # once
#   scripts/bench-peer-ceiling.sh       # DURATION=10 CONNS=64 RATES="2000 10000 20000 30000"
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
D=${DURATION:-10}
C=${CONNS:-64}
RATES=${RATES:-2000 10000 20000 30000}
OPEN_CONNS=${OPEN_CONNS:-256}
build
machine
echo "ceiling: $D s per tool, $C connections, target: engram-bench stub-server (net/http, 3-byte answer)"
printf '\n%-14s %12s %10s %12s\n' tool "req/s" "cpu s" "µs cpu/req"

declare -A rps cpureq
run_tool() { # NAME RPS-EXTRACTOR CMD...
	local name=$1 extract=$2
	shift 2
	start_stub "$name"
	local url=$stub_url
	timed "$name" "${@//URL/$url}"
	local n
	n=$(stop_stub "$name")
	local r
	r=$(eval "$extract" <"$work/$name.out" || true)
	local cpu
	cpu=$(cat "$work/$name.cpu")
	if [ -z "$r" ] || [ -z "$n" ] || [ "$n" = 0 ]; then
		printf '%-14s %12s   (failed: see below)\n' "$name" "-"
		tail -5 "$work/$name.out"
		tail -3 "$work/$name.stub"
		return
	fi
	rps[$name]=$r
	cpureq[$name]=$(awk -v c="$cpu" -v n="$n" 'BEGIN{printf "%.2f", 1e6*c/n}')
	printf '%-14s %12.0f %10.2f %12s\n' "$name" "$r" "$cpu" "${cpureq[$name]}"
}

if have wrk; then
	run_tool wrk "awk '/Requests\/sec/ {print \$2}'" wrk -t2 -c"$C" -d"${D}s" URL
else echo "wrk: not installed (scripts/install-peers.sh)"; fi
if have hey; then
	run_tool hey "awk '/Requests\/sec/ {print \$2}'" hey -z "${D}s" -c "$C" URL
else echo "hey: not installed"; fi
if have vegeta; then
	run_tool vegeta "awk -F'[ ,]+' '/^Requests/ {print \$(NF)}'" bash -c "echo 'GET URL' | vegeta attack -rate=0 -max-workers=$C -workers=$C -duration=${D}s | vegeta report"
else echo "vegeta: not installed"; fi
if have fortio; then
	run_tool fortio "grep -o '[0-9.]* qps' | tail -1 | awk '{print \$1}'" fortio load -qps 0 -c "$C" -t "${D}s" URL
else echo "fortio: not installed (v1.66.0 installs; newer releases need a module the proxy refuses)"; fi
# engram-bench at its maximum rate: asked for far more than the target can
# take, it sends as fast as its C workers are answered (every op is marked
# "queued"; latency counts the wait). Ops due in the window keep being sent
# for up to 10 s of drain after it, so its window is longer than the peers'.
run_tool engram-bench "grep -o 'achieved [0-9.]*' | awk '{print \$2}'" "$eb" http --target URL --rate 1000000 -c "$C" --duration "${D}s" --max-lag 1s -q

best=""
for t in wrk hey vegeta fortio; do
	[ -n "${rps[$t]:-}" ] || continue
	if [ -z "$best" ] || awk -v a="${rps[$t]}" -v b="${rps[$best]}" 'BEGIN{exit !(a>b)}'; then best=$t; fi
done
if [ -n "$best" ] && [ -n "${rps[engram-bench]:-}" ]; then
	echo
	awk -v e="${rps[engram-bench]}" -v b="${rps[$best]}" -v n="$best" 'BEGIN{printf "engram-bench / best peer (%s) throughput: %.2fx\n", n, e/b}'
	[ -n "${cpureq[wrk]:-}" ] && awk -v e="${cpureq[engram-bench]}" -v w="${cpureq[wrk]}" 'BEGIN{printf "engram-bench / wrk CPU per request: %.2fx (%.2f vs %.2f µs)\n", e/w, e, w}'
fi

echo
echo "open loop at fixed rates ($D s; vegeta with its default workers, fortio with -c $C, engram-bench with -c $OPEN_CONNS):"
echo "(p99 as each tool reports it: vegeta and fortio time a request from when it was actually sent, engram-bench from when it was due)"
printf '%-14s %8s %12s %10s %10s %12s  %s\n' tool "asked" "achieved" "p99 ms" "max ms" "µs cpu/req" "verdict"
cpu_per() { # NAME ANSWERED
	[ -n "$2" ] && [ "$2" != 0 ] && awk -v c="$(cat "$work/$1.cpu")" -v n="$2" 'BEGIN{printf "%.1f", 1e6*c/n}' || echo -
}
for rate in $RATES; do
	if have vegeta; then
		start_stub "vegeta-$rate"
		timed "vegeta-$rate" bash -c "echo 'GET $stub_url' | vegeta attack -rate=$rate -duration=${D}s | vegeta report -type=json"
		n=$(stop_stub "vegeta-$rate")
		if json "$work/vegeta-$rate.out" 1 >/dev/null 2>&1; then
			printf '%-14s %8s %12.0f %10.1f %10.1f %12s  %s\n' vegeta "$rate" "$(json "$work/vegeta-$rate.out" "r['throughput']")" \
				"$(json "$work/vegeta-$rate.out" "r['latencies']['99th']/1e6")" "$(json "$work/vegeta-$rate.out" "r['latencies']['max']/1e6")" \
				"$(cpu_per "vegeta-$rate" "$n")" "(vegeta does not judge itself)"
		fi
	fi
	if have fortio; then
		start_stub "fortio-$rate"
		timed "fortio-$rate" fortio load -qps "$rate" -c "$C" -t "${D}s" -json "$work/fortio-$rate.json" "$stub_url"
		n=$(stop_stub "fortio-$rate")
		if json "$work/fortio-$rate.json" 1 >/dev/null 2>&1; then
			printf '%-14s %8s %12.0f %10.1f %10.1f %12s  %s\n' fortio "$rate" "$(json "$work/fortio-$rate.json" "r['ActualQPS']")" \
				"$(json "$work/fortio-$rate.json" "[p['Value'] for p in r['DurationHistogram']['Percentiles'] if p['Percentile']==99][0]*1e3")" \
				"$(json "$work/fortio-$rate.json" "r['DurationHistogram']['Max']*1e3")" "$(cpu_per "fortio-$rate" "$n")" "(fortio does not judge itself)"
		fi
	fi
	start_stub "eb-$rate"
	timed "eb-$rate" "$eb" http --target "$stub_url" --rate "$rate" -c "$OPEN_CONNS" --duration "${D}s" -q --out "$work/eb-$rate.json"
	n=$(stop_stub "eb-$rate")
	if [ -s "$work/eb-$rate.json" ]; then
		printf '%-14s %8s %12.0f %10.1f %10.1f %12s  %s\n' engram-bench "$rate" "$(json "$work/eb-$rate.json" "r['achieved_rate']")" \
			"$(json "$work/eb-$rate.json" "r['total']['latency_ns']['p99']/1e6")" "$(json "$work/eb-$rate.json" "r['total']['latency_ns']['max']/1e6")" \
			"$(cpu_per "eb-$rate" "$n")" \
			"$(json "$work/eb-$rate.json" "r['verdict'] + '; spin %s %.0f%%, lag p50 %.1f µs' % (r['harness'].get('spin','?'), r['harness'].get('spin_percent',0), r['harness']['lag_p50_ns']/1e3) + ('; harness-limited: '+r['harness']['reason'] if r['harness'].get('limited') else '') + ('; ' + '; '.join(r.get('warnings') or []) if r.get('warnings') else '')")"
	else
		tail -5 "$work/eb-$rate.out"
	fi
done
