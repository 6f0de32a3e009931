/* tests/fuzz/fuzz_path.c: the file path confinement of send_file and
 * del_file (net/files_path.c) as a property: nothing accepted resolves
 * outside dest_path. The input is a (dir, name) pair as it comes off the
 * wire — dir's bytes up to the first 0xff byte, name's after it (no 0xff:
 * dir is absent, NULL) — with NUL bytes allowed anywhere. For every pair
 * ac__file_path_check accepts, an independent resolver (written here, not
 * the checker's rules) joins "/dest" (dest_path), dir and name the way the
 * kernel walks a path ("." stays, ".." climbs, repeated '/' collapse) and
 * the result must lie strictly below /dest, name must be its last
 * component, and neither may hold a NUL or the receiver's temporary-file
 * marker. Symlinks are not modelled: the receiver refuses a symlink on
 * the way when it opens the file (tests/check_files_rx.c). The function is
 * internal: net/files_path.c is compiled in, as in tests/check_files.
 */
#include "config.h"

#include <string.h>

#include "net/files.h"
#include "net/wire.h"
#include "tests/fuzz/fuzz.h"

/* Resolve "/dest/" dir "/" name lexically: how deep below "/" the walk
 * ends, the lowest depth it reached on the way, and the last component. */
typedef struct walk {
	long depth;
	long low;
	const char *last;
	size_t last_len;
} walk;

static void path_walk(walk *w, const char *p, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && p[j] != '/')
			j++;
		if (j > i) {
			size_t c = j - i;
			if (c == 2 && p[i] == '.' && p[i + 1] == '.')
				w->depth = w->depth > 0 ? w->depth - 1 : 0;
			else if (!(c == 1 && p[i] == '.'))
				w->depth++;
			if (w->depth < w->low)
				w->low = w->depth;
			w->last = p + i;
			w->last_len = c;
		}
		i = j + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *sep = memchr(data, 0xff, size);
	const char *dir = sep ? (const char *)data : NULL;
	size_t dir_len = sep ? (size_t)(sep - (const char *)data) : 0;
	const char *name = sep ? sep + 1 : (const char *)data;
	size_t name_len = sep ? size - dir_len - 1 : size;
	walk w = {1, 1, NULL, 0}; /* "/dest": depth 1 */
	if (ac__file_path_check(dir, dir_len, name, name_len) != 0)
		return 0;
	/* Accepted: the properties. */
	fz_check(name_len >= 1 && name_len <= AC_WIRE_NAME_MAX);
	fz_check(dir_len <= AC_WIRE_PATH_MAX);
	fz_check(!memchr(name, '\0', name_len) && !memchr(name, '/', name_len));
	fz_check(!dir || !memchr(dir, '\0', dir_len));
	if (dir)
		path_walk(&w, dir, dir_len);
	/* The directory never climbs above dest_path, even for a moment
	 * (with a symlink-free tree the moment would not matter; it is
	 * refused all the same). */
	fz_check(w.low >= 1);
	path_walk(&w, name, name_len);
	fz_check(w.low >= 1);
	/* The file itself is strictly below /dest and is called name. */
	fz_check(w.depth >= 2);
	fz_check(w.last == name && w.last_len == name_len);
	fz_check(!(name_len == 1 && name[0] == '.'));
	fz_check(!(name_len == 2 && name[0] == '.' && name[1] == '.'));
	if (name_len >= strlen(AC__FILE_TMP_MARK)) {
		size_t i, m = strlen(AC__FILE_TMP_MARK);
		for (i = 0; i + m <= name_len; i++)
			fz_check(memcmp(name + i, AC__FILE_TMP_MARK, m) != 0);
	}
	return 0;
}
