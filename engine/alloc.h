/* engine/alloc.h: the one allocation seam of engine/ and net/.
 *
 * Every heap allocation of the engine and the protocol goes through
 * ac__malloc, ac__calloc, ac__realloc and ac__strdup, and the memory they
 * return is released with ac__free (ac__free_fn where a destructor pointer
 * is passed) (make lint rejects a bare malloc, calloc,
 * realloc, strdup or free call in engine/ or net/). In the library that is
 * installed these are the C library's functions themselves (macros: no cost,
 * no extra symbol). In the test build of the library (libasyncoro_inject.la,
 * compiled with -DAC_ALLOC_INJECT, linked only into tests/check_alloc) they
 * are the functions of engine/alloc.c, which count the allocations made and
 * the blocks live, and can make the Nth allocation fail (return NULL, as
 * malloc does when memory runs out) to test every failure path.
 *
 * Not covered: what zlib and OpenSSL allocate inside their own calls
 * (zlib's inflate state, OpenSSL's MAC contexts), and the mapped coroutine
 * stacks (engine/stack.c, through the io layer's mmap).
 */
#ifndef AC_ENGINE_ALLOC_H
#define AC_ENGINE_ALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#ifdef AC_ALLOC_INJECT

/* The counting, failing versions (engine/alloc.c): the same contracts as
 * malloc, calloc, realloc, strdup and free, except that the allocation the
 * test armed with ac__alloc_fail_at returns NULL (a failing realloc leaves
 * its block untouched, as realloc does). Each allocation names its call
 * site (file, line), so that the test can say which sites it reached. */
void *ac__malloc_at(size_t n, const char *file, int line);
void *ac__calloc_at(size_t count, size_t size, const char *file, int line);
void *ac__realloc_at(void *p, size_t n, const char *file, int line);
char *ac__strdup_at(const char *s, const char *file, int line);
void ac__free(void *p);
#define ac__malloc(n) ac__malloc_at((n), __FILE__, __LINE__)
#define ac__calloc(count, size) ac__calloc_at((count), (size), __FILE__, __LINE__)
#define ac__realloc(p, n) ac__realloc_at((p), (n), __FILE__, __LINE__)
#define ac__strdup(s) ac__strdup_at((s), __FILE__, __LINE__)
#define ac__free_fn ac__free

/* Test controls (only in the test build). Allocations are numbered from 1
 * since the last ac__alloc_reset, which also zeroes the counters (not the
 * sites). ac__alloc_fail_at(n): allocation number n (n >= 1) returns NULL,
 * once; 0 disarms. ac__alloc_count: how many allocations were asked for
 * (failed ones included). ac__alloc_live: blocks allocated through the seam
 * and not yet freed through it. ac__alloc_failed: how many failed by
 * injection. ac__alloc_site(i, &file, &line, &failed): the i-th call site
 * reached since the program started (0 when i is past the last), with how
 * many times an allocation there was made to fail. */
void ac__alloc_reset(void);
void ac__alloc_fail_at(long n);
long ac__alloc_count(void);
long ac__alloc_live(void);
long ac__alloc_failed(void);
int ac__alloc_site(int i, const char **file, int *line, long *failed);

#else

#define ac__malloc(n) malloc(n)
#define ac__calloc(count, size) calloc((count), (size))
#define ac__realloc(p, n) realloc((p), (n))
#define ac__strdup(s) strdup(s)
#define ac__free(p) free(p)
/* ac__free as a function pointer (a destructor argument). */
#define ac__free_fn free

#endif

#endif
