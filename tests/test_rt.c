/* Real-time safety of the streaming calls (a WaveNet, the separator, the LV2 plugin's
 * run() and the JACK client's process callback, each with a model or stream swap),
 * proven rather than promised:
 *  - allocations and lock calls are counted by interposing malloc & co. and the pthread
 *    lock functions in this executable (so calls from the engine and from the BLAS are
 *    seen);
 *  - system calls are forbidden outright: the streaming loop runs in a child process
 *    under seccomp strict mode, where any system call other than read/write/exit kills
 *    the process.
 * Built only without sanitizers, which bring their own allocator. */
#define _GNU_SOURCE
#include <check.h>
#include <dlfcn.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jack_engine.h"
#include "priorsep/denormal.h"
#include "priorsep/separator.h"
#include "priorsep/wavenet.h"
#include "lv2_host.h"
#include "test_util.h"

static atomic_int counting;
static atomic_long allocations, locks;

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static void count(atomic_long *c)
{
    if (atomic_load(&counting)) atomic_fetch_add(c, 1);
}

void *malloc(size_t n) { count(&allocations); return __libc_malloc(n); }
void *calloc(size_t m, size_t n) { count(&allocations); return __libc_calloc(m, n); }
void *realloc(void *p, size_t n) { count(&allocations); return __libc_realloc(p, n); }
void free(void *p) { if (p) count(&allocations); __libc_free(p); }
void *aligned_alloc(size_t a, size_t n) { count(&allocations); return __libc_memalign(a, n); }
int posix_memalign(void **p, size_t a, size_t n)
{
    count(&allocations);
    *p = __libc_memalign(a, n);
    return *p ? 0 : 12; /* ENOMEM */
}

/* The real lock functions, looked up on first use (libraries lock before main). */
static int (*real_mutex_lock)(pthread_mutex_t *);
static int (*real_mutex_trylock)(pthread_mutex_t *);
static int (*real_spin_lock)(pthread_spinlock_t *);

static void resolve_locks(void)
{
    if (real_mutex_lock) return;
    real_mutex_lock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
    real_mutex_trylock = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_trylock");
    real_spin_lock = (int (*)(pthread_spinlock_t *))dlsym(RTLD_NEXT, "pthread_spin_lock");
}

int pthread_mutex_lock(pthread_mutex_t *m)
{
    resolve_locks();
    count(&locks);
    return real_mutex_lock(m);
}

int pthread_mutex_trylock(pthread_mutex_t *m)
{
    resolve_locks();
    count(&locks);
    return real_mutex_trylock(m);
}

int pthread_spin_lock(pthread_spinlock_t *s)
{
    resolve_locks();
    count(&locks);
    return real_spin_lock(s);
}

enum { CALLS = 10000, MAX_FRAME = 256 };

typedef struct rt_result {
    long allocations, locks, calls;
    long extra; /* what a loop reports besides (see the loop) */
    int denormals_off_inside;
} rt_result;

/* Counting around a loop of real-time calls: the counters start from zero. */
static void counting_begin(void)
{
    atomic_store(&allocations, 0);
    atomic_store(&locks, 0);
    atomic_store(&counting, 1);
}

static void counting_end(rt_result *r, long calls)
{
    atomic_store(&counting, 0);
    r->allocations = atomic_load(&allocations);
    r->locks = atomic_load(&locks);
    r->calls = calls;
}

static void assert_nothing_counted(const rt_result *r, long calls)
{
    ck_assert_int_eq(r->calls, calls);
    ck_assert_msg(r->allocations == 0, "%ld allocations in %ld calls", r->allocations, r->calls);
    ck_assert_msg(r->locks == 0, "%ld lock calls in %ld calls", r->locks, r->calls);
}

/* Runs loop(ctx, &r) in a child process under seccomp strict mode and returns r: the
 * child is killed by the first system call the loop makes (a failure here). */
