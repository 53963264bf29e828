/* Checks of latent-variable models; see latent_checks.h. */
#include "latent_checks.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_checks.h"
#include "priorsep/image_train.h"

ps_image_model *latent_with_samples(ps_image_model *m, int k)
{
    ps_image_config c = *ps_image_model_config(m);
    c.ensemble = k;
    ps_error err;
    ps_image_model *copy = ps_image_model_create(ps_image_model_kind(m), &c, &err);
    if (!copy) return NULL;
    memcpy(ps_image_model_params(copy), ps_image_model_params(m),
           ps_image_model_param_count(m) * sizeof(float));
    return copy;
}

static double mean_and_se(const double *v, int n, double *se)
{
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    double mean = s / n;
    for (int i = 0; i < n; i++) s2 += (v[i] - mean) * (v[i] - mean);
    *se = n > 1 ? sqrt(s2 / (n - 1) / n) : INFINITY;
    return mean;
}

/* Mean (and standard error) over `repeats` seeded draws for one image x: of the loss
 * (the ELBO estimate) or, with bound set, of ps_image_model_nll. */
static double mean_over_draws(ps_image_model *m, const uint8_t *x, int repeats, uint64_t seed,
                              int bound, double *se)
{
    double *v = malloc(repeats * sizeof(double));
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    for (int i = 0; i < repeats; i++) {
        if (bound)
            ps_image_model_nll(m, x, 1, &v[i], &rng);
        else
            v[i] = ps_image_model_loss(m, x, 1, 1.0f, 0, &rng);
    }
    double mean = mean_and_se(v, repeats, se);
    free(v);
    return mean;
}

static double latent_probabilities(ps_image_model *m, int repeats, uint64_t seed, double *p, double *se)
{
    const ps_image_config *c = ps_image_model_config(m);
    int D = c->height * c->width, count = 1 << D;
    uint8_t *x = malloc((size_t)count * D);
    double *nll = malloc((size_t)count * sizeof(double)), *sums = calloc(repeats, sizeof(double));
    for (int i = 0; i < count; i++) {
        p[i] = 0.0;
        for (int j = 0; j < D; j++) x[i * D + j] = (uint8_t)((i >> j) & 1);
    }
    ps_rng rng;
    ps_rng_seed(&rng, seed);
    for (int r = 0; r < repeats; r++) {
        ps_image_model_nll(m, x, count, nll, &rng);
        for (int i = 0; i < count; i++) {
            p[i] += exp(-nll[i]) / repeats;
            sums[r] += exp(-nll[i]);
        }
    }
    double total = mean_and_se(sums, repeats, se);
    free(x);
    free(nll);
    free(sums);
    return total;
}

/* The model of kind and c, trained briefly on three noisy 2x2 patterns (top row, bottom
 * row, left column, each pixel flipped with probability 0.1), so that the latent carries
 * information and q differs from the true posterior: the cases the bound checks need. */
