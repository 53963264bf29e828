/* The VQ-VAE: gradients (the surrogate whose derivative is the straight-through gradient,
 * for every parameter; the true loss for the decoder and the prior), the prior over codes
 * (autoregressive, normalized over all code grids), the likelihood bound against the
 * exact -log p(x) summed over all code grids, a training run against the independent-pixel
 * baseline with the code usage it reaches, and samples. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_checks.h"
#include "priorsep/image_train.h"
#include "priorsep/vqvae.h"

static ps_image_model *make(int h, int w, int patch, int hidden, int latent, int K)
{
    ps_image_config cfg = {.height = h, .width = w, .levels = 2, .hidden = hidden,
                           .layers = patch, .latent = latent, .components = K};
    ps_error err;
    ps_image_model *m = ps_image_model_create("vqvae", &cfg, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, 7);
    return m;
}

static void random_images(uint8_t *x, int count, ps_rng *rng)
{
    for (int i = 0; i < count; i++) x[i] = ps_rng_uniform(rng) < 0.4f;
}

/* A few optimizer steps and EMA updates, so that the checks see a codebook on the data
 * rather than the initial random one. */
static void settle(ps_image_model *m, const uint8_t *x, int n)
{
    ps_image_set set = {.count = n, .height = ps_image_model_config(m)->height,
                        .width = ps_image_model_config(m)->width, .levels = 2,
                        .pixels = (uint8_t *)x};
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 20;
    o.batch = n;
    o.warmup = 1;
    o.lr = 3e-3f;
    ps_error err;
    ck_assert_int_eq(ps_image_train(m, &set, &o, &err), 0);
}

START_TEST(config_errors)
{
    ps_error err;
    ps_image_config odd = {.height = 7, .width = 7, .levels = 2, .layers = 2};
    ck_assert_ptr_null(ps_image_model_create("vqvae", &odd, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "patch side"));
    ps_image_config bytes = {.height = 8, .width = 8, .levels = 256};
    ck_assert_ptr_null(ps_image_model_create("vqvae", &bytes, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "binary"));
}
END_TEST

/* Float32 forward with a double loss of ~50 nats: its rounding noise (~1e-6) over 2h,
 * and the curvature error O(h^2). h = 1e-2 is too coarse (a step of W2 moves z_e by
 * ~3e-2 and crosses the decoder's ReLU kinks: errors of 0.3 measured); h = 1e-3 leaves
 * ~5e-4 of noise, 4e-2 relative at a floor of 1e-2. h = 3e-3 with gradients below 3e-2
 * compared absolutely measures 6e-3 worst; 2e-2 leaves room, and a wrong term is O(1). */
#define GRAD_H 3e-3
#define GRAD_FLOOR 3e-2
#define GRAD_TOL 2e-2

/* Frozen quantizer: the loss's exact derivative for every parameter is what the backward
 * pass computes (straight-through plus commitment for the encoder). */
START_TEST(gradients_of_the_frozen_surrogate)
{
    enum { N = 3 };
    ps_image_model *m = make(4, 4, 2, 8, 3, 5);
    ps_rng rng;
    ps_rng_seed(&rng, 11);
    uint8_t x[N * 16];
    random_images(x, N * 16, &rng);
    settle(m, x, N);
    ps_vqvae_freeze(m, x, N);
    double err = image_check_gradients(m, x, N, 400, GRAD_H, GRAD_FLOOR, 3);
    ps_vqvae_thaw(m);
    printf("vqvae frozen-surrogate gradient: worst relative error %.2e over 400 probes\n", err);
    ck_assert_double_lt(err, GRAD_TOL);
    ps_image_model_destroy(m);
}
END_TEST

/* The true loss, decoder and prior parameters: the codes do not depend on them, so the
 * loss is smooth in them and its finite differences must match exactly these entries. */
START_TEST(gradients_of_the_loss_for_decoder_and_prior)
{
    enum { N = 3 };
    ps_image_model *m = make(4, 4, 2, 8, 3, 5);
    ps_rng rng;
    ps_rng_seed(&rng, 12);
    uint8_t x[N * 16];
    random_images(x, N * 16, &rng);
    settle(m, x, N);
    size_t P = ps_image_model_param_count(m), E = ps_vqvae_encoder_param_count(m);
    float *params = ps_image_model_params(m), *grads = ps_image_model_grads(m);
    memset(grads, 0, P * sizeof(float));
    ps_image_model_loss(m, x, N, 1.0f, 1, &rng);
    double worst = 0.0;
    ps_rng pick;
    ps_rng_seed(&pick, 4);
    for (int probe = 0; probe < 400; probe++) {
        size_t i = E + ps_rng_u64(&pick) % (P - E);
        float keep = params[i];
        params[i] = keep + (float)GRAD_H;
        double up = ps_image_model_loss(m, x, N, 1.0f, 0, &rng);
        params[i] = keep - (float)GRAD_H;
        double down = ps_image_model_loss(m, x, N, 1.0f, 0, &rng);
        params[i] = keep;
        double fd = (up - down) / (2 * GRAD_H);
        worst = fmax(worst, fabs(fd - grads[i]) / fmax(fabs(fd) + fabs(grads[i]), GRAD_FLOOR));
    }
    printf("vqvae loss gradient (decoder, prior): worst relative error %.2e\n", worst);
    ck_assert_double_lt(worst, GRAD_TOL);
    ps_image_model_destroy(m);
}
END_TEST

