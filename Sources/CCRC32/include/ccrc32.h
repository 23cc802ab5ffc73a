#ifndef CCRC32_H
#define CCRC32_H
#include <stddef.h>
#include <stdint.h>

/// Continues the CRC-32 (IEEE 802.3 / zip, reflected polynomial 0xEDB88320) of a stream: `state` is the
/// running register (start with 0xFFFFFFFF, finish by xor-ing with 0xFFFFFFFF). Uses carry-less multiply
/// (PCLMULQDQ) folding when the CPU has it, else returns `state` unchanged with *handled = 0 so the caller
/// can fall back to its table-driven code.
uint32_t ccrc32_update(uint32_t state, const uint8_t *data, size_t length, int *handled);

/// 1 when the fast path is available on this CPU.
int ccrc32_accelerated(void);

#endif
