/* tools/acpcap_map.h: a small hash map from non-zero 64-bit keys to
 * pointers (open addressing, linear probing, backward-shift deletion), for
 * acpcap's tables of operations and connections. Iteration order is never
 * used, so the tables cannot make output depend on addresses.
 */
#ifndef AC_TOOLS_ACPCAP_MAP_H
#define AC_TOOLS_ACPCAP_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct acp_map {
	/* Slots: key 0 is empty. */
	uint64_t *m_keys;
	void **m_vals;
	/* Number of slots (0 or a power of two). */
	size_t m_cap;
	/* Keys stored. */
	size_t m_n;
} acp_map;

/* An empty map (no memory until the first put). */
void acp_map_init(acp_map *m);
/* Free the slots (not the values). */
void acp_map_fini(acp_map *m);
/* The value of key, or NULL. key must not be 0. */
void *acp_map_get(const acp_map *m, uint64_t key);
/* Set key's value (replacing any). Returns 0 or -ENOMEM. */
int acp_map_put(acp_map *m, uint64_t key, void *val);
/* Remove key; returns its value, or NULL when absent. */
void *acp_map_del(acp_map *m, uint64_t key);
/* Call fn on every value (in slot order: use only to free values). */
void acp_map_each(acp_map *m, void (*fn)(void *val));
/* Some value for which pred(val, arg) is non-zero, or NULL. */
void *acp_map_find(const acp_map *m, int (*pred)(const void *val, const void *arg),
                   const void *arg);

/* FNV-1a over len bytes, continuing from h (start with ACP_FNV_INIT). */
#define ACP_FNV_INIT 0xcbf29ce484222325ULL
uint64_t acp_fnv(uint64_t h, const void *p, size_t len);

#endif /* AC_TOOLS_ACPCAP_MAP_H */
