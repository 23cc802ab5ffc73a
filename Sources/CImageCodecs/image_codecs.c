// PNG and JPEG decoding for the image processor. libpng and libjpeg report fatal errors by longjmp; every
// setjmp lives in this file, so no Swift frame is ever jumped over. Every read is bounds-checked against
// the caller's buffer, and the pixel count is checked before the output is allocated.
#include "image_codecs.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>

static int fail(ckpt_image *out, int code, const char *message) {
    snprintf(out->message, sizeof out->message, "%s", message);
    return code;
}

static int check_size(ckpt_image *out, uint64_t width, uint64_t height, uint64_t max_pixels) {
    if (width == 0 || height == 0) return fail(out, CKPT_IMAGE_TOO_LARGE, "the image has a side of 0 pixels");
    if (width > max_pixels || height > max_pixels || width * height > max_pixels) {
        snprintf(out->message, sizeof out->message, "the image is %llu×%llu pixels, above the limit of %llu pixels",
                 (unsigned long long)width, (unsigned long long)height, (unsigned long long)max_pixels);
        return CKPT_IMAGE_TOO_LARGE;
    }
    return CKPT_IMAGE_OK;
}

// MARK: PNG

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    ckpt_image *out;
    int code;   // set before png_error, so the setjmp handler knows what kind of failure it was
} png_source;

static void png_read_memory(png_structp png, png_bytep dest, size_t length) {
    png_source *src = (png_source *)png_get_io_ptr(png);
    if (length > src->size - src->offset) {
        snprintf(src->out->message, sizeof src->out->message,
                 "truncated: %zu bytes needed at byte %zu of %zu", length, src->offset, src->size);
        src->code = CKPT_IMAGE_CORRUPT;
        png_longjmp(png, 1);
    }
    memcpy(dest, src->data + src->offset, length);
    src->offset += length;
}