static rt_result run_without_system_calls(void (*loop)(void *ctx, rt_result *r), void *ctx)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fd[0]);
        rt_result r = {0};
        if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) syscall(SYS_exit, 3);
        loop(ctx, &r);
        /* write and exit are the only calls strict mode allows */
        if (write(fd[1], &r, sizeof r) != (ssize_t)sizeof r) syscall(SYS_exit, 4);
        syscall(SYS_exit, 0);
    }
    close(fd[1]);
    rt_result r = {0};
    ssize_t got = read(fd[0], &r, sizeof r);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert_msg(!WIFSIGNALED(status),
                  "the real-time loop was killed by signal %d: it made a system call",
                  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit %d", WEXITSTATUS(status));
    ck_assert_int_eq(got, (ssize_t)sizeof r);
    return r;
}

typedef struct rt_fixture {
    ps_wavenet *net;
    ps_wavenet_stream *st;
    float x[MAX_FRAME], cond[4], *out;
} rt_fixture;

/* 10,000 calls with frame sizes 1..MAX_FRAME, conditioning changes and resets. */
static void streaming_loop(void *ctx, rt_result *r)
{
    rt_fixture *f = ctx;
    ps_rng rng;
    ps_rng_seed(&rng, 5);
    counting_begin();
    for (int i = 0; i < CALLS; i++) {
        int n = 1 + (int)(ps_rng_u64(&rng) % MAX_FRAME);
        if (i % 1000 == 999) ps_wavenet_stream_reset(f->st);
        if (i % 500 == 250) ps_wavenet_stream_set_cond(f->st, f->cond + (i / 500 % 2));
        ps_wavenet_stream_process(f->st, f->x, n, f->out);
    }
    counting_end(r, CALLS);
}

static void setup(rt_fixture *f)
{
    resolve_locks();
    ps_error err;
    ps_wavenet_config cfg = ps_wavenet_config_reference();
    cfg.cond = 3;
    f->net = ps_wavenet_create(&cfg, &err);
    ck_assert_ptr_nonnull(f->net);
    ps_wavenet_init_random(f->net, 1);
    f->st = ps_wavenet_stream_create(f->net, MAX_FRAME, &err);
    ck_assert_ptr_nonnull(f->st);
    ps_rng rng;
    ps_rng_seed(&rng, 2);
    fill_uniform(f->x, MAX_FRAME, -1, 1, &rng);
    fill_uniform(f->cond, 4, -1, 1, &rng);
    f->out = __libc_malloc(sizeof(float) * MAX_FRAME * (size_t)ps_wavenet_out_dim(&cfg));
    atomic_store(&allocations, 0);
    atomic_store(&locks, 0);
}

static void teardown(rt_fixture *f)
{
    ps_wavenet_stream_destroy(f->st);
    ps_wavenet_destroy(f->net);
    __libc_free(f->out);
}

START_TEST(streaming_call_allocates_nothing_and_takes_no_lock)
{
    rt_fixture f;
    setup(&f);
    rt_result r;
    streaming_loop(&f, &r);
    assert_nothing_counted(&r, CALLS);
    teardown(&f);
}
END_TEST

START_TEST(interposer_sees_allocations)
{
    /* The counters must be able to fail: an allocation while counting is seen. */
    atomic_store(&allocations, 0);
    atomic_store(&counting, 1);
    void *volatile p = malloc(16);
    free(p);
    atomic_store(&counting, 0);
    ck_assert_int_eq(atomic_load(&allocations), 2);
}
END_TEST

START_TEST(streaming_call_makes_no_system_call)
{
    rt_fixture f;
    setup(&f);
    rt_result r = run_without_system_calls(streaming_loop, &f);
    assert_nothing_counted(&r, CALLS);
    teardown(&f);
}
END_TEST

/* ---- the separator with prior refinement ---------------------------------------------- */

enum { SEP_CALLS = 2000, SEP_FRAME = 64, SEP_N = 2 };

typedef struct sep_fixture {
    ps_model_set set;
    ps_separator *sp;
    float m[SEP_FRAME], *out[SEP_N];
} sep_fixture;

static ps_wavenet *random_net(ps_wavenet_config cfg, uint64_t seed)
{
    ps_error err;
    ps_wavenet *net = ps_wavenet_create(&cfg, &err);
    ck_assert_msg(net != NULL, "%s", err.msg);
    ps_wavenet_init_random(net, seed);
    return net;
}

/* A small in-memory model set: a separator of 2 sources with lookahead 4 and two
 * noise-conditioned MoL priors; K = 2. */
