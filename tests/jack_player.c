/* The live test's JACK peer (test_jack.c): plays an audio file into a client's input and
 * records all of that client's outputs, from the very cycle playing starts, so that the
 * recording lines up with what was played sample for sample.
 *
 * Two JACK clients: "<target>-player" feeds <target>:in and "<target>-recorder" reads
 * every output of <target>. Splitting them keeps the graph free of a cycle (a client that
 * both fed and read the target would get its outputs one period late, or not, depending on
 * the server's ordering); in each period JACK runs the player, the target, the recorder.
 *
 *   jack_player SERVER TARGET FILE SECONDS OUTDIR
 *
 * Prints the target's ports, the capture latency of its outputs less that of its input
 * (as JACK reports it) and the xruns seen after playing started; writes
 * OUTDIR/live.<port>.wav (float, at the server's rate), as long as the file plus the
 * latency and 1,024 samples. */
#define _GNU_SOURCE
#include <jack/jack.h>
#include <sndfile.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_PORTS = 16 };

static struct {
    jack_client_t *player, *recorder;
    jack_port_t *out, *in[MAX_PORTS];
    int n_in;
    float *mix;
    long mix_len, rec_len;
    float *rec[MAX_PORTS];
    atomic_int go, started;
    atomic_uint start_frame; /* the period in which playing started */
    atomic_long xruns;
} P;

static int die(const char *msg, const char *what)
{
    fprintf(stderr, "jack_player: %s%s%s\n", msg, what ? ": " : "", what ? what : "");
    exit(1);
}

static int play(jack_nframes_t n, void *arg)
{
    (void)arg;
    float *out = jack_port_get_buffer(P.out, n);
    static long pos;
    if (!atomic_load(&P.started) && atomic_load(&P.go)) {
        atomic_store(&P.start_frame, jack_last_frame_time(P.player));
        atomic_store(&P.started, 1);
    }
    for (jack_nframes_t i = 0; i < n; i++)
        out[i] = atomic_load_explicit(&P.started, memory_order_relaxed) && pos < P.mix_len
                     ? P.mix[pos++] : 0.0f;
    return 0;
}

/* Records at the offset of this period from the one playing started in: a period in
 * which the recorder ran first only leaves its samples at zero. */
static int record(jack_nframes_t n, void *arg)
{
    (void)arg;
    if (!atomic_load(&P.started)) return 0;
    long at = (long)(jack_last_frame_time(P.recorder) - atomic_load(&P.start_frame));
    for (int k = 0; k < P.n_in; k++) {
        const float *x = jack_port_get_buffer(P.in[k], n);
        for (long i = 0; i < (long)n && at + i < P.rec_len; i++)
            if (at + i >= 0) P.rec[k][at + i] = x[i];
    }
    return 0;
}

/* Where the first xruns fell (frames after playing started): printed, for a failure to
 * show whether they cluster (at the start, say) or are spread. */
static long xrun_at[16];

static int on_xrun(void *arg)
{
    (void)arg;
    if (!atomic_load(&P.started)) return 0;
    long k = atomic_fetch_add(&P.xruns, 1);
    if (k < 16) xrun_at[k] = (long)(jack_frame_time(P.recorder) - atomic_load(&P.start_frame));
    return 0;
}

static jack_client_t *open_client(const char *name, const char *server)
{
    jack_status_t status;
    jack_client_t *c = jack_client_open(name, JackServerName | JackNoStartServer |
                                        JackUseExactName, &status, server);
    if (!c) die("cannot open a client on server", server);
    return c;
}

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (long)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void read_mix(const char *path)
{
    SF_INFO info = {0};
    SNDFILE *f = sf_open(path, SFM_READ, &info);
    if (!f || info.channels != 1) die("not a mono audio file", path);
    P.mix_len = (long)info.frames;
    P.mix = malloc(sizeof(float) * (size_t)P.mix_len);
    if (!P.mix || sf_readf_float(f, P.mix, P.mix_len) != P.mix_len) die("cannot read", path);
    sf_close(f);
}

