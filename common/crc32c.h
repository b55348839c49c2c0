/* CRC-32C (Castagnoli): the checksum of every value, in memory (store), on disk (diskval)
 * and on the peer links (repl); libcacheclient links it too (hidden, as all of common/) for
 * shared-memory reads (docs/shm-reads.md). With SSE 4.2 the CPU's crc32 instruction
 * computes it; elsewhere a table, slicing by 8 bytes. Both give the same results. */
#ifndef COMMON_CRC32C_H
#define COMMON_CRC32C_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* Extend crc over len bytes; start with crc = 0. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
/* The table version alone: the reference a known-answer test holds the other to. */
uint32_t crc32c_table(uint32_t crc, const void *data, size_t len);
/* Does crc32c() use the CPU's instruction? */
bool crc32c_hw(void);
#endif
