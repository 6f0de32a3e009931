#!/bin/sh
# tests/fuzz/run.sh: what `make fuzz` runs in a fuzz build (configure
# --enable-fuzz): each target's libFuzzer binary for SECONDS, starting from
# the committed corpus, new inputs going to fuzz-work/NAME/ (the committed
# corpus is read, never written).
#   tests/fuzz/run.sh TOP SECONDS NAME...
# Prints one line per target: execs/s and coverage (libFuzzer's final
# cov: and ft: counts) — the table of tests/fuzz/README.md. A crash stops
# with its input in fuzz-work/NAME-crash-* and exit status 1.
set -eu
top=$1
secs=$2
shift 2
mkdir -p fuzz-work
status=0
printf '%-10s %10s %8s %8s %8s\n' target runs exec/s cov ft
for t in "$@"; do
	mkdir -p "fuzz-work/$t"
	log="fuzz-work/$t.log"
	if ASAN_OPTIONS=detect_leaks=1 "./tests/fuzz/fuzz_$t" -max_total_time="$secs" \
		-timeout=25 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="fuzz-work/$t-" "fuzz-work/$t" "$top/tests/fuzz/corpus/$t" \
		>"$log" 2>&1; then
		res=ok
	else
		res=FAILED
		status=1
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	printf '%-10s %10s %8s %8s %8s %s\n' "$t" "${runs:-?}" "${eps:-?}" "${cov:-?}" \
		"${ft:-?}" "$res"
	if [ "$res" != ok ]; then
		grep -E 'ERROR|property broken|SUMMARY|Test unit written' "$log" | head -5
	fi
done
exit $status
