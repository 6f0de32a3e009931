/* tests/check_record_run.c: a real run recorded and replayed — three nodes
 * on 127.0.0.1, each a process recording itself through AC_RECORD, one of
 * them killed with SIGKILL in the middle of the run:
 *
 *   - "b" serves an echo and "c" a sink; "a" peers with both, delivers
 *     64 KiB blobs of random bytes to c until c is gone (the parent kills
 *     c once c's record holds more than a chunk on disk), then ping-pongs
 *     with b and tells b "bye"; a and b end in order;
 *   - a's and b's records end cleanly, and each replays (AC_REPLAY, the
 *     same code in a new process) with exit status 0 and the same "record
 *     PATH: N events, hash H" line as the live run;
 *   - c's record is cut short: its replay goes up to its last whole event,
 *     says "cut short: truncated after event E" with the E a reader finds,
 *     and exits with AC_REPLAY_EXIT_TRUNCATED.
 *
 * Children report through their exit status and never use Check's
 * asserts; each is bounded by alarm(), the parent's waits by a deadline.
 */
#define _GNU_SOURCE
#include "config.h"

#include <zlib.h>

#include "tests/testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asyncoro/dis.h>
#include <asyncoro/record.h>

#include "io/record.h"

/* Blob size, rounds, and the victim's record size at which it is killed
 * (more than the recorder's 256 KiB chunk: events are on disk). */
#define BLOB (64 * 1024)
#define MAX_BLOBS 4000
#define PINGS 50
#define KILL_AT (1024 * 1024)
#define WAIT_MS 60000

/* What the three programs are given (the same in the run and its replay). */
typedef struct run_cfg {
	char dir[200];
	uint16_t udp_port;
	char loc_b[64], loc_c[64];
} run_cfg;

static run_cfg cfg;
/* Where b and c write their location in the live run (-1: nowhere). */
static int report_fd = -1;

/* ---- the programs ------------------------------------------------------------ */

static void echo_b(void *arg)
{
	ac_msg *m;
	(void)arg;
	ac_register("echo-b");
	while (ac_receive(AC_FOREVER, &m) == 0) {
		int bye = ac_msg_len(m) == 3 && memcmp(ac_msg_data(m), "bye", 3) == 0;
		if (ac_send(ac_msg_from(m), m) < 0)
			ac_msg_free(m);
		if (bye)
			return;
	}
}

static void sink_c(void *arg)
{
	ac_msg *m;
	(void)arg;
	ac_register("sink-c");
	while (ac_receive(AC_FOREVER, &m) == 0)
		ac_msg_free(m);
}

static int a_status;

/* a: blobs to c until it is gone, then pings to b, then "bye". */
static void driver_a(void *arg)
{
	static uint8_t blob[BLOB];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	ac_node *n = arg;
	ac_ref c, b;
	ac_msg *m;
	int i;
	a_status = 10;
	if (ac_node_peer(n, cfg.loc_b, cfg.udp_port, 0, 0, 5000) < 0 ||
	    ac_node_peer(n, cfg.loc_c, cfg.udp_port, 0, 0, 5000) < 0)
		return;
	a_status = 11;
	if (ac_locate("sink-c", NULL, 5000, &c) < 0 || ac_locate("echo-b", NULL, 5000, &b) < 0)
		return;
	for (i = 0; i < MAX_BLOBS; i++) {
		/* Fresh bytes that do not compress (the record's blocks are
		 * stored: c's record grows as it receives). */
		size_t k;
		for (k = 0; k < BLOB; k += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			memcpy(blob + k, &x, 8);
		}
		if (ac_deliver(c, ac_msg_new(blob, sizeof(blob)), 2000) != 1)
			break;
	}
	a_status = i == MAX_BLOBS ? 12 : 13; /* c never went away: 12 */
	for (i = 0; i < PINGS; i++) {
		if (ac_send(b, ac_msg_new("ping", 4)) < 0 || ac_receive(5000, &m) < 0)
			return;
		ac_msg_free(m);
	}
	ac_send(b, ac_msg_str("bye"));
	if (ac_receive(5000, &m) < 0)
		return;
	ac_msg_free(m);
	if (a_status == 13)
		a_status = 0;
}

