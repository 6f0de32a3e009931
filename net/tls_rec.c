/* net/tls_rec.c: the TLS 1.3 application-data record layer used after the
 * handshake (see net/tls_rec.h for the contract).
 *
 * Each direction keeps one EVP_CIPHER_CTX with its key set once per
 * traffic secret (at the start and at each KeyUpdate); a record only gives
 * it a new nonce (EVP_EncryptInit_ex2 / EVP_DecryptInit_ex2
 * with the cipher and key left NULL), the header as additional data, the
 * content, and the tag — the cost of the cipher itself, without OpenSSL's
 * record layer around it. Sequence numbers stop one short of 2^64: the
 * direction then fails instead of reusing a nonce. A KeyUpdate is sealed
 * or opened under the old key, and the key changes right after it, before
 * any other record of that direction.
 */
#include "net/tls_rec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#define REC_IV 12

/* HKDF-Expand-Label(secret, label, "", len) (RFC 8446 7.1) with the
 * suite's hash md ("SHA256"/"SHA384"): 0 or -EPROTO. */
static int rec_expand_label(const char *md, const uint8_t *sec, size_t seclen,
                            const char *label, uint8_t *out, size_t len)
{
	uint8_t info[2 + 1 + 255 + 1];
	size_t ll = strlen("tls13 ") + strlen(label), n = 0;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, ok;
	OSSL_PARAM p[5];
	info[n++] = (uint8_t)(len >> 8);
	info[n++] = (uint8_t)len;
	info[n++] = (uint8_t)ll;
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll - 6);
	n += ll;
	info[n++] = 0; /* an empty context */
	p[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	p[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0);
	p[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)sec, seclen);
	p[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	p[4] = OSSL_PARAM_construct_end();
	ok = kc && EVP_KDF_derive(kc, out, len, p) == 1;
	EVP_KDF_CTX_free(kc);
	EVP_KDF_free(kdf);
	return ok ? 0 : -EPROTO;
}

uint64_t ac__tls_rec_update_every = AC_TLS_REC_UPDATE_EVERY;

/* Make d's key and IV from the traffic secret sec (r's suite), setting the
 * key into d's cipher context (made on first use), and keep sec as d's
 * secret (the one it replaces wiped); sequence number 0. 0, -ENOMEM or
 * -EPROTO (then d may hold a context but no usable key). */