/* p(z_t | z_<t) by perturbation: changing code j leaves the conditionals of t <= j
 * bit-identical and changes some later one. */
START_TEST(prior_is_autoregressive)
{
    ps_image_model *m = make(3, 3, 1, 6, 2, 4);
    enum { G = 9, K = 4 };
    ck_assert_int_eq(ps_vqvae_code_count(m), G);
    int z[G];
    ps_rng rng;
    ps_rng_seed(&rng, 13);
    for (int t = 0; t < G; t++) z[t] = (int)(ps_rng_u64(&rng) % K);
    float base[G * K], pert[G * K];
    ps_vqvae_code_conditionals(m, z, base);
    long later = 0;
    for (int j = 0; j < G; j++) {
        int keep = z[j];
        for (int v = 0; v < K; v++) {
            if (v == keep) continue;
            z[j] = v;
            ps_vqvae_code_conditionals(m, z, pert);
            for (int t = 0; t < G; t++) {
                int same = memcmp(base + t * K, pert + t * K, sizeof(float) * K) == 0;
                if (t <= j) ck_assert_msg(same, "code %d's conditional moved with code %d", t, j);
                else later += !same;
            }
        }
        z[j] = keep;
    }
    ck_assert_int_gt(later, 0);
    ps_image_model_destroy(m);
}
END_TEST

/* log p(z) = sum_t log p(z_t | z_<t) of grid number g (base-K digits). */
static double prior_logprob(ps_image_model *m, long g, int G, int K, int *z, float *cond)
{
    for (int t = 0; t < G; t++, g /= K) z[t] = (int)(g % K);
    ps_vqvae_code_conditionals(m, z, cond);
    double lp = 0.0;
    for (int t = 0; t < G; t++) lp += cond[t * K + z[t]];
    return lp;
}

START_TEST(prior_is_normalized)
{
    enum { G = 4, K = 5 }; /* 625 grids */
    ps_image_model *m = make(2, 2, 1, 6, 2, K);
    int z[G];
    float cond[G * K];
    double total = 0.0;
    for (long g = 0; g < 625; g++) total += exp(prior_logprob(m, g, G, K, z, cond));
    printf("vqvae prior: sum over all %d^%d code grids = %.9f\n", K, G, total);
    /* 625 float log-softmax sums of 4 terms: ~1e-7 relative each */
    ck_assert_double_le(fabs(total - 1.0), 1e-5);
    ps_image_model_destroy(m);
}
END_TEST

/* On 2x2 images with one code per pixel and K = 3 (81 code grids), the exact
 * p(x) = sum_z p(x | z) p(z) is a finite sum. The model's nll must be the term of the
 * encoder's grid, hence >= -log p(x); and the exact p(x) must sum to 1 over all 16 images
 * (the bound's pieces come from one normalized generative model). */
START_TEST(bound_against_exact_likelihood)
{
    enum { G = 4, K = 3, GRIDS = 81, IMAGES = 16 };
    ps_image_model *m = make(2, 2, 1, 6, 2, K);
    uint8_t x[IMAGES * 4];
    for (int i = 0; i < IMAGES; i++)
        for (int p = 0; p < 4; p++) x[i * 4 + p] = (i >> p) & 1;
    settle(m, x, IMAGES);
    int z[G], all[IMAGES * G], own[IMAGES * G];
    float cond[G * K];
    double p_x[IMAGES] = {0}, dec[IMAGES], bound[IMAGES];
    for (long g = 0; g < GRIDS; g++) {
        double lp = prior_logprob(m, g, G, K, z, cond);
        for (int i = 0; i < IMAGES; i++) memcpy(all + i * G, z, sizeof z);
        ps_vqvae_decoder_nll(m, x, all, IMAGES, dec);
        for (int i = 0; i < IMAGES; i++) p_x[i] += exp(lp - dec[i]);
    }
    ps_rng rng;
    ps_rng_seed(&rng, 1);
    ps_image_model_nll(m, x, IMAGES, bound, &rng);
    ps_vqvae_encode(m, x, IMAGES, own);
    double total = 0.0, gap = 0.0;
    for (int i = 0; i < IMAGES; i++) {
        double exact = -log(p_x[i]);
        total += p_x[i];
        /* the bound is one term of the sum: float evaluations of the same terms agree to
         * ~1e-6 relative, so it cannot fall more than that below the exact value */
        ck_assert_double_ge(bound[i], exact - 1e-5 * fabs(exact));
        gap += bound[i] - exact;
        /* and it is that term: the encoder's grid */
        ps_vqvae_decoder_nll(m, x + i * 4, own + i * G, 1, dec);
        long g = 0;
        for (int t = G - 1; t >= 0; t--) g = g * K + own[i * G + t];
        double term = dec[0] - prior_logprob(m, g, G, K, z, cond);
        ck_assert_double_le(fabs(bound[i] - term), 1e-5 * fabs(term));
    }
    printf("vqvae bound on 2x2: sum_x p(x) = %.9f, mean gap bound - exact = %.3f nats\n",
           total, gap / IMAGES);
    ck_assert_double_le(fabs(total - 1.0), 1e-5);
    ck_assert_double_gt(gap, 0.0); /* strictly: other grids carry probability too */
    ps_image_model_destroy(m);
}
END_TEST

