/* net/files.h: what both ends of send_file and del_file share — the path
 * rules, checked by the sender (an early -EINVAL without a round trip) and
 * the receiver (the rule that keeps a peer inside dest_path), and the
 * permission bits a file may carry. Pure string checks with no I/O, so the
 * tests link net/files_path.c on its own; the receiver adds the checks that
 * need the file system (no symlink under dest_path) in net/files_recv.c.
 *
 * The rules, for a directory dir (relative to dest_path) and a file name:
 *  - dir is NULL or "" (dest_path itself), or components separated by
 *    single '/': not absolute, no empty component ("a//b") except that
 *    one trailing '/' is allowed ("a/b/"), no "." or "..", each component
 *    at most AC_WIRE_NAME_MAX bytes, the whole at most AC_WIRE_PATH_MAX;
 *  - name is a plain name of 1..AC_WIRE_NAME_MAX bytes: no '/', not "."
 *    or "..", and not containing ".ac-tmp-" (reserved for the receiver's
 *    temporary files);
 *  - neither contains a NUL byte (checked where lengths are given).
 */
#ifndef AC_NET_FILES_H
#define AC_NET_FILES_H

#include <stddef.h>

/* Marker in the names of the receiver's temporary files. */
#define AC__FILE_TMP_MARK ".ac-tmp-"
/* Permission bits a file travels with: no setuid, setgid or sticky (a peer
 * must not plant set-id programs). */
#define AC__FILE_MODE_MASK 0777u

/* Check dir (dir_len bytes; dir may be NULL when dir_len is 0) and name
 * (name_len bytes) as they come off the wire, not NUL-terminated. Returns 0
 * when they follow the rules above, else -EINVAL. Callable anywhere. */
int ac__file_path_check(const char *dir, size_t dir_len, const char *name,
                        size_t name_len);
/* The same for C strings (dir may be NULL, name must not be). */
int ac__file_path_ok(const char *dir, const char *name);
/* The file name part of a local path: what follows its last '/'. */
const char *ac__file_basename(const char *path);

#endif /* AC_NET_FILES_H */
