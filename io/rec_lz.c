/* io/rec_lz.c: the record's block compressor, a small LZ77 of our own
 * (written for the record writer: zlib's level 1 measured several times
 * too slow for the bytes a busy node records).
 *
 * A stream is a sequence of sequences (doc/record.md, "Compressed
 * blocks"): a token byte (high nibble: the literal count, low nibble: the
 * match length minus 4; 15 in either means more length bytes follow, each
 * added, until one below 255), the literals, then a 2-byte little-endian
 * distance (1 .. 65,535) and the match, which copies that many bytes from
 * that far back in the output (it may overlap what it writes). The stream
 * ends after a match, or after the literals of a last sequence that has
 * no match (its low nibble is 0).
 *
 * The compressor is greedy: at each position it hashes the next 4 bytes,
 * looks up the last position with the same hash (a table of AC_LZ_TABLE
 * entries, cleared per call, so the output depends on the input only),
 * and when the 4 bytes really match within 65,535 bytes it extends the
 * match both ways and emits it. On a miss it moves on by 1 + misses / 64
 * bytes: incompressible input is skipped over quickly. The decompressor
 * checks every length and distance against what is there: any input is
 * either a valid stream or rejected, without reading or writing out of
 * bounds (it is fuzzed through the record reader).
 */
#include "config.h"

#include <string.h>

#include "io/rec_lz.h"

#define LZ_MIN 4
#define LZ_DIST_MAX 65535u

/* 4 bytes as a little-endian number (the same hash on every machine). */
static inline uint32_t lz_rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint32_t lz_hash(uint32_t v)
{
	return (v * 2654435761u) >> (32 - 12);
}

/* How many bytes from a on equal those from b (a > b), up to end. */
static inline size_t lz_count(const uint8_t *a, const uint8_t *b, const uint8_t *end)
{
	const uint8_t *s = a;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while ((size_t)(end - a) >= 8) {
		uint64_t x, y;
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return (size_t)(a - s) + (size_t)__builtin_ctzll(x ^ y) / 8;
		a += 8;
		b += 8;
	}
#endif
	while (a < end && *a == *b) {
		a++;
		b++;
	}
	return (size_t)(a - s);
}

/* The extra length bytes of v (>= 0) at dst[op]; returns the new op. */
static inline size_t lz_putlen(uint8_t *dst, size_t op, size_t v)
{
	while (v >= 255) {
		dst[op++] = 255;
		v -= 255;
	}
	dst[op++] = (uint8_t)v;
	return op;
}

/* Append at dst[op] a sequence: lit literals from l, then, when mlen > 0,
 * a match of mlen (>= LZ_MIN) bytes at distance off. Returns the new op,
 * or 0 when it does not fit in cap. */
static size_t lz_emit(uint8_t *dst, size_t op, size_t cap, const uint8_t *l, size_t lit,
                      size_t off, size_t mlen)
{
	size_t m = mlen ? mlen - LZ_MIN : 0;
	size_t need = 1 + lit + (lit >= 15 ? (lit - 15) / 255 + 1 : 0) +
	              (mlen ? 2 + (m >= 15 ? (m - 15) / 255 + 1 : 0) : 0);
	size_t tok = op;

	if (need > cap - op)
		return 0;
	dst[op++] = (uint8_t)((lit >= 15 ? 15 : lit) << 4);
	if (lit >= 15)
		op = lz_putlen(dst, op, lit - 15);
	memcpy(dst + op, l, lit);
	op += lit;
	if (mlen == 0)
		return op;
	dst[op++] = (uint8_t)off;
	dst[op++] = (uint8_t)(off >> 8);
	dst[tok] |= (uint8_t)(m >= 15 ? 15 : m);
	if (m >= 15)
		op = lz_putlen(dst, op, m - 15);
	return op;
}

size_t ac__lz_compress(const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                       uint32_t *table)
{
	size_t ip = 0, anchor = 0, op = 0, miss = 0;

	if (n > AC_LZ_INPUT_MAX || cap == 0)
		return 0;
	memset(table, 0, AC_LZ_TABLE * sizeof(*table));
	while (n >= 2 * LZ_MIN && ip <= n - LZ_MIN) {
		uint32_t seq = lz_rd32(src + ip), h = lz_hash(seq);
		size_t cand = table[h], len;
		table[h] = (uint32_t)ip;
		if (cand >= ip || ip - cand > LZ_DIST_MAX || lz_rd32(src + cand) != seq) {
			ip += 1 + (miss++ >> 6);
			continue;
		}
		while (ip > anchor && cand > 0 && src[ip - 1] == src[cand - 1]) {
			ip--;
			cand--;
		}
		len = LZ_MIN + lz_count(src + ip + LZ_MIN, src + cand + LZ_MIN, src + n);
		op = lz_emit(dst, op, cap, src + anchor, ip - anchor, ip - cand, len);
		if (op == 0)
			return 0;
		ip += len;
		anchor = ip;
		miss = 0;
		if (ip <= n - LZ_MIN)
			table[lz_hash(lz_rd32(src + ip - 2))] = (uint32_t)(ip - 2);
	}
	if (anchor < n || op == 0)
		op = lz_emit(dst, op, cap, src + anchor, n - anchor, 0, 0);
	return op;
}

/* Add the extra length bytes at src[*ip] to *v; -1 when they run past n
 * or the length exceeds limit (no valid stream has it). */
static inline int lz_getlen(const uint8_t *src, size_t n, size_t *ip, size_t *v,
                            size_t limit)
{
	uint8_t b;

	do {
		if (*ip >= n)
			return -1;
		b = src[(*ip)++];
		*v += b;
		if (*v > limit)
			return -1;
	} while (b == 255);
	return 0;
}

/* Copy the match of m bytes at distance off to dst[op] (both checked);
 * raw is dst's size, which 8-byte steps may use up to. */
static inline void lz_copy(uint8_t *dst, size_t op, size_t off, size_t m, size_t raw)
{
	uint8_t *d = dst + op, *end = d + m;
	const uint8_t *s = d - off;

	if (off >= 8 && raw - op >= m + 8) {
		do {
			memcpy(d, s, 8);
			d += 8;
			s += 8;
		} while (d < end);
		return;
	}
	while (d < end)
		*d++ = *s++;
}

int ac__lz_decompress(const uint8_t *src, size_t n, uint8_t *dst, size_t raw)
{
	size_t ip = 0, op = 0;

	while (ip < n) {
		unsigned t = src[ip++];
		size_t lit = t >> 4, m = (t & 15) + LZ_MIN, off;
		if (lit == 15 && lz_getlen(src, n, &ip, &lit, raw) < 0)
			return -1;
		if (lit > n - ip || lit > raw - op)
			return -1;
		memcpy(dst + op, src + ip, lit);
		ip += lit;
		op += lit;
		if (ip == n)
			return (t & 15) == 0 && op == raw ? 0 : -1;
		if (n - ip < 2)
			return -1;
		off = (size_t)src[ip] | (size_t)src[ip + 1] << 8;
		ip += 2;
		if (off == 0 || off > op)
			return -1;
		if ((t & 15) == 15 && lz_getlen(src, n, &ip, &m, raw) < 0)
			return -1;
		if (m > raw - op)
			return -1;
		lz_copy(dst, op, off, m, raw);
		op += m;
	}
	return op == raw ? 0 : -1;
}
