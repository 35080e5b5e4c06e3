#!/usr/bin/env bash
# Honest latency: a target that freezes for FREEZE every EVERY, driven at a
# constant RATE for DURATION with CONNS workers. A request falling due
# during a freeze waits for its end, so the true latency distribution is
# known (drivers/http.GroundTruth): with 500 ms every 5 s, p95 250 ms, p99
# 450 ms, p99.9 495 ms, max 500 ms. Prints engram-bench's figures beside the
# truth and beside fortio's, vegeta's and wrk's for the same run.
#
#   scripts/bench-honest-latency.sh     # RATE=1000 DURATION=30 CONNS=32 FREEZE_MS=500 EVERY_S=5
set -euo pipefail
source "$(dirname "$0")/bench-lib.sh"
RATE=${RATE:-1000}
D=${DURATION:-30}
C=${CONNS:-32}
F=${FREEZE_MS:-500}
E=${EVERY_S:-5}
build
machine
echo "target freezes ${F} ms every ${E} s; ${RATE} requests/s for ${D} s, ${C} connections"

truth() { awk -v f="$F" -v e="$E" -v q="$1" 'BEGIN{s=f/(e*1000); v=(q<=1-s)?0:f*(1-(1-q)/s); printf "%.1f", v}'; }
printf '\n%-26s %9s %9s %9s %9s %9s %9s\n' "" p50 p95 p99 p99.9 max "req/s"
printf '%-26s %9s %9s %9s %9s %9s %9s\n' "ground truth (ms)" "$(truth 0.5)" "$(truth 0.95)" "$(truth 0.99)" "$(truth 0.999)" "$F" "$RATE"

# engram-bench: open loop, latency from each request's intended start.
start_stub eb --freeze "${F}ms" --freeze-every "${E}s"
"$eb" http --target "$stub_url" --rate "$RATE" -c "$C" --duration "${D}s" --max-lag 1s -q --out "$work/eb.json" >"$work/eb.out" 2>&1 || true
stop_stub eb >/dev/null
"$eb" report --format quantiles "$work/eb.json" >"$work/eb.q"
read -r p50 _ p95 p99 p999 _ pmax < <(awk '$1=="http" {print $3, $4, $5, $6, $7, $8, $9}' "$work/eb.q")
ebrate=$(json "$work/eb.json" "round(r['achieved_rate'])")
printf '%-26s %9.1f %9.1f %9.1f %9.1f %9.1f %9s\n' "engram-bench (ms)" "$p50" "$p95" "$p99" "$p999" "$pmax" "$ebrate"
printf '%-26s %9s %9s %9s %9s %9s\n' "  ÷ truth" "-" \
	"$(awk -v a="$p95" -v b="$(truth 0.95)" 'BEGIN{printf "%.3f", a/b}')" \
	"$(awk -v a="$p99" -v b="$(truth 0.99)" 'BEGIN{printf "%.3f", a/b}')" \
	"$(awk -v a="$p999" -v b="$(truth 0.999)" 'BEGIN{printf "%.3f", a/b}')" \
	"$(awk -v a="$pmax" -v b="$F" 'BEGIN{printf "%.3f", a/b}')"

if have fortio; then
	start_stub fortio --freeze "${F}ms" --freeze-every "${E}s"
	fortio load -qps "$RATE" -c "$C" -t "${D}s" -p "50,95,99,99.9" "$stub_url" >"$work/fortio.out" 2>&1 || true
	stop_stub fortio >/dev/null
	# fortio's "Aggregated Function Time" section is the request latency
	# (measured from when the request was actually sent).
	fq() { awk -v p="$1" '/^Aggregated Function Time/ {on=1} /^Aggregated Sleep/ {on=0} on && $1=="#" && $2=="target" && $3==p"%" {printf "%.1f", $4*1000; exit}' "$work/fortio.out"; }
	fmax=$(awk '/^Aggregated Function Time/ {for (i=1; i<NF; i++) if ($i=="max") {printf "%.1f", $(i+1)*1000; exit}}' "$work/fortio.out")
	frate=$(grep -o 'qps=[0-9.]*' "$work/fortio.out" | tail -1 | awk -F= '{printf "%.0f", $2}')
	printf '%-26s %9s %9s %9s %9s %9s %9s\n' "fortio (ms)" "$(fq 50)" "$(fq 95)" "$(fq 99)" "$(fq 99.9)" "$fmax" "$frate"
fi
if have vegeta; then
	start_stub vegeta --freeze "${F}ms" --freeze-every "${E}s"
	echo "GET $stub_url" | vegeta attack -rate="$RATE" -workers="$C" -max-workers="$C" -duration="${D}s" >"$work/vegeta.bin" 2>/dev/null || true
	stop_stub vegeta >/dev/null
	vegeta report -type=json <"$work/vegeta.bin" >"$work/vegeta.json"
	vegeta report -type='hist[0,1ms,5ms,10ms,50ms,100ms,250ms,450ms,495ms,500ms]' <"$work/vegeta.bin" >"$work/vegeta.hist" || true
	printf '%-26s %9.1f %9.1f %9.1f %9s %9.1f %9.0f\n' "vegeta (ms)" "$(json "$work/vegeta.json" "r['latencies']['50th']/1e6")" \
		"$(json "$work/vegeta.json" "r['latencies']['95th']/1e6")" "$(json "$work/vegeta.json" "r['latencies']['99th']/1e6")" "-" \
		"$(json "$work/vegeta.json" "r['latencies']['max']/1e6")" "$(json "$work/vegeta.json" "r['throughput']")"
fi
if have wrk; then
	# wrk is closed-loop: it cannot be asked for a rate; it sends as fast as
	# C connections are answered, so it waits out each freeze with them.
	start_stub wrk --freeze "${F}ms" --freeze-every "${E}s"
	wrk -t2 -c"$C" -d"${D}s" --latency "$stub_url" >"$work/wrk.out" 2>&1 || true
	stop_stub wrk >/dev/null
	wq() { awk -v p="$1" '$1==p"%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.1f", v}' "$work/wrk.out"; }
	wmax=$(awk '$1=="Latency" && NF>=4 {v=$4; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.1f", v; exit}' "$work/wrk.out")
	wrate=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.out")
	printf '%-26s %9s %9s %9s %9s %9s %9s\n' "wrk, closed loop (ms)" "$(wq 50)" "-" "$(wq 99)" "-" "$wmax" "$wrate"
fi
echo
echo "engram-bench's full quantiles (from its HDR histogram):"
cat "$work/eb.q"
