#!/bin/sh
# tests/fuzz/seeds.sh: (re)make the seed inputs of tests/fuzz/corpus/ from a
# built tree. Seeds are named seed-*; regression inputs (crash-*, kept by
# hand after a fix) are never touched.
#   tests/fuzz/seeds.sh [BUILD_DIR]     (default _build; run from the top)
# pack, zip, path, frames, discover: tests/fuzz/seeds (tests/fuzz/seeds.c);
# record: a record of acsim's echo scenario, seed 1 (the smallest node
# incarnation's), with mode bytes 0 (as is) and 3 (CRCs and seq bytes
# recomputed); pcap: `acpcap pcap` of that record, and the same as pcapng
# (tests/fuzz/seeds pcapng).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-_build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
corpus="$top/tests/fuzz/corpus"
make -C "$build" -s tests/fuzz/seeds tools/acsim tools/acpcap >/dev/null
for t in pack zip path record pcap frames discover; do
	mkdir -p "$corpus/$t"
	rm -f "$corpus/$t"/seed-*
done
"$build/tests/fuzz/seeds" "$corpus"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/tools/acsim" --scenario echo --seed 1 --record "$tmp" >/dev/null
rec=$(ls -S "$tmp"/*/*.acrec | tail -1)
{ printf '\000'; cat "$rec"; } >"$corpus/record/seed-echo"
{ printf '\003'; cat "$rec"; } >"$corpus/record/seed-echo-fixed"
"$build/tools/acpcap" pcap "$rec" -o "$corpus/pcap/seed-echo.pcap"
"$build/tests/fuzz/seeds" pcapng "$corpus/pcap/seed-echo.pcap" \
	"$corpus/pcap/seed-echo.pcapng"
du -sh "$corpus"/*
