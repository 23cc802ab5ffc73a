#ifndef CTRANSPOSE_H
#define CTRANSPOSE_H
#include <stddef.h>
#include <stdint.h>

/// dst[r * dst_row_stride + c] = src[c * src_col_stride + r] for r < rows, c < cols, on 16-bit elements
/// (bf16, f16). Strides are in elements. The fused-expert layouts of Qwen3-VL MoE are this transpose of
/// every expert matrix, so it carries most of the bytes of an import or export.
void ctranspose16(size_t rows, size_t cols, const uint16_t *src, size_t src_col_stride,
                  uint16_t *dst, size_t dst_row_stride);

/// The same on 32-bit elements (fp32 checkpoints).
void ctranspose32(size_t rows, size_t cols, const uint32_t *src, size_t src_col_stride,
                  uint32_t *dst, size_t dst_row_stride);

#endif
