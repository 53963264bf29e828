/* IDX image files (the format of MNIST and Fashion-MNIST), gzip'd or not: a big-endian
 * header (magic 0x00000803, then count, rows, columns) and count * rows * columns bytes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "priorsep/image_data.h"

enum { IDX_IMAGES_MAGIC = 0x00000803, IDX_MAX_SIDE = 4096 };

static uint32_t big_endian32(const unsigned char *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Reads up to n bytes; returns how many were read (fewer at the end of the file), or -1
 * with err filled on a read or decompression error. */
static long read_bytes(gzFile f, const char *path, uint8_t *dst, size_t n, ps_error *err)
{
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < (1u << 30) ? n - done : (1u << 30);
        int got = gzread(f, dst + done, (unsigned)want);
        if (got < 0) {
            int code;
            const char *why = gzerror(f, &code);
            return ps_error_set(err, "%s: cannot read: %s", path,
                                code == Z_ERRNO ? strerror(errno) : why);
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    return (long)done;
}

/* Reads the `wanted` images the header announced. The buffer grows as images arrive, so
 * a header that claims more than the file holds costs no more memory than the file. */
static int read_images(gzFile f, const char *path, int wanted, ps_image_set *out,
                       ps_error *err)
{
    size_t image = (size_t)out->height * out->width;
    int capacity = wanted < 1024 ? wanted : 1024, have = 0;
    out->pixels = malloc((size_t)capacity * image);
    while (out->pixels) {
        long got = read_bytes(f, path, out->pixels + (size_t)have * image,
                              (size_t)(capacity - have) * image, err);
        if (got < 0) return -1;
        have += (int)((size_t)got / image);
        if (have < capacity)
            return ps_error_set(err, "%s: truncated: %d of %d images", path, have, wanted);
        if (have == wanted) {
            out->count = wanted;
            return 0;
        }
        capacity = capacity > wanted / 2 ? wanted : 2 * capacity;
        uint8_t *grown = realloc(out->pixels, (size_t)capacity * image);
        if (!grown) break;
        out->pixels = grown;
    }
    return ps_error_set(err, "%s: out of memory for %d images of %dx%d", path, wanted,
                        out->height, out->width);
}

int ps_idx_load(const char *path, int max_count, ps_image_set *out, ps_error *err)
{
    memset(out, 0, sizeof *out);
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return ps_error_set(err, "%s: cannot open: %s", path,
                            errno ? strerror(errno) : "out of memory");
    unsigned char header[16];
    long got = read_bytes(f, path, header, sizeof header, err);
    int status = -1;
    if (got < 0) {
        /* err filled */
    } else if (got < (long)sizeof header) {
        ps_error_set(err, "%s: not an IDX image file (%ld bytes, shorter than the header)",
                     path, got);
    } else if (big_endian32(header) != IDX_IMAGES_MAGIC) {
        ps_error_set(err, "%s: not an IDX image file (magic 0x%08x, want 0x%08x)", path,
                     (unsigned)big_endian32(header), (unsigned)IDX_IMAGES_MAGIC);
    } else {
        uint32_t count = big_endian32(header + 4), rows = big_endian32(header + 8),
                 cols = big_endian32(header + 12);
        if (rows < 1 || rows > IDX_MAX_SIDE || cols < 1 || cols > IDX_MAX_SIDE) {
            ps_error_set(err, "%s: images of %ux%u pixels (each side must be 1..%d)", path,
                         (unsigned)rows, (unsigned)cols, IDX_MAX_SIDE);
        } else if (count < 1) {
            ps_error_set(err, "%s: holds no images", path);
        } else if (max_count <= 0 && count > INT_MAX) {
            ps_error_set(err, "%s: %u images, more than can be loaded at once", path,
                         (unsigned)count);
        } else {
            int wanted = max_count > 0 && (uint32_t)max_count < count ? max_count : (int)count;
            out->height = (int)rows;
            out->width = (int)cols;
            out->levels = 256;
            if ((size_t)wanted > SIZE_MAX / ((size_t)rows * cols))
                ps_error_set(err, "%s: %d images of %ux%u do not fit in memory", path, wanted,
                             (unsigned)rows, (unsigned)cols);
            else
                status = read_images(f, path, wanted, out, err);
        }
    }
    gzclose(f);
    if (status) ps_image_set_free(out);
    return status;
}

int ps_fashion_mnist_load(const char *dir, const char *split, int max_count,
                          ps_image_set *out, ps_error *err)
{
    memset(out, 0, sizeof *out);
    const char *stem = !strcmp(split, "train") ? "train" : !strcmp(split, "test") ? "t10k" : NULL;
    if (!stem)
        return ps_error_set(err, "fashion-mnist: unknown split \"%s\" (train or test)", split);
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz",
                     dir ? dir : PS_FASHION_MNIST_DIR, stem);
    if (n < 0 || n >= (int)sizeof path)
        return ps_error_set(err, "fashion-mnist: folder name too long: %s", dir);
    /* Some copies come unpacked; gzread reads those as they are. When neither is there
     * the error names the .gz file, the one the package installs. */
    if (access(path, F_OK) != 0) {
        path[n - 3] = '\0';
        if (access(path, F_OK) != 0) path[n - 3] = '.';
    }
    return ps_idx_load(path, max_count, out, err);
}
