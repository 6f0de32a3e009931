/* net/tls_rec.c: the TLS 1.3 application-data record layer used after the
 * handshake (see net/tls_rec.h for the contract).
 *
 * Each direction keeps one EVP_CIPHER_CTX with its key set once; a record
 * only gives it a new nonce (EVP_EncryptInit_ex2 / EVP_DecryptInit_ex2
 * with the cipher and key left NULL), the header as additional data, the
 * content, and the tag — the cost of the cipher itself, without OpenSSL's
 * record layer around it. Sequence numbers stop one short of 2^64: the
 * direction then fails instead of reusing a nonce.
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

/* One direction from its secret: the key into a new cipher context. */
static int rec_dir_init(ac__tls_dir *d, const EVP_CIPHER *c, const char *md,
                        const uint8_t *sec, size_t seclen, int enc)
{
	uint8_t key[32];
	size_t klen = (size_t)EVP_CIPHER_get_key_length(c);
	int rc = -EPROTO;
	memset(d, 0, sizeof(*d));
	if (klen > sizeof(key))
		return -EPROTO;
	if (rec_expand_label(md, sec, seclen, "key", key, klen) < 0 ||
	    rec_expand_label(md, sec, seclen, "iv", d->d_iv, REC_IV) < 0)
		goto out;
	d->d_ctx = EVP_CIPHER_CTX_new();
	if (!d->d_ctx) {
		rc = -ENOMEM;
		goto out;
	}
	/* The IV is given with each record; GCM's default length is 12. */
	if (EVP_CipherInit_ex2(d->d_ctx, c, key, NULL, enc, NULL) == 1)
		rc = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (rc < 0) {
		EVP_CIPHER_CTX_free(d->d_ctx);
		memset(d, 0, sizeof(*d));
	}
	return rc;
}

int ac__tls_rec_init(ac__tls_rec *r, unsigned suite, const uint8_t *wsec,
                     const uint8_t *rsec, size_t seclen)
{
	const EVP_CIPHER *c;
	const char *md;
	size_t hlen;
	int rc;
	memset(r, 0, sizeof(*r));
	if (suite == 0x1301) {
		c = EVP_aes_128_gcm();
		md = "SHA256";
		hlen = 32;
	} else if (suite == 0x1302) {
		c = EVP_aes_256_gcm();
		md = "SHA384";
		hlen = 48;
	} else {
		return -ENOTSUP;
	}
	if (seclen != hlen)
		return -EINVAL;
	rc = rec_dir_init(&r->r_w, c, md, wsec, seclen, 1);
	if (rc == 0)
		rc = rec_dir_init(&r->r_r, c, md, rsec, seclen, 0);
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

ssize_t ac__tls_rec_seal(ac__tls_rec *r, uint8_t type, const uint8_t *in,
                         size_t len, uint8_t *out)
{
	ac__tls_dir *d = &r->r_w;
	uint8_t nonce[REC_IV], *body = out + AC_TLS_REC_HDR;
	size_t clen = len + 1 + AC_TLS_REC_TAG;
	int n, ok;
	if (len > AC_TLS_REC_MAX || !d->d_ctx)
		return -EPROTO;
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
	return 1;
}
