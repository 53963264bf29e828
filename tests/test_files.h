/* Helpers shared by the tests of the two file formats, model files (test_model_file.c)
 * and checkpoints (test_checkpoint.c): a temporary folder, a small network, files as
 * bytes, and malformed files made by editing a valid one. A failure fails the running
 * Check test. The including file defines valid_file(), the bytes of a valid file of its
 * format: the edits start from it. */
#ifndef PRIORSEP_TEST_FILES_H
#define PRIORSEP_TEST_FILES_H
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "priorsep/wavenet.h"
#include "safetensors_blob.h"

/* ---- a temporary folder --------------------------------------------------------------- */

static char tmpdir[64];

/* Creates tmpdir from a mkdtemp template ("/tmp/name.XXXXXX"). */
static inline void tmpdir_create(const char *template)
{
    snprintf(tmpdir, sizeof tmpdir, "%s", template);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Removes dir and what is in it (files and folders below: all the tests make). */
static inline void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[512];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
            continue; /* longer than any path the tests make */
        if (unlink(path) != 0 && errno == EISDIR) remove_tree(path);
    }
    closedir(d);
    rmdir(dir);
}

static inline void remove_tmpdir(void) { remove_tree(tmpdir); }

/* A path in the temporary folder (static buffer per slot: two paths at a time). */
static inline const char *tmp_path(const char *name)
{
    static char buf[2][512];
    static int slot;
    slot ^= 1;
    snprintf(buf[slot], sizeof buf[slot], "%s/%s", tmpdir, name);
    return buf[slot];
}

/* Files of the temporary folder whose name contains ".tmp-": left-over temporary files. */
static inline int count_temporaries(void)
{
    DIR *d = opendir(tmpdir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) n++;
    closedir(d);
    return n;
}

/* A full disk, simulated with a file size limit: write() then fails with EFBIG, the same
 * path as ENOSPC. limit_file_size() limits the files this process writes to n bytes
 * (SIGXFSZ ignored, so that the write fails instead of killing the test);
 * unlimit_file_size() puts both back. */
static struct rlimit file_size_before;
static void (*xfsz_before)(int);

static inline void limit_file_size(rlim_t n)
{
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &file_size_before), 0);
    xfsz_before = signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = {n, file_size_before.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
}

static inline void unlimit_file_size(void)
{
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &file_size_before), 0);
    signal(SIGXFSZ, xfsz_before);
}

/* ---- networks ---------------------------------------------------------------------------- */

/* Small, but with every kind of tensor: kernel 2 and input kernel 3, 2 x 3 layers, the
 * MoL head; layers.1.conv.w is [2,4,8], head.w2 [5,9]. */
static inline ps_wavenet_config small_config(void)
{
    return (ps_wavenet_config){.stacks = 2, .layers = 3, .kernel = 2, .input_kernel = 3,
                               .residual = 4, .skip = 3, .hidden = 5, .cond = 2,
                               .head = PS_HEAD_MOL, .mixtures = 3};
}

static inline ps_wavenet *make_net(ps_wavenet_config cfg, uint64_t seed)
{
    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&cfg, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    ps_wavenet_init_random(net, seed);
    return net;
}

/* Every field but mixtures, which the two formats compare differently. */
static inline void assert_same_architecture(const ps_wavenet_config *a,
                                            const ps_wavenet_config *b)
{
    ck_assert_int_eq(a->stacks, b->stacks);
    ck_assert_int_eq(a->layers, b->layers);
    ck_assert_int_eq(a->kernel, b->kernel);
    ck_assert_int_eq(a->input_kernel, b->input_kernel);
    ck_assert_int_eq(a->residual, b->residual);
    ck_assert_int_eq(a->skip, b->skip);
    ck_assert_int_eq(a->hidden, b->hidden);
    ck_assert_int_eq(a->cond, b->cond);
    ck_assert_int_eq(a->head, b->head);
}

/* ---- files and headers ------------------------------------------------------------------ */

static inline blob read_file(const char *path)
{
    blob b = blob_read(path);
    ck_assert_msg(b.p != NULL, "%s: %s", path, strerror(errno));
    return b;
}

