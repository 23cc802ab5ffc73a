// CRC-32 by folding with carry-less multiplication.
//
// The message is consumed 64 bytes at a time in four 128-bit accumulators; each step multiplies an
// accumulator's halves by the constants x^(512±32) mod P (reflected) and xors in the next 16 bytes, which
// keeps the accumulators congruent to the message modulo P. The four are then folded into one with the
// x^(128±32) constants, the remaining 16-byte blocks are folded in, and a Barrett reduction turns the
// 128-bit remainder into the 32-bit CRC. Lengths below 64 bytes, and the tail after the last whole
// 16-byte block, go through a small table loop. Constants are those of the reflected IEEE polynomial.
#include "ccrc32.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <cpuid.h>

static uint32_t table[256];
static int table_ready;

static void build_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    table_ready = 1;
}

static uint32_t bytewise(uint32_t c, const uint8_t *p, size_t n) {
    if (!table_ready) build_table();
    while (n--) c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c;
}

int ccrc32_accelerated(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_PCLMUL) && (c & bit_SSE4_1);
}

__attribute__((target("pclmul,sse4.1")))
static uint32_t fold(uint32_t crc, const uint8_t *p, size_t n) {
    const __m128i k1k2 = _mm_set_epi64x(0x00000001c6e41596LL, 0x0000000154442bd4LL); // x^(512+32), x^(512-32)
    const __m128i k3k4 = _mm_set_epi64x(0x00000000ccaa009eLL, 0x00000001751997d0LL); // x^(128+32), x^(128-32)
    const __m128i k5 = _mm_set_epi64x(0, 0x0000000163cd6124LL);                       // x^64 mod P
    const __m128i poly_mu = _mm_set_epi64x(0x00000001f7011641LL, 0x00000001db710641LL); // mu, P'
    const __m128i mask32 = _mm_set_epi32(0, 0, 0, -1);

    __m128i x0 = _mm_loadu_si128((const __m128i *)(p + 0));
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)crc));
    p += 64;
    n -= 64;
    while (n >= 64) {
        __m128i y0 = _mm_clmulepi64_si128(x0, k1k2, 0x00), y1 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
        __m128i y2 = _mm_clmulepi64_si128(x2, k1k2, 0x00), y3 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
        x0 = _mm_clmulepi64_si128(x0, k1k2, 0x11);
        x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
        x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
        x0 = _mm_xor_si128(_mm_xor_si128(x0, y0), _mm_loadu_si128((const __m128i *)(p + 0)));
        x1 = _mm_xor_si128(_mm_xor_si128(x1, y1), _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, y2), _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, y3), _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        n -= 64;
    }
    // Four accumulators into one.
    __m128i y;
    y = _mm_clmulepi64_si128(x0, k3k4, 0x00); x0 = _mm_clmulepi64_si128(x0, k3k4, 0x11); x1 = _mm_xor_si128(_mm_xor_si128(x1, y), x0);
    y = _mm_clmulepi64_si128(x1, k3k4, 0x00); x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11); x2 = _mm_xor_si128(_mm_xor_si128(x2, y), x1);
    y = _mm_clmulepi64_si128(x2, k3k4, 0x00); x2 = _mm_clmulepi64_si128(x2, k3k4, 0x11); x0 = _mm_xor_si128(_mm_xor_si128(x3, y), x2);
    // Remaining whole 16-byte blocks.
    while (n >= 16) {
        y = _mm_clmulepi64_si128(x0, k3k4, 0x00);
        x0 = _mm_clmulepi64_si128(x0, k3k4, 0x11);
        x0 = _mm_xor_si128(_mm_xor_si128(x0, y), _mm_loadu_si128((const __m128i *)p));
        p += 16;
        n -= 16;
    }
    // 128 bits to 64, then Barrett reduction to 32.
    y = _mm_clmulepi64_si128(x0, k3k4, 0x10);
    x0 = _mm_xor_si128(_mm_srli_si128(x0, 8), y);
    y = _mm_srli_si128(x0, 4);
    x0 = _mm_and_si128(x0, mask32);
    x0 = _mm_clmulepi64_si128(x0, k5, 0x00);
    x0 = _mm_xor_si128(x0, y);
    y = _mm_and_si128(x0, mask32);
    y = _mm_clmulepi64_si128(y, poly_mu, 0x10);
    y = _mm_and_si128(y, mask32);
    y = _mm_clmulepi64_si128(y, poly_mu, 0x00);
    x0 = _mm_xor_si128(x0, y);
    uint32_t c = (uint32_t)_mm_extract_epi32(x0, 1);
    return bytewise(c, p, n);
}

uint32_t ccrc32_update(uint32_t state, const uint8_t *data, size_t length, int *handled) {
    static int accel = -1;
    if (accel < 0) accel = ccrc32_accelerated();
    if (!accel) { *handled = 0; return state; }
    *handled = 1;
    if (length < 64) return bytewise(state, data, length);
    return fold(state, data, length);
}

#else
int ccrc32_accelerated(void) { return 0; }
uint32_t ccrc32_update(uint32_t state, const uint8_t *data, size_t length, int *handled) {
    (void)data; (void)length;
    *handled = 0;
    return state;
}
#endif
