// SHA-256 (FIPS 180-4), with the x86 SHA extensions where the CPU has them.
#ifndef CSHA256_H
#define CSHA256_H

#include <stddef.h>
#include <stdint.h>

/// A running SHA-256: the chaining state, the bytes seen so far and the partial block.
typedef struct {
    uint32_t state[8];
    uint64_t length;
    uint8_t block[64];
    uint32_t buffered;
    int32_t portable;   // 1: never use the SHA extensions (tests compare both paths)
} csha256_ctx;

/// Starts a digest. `portable` forces the plain C compression function.
void csha256_init(csha256_ctx *ctx, int portable);
void csha256_update(csha256_ctx *ctx, const uint8_t *bytes, size_t count);
/// Pads, writes the 32-byte digest into `out`; the context is spent afterwards.
void csha256_final(csha256_ctx *ctx, uint8_t out[32]);
/// 1 when the SHA extensions are used on this CPU.
int csha256_accelerated(void);

#endif
