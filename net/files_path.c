/* net/files_path.c: the pure path rules of send_file and del_file (see
 * net/files.h): a directory relative to dest_path that cannot climb out of
 * it, and a plain file name. Everything is checked on byte strings with
 * explicit lengths, because names come off the wire without a NUL and may
 * hide one inside. No I/O here: symlinks are the receiver's business.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "io/io_assert.h"
#include "net/files.h"
#include "net/wire.h"

/* 1 when s[0..len) contains the bytes of mark. */
static int files_path_has(const char *s, size_t len, const char *mark)
{
	size_t m = strlen(mark), i;
	AC_ASSERT(m > 0 && (s || !len));
	if (len < m)
		return 0;
	for (i = 0; i + m <= len; i++)
		if (memcmp(s + i, mark, m) == 0)
			return 1;
	return 0;
}

/* A component of a path or a file name: 1..AC_WIRE_NAME_MAX bytes, no
 * '/', not "." or "..". */
static int files_path_component_ok(const char *c, size_t len)
{
	if (len == 0 || len > AC_WIRE_NAME_MAX)
		return 0;
	if (memchr(c, '/', len) != NULL)
		return 0;
	if (len == 1 && c[0] == '.')
		return 0;
	if (len == 2 && c[0] == '.' && c[1] == '.')
		return 0;
	return 1;
}

#ifdef AC_DEBUG
/* 1 when dir[0..len) (a checked one, NUL-free) stays below where it is
 * resolved: not absolute, and no ".." component — found by a scan of its
 * own, not by the rules above (debug checks, O(len)). */
static int files_path_confined(const char *dir, size_t len)
{
	size_t i;
	if (len > 0 && dir[0] == '/')
		return 0;
	for (i = 0; i + 1 < len; i++) {
		int starts = i == 0 || dir[i - 1] == '/';
		int ends = i + 2 == len || dir[i + 2] == '/';
		if (dir[i] == '.' && dir[i + 1] == '.' && starts && ends)
			return 0;
	}
	return memchr(dir, '\0', len) == NULL;
}
#endif

static int files_path_dir_ok(const char *dir, size_t len)
{
	size_t start = 0;
	if (len == 0)
		return 1;
	if (len > AC_WIRE_PATH_MAX || dir[0] == '/')
		return 0;
	if (memchr(dir, '\0', len) != NULL)
		return 0;
	if (dir[len - 1] == '/')
		len--; /* one trailing '/' is allowed: "a/b/" is "a/b" */
	while (start <= len) {
		const char *slash = memchr(dir + start, '/', len - start);
		size_t end = slash ? (size_t)(slash - dir) : len;
		AC_ASSERT(end >= start && end <= len); /* a component inside dir */
		if (!files_path_component_ok(dir + start, end - start))
			return 0;
		start = end + 1;
	}
	AC_DASSERT(files_path_confined(dir, len));
	return 1;
}

int ac__file_path_check(const char *dir, size_t dir_len, const char *name,
                        size_t name_len)
{
	if (!name || (!dir && dir_len))
		return -EINVAL;
	if (memchr(name, '\0', name_len) != NULL)
		return -EINVAL;
	if (!files_path_component_ok(name, name_len))
		return -EINVAL;
	if (files_path_has(name, name_len, AC__FILE_TMP_MARK))
		return -EINVAL;
	if (!files_path_dir_ok(dir, dir_len))
		return -EINVAL;
	/* Accepted: a plain name that stays in its directory. */
	AC_ASSERT(name_len >= 1 && name_len <= AC_WIRE_NAME_MAX && dir_len <= AC_WIRE_PATH_MAX);
	AC_DASSERT(!memchr(name, '/', name_len) && files_path_confined(name, name_len));
	return 0;
}

int ac__file_path_ok(const char *dir, const char *name)
{
	if (!name)
		return -EINVAL;
	return ac__file_path_check(dir, dir ? strlen(dir) : 0, name,
	                           strlen(name));
}

const char *ac__file_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	AC_ASSERT(base >= path && *base != '/' && (base == path || base[-1] == '/'));
	AC_DASSERT(strchr(base, '/') == NULL); /* what follows the last '/' */
	return base;
}
