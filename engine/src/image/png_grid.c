/* A grid of images as an 8-bit grayscale PNG: signature, IHDR, one IDAT (zlib stream of
 * rows, each with filter byte 0), IEND; written to a temporary file and renamed. */
#include "priorsep/image_data.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../atomic_file.h"

enum { GAP_GRAY = 128, MAX_SIDE = 1 << 15 };

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk (length, type, data, CRC of type and data) at p; returns its end. */
static uint8_t *put_chunk(uint8_t *p, const char type[4], const uint8_t *data, uint32_t n)
{
    put32(p, n);
    memcpy(p + 4, type, 4);
    if (n) memcpy(p + 8, data, n);
    put32(p + 8 + n, (uint32_t)crc32(crc32(0L, Z_NULL, 0), p + 4, n + 4));
    return p + 12 + n;
}

/* The grid's rows, each led by PNG's filter byte 0 (none). Pixels of L levels are shown
 * as round(v * 255 / (L - 1)), so binary images are black and white. */
static void draw_grid(uint8_t *raw, int W, int H, const ps_image_set *s, int first,
                      int count, int columns, int zoom)
{
    memset(raw, GAP_GRAY, (size_t)H * (W + 1));
    for (int y = 0; y < H; y++) raw[(size_t)y * (W + 1)] = 0;
    int cell_w = s->width * zoom + 1, cell_h = s->height * zoom + 1, L = s->levels;
    for (int k = 0; k < count; k++) {
        const uint8_t *img = s->pixels + (size_t)(first + k) * s->height * s->width;
        int top = (k / columns) * cell_h, left = (k % columns) * cell_w;
        for (int y = 0; y < s->height * zoom; y++) {
            uint8_t *row = raw + (size_t)(top + y) * (W + 1) + 1 + left;
            for (int x = 0; x < s->width * zoom; x++) {
                int v = img[(y / zoom) * s->width + x / zoom];
                row[x] = (uint8_t)((v * 255 + (L - 1) / 2) / (L - 1));
            }
        }
    }
}

/* The encoded picture, for the atomic writer. */
typedef struct bytes {
    const uint8_t *data;
    size_t size;
} bytes;

static int write_bytes(int fd, void *ctx)
{
    const bytes *b = ctx;
    return ps_write_all(fd, b->data, b->size);
}

int ps_png_write_grid(const char *path, const ps_image_set *s, int first, int count,
                      int columns, int zoom, ps_error *err)
{
    if (first < 0 || count < 1 || first > s->count - count)
        return ps_error_set(err, "%s: images %d..%d of a set of %d", path, first,
                            first + count - 1, s->count);
    if (columns < 1 || zoom < 1 || zoom > MAX_SIDE || s->levels < 2)
        return ps_error_set(err, "%s: %d columns at zoom %d (%d levels) make no grid", path,
                            columns, zoom, s->levels);
    if (columns > count) columns = count;
    int rows = (count + columns - 1) / columns;
    long W = (long)columns * (s->width * (long)zoom + 1) - 1,
         H = (long)rows * (s->height * (long)zoom + 1) - 1;
    if (W > MAX_SIDE || H > MAX_SIDE)
        return ps_error_set(err, "%s: a grid of %ldx%ld pixels is too large (at most %d a side)",
                            path, W, H, MAX_SIDE);
    uLong raw_size = (uLong)H * (uLong)(W + 1), packed_size = compressBound(raw_size);
    uint8_t *raw = malloc(raw_size), *png = malloc(8 + 25 + 12 + packed_size + 12);
    uint8_t *packed = malloc(packed_size);
    int rc = -1;
    if (!raw || !png || !packed) {
        ps_error_set(err, "%s: out of memory for a %ldx%ld grid", path, W, H);
    } else {
        draw_grid(raw, (int)W, (int)H, s, first, count, columns, zoom);
        int z = compress2(packed, &packed_size, raw, raw_size, Z_BEST_COMPRESSION);
        if (z != Z_OK) {
            ps_error_set(err, "%s: cannot compress the image: %s", path, zError(z));
        } else {
            static const uint8_t signature[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
            uint8_t ihdr[13] = {0};
            put32(ihdr, (uint32_t)W);
            put32(ihdr + 4, (uint32_t)H);
            ihdr[8] = 8; /* bits per sample; colour type 0 (gray), no interlace */
            memcpy(png, signature, 8);
            uint8_t *end = put_chunk(png + 8, "IHDR", ihdr, 13);
            end = put_chunk(end, "IDAT", packed, (uint32_t)packed_size);
            end = put_chunk(end, "IEND", NULL, 0);
            rc = ps_write_file_atomically(path, write_bytes,
                                          &(bytes){png, (size_t)(end - png)}, err);
        }
    }
    free(raw);
    free(png);
    free(packed);
    return rc;
}
