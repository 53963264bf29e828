#include "jack_engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Room for this many events: at one or two per cycle, seconds of cycles between the
 * main thread's reads. */
enum { EVENT_CAPACITY = 4096 };

static ps_host_stream *build(const jack_engine *e, double rate, int block, ps_error *err)
{
    ps_host_stream *hs = ps_host_stream_create(e->model_path, rate, block, err);
    if (hs) ps_host_stream_set_refine(hs, e->refine);
    return hs;
}

int jack_engine_init(jack_engine *e, const char *model_path, double rate, int block, int refine,
                     ps_error *err)
{
    memset(e, 0, sizeof *e);
    e->refine = refine;
    if (!(e->model_path = strdup(model_path)) ||
        !(e->events = jack_ringbuffer_create(EVENT_CAPACITY * sizeof(jack_engine_event)))) {
        jack_engine_free(e);
        return ps_error_set(err, "out of memory");
    }
    ps_host_stream *hs = build(e, rate, block, err);
    if (!hs) {
        jack_engine_free(e);
        return -1;
    }
    e->rate = rate, e->block = block;
    e->info = *ps_host_stream_info(hs);
    atomic_init(&e->current, hs);
    atomic_init(&e->latency, ps_host_stream_latency(hs));
    return 0;
}

void jack_engine_free(jack_engine *e)
{
    ps_host_stream_destroy(atomic_load(&e->current));
    ps_host_stream_destroy(atomic_load(&e->pending));
    ps_host_stream_destroy(atomic_load(&e->retired));
    if (e->events) jack_ringbuffer_free(e->events);
    free(e->model_path);
    memset(e, 0, sizeof *e);
}

int jack_engine_publish(jack_engine *e, double rate, int block, ps_error *err)
{
    if (rate == e->rate && block == e->block) return 0;
    ps_host_stream *hs = build(e, rate, block, err);
    if (!hs) return -1;
    e->rate = rate, e->block = block;
    /* one the process callback never took is ours again */
    ps_host_stream_destroy(atomic_exchange(&e->pending, hs));
    return 0;
}

void jack_engine_collect(jack_engine *e)
{
    ps_host_stream_destroy(atomic_exchange(&e->retired, NULL));
}

int jack_engine_next_event(jack_engine *e, jack_engine_event *ev)
{
    if (jack_ringbuffer_read_space(e->events) < sizeof *ev) return 0;
    jack_ringbuffer_read(e->events, (char *)ev, sizeof *ev);
    return 1;
}

int jack_engine_latency(jack_engine *e) { return atomic_load(&e->latency); }

/* A full ring drops the event rather than wait (the totals are kept apart). */
static void report(jack_engine *e, jack_engine_event_kind kind, long count)
{
    jack_engine_event ev = {kind, count};
    if (jack_ringbuffer_write_space(e->events) >= sizeof ev)
        jack_ringbuffer_write(e->events, (const char *)&ev, sizeof ev);
}

/* The pending stream, if any, replaces the current one, which waits in `retired` for the
 * main thread. */
static ps_host_stream *adopt_pending(jack_engine *e)
{
    ps_host_stream *hs = atomic_load_explicit(&e->current, memory_order_relaxed);
    if (!atomic_load_explicit(&e->pending, memory_order_relaxed) ||
        atomic_load_explicit(&e->retired, memory_order_acquire))
        return hs;
    ps_host_stream *next = atomic_exchange_explicit(&e->pending, NULL, memory_order_acq_rel);
    if (!next) return hs;
    atomic_store_explicit(&e->retired, hs, memory_order_release);
    atomic_store_explicit(&e->current, next, memory_order_relaxed);
    e->underruns_seen = 0;
    atomic_store(&e->latency, ps_host_stream_latency(next));
    report(e, JACK_ENGINE_ADOPTED, ps_host_stream_latency(next));
    return next;
}

void jack_engine_process(jack_engine *e, const float *in, int n, float *const *outs)
{
    ps_host_stream *hs = adopt_pending(e);
    long bad = 0;
    for (int i = 0; i < n; i++) bad += !isfinite(in[i]);
    ps_host_stream_process(hs, in, n, outs); /* takes them as 0 */
    if (bad) {
        atomic_fetch_add_explicit(&e->nonfinite, bad, memory_order_relaxed);
        report(e, JACK_ENGINE_NONFINITE, bad);
    }
    long underruns = ps_host_stream_underruns(hs);
    if (underruns != e->underruns_seen) {
        atomic_fetch_add_explicit(&e->underruns, underruns - e->underruns_seen,
                                  memory_order_relaxed);
        report(e, JACK_ENGINE_UNDERRUN, underruns - e->underruns_seen);
        e->underruns_seen = underruns;
    }
}
