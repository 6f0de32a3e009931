#!/bin/sh
# tools/test.sh: the README's second command — install what is missing,
# build, and run the whole test suite (make check).
#   tools/test.sh              plain build in _build
#   tools/test.sh --sanitizers ASan+UBSan build in _build-san
#   tools/test.sh --valgrind   every suite under valgrind (in _build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-plain}

# Print the totals of the Check suites' logs as "N passed, N failed".
summary() {
	for f in "$1"/tests/*.log; do
		[ -f "$f" ] || continue
		if grep -q 'Checks: [0-9]*, Failures:' "$f"; then
			grep 'Checks: [0-9]*, Failures:' "$f" | tail -1 | awk '{
				for (i = 1; i <= NF; i++) {
					if ($i == "Checks:") c = $(i + 1)
					if ($i == "Failures:") f = $(i + 1)
					if ($i == "Errors:") e = $(i + 1)
				}
				printf "%d %d\n", c - f - e, f + e }' | tr -d ','
		else
			grep -E '^[0-9]+ passed, [0-9]+ failed' "$f" | tail -1 |
				awk '{print $1, $3}'
		fi
	done | awk '{p += $1; f += $2} END {printf "%d passed, %d failed\n", p, f}'
}
case "$mode" in
plain)
	"$top/tools/bootstrap.sh" _build
	cd "$top/_build"
	make -j"$(nproc)" check || { cat tests/*.log 2>/dev/null | tail -200; summary .; exit 1; }
	summary .
	;;
--sanitizers)
	"$top/tools/bootstrap.sh" _build-san --enable-sanitizers
	cd "$top/_build-san"
	ASAN_OPTIONS=detect_leaks=1 make -j"$(nproc)" check ||
		{ cat tests/*.log 2>/dev/null | tail -200; summary .; exit 1; }
	summary .
	;;
--valgrind)
	"$top/tools/bootstrap.sh" _build
	cd "$top/_build"
	make -j"$(nproc)" check TESTS= >/dev/null
	fail=0
	for t in $(make -s print-check-programs); do
		echo "valgrind: $t"
		CK_FORK=no ./libtool --mode=execute valgrind -q --error-exitcode=99 \
			--leak-check=full --errors-for-leak-kinds=definite \
			"./$t" >"$t.vg.log" 2>&1 || { tail -50 "$t.vg.log"; fail=1; }
		tail -1 "$t.vg.log"
	done
	exit $fail
	;;
--summary)
	summary "$top/_build"
	;;
*)
	echo "usage: tools/test.sh [--sanitizers|--valgrind|--summary]" >&2
	exit 2
	;;
esac
