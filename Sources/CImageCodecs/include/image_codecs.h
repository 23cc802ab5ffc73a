#ifndef CKPT_IMAGE_CODECS_H
#define CKPT_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

/// Result codes of the decoders. libpng's and libjpeg's fatal errors (which longjmp) end inside the shim:
/// the Swift caller only ever sees one of these codes and a message.
enum {
    CKPT_IMAGE_OK = 0,
    /// The bytes are not a well-formed image of the format (bad signature, CRC, truncated data, bad markers).
    CKPT_IMAGE_CORRUPT = 1,
    /// A well-formed image of a kind the processor does not handle (CMYK JPEG, 16-bit grayscale PNG).
    CKPT_IMAGE_UNSUPPORTED = 2,
    /// Width·height is above the caller's limit, or a side is zero.
    CKPT_IMAGE_TOO_LARGE = 3,
    /// malloc failed.
    CKPT_IMAGE_NO_MEMORY = 4,
};

/// A decoded image: 8-bit RGB samples, row-major, interleaved (`channels` is 3).
typedef struct {
    uint32_t width;
    uint32_t height;
    uint32_t channels;
    /// malloc'd width·height·channels bytes; release with ckpt_image_free.
    uint8_t *pixels;
    /// Set with a non-zero result: what went wrong, from the library where it said.
    char message[256];
} ckpt_image;

/// Decodes a PNG held in memory into RGB as transformers' processor sees a PNG file (PIL's convert("RGB"),
/// then convert_to_rgb): palettes expanded, gray replicated, alpha dropped, pixels of a tRNS colour key made
/// white, 16-bit samples reduced to their high byte, interlacing undone.
int ckpt_decode_png(const uint8_t *data, size_t size, uint64_t max_pixels, ckpt_image *out);

/// Decodes a baseline or progressive JPEG held in memory into RGB (gray replicated) with libjpeg's
/// defaults (integer slow DCT, fancy upsampling). Any corrupt-data warning is an error.
int ckpt_decode_jpeg(const uint8_t *data, size_t size, uint64_t max_pixels, ckpt_image *out);

/// Releases the pixels of a decoded image (safe on a failed or zeroed one).
void ckpt_image_free(ckpt_image *image);

#endif
