/* CRC-32C (Castagnoli), the checksum of every value on disk. */
#ifndef TIER_CRC32C_H
#define TIER_CRC32C_H
#include <stddef.h>
#include <stdint.h>
/* Extend crc over len bytes; start with crc = 0. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);
#endif