static void png_on_error(png_structp png, png_const_charp message) {
    png_source *src = (png_source *)png_get_error_ptr(png);
    if (src->code == CKPT_IMAGE_OK) {
        snprintf(src->out->message, sizeof src->out->message, "libpng: %s (near byte %zu)", message, src->offset);
        src->code = CKPT_IMAGE_CORRUPT;
    }
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp message) {
    (void)png; (void)message;   // benign (e.g. an unknown ancillary chunk); fatal problems arrive as errors
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

// Every chunk up to IEND must fit, with its CRC, in the bytes that follow its header. libpng allocates a
// chunk's declared length (up to 2^31 - 1) before it reads the data, so a 127-byte file declaring a 2 GB
// iTXt chunk made it allocate 2 GB (found by the image fuzz harness). The whole file is in memory here, so
// a length past its end is refused before libpng sees the file; what libpng allocates for a chunk is then
// at most the file's size.
static int png_check_chunks(const uint8_t *data, size_t size, ckpt_image *out) {
    size_t at = 8;
    while (size - at >= 8) {
        uint32_t length = be32(data + at);
        const uint8_t *type = data + at + 4;
        size_t after = size - at - 8;
        if (length > 0x7fffffffu || after < 4 || length > after - 4) {
            char name[5];
            for (int i = 0; i < 4; i++) name[i] = (type[i] >= 0x21 && type[i] <= 0x7e) ? (char)type[i] : '?';
            name[4] = 0;
            snprintf(out->message, sizeof out->message,
                     "chunk '%s' at byte %zu declares %u data bytes, but only %zu bytes follow its header",
                     name, at, length, after);
            return CKPT_IMAGE_CORRUPT;
        }
        if (memcmp(type, "IEND", 4) == 0) break;
        at += 12 + (size_t)length;
    }
    return CKPT_IMAGE_OK;   // a header cut short is libpng's to report (as truncated)
}

int ckpt_decode_png(const uint8_t *data, size_t size, uint64_t max_pixels, ckpt_image *out) {
    memset(out, 0, sizeof *out);
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) return fail(out, CKPT_IMAGE_CORRUPT, "not a PNG signature");
    int chunks = png_check_chunks(data, size, out);
    if (chunks != CKPT_IMAGE_OK) return chunks;
    png_source src = { data, size, 0, out, CKPT_IMAGE_OK };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return fail(out, CKPT_IMAGE_NO_MEMORY, "png_create_read_struct failed");
    png_infop info = png_create_info_struct(png);
    if (!info) { png_destroy_read_struct(&png, NULL, NULL); return fail(out, CKPT_IMAGE_NO_MEMORY, "png_create_info_struct failed"); }
    // Written after setjmp, read after a longjmp: volatile, so the handler frees what was allocated.
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        free(pixels);
        free(rows);
        png_destroy_read_struct(&png, &info, NULL);
        out->pixels = NULL;
        return src.code == CKPT_IMAGE_OK ? CKPT_IMAGE_CORRUPT : src.code;
    }
    png_set_read_fn(png, &src, png_read_memory);
    // libpng's own caps on the header's sides and on ancillary chunk sizes, before anything is allocated.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_set_chunk_malloc_max(png, 16u << 20);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color = 0;
    png_get_IHDR(png, info, &width, &height, &depth, &color, NULL, NULL, NULL);
    int code = check_size(out, width, height, max_pixels);
    if (code != CKPT_IMAGE_OK) { src.code = code; png_longjmp(png, 1); }
    if (depth == 16 && (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA)) {
        // PIL opens these as 32-bit integer images and clips (not scales) them to 8 bits when converting to RGB.
        snprintf(out->message, sizeof out->message, "16-bit grayscale PNG is not supported");
        src.code = CKPT_IMAGE_UNSUPPORTED;
        png_longjmp(png, 1);
    }
    // PIL's convert("RGB") (what transformers' load_image does to a file): palette looked up, gray replicated,
    // alpha and tRNS transparency dropped (not composited). Palettes are looked up here, from the indices:
    // libpng's own expansion turns a palette with tRNS into RGBA, and stripping that alpha again does not
    // give the plain palette colours.
    int palette = color == PNG_COLOR_TYPE_PALETTE;
    png_colorp entries = NULL;
    int entry_count = 0;
    if (palette) {
        if (!png_get_PLTE(png, info, &entries, &entry_count)) entry_count = 0;
        png_set_packing(png);   // 1, 2 and 4-bit indices one per byte
    }
    // A tRNS chunk survives PIL's convert("RGB") as a colour key (a palette tRNS only when it marks exactly
    // one entry fully transparent and the rest opaque; the raw sample values for gray and RGB), and the
    // processor's convert_to_rgb then composites the keyed pixels onto white: every pixel of that colour
    // becomes white.
    int keyed = 0;
    png_uint_16 key[3] = { 0, 0, 0 };
    if (png_get_valid(png, info, PNG_INFO_tRNS)) {
        png_bytep trans_alpha = NULL;
        int num_trans = 0;
        png_color_16p trans_color = NULL;
        png_get_tRNS(png, info, &trans_alpha, &num_trans, &trans_color);
        if (palette && trans_alpha) {
            int zeros = 0, others = 0, index = -1;
            for (int i = 0; i < num_trans; i++) {
                if (trans_alpha[i] == 0) { zeros++; index = i; } else if (trans_alpha[i] != 0xFF) others++;
            }
            if (zeros == 1 && others == 0) {
                keyed = 1;
                if (index < entry_count) { key[0] = entries[index].red; key[1] = entries[index].green; key[2] = entries[index].blue; }
            }
        } else if (!palette && trans_color) {
            keyed = 1;
            if (color == PNG_COLOR_TYPE_GRAY) { key[0] = key[1] = key[2] = trans_color->gray; }
            else { key[0] = trans_color->red; key[1] = trans_color->green; key[2] = trans_color->blue; }
        }
    }
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (color & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (depth == 16) png_set_strip_16(png);   // the high byte, as PIL's "RGB;16B" raw mode
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    size_t channels = png_get_channels(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (channels != (palette ? 1u : 3u) || png_get_bit_depth(png, info) != 8 || rowbytes != (size_t)width * channels) {
        snprintf(out->message, sizeof out->message, "unexpected PNG layout after expansion (%zu channels, %zu bytes per row)",
                 channels, rowbytes);
        src.code = CKPT_IMAGE_UNSUPPORTED;
        png_longjmp(png, 1);
    }
    // A palette image is read as indices into the tail of the buffer, then looked up front to back (each
    // index is read before its RGB triple overwrites it: output byte 3i+2 < input byte 2·(w·h)+i).
    size_t rgb_bytes = (size_t)width * 3 * height, index_offset = palette ? rgb_bytes - (size_t)width * height : 0;
    pixels = malloc(rgb_bytes);
    rows = malloc(sizeof(png_bytep) * height);
    if (!pixels || !rows) { snprintf(out->message, sizeof out->message, "out of memory"); src.code = CKPT_IMAGE_NO_MEMORY; png_longjmp(png, 1); }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = pixels + index_offset + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    free(rows);
    rows = NULL;
    if (palette) {
        const uint8_t *indices = pixels + index_offset;
        for (size_t i = 0; i < (size_t)width * height; i++) {
            uint8_t k = indices[i];
            // An index past the palette reads as black, as in PIL's zero-padded 256-entry palette.
            uint8_t r = 0, g = 0, b = 0;
            if (k < entry_count) { r = entries[k].red; g = entries[k].green; b = entries[k].blue; }
            pixels[3 * i] = r;
            pixels[3 * i + 1] = g;
            pixels[3 * i + 2] = b;
        }
    }
    png_destroy_read_struct(&png, &info, NULL);
    if (keyed) {
        for (size_t i = 0; i < (size_t)width * height; i++) {
            uint8_t *p = pixels + 3 * i;
            if (p[0] == key[0] && p[1] == key[1] && p[2] == key[2]) p[0] = p[1] = p[2] = 255;
        }
    }
    out->width = width;
    out->height = height;
    out->channels = 3;
    out->pixels = pixels;
    return CKPT_IMAGE_OK;
}

// MARK: JPEG

typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    int code;
    int too_many_scans;
} jpeg_failure;

