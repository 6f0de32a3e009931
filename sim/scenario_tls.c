/* sim/scenario_tls.c: the runner's --tls (ac_scenario_certfile): one
 * self-signed certificate and key, the same bytes on every run (an Ed25519
 * key from a fixed seed, fixed serial and validity 2020..2033 around the
 * simulator's virtual 2023, Ed25519 signatures being deterministic),
 * written into a node's simulated file system as SCEN_TLS_CERT. Not a
 * secret: a test key for simulated worlds only, made at run time, once per
 * process (kept until exit).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sim/scenario.h"

#define SCEN_TLS_CERT "/tls/node.pem"



static char *tls_pem;
static size_t tls_pem_len;

static X509 *scen_tls_cert(EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *nm;
	if (!x)
		return NULL;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	ASN1_TIME_set(X509_getm_notBefore(x), 1577836800); /* 2020-01-01 */
	ASN1_TIME_set(X509_getm_notAfter(x), 2000000000);  /* 2033-05-18 */
	X509_set_pubkey(x, key);
	nm = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	                           (const unsigned char *)"acsim", -1, -1, 0);
	X509_set_issuer_name(x, nm);
	if (X509_sign(x, key, NULL) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* The PEM (certificate, then key), made once. */
static int scen_tls_make(void)
{
	unsigned char seed[32];
	EVP_PKEY *key;
	X509 *x = NULL;
	BIO *b = NULL;
	char *p;
	long n;
	int rc = -ENOMEM;
	if (tls_pem)
		return 0;
	memset(seed, 0x5a, sizeof(seed));
	key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	if (key)
		x = scen_tls_cert(key);
	if (x)
		b = BIO_new(BIO_s_mem());
	if (b && PEM_write_bio_X509(b, x) == 1 &&
	    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (n = BIO_get_mem_data(b, &p)) > 0 && (tls_pem = malloc((size_t)n))) {
		memcpy(tls_pem, p, (size_t)n);
		tls_pem_len = (size_t)n;
		rc = 0;
	}
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

/* Write the PEM into the node's file system. 0 or a negative errno. */
static int scen_tls_put(ac_sim_node *sn)
{
	ac_io *io = ac_sim_node_io(sn);
	int h, rc = scen_tls_make();
	if (rc < 0)
		return rc;
	io->ops->file_mkdir(io, "/tls", 0700);
	rc = io->ops->file_open(io, SCEN_TLS_CERT,
	                        AC_FO_WRITE | AC_FO_CREATE | AC_FO_TRUNC, 0600, &h);
	if (rc < 0)
		return rc;
	if (io->ops->file_pwrite(io, h, tls_pem, tls_pem_len, 0) != (int64_t)tls_pem_len)
		rc = -EIO;
	io->ops->file_close(io, h);
	return rc;
}

const char *ac_scenario_certfile(ac_scenario_run *run, ac_sim_node *node)
{
	int rc;
	if (!run->tls)
		return NULL;
	rc = scen_tls_put(node);
	if (rc < 0) {
		ac_scenario_fail(run, "--tls: cannot write the certificate on node %s: %s",
		                 ac_sim_node_name(node), ac_strerror(rc));
		return NULL;
	}
	return SCEN_TLS_CERT;
}
