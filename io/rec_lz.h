/* io/rec_lz.h: the record's block compressor (io/rec_lz.c), a small
 * LZ77 of our own: literal runs and back-references of at most 65,535
 * bytes, found greedily through a hash table of 4-byte sequences. The
 * stream format is doc/record.md's "Compressed blocks". Deterministic: the
 * same input gives the same output on every machine. */
#ifndef AC_IO_REC_LZ_H
#define AC_IO_REC_LZ_H

#include <stddef.h>
#include <stdint.h>

/* Largest input ac__lz_compress takes (positions are kept in 32 bits). */
#define AC_LZ_INPUT_MAX (1u << 30)
/* A valid stream of n bytes never decodes to more than AC_LZ_RATIO * n
 * bytes (a reader may rely on it to bound what is left to read). */
#define AC_LZ_RATIO 255u
/* Entries of the compressor's hash table (callers allocate it). */
#define AC_LZ_TABLE (1u << 12)

/* Compress src[0..n) (n <= AC_LZ_INPUT_MAX) into dst, which has room for
 * cap bytes. table (AC_LZ_TABLE entries) is scratch: its contents on entry
 * do not matter and are overwritten. Returns the compressed length (1 ..
 * cap), or 0 when the result would not fit in cap bytes (give cap = n - 1
 * to learn whether compressing shrinks the input at all). Writes at most
 * cap bytes of dst; reads only src[0..n). */
size_t ac__lz_compress(const uint8_t *src, size_t n, uint8_t *dst, size_t cap,
                       uint32_t *table);

/* Decompress the n bytes at src into dst, which must receive exactly raw
 * bytes. Safe on any input: reads only src[0..n), writes only
 * dst[0..raw). Returns 0 when src is a valid stream that decodes to
 * exactly raw bytes and ends where its last sequence ends, else -1
 * (dst's contents are then unspecified). */
int ac__lz_decompress(const uint8_t *src, size_t n, uint8_t *dst, size_t raw);

#endif /* AC_IO_REC_LZ_H */
