#!/bin/sh
# tools/tidy.sh: the project's lint (`make lint`).
#  1. The I/O rule (DESIGN.md): engine/ and net/ make no OS call — no
#     sockets, epoll, clocks, randomness, name lookups, file I/O, sleeping or
#     threads. Everything with an effect goes through io/io.h so that the
#     simulator sees it. engine/stack.c may map memory and report a stack
#     overflow (not I/O). Process settings (AC_LOG_LEVEL, AC_RECORD) are
#     read through io/ too.
#     engine/ and net/ allocate only through engine/alloc.h (ac__malloc...).
#  2. House limits in engine/ io/ sim/ net/ (and acpcap): lines of at most 100 columns
#     (tabs count 8) and function bodies of at most $fn_max lines (70, the
#     house style; TIDY_FN_MAX overrides it, e.g. to see what a stricter
#     limit would flag).
# Exits non-zero and prints file:line for every breach.
set -u
top=${1:-.}
cd "$top" || exit 2
status=0
fn_max=${TIDY_FN_MAX:-70}

banned='socket|socketpair|bind|listen|accept|accept4|connect|send|sendto|sendmsg|recv|recvfrom|recvmsg|epoll_[a-z_0-9]+|select|poll|ppoll|clock_gettime|gettimeofday|time|getrandom|getentropy|rand|random|srand|srandom|drand48|arc4random|getaddrinfo|gethostbyname|getifaddrs|open|openat|creat|fopen|read|write|pread|pwrite|close|unlink|unlinkat|rename|renameat|mkdir|stat|lstat|fstat|chmod|utimensat|fsync|sleep|usleep|nanosleep|pthread_create|fork|system|popen|getpid|getenv'
files=$(ls engine/*.c engine/*.h net/*.c net/*.h 2>/dev/null)
if [ -n "$files" ]; then
	# Calls of banned names, not preceded by an identifier character, '.',
	# '>' (struct members such as io->ops->poll) or a quote; comments skipped.
	hits=$(grep -nE "(^|[^A-Za-z0-9_.>\"'])($banned)[[:space:]]*\(" $files |
		grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)' |
		grep -vE '^engine/stack\.c:' || true)
	if [ -n "$hits" ]; then
		echo "tidy: OS calls in engine/ or net/ (route them through io/io.h):"
		echo "$hits"
		status=1
	fi
fi

# The allocation seam (engine/alloc.h): engine/ and net/ allocate and free
# only through ac__malloc, ac__calloc, ac__realloc, ac__strdup, ac__free.
files=$(ls engine/*.c engine/*.h net/*.c net/*.h 2>/dev/null | grep -v '^engine/alloc\.')
if [ -n "$files" ]; then
	hits=$(grep -nE "(^|[^A-Za-z0-9_.>\"'])(malloc|calloc|realloc|strdup|strndup|free)[[:space:]]*\(" \
		$files | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/?\*|//)' || true)
	# free passed as a destructor (ac__free_fn is the seam's).
	hits="$hits$(grep -nE "[=(,][[:space:]]*free[[:space:]]*[,;)}]" $files || true)"
	if [ -n "$hits" ]; then
		echo "tidy: bare allocation calls in engine/ or net/ (use engine/alloc.h):"
		echo "$hits"
		status=1
	fi
fi

for f in $(ls engine/*.[chS] io/*.[ch] sim/*.[ch] net/*.[ch] include/asyncoro/*.h \
		tools/acpcap*.[ch] tests/check_acpcap.c 2>/dev/null); do
	awk -v f="$f" -v max="$fn_max" '
	{ line = $0; gsub(/\t/, "        ", line)
	  if (length(line) > 100) { printf "tidy: %s:%d: line longer than 100 columns\n", f, NR; bad = 1 } }
	/^\{/ { start = NR }
	/^\}/ { if (start && NR - start > max) {
		printf "tidy: %s:%d: function body of %d lines (max %d)\n", f, start, NR - start, max; bad = 1 }
		start = 0 }
	END { exit bad }' "$f" || status=1
done

[ "$status" = 0 ] && echo "tidy: ok"
exit "$status"