/* Node `who` ('a', 'b' or 'c') on a scheduler of the default backend (so
 * AC_RECORD or AC_REPLAY applies); its exit status. */
static int node_main(char who)
{
	ac_sched_opts so;
	ac_node_opts o;
	ac_sched *s;
	ac_node *n;
	char name[2] = {who, 0};
	ac_sched_opts_init(&so);
	so.name = name;
	so.log_level = AC_LOG_INFO;
	if (ac_sched_new(&so, &s) < 0)
		return 2;
	ac_node_opts_init(&o);
	o.node = "127.0.0.1";
	o.udp_port = cfg.udp_port;
	o.discover_peers = 0;
	o.name = name;
	o.secret = "record-run";
	o.heartbeat_ms = 200;
	o.peer_lost_ms = 1000;
	o.stop_timeout_ms = 1000;
	if (ac_node_start(s, &o, &n) < 0)
		return 3;
	if (who == 'a')
		ac_spawn(s, driver_a, n, NULL, NULL);
	else
		ac_spawn(s, who == 'b' ? echo_b : sink_c, NULL, NULL, NULL);
	if (report_fd >= 0) {
		char loc[AC_ADDR_STRLEN + 1];
		ac_addr l = ac_node_location(n);
		ac_addr_format(&l, loc, sizeof(loc) - 1);
		strcat(loc, "\n");
		if (write(report_fd, loc, strlen(loc)) < 0)
			return 4;
		close(report_fd);
	}
	ac_sched_finish(s);
	ac_sched_free(s);
	return who == 'a' ? a_status : 0;
}

/* ---- the parent --------------------------------------------------------------- */

static void rec_path(char who, char *out, size_t len)
{
	snprintf(out, len, "%s/%c.acrec", cfg.dir, who);
}

/* Run node `who` in a child with env=its record's path, standard output
 * and error into DIR/<who>.<tag>.log; rfd: the write end it reports its
 * location on (-1: none). */
static pid_t spawn_node(char who, const char *env, const char *tag, int rfd)
{
	char path[256], log[256];
	pid_t pid;
	int fd;
	rec_path(who, path, sizeof(path));
	snprintf(log, sizeof(log), "%s/%c.%s.log", cfg.dir, who, tag);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		alarm(WAIT_MS / 1000);
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(98);
		setenv(env, path, 1);
		report_fd = rfd;
		_exit(node_main(who));
	}
	if (rfd >= 0)
		close(rfd);
	return pid;
}

/* The exit status of pid (200 + signal when killed by one); killed and -1
 * after WAIT_MS. */
