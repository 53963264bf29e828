/* priorsep jack: the separator as a JACK client. The process callback only hands its
 * buffers to the engine (jack_engine.c); everything that may block (building streams for
 * a new rate or block size, printing, freeing) happens on JACK's notification thread or
 * on the main thread, which wakes every few milliseconds to print what the callback
 * reported and to free what it retired. */
#define _GNU_SOURCE
#include <getopt.h>
#include <jack/jack.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "jack_engine.h"

static void usage(FILE *f)
{
    fputs("usage: priorsep jack [options]\n"
          "\n"
          "Runs the separator as a JACK client: one input, `in', and one output per source\n"
          "of the model, named after it. Follows the server's sample rate and buffer size,\n"
          "reports its latency to JACK and counts xruns. NaN or infinite input samples are\n"
          "separated as 0 (and reported). Stops on SIGINT or SIGTERM (exit 0) or when the\n"
          "server goes away (exit 1), with a summary of the run.\n"
          "\n"
          "  --model PATH   model folder (separator.safetensors and one prior per source)\n"
          "                 or separator file (default: " PRIORSEP_DEFAULT_MODEL ")\n"
          "  --refine K     prior refinement steps per frame, 0..8 (default 0: fastest)\n"
          "  --name NAME    JACK client name (default: priorsep)\n"
          "  --server NAME  JACK server to connect to (default: the default server)\n"
          "  --connect      connect `in' to the first physical capture port and source k\n"
          "                 to physical playback port k (cycling through them)\n"
          "  --quiet        no start line and no notices while running (errors and the\n"
          "                 summary stay)\n"
          "\n"
          "example: priorsep jack --model models/toy --connect\n"
          "(live use wants K = 0: K = 1 costs about 5 times as much CPU)\n",
          f);
}

typedef struct jack_app {
    jack_client_t *client;
    jack_port_t *in, *out[PS_MAX_SOURCES];
    int n_out;
    jack_engine engine;
    atomic_long xruns;
    atomic_int server_gone, rebuild_failed;
    ps_error rebuild_error; /* written before rebuild_failed is set */
    /* the server's frame time of the first sample separated: a recording of the outputs
     * is the separation of the input since then, `latency` samples late */
    atomic_uint first_frame;
    atomic_int started;
} jack_app;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int on_process(jack_nframes_t n, void *arg)
{
    jack_app *app = arg;
    if (!atomic_load_explicit(&app->started, memory_order_relaxed)) {
        atomic_store(&app->first_frame, jack_last_frame_time(app->client));
        atomic_store(&app->started, 1);
    }
    float *outs[PS_MAX_SOURCES];
    for (int k = 0; k < app->n_out; k++) outs[k] = jack_port_get_buffer(app->out[k], n);
    jack_engine_process(&app->engine, jack_port_get_buffer(app->in, n), (int)n, outs);
    return 0;
}

/* Rate and block size changes come on the notification thread, before the process
 * callback sees them: the new stream is built here, so the callback adopts it at once. */
static void rebuild(jack_app *app, double rate, int block)
{
    if (jack_engine_publish(&app->engine, rate, block, &app->rebuild_error))
        atomic_store(&app->rebuild_failed, 1);
}

static int on_buffer_size(jack_nframes_t n, void *arg)
{
    jack_app *app = arg;
    rebuild(app, app->engine.rate, (int)n);
    return 0;
}

static int on_sample_rate(jack_nframes_t rate, void *arg)
{
    jack_app *app = arg;
    rebuild(app, rate, app->engine.block);
    return 0;
}

static int on_xrun(void *arg)
{
    jack_app *app = arg;
    atomic_fetch_add(&app->xruns, 1);
    return 0;
}

static void on_shutdown(void *arg)
{
    jack_app *app = arg;
    atomic_store(&app->server_gone, 1);
}

/* The standard pattern: what reaches an output was captured `latency` samples before the
 * input's capture latency, and what reaches the input plays `latency` samples after the
 * outputs' playback latency (the widest range over them). */
static void on_latency(jack_latency_callback_mode_t mode, void *arg)
{
    jack_app *app = arg;
    jack_nframes_t L = (jack_nframes_t)jack_engine_latency(&app->engine);
    jack_latency_range_t r;
    if (mode == JackCaptureLatency) {
        jack_port_get_latency_range(app->in, mode, &r);
        r.min += L, r.max += L;
        for (int k = 0; k < app->n_out; k++) jack_port_set_latency_range(app->out[k], mode, &r);
        return;
    }
    jack_latency_range_t all = {0, 0};
    for (int k = 0; k < app->n_out; k++) {
        jack_port_get_latency_range(app->out[k], mode, &r);
        if (k == 0 || r.min < all.min) all.min = r.min;
        if (r.max > all.max) all.max = r.max;
    }
    all.min += L, all.max += L;
    jack_port_set_latency_range(app->in, mode, &all);
}