static ps_image_model *tiny_trained(const char *kind, const ps_image_config *c)
{
    ps_error err;
    ps_image_model *m = ps_image_model_create(kind, c, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    ps_image_model_init(m, 1);
    static const uint8_t patterns[3][4] = {{1, 1, 0, 0}, {0, 0, 1, 1}, {1, 0, 1, 0}};
    ps_image_set set = {.count = 600, .height = 2, .width = 2, .levels = 2};
    set.pixels = malloc(600 * 4);
    ps_rng rng;
    ps_rng_seed(&rng, 11);
    for (int i = 0; i < 600; i++)
        for (int j = 0; j < 4; j++)
            set.pixels[i * 4 + j] = patterns[i % 3][j] ^ (ps_rng_uniform(&rng) < 0.1f);
    ps_image_train_opts o = ps_image_train_defaults();
    o.steps = 300;
    o.lr = 1e-2f;
    ck_assert_msg(ps_image_train(m, &set, &o, &err) == 0, "%s", err.msg);
    free(set.pixels);
    return m;
}

void latent_expect_bound(const char *kind, const ps_image_config *config)
{
    ck_assert(config->levels == 2 && config->height == 2 && config->width == 2);
    ps_image_model *m = tiny_trained(kind, config);
    int D = 4, count = 16;
    /* exp(-nll) with 16 repeats of 1024 samples: their spread gives the standard error
     * of the total (asserted small, so that the test has power); 4 standard errors with
     * 15 degrees of freedom fail a correct model once in ~1000 seeds. */
    ps_image_model *precise = latent_with_samples(m, 1024);
    double p[16], total_se, total = latent_probabilities(precise, 16, 1, p, &total_se);
    ps_image_model_destroy(precise);
    printf("%s: sum over %d images of p(x) = %.5f (se %.5f)\n", ps_image_model_kind(m), count,
           total, total_se);
    ck_assert_msg(total_se < 2e-3 && fabs(total - 1.0) < 4.0 * total_se,
                  "sum of p(x) %g, standard error %g", total, total_se);
    /* Gaps to the precise -log p(x), summed over the images. The precise value carries
     * the bias of a 16,384-sample bound, about 64/16384 of the 64-sample gap measured
     * below (the bias falls as 1/k), so the gaps' standard errors dominate. */
    enum { KS = 4 };
    static const int ks[KS] = {1, 4, 16, 64};
    double elbo_gap = 0.0, elbo_var = 0.0, gap[KS] = {0}, var[KS] = {0};
    for (int img = 0; img < count; img++) {
        uint8_t x[16];
        for (int j = 0; j < D; j++) x[j] = (uint8_t)((img >> j) & 1);
        double nll = -log(p[img]), se, elbo = mean_over_draws(m, x, 2000, 5 + img, 0, &se);
        /* one image: the ELBO may only dip below by its Monte-Carlo error */
        ck_assert_msg(elbo > nll - 4.0 * se, "image %d: ELBO %g (se %g) below -log p %g", img,
                      elbo, se, nll);
        elbo_gap += elbo - nll;
        elbo_var += se * se;
        for (int t = 0; t < KS; t++) {
            ps_image_model *mk = latent_with_samples(m, ks[t]);
            double b = mean_over_draws(mk, x, 500, 100 + img, 1, &se);
            ps_image_model_destroy(mk);
            gap[t] += b - nll;
            var[t] += se * se;
        }
    }
    printf("%s: ELBO gap %.4f (se %.4f); bound gaps", ps_image_model_kind(m), elbo_gap,
           sqrt(elbo_var));
    for (int t = 0; t < KS; t++) printf(" k=%d %.4f (%.4f)", ks[t], gap[t], sqrt(var[t]));
    printf("\n");
    /* 4 standard errors: one failure in ~16,000 runs of a correct model */
    ck_assert_msg(elbo_gap > 4.0 * sqrt(elbo_var), "ELBO gap %g, se %g", elbo_gap, sqrt(elbo_var));
    for (int t = 0; t < KS; t++) {
        ck_assert_msg(gap[t] > -4.0 * sqrt(var[t]), "k = %d: gap %g below 0 (se %g)", ks[t],
                      gap[t], sqrt(var[t]));
        if (t)
            ck_assert_msg(gap[t] < gap[t - 1] + 4.0 * sqrt(var[t] + var[t - 1]),
                          "k = %d: gap %g above k = %d's %g", ks[t], gap[t], ks[t - 1], gap[t - 1]);
    }
    /* the gap falls roughly as 1/k once q covers the posterior: 64 samples must have
     * closed at least three quarters of the single-sample gap */
    ck_assert_msg(gap[KS - 1] < 0.25 * gap[0], "k = 64 gap %g, k = 1 gap %g", gap[KS - 1], gap[0]);
    /* 2^D - 1 = 15 degrees of freedom: 37.7 is the 0.999 quantile of chi-square(15); the
     * estimated p(x) are within ~1e-3 relative, which moves the statistic by far less */
    double chi = image_check_sample_frequencies(m, p, 20000, 9).chi_square;
    printf("%s: sampling chi-square %.2f (15 dof)\n", ps_image_model_kind(m), chi);
    ck_assert_msg(chi < 37.7, "chi-square %g", chi);
    ps_image_model_destroy(m);
}
