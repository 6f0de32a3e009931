/* engine/refset.c: a set of ref pairs — the monitors of a coroutine
 * (engine/coro.c, pairs (monitor, none)) and the watch records of a peer
 * (net/remote_monitor.c, pairs (monitor, target)) — with adds, lookups and
 * removals in O(1) on average and a bound on its size, so that a peer that
 * sends monitor after monitor costs neither quadratic time nor unbounded
 * memory.
 *
 * Open addressing with linear probing, at most half full, removal by
 * backward shift (no tombstones). An empty slot has a.kind AC_REF_NONE
 * (pairs always have a real first ref). Slots are hashed with the set's
 * key, which its owner takes from ac__sched_hash_key (drawn once from the
 * backend's entropy), so a peer cannot choose refs that collide;
 * iteration order depends only on the key and the operations, so the
 * simulator stays deterministic.
 */
#include "engine/engine.h"

/* The smallest table. */
#define REFSET_MIN 8

/* splitmix64's finaliser. */
static uint64_t refset_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t refset_hash(uint64_t key, const ac_ref *a, const ac_ref *b)
{
	uint64_t h = refset_mix(key ^ a->id);
	h = refset_mix(h ^ a->inc ^ ((uint64_t)a->loc.port << 48));
	h = refset_mix(h ^ b->id);
	return refset_mix(h ^ b->inc ^ ((uint64_t)b->loc.port << 48));
}

static int refset_eq(const ac__refpair *e, const ac_ref *a, const ac_ref *b)
{
	return ac_ref_eq(e->a, *a) && ac_ref_eq(e->b, *b);
}

/* The slot of (a, b), or of the empty slot where it would go. */
static uint32_t refset_slot(const ac__refset *rs, const ac_ref *a,
                            const ac_ref *b)
{
	uint32_t mask = rs->rs_cap - 1;
	uint32_t i = (uint32_t)refset_hash(rs->rs_key, a, b) & mask;
	/* At most half full: an empty slot ends every probe. */
	while (rs->rs_tab[i].a.kind != AC_REF_NONE && !refset_eq(&rs->rs_tab[i], a, b))
		i = (i + 1) & mask;
	return i;
}

static int refset_grow(ac__refset *rs)
{
	ac__refset n = *rs;
	uint32_t i;
	n.rs_cap = rs->rs_cap ? rs->rs_cap * 2 : REFSET_MIN;
	if (n.rs_cap < rs->rs_cap)
		return -ENOMEM;
	n.rs_tab = ac__calloc(n.rs_cap, sizeof(*n.rs_tab));
	if (!n.rs_tab)
		return -ENOMEM;
	for (i = 0; i < rs->rs_cap; i++) {
		const ac__refpair *e = &rs->rs_tab[i];
		if (e->a.kind != AC_REF_NONE)
			n.rs_tab[refset_slot(&n, &e->a, &e->b)] = *e;
	}
	ac__free(rs->rs_tab);
	*rs = n;
	return 0;
}

int ac__refset_add(ac__refset *rs, ac_ref a, ac_ref b, uint32_t max)
{
	uint32_t i;
	AC_ASSERT(a.kind != AC_REF_NONE);
	if (rs->rs_cap) {
		i = refset_slot(rs, &a, &b);
		if (rs->rs_tab[i].a.kind != AC_REF_NONE)
			return 0;
	}
	if (rs->rs_n >= max)
		return -ENOBUFS;
	if ((rs->rs_n + 1) * 2 > rs->rs_cap && refset_grow(rs) < 0)
		return -ENOMEM;
	i = refset_slot(rs, &a, &b);
	AC_ASSERT(rs->rs_tab[i].a.kind == AC_REF_NONE);
	rs->rs_tab[i].a = a;
	rs->rs_tab[i].b = b;
	rs->rs_n++;
	AC_ASSERT(rs->rs_n * 2 <= rs->rs_cap);
	return 1;
}

int ac__refset_has(const ac__refset *rs, ac_ref a, ac_ref b)
{
	return rs->rs_cap && rs->rs_tab[refset_slot(rs, &a, &b)].a.kind != AC_REF_NONE;
}

int ac__refset_del(ac__refset *rs, ac_ref a, ac_ref b)
{
	uint32_t mask, i, j;
	if (!rs->rs_cap)
		return 0;
	mask = rs->rs_cap - 1;
	i = refset_slot(rs, &a, &b);
	if (rs->rs_tab[i].a.kind == AC_REF_NONE)
		return 0;
	/* Backward shift: move up each later entry of the run whose home
	 * slot is not between the hole and it. */
	for (j = (i + 1) & mask; rs->rs_tab[j].a.kind != AC_REF_NONE; j = (j + 1) & mask) {
		const ac__refpair *e = &rs->rs_tab[j];
		uint32_t home = (uint32_t)refset_hash(rs->rs_key, &e->a, &e->b) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			rs->rs_tab[i] = *e;
			i = j;
		}
	}
	memset(&rs->rs_tab[i], 0, sizeof(rs->rs_tab[i]));
	rs->rs_n--;
	return 1;
}

void ac__refset_free(ac__refset *rs)
{
	uint64_t key = rs->rs_key;
	ac__free(rs->rs_tab);
	memset(rs, 0, sizeof(*rs));
	rs->rs_key = key;
}