static int register_ports(jack_app *app)
{
    const ps_model_info *info = &app->engine.info;
    app->in = jack_port_register(app->client, "in", JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
    if (!app->in) return cli_fail(EXIT_RUNTIME, "cannot register the JACK port 'in'");
    for (int k = 0; k < info->n_sources; k++) {
        app->out[k] = jack_port_register(app->client, info->sources[k], JACK_DEFAULT_AUDIO_TYPE,
                                         JackPortIsOutput, 0);
        if (!app->out[k])
            return cli_fail(EXIT_RUNTIME, "cannot register the JACK port '%s'", info->sources[k]);
        app->n_out++;
    }
    return 0;
}

static int set_callbacks(jack_app *app)
{
    jack_client_t *c = app->client;
    if (jack_set_process_callback(c, on_process, app) ||
        jack_set_buffer_size_callback(c, on_buffer_size, app) ||
        jack_set_sample_rate_callback(c, on_sample_rate, app) ||
        jack_set_xrun_callback(c, on_xrun, app) ||
        jack_set_latency_callback(c, on_latency, app))
        return cli_fail(EXIT_RUNTIME, "cannot set the JACK callbacks");
    jack_on_shutdown(c, on_shutdown, app);
    return 0;
}

/* --connect: a connection that fails is reported, not fatal. */
static void connect_physical(jack_app *app)
{
    jack_client_t *c = app->client;
    const char **capture = jack_get_ports(c, NULL, JACK_DEFAULT_AUDIO_TYPE,
                                          JackPortIsPhysical | JackPortIsOutput);
    const char **playback = jack_get_ports(c, NULL, JACK_DEFAULT_AUDIO_TYPE,
                                           JackPortIsPhysical | JackPortIsInput);
    if (!capture || !capture[0] || jack_connect(c, capture[0], jack_port_name(app->in)))
        cli_fail(0, "--connect: input not connected (no physical capture port?)");
    int n_play = 0;
    while (playback && playback[n_play]) n_play++;
    for (int k = 0; k < app->n_out; k++)
        if (!n_play || jack_connect(c, jack_port_name(app->out[k]), playback[k % n_play]))
            cli_fail(0, "--connect: %s not connected (no physical playback port?)",
                     jack_port_name(app->out[k]));
    jack_free(capture);
    jack_free(playback);
}

static void print_start_line(jack_app *app, const char *model_path)
{
    const ps_model_info *info = &app->engine.info;
    printf("priorsep jack: model %s (%d sources at %d Hz), %.0f Hz, latency %d samples; ports %s ->",
           model_path, info->n_sources, info->sample_rate, app->engine.rate,
           jack_engine_latency(&app->engine), jack_port_name(app->in));
    for (int k = 0; k < app->n_out; k++) printf(" %s", jack_port_name(app->out[k]));
    putchar('\n');
    fflush(stdout);
}

/* Prints (unless quiet) what the process callback reported since the last call, and
 * frees what it retired; tells JACK when the latency has changed. */
static void drain(jack_app *app, long *xruns_printed, int quiet)
{
    jack_engine_event ev;
    long nonfinite = 0;
    int adopted = 0;
    while (jack_engine_next_event(&app->engine, &ev)) {
        switch (ev.kind) {
        case JACK_ENGINE_NONFINITE: nonfinite += ev.count; break;
        case JACK_ENGINE_UNDERRUN:
            if (!quiet) cli_fail(0, "%ld samples of silence: the resampler fell behind", ev.count);
            break;
        case JACK_ENGINE_ADOPTED:
            adopted = 1;
            if (!quiet)
                cli_fail(0, "now at %.0f Hz, blocks of %d, latency %ld samples", app->engine.rate,
                         app->engine.block, ev.count);
            break;
        }
    }
    if (nonfinite && !quiet) cli_fail(0, "%ld non-finite input samples zeroed", nonfinite);
    if (adopted) jack_recompute_total_latencies(app->client);
    jack_engine_collect(&app->engine);
    long xruns = atomic_load(&app->xruns);
    if (xruns != *xruns_printed && !quiet) cli_fail(0, "xrun (%ld so far)", xruns);
    *xruns_printed = xruns;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Until a signal, the server's shutdown or a failed rebuild; the exit code. */
static int run(jack_app *app, int quiet)
{
    long xruns_printed = 0;
    double start = now_s();
    const struct timespec tick = {0, 20 * 1000 * 1000};
    while (!stop_requested && !atomic_load(&app->server_gone) &&
           !atomic_load(&app->rebuild_failed)) {
        nanosleep(&tick, NULL); /* a signal cuts it short */
        drain(app, &xruns_printed, quiet);
    }
    int rc = EXIT_OK;
    if (atomic_load(&app->server_gone))
        rc = cli_fail(EXIT_RUNTIME, "the JACK server shut down");
    else if (atomic_load(&app->rebuild_failed))
        rc = cli_fail(EXIT_RUNTIME, "%s", app->rebuild_error.msg);
    jack_client_close(app->client); /* the process callback has stopped after this */
    app->client = NULL;
    drain(app, &xruns_printed, quiet);
    printf("priorsep jack: ran %.1f s, %ld xruns, %ld non-finite input samples zeroed, "
           "%ld underruns; first frame %u\n",
           now_s() - start, atomic_load(&app->xruns), atomic_load(&app->engine.nonfinite),
           atomic_load(&app->engine.underruns), atomic_load(&app->first_frame));
    return rc;
}

/* Opens the client; the message says why not. */
static int open_client(jack_app *app, const char *name, const char *server)
{
    jack_status_t status;
    jack_options_t opts = server ? JackServerName : JackNullOption;
    app->client = jack_client_open(name, opts, &status, server);
    if (app->client) return 0;
    if (status & JackServerFailed)
        return cli_fail(EXIT_RUNTIME, "cannot connect to the JACK server%s%s%s (is it running?)",
                        server ? " '" : "", server ? server : "", server ? "'" : "");
    if (status & JackNameNotUnique)
        return cli_fail(EXIT_RUNTIME, "--name: a JACK client '%s' exists", name);
    return cli_fail(EXIT_RUNTIME, "cannot open a JACK client (status 0x%x)", (unsigned)status);
}

int cmd_jack(int argc, char **argv)
{
    enum { O_MODEL = 256, O_REFINE, O_NAME, O_SERVER, O_CONNECT, O_QUIET, O_HELP };
    static const struct option options[] = {
        {"model", required_argument, 0, O_MODEL}, {"refine", required_argument, 0, O_REFINE},
        {"name", required_argument, 0, O_NAME},   {"server", required_argument, 0, O_SERVER},
        {"connect", no_argument, 0, O_CONNECT},   {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, O_HELP},         {0, 0, 0, 0}};
    const char *model_path = PRIORSEP_DEFAULT_MODEL, *name = "priorsep", *server = NULL;
    long refine = 0;
    int connect = 0, quiet = 0, opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case O_MODEL: model_path = optarg; break;
        case O_REFINE:
            if (cli_parse_int("--refine", optarg, 0, PS_MAX_REFINE, &refine)) return EXIT_USAGE;
            break;
        case O_NAME: name = optarg; break;
        case O_SERVER: server = optarg; break;
        case O_CONNECT: connect = 1; break;
        case O_QUIET: quiet = 1; break;
        case O_HELP: usage(stdout); return EXIT_OK;
        default: usage(stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) return cli_fail(EXIT_USAGE, "%s: unexpected argument", argv[optind]);

    static jack_app app; /* the callbacks' argument: lives until the client is closed */
    memset(&app, 0, sizeof app);
    if (open_client(&app, name, server)) return EXIT_RUNTIME;
    ps_error err;
    if (jack_engine_init(&app.engine, model_path, jack_get_sample_rate(app.client),
                         (int)jack_get_buffer_size(app.client), (int)refine, &err)) {
        jack_client_close(app.client);
        return cli_fail(EXIT_RUNTIME, "%s", err.msg);
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int rc = register_ports(&app);
    if (!rc) rc = set_callbacks(&app);
    if (!rc && jack_activate(app.client)) rc = cli_fail(EXIT_RUNTIME, "cannot activate the JACK client");
    if (rc) {
        jack_client_close(app.client);
    } else {
        if (connect) connect_physical(&app);
        if (!quiet) print_start_line(&app, model_path);
        rc = run(&app, quiet);
    }
    jack_engine_free(&app.engine);
    return rc;
}
