/* Full-scale run of one image model (design section 9): trains it on binarized (or 8-bit)
 * Fashion-MNIST or on dead-leaves images, scores the test set against the
 * independent-pixel baseline fitted to the same training images, and writes a PNG grid
 * of samples. Prints one summary line (and appends it to --csv) for the README table.
 *
 * Usage: bench_image KIND [options]   (bench_image --help) */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "priorsep/image_data.h"
#include "priorsep/image_model.h"
#include "priorsep/image_train.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_image KIND [options]\n"
            "  KIND: %s\n"
            "  --data fashion|dead-leaves   (default fashion)\n"
            "  --levels 2|256     binarized (seeded: train 1, test 2) or 8-bit (default 2)\n"
            "  --shrink N         Fashion-MNIST downsampled by N (default 1: 28x28)\n"
            "  --size N           dead-leaves image side (default 16)\n"
            "  --train N --test N images (default: all of Fashion-MNIST; dead leaves 20000 / 2000)\n"
            "  --steps N --batch N --lr X --warmup N   (defaults 2000, 32, 1e-3, 100)\n"
            "  --hidden N --layers N --latent N --components N --ensemble N  (0: model default)\n"
            "  --seed N           (default 1)\n"
            "  --png FILE         sample grid (default none)   --grid N  samples (default 64)\n"
            "  --csv FILE         append the summary line\n",
            ps_image_model_kinds());
}

