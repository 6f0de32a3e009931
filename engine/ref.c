/* engine/ref.c: references as values — the null ref, equality, formatting,
 * and making refs of local objects (which carry the scheduler's incarnation
 * and location so they stay meaningful on other nodes). */
#include "engine/engine.h"

#include <inttypes.h>

ac_ref ac_ref_null(void)
{
	ac_ref r;
	memset(&r, 0, sizeof(r));
	return r;
}

int ac_ref_is_null(ac_ref r)
{
	return r.kind == AC_REF_NONE;
}

int ac_ref_eq(ac_ref a, ac_ref b)
{
	return a.kind == b.kind && a.id == b.id && a.inc == b.inc &&
	       ac_addr_eq(&a.loc, &b.loc);
}

ac_ref ac__ref_local(ac_sched *s, uint32_t kind, uint64_t id)
{
	ac_ref r;
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.inc = s->s_inc;
	r.loc = s->s_loc;
	r.kind = kind;
	return r;
}

char *ac_ref_format(ac_ref r, char *buf, size_t len)
{
	static const char *const kinds[] = {"none", "coro", "chan", "rci"};
	char loc[AC_ADDR_STRLEN];
	const char *k = r.kind < 4 ? kinds[r.kind] : "?";
	if (r.loc.family == AC_AF_NONE)
		snprintf(loc, sizeof(loc), "local");
	else
		ac_addr_format(&r.loc, loc, sizeof(loc));
	snprintf(buf, len, "%s/%" PRIu32 ".%" PRIu32 "@%s", k,
	         (uint32_t)r.id, (uint32_t)(r.id >> 32), loc);
	return buf;
}
