#!/bin/sh
# tools/fuzz.sh: build the libFuzzer targets (tests/fuzz/) in _build-fuzz
# with clang (ASan+UBSan, libFuzzer's coverage) and run each for a while.
#   tools/fuzz.sh [SECONDS [NAME...]]    default 60 s, every target
# `make fuzz` in an ordinary build comes here. Installs clang and its
# runtime (Debian 12: clang, libclang-rt-14-dev) when missing, as root.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
missing=""
for p in clang libclang-rt-14-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "fuzz: run as root (or install:$missing)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
"$top/tools/bootstrap.sh" _build-fuzz --enable-fuzz CC=clang
cd "$top/_build-fuzz"
if [ $# -gt 0 ]; then
	make -j2 fuzz FUZZ_TIME="$secs" FUZZ_TARGETS="$*"
else
	make -j2 fuzz FUZZ_TIME="$secs"
fi
