/* engine/alloc.c: the counting, failing allocator of the test build of the
 * library (engine/alloc.h). Compiled to nothing unless AC_ALLOC_INJECT is
 * defined. The counters are plain globals: the library runs one thread per
 * scheduler, and the one test that uses them runs one world at a time.
 */
#include "config.h"

#include "engine/alloc.h"

#ifdef AC_ALLOC_INJECT

enum { ALLOC_SITES = 256 };

/* A call site reached, and how often an allocation there was failed. */
typedef struct alloc_site {
	const char *file;
	int line;
	long failed;
} alloc_site;

static long alloc_count;
static long alloc_live;
static long alloc_failed;
static long alloc_fail_at;
static alloc_site alloc_sites[ALLOC_SITES];
static int alloc_nsites;

/* The entry of a call site (NULL when the table is full). */
static alloc_site *alloc_site_of(const char *file, int line)
{
	int i;
	for (i = 0; i < alloc_nsites; i++)
		if (alloc_sites[i].line == line && !strcmp(alloc_sites[i].file, file))
			return &alloc_sites[i];
	if (alloc_nsites == ALLOC_SITES)
		return NULL;
	alloc_sites[alloc_nsites].file = file;
	alloc_sites[alloc_nsites].line = line;
	return &alloc_sites[alloc_nsites++];
}

/* 1 when this allocation is the armed one (and disarm it). */
static int alloc_fails(const char *file, int line)
{
	alloc_site *site = alloc_site_of(file, line);
	alloc_count++;
	if (alloc_fail_at == 0 || alloc_count != alloc_fail_at)
		return 0;
	alloc_fail_at = 0;
	alloc_failed++;
	if (site)
		site->failed++;
	return 1;
}

void *ac__malloc_at(size_t n, const char *file, int line)
{
	void *p;
	if (alloc_fails(file, line))
		return NULL;
	p = malloc(n);
	if (p)
		alloc_live++;
	return p;
}

void *ac__calloc_at(size_t count, size_t size, const char *file, int line)
{
	void *p;
	if (alloc_fails(file, line))
		return NULL;
	p = calloc(count, size);
	if (p)
		alloc_live++;
	return p;
}

void *ac__realloc_at(void *p, size_t n, const char *file, int line)
{
	void *q;
	if (alloc_fails(file, line))
		return NULL;
	q = realloc(p, n);
	if (q && !p)
		alloc_live++;
	return q;
}

char *ac__strdup_at(const char *s, const char *file, int line)
{
	char *p;
	if (alloc_fails(file, line))
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

int ac__alloc_site(int i, const char **file, int *line, long *failed)
{
	if (i < 0 || i >= alloc_nsites)
		return 0;
	*file = alloc_sites[i].file;
	*line = alloc_sites[i].line;
	*failed = alloc_sites[i].failed;
	return 1;
}

#else

/* ISO C wants a translation unit to declare something. */
typedef int ac__alloc_unused;

#endif
