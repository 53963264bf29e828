/* Dead-leaves images: a stack of opaque disks seen from above. Drawn front to back, each
 * disk only paints the pixels no disk before it covered, which is the same picture as
 * dropping them back to front with later ones on top, but stops as soon as every pixel
 * is painted. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/image_data.h"
#include "priorsep/rng.h"

/* A radius from p(r) ~ r^-3 on [r_min, r_max] by inverting its distribution function
 * F(r) = (r_min^-2 - r^-2) / (r_min^-2 - r_max^-2). */
static double power_law_radius(ps_rng *rng, double r_min, double r_max)
{
    double a = 1.0 / (r_min * r_min), b = 1.0 / (r_max * r_max);
    return 1.0 / sqrt(a - ps_rng_uniform(rng) * (a - b));
}

/* Paints the uncovered pixels of a disk centred at (cx, cy) (pixel centres at x + 0.5)
 * with `gray`; returns how many it painted. */
static int paint_disk(uint8_t *img, uint8_t *covered, int height, int width, double cx,
                      double cy, double r, uint8_t gray)
{
    int y0 = (int)floor(cy - r), y1 = (int)ceil(cy + r), x0 = (int)floor(cx - r),
        x1 = (int)ceil(cx + r), painted = 0;
    if (y0 < 0) y0 = 0;
    if (x0 < 0) x0 = 0;
    if (y1 > height) y1 = height;
    if (x1 > width) x1 = width;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            double dy = y + 0.5 - cy, dx = x + 0.5 - cx;
            if (covered[y * width + x] || dx * dx + dy * dy > r * r) continue;
            covered[y * width + x] = 1;
            img[y * width + x] = gray;
            painted++;
        }
    return painted;
}

int ps_dead_leaves(int count, int height, int width, uint64_t seed, ps_image_set *out,
                   ps_error *err)
{
    /* The side limit of the IDX files keeps pixel indices in int. */
    if (height > 4096 || width > 4096) {
        memset(out, 0, sizeof *out);
        return ps_error_set(err, "dead leaves: %dx%d images (each side at most 4096)", height,
                            width);
    }
    if (ps_image_set_alloc(count, height, width, 256, out, err)) return -1;
    int pixels = height * width;
    uint8_t *covered = malloc((size_t)pixels);
    if (!covered) {
        ps_image_set_free(out);
        return ps_error_set(err, "dead leaves: out of memory for %dx%d", height, width);
    }
    double r_min = 1.0, r_max = fmax(r_min, 0.5 * (height > width ? height : width));
    /* A disk centred in a pixel's square covers it (r >= 1 > the half-diagonal), so each
     * disk covers a given pixel with probability at least 1 / pixels, and after
     * 32 * pixels disks it is left with probability below e^-32: the cap only bounds
     * the loop. */
    long max_disks = 32L * pixels;
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    for (int n = 0; n < count; n++) {
        uint8_t *img = out->pixels + (size_t)n * pixels;
        memset(covered, 0, (size_t)pixels);
        int left = pixels;
        for (long d = 0; d < max_disks && left > 0; d++) {
            double cx = ps_rng_uniform(&rng) * width, cy = ps_rng_uniform(&rng) * height;
            double r = power_law_radius(&rng, r_min, r_max);
            uint8_t gray = (uint8_t)(ps_rng_u64(&rng) >> 56);
            left -= paint_disk(img, covered, height, width, cx, cy, r, gray);
        }
        /* Past the cap, a last leaf lies under everything. */
        if (left > 0) {
            uint8_t gray = (uint8_t)(ps_rng_u64(&rng) >> 56);
            for (int i = 0; i < pixels; i++)
                if (!covered[i]) img[i] = gray;
        }
    }
    free(covered);
    return 0;
}
