/* io/crc32.h: CRC-32 with zlib's crc32() result, faster (io/crc32.c):
 * the record writer and readers checksum frames with it. */
#ifndef AC_IO_CRC32_H
#define AC_IO_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* zlib's crc32(crc, buf, len) for the same arguments (crc 0 to start; the
 * result of one call continues in the next): PCLMULQDQ folding on x86_64
 * CPUs that have it, else zlib's crc32 (slice-by-8 for short tails).
 * Thread-safe. */
uint32_t ac__crc32(uint32_t crc, const void *buf, size_t len);
/* The same, always slice-by-8 (for tests). */
uint32_t ac__crc32_portable(uint32_t crc, const void *buf, size_t len);

#endif /* AC_IO_CRC32_H */
