/* sim/sim_rng.c: the simulator's one source of randomness.
 *
 * xoshiro256** 1.0 (Blackman and Vigna, https://prng.di.unimi.it/), seeded by
 * expanding the 64-bit seed with splitmix64 as its authors recommend, plus
 * the few distributions the simulator needs: bounded integers (Lemire's
 * multiply-shift with rejection, no modulo bias), [0, 1) doubles, Bernoulli
 * trials and a capped exponential. The exponential uses its own logarithm so
 * that the library does not need libm; the arithmetic is plain IEEE double,
 * so a given build gives bit-identical draws. FNV-1a 64 (for BUGGIFY site
 * names) lives here too. This file depends on nothing else in the library
 * but the assertion handler (io/io_assert.c).
 */
#include "sim/sim.h"

static inline uint64_t sim_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t ac__sim_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void ac__sim_rng_seed(ac__sim_rng *r, uint64_t seed)
{
	uint64_t st = seed;
	int i;
	for (i = 0; i < 4; i++)
		r->r_s[i] = ac__sim_splitmix64(&st);
	/* splitmix64 is a bijection of distinct states: never all zero. */
	AC_ASSERT(r->r_s[0] | r->r_s[1] | r->r_s[2] | r->r_s[3]);
}

uint64_t ac__sim_rng_next(ac__sim_rng *r)
{
	uint64_t *s = r->r_s;
	const uint64_t result = sim_rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = sim_rotl(s[3], 45);
	return result;
}

uint64_t ac__sim_rng_below(ac__sim_rng *r, uint64_t n)
{
	unsigned __int128 m;
	uint64_t lo;
	AC_ASSERT(n > 0);
	m = (unsigned __int128)ac__sim_rng_next(r) * n;
	lo = (uint64_t)m;
	if (lo < n) {
		uint64_t threshold = -n % n;
		while (lo < threshold) {
			m = (unsigned __int128)ac__sim_rng_next(r) * n;
			lo = (uint64_t)m;
		}
	}
	return (uint64_t)(m >> 64);
}

int64_t ac__sim_rng_range(ac__sim_rng *r, int64_t lo, int64_t hi)
{
	uint64_t span;
	AC_ASSERT(lo <= hi);
	span = (uint64_t)hi - (uint64_t)lo;
	if (span == UINT64_MAX)
		return (int64_t)ac__sim_rng_next(r);
	return (int64_t)((uint64_t)lo + ac__sim_rng_below(r, span + 1));
}

double ac__sim_rng_unit(ac__sim_rng *r)
{
	return (double)(ac__sim_rng_next(r) >> 11) * 0x1.0p-53;
}

int ac__sim_rng_chance(ac__sim_rng *r, double p)
{
	if (!(p > 0.0))
		return 0;
	if (p >= 1.0)
		return 1;
	return ac__sim_rng_unit(r) < p;
}

/* Natural logarithm of x in (0, 1], from the binary exponent and the
 * series ln(m) = 2 atanh((m - 1) / (m + 1)) for the mantissa m in [1, 2). */
static double sim_ln(double x)
{
	uint64_t bits;
	int64_t e;
	double m, z, z2, term, sum;
	int k;
	AC_ASSERT(x > 0.0);
	memcpy(&bits, &x, sizeof(bits));
	e = (int64_t)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
	memcpy(&m, &bits, sizeof(m));
	z = (m - 1.0) / (m + 1.0);
	z2 = z * z;
	term = z;
	sum = 0.0;
	for (k = 1; k <= 25; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return (double)e * 0.69314718055994530942 + 2.0 * sum;
}

int64_t ac__sim_rng_exp(ac__sim_rng *r, int64_t mean)
{
	double u, x;
	if (mean <= 0)
		return 0;
	/* u in (0, 1]: never the logarithm of zero. */
	u = 1.0 - ac__sim_rng_unit(r);
	x = -sim_ln(u) * (double)mean;
	if (x > 10.0 * (double)mean)
		x = 10.0 * (double)mean;
	return (int64_t)x;
}

uint64_t ac__sim_fnv1a(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;
	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}
