/* net/tls_rec.h: the TLS 1.3 application-data record layer of our own
 * (net/tls_rec.c) that takes over a session from OpenSSL once its handshake
 * is complete, as kernel TLS offload does: the two application traffic
 * secrets become a key and an IV each (HKDF-Expand-Label, RFC 8446 7.1 and
 * 7.3), and records are sealed and opened with AES-GCM (RFC 8446 5.2:
 * the header 0x17 0x0303 length is the additional data, the inner content
 * type follows the content, the nonce is the IV XOR the big-endian record
 * sequence number) through one reused cipher context per direction, in
 * place in the caller's buffers. Pure computation: no I/O, no randomness.
 *
 * Only the AES-GCM suites (TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384)
 * are supported; no padding is sent, none is required; KeyUpdate is not
 * (net/tls.c closes the connection when one arrives).
 */
#ifndef AC_NET_TLS_REC_H
#define AC_NET_TLS_REC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

/* A record's header, tag, and the bytes it adds to its content (header,
 * inner content type, tag). */
#define AC_TLS_REC_HDR 5
#define AC_TLS_REC_TAG 16
#define AC_TLS_REC_OVER (AC_TLS_REC_HDR + 1 + AC_TLS_REC_TAG)
/* Most content per record (RFC 8446 5.1), and most bytes after the header
 * a record may have (5.2: 2^14 + 256). */
#define AC_TLS_REC_MAX 16384
#define AC_TLS_REC_CMAX (AC_TLS_REC_MAX + 256)
/* Longest traffic secret (SHA-384). */
#define AC_TLS_SECRET_MAX 48
/* Content types (RFC 8446 5.1). */
#define AC_TLS_CT_ALERT 21
#define AC_TLS_CT_HANDSHAKE 22
#define AC_TLS_CT_APPDATA 23

/* One direction: its cipher context (key set), IV and next sequence
 * number. */
typedef struct ac__tls_dir {
	EVP_CIPHER_CTX *d_ctx;
	uint8_t d_iv[12];
	uint64_t d_seq;
	int d_dead; /* a failure was returned: nothing more */
} ac__tls_dir;

typedef struct ac__tls_rec {
	ac__tls_dir r_w; /* records we seal */
	ac__tls_dir r_r; /* records we open */
} ac__tls_rec;

/* Set r up for the suite of IANA number suite (0x1301 or 0x1302) from the
 * write and read traffic secrets of seclen bytes (the suite's hash
 * length); both sequence numbers start at 0. Returns 0, -ENOTSUP (another
 * suite), -EINVAL (a secret of the wrong length), -ENOMEM or -EPROTO (an
 * OpenSSL failure); on failure r holds nothing to free. */
int ac__tls_rec_init(ac__tls_rec *r, unsigned suite, const uint8_t *wsec,
                     const uint8_t *rsec, size_t seclen);
/* Release r's cipher contexts (r zeroed; a zeroed r is fine too). */
void ac__tls_rec_fini(ac__tls_rec *r);

/* Seal one record of content type type with the len (<= AC_TLS_REC_MAX)
 * bytes at in into out (room for len + AC_TLS_REC_OVER bytes; in may be
 * out + AC_TLS_REC_HDR, else the two do not overlap). Returns the record's
 * size, or -EOVERFLOW when the write sequence numbers are used up (no
 * nonce is ever used twice; r seals nothing more), -EPROTO on an OpenSSL
 * failure. */
ssize_t ac__tls_rec_seal(ac__tls_rec *r, uint8_t type, const uint8_t *in,
                         size_t len, uint8_t *out);

/* Open the record at the front of buf[0..avail), in place. Returns 0 when
 * it is not all there yet (*used: the bytes it needs, header or whole
 * record), 1 when opened: *used its size, *type its content type, its
 * content at buf + AC_TLS_REC_HDR of *len bytes; or a negative errno with
 * the reason in why (then r opens nothing more): -EMSGSIZE (longer than
 * RFC 8446 allows), -EPROTO (not an encrypted TLS 1.3 record, no content
 * type), -EBADMSG (it does not authenticate: altered, or out of sequence),
 * -EOVERFLOW (the read sequence numbers are used up). */
int ac__tls_rec_open(ac__tls_rec *r, uint8_t *buf, size_t avail, size_t *used,
                     uint8_t *type, size_t *len, char *why, size_t whylen);

#endif /* AC_NET_TLS_REC_H */
