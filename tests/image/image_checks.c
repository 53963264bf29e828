/* The checks every image model passes; see image_checks.h. */
#include "image_checks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/rng.h"

long image_check_autoregressive(ps_image_model *m, uint64_t seed, long *later_changed)
{
    const ps_image_config *c = ps_image_model_config(m);
    int D = c->height * c->width, L = c->levels;
    uint8_t *x = malloc(D);
    int *order = malloc(D * sizeof(int)), *rank = malloc(D * sizeof(int));
    float *base = malloc((size_t)D * L * sizeof(float)), *pert = malloc((size_t)D * L * sizeof(float));
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    for (int i = 0; i < D; i++) x[i] = (uint8_t)(ps_rng_u64(&rng) % (uint64_t)L);
    ps_image_model_order(m, order);
    for (int r = 0; r < D; r++) rank[order[r]] = r;
    ps_image_model_conditionals(m, x, base);
    long violations = 0;
    *later_changed = 0;
    /* 8-bit images: every other level would cost 255 passes per pixel; three levels
     * (the extremes and a middle one) reach every input path the same way. */
    int probe_levels[3] = {0, L / 2 + 1, L - 1};
    for (int j = 0; j < D; j++) {
        uint8_t keep = x[j];
        for (int t = 0; t < (L == 2 ? 1 : 3); t++) {
            uint8_t v = L == 2 ? (uint8_t)(1 - keep) : (uint8_t)probe_levels[t];
            if (v == keep) continue;
            x[j] = v;
            ps_image_model_conditionals(m, x, pert);
            for (int i = 0; i < D; i++) {
                int same = memcmp(base + (size_t)i * L, pert + (size_t)i * L, L * sizeof(float)) == 0;
                if (rank[i] <= rank[j]) violations += !same;
                else *later_changed += !same;
            }
        }
        x[j] = keep;
    }
    free(x);
    free(order);
    free(rank);
    free(base);
    free(pert);
    return violations;
}

double image_check_normalization(ps_image_model *m)
{
    const ps_image_config *c = ps_image_model_config(m);
    int D = c->height * c->width;
    if (c->levels != 2 || D > 20) return NAN;
    long count = 1L << D;
    enum { CHUNK = 64 };
    uint8_t *x = malloc((size_t)CHUNK * D);
    double nll[CHUNK], total = 0.0;
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    for (long first = 0; first < count; first += CHUNK) {
        int k = count - first < CHUNK ? (int)(count - first) : CHUNK;
        for (int b = 0; b < k; b++)
            for (int i = 0; i < D; i++) x[b * D + i] = (uint8_t)(((first + b) >> i) & 1);
        ps_image_model_nll(m, x, k, nll, &rng);
        for (int b = 0; b < k; b++) total += exp(-nll[b]);
    }
    free(x);
    return total;
}

static double loss_at(ps_image_model *m, const uint8_t *x, int n, uint64_t seed, int backward)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    return ps_image_model_loss(m, x, n, 1.0f, backward, &rng);
}

double image_check_gradients(ps_image_model *m, const uint8_t *x, int n, int probes,
                             double h, double floor, uint64_t seed)
{
    size_t P = ps_image_model_param_count(m);
    float *params = ps_image_model_params(m), *grads = ps_image_model_grads(m);
    memset(grads, 0, P * sizeof(float));
    loss_at(m, x, n, seed, 1);
    float *g = malloc(P * sizeof(float));
    memcpy(g, grads, P * sizeof(float));
    ps_rng pick;
    ps_rng_seed(&pick, seed ^ 0x9e3779b97f4a7c15ull);
    double worst = 0.0;
    for (int p = 0; p < probes; p++) {
        size_t i = (size_t)(ps_rng_u64(&pick) % P);
        float keep = params[i];
        params[i] = keep + (float)h;
        double up = loss_at(m, x, n, seed, 0);
        params[i] = keep - (float)h;
        double down = loss_at(m, x, n, seed, 0);
        params[i] = keep;
        double fd = (up - down) / (2.0 * h);
        double err = fabs(g[i] - fd) / fmax(fabs(g[i]) + fabs(fd), floor);
        if (err > worst) worst = err;
    }
    free(g);
    return worst;
}