static void sep_setup(sep_fixture *f)
{
    resolve_locks();
    memset(f, 0, sizeof *f);
    ps_wavenet_config c = {.stacks = 2, .layers = 4, .kernel = 2, .input_kernel = 2,
                           .residual = 16, .skip = 16, .hidden = 16, .cond = 0,
                           .head = PS_HEAD_GAUSSIAN, .mixtures = SEP_N};
    f->set.separator = random_net(c, 11);
    f->set.info = (ps_model_info){.sample_rate = 14700, .n_sources = SEP_N,
                                  .sources = {"vocals", "drums"}, .weights = {0.6f, 0.4f},
                                  .lookahead = 4};
    c.cond = 1, c.head = PS_HEAD_MOL, c.mixtures = 3;
    for (int k = 0; k < SEP_N; k++) {
        f->set.prior[k] = random_net(c, 12 + (uint64_t)k);
        f->set.prior_info[k] = (ps_model_info){.sample_rate = 14700, .noise_levels = 10,
                                               .sigma_max = 1.0f, .sigma_min = 0.01f};
        memcpy(f->set.prior_info[k].source, f->set.info.sources[k], 32);
    }
    ps_error err;
    f->sp = ps_separator_create(&f->set, SEP_FRAME, &err);
    ck_assert_msg(f->sp != NULL, "%s", err.msg);
    ps_separator_set_refine(f->sp, 2);
    ps_rng rng;
    ps_rng_seed(&rng, 13);
    fill_uniform(f->m, SEP_FRAME, -0.5f, 0.5f, &rng);
    for (int k = 0; k < SEP_N; k++) f->out[k] = __libc_malloc(sizeof(float) * SEP_FRAME);
}

static void sep_teardown(sep_fixture *f)
{
    ps_separator_destroy(f->sp);
    ps_model_set_free(&f->set);
    for (int k = 0; k < SEP_N; k++) __libc_free(f->out[k]);
}

/* 2,000 calls of 64 samples with K = 2; a reset now and then, and a stretch with K = 0
 * (going back to K = 2 restarts the priors). */
static void separator_loop(void *ctx, rt_result *r)
{
    sep_fixture *f = ctx;
    counting_begin();
    for (int i = 0; i < SEP_CALLS; i++) {
        if (i % 700 == 699) ps_separator_reset(f->sp);
        if (i % 500 == 200) ps_separator_set_refine(f->sp, 0);
        if (i % 500 == 220) ps_separator_set_refine(f->sp, 2);
        ps_separator_process(f->sp, f->m, SEP_FRAME, f->out);
    }
    counting_end(r, SEP_CALLS);
}

START_TEST(separator_call_allocates_nothing_and_takes_no_lock)
{
    sep_fixture f;
    sep_setup(&f);
    rt_result r;
    separator_loop(&f, &r);
    assert_nothing_counted(&r, SEP_CALLS);
    for (int k = 0; k < SEP_N; k++)
        for (int i = 0; i < SEP_FRAME; i++) ck_assert(isfinite(f.out[k][i]));
    sep_teardown(&f);
}
END_TEST

START_TEST(separator_call_makes_no_system_call)
{
    sep_fixture f;
    sep_setup(&f);
    rt_result r = run_without_system_calls(separator_loop, &f);
    assert_nothing_counted(&r, SEP_CALLS);
    sep_teardown(&f);
}
END_TEST

/* ---- the LV2 plugin's run(), model swap included ------------------------------------ */

enum { PLUGIN_CALLS = 1500, PLUGIN_BLOCK = 256 };

typedef struct plugin_fixture {
    lv2_host *host;
    float in[PLUGIN_BLOCK], out[4][PLUGIN_BLOCK];
    int jobs_after; /* worker jobs the loop left (the old model to free, a new load) */
} plugin_fixture;

/* The plugin at 48 kHz (so resampling both ways) in our lilv host; a model change has
 * been loaded by the worker and waits for the audio thread. */
