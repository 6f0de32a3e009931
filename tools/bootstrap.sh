#!/bin/sh
# tools/bootstrap.sh: install what the build needs (Debian 12, as root) and
# build asyncoro out of tree.
#   tools/bootstrap.sh [BUILD_DIR] [configure options...]
# Installs only the missing Debian packages, runs autoreconf when configure
# is missing or older than its inputs, configures BUILD_DIR (default _build)
# once with warnings as errors, then runs make. Idempotent.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-_build}
[ $# -gt 0 ] && shift
case "$build" in /*) ;; *) build="$top/$build" ;; esac

pkgs="gcc make autoconf automake libtool pkg-config check libssl-dev zlib1g-dev
libpcap-dev libmsgpack-dev valgrind iproute2 tshark tcpdump gdb"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "bootstrap: installing:$missing"
	if [ "$(id -u)" != 0 ]; then
		echo "bootstrap: run as root (or install:$missing)" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

cd "$top"
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
	echo "bootstrap: autoreconf"
	autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
fi
mkdir -p "$build"
cd "$build"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
	echo "bootstrap: configure $*"
	"$top/configure" -q --enable-werror "$@"
fi
make -j"$(nproc)" >/dev/null
echo "bootstrap: built in $build"
