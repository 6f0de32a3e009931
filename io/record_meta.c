/* io/record_meta.c: what a record's header says about the run — the
 * program's arguments (/proc/self/cmdline), the GNU build ids of the
 * program and of libasyncoro, the versions of the libraries whose bytes a
 * record depends on, the architecture, the page size and the two clocks —
 * and the names of the records of a process (PATH, PATH.1, PATH.2 ...;
 * PATH.PID, PATH.PID.1 ... in a forked child or when PATH is busy).
 *
 * Used by the recorder (io/io_record.c) and the replayer (io/io_replay.c).
 */
#include "config.h"

#include <zlib.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <msgpack.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "io/record.h"

/* Most bytes of /proc/self/cmdline kept. */
#define META_CMDLINE_MAX (64 * 1024)

/* ---- arguments ------------------------------------------------------------------- */

/* argv from /proc/self/cmdline into h (one allocation: pointers, then the
 * strings). Leaves argc 0 when it cannot be read. */
static void meta_argv(ac_rec_header *h)
{
	char *buf = malloc(META_CMDLINE_MAX), **argv;
	ssize_t n, got = 0;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC), argc = 0, i;

	if (buf == NULL || fd < 0)
		goto out;
	while (got < META_CMDLINE_MAX - 1 &&
	       (n = read(fd, buf + got, (size_t)(META_CMDLINE_MAX - 1 - got))) > 0)
		got += n;
	if (got == 0 || buf[got - 1] != '\0')
		buf[got++] = '\0';
	for (i = 0; i < got; i++)
		argc += buf[i] == '\0';
	argv = malloc((size_t)(argc + 1) * sizeof(char *) + (size_t)got);
	if (argv == NULL)
		goto out;
	memcpy(argv + argc + 1, buf, (size_t)got);
	h->argv = argv;
	{
		char *s = (char *)(argv + argc + 1);
		for (i = 0; i < argc; i++) {
			argv[i] = s;
			s += strlen(s) + 1;
		}
	}
	argv[argc] = NULL;
	h->argc = argc;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
}

/* ---- build ids ------------------------------------------------------------------- */

/* The hex GNU build id in the notes of one loaded object, or "". */
static void meta_build_id(const struct dl_phdr_info *info, char *out, size_t len)
{
	int i;

	out[0] = '\0';
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		size_t off = 0;
		if (ph->p_type != PT_NOTE)
			continue;
		while (off + sizeof(ElfW(Nhdr)) <= ph->p_memsz) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(p + off);
			size_t name = (nh->n_namesz + 3) & ~(size_t)3;
			size_t desc = (nh->n_descsz + 3) & ~(size_t)3;
			const uint8_t *d = p + off + sizeof(*nh) + name;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 &&
			    memcmp(p + off + sizeof(*nh), "GNU", 4) == 0) {
				size_t k, o = 0;
				for (k = 0; k < nh->n_descsz && o + 3 <= len; k++, o += 2)
					snprintf(out + o, len - o, "%02x", d[k]);
				return;
			}
			off += sizeof(*nh) + name + desc;
		}
	}
}

typedef struct meta_ids {
	ac_rec_header *h;
	int seen;
} meta_ids;

/* The object that holds this function is libasyncoro (or the program, when
 * the library is linked in statically). */
static int meta_object(struct dl_phdr_info *info, size_t size, void *arg)
{
	meta_ids *m = arg;
	uintptr_t self = (uintptr_t)&meta_object;
	int i;

	(void)size;
	if (m->seen++ == 0)
		meta_build_id(info, m->h->exe_build_id, sizeof(m->h->exe_build_id));
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && self >= lo && self < lo + ph->p_memsz)
			meta_build_id(info, m->h->lib_build_id, sizeof(m->h->lib_build_id));
	}
	return 0;
}

/* ---- the header -------------------------------------------------------------------- */

/* Copy src into dst (size bytes), truncated, NUL-terminated. */
static void meta_copy(char *dst, size_t size, const char *src)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= size)
		n = size - 1;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

void ac__rec_header_identity(ac_rec_header *h)
{
	meta_ids m = {h, 0};
	struct utsname u;
	long ps = sysconf(_SC_PAGESIZE);

	h->io_version = AC_IO_VERSION;
	dl_iterate_phdr(meta_object, &m);
	meta_copy(h->lib_version, sizeof(h->lib_version), PACKAGE_VERSION);
	meta_copy(h->zlib_ver, sizeof(h->zlib_ver), zlibVersion());
	meta_copy(h->openssl_version, sizeof(h->openssl_version),
	          OpenSSL_version(OPENSSL_VERSION));
	meta_copy(h->msgpack_version, sizeof(h->msgpack_version), msgpack_version());
	if (uname(&u) == 0)
		meta_copy(h->arch, sizeof(h->arch), u.machine);
	h->page_size = ps > 0 ? (uint32_t)ps : 0;
}

