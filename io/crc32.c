/* io/crc32.c: CRC-32 as zlib's crc32() computes it (the reflected
 * polynomial 0xEDB88320, initial value and final xor 0xFFFFFFFF), faster:
 * records checksum every frame with it (io/record.h), and zlib's is the
 * largest cost of recording.
 *
 * Two ways, the same result:
 *   - slice-by-8: eight 256-entry tables (t[k][b] is the CRC of byte b
 *     followed by k zero bytes) let eight input bytes be folded per step
 *     with eight lookups;
 *   - on x86_64 with PCLMULQDQ (checked at run time, once): carry-less
 *     multiplication folds 64 bytes per step into four 128-bit
 *     accumulators, then folds them to one and reduces it to 32 bits
 *     (Barrett reduction), after Gopal et al., "Fast CRC Computation for
 *     Generic Polynomials Using PCLMULQDQ Instruction" (Intel, 2009). The
 *     constants are x^n mod P for the n the folding distances need, bit
 *     reflected, as that paper derives them.
 * The tables are computed once (pthread_once), from the polynomial.
 * Without PCLMULQDQ, runs of 64 bytes and more go to zlib's crc32 (its
 * braided loop measured as fast as slice-by-8 here), and slice-by-8 does
 * short runs and the tail after the folding.
 */
#include "config.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <zlib.h>

#include "io/crc32.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define CRC_PCLMUL 1
#endif

#define CRC_POLY 0xEDB88320u

static uint32_t crc_t[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
#ifdef CRC_PCLMUL
static int crc_has_pclmul;
#endif

static void crc_init(void)
{
	uint32_t c;
	int b, k, i;

	for (b = 0; b < 256; b++) {
		c = (uint32_t)b;
		for (i = 0; i < 8; i++)
			c = (c & 1) ? (c >> 1) ^ CRC_POLY : c >> 1;
		crc_t[0][b] = c;
	}
	for (b = 0; b < 256; b++)
		for (k = 1; k < 8; k++)
			crc_t[k][b] = (crc_t[k - 1][b] >> 8) ^ crc_t[0][crc_t[k - 1][b] & 0xff];
#ifdef CRC_PCLMUL
	{
		unsigned a, bb, cc, d;
		crc_has_pclmul = __get_cpuid(1, &a, &bb, &cc, &d) && (cc & bit_PCLMUL) &&
		                 (cc & bit_SSE4_1);
	}
#endif
}

/* The inner state (not inverted) over n bytes, eight at a time. */
static uint32_t crc_slice8(uint32_t c, const uint8_t *p, size_t n)
{
	uint32_t lo, hi;

	while (n > 0 && ((uintptr_t)p & 7) != 0) {
		c = (c >> 8) ^ crc_t[0][(c ^ *p++) & 0xff];
		n--;
	}
	while (n >= 8) {
		memcpy(&lo, p, 4);
		memcpy(&hi, p + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		lo = __builtin_bswap32(lo);
		hi = __builtin_bswap32(hi);
#endif
		lo ^= c;
		c = crc_t[7][lo & 0xff] ^ crc_t[6][(lo >> 8) & 0xff] ^
		    crc_t[5][(lo >> 16) & 0xff] ^ crc_t[4][lo >> 24] ^
		    crc_t[3][hi & 0xff] ^ crc_t[2][(hi >> 8) & 0xff] ^
		    crc_t[1][(hi >> 16) & 0xff] ^ crc_t[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = (c >> 8) ^ crc_t[0][(c ^ *p++) & 0xff];
	return c;
}

#ifdef CRC_PCLMUL
/* One 128-bit fold: x times the constants k (x^(d+32) and x^(d-32) mod P
 * for the folding distance d), plus the data y. */
__attribute__((target("pclmul,sse4.1")))
static inline __m128i crc_fold(__m128i x, __m128i k, __m128i y)
{
	__m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
	__m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
	return _mm_xor_si128(_mm_xor_si128(lo, hi), y);
}

/* The inner state (not inverted) over n bytes, n >= 64 and a multiple of
 * 16. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc_pclmul(uint32_t c, const uint8_t *p, size_t n)
{
	/* Folding by 512 bits: x^(512+32), x^(512-32) mod P; by 128 bits:
	 * x^(128+32), x^(128-32); 64 to 32: x^64; Barrett: mu and P. */
	const __m128i k512 = _mm_set_epi64x(0x1c6e41596LL, 0x154442bd4LL);
	const __m128i k128 = _mm_set_epi64x(0x0ccaa009eLL, 0x1751997d0LL);
	const __m128i k64 = _mm_set_epi64x(0, 0x163cd6124LL);
	const __m128i kb = _mm_set_epi64x(0x1f7011641LL, 0x1db710641LL);
	const __m128i m32 = _mm_set_epi32(0, -1, 0, -1);
	__m128i x0, x1, x2, x3, t;

	x0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
	x1 = _mm_loadu_si128((const __m128i *)(p + 16));
	x2 = _mm_loadu_si128((const __m128i *)(p + 32));
	x3 = _mm_loadu_si128((const __m128i *)(p + 48));
	p += 64;
	n -= 64;
	while (n >= 64) {
		x0 = crc_fold(x0, k512, _mm_loadu_si128((const __m128i *)p));
		x1 = crc_fold(x1, k512, _mm_loadu_si128((const __m128i *)(p + 16)));
		x2 = crc_fold(x2, k512, _mm_loadu_si128((const __m128i *)(p + 32)));
		x3 = crc_fold(x3, k512, _mm_loadu_si128((const __m128i *)(p + 48)));
		p += 64;
		n -= 64;
	}
	x0 = crc_fold(x0, k128, x1);
	x0 = crc_fold(x0, k128, x2);
	x0 = crc_fold(x0, k128, x3);
	while (n >= 16) {
		x0 = crc_fold(x0, k128, _mm_loadu_si128((const __m128i *)p));
		p += 16;
		n -= 16;
	}
	/* 128 bits to 64: the low half times x^(128-32)... then 96 to 64. */
	t = _mm_clmulepi64_si128(x0, k128, 0x10);
	x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), t);
	t = _mm_srli_si128(x0, 4);
	x0 = _mm_clmulepi64_si128(_mm_and_si128(x0, m32), k64, 0x00);
	x0 = _mm_xor_si128(x0, t);
	/* Barrett reduction to 32 bits. */
	t = _mm_clmulepi64_si128(_mm_and_si128(x0, m32), kb, 0x10);
	t = _mm_clmulepi64_si128(_mm_and_si128(t, m32), kb, 0x00);
	x0 = _mm_xor_si128(x0, t);
	return (uint32_t)_mm_extract_epi32(x0, 1);
}
#endif

uint32_t ac__crc32(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	pthread_once(&crc_once, crc_init);
#ifdef CRC_PCLMUL
	if (crc_has_pclmul && len >= 64) {
		size_t n = len & ~(size_t)15;
		c = crc_pclmul(c, p, n);
		p += n;
		len -= n;
	} else if (len >= 64 && len <= UINT32_MAX) {
		/* No PCLMULQDQ: zlib's own (braided) loop is as fast as ours. */
		return (uint32_t)crc32(crc, p, (uInt)len);
	}
#else
	if (len >= 64 && len <= UINT32_MAX)
		return (uint32_t)crc32(crc, p, (uInt)len);
#endif
	return ~crc_slice8(c, p, len);
}

uint32_t ac__crc32_portable(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	return ~crc_slice8(~crc, buf, len);
}
