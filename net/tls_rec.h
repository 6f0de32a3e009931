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
 * are supported; no padding is sent, none is required.
 *
 * KeyUpdate (RFC 8446 4.6.3, 7.2): each direction keeps its current traffic
 * secret. After ac__tls_rec_update_every records under one write key, or
 * once the peer asked for it (update_requested), the next seal first
 * seals a KeyUpdate (update_not_requested) under the current key, then
 * moves the write direction to the next secret (HKDF-Expand-Label(secret,
 * "traffic upd", "", Hash.length)), a new key and IV, sequence number 0.
 * A received record holding exactly one well-formed KeyUpdate moves the
 * read direction the same way; any other handshake content is refused.
 * Replaced secrets and keys are wiped (OPENSSL_cleanse).
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
/* The size of a sealed KeyUpdate record (header, 5-byte message, inner
 * content type, tag), which a seal may put before the record asked for. */
#define AC_TLS_REC_KU (AC_TLS_REC_HDR + 5 + 1 + AC_TLS_REC_TAG)
/* Records sealed under one write key before a KeyUpdate: far below the
 * 2^24.5 full-size records RFC 8446 5.5 allows AES-GCM per key. */
#define AC_TLS_REC_UPDATE_EVERY ((uint64_t)1 << 23)
/* Content types (RFC 8446 5.1). */
#define AC_TLS_CT_ALERT 21
#define AC_TLS_CT_HANDSHAKE 22
#define AC_TLS_CT_APPDATA 23

/* One direction: its current traffic secret, its cipher context (that
 * secret's key set), IV and next sequence number. */
typedef struct ac__tls_dir {
	EVP_CIPHER_CTX *d_ctx;
	uint8_t d_sec[AC_TLS_SECRET_MAX];
	uint8_t d_iv[12];
	uint64_t d_seq;
	uint64_t d_updates; /* KeyUpdates so far (sealed or opened) */
	int d_owed; /* write side: the peer asked for a KeyUpdate */
	int d_dead; /* a failure was returned: nothing more */
} ac__tls_dir;

typedef struct ac__tls_rec {
	ac__tls_dir r_w; /* records we seal */
	ac__tls_dir r_r; /* records we open */
	const EVP_CIPHER *r_cipher; /* the suite's AEAD */
	const char *r_md;           /* and hash ("SHA256", "SHA384") */
	size_t r_seclen;            /* the hash length */
	uint64_t r_every;           /* ac__tls_rec_update_every at init */
} ac__tls_rec;

/* Records sealed under one write key before a KeyUpdate, read by
 * ac__tls_rec_init (AC_TLS_REC_UPDATE_EVERY; 0 is taken as 1). A test-only
 * hook: tests that compile net/tls_rec.c lower it; nothing else sets it. */
extern uint64_t ac__tls_rec_update_every;

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
 * bytes at in into out (room for len + AC_TLS_REC_OVER + AC_TLS_REC_KU
 * bytes; in may be out + AC_TLS_REC_HDR, else the two do not overlap).
 * When a KeyUpdate is due (see above), out first gets the KeyUpdate record
 * (AC_TLS_REC_KU bytes, under the old key), then the record asked for
 * (under the new key). Returns the bytes put at out (len +
 * AC_TLS_REC_OVER, plus AC_TLS_REC_KU with a KeyUpdate), or -EOVERFLOW
 * when the write sequence numbers are used up (no nonce is ever used
 * twice; r seals nothing more), -EPROTO on an OpenSSL failure (then r
 * seals nothing more either). */
ssize_t ac__tls_rec_seal(ac__tls_rec *r, uint8_t type, const uint8_t *in,
                         size_t len, uint8_t *out);

/* Open the record at the front of buf[0..avail), in place. Returns 0 when
 * it is not all there yet (*used: the bytes it needs, header or whole
 * record), 1 when opened: *used its size, *type its content type, its
 * content at buf + AC_TLS_REC_HDR of *len bytes — a record of type
 * AC_TLS_CT_HANDSHAKE is always a KeyUpdate already taken (*len 0: the
 * read key moved on; with update_requested the next seal updates the
 * write key); or a negative errno with the reason in why (then r opens
 * nothing more): -EMSGSIZE (longer than RFC 8446 allows), -EPROTO (not an
 * encrypted TLS 1.3 record, no content type, handshake content other than
 * one well-formed KeyUpdate filling the record — NewSessionTicket, a bad
 * length or request_update — or the next key could not be made),
 * -EBADMSG (it does not authenticate: altered, out of sequence, or under
 * the wrong key), -EOVERFLOW (the read sequence numbers are used up). */
int ac__tls_rec_open(ac__tls_rec *r, uint8_t *buf, size_t avail, size_t *used,
                     uint8_t *type, size_t *len, char *why, size_t whylen);

#endif /* AC_NET_TLS_REC_H */
