/* tools/acbench.h: what acbench.c and acbench_net.c share. */
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
} nb_result;

/* Run the two-process shapes with the server on cpu_server and the client
 * on cpu_client; n scales the iteration counts. Returns 0 or -errno. */
int nbench_run(int cpu_server, int cpu_client, long n, nb_result *res);

#endif
