/* Image data for the image models: Fashion-MNIST from its IDX files, binarized once with
 * a fixed seed; block-mean downsampling for small test images; seeded dead-leaves
 * images; PNG grids of samples. */
#ifndef PRIORSEP_IMAGE_DATA_H
#define PRIORSEP_IMAGE_DATA_H
#include <stdint.h>

#include "priorsep/error.h"

/* count images of height x width pixels, row-major, one byte each, values < levels. */
typedef struct ps_image_set {
    int count, height, width;
    int levels; /* 256 for 8-bit images, 2 once binarized */
    uint8_t *pixels;
} ps_image_set;

/* Where Debian's dataset-fashion-mnist puts the files. */
#define PS_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Reads an IDX image file (magic 0x00000803, unsigned bytes, 3 dimensions), gzip'd or
 * not. Checks the magic, the sizes (1..4096 per side, at least one image) and that the
 * file holds every pixel of the images it reads: the first max_count when max_count > 0
 * (the rest is not read), else all it announces. err names the file and what is wrong.
 * *out is owned by the caller (ps_image_set_free). */
int ps_idx_load(const char *path, int max_count, ps_image_set *out, ps_error *err);

/* Fashion-MNIST's "train" or "test" split from dir (NULL: PS_FASHION_MNIST_DIR). */
int ps_fashion_mnist_load(const char *dir, const char *split, int max_count,
                          ps_image_set *out, ps_error *err);

/* A set of count images of height x width, all pixels 0; what the loaders and the
 * transforms build on, and what tests use for hand-made images. Refuses empty or
 * negative sizes and a set whose pixels would not fit in memory's address range. */
int ps_image_set_alloc(int count, int height, int width, int levels, ps_image_set *out,
                       ps_error *err);

/* Frees the pixels and zeroes *s (so freeing twice is harmless). */
void ps_image_set_free(ps_image_set *s);

/* Stochastic binarization with a fixed seed: pixel 1 with probability v / 255, drawn in
 * image order from one rng, so the same seed always gives the same binary set. */
int ps_image_set_binarize(const ps_image_set *in, uint64_t seed, ps_image_set *out,
                          ps_error *err);

/* 8-bit images shrunk by an integer factor (rounded means of factor x factor blocks;
 * edge rows and columns that do not fill a block are dropped). */
int ps_image_set_downsample(const ps_image_set *in, int factor, ps_image_set *out,
                            ps_error *err);

/* Dead leaves: 8-bit images of occluding disks with gray levels uniform in 0..255 and
 * radii drawn from a power law p(r) ~ r^-3 on [r_min, r_max] pixels (r_min = 1, so every
 * disk covers a pixel; r_max = max(height, width) / 2, so one disk can fill most of the
 * image), centres uniform over the image, added until the image is covered, seeded. */
int ps_dead_leaves(int count, int height, int width, uint64_t seed, ps_image_set *out,
                   ps_error *err);

/* Writes images first .. first+count-1 as a grid `columns` wide, each image scaled by an
 * integer `zoom`, with a 1-pixel gap, as an 8-bit gray PNG (binary images shown black and
 * white). Written to a temporary file and renamed. */
int ps_png_write_grid(const char *path, const ps_image_set *s, int first, int count,
                      int columns, int zoom, ps_error *err);

#endif
