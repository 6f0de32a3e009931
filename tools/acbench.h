/* tools/acbench.h: what acbench.c, acbench_net.c and acbench_sim.c share. */
#ifndef AC_TOOLS_ACBENCH_H
#define AC_TOOLS_ACBENCH_H

/* Figures of one two-process run (0 where a shape failed). */
typedef struct nb_result {
	double oneway;   /* remote one-way msgs/s */
	double deliver;  /* remote deliver round trips/s */
	double pp_p50;   /* remote ping-pong round trip µs */
	double pp_p99;
	double raw_p50;  /* raw TCP ping-pong round trip µs */
	double raw_p99;
	double chan10;   /* channel delivers/s to 10 remote subscribers */
	double file_mbs; /* send_file MB/s */
	double handshakes; /* connect + handshake (+ TLS) per s */
	double client_secs;   /* wall time of the client's scheduler, from its
	                       * creation to its end */
	unsigned server_port; /* the server node's TCP port */
} nb_result;

/* The two-process shapes, for nbench_run's mask. */
enum {
	NB_ONEWAY = 1,
	NB_DELIVER = 2,
	NB_PINGPONG = 4, /* remote and raw TCP */
	NB_CHAN = 8,
	NB_FILE = 16,
	NB_HANDSHAKE = 32,
	NB_ALL = 63
};

/* NULL: plaintext nodes; else the certfile (self-signed, key included) of
 * both nodes of nbench_run: TLS. */
extern const char *nbench_certfile;
/* Where the server's node receives files (acbench --dest; default "/tmp"):
 * in DIR/acbench-dest-PID, removed afterwards. */
extern const char *nbench_dest_dir;

/* Run the shapes in mask with the server on cpu_server and the client on
 * cpu_client; n scales the iteration counts. Figures of shapes not run stay
 * 0. Returns 0 or -errno. */
int nbench_run(int cpu_server, int cpu_client, long n, int mask,
               nb_result *res);

/* The client side of nbench_run alone (no raw TCP ping-pong): a node on a
 * scheduler of the default backend (so AC_RECORD and AC_REPLAY apply) that
 * peers with the server node at 127.0.0.1:port and runs the shapes in mask;
 * figures into *res, and res->client_secs. A replay of the client's record
 * runs this with the recorded port. */
void nbench_client(unsigned port, long n, int mask, nb_result *res);

/* Recording on vs off (tools/acbench_rec.c), n scaling the counts: remote
 * one-way and ping-pong p50 without and with both nodes recording
 * (AC_RECORD, in a directory of its own, removed afterwards), the client
 * record's size beyond the bytes it carries per call, and the replay of the
 * client's record against its live run. Returns 0 or a negative errno. */
typedef struct rb_result {
	double oneway_off, oneway_on; /* msgs/s */
	double pp_off, pp_on;         /* ping-pong p50, µs */
	double size, carried;         /* the client's record, bytes */
	double events, calls;         /* its events, and the program's calls */
	double live_secs, replay_secs;
} rb_result;
int rbench_run(int cpu_server, int cpu_client, long n, rb_result *res);

/* Measure the simulator (tools/acbench_sim.c): *completions_per_s gets
 * simulated I/O completions per wall-clock second for a TCP ping-pong over
 * 64 connections between two raw nodes, and *sim_to_wall_ratio the ratio of
 * virtual to wall-clock time for a timer-heavy workload (800 coroutines on 8
 * nodes sleeping 10..1000 ms in a loop for 60 virtual seconds). Takes under
 * a second. Returns 0 or a negative errno. */
int simbench_run(double *completions_per_s, double *sim_to_wall_ratio);

#endif