static void plugin_setup(plugin_fixture *f)
{
    resolve_locks();
    memset(f, 0, sizeof *f);
    ck_assert_ptr_nonnull(getenv("LV2_PATH"));
    f->host = lv2_host_new(48000, PLUGIN_BLOCK);
    ck_assert_ptr_nonnull(f->host);
    ps_rng rng;
    ps_rng_seed(&rng, 17);
    fill_uniform(f->in, PLUGIN_BLOCK, -0.5f, 0.5f, &rng);
    float *out[4] = {f->out[0], f->out[1], f->out[2], f->out[3]};
    lv2_host_run(f->host, f->in, PLUGIN_BLOCK, out);
    lv2_host_set_model(f->host, PRIORSEP_SOURCE_ROOT "/models/toy/separator-unsupervised.safetensors");
    lv2_host_run(f->host, f->in, PLUGIN_BLOCK, out);
    ck_assert_int_eq(lv2_host_work(f->host), 0);
    lv2_host_set_model(f->host, PRIORSEP_SOURCE_ROOT "/models/toy");
}

/* The first call swaps the new model in and hands the old one to the worker; the loop
 * then varies the block length (1 .. 256), K, gains, solo and bypass, and sends another
 * model change (to the worker, not run here). */
static void plugin_loop(void *ctx, rt_result *r)
{
    plugin_fixture *f = ctx;
    float *out[4] = {f->out[0], f->out[1], f->out[2], f->out[3]};
    ps_rng rng;
    ps_rng_seed(&rng, 18);
    counting_begin();
    for (int i = 0; i < PLUGIN_CALLS; i++) {
        int n = 1 + (int)(ps_rng_u64(&rng) % PLUGIN_BLOCK);
        if (i % 300 == 100) lv2_host_set(f->host, "refine", (float)(i / 300 % 3));
        if (i % 300 == 150) lv2_host_set(f->host, "gain_2", -6.0f * (float)(i / 300));
        if (i % 500 == 250) lv2_host_set(f->host, "solo_3", (float)(i / 500 % 2));
        if (i % 700 == 350) lv2_host_set(f->host, "enabled", (float)(i / 700 % 2 == 0 ? 0 : 1));
        lv2_host_run(f->host, f->in, n, out);
    }
    counting_end(r, PLUGIN_CALLS);
    f->jobs_after = lv2_host_jobs(f->host);
    r->extra = f->jobs_after;
}

START_TEST(plugin_run_allocates_nothing_and_takes_no_lock)
{
    plugin_fixture f;
    plugin_setup(&f);
    rt_result r;
    plugin_loop(&f, &r);
    assert_nothing_counted(&r, PLUGIN_CALLS);
    ck_assert_int_eq(r.extra, 2); /* the swap happened inside: the old model to free */
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < PLUGIN_BLOCK; i++) ck_assert(isfinite(f.out[k][i]));
    lv2_host_free(f.host); /* after the worker's jobs: no model left behind */
}
END_TEST

START_TEST(plugin_run_makes_no_system_call)
{
    plugin_fixture f;
    plugin_setup(&f);
    rt_result r = run_without_system_calls(plugin_loop, &f);
    assert_nothing_counted(&r, PLUGIN_CALLS);
    ck_assert_int_eq(r.extra, 2);
    lv2_host_free(f.host); /* after the worker's jobs: no model left behind */
}
END_TEST

/* ---- the JACK client's process callback, swapping streams ------------------------------ */

enum { JACK_CYCLES = 400, JACK_MAX_N = 1024, JACK_N = 4 };

typedef struct jack_fixture {
    jack_engine e;
    float in[JACK_MAX_N], *out[JACK_N];
} jack_fixture;

/* The toy model at 48 kHz for periods of 256, a few cycles run; then a stream for
 * 44.1 kHz and periods of 512 is published (a server's rate change), for the first
 * counted cycle to adopt. The input has a NaN and an
 * infinity (reported through the ring). */
