/* tests/fuzz/fuzz_frames.c: fuzz target of the frame reader, from the
 * handshake to every request handler: one connection's byte stream
 * against a real node (net/peer.c, net/remote*.c, net/files_*.c,
 * net/zip.c through it) in the simulator (tests/fuzz/fuzz_net.h). The
 * first input byte is a mode:
 *   bit 0 clear  the rest of the input is the whole stream, HELLO on:
 *                the handshake itself is fuzzed;
 *   bit 0 set    the harness first does a correct handshake (HELLO with a
 *                fixed nonce, the node's HELLO_ACK read, the client's MAC
 *                computed with the known secret FZ_SECRET, AUTH_OK read),
 *                so the rest — the post-authentication frames — reaches
 *                the request handlers; no hook in the product is needed;
 *   bit 1 set    the stream is written in pieces of 1..64 bytes (sizes
 *                taken from the input's bytes) instead of at once.
 * After writing, the harness reads what the node answers until the node
 * closes or stays silent for 2 s (virtual), then closes. The properties
 * are the node's: no crash, no sanitizer report, no assertion of the
 * library (built with --enable-debug in the fuzz and sanitizer builds), no
 * file written or removed outside dest_path (the canary of fuzz_net.h),
 * and the world's bounds hold (a node that spins forever fails the run at
 * max_steps, which a fuzz run then shows as a timeout).
 * To look at one input: FUZZ_LOG=1 (the node's log and the sizes read)
 * and FUZZ_DUMP=1 (the node's answers, raw, on standard output) with
 * tests/fuzz/replay_frames FILE.
 */
#include "config.h"

#include <string.h>

#include "net/wire.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_net.h"

/* Read one frame (at most cap body bytes kept). 1, 0 (end), < 0. */
static int fr_recv(ac_sock *k, uint8_t *type, uint8_t *body, size_t cap,
                   size_t *len)
{
	uint8_t hdr[AC_WIRE_HDR];
	uint32_t total;
	ssize_t r = ac_sock_recv_all(k, hdr, sizeof(hdr), 5000);
	if (r <= 0)
		return (int)r - 1;
	total = ac_wire_get32(hdr);
	if (total < AC_WIRE_HDR - 4 || total > AC_WIRE_BODY_MAX + AC_WIRE_HDR)
		return -1;
	*type = hdr[4];
	*len = total - (AC_WIRE_HDR - 4);
	if (*len > cap)
		return -1;
	if (*len && ac_sock_recv_all(k, body, *len, 5000) != (ssize_t)*len)
		return -1;
	return 1;
}

static int fr_frame(ac_sock *k, uint8_t type, const void *body, size_t len)
{
	uint8_t buf[AC_WIRE_HDR + 512];
	if (len > 512)
		return -1;
	ac_wire_hdr_put(buf, type, 0, 0, (uint32_t)len);
	memcpy(buf + AC_WIRE_HDR, body, len);
	return ac_sock_send_all(k, buf, AC_WIRE_HDR + len, 5000) ==
	               (ssize_t)(AC_WIRE_HDR + len)
	           ? 0
	           : -1;
}

/* The client's side of a correct handshake. 0 when AUTH_OK came. */
static int fr_handshake(fz_net *net, ac_sock *k)
{
	uint8_t nc[AC_WIRE_NONCE], body[1024], type, lab[1 + 2 * AC_WIRE_NONCE];
	uint8_t mac[AC_WIRE_MAC];
	uint64_t magic, ver, inc, caps, udp;
	const void *ns, *mac_s;
	size_t len, nlen, mlen, i;
	char name[AC_WIRE_NAME_MAX + 1];
	ac_addr loc;
	void *b;
	for (i = 0; i < AC_WIRE_NONCE; i++)
		nc[i] = (uint8_t)(i * 7 + 1);
	fz_check(ac_pack(&b, &len, "[u u S s l u u u]", (uint64_t)AC_WIRE_MAGIC,
	                 (uint64_t)AC_WIRE_VERSION, nc, (size_t)AC_WIRE_NONCE, "atk",
	                 &net->atk, (uint64_t)0x1234567890abcdefULL,
	                 (uint64_t)1 /* zlib */, (uint64_t)0) == 0);
	i = (size_t)fr_frame(k, AC_WT_HELLO, b, len);
	free(b);
	if (i != 0 || fr_recv(k, &type, body, sizeof(body), &len) != 1 ||
	    type != AC_WT_HELLO_ACK)
		return -1;
	if (ac_unpack(body, len, "[u u S s l u u u S]", &magic, &ver, &ns, &nlen, name,
	              sizeof(name), &loc, &inc, &caps, &udp, &mac_s, &mlen) < 0 ||
	    nlen != AC_WIRE_NONCE)
		return -1;
	lab[0] = 'C';
	memcpy(lab + 1, nc, AC_WIRE_NONCE);
	memcpy(lab + 1 + AC_WIRE_NONCE, ns, AC_WIRE_NONCE);
	fz_net_hmac(lab, sizeof(lab), mac);
	fz_check(ac_pack(&b, &len, "[S]", mac, (size_t)AC_WIRE_MAC) == 0);
	i = (size_t)fr_frame(k, AC_WT_AUTH, b, len);
	free(b);
	if (i != 0 || fr_recv(k, &type, body, sizeof(body), &len) != 1)
		return -1;
	fz_check(type == AC_WT_AUTH_OK); /* the right secret is accepted */
	return 0;
}

/* Write p[0..n), at once or in pieces. */
static int fr_write(ac_sock *k, const uint8_t *p, size_t n, int pieces)
{
	size_t at = 0, i = 0;
	while (at < n) {
		size_t piece = pieces ? (size_t)(1 + p[i++ % n] % 64) : n - at;
		if (piece > n - at)
			piece = n - at;
		if (ac_sock_send_all(k, p + at, piece, 5000) != (ssize_t)piece)
			return -1;
		at += piece;
	}
	return 0;
}

static void fr_attack(fz_net *net)
{
	int mode = net->len ? net->in[0] : 0;
	const uint8_t *p = net->in + (net->len ? 1 : 0);
	size_t n = net->len ? net->len - 1 : 0;
	uint8_t buf[4096];
	ac_sock *k;
	int i;
	if (ac_sock_connect(&net->srv, 5000, &k) < 0)
		fz_fail("cannot connect to the node");
	if ((mode & 1) && fr_handshake(net, k) < 0) {
		ac_sock_close(k);
		return;
	}
	if (fr_write(k, p, n, mode & 2) == 0) {
		/* Read the answers until the end or a quiet spell. */
		for (i = 0; i < 4096; i++) {
			ssize_t got = ac_sock_recv(k, buf, sizeof(buf), 2000);
			if (getenv("FUZZ_LOG"))
				fprintf(stderr, "[atk] read %zd\n", got);
			if (getenv("FUZZ_DUMP") && got > 0)
				fwrite(buf, 1, (size_t)got, stdout);
			if (got <= 0)
				break;
		}
	}
	ac_sock_close(k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_net_run(data, size, 0, fr_attack);
	return 0;
}