int image_small_fashion(const char *split, int count, int factor, ps_image_set *out)
{
    ps_image_set raw, small;
    ps_error err;
    if (ps_fashion_mnist_load(NULL, split, count, &raw, &err) != 0) return -1;
    int status = ps_image_set_downsample(&raw, factor, &small, &err);
    ps_image_set_free(&raw);
    if (status != 0) return -1;
    status = ps_image_set_binarize(&small, 1, out, &err);
    ps_image_set_free(&small);
    return status;
}

image_sample_fit image_check_sample_frequencies(ps_image_model *m, const double *p,
                                                int n_samples, uint64_t seed)
{
    const ps_image_config *c = ps_image_model_config(m);
    int D = c->height * c->width, cells = 1 << D;
    enum { CALL = 1000 };
    uint8_t *x = malloc((size_t)cells * D), *s = malloc((size_t)CALL * D);
    double *prob = malloc(cells * sizeof(double));
    long *count = calloc(cells, sizeof(long));
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    if (p) {
        memcpy(prob, p, cells * sizeof(double));
    } else {
        for (int k = 0; k < cells; k++)
            for (int i = 0; i < D; i++) x[k * D + i] = (uint8_t)((k >> i) & 1);
        ps_image_model_nll(m, x, cells, prob, &rng);
        for (int k = 0; k < cells; k++) prob[k] = exp(-prob[k]);
    }
    image_sample_fit fit = {.min_expected = INFINITY, .p_min = 1.0};
    for (int first = 0; first < n_samples; first += CALL) {
        int n = n_samples - first < CALL ? n_samples - first : CALL;
        ps_image_model_sample(m, s, n, &rng);
        for (int j = 0; j < n; j++) {
            int k = 0;
            for (int i = 0; i < D; i++) {
                fit.invalid += s[j * D + i] > 1;
                k |= (s[j * D + i] & 1) << i;
            }
            count[k]++;
        }
    }
    for (int k = 0; k < cells; k++) {
        double expect = n_samples * prob[k], dev = count[k] - expect;
        fit.chi_square += dev * dev / expect;
        fit.worst_z = fmax(fit.worst_z, fabs(dev) / sqrt(expect * (1.0 - prob[k])));
        fit.min_expected = fmin(fit.min_expected, expect);
        fit.p_min = fmin(fit.p_min, prob[k]);
        fit.p_max = fmax(fit.p_max, prob[k]);
    }
    free(x), free(s), free(prob), free(count);
    return fit;
}

const char *image_fashion_missing(void)
{
    ps_image_set s;
    if (image_small_fashion("test", 1, 4, &s) != 0) return "Fashion-MNIST is not installed";
    ps_image_set_free(&s);
    return NULL;
}

void image_jitter_params(ps_image_model *m, float width, uint64_t seed)
{
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    float *p = ps_image_model_params(m);
    for (size_t i = 0; i < ps_image_model_param_count(m); i++)
        p[i] += width * (ps_rng_uniform(&rng) - 0.5f);
}

image_training image_check_training(ps_image_model *m, const ps_image_train_opts *o)
{
    image_training r = {0};
    ps_image_set train, test;
    if (image_small_fashion("train", 2000, 4, &train) != 0) {
        r.trained = ps_error_set(&r.err, "Fashion-MNIST training images missing");
        return r;
    }
    if (image_small_fashion("test", 500, 4, &test) != 0) {
        ps_image_set_free(&train);
        r.trained = ps_error_set(&r.err, "Fashion-MNIST test images missing");
        return r;
    }
    r.before = ps_image_eval(m, &test, 0, 1);
    r.trained = ps_image_train(m, &train, o, &r.err);
    if (r.trained == 0) {
        r.after = ps_image_eval(m, &test, 0, 1);
        r.baseline = ps_image_independent_nll(&train, &test);
        enum { SAMPLES = 16 };
        size_t pixels = (size_t)SAMPLES * train.height * train.width;
        uint8_t *s = malloc(pixels);
        ps_rng rng;
        ps_rng_seed(&rng, 2);
        ps_image_model_sample(m, s, SAMPLES, &rng);
        for (size_t i = 0; i < pixels; i++) r.invalid += s[i] > 1;
        free(s);
    }
    ps_image_set_free(&train);
    ps_image_set_free(&test);
    return r;
}
