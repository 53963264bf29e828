/* Image data: IDX files (bad ones refused with the file named, the real Fashion-MNIST
 * against checksums), binarization, downsampling, dead leaves, PNG grids read back with
 * a decoder of our own, and the independent-pixel baseline on a hand-computed case. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "image_checks.h"
#include "priorsep/image_data.h"
#include "priorsep/image_train.h"
#include "priorsep/rng.h"

/* ---- a temporary folder per test (checked fixture) ------------------------------------ */

static char tmpdir[64];

static void tmpdir_create(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/priorsep-image-data.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Removes the folder and the files in it (the tests make no subfolders). */
static void tmpdir_remove(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        ck_assert_int_eq(unlink(path), 0);
    }
    closedir(d);
    ck_assert_int_eq(rmdir(tmpdir), 0);
}

static const char *tmp_path(const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

/* ---- IDX files --------------------------------------------------------------------------- */

/* An IDX header (magic, count, rows, columns) followed by n_pixels bytes 0, 1, 2, ...,
 * plain or gzip'd. */
static void write_idx(const char *path, int gz, uint32_t magic, uint32_t count, uint32_t rows,
                      uint32_t cols, size_t n_pixels)
{
    uint32_t fields[4] = {magic, count, rows, cols};
    unsigned char *bytes = malloc(16 + n_pixels);
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++) bytes[4 * i + b] = (unsigned char)(fields[i] >> (24 - 8 * b));
    for (size_t i = 0; i < n_pixels; i++) bytes[16 + i] = (unsigned char)i;
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, bytes, (unsigned)(16 + n_pixels)), (int)(16 + n_pixels));
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(bytes, 1, 16 + n_pixels, f), 16 + n_pixels);
        ck_assert_int_eq(fclose(f), 0);
    }
    free(bytes);
}

/* Loading path must fail with a message that starts with the file's name and contains
 * `want`, and leave an empty set behind. */
static void expect_refused(const char *path, int max_count, const char *want)
{
    ps_image_set s;
    ps_error err = {{0}};
    ck_assert_int_eq(ps_idx_load(path, max_count, &s, &err), -1);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "file not named: %s", err.msg);
    ck_assert_msg(strstr(err.msg, want), "\"%s\" not in: %s", want, err.msg);
    ck_assert_ptr_null(s.pixels);
    ck_assert_int_eq(s.count, 0);
}

START_TEST(idx_refuses_wrong_magic)
{
    const char *path = tmp_path("labels-idx1-ubyte");
    write_idx(path, 0, 0x00000801, 3, 2, 2, 12);
    expect_refused(path, 0, "not an IDX image file (magic 0x00000801");
    /* Shorter than the header. */
    write_idx(path, 0, 0x00000803, 1, 1, 1, 0);
    ck_assert_int_eq(truncate(path, 10), 0);
    expect_refused(path, 0, "not an IDX image file");
}
END_TEST