/* exp(entropy) of the symbols' frequencies, and how many occur. */
static double perplexity(const int *symbols, long n, int K, int *used)
{
    double *count = calloc((size_t)K, sizeof(double)), H = 0.0;
    for (long i = 0; i < n; i++) count[symbols[i]]++;
    *used = 0;
    for (int k = 0; k < K; k++)
        if (count[k] > 0) {
            H -= count[k] / n * log(count[k] / n);
            (*used)++;
        }
    free(count);
    return exp(H);
}

/* 14x14 Fashion-MNIST (factor 2) with 2x2 patches: a 7x7 grid of codes, each carrying
 * 4 pixels. (At 7x7 only patches of 1 or 7 divide the image: one pixel per code leaves
 * the quantizer nothing to do.) A 2x2 binary patch has 16 patterns, so K = 16 codes can
 * hold them all, and the code usage is measured against the patterns' own perplexity. */
START_TEST(training_beats_independent_pixels)
{
    enum { K = 16, G = 49 };
    ps_image_set train, test;
    ck_assert_int_eq(image_small_fashion("train", 2000, 2, &train), 0);
    ck_assert_int_eq(image_small_fashion("test", 500, 2, &test), 0);
    ps_image_model *m = make(14, 14, 2, 64, 8, K);
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 400;
    o.batch = 32;
    o.lr = 3e-3f;
    ps_error err;
    ck_assert_int_eq(ps_image_train(m, &train, &o, &err), 0);
    double bound = ps_image_eval(m, &test, 0, 1), base = ps_image_independent_nll(&train, &test);
    int *codes = malloc(sizeof(int) * test.count * G), *patterns = malloc(sizeof(int) * test.count * G);
    ps_vqvae_encode(m, test.pixels, test.count, codes);
    for (int i = 0; i < test.count * G; i++) {
        const uint8_t *img = test.pixels + (i / G) * 196;
        int y = (i % G) / 7 * 2, x = (i % G) % 7 * 2;
        patterns[i] = img[y * 14 + x] | img[y * 14 + x + 1] << 1 | img[(y + 1) * 14 + x] << 2 |
                      img[(y + 1) * 14 + x + 1] << 3;
    }
    int used, patterns_seen;
    double ppl = perplexity(codes, (long)test.count * G, K, &used);
    double pattern_ppl = perplexity(patterns, (long)test.count * G, 16, &patterns_seen);
    printf("vqvae 14x14: test bound %.2f nats vs independent pixels %.2f; codes used %d of %d, "
           "perplexity %.2f (of the %d patch patterns: %.2f)\n", bound, base, used, K, ppl,
           patterns_seen, pattern_ppl);
    ck_assert_double_lt(bound, base);
    ck_assert_double_gt(ppl, 0.8 * pattern_ppl);
    free(codes);
    free(patterns);
    /* Samples: binary, and as dense as the data (mean over 200 images of 196 pixels:
     * the standard error of the fraction is ~0.01, the tolerance 0.05). */
    enum { S = 200 };
    uint8_t *samples = malloc(S * 196);
    ps_rng rng;
    ps_rng_seed(&rng, 21);
    ps_image_model_sample(m, samples, S, &rng);
    double on = 0.0, data_on = 0.0;
    for (int i = 0; i < S * 196; i++) {
        ck_assert_int_le(samples[i], 1);
        on += samples[i];
    }
    for (int i = 0; i < train.count * 196; i++) data_on += train.pixels[i];
    on /= S * 196;
    data_on /= train.count * 196.0;
    printf("vqvae samples: %.3f of pixels on (data %.3f)\n", on, data_on);
    ck_assert_double_le(fabs(on - data_on), 0.05);
    free(samples);
    ps_image_model_destroy(m);
    ps_image_set_free(&train);
    ps_image_set_free(&test);
}
END_TEST

const char *suite_skip_reason(void) { return image_fashion_missing(); }

Suite *suite(void)
{
    Suite *s = suite_create("image");
    TCase *tc = tcase_create("vqvae");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, config_errors);
    tcase_add_test(tc, gradients_of_the_frozen_surrogate);
    tcase_add_test(tc, gradients_of_the_loss_for_decoder_and_prior);
    tcase_add_test(tc, prior_is_autoregressive);
    tcase_add_test(tc, prior_is_normalized);
    tcase_add_test(tc, bound_against_exact_likelihood);
    tcase_add_test(tc, training_beats_independent_pixels);
    suite_add_tcase(s, tc);
    return s;
}
