/* What the two seed corpus generators (make_corpus.c, make_checkpoint_corpus.c) share:
 * the output folder, files as bytes, random networks and edited headers. Any failure
 * ends the program with a message. */
#ifndef PRIORSEP_CORPUS_FILES_H
#define PRIORSEP_CORPUS_FILES_H
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "priorsep/wavenet.h"
#include "../safetensors_blob.h"

static const char *program, *folder;

static inline void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", program, what);
    exit(1);
}

/* Takes the output folder from the command line ("NAME FOLDER"). */
static inline void corpus_start(const char *name, int argc, char **argv)
{
    program = name;
    if (argc != 2) {
        fprintf(stderr, "%s: usage: %s FOLDER\n", name, name);
        exit(1);
    }
    folder = argv[1];
}

static inline const char *path_of(const char *name)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", folder, name);
    return buf;
}

static inline void write_blob(const char *name, blob b)
{
    if (blob_write(path_of(name), b)) die(path_of(name));
}

static inline blob read_blob(const char *path)
{
    blob b = blob_read(path);
    if (!b.p) die(path);
    return b;
}

/* A copy of b, for editing its bytes. */
static inline blob copy_blob(blob b)
{
    blob c = {malloc(b.n + 1), b.n};
    if (!c.p) die("out of memory");
    memcpy(c.p, b.p, b.n);
    return c;
}

/* A randomly initialized network; nonnegative: every parameter made |p| (a second
 * moment). */
static inline ps_wavenet *random_net(ps_wavenet_config cfg, uint64_t seed, int nonnegative)
{
    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&cfg, &err);
    if (!net) die(err.msg);
    ps_wavenet_init_random(net, seed);
    float *p = ps_wavenet_params(net);
    if (nonnegative)
        for (size_t i = 0; i < ps_wavenet_num_params(net); i++) p[i] = p[i] < 0 ? -p[i] : p[i];
    return net;
}

/* The three architectures of both corpora, all tiny. */
enum { TINY_CATEGORICAL, TINY_MOL, TINY_MOL_COND };

static inline ps_wavenet_config tiny_config(int which)
{
    ps_wavenet_config c = {.stacks = 1, .layers = 2, .kernel = 2, .input_kernel = 2,
                           .residual = 2, .skip = 2, .hidden = 2, .cond = 0,
                           .head = PS_HEAD_CATEGORICAL, .mixtures = 0};
    if (which != TINY_CATEGORICAL) c.head = PS_HEAD_MOL, c.mixtures = 2;
    if (which == TINY_MOL_COND) c.stacks = 2, c.kernel = 3, c.cond = 2;
    return c;
}

static inline json_t *header_of(blob b)
{
    json_t *h = st_header(b, NULL);
    if (!h) die("cannot parse a header it wrote");
    return h;
}

/* Writes header h followed by the data section of `like`; frees h. */
static inline void write_edited(const char *name, json_t *h, blob like)
{
    blob b = st_assemble(h, st_data(like));
    if (!b.p) die("cannot encode a header");
    write_blob(name, b);
    free(b.p);
    json_decref(h);
}

static inline json_t *meta(json_t *h) { return json_object_get(h, "__metadata__"); }

#endif
