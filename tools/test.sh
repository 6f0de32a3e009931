#!/bin/sh
# tools/test.sh: the README's second command — install what is missing,
# build, and run the whole test suite (make check).
#   tools/test.sh              plain build in _build
#   tools/test.sh --sanitizers ASan+UBSan build in _build-san
#   tools/test.sh --valgrind   every suite under valgrind (in _build)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-plain}

# The "passed failed" counts of one test's log (a Check suite's last
# "Checks:" line, or a script's "N passed, N failed" line).
counts() {
	if grep -q 'Checks: [0-9]*, Failures:' "$1"; then
		grep 'Checks: [0-9]*, Failures:' "$1" | tail -1 | awk '{
			for (i = 1; i <= NF; i++) {
				if ($i == "Checks:") c = $(i + 1)
				if ($i == "Failures:") f = $(i + 1)
				if ($i == "Errors:") e = $(i + 1)
			}
			printf "%d %d\n", c - f - e, f + e }' | tr -d ','
	else
		grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -1 |
			awk '{print $1, $3}'
	fi
}

# Print the totals of the tests' logs as "N passed, N failed". A test that
# automake saw fail (its .trs says FAIL or ERROR: a timeout, a crash, a
# sanitizer report after the last line) while its log counts no failure
# is one failure more.
summary() {
	for f in "$1"/tests/*.log "$1"/tests/fuzz/*.log; do
		[ -f "$f" ] || continue
		c=$(counts "$f")
		[ -n "$c" ] || c="0 0"
		trs=${f%.log}.trs
		if [ -f "$trs" ] && grep -Eq '^:test-result: (FAIL|ERROR)' "$trs" &&
			[ "${c#* }" = 0 ]; then
			c="${c% *} 1"
		fi
		echo "$c"
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
	# One suite per core at a time; each writes tests/<name>.vg.log.
	make -s print-check-programs | tr ' ' '\n' | grep . |
		xargs -P "$(nproc)" -I{} sh -c '
			if AC_TEST_TIME_SCALE=10 CK_FORK=no ./libtool --mode=execute \
				valgrind -q --error-exitcode=99 --leak-check=full \
				--errors-for-leak-kinds=definite ./{} >{}.vg.log 2>&1; then
				echo "valgrind: {}: $(tail -1 {}.vg.log)"
			else
				echo "valgrind: {}: FAILED"; tail -50 {}.vg.log; exit 1
			fi'
	;;
--summary)
	summary "$top/_build"
	;;
*)
	echo "usage: tools/test.sh [--sanitizers|--valgrind|--summary]" >&2
	exit 2
	;;
esac