START_TEST(idx_refuses_truncated_file)
{
    /* 3 images of 2x2 announced, 2.5 there: both complete images are counted. */
    const char *path = tmp_path("short.gz");
    write_idx(path, 1, 0x00000803, 3, 2, 2, 10);
    expect_refused(path, 0, "truncated: 2 of 3 images");
    /* The two that are there load when only those are asked for. */
    ps_image_set s;
    ps_error err;
    ck_assert_msg(ps_idx_load(path, 2, &s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.count, 2);
    ps_image_set_free(&s);
    /* A header that claims four billion images costs only what the file holds. */
    write_idx(path, 1, 0x00000803, 0xffffffffu, 28, 28, 3 * 784);
    expect_refused(path, 2000000000, "truncated: 3 of 2000000000 images");
}
END_TEST

START_TEST(idx_refuses_absurd_dimensions)
{
    const char *path = tmp_path("absurd");
    write_idx(path, 0, 0x00000803, 1, 0, 28, 0);
    expect_refused(path, 0, "0x28 pixels");
    write_idx(path, 0, 0x00000803, 1, 28, 5000, 0);
    expect_refused(path, 0, "28x5000 pixels");
    write_idx(path, 0, 0x00000803, 0, 28, 28, 0);
    expect_refused(path, 0, "no images");
    write_idx(path, 0, 0x00000803, 0x80000000u, 1, 1, 0);
    expect_refused(path, 0, "more than can be loaded");
}
END_TEST

START_TEST(idx_refuses_missing_file)
{
    expect_refused(tmp_path("nothing-here.gz"), 0, "cannot open: No such file");
    /* Neither the .gz nor the plain file: the message names the .gz the package ships. */
    ps_image_set s;
    ps_error err;
    ck_assert_int_eq(ps_fashion_mnist_load(tmpdir, "test", 0, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "t10k-images-idx3-ubyte.gz: cannot open"), "%s", err.msg);
    ck_assert_int_eq(ps_fashion_mnist_load(tmpdir, "validation", 0, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown split \"validation\""), "%s", err.msg);
}
END_TEST

START_TEST(idx_loads_plain_and_gzip)
{
    for (int gz = 0; gz < 2; gz++) {
        /* Only the unpacked name: ps_fashion_mnist_load falls back to it. */
        const char *path = tmp_path(gz ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte");
        write_idx(path, gz, 0x00000803, 3, 2, 3, 18);
        ps_image_set s;
        ps_error err;
        ck_assert_msg(ps_fashion_mnist_load(tmpdir, gz ? "train" : "test", 0, &s, &err) == 0,
                      "%s", err.msg);
        ck_assert_int_eq(s.count, 3);
        ck_assert_int_eq(s.height, 2);
        ck_assert_int_eq(s.width, 3);
        ck_assert_int_eq(s.levels, 256);
        for (int i = 0; i < 18; i++) ck_assert_int_eq(s.pixels[i], i);
        ps_image_set_free(&s);
        ck_assert_msg(ps_idx_load(path, 2, &s, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(s.count, 2);
        ps_image_set_free(&s);
    }
}
END_TEST

/* ---- the real Fashion-MNIST (only where the package is installed) ------------------------- */

/* Sum of the pixels and sum of (index + 1) * pixel over all images in file order. The
 * figures below were computed once with this function and checked by hand against
 * Python reading the files directly:
 *   d = gzip.open(f).read()[16:]; sum(d); sum((i + 1) * b for i, b in enumerate(d)) */
static void checksums(const ps_image_set *s, uint64_t *sum, uint64_t *weighted)
{
    size_t n = (size_t)s->count * s->height * s->width;
    *sum = *weighted = 0;
    for (size_t i = 0; i < n; i++) {
        *sum += s->pixels[i];
        *weighted += (uint64_t)(i + 1) * s->pixels[i];
    }
}

START_TEST(fashion_mnist_loads_with_known_checksums)
{
    static const struct {
        const char *split;
        int count;
        uint64_t sum, weighted;
    } want[] = {{"train", 60000, 3431114169ull, 80794196444447784ull},
                {"test", 10000, 573469082ull, 2247812563106913ull}};
    for (int i = 0; i < 2; i++) {
        ps_image_set s;
        ps_error err;
        ck_assert_msg(ps_fashion_mnist_load(NULL, want[i].split, 0, &s, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(s.count, want[i].count);
        ck_assert_int_eq(s.height, 28);
        ck_assert_int_eq(s.width, 28);
        ck_assert_int_eq(s.levels, 256);
        uint64_t sum, weighted;
        checksums(&s, &sum, &weighted);
        ck_assert_uint_eq(sum, want[i].sum);
        ck_assert_uint_eq(weighted, want[i].weighted);
        ps_image_set_free(&s);
    }
}
END_TEST

START_TEST(small_fashion_is_7x7_binary)
{
    ps_image_set s;
    ck_assert_int_eq(image_small_fashion("train", 200, 4, &s), 0);
    ck_assert_int_eq(s.count, 200);
    ck_assert_int_eq(s.height, 7);
    ck_assert_int_eq(s.width, 7);
    ck_assert_int_eq(s.levels, 2);
    long ones = 0;
    for (int i = 0; i < 200 * 49; i++) {
        ck_assert_int_le(s.pixels[i], 1);
        ones += s.pixels[i];
    }
    /* Clothes cover roughly half the frame: neither blank nor full. */
    ck_assert_int_gt(ones, 200 * 49 / 5);
    ck_assert_int_lt(ones, 200 * 49 * 4 / 5);
    ps_image_set_free(&s);
}
END_TEST

/* ---- binarization and downsampling ------------------------------------------------------- */

static ps_image_set random_8bit(int count, int h, int w, uint64_t seed)
{
    ps_image_set s;
    ps_error err;
    ck_assert_msg(ps_image_set_alloc(count, h, w, 256, &s, &err) == 0, "%s", err.msg);
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)count * h * w; i++) s.pixels[i] = (uint8_t)(ps_rng_u64(&rng) >> 56);
    return s;
}

START_TEST(binarize_is_seeded_and_unbiased)
{
    enum { N = 2000 };
    ps_image_set in = random_8bit(N, 28, 28, 7), a, b, c;
    in.pixels[0] = 0;
    in.pixels[1] = 255;
    ps_error err;
    ck_assert_int_eq(ps_image_set_binarize(&in, 1, &a, &err), 0);
    ck_assert_int_eq(ps_image_set_binarize(&in, 1, &b, &err), 0);
    ck_assert_int_eq(ps_image_set_binarize(&in, 2, &c, &err), 0);
    size_t n = (size_t)N * 28 * 28;
    ck_assert_int_eq(a.levels, 2);
    ck_assert_int_eq(memcmp(a.pixels, b.pixels, n), 0);
    ck_assert_int_ne(memcmp(a.pixels, c.pixels, n), 0);
    ck_assert_int_eq(a.pixels[0], 0);
    ck_assert_int_eq(a.pixels[1], 1);
    double ones = 0, expect = 0, variance = 0;
    for (size_t i = 0; i < n; i++) {
        double p = in.pixels[i] / 255.0;
        ck_assert_int_le(a.pixels[i], 1);
        ones += a.pixels[i];
        expect += p;
        variance += p * (1 - p);
    }
    /* A sum of 1.6 million independent Bernoulli(v / 255), standard deviation about 510:
     * 5 of them (a false alarm about once in 2 million seeds; a bias of 1/255 per pixel,
     * 6150 ones, would be 12). */
    ck_assert_msg(fabs(ones - expect) < 5 * sqrt(variance), "%g ones, expected %g +- %g", ones,
                  expect, sqrt(variance));
    ps_image_set_free(&a);
    ps_image_set_free(&b);
    ps_image_set_free(&c);
    /* Only 8-bit images binarize. */
    ps_image_set_free(&in);
    ck_assert_int_eq(ps_image_set_alloc(1, 2, 2, 2, &in, &err), 0);
    ck_assert_int_eq(ps_image_set_binarize(&in, 1, &a, &err), -1);
    ck_assert_msg(strstr(err.msg, "2 levels"), "%s", err.msg);
    ck_assert_ptr_null(a.pixels);
    ps_image_set_free(&in);
}
END_TEST

START_TEST(downsample_takes_rounded_block_means)
{
    /* 5x5 by 2: the blocks' sums 0+1+2+3 = 6 (mean 1.5 -> 2), 10+10+11+11 (10.5 -> 11),
     * 255 * 4 and 7 + 8 + 8 + 8 (7.75 -> 8); the last row and column are dropped. */
    static const uint8_t img[25] = {
        0, 1, 10, 10, 99,   2, 3, 11, 11, 99,   255, 255, 7, 8, 99,
        255, 255, 8, 8, 99, 99, 99, 99, 99, 99,
    };
    ps_image_set in, out;
    ps_error err;
    ck_assert_int_eq(ps_image_set_alloc(2, 5, 5, 256, &in, &err), 0);
    memcpy(in.pixels, img, 25);
    memcpy(in.pixels + 25, img, 25);
    ck_assert_msg(ps_image_set_downsample(&in, 2, &out, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(out.count, 2);
    ck_assert_int_eq(out.height, 2);
    ck_assert_int_eq(out.width, 2);
    ck_assert_int_eq(out.levels, 256);
    static const uint8_t want[4] = {2, 11, 255, 8};
    ck_assert_int_eq(memcmp(out.pixels, want, 4), 0);
    ck_assert_int_eq(memcmp(out.pixels + 4, want, 4), 0);
    ps_image_set_free(&out);
    ck_assert_int_eq(ps_image_set_downsample(&in, 6, &out, &err), -1);
    ck_assert_msg(strstr(err.msg, "factor 6"), "%s", err.msg);
    ps_image_set_free(&in);
}
END_TEST

/* ---- dead leaves ------------------------------------------------------------------------ */

START_TEST(dead_leaves_are_seeded_flat_patches_with_edges)
{
    enum { N = 100, H = 28, W = 28 };
    ps_image_set a, b, c;
    ps_error err;
    ck_assert_msg(ps_dead_leaves(N, H, W, 5, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ps_dead_leaves(N, H, W, 5, &b, &err), 0);
    ck_assert_int_eq(ps_dead_leaves(N, H, W, 6, &c, &err), 0);
    ck_assert_int_eq(a.levels, 256);
    ck_assert_int_eq(memcmp(a.pixels, b.pixels, (size_t)N * H * W), 0);
    ck_assert_int_ne(memcmp(a.pixels, c.pixels, (size_t)N * H * W), 0);
    long histogram[256] = {0}, equal = 0;
    double mean = 0;
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int v = a.pixels[((size_t)n * H + y) * W + x];
                histogram[v]++;
                mean += v;
                if (x > 0) equal += v == a.pixels[((size_t)n * H + y) * W + x - 1];
            }
    mean /= (double)N * H * W;
    int used = 0;
    for (int v = 0; v < 256; v++) used += histogram[v] > 0;
    /* Gray levels uniform per disk, thousands of disks: nearly every level shows up and
     * the mean is near 127.5 (area-weighted, so it wanders more than a plain mean: a
     * 25-level margin). Unpainted pixels would be 0s; one disk in 256 is 0, so more than
     * 5 % zeros means pixels were left out. */
    ck_assert_int_ge(used, 200);
    ck_assert_msg(fabs(mean - 127.5) < 25, "mean %g", mean);
    ck_assert_msg(histogram[0] < 0.05 * N * H * W, "%ld zeros", histogram[0]);
    /* Flat areas and edges: most horizontal neighbours share a disk, but not all. */
    double frac = (double)equal / ((double)N * H * (W - 1));
    ck_assert_msg(frac > 0.5 && frac < 0.99, "equal neighbours %g", frac);
    ps_image_set_free(&a);
    ps_image_set_free(&b);
    ps_image_set_free(&c);
}
END_TEST

/* ---- PNG grids, read back ---------------------------------------------------------------- */

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A decoder for what ps_png_write_grid writes: 8-bit gray, no interlace. Checks the
 * signature, every chunk's CRC, IHDR, the IEND and the filter bytes (all 0); returns the
 * W x H pixels (malloc'd). */
static uint8_t *png_read_gray(const char *path, int *W, int *H)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)size);
    ck_assert_int_eq(fread(b, 1, (size_t)size, f), size);
    fclose(f);
    static const unsigned char signature[8] = {137, 'P', 'N', 'G', '\r', '\n', 26, '\n'};
    ck_assert_int_eq(memcmp(b, signature, 8), 0);
    unsigned char *idat = NULL;
    size_t idat_size = 0;
    int seen_end = 0;
    *W = *H = 0;
    for (long at = 8; at < size;) {
        ck_assert_int_le(at + 12, size);
        uint32_t n = get32(b + at);
        ck_assert_int_le(at + 12 + (long)n, size);
        const unsigned char *type = b + at + 4, *data = b + at + 8;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), type, n + 4);
        ck_assert_uint_eq(crc, get32(data + n));
        if (!memcmp(type, "IHDR", 4)) {
            ck_assert_int_eq(n, 13);
            *W = (int)get32(data);
            *H = (int)get32(data + 4);
            ck_assert_int_eq(data[8], 8);  /* bit depth */
            ck_assert_int_eq(data[9], 0);  /* gray */
            ck_assert_int_eq(data[10], 0); /* deflate */
            ck_assert_int_eq(data[11], 0); /* filter method */
            ck_assert_int_eq(data[12], 0); /* no interlace */
        } else if (!memcmp(type, "IDAT", 4)) {
            idat = realloc(idat, idat_size + n);
            memcpy(idat + idat_size, data, n);
            idat_size += n;
        } else if (!memcmp(type, "IEND", 4)) {
            ck_assert_int_eq(n, 0);
            seen_end = 1;
            ck_assert_int_eq(at + 12, size);
        }
        at += 12 + (long)n;
    }
    ck_assert(seen_end);
    ck_assert_int_gt(*W, 0);
    uLong raw_size = (uLong)*H * (*W + 1), got = raw_size;
    unsigned char *raw = malloc(raw_size);
    ck_assert_int_eq(uncompress(raw, &got, idat, idat_size), Z_OK);
    ck_assert_uint_eq(got, raw_size);
    uint8_t *pixels = malloc((size_t)*W * *H);
    for (int y = 0; y < *H; y++) {
        ck_assert_int_eq(raw[(size_t)y * (*W + 1)], 0);
        memcpy(pixels + (size_t)y * *W, raw + (size_t)y * (*W + 1) + 1, (size_t)*W);
    }
    free(raw);
    free(idat);
    free(b);
    return pixels;
}

/* Writes images first.. of s as a grid and compares the PNG pixel by pixel with where
 * each pixel should come from: an image pixel (scaled to 0..255) or the gray gap. */
static void check_round_trip(const ps_image_set *s, int first, int count, int columns, int zoom)
{
    const char *path = tmp_path("grid.png");
    ps_error err;
    ck_assert_msg(ps_png_write_grid(path, s, first, count, columns, zoom, &err) == 0, "%s",
                  err.msg);
    int W, H;
    uint8_t *png = png_read_gray(path, &W, &H);
    /* A grid never is wider than its images. */
    if (columns > count) columns = count;
    int cell_w = s->width * zoom + 1, cell_h = s->height * zoom + 1;
    int rows = (count + columns - 1) / columns;
    ck_assert_int_eq(W, columns * cell_w - 1);
    ck_assert_int_eq(H, rows * cell_h - 1);
    for (int Y = 0; Y < H; Y++)
        for (int X = 0; X < W; X++) {
            int k = (Y / cell_h) * columns + X / cell_w, x = X % cell_w, y = Y % cell_h;
            int want = 128;
            if (k < count && x < s->width * zoom && y < s->height * zoom) {
                int v = s->pixels[((size_t)(first + k) * s->height + y / zoom) * s->width + x / zoom];
                want = (int)lround(v * 255.0 / (s->levels - 1));
            }
            ck_assert_msg(png[Y * W + X] == want, "(%d, %d): %d, want %d", X, Y, png[Y * W + X], want);
        }
    free(png);
}

START_TEST(png_grid_round_trips)
{
    ps_image_set gray = random_8bit(7, 3, 2, 11), binary;
    ps_error err;
    ck_assert_int_eq(ps_image_set_binarize(&gray, 3, &binary, &err), 0);
    check_round_trip(&gray, 1, 5, 2, 3);   /* last row half empty */
    check_round_trip(&binary, 0, 7, 7, 1); /* one row, black and white */
    check_round_trip(&binary, 6, 1, 4, 2); /* one image, fewer than the columns */
    /* Nothing left behind but the picture. */
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) files += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(files, 1);
    /* Refusals name the file. */
    const char *bad = tmp_path("no-such-folder/grid.png");
    ck_assert_int_eq(ps_png_write_grid(bad, &gray, 0, 1, 1, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, bad) == err.msg, "%s", err.msg);
    ck_assert_int_eq(ps_png_write_grid(tmp_path("g.png"), &gray, 5, 3, 1, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, "images 5..7 of a set of 7"), "%s", err.msg);
    ps_image_set_free(&gray);
    ps_image_set_free(&binary);
}
END_TEST

/* ---- the independent-pixel baseline ------------------------------------------------------ */

START_TEST(independent_nll_matches_hand_computation)
{
    /* Training images [0 1] and [0 0]: first pixel counts (2, 0), second (1, 1); with the
     * KT half-counts p(first = 1) = 0.5 / 3, p(first = 0) = 2.5 / 3, p(second = 1) =
     * p(second = 0) = 1.5 / 3. Test [1 1]: -log(1/6 * 1/2) = log 12; [0 0]:
     * -log(5/6 * 1/2) = log 2.4. */
    ps_image_set train, test;
    ps_error err;
    ck_assert_int_eq(ps_image_set_alloc(2, 1, 2, 2, &train, &err), 0);
    ck_assert_int_eq(ps_image_set_alloc(2, 1, 2, 2, &test, &err), 0);
    memcpy(train.pixels, (uint8_t[]){0, 1, 0, 0}, 4);
    memcpy(test.pixels, (uint8_t[]){1, 1, 0, 0}, 4);
    double nll = ps_image_independent_nll(&train, &test);
    ck_assert_double_eq_tol(nll, 0.5 * (log(12.0) + log(2.4)), 1e-12);
    ps_image_set_free(&train);
    ps_image_set_free(&test);
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *files = tcase_create("idx");
    tcase_add_checked_fixture(files, tmpdir_create, tmpdir_remove);
    tcase_add_test(files, idx_refuses_wrong_magic);
    tcase_add_test(files, idx_refuses_truncated_file);
    tcase_add_test(files, idx_refuses_absurd_dimensions);
    tcase_add_test(files, idx_refuses_missing_file);
    tcase_add_test(files, idx_loads_plain_and_gzip);
    tcase_add_test(files, png_grid_round_trips);
    suite_add_tcase(s, files);
    TCase *sets = tcase_create("sets");
    tcase_add_test(sets, binarize_is_seeded_and_unbiased);
    tcase_add_test(sets, downsample_takes_rounded_block_means);
    tcase_add_test(sets, dead_leaves_are_seeded_flat_patches_with_edges);
    tcase_add_test(sets, independent_nll_matches_hand_computation);
    suite_add_tcase(s, sets);
    /* The real data only where dataset-fashion-mnist is installed. */
    if (access(PS_FASHION_MNIST_DIR "/train-images-idx3-ubyte.gz", R_OK) == 0) {
        TCase *fashion = tcase_create("fashion-mnist");
        tcase_set_timeout(fashion, 120);
        tcase_add_test(fashion, fashion_mnist_loads_with_known_checksums);
        tcase_add_test(fashion, small_fashion_is_7x7_binary);
        suite_add_tcase(s, fashion);
    } else {
        printf("skipped the Fashion-MNIST tests: %s not installed\n", PS_FASHION_MNIST_DIR);
    }
    return s;
}