void ac__rec_header_fill(ac_rec_header *h, ac_io *inner, const char *name)
{
	const struct ac_io_ops *o = inner->ops;

	memset(h, 0, sizeof(*h));
	h->version = AC_REC_VERSION;
	ac__rec_header_identity(h);
	meta_copy(h->backend, sizeof(h->backend), o->name);
	meta_argv(h);
	h->wall_ns = o->wall_ns(inner);
	h->mono_ns = o->now_ns(inner);
	meta_copy(h->name, sizeof(h->name), name);
	if (o->version >= 2 && o->buggify != NULL)
		h->flags |= AC_REC_HF_BUGGIFY;
}

/* Append "name: record R, this program T" to out (at o of len) when the
 * two strings differ; the new o. */
static size_t meta_diff1(char *out, size_t len, size_t o, const char *name,
                         const char *rec, const char *cur)
{
	int n;

	if (strcmp(rec, cur) == 0 || o >= len)
		return o;
	n = snprintf(out + o, len - o, "%s%s: record '%s', this program '%s'", o ? "; " : "",
	             name, rec, cur);
	return n < 0 ? o : o + (size_t)n >= len ? len - 1 : o + (size_t)n;
}

int ac__rec_header_differs(const ac_rec_header *rec, char *out, size_t len)
{
	ac_rec_header cur;
	char a[24], b[24];
	size_t o = 0;

	memset(&cur, 0, sizeof(cur));
	ac__rec_header_identity(&cur);
	out[0] = '\0';
#define D(f) o = meta_diff1(out, len, o, #f, rec->f, cur.f)
	D(exe_build_id);
	D(lib_build_id);
	D(lib_version);
	D(zlib_ver);
	D(openssl_version);
	D(msgpack_version);
	D(arch);
#undef D
	snprintf(a, sizeof(a), "%u", rec->page_size);
	snprintf(b, sizeof(b), "%u", cur.page_size);
	o = meta_diff1(out, len, o, "page_size", a, b);
	snprintf(a, sizeof(a), "%u", rec->io_version);
	snprintf(b, sizeof(b), "%u", cur.io_version);
	o = meta_diff1(out, len, o, "io_version", a, b);
	return o > 0;
}

/* ---- the secret's fingerprint ------------------------------------------------------ */

void ac__rec_secret_fingerprint(const void *secret, size_t len, char out[AC_REC_FPR_HEX + 1])
{
	static const char label[] = "asyncoro record: secret fingerprint v1";
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mlen = 0, i;

	if (HMAC(EVP_sha256(), label, (int)(sizeof(label) - 1), secret, len, mac, &mlen) == NULL)
		mlen = 0;
	for (i = 0; i < AC_REC_FPR_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", i < mlen ? mac[i] : 0);
	out[AC_REC_FPR_HEX] = '\0';
}

void ac__rec_header_release(ac_rec_header *h)
{
	free(h->argv);
	h->argv = NULL;
	h->argc = 0;
}

/* ---- names of records ------------------------------------------------------------ */

/* How many records (or replays) of one path this process has opened. */
typedef struct meta_path {
	struct meta_path *next;
	int replay;
	/* The process that counted: another one is a forked child. */
	pid_t pid;
	/* Names are base.PID... (a forked child, or base was busy). */
	int pidnames;
	unsigned count;
	char path[];
} meta_path;

static pthread_mutex_t meta_lock = PTHREAD_MUTEX_INITIALIZER;
static meta_path *meta_paths;

/* The entry of (base, replay), made when missing (NULL: no memory), reset
 * to PID names in a forked child. Under meta_lock. */
static meta_path *meta_path_get(const char *base, int replay, pid_t pid)
{
	meta_path *p;

	for (p = meta_paths; p != NULL; p = p->next)
		if (p->replay == replay && strcmp(p->path, base) == 0)
			break;
	if (p == NULL && (p = malloc(sizeof(*p) + strlen(base) + 1)) != NULL) {
		p->replay = replay;
		p->pid = pid;
		p->pidnames = 0;
		p->count = 0;
		strcpy(p->path, base);
		p->next = meta_paths;
		meta_paths = p;
	}
	if (p != NULL && p->pid != pid) { /* inherited through fork */
		p->pid = pid;
		p->pidnames = 1;
		p->count = 0;
	}
	return p;
}

/* The next name of (base, replay) into out; busy: switch to PID names. */
static void meta_path_name(const char *base, int replay, int busy, char *out, size_t len)
{
	pid_t pid = getpid();
	meta_path *p;
	unsigned k = 0;
	int pidnames = busy;

	pthread_mutex_lock(&meta_lock);
	p = meta_path_get(base, replay, pid);
	if (p != NULL) {
		if (busy && !p->pidnames) {
			p->pidnames = 1;
			p->count = 0;
		}
		k = p->count++;
		pidnames = p->pidnames;
	}
	pthread_mutex_unlock(&meta_lock);
	if (pidnames && k)
		snprintf(out, len, "%s.%ld.%u", base, (long)pid, k);
	else if (pidnames)
		snprintf(out, len, "%s.%ld", base, (long)pid);
	else if (k)
		snprintf(out, len, "%s.%u", base, k);
	else
		snprintf(out, len, "%s", base);
}

void ac__rec_path_next(const char *base, int replay, char *out, size_t len)
{
	meta_path_name(base, replay, 0, out, len);
}

void ac__rec_path_busy(const char *base, char *out, size_t len)
{
	meta_path_name(base, 0, 1, out, len);
}