static inline void write_file(const char *path, blob b)
{
    ck_assert_int_eq(blob_write(path, b), 0);
}

static inline json_t *header_of(blob b)
{
    json_error_t je;
    json_t *h = st_header(b, &je);
    ck_assert_msg(h != NULL, "%s", je.text);
    return h;
}

static inline blob assemble(json_t *header, blob data)
{
    blob b = st_assemble(header, data);
    ck_assert_ptr_nonnull(b.p);
    return b;
}

static inline json_t *tensor(json_t *h, const char *name)
{
    json_t *t = json_object_get(h, name);
    ck_assert_msg(t != NULL, "no tensor %s", name);
    return t;
}

static inline uint64_t offset_of(json_t *h, const char *name, int which)
{
    return (uint64_t)json_integer_value(
        json_array_get(json_object_get(tensor(h, name), "data_offsets"), (size_t)which));
}

static inline void set_offsets(json_t *h, const char *name, json_int_t begin, json_int_t end)
{
    json_object_set_new(tensor(h, name), "data_offsets", json_pack("[II]", begin, end));
}

/* Sets a metadata value (NULL: removes it). */
static inline void set_meta(json_t *h, const char *key, const char *value)
{
    json_t *meta = json_object_get(h, "__metadata__");
    if (value)
        json_object_set_new(meta, key, json_string(value));
    else
        json_object_del(meta, key);
}

/* ---- malformed files from a valid one ------------------------------------------------------ */

static blob valid_file(void); /* defined by the including test */

/* A valid file whose header went through edit(); the data stays. */
static inline blob edited(void (*edit)(json_t *h))
{
    blob good = valid_file();
    json_t *h = header_of(good);
    edit(h);
    blob b = assemble(h, st_data(good));
    json_decref(h);
    free(good.p);
    return b;
}

/* A valid file with one metadata value changed (NULL: removed). */
static inline blob with_meta(const char *key, const char *value)
{
    blob good = valid_file();
    json_t *h = header_of(good);
    set_meta(h, key, value);
    blob b = assemble(h, st_data(good));
    json_decref(h);
    free(good.p);
    return b;
}

/* A valid file with the float bits at element `index` of tensor `name`. */
static inline blob with_value(const char *name, size_t index, uint32_t bits)
{
    blob b = valid_file();
    json_t *h = header_of(b);
    uint64_t at = offset_of(h, name, 0) + 4 * index;
    json_decref(h);
    memcpy(st_data(b).p + at, &bits, 4);
    return b;
}

/* For each of the n cuts, the first cuts[i] bytes of `good` must be refused by
 * expect_refused (the including test's) as too short for the 8-byte header length, for
 * the header, or for the data. */
static inline void expect_cuts_refused(blob good, const size_t *cuts, size_t n,
                                       void (*expect_refused)(blob b, const char *want1,
                                                              const char *want2))
{
    uint64_t hl = st_header_length(good);
    for (size_t i = 0; i < n; i++) {
        blob b = {malloc(cuts[i] + 1), cuts[i]};
        memcpy(b.p, good.p, cuts[i]);
        /* Cut inside the header: its length runs past the end; cut in the data: the
         * architecture or a tensor's offsets do. */
        const char *want = cuts[i] < 8 ? "8-byte" : cuts[i] < 8 + hl ? "header length"
                                                                      : "data";
        expect_refused(b, want, NULL);
    }
}

/* The message of a refusal: one line that starts with `prefix` ("FILE: ") and contains
 * the `want` strings (NULL for none). */
static inline void assert_refusal_message(const char *msg, const char *prefix,
                                          const char *want1, const char *want2)
{
    ck_assert_msg(strncmp(msg, prefix, strlen(prefix)) == 0,
                  "message does not start with the file name: %s", msg);
    ck_assert_msg(!want1 || strstr(msg, want1), "\"%s\" not in: %s", want1, msg);
    ck_assert_msg(!want2 || strstr(msg, want2), "\"%s\" not in: %s", want2, msg);
    ck_assert_msg(!strchr(msg, '\n'), "message is not one line: %s", msg);
}

#endif