static int rec_dir_key(const ac__tls_rec *r, ac__tls_dir *d, const uint8_t *sec,
                       int enc)
{
	uint8_t key[32];
	size_t klen = (size_t)EVP_CIPHER_get_key_length(r->r_cipher);
	int rc = -EPROTO;
	if (klen > sizeof(key))
		return -EPROTO;
	if (rec_expand_label(r->r_md, sec, r->r_seclen, "key", key, klen) < 0 ||
	    rec_expand_label(r->r_md, sec, r->r_seclen, "iv", d->d_iv, REC_IV) < 0)
		goto out;
	if (!d->d_ctx)
		d->d_ctx = EVP_CIPHER_CTX_new();
	if (!d->d_ctx) {
		rc = -ENOMEM;
		goto out;
	}
	/* The IV is given with each record; GCM's default length is 12. */
	if (EVP_CipherInit_ex2(d->d_ctx, r->r_cipher, key, NULL, enc, NULL) == 1)
		rc = 0;
	OPENSSL_cleanse(d->d_sec, sizeof(d->d_sec));
	memcpy(d->d_sec, sec, r->r_seclen);
	d->d_seq = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* Move d to its next traffic secret (RFC 8446 7.2): HKDF-Expand-Label(
 * secret, "traffic upd", "", Hash.length), its key and IV, sequence 0.
 * 0 or -EPROTO / -ENOMEM (then d is marked failed). */
static int rec_dir_update(const ac__tls_rec *r, ac__tls_dir *d, int enc)
{
	uint8_t next[AC_TLS_SECRET_MAX];
	int rc = rec_expand_label(r->r_md, d->d_sec, r->r_seclen, "traffic upd",
	                          next, r->r_seclen);
	if (rc == 0)
		rc = rec_dir_key(r, d, next, enc);
	OPENSSL_cleanse(next, sizeof(next));
	if (rc < 0)
		d->d_dead = 1;
	else
		d->d_updates++;
	return rc;
}

int ac__tls_rec_init(ac__tls_rec *r, unsigned suite, const uint8_t *wsec,
                     const uint8_t *rsec, size_t seclen)
{
	int rc;
	memset(r, 0, sizeof(*r));
	if (suite == 0x1301) {
		r->r_cipher = EVP_aes_128_gcm();
		r->r_md = "SHA256";
		r->r_seclen = 32;
	} else if (suite == 0x1302) {
		r->r_cipher = EVP_aes_256_gcm();
		r->r_md = "SHA384";
		r->r_seclen = 48;
	} else {
		return -ENOTSUP;
	}
	if (seclen != r->r_seclen) {
		memset(r, 0, sizeof(*r));
		return -EINVAL;
	}
	r->r_every = ac__tls_rec_update_every ? ac__tls_rec_update_every : 1;
	rc = rec_dir_key(r, &r->r_w, wsec, 1);
	if (rc == 0)
		rc = rec_dir_key(r, &r->r_r, rsec, 0);
	if (rc < 0)
		ac__tls_rec_fini(r);
	return rc;
}

void ac__tls_rec_fini(ac__tls_rec *r)
{
	EVP_CIPHER_CTX_free(r->r_w.d_ctx);
	EVP_CIPHER_CTX_free(r->r_r.d_ctx);
	OPENSSL_cleanse(r, sizeof(*r));
}

/* The nonce of d's next record: its IV XOR the sequence number. */
static void rec_nonce(const ac__tls_dir *d, uint8_t nonce[REC_IV])
{
	int i;
	memcpy(nonce, d->d_iv, REC_IV);
	for (i = 0; i < 8; i++)
		nonce[REC_IV - 1 - i] ^= (uint8_t)(d->d_seq >> (8 * i));
}

static void rec_header(uint8_t *h, size_t clen)
{
	h[0] = AC_TLS_CT_APPDATA; /* every encrypted record's outer type */
	h[1] = 0x03;
	h[2] = 0x03;
	h[3] = (uint8_t)(clen >> 8);
	h[4] = (uint8_t)clen;
}

/* Seal one record under d's current key (ac__tls_rec_seal without the
 * KeyUpdate). */
static ssize_t rec_seal1(ac__tls_dir *d, uint8_t type, const uint8_t *in,
                         size_t len, uint8_t *out)
{
	uint8_t nonce[REC_IV], *body = out + AC_TLS_REC_HDR;
	size_t clen = len + 1 + AC_TLS_REC_TAG;
	int n, ok;
	if (d->d_dead || d->d_seq == UINT64_MAX) {
		d->d_dead = 1;
		return -EOVERFLOW;
	}
	rec_nonce(d, nonce);
	rec_header(out, clen);
	ok = EVP_EncryptInit_ex2(d->d_ctx, NULL, NULL, nonce, NULL) == 1 &&
	     EVP_EncryptUpdate(d->d_ctx, NULL, &n, out, AC_TLS_REC_HDR) == 1;
	if (ok && len > 0)
		ok = EVP_EncryptUpdate(d->d_ctx, body, &n, in, (int)len) == 1 &&
		     n == (int)len;
	ok = ok && EVP_EncryptUpdate(d->d_ctx, body + len, &n, &type, 1) == 1 && n == 1 &&
	     EVP_EncryptFinal_ex(d->d_ctx, body + len + 1, &n) == 1 && n == 0 &&
	     EVP_CIPHER_CTX_ctrl(d->d_ctx, EVP_CTRL_AEAD_GET_TAG, AC_TLS_REC_TAG,
	                         body + len + 1) == 1;
	if (!ok) {
		d->d_dead = 1;
		return -EPROTO;
	}
	d->d_seq++;
	return (ssize_t)(AC_TLS_REC_HDR + clen);
}

ssize_t ac__tls_rec_seal(ac__tls_rec *r, uint8_t type, const uint8_t *in,
                         size_t len, uint8_t *out)
{
	/* KeyUpdate, request_update = update_not_requested (RFC 8446 4.6.3). */
	static const uint8_t ku[5] = {24, 0, 0, 1, 0};
	ac__tls_dir *d = &r->r_w;
	uint8_t *rec = out + AC_TLS_REC_KU;
	ssize_t w;
	if (len > AC_TLS_REC_MAX || !d->d_ctx)
		return -EPROTO;
	if (d->d_dead || (d->d_seq < r->r_every && !d->d_owed))
		return rec_seal1(d, type, in, len, out);
	/* The content moves out of the KeyUpdate's way first (in may be
	 * out + AC_TLS_REC_HDR). */
	if (len > 0)
		memmove(rec + AC_TLS_REC_HDR, in, len);
	w = rec_seal1(d, AC_TLS_CT_HANDSHAKE, ku, sizeof(ku), out);
	if (w < 0)
		return w;
	if (rec_dir_update(r, d, 1) < 0)
		return -EPROTO;
	d->d_owed = 0;
	w = rec_seal1(d, type, rec + AC_TLS_REC_HDR, len, rec);
	return w < 0 ? w : w + AC_TLS_REC_KU;
}

/* Decrypt and authenticate the record of clen bytes after its header h, in
 * place: 0 or -EBADMSG. */
static int rec_decrypt(ac__tls_dir *d, uint8_t *h, size_t clen)
{
	uint8_t nonce[REC_IV], *body = h + AC_TLS_REC_HDR;
	int n, m = (int)(clen - AC_TLS_REC_TAG);
	rec_nonce(d, nonce);
	return EVP_DecryptInit_ex2(d->d_ctx, NULL, NULL, nonce, NULL) == 1 &&
	       EVP_DecryptUpdate(d->d_ctx, NULL, &n, h, AC_TLS_REC_HDR) == 1 &&
	       EVP_DecryptUpdate(d->d_ctx, body, &n, body, m) == 1 && n == m &&
	       EVP_CIPHER_CTX_ctrl(d->d_ctx, EVP_CTRL_AEAD_SET_TAG, AC_TLS_REC_TAG,
	                           body + m) == 1 &&
	       EVP_DecryptFinal_ex(d->d_ctx, body + m, &n) == 1
	       ? 0 : -EBADMSG;
}

/* The record's failure: d opens nothing more. */
static int rec_fail(ac__tls_dir *d, int rc, char *why, size_t whylen,
                    const char *what)
{
	d->d_dead = 1;
	snprintf(why, whylen, "%s", what);
	return rc;
}

/* The handshake content of *len bytes at p just opened: one well-formed
 * KeyUpdate filling it is taken (1, *len 0), anything else fails. */
static int rec_keyupdate(ac__tls_rec *r, const uint8_t *p, size_t *len,
                         char *why, size_t whylen)
{
	ac__tls_dir *d = &r->r_r;
	if (*len >= 1 && p[0] == 4)
		return rec_fail(d, -EPROTO, why, whylen, "a TLS NewSessionTicket after "
		                "the handshake (not taken)");
	if (*len != 5 || p[0] != 24 || p[1] != 0 || p[2] != 0 || p[3] != 1 || p[4] > 1)
		return rec_fail(d, -EPROTO, why, whylen, "a TLS handshake message after "
		                "the handshake that is not one well-formed KeyUpdate "
		                "filling its record");
	if (rec_dir_update(r, d, 0) < 0)
		return rec_fail(d, -EPROTO, why, whylen, "the next TLS read key could "
		                "not be made (KeyUpdate)");
	if (p[4] == 1) /* update_requested: ours at the next record */
		r->r_w.d_owed = 1;
	*len = 0;
	return 1;
}

int ac__tls_rec_open(ac__tls_rec *r, uint8_t *buf, size_t avail, size_t *used,
                     uint8_t *type, size_t *len, char *why, size_t whylen)
{
	ac__tls_dir *d = &r->r_r;
	size_t clen, m;
	if (d->d_dead || !d->d_ctx)
		return rec_fail(d, -EPROTO, why, whylen, "the TLS session failed before");
	*used = AC_TLS_REC_HDR;
	if (avail < AC_TLS_REC_HDR)
		return 0;
	if (buf[0] != AC_TLS_CT_APPDATA || buf[1] != 0x03 || buf[2] != 0x03)
		return rec_fail(d, -EPROTO, why, whylen, "not an encrypted TLS 1.3 "
		                "record after the handshake");
	clen = (size_t)buf[3] << 8 | buf[4];
	if (clen > AC_TLS_REC_CMAX)
		return rec_fail(d, -EMSGSIZE, why, whylen, "a TLS record longer "
		                "than 2^14 + 256 bytes");
	if (clen < 1 + AC_TLS_REC_TAG)
		return rec_fail(d, -EPROTO, why, whylen, "a TLS record too short "
		                "for its tag");
	*used = AC_TLS_REC_HDR + clen;
	if (avail < *used)
		return 0;
	if (d->d_seq == UINT64_MAX)
		return rec_fail(d, -EOVERFLOW, why, whylen, "TLS record sequence "
		                "numbers used up");
	if (rec_decrypt(d, buf, clen) < 0)
		return rec_fail(d, -EBADMSG, why, whylen, "a TLS record does not "
		                "authenticate (bad record MAC)");
	d->d_seq++;
	/* The content type is the last byte that is not padding. */
	for (m = clen - AC_TLS_REC_TAG; m > 0 && buf[AC_TLS_REC_HDR + m - 1] == 0; m--)
		;
	if (m == 0)
		return rec_fail(d, -EPROTO, why, whylen, "a TLS record without "
		                "a content type");
	if (m - 1 > AC_TLS_REC_MAX)
		return rec_fail(d, -EMSGSIZE, why, whylen, "a TLS record with more "
		                "than 2^14 bytes of content");
	*type = buf[AC_TLS_REC_HDR + m - 1];
	*len = m - 1;
	if (*type == AC_TLS_CT_HANDSHAKE)
		return rec_keyupdate(r, buf + AC_TLS_REC_HDR, len, why, whylen);
	return 1;
}