static int wait_exit(pid_t pid)
{
	int st, i;
	for (i = 0; i < WAIT_MS / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 200 + WTERMSIG(st);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* Start b or c recording; its location into loc. */
static pid_t start_server(char who, char *loc, size_t len)
{
	int fds[2];
	ssize_t n = 0, r;
	pid_t pid;
	ck_assert_int_eq(pipe(fds), 0);
	pid = spawn_node(who, "AC_RECORD", "run", fds[1]);
	while ((size_t)n < len - 1 && (r = read(fds[0], loc + n, len - 1 - (size_t)n)) > 0)
		n += r;
	close(fds[0]);
	loc[n] = '\0';
	ck_assert_msg(n > 1 && loc[n - 1] == '\n', "node %c reported no location", who);
	loc[n - 1] = '\0';
	return pid;
}

/* The "record PATH: N events, hash H" line of who's log tag (a copy to
 * free), or NULL. */
static char *record_line(char who, const char *tag)
{
	char log[256], path[256], key[300], *text, *at, *end, *out = NULL;
	FILE *f;
	long len;
	snprintf(log, sizeof(log), "%s/%c.%s.log", cfg.dir, who, tag);
	rec_path(who, path, sizeof(path));
	snprintf(key, sizeof(key), "record %s: ", path);
	f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(fread(text, 1, (size_t)len, f), len);
	fclose(f);
	if ((at = strstr(text, key)) != NULL) {
		end = strchr(at, '\n');
		out = strndup(at, end ? (size_t)(end - at) : strlen(at));
	}
	free(text);
	return out;
}

/* Kill c with SIGKILL once its record holds more than KILL_AT bytes. */
static void kill_when_written(pid_t c)
{
	char path[256];
	struct stat sb;
	int i;
	rec_path('c', path, sizeof(path));
	for (i = 0; i < WAIT_MS / 10; i++) {
		if (stat(path, &sb) == 0 && sb.st_size > KILL_AT)
			break;
		usleep(10000);
	}
	ck_assert_msg(i < WAIT_MS / 10, "c's record never grew past %d bytes", KILL_AT);
	ck_assert_int_eq(kill(c, SIGKILL), 0);
	ck_assert_int_eq(wait_exit(c), 200 + SIGKILL);
}

/* The last whole event of c's cut record, as a reader says it. */
static long cut_event(void)
{
	char path[256], err[200];
	ac_rec_reader *r;
	ac_rec_event ev;
	long e = -2;
	int rc;
	rec_path('c', path, sizeof(path));
	CK_OK(ac__rec_open(path, &r, err, sizeof(err)));
	while ((rc = ac__rec_next(r, &ev)) == 1)
		;
	ck_assert_int_eq(rc, -EPIPE);
	ck_assert_int_eq(sscanf(ac__rec_error(r), "truncated after event %ld", &e), 1);
	ck_assert_int_eq(e, (long)ac__rec_count(r) - 1);
	ac__rec_close(r);
	return e;
}

START_TEST(test_three_nodes_one_killed)
{
	char tmpl[] = "/tmp/ac-recrun-XXXXXX", want[128], *live, *again, log[256];
	pid_t a, b, c;
	const char *who;
	long e;
	FILE *f;
	char text[4096] = "";
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(cfg.dir, sizeof(cfg.dir), "%s", tmpl);
	cfg.udp_port = (uint16_t)(20000 + getpid() % 20000);
	b = start_server('b', cfg.loc_b, sizeof(cfg.loc_b));
	c = start_server('c', cfg.loc_c, sizeof(cfg.loc_c));
	a = spawn_node('a', "AC_RECORD", "run", -1);
	kill_when_written(c);
	ck_assert_int_eq(wait_exit(a), 0);
	ck_assert_int_eq(wait_exit(b), 0);
	/* The survivors replay to the same record line (same hash). */
	for (who = "ab"; *who; who++) {
		live = record_line(*who, "run");
		ck_assert_msg(live != NULL, "no record line in %c's log", *who);
		ck_assert_int_eq(wait_exit(spawn_node(*who, "AC_REPLAY", "replay", -1)), 0);
		again = record_line(*who, "replay");
		ck_assert_msg(again != NULL, "no record line in %c's replay log", *who);
		ck_assert_str_eq(again, live);
		printf("%c: %s; replayed: %s\n", *who, live, again);
		free(live);
		free(again);
	}
	/* The victim replays up to its last whole event and says so. */
	e = cut_event();
	ck_assert_int_ge(e, 10);
	ck_assert_int_eq(wait_exit(spawn_node('c', "AC_REPLAY", "replay", -1)),
	                 AC_REPLAY_EXIT_TRUNCATED);
	snprintf(log, sizeof(log), "%s/c.replay.log", cfg.dir);
	f = fopen(log, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_gt(fread(text, 1, sizeof(text) - 1, f), 0);
	fclose(f);
	snprintf(want, sizeof(want), "cut short: truncated after event %ld (", e);
	ck_assert_msg(strstr(text, want) != NULL, "want \"%s\" in:\n%s", want, text);
	{
		const char *at = strstr(text, "replay reached");
		ck_assert_ptr_nonnull(at);
		printf("c: %.*s\n", (int)strcspn(at, "\n"), at);
	}
	ck_assert_int_eq(system((snprintf(text, sizeof(text), "rm -rf %s", cfg.dir), text)), 0);
}
END_TEST

static Suite *record_run_suite(void)
{
	Suite *s = suite_create("record_run");
	TCase *tc = tcase_create("real");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, test_three_nodes_one_killed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(record_run_suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
