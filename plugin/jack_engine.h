/* The real-time half of `priorsep jack`, kept apart from the JACK glue so that it can be
 * tested without a server: the stream in use, a lock-free hand-over of a replacement
 * (built off the real-time thread when the rate or block size changes), counters, and
 * the events the process callback reports to the main thread through a lock-free ring.
 *
 * Threads: one real-time thread calls jack_engine_process; one thread at a time publishes
 * replacements (JACK's notification thread); the main thread collects retired streams
 * and reads events. The process callback adopts a pending stream at the start of a cycle
 * and parks the one it replaces in `retired`; it adopts only while that slot is free, so
 * it never has to free anything itself. */
#ifndef PRIORSEP_JACK_ENGINE_H
#define PRIORSEP_JACK_ENGINE_H
#include <jack/ringbuffer.h>
#include <stdatomic.h>

#include "priorsep/host_stream.h"

typedef enum jack_engine_event_kind {
    JACK_ENGINE_NONFINITE, /* count: non-finite input samples zeroed in one cycle */
    JACK_ENGINE_UNDERRUN,  /* count: samples of silence from a late resampler chain */
    JACK_ENGINE_ADOPTED,   /* count: the latency of the stream just adopted */
} jack_engine_event_kind;

typedef struct jack_engine_event {
    jack_engine_event_kind kind;
    long count;
} jack_engine_event;

typedef struct jack_engine {
    _Atomic(ps_host_stream *) current, pending, retired;
    atomic_int latency;                  /* of `current`, in samples */
    atomic_long nonfinite, underruns;    /* totals over every stream */
    long underruns_seen;                 /* of `current`: real-time thread only */
    jack_ringbuffer_t *events;
    /* what replacements are built from; the publishing thread's */
    char *model_path;
    double rate;
    int block, refine;
    ps_model_info info; /* sources and model rate: the same for every stream */
} jack_engine;

/* Loads the model into a stream at `rate` for blocks of `block` samples, K = refine. */
int jack_engine_init(jack_engine *e, const char *model_path, double rate, int block, int refine,
                     ps_error *err);
/* Destroys every stream: after the real-time thread has stopped for good. */
void jack_engine_free(jack_engine *e);

/* Builds a stream for a new rate or block size and hands it to the process callback;
 * does nothing when both are the ones of the last stream built. Not real-time. */
int jack_engine_publish(jack_engine *e, double rate, int block, ps_error *err);
/* Destroys a stream the process callback has retired, if any. Not real-time. */
void jack_engine_collect(jack_engine *e);
/* The next event from the process callback: 1, or 0 when there is none. */
int jack_engine_next_event(jack_engine *e, jack_engine_event *ev);
int jack_engine_latency(jack_engine *e);

/* One cycle: n samples of `in` to n samples of every source in outs[k]. Real-time safe:
 * no allocation, lock, I/O or system call. */
void jack_engine_process(jack_engine *e, const float *in, int n, float *const *outs);

#endif