static void report(void *ctx, int step, int steps, double loss)
{
    double t0 = *(const double *)ctx, t = wall_now() - t0;
    fprintf(stderr, "\r  step %d/%d  train loss %.2f nats  %.0f s, ETA %.0f s   ", step, steps,
            loss, t, t / step * (steps - step));
    if (step == steps) fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    const char *kind = argv[1], *data = "fashion", *png = NULL, *csv = NULL;
    ps_image_config cfg = {.levels = 2};
    ps_image_train_opts opts = ps_image_train_defaults();
    opts.steps = 2000;
    opts.warmup = 100;
    int shrink = 1, size = 16, n_train = 0, n_test = 0, grid = 64;
    static const struct option longopts[] = {
        {"data", 1, 0, 'd'},   {"levels", 1, 0, 'L'}, {"shrink", 1, 0, 'k'},
        {"size", 1, 0, 'z'},   {"train", 1, 0, 't'},  {"test", 1, 0, 'T'},
        {"steps", 1, 0, 's'},  {"batch", 1, 0, 'b'},  {"lr", 1, 0, 'r'},
        {"warmup", 1, 0, 'w'}, {"hidden", 1, 0, 'h'}, {"layers", 1, 0, 'l'},
        {"latent", 1, 0, 'a'}, {"components", 1, 0, 'c'}, {"ensemble", 1, 0, 'e'},
        {"seed", 1, 0, 'S'},   {"png", 1, 0, 'p'},    {"grid", 1, 0, 'g'},
        {"csv", 1, 0, 'C'},    {0, 0, 0, 0}};
    optind = 2;
    int o;
    while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (o) {
        case 'd': data = optarg; break;
        case 'L': cfg.levels = atoi(optarg); break;
        case 'k': shrink = atoi(optarg); break;
        case 'z': size = atoi(optarg); break;
        case 't': n_train = atoi(optarg); break;
        case 'T': n_test = atoi(optarg); break;
        case 's': opts.steps = atoi(optarg); break;
        case 'b': opts.batch = atoi(optarg); break;
        case 'r': opts.lr = strtof(optarg, NULL); break;
        case 'w': opts.warmup = atoi(optarg); break;
        case 'h': cfg.hidden = atoi(optarg); break;
        case 'l': cfg.layers = atoi(optarg); break;
        case 'a': cfg.latent = atoi(optarg); break;
        case 'c': cfg.components = atoi(optarg); break;
        case 'e': cfg.ensemble = atoi(optarg); break;
        case 'S': opts.seed = strtoull(optarg, NULL, 10); break;
        case 'p': png = optarg; break;
        case 'g': grid = atoi(optarg); break;
        case 'C': csv = optarg; break;
        default: usage(stderr); return 2;
        }
    }
    if (opts.steps < 1 || opts.batch < 1 || !(opts.lr > 0) || shrink < 1 || size < 2 ||
        grid < 1 || (cfg.levels != 2 && cfg.levels != 256)) {
        fprintf(stderr, "bench_image: an option is out of range (see --help)\n");
        return 2;
    }
    ps_error err;
    ps_image_set train = {0}, test = {0};
    int fashion = strcmp(data, "fashion") == 0;
    if (fashion) {
        ps_image_set raw[2], small[2];
        const char *split[2] = {"train", "test"};
        int want[2] = {n_train, n_test};
        for (int s = 0; s < 2; s++) {
            if (ps_fashion_mnist_load(NULL, split[s], want[s], &raw[s], &err) != 0 ||
                ps_image_set_downsample(&raw[s], shrink, &small[s], &err) != 0) {
                fprintf(stderr, "bench_image: %s\n", err.msg);
                return 1;
            }
            ps_image_set_free(&raw[s]);
        }
        if (cfg.levels == 2) {
            if (ps_image_set_binarize(&small[0], 1, &train, &err) != 0 ||
                ps_image_set_binarize(&small[1], 2, &test, &err) != 0) {
                fprintf(stderr, "bench_image: %s\n", err.msg);
                return 1;
            }
            ps_image_set_free(&small[0]);
            ps_image_set_free(&small[1]);
        } else {
            train = small[0];
            test = small[1];
        }
    } else if (strcmp(data, "dead-leaves") == 0) {
        if (cfg.levels != 256) {
            fprintf(stderr, "bench_image: dead leaves are 8-bit: --levels 256\n");
            return 2;
        }
        if (ps_dead_leaves(n_train > 0 ? n_train : 20000, size, size, 1, &train, &err) != 0 ||
            ps_dead_leaves(n_test > 0 ? n_test : 2000, size, size, 2, &test, &err) != 0) {
            fprintf(stderr, "bench_image: %s\n", err.msg);
            return 1;
        }
    } else {
        fprintf(stderr, "bench_image: --data %s: not fashion or dead-leaves\n", data);
        return 2;
    }
    cfg.height = train.height;
    cfg.width = train.width;
    ps_image_model *m = ps_image_model_create(kind, &cfg, &err);
    if (!m) {
        fprintf(stderr, "bench_image: %s\n", err.msg);
        return 1;
    }
    cfg = *ps_image_model_config(m);
    ps_image_model_init(m, opts.seed);
    double baseline = ps_image_independent_nll(&train, &test);
    fprintf(stderr, "%s on %s %dx%d, %d levels: %zu parameters, %d train / %d test images\n",
            kind, data, cfg.height, cfg.width, cfg.levels, ps_image_model_param_count(m),
            train.count, test.count);
    double t0 = wall_now();
    opts.report = report;
    opts.ctx = &t0;
    if (ps_image_train(m, &train, &opts, &err) != 0) {
        fprintf(stderr, "bench_image: %s\n", err.msg);
        return 1;
    }
    double t_train = wall_now() - t0;
    t0 = wall_now();
    double nll = ps_image_eval(m, &test, 0, opts.seed);
    double t_eval = wall_now() - t0;
    double dims = (double)cfg.height * cfg.width;
    /* bits per dimension beside nats per image: the usual unit for 8-bit images */
    double bpd = nll / (dims * log(2.0)), base_bpd = baseline / (dims * log(2.0));
    if (png) {
        ps_image_set samples;
        if (ps_image_set_alloc(grid, cfg.height, cfg.width, cfg.levels, &samples, &err) != 0) {
            fprintf(stderr, "bench_image: %s\n", err.msg);
            return 1;
        }
        ps_rng rng;
        ps_rng_seed(&rng, opts.seed);
        ps_image_model_sample(m, samples.pixels, grid, &rng);
        int columns = (int)ceil(sqrt((double)grid));
        if (ps_png_write_grid(png, &samples, 0, grid, columns, cfg.height <= 16 ? 4 : 2, &err) != 0) {
            fprintf(stderr, "bench_image: %s\n", err.msg);
            return 1;
        }
        ps_image_set_free(&samples);
    }
    static const char header[] =
        "model,data,size,levels,params,train,test,steps,train_s,eval_s,test_nll_nats,"
        "baseline_nats,bits_per_dim,baseline_bits_per_dim,gain_percent,nll_is\n";
    char line[512];
    snprintf(line, sizeof line,
             "%s,%s,%dx%d,%d,%zu,%d,%d,%d,%.1f,%.1f,%.2f,%.2f,%.4f,%.4f,%.1f,%s\n", kind, data,
             cfg.height, cfg.width, cfg.levels, ps_image_model_param_count(m), train.count,
             test.count, opts.steps, t_train, t_eval, nll, baseline, bpd, base_bpd,
             100.0 * (1.0 - nll / baseline), ps_image_model_exact(m) ? "exact" : "bound");
    printf("%s%s", header, line);
    if (csv) {
        FILE *f = fopen(csv, "a");
        int fresh = f && fseek(f, 0, SEEK_END) == 0 && ftell(f) == 0;
        /* a new file starts with the header */
        if (!f || (fresh && fputs(header, f) < 0) || fputs(line, f) < 0 || fclose(f) != 0) {
            fprintf(stderr, "bench_image: %s: cannot append\n", csv);
            return 1;
        }
    }
    ps_image_model_destroy(m);
    ps_image_set_free(&train);
    ps_image_set_free(&test);
    return 0;
}
