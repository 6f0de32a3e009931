/* tests/fuzz/fuzz_discover.c: fuzz target of the discovery datagrams
 * (net/discover.c) — UDP announcements sent to a real node's discovery
 * port in the simulator (tests/fuzz/fuzz_net.h). The input is a sequence
 * of datagrams, each a 2-byte big-endian length and that many bytes
 * (lengths are cut to what is left), at most 16. The first input byte is
 * a mode: with bit 0 set the harness appends to each datagram its correct
 * HMAC-SHA256 under the known secret (the trailer of doc/protocol.md), so
 * mutated announcements get past authentication into the body decoder,
 * the relay and the connection it triggers; with bit 0 clear the
 * datagrams go as they are (the MAC check itself is fuzzed). Datagrams
 * come from 10.0.0.2:FZ_UDP_PORT; the node may connect back to the
 * announced location (nobody answers there, or the attacker's port is
 * closed). Properties: no crash, no sanitizer report, no assertion of the
 * library, the world's bounds hold.
 */
#include "config.h"

#include <string.h>

#include "net/wire.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_net.h"

static void di_attack(fz_net *net)
{
	int mode = net->len ? net->in[0] : 0;
	const uint8_t *p = net->in + (net->len ? 1 : 0);
	size_t n = net->len ? net->len - 1 : 0, at = 0;
	uint8_t dg[2048];
	ac_sock *k;
	ac_addr me = net->atk;
	int count = 0;
	me.port = FZ_UDP_PORT;
	if (ac_sock_udp(NULL, &me, 0, &k) < 0)
		fz_fail("cannot bind the attacker's UDP socket");
	while (at + 2 <= n && count++ < 16) {
		size_t len = (size_t)p[at] << 8 | p[at + 1];
		at += 2;
		if (len > n - at)
			len = n - at;
		if (len > sizeof(dg) - AC_WIRE_MAC)
			len = sizeof(dg) - AC_WIRE_MAC;
		memcpy(dg, p + at, len);
		at += len;
		if (mode & 1) {
			fz_net_hmac(dg, len, dg + len);
			len += AC_WIRE_MAC;
		}
		ac_sock_sendto(k, dg, len, &net->srv_udp, 1000);
		ac_sleep(50);
	}
	/* Let the node act on what it heard (connect, relay). */
	ac_sleep(3000);
	ac_sock_close(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_net_run(data, size, 1, di_attack);
	return 0;
}
