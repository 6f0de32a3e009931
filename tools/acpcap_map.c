/* tools/acpcap_map.c: the hash map of acpcap_map.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "tools/acpcap_map.h"

void acp_map_init(acp_map *m)
{
	m->m_keys = NULL;
	m->m_vals = NULL;
	m->m_cap = 0;
	m->m_n = 0;
}

void acp_map_fini(acp_map *m)
{
	free(m->m_keys);
	free(m->m_vals);
	acp_map_init(m);
}

uint64_t acp_fnv(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;
	for (i = 0; i < len; i++) {
		h ^= b[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Slot index of a key: keys are mixed again, since callers may pass
 * sequential numbers. */
static size_t map_slot(const acp_map *m, uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & (m->m_cap - 1);
}

void *acp_map_get(const acp_map *m, uint64_t key)
{
	size_t i;
	if (m->m_cap == 0 || key == 0)
		return NULL;
	for (i = map_slot(m, key); m->m_keys[i] != 0; i = (i + 1) & (m->m_cap - 1))
		if (m->m_keys[i] == key)
			return m->m_vals[i];
	return NULL;
}

static void map_place(acp_map *m, uint64_t key, void *val)
{
	size_t i = map_slot(m, key);
	while (m->m_keys[i] != 0 && m->m_keys[i] != key)
		i = (i + 1) & (m->m_cap - 1);
	if (m->m_keys[i] == 0)
		m->m_n++;
	m->m_keys[i] = key;
	m->m_vals[i] = val;
}

static int map_grow(acp_map *m)
{
	acp_map n;
	size_t i;
	n.m_cap = m->m_cap ? m->m_cap * 2 : 64;
	n.m_n = 0;
	n.m_keys = calloc(n.m_cap, sizeof(*n.m_keys));
	n.m_vals = calloc(n.m_cap, sizeof(*n.m_vals));
	if (n.m_keys == NULL || n.m_vals == NULL) {
		free(n.m_keys);
		free(n.m_vals);
		return -ENOMEM;
	}
	for (i = 0; i < m->m_cap; i++)
		if (m->m_keys[i] != 0)
			map_place(&n, m->m_keys[i], m->m_vals[i]);
	acp_map_fini(m);
	*m = n;
	return 0;
}

int acp_map_put(acp_map *m, uint64_t key, void *val)
{
	if (key == 0)
		return -EINVAL;
	/* Load at most 1/2. */
	if ((m->m_n + 1) * 2 > m->m_cap && map_grow(m) < 0)
		return -ENOMEM;
	map_place(m, key, val);
	return 0;
}

void *acp_map_del(acp_map *m, uint64_t key)
{
	size_t i, j, mask = m->m_cap - 1;
	void *val;
	if (m->m_cap == 0 || key == 0)
		return NULL;
	for (i = map_slot(m, key); m->m_keys[i] != key; i = (i + 1) & mask)
		if (m->m_keys[i] == 0)
			return NULL;
	val = m->m_vals[i];
	/* Backward shift: move later members of the run into the hole when
	 * their home slot does not lie cyclically in (hole, their slot]. */
	for (j = (i + 1) & mask; m->m_keys[j] != 0; j = (j + 1) & mask) {
		size_t home = map_slot(m, m->m_keys[j]);
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->m_keys[i] = m->m_keys[j];
			m->m_vals[i] = m->m_vals[j];
			i = j;
		}
	}
	m->m_keys[i] = 0;
	m->m_vals[i] = NULL;
	m->m_n--;
	return val;
}

void acp_map_each(acp_map *m, void (*fn)(void *val))
{
	size_t i;
	for (i = 0; i < m->m_cap; i++)
		if (m->m_keys[i] != 0)
			fn(m->m_vals[i]);
}

void *acp_map_find(const acp_map *m, int (*pred)(const void *val, const void *arg),
                   const void *arg)
{
	size_t i;
	for (i = 0; i < m->m_cap; i++)
		if (m->m_keys[i] != 0 && pred(m->m_vals[i], arg))
			return m->m_vals[i];
	return NULL;
}
