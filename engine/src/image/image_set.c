/* Image sets: allocation and the two transforms the models' data go through, block-mean
 * downsampling and seeded stochastic binarization. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/image_data.h"
#include "priorsep/rng.h"

int ps_image_set_alloc(int count, int height, int width, int levels, ps_image_set *out,
                       ps_error *err)
{
    memset(out, 0, sizeof *out);
    if (count < 1 || height < 1 || width < 1 || levels < 2 || levels > 256)
        return ps_error_set(err, "image set: %d images of %dx%d with %d levels is not a set",
                            count, height, width, levels);
    size_t pixels = (size_t)height * (size_t)width;
    if ((size_t)count > SIZE_MAX / pixels)
        return ps_error_set(err, "image set: %d images of %dx%d do not fit in memory", count,
                            height, width);
    out->pixels = calloc((size_t)count * pixels, 1);
    if (!out->pixels)
        return ps_error_set(err, "image set: out of memory for %d images of %dx%d", count,
                            height, width);
    out->count = count;
    out->height = height;
    out->width = width;
    out->levels = levels;
    return 0;
}

void ps_image_set_free(ps_image_set *s)
{
    free(s->pixels);
    memset(s, 0, sizeof *s);
}

int ps_image_set_binarize(const ps_image_set *in, uint64_t seed, ps_image_set *out,
                          ps_error *err)
{
    if (in->levels != 256) {
        memset(out, 0, sizeof *out);
        return ps_error_set(err, "binarize: the images have %d levels, not 256", in->levels);
    }
    if (ps_image_set_alloc(in->count, in->height, in->width, 2, out, err)) return -1;
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    size_t n = (size_t)in->count * in->height * in->width;
    /* In double: u < 1 - 2^-25, so u * 255 < 255 and a 255 pixel is always 1 (in float
     * the product can round up to 255). */
    for (size_t i = 0; i < n; i++)
        out->pixels[i] = (double)ps_rng_uniform(&rng) * 255.0 < in->pixels[i];
    return 0;
}

int ps_image_set_downsample(const ps_image_set *in, int factor, ps_image_set *out,
                            ps_error *err)
{
    if (factor < 1 || factor > in->height || factor > in->width) {
        memset(out, 0, sizeof *out);
        return ps_error_set(err, "downsample: factor %d does not fit %dx%d images", factor,
                            in->height, in->width);
    }
    int h = in->height / factor, w = in->width / factor, block = factor * factor;
    if (ps_image_set_alloc(in->count, h, w, in->levels, out, err)) return -1;
    for (int n = 0; n < in->count; n++) {
        const uint8_t *src = in->pixels + (size_t)n * in->height * in->width;
        uint8_t *dst = out->pixels + (size_t)n * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                long sum = 0;
                for (int dy = 0; dy < factor; dy++)
                    for (int dx = 0; dx < factor; dx++)
                        sum += src[(size_t)(y * factor + dy) * in->width + x * factor + dx];
                /* Rounded half up; a mean of values below levels stays below it. */
                dst[y * w + x] = (uint8_t)((sum + block / 2) / block);
            }
    }
    return 0;
}