static void jack_setup(jack_fixture *f)
{
    resolve_locks();
    ps_error err;
    ck_assert_msg(jack_engine_init(&f->e, PRIORSEP_SOURCE_ROOT "/models/toy", 48000, 256, 1,
                                   &err) == 0, "%s", err.msg);
    ck_assert_int_eq(f->e.info.n_sources, JACK_N);
    ps_rng rng;
    ps_rng_seed(&rng, 21);
    fill_uniform(f->in, JACK_MAX_N, -0.5f, 0.5f, &rng);
    f->in[17] = NAN, f->in[300] = INFINITY;
    for (int k = 0; k < JACK_N; k++) f->out[k] = __libc_malloc(sizeof(float) * JACK_MAX_N);
    for (int i = 0; i < 4; i++) jack_engine_process(&f->e, f->in, 256, f->out);
    ck_assert_int_eq(jack_engine_publish(&f->e, 44100, 512, &err), 0);
}

static void jack_teardown(jack_fixture *f)
{
    jack_engine_free(&f->e);
    for (int k = 0; k < JACK_N; k++) __libc_free(f->out[k]);
}

/* Cycles of 1 .. JACK_MAX_N samples (beyond the stream's block: split inside). */
static void jack_loop(void *ctx, rt_result *r)
{
    jack_fixture *f = ctx;
    ps_rng rng;
    ps_rng_seed(&rng, 22);
    counting_begin();
    for (int i = 0; i < JACK_CYCLES; i++)
        jack_engine_process(&f->e, f->in, 1 + (int)(ps_rng_u64(&rng) % JACK_MAX_N), f->out);
    counting_end(r, JACK_CYCLES);
}

START_TEST(jack_process_allocates_nothing_and_takes_no_lock)
{
    jack_fixture f;
    jack_setup(&f);
    int old_latency = jack_engine_latency(&f.e);
    rt_result r;
    jack_loop(&f, &r);
    assert_nothing_counted(&r, JACK_CYCLES);
    /* the swap happened inside the counted cycles, and was reported */
    ck_assert_ptr_null(atomic_load(&f.e.pending));
    ck_assert_ptr_nonnull(atomic_load(&f.e.retired));
    ck_assert_int_ne(jack_engine_latency(&f.e), old_latency);
    int adopted = 0;
    long nonfinite = 0;
    for (jack_engine_event ev; jack_engine_next_event(&f.e, &ev);) {
        adopted += ev.kind == JACK_ENGINE_ADOPTED;
        if (ev.kind == JACK_ENGINE_NONFINITE) nonfinite += ev.count;
        ck_assert_int_ne(ev.kind, JACK_ENGINE_UNDERRUN);
    }
    ck_assert_int_eq(adopted, 1);
    ck_assert_int_eq(nonfinite, atomic_load(&f.e.nonfinite));
    ck_assert_int_gt(nonfinite, 0);
    jack_engine_collect(&f.e);
    ck_assert_ptr_null(atomic_load(&f.e.retired));
    for (int k = 0; k < JACK_N; k++)
        for (int i = 0; i < JACK_MAX_N; i++) ck_assert(isfinite(f.out[k][i]));
    jack_teardown(&f);
}
END_TEST

START_TEST(jack_process_makes_no_system_call)
{
    jack_fixture f;
    jack_setup(&f);
    rt_result r = run_without_system_calls(jack_loop, &f);
    assert_nothing_counted(&r, JACK_CYCLES);
    jack_teardown(&f);
}
END_TEST

START_TEST(seccomp_child_is_killed_by_a_system_call)
{
    /* Control: the same harness does catch a system call. */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT);
        (void)getppid();
        syscall(SYS_exit, 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status));
}
END_TEST

Suite *suite(void)
{
    Suite *s = suite_create("realtime");
    TCase *tc = tcase_create("streaming");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, interposer_sees_allocations);
    tcase_add_test(tc, streaming_call_allocates_nothing_and_takes_no_lock);
    tcase_add_test(tc, seccomp_child_is_killed_by_a_system_call);
    tcase_add_test(tc, streaming_call_makes_no_system_call);
    tcase_add_test(tc, separator_call_allocates_nothing_and_takes_no_lock);
    tcase_add_test(tc, separator_call_makes_no_system_call);
    tcase_add_test(tc, plugin_run_allocates_nothing_and_takes_no_lock);
    tcase_add_test(tc, plugin_run_makes_no_system_call);
    tcase_add_test(tc, jack_process_allocates_nothing_and_takes_no_lock);
    tcase_add_test(tc, jack_process_makes_no_system_call);
    suite_add_tcase(s, tc);
    return s;
}