// A progressive JPEG may hold thousands of tiny scans, each a full pass over the coefficients: a few KB of
// input could take minutes (libjpeg-turbo's own advice is to cap scans with a progress monitor).
#define CKPT_JPEG_MAX_SCANS 1000

static void jpeg_on_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > CKPT_JPEG_MAX_SCANS) {
        jpeg_failure *f = (jpeg_failure *)cinfo->err;
        f->too_many_scans = 1;
        longjmp(f->jump, 1);
    }
}

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_failure *f = (jpeg_failure *)cinfo->err;
    longjmp(f->jump, 1);
}

// libjpeg carries on past corrupt data (filling gray); a verification tool must not, so warnings are fatal.
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level < 0) jpeg_on_error(cinfo);
}

int ckpt_decode_jpeg(const uint8_t *data, size_t size, uint64_t max_pixels, ckpt_image *out) {
    memset(out, 0, sizeof *out);
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) return fail(out, CKPT_IMAGE_CORRUPT, "not a JPEG signature");
    struct jpeg_decompress_struct cinfo;
    jpeg_failure err;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = jpeg_on_error;
    err.base.emit_message = jpeg_on_message;
    err.code = CKPT_IMAGE_CORRUPT;
    err.too_many_scans = 0;
    struct jpeg_progress_mgr progress;
    memset(&progress, 0, sizeof progress);
    progress.progress_monitor = jpeg_on_progress;
    uint8_t *volatile pixels = NULL;
    if (setjmp(err.jump)) {
        if (err.too_many_scans) {
            snprintf(out->message, sizeof out->message, "more than %d progressive scans", CKPT_JPEG_MAX_SCANS);
        } else if (err.code == CKPT_IMAGE_CORRUPT) {
            char text[JMSG_LENGTH_MAX];
            err.base.format_message((j_common_ptr)&cinfo, text);
            snprintf(out->message, sizeof out->message, "libjpeg: %s", text);
        }
        free(pixels);
        jpeg_destroy_decompress(&cinfo);
        out->pixels = NULL;
        return err.code;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.progress = &progress;
    // The DCT coefficient and marker buffers are allocated by libjpeg from the header; cap them too.
    cinfo.mem->max_memory_to_use = 1024L << 20;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    if (jpeg_read_header(&cinfo, TRUE) != JPEG_HEADER_OK) { err.code = CKPT_IMAGE_CORRUPT; snprintf(out->message, sizeof out->message, "no JPEG image in the data"); longjmp(err.jump, 1); }
    int code = check_size(out, cinfo.image_width, cinfo.image_height, max_pixels);
    if (code != CKPT_IMAGE_OK) { err.code = code; longjmp(err.jump, 1); }
    if (cinfo.jpeg_color_space != JCS_GRAYSCALE && cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_RGB) {
        err.code = CKPT_IMAGE_UNSUPPORTED;
        snprintf(out->message, sizeof out->message, "JPEG color space %d (CMYK or YCCK) is not supported", (int)cinfo.jpeg_color_space);
        longjmp(err.jump, 1);
    }
    cinfo.out_color_space = JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3 || cinfo.output_width != cinfo.image_width || cinfo.output_height != cinfo.image_height) {
        err.code = CKPT_IMAGE_UNSUPPORTED;
        snprintf(out->message, sizeof out->message, "unexpected JPEG output (%d components)", cinfo.output_components);
        longjmp(err.jump, 1);
    }
    size_t rowbytes = (size_t)cinfo.output_width * 3;
    pixels = malloc(rowbytes * cinfo.output_height);
    if (!pixels) { err.code = CKPT_IMAGE_NO_MEMORY; snprintf(out->message, sizeof out->message, "out of memory"); longjmp(err.jump, 1); }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = pixels + (size_t)cinfo.output_scanline * rowbytes;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            err.code = CKPT_IMAGE_CORRUPT;
            snprintf(out->message, sizeof out->message, "JPEG data ended at row %u of %u", cinfo.output_scanline, cinfo.output_height);
            longjmp(err.jump, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    out->width = cinfo.output_width;
    out->height = cinfo.output_height;
    out->channels = 3;
    out->pixels = pixels;
    jpeg_destroy_decompress(&cinfo);
    return CKPT_IMAGE_OK;
}

void ckpt_image_free(ckpt_image *image) {
    if (!image) return;
    free(image->pixels);
    image->pixels = NULL;
}
