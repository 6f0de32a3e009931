/* engine/alloc.c: the counting, failing allocator of the test build of the
 * library (engine/alloc.h). Compiled to nothing unless AC_ALLOC_INJECT is
 * defined. The counters are plain globals: the library runs one thread per
 * scheduler, and the one test that uses them runs one world at a time.
 */
#include "config.h"

#include "engine/alloc.h"

#ifdef AC_ALLOC_INJECT

static long alloc_count;
static long alloc_live;
static long alloc_failed;
static long alloc_fail_at;

/* 1 when this allocation is the armed one (and disarm it). */
static int alloc_fails(void)
{
	alloc_count++;
	if (alloc_fail_at == 0 || alloc_count != alloc_fail_at)
		return 0;
	alloc_fail_at = 0;
	alloc_failed++;
	return 1;
}

void *ac__malloc(size_t n)
{
	void *p;
	if (alloc_fails())
		return NULL;
	p = malloc(n);
	if (p)
		alloc_live++;
	return p;
}

void *ac__calloc(size_t count, size_t size)
{
	void *p;
	if (alloc_fails())
		return NULL;
	p = calloc(count, size);
	if (p)
		alloc_live++;
	return p;
}

void *ac__realloc(void *p, size_t n)
{
	void *q;
	if (alloc_fails())
		return NULL;
	q = realloc(p, n);
	if (q && !p)
		alloc_live++;
	return q;
}

char *ac__strdup(const char *s)
{
	char *p;
	if (alloc_fails())
		return NULL;
	p = strdup(s);
	if (p)
		alloc_live++;
	return p;
}

void ac__free(void *p)
{
	if (p)
		alloc_live--;
	free(p);
}

void ac__alloc_reset(void)
{
	alloc_count = 0;
	alloc_live = 0;
	alloc_failed = 0;
	alloc_fail_at = 0;
}

void ac__alloc_fail_at(long n)
{
	alloc_fail_at = n > 0 ? n : 0;
}

long ac__alloc_count(void)
{
	return alloc_count;
}

long ac__alloc_live(void)
{
	return alloc_live;
}

long ac__alloc_failed(void)
{
	return alloc_failed;
}

#else

/* ISO C wants a translation unit to declare something. */
typedef int ac__alloc_unused;

#endif
