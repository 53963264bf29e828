/* Skewing and unskewing feature maps; see skew.h. */
#include "priorsep/skew.h"

#include <stddef.h>
#include <string.h>

/* Offsets of plain position (i, c) and of its skewed place, in floats. */
static size_t plain_at(int i, int c, int W, int block) { return ((size_t)i * W + c) * block; }
static size_t skewed_at(int i, int c, int H, int W, int block, int mirror)
{
    int j = i + (mirror ? W - 1 - c : c);
    return ((size_t)j * H + i) * block;
}

/* Every plain position and its skewed place: copies (or adds) src into dst, where dst is
 * the skewed map if to_skewed, else the plain one. */
static void move(float *dst, const float *src, int H, int W, int block, int mirror,
                 int to_skewed, int add)
{
    for (int i = 0; i < H; i++)
        for (int c = 0; c < W; c++) {
            size_t p = plain_at(i, c, W, block), s = skewed_at(i, c, H, W, block, mirror);
            float *d = dst + (to_skewed ? s : p);
            const float *v = src + (to_skewed ? p : s);
            if (add)
                for (int k = 0; k < block; k++) d[k] += v[k];
            else
                memcpy(d, v, (size_t)block * sizeof(float));
        }
}

void skew_forward(float *skewed, const float *plain, int H, int W, int block, int mirror)
{
    memset(skewed, 0, (size_t)(W + H - 1) * H * block * sizeof(float));
    move(skewed, plain, H, W, block, mirror, 1, 0);
}

void skew_backward(float *d_plain, const float *d_skewed, int H, int W, int block, int mirror)
{
    move(d_plain, d_skewed, H, W, block, mirror, 0, 1);
}

void unskew_forward(float *plain, const float *skewed, int H, int W, int block, int mirror)
{
    move(plain, skewed, H, W, block, mirror, 0, 0);
}

void unskew_backward(float *d_skewed, const float *d_plain, int H, int W, int block, int mirror)
{
    move(d_skewed, d_plain, H, W, block, mirror, 1, 1);
}