/* Waits for TARGET:in, then registers a recorder input per TARGET output. */
static void find_ports(const char *target)
{
    char name[256];
    snprintf(name, sizeof name, "%s:in", target);
    for (int i = 0; i < 200 && !jack_port_by_name(P.recorder, name); i++) sleep_s(0.05);
    if (!jack_port_by_name(P.recorder, name)) die("no port", name);
    char pattern[256];
    snprintf(pattern, sizeof pattern, "^%s:", target);
    const char **outs = jack_get_ports(P.recorder, pattern, JACK_DEFAULT_AUDIO_TYPE,
                                       JackPortIsOutput);
    printf("ports: in");
    for (; outs && outs[P.n_in] && P.n_in < MAX_PORTS; P.n_in++) {
        const char *short_name = strchr(outs[P.n_in], ':') + 1;
        printf(" %s", short_name);
        P.in[P.n_in] = jack_port_register(P.recorder, short_name, JACK_DEFAULT_AUDIO_TYPE,
                                          JackPortIsInput, 0);
        if (!P.in[P.n_in]) die("cannot register", short_name);
    }
    putchar('\n');
    jack_free(outs);
    P.out = jack_port_register(P.player, "out", JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
    if (!P.out || !P.n_in) die("no ports to play to or record from", target);
}

static void connect_all(const char *target)
{
    char name[256];
    snprintf(name, sizeof name, "%s:in", target);
    if (jack_connect(P.player, jack_port_name(P.out), name)) die("cannot connect to", name);
    for (int k = 0; k < P.n_in; k++) {
        snprintf(name, sizeof name, "%s:%s", target, jack_port_short_name(P.in[k]));
        if (jack_connect(P.recorder, name, jack_port_name(P.in[k]))) die("cannot connect", name);
    }
}

/* The capture latency of the target's first output less that of its input: the
 * target's own latency as it reports it (0 when the range is not a single value). */
static long target_latency(const char *target)
{
    char name[256];
    jack_latency_range_t in, out;
    snprintf(name, sizeof name, "%s:in", target);
    jack_port_get_latency_range(jack_port_by_name(P.recorder, name), JackCaptureLatency, &in);
    snprintf(name, sizeof name, "%s:%s", target, jack_port_short_name(P.in[0]));
    jack_port_get_latency_range(jack_port_by_name(P.recorder, name), JackCaptureLatency, &out);
    return in.min == in.max && out.min == out.max ? (long)out.min - (long)in.min : 0;
}

static void write_recording(const char *dir, int rate)
{
    for (int k = 0; k < P.n_in; k++) {
        char path[512];
        snprintf(path, sizeof path, "%s/live.%s.wav", dir, jack_port_short_name(P.in[k]));
        SF_INFO info = {.samplerate = rate, .channels = 1, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
        SNDFILE *f = sf_open(path, SFM_WRITE, &info);
        if (!f || sf_writef_float(f, P.rec[k], P.rec_len) != P.rec_len) die("cannot write", path);
        sf_close(f);
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) die("usage: jack_player SERVER TARGET FILE SECONDS OUTDIR", NULL);
    const char *server = argv[1], *target = argv[2];
    double seconds = atof(argv[4]);
    read_mix(argv[3]);
    char name[256];
    snprintf(name, sizeof name, "%s-player", target);
    P.player = open_client(name, server);
    snprintf(name, sizeof name, "%s-recorder", target);
    P.recorder = open_client(name, server);
    find_ports(target);
    jack_set_process_callback(P.player, play, NULL);
    jack_set_process_callback(P.recorder, record, NULL);
    jack_set_xrun_callback(P.recorder, on_xrun, NULL);
    if (jack_activate(P.player) || jack_activate(P.recorder)) die("cannot activate", NULL);
    connect_all(target);
    long latency = 0;
    for (int i = 0; i < 100 && latency <= 0; i++, sleep_s(0.02)) latency = target_latency(target);
    if (latency <= 0) die("the target reports no latency", target);
    P.rec_len = P.mix_len + latency + 1024;
    for (int k = 0; k < P.n_in; k++)
        if (!(P.rec[k] = calloc((size_t)P.rec_len, sizeof(float)))) die("out of memory", NULL);
    sleep_s(0.5); /* settle after the connections (xruns before playing are not counted) */
    atomic_store(&P.go, 1);
    sleep_s(seconds);
    int rate = (int)jack_get_sample_rate(P.recorder);
    jack_deactivate(P.player);
    jack_deactivate(P.recorder);
    for (long k = 0; k < atomic_load(&P.xruns) && k < 16; k++) printf("xrun at %ld\n", xrun_at[k]);
    printf("latency: %ld\nxruns: %ld\nstart frame: %u\n", latency, atomic_load(&P.xruns),
           atomic_load(&P.start_frame));
    write_recording(argv[5], rate);
    jack_client_close(P.player);
    jack_client_close(P.recorder);
    for (int k = 0; k < P.n_in; k++) free(P.rec[k]);
    free(P.mix);
    return 0;
}
