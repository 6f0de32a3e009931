#!/bin/sh
# tests/fuzz/seeds.sh: (re)make the seed inputs of tests/fuzz/corpus/ from a
# built tree. Seeds are named seed-*; regression inputs (crash-*, kept by
# hand after a fix) are never touched.
#   tests/fuzz/seeds.sh [BUILD_DIR]     (default _build; run from the top)
# pack, zip, path, frames, discover: tests/fuzz/seeds (tests/fuzz/seeds.c);
# record: a record of acsim's echo scenario, seed 1 (the smallest node
# incarnation's), with mode bytes 0 (as is) and 3 (CRCs and seq bytes
# recomputed), and the same in 4 KiB blocks, LZ and stored in turn
# (tests/fuzz/seeds reblock), with mode byte 0; pcap: `acpcap pcap` of that
# record, and the same as pcapng (tests/fuzz/seeds pcapng); tls: raw streams (empty, a garbage record, a
# plaintext asyncoro HELLO), that HELLO inside a real TLS session (at once,
# in pieces, after a stall), and a real client's wire bytes (replay_tls
# with FUZZ_TLS_SAVE), whole and cut inside its first record.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-_build}
case "$build" in /*) ;; *) build="$top/$build" ;; esac
corpus="$top/tests/fuzz/corpus"
make -C "$build" -s tests/fuzz/seeds tests/fuzz/replay_tls tools/acsim tools/acpcap >/dev/null
for t in pack zip path record pcap frames discover tls; do
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
"$build/tests/fuzz/seeds" reblock "$rec" "$tmp/reblocked"
{ printf '\000'; cat "$tmp/reblocked"; } >"$corpus/record/seed-echo-blocks"
"$build/tools/acpcap" pcap "$rec" -o "$corpus/pcap/seed-echo.pcap"
"$build/tests/fuzz/seeds" pcapng "$corpus/pcap/seed-echo.pcap" \
	"$corpus/pcap/seed-echo.pcapng"
t="$corpus/tls"
tail -c +2 "$corpus/frames/seed-raw-hello" >"$tmp/hello"
printf '\000' >"$t/seed-raw-empty"
printf '\000\026\003\001\000\005\001\000\000\001\000' >"$t/seed-raw-garbage-record"
{ printf '\000'; cat "$tmp/hello"; } >"$t/seed-raw-plaintext-hello"
{ printf '\001'; cat "$tmp/hello"; } >"$t/seed-in-tls-hello"
{ printf '\003'; cat "$tmp/hello"; } >"$t/seed-in-tls-hello-pieces"
{ printf '\005'; cat "$tmp/hello"; } >"$t/seed-in-tls-stall"
FUZZ_TLS_SAVE="$t/seed-real-stream" "$build/tests/fuzz/replay_tls" "$t/seed-in-tls-hello" \
	>/dev/null
head -c 200 "$t/seed-real-stream" >"$t/seed-real-cut"
du -sh "$corpus"/*
