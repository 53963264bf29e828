/* A causal WaveNet over raw samples: input causal conv -> stacks of gated residual
 * layers with dilations 1, 2, ..., 2^(L-1) repeated B times -> ReLU, 1x1, ReLU, 1x1 head.
 * An optional global conditioning vector (the noise level of the prior) is added inside
 * every gate. Row t of the output parameterizes the distribution of sample t+1 given
 * samples 0..t.
 *
 * Two execution modes compute the same function:
 *   - full sequence: ps_wavenet_forward() over a batch of whole sequences;
 *   - streaming: ps_wavenet_stream_process() frame by frame with a per-layer history
 *     cache (Fast WaveNet), real-time safe. */
#ifndef PRIORSEP_WAVENET_H
#define PRIORSEP_WAVENET_H
#include <stddef.h>
#include <stdint.h>
#include "priorsep/error.h"
#include "priorsep/rng.h"

typedef enum ps_head_kind {
    PS_HEAD_CATEGORICAL = 0, /* 256 logits over mu-law bins */
    PS_HEAD_MOL = 1,         /* mixture of logistics, 3 * mixtures values */
    PS_HEAD_GAUSSIAN = 2     /* `mixtures` independent Gaussians (the separator: one per
                              * source), rows [mean (mixtures) | log-scale (mixtures)] */
} ps_head_kind;

typedef struct ps_wavenet_config {
    int stacks;       /* B: how often the dilation cycle repeats */
    int layers;       /* L: residual layers per stack, dilations 1 .. 2^(L-1) */
    int kernel;       /* kernel size of the dilated convs (>= 1) */
    int input_kernel; /* kernel size of the input causal conv (>= 1) */
    int residual;     /* residual channels */
    int skip;         /* skip channels */
    int hidden;       /* channels between the head's two 1x1 layers */
    int cond;         /* size of the global conditioning vector (0 = none) */
    ps_head_kind head;
    int mixtures;     /* MoL components or Gaussian outputs (ignored for the categorical head) */
} ps_wavenet_config;

/* Bounds a loader enforces: a config outside them is refused, whatever the file says. */
#define PS_WAVENET_MAX_STACKS 16
#define PS_WAVENET_MAX_LAYERS 16   /* dilation up to 2^15 */
#define PS_WAVENET_MAX_KERNEL 8
#define PS_WAVENET_MAX_CHANNELS 1024
#define PS_WAVENET_MAX_COND 256
#define PS_WAVENET_MAX_MIXTURES 64
/* ... and in total: 2^26 parameters (256 MiB), far above any prior priorsep trains. */
#define PS_WAVENET_MAX_PARAMS ((size_t)1 << 26)

/* The reference prior R of the benchmarks: 2 x 10 layers, kernel 2, 32/32 channels,
 * MoL head with 10 components. */
ps_wavenet_config ps_wavenet_config_reference(void);

/* 0 if the config is within the bounds above, else -1 with the offending field named. */
int ps_wavenet_config_check(const ps_wavenet_config *cfg, ps_error *err);
int ps_wavenet_out_dim(const ps_wavenet_config *cfg); /* 256, 3 * or 2 * mixtures */
/* Same architecture (the component count matters only where the head uses it). */
int ps_wavenet_config_equal(const ps_wavenet_config *a, const ps_wavenet_config *b);
/* Parameters of a valid architecture, counted without building the model (loaders
 * compare it with the file's size before allocating anything). */
size_t ps_wavenet_config_num_params(const ps_wavenet_config *cfg);
int ps_wavenet_num_layers(const ps_wavenet_config *cfg);     /* stacks * layers */
int ps_wavenet_dilation(const ps_wavenet_config *cfg, int layer);
/* Samples of the past that output t depends on, t itself included. */
int ps_wavenet_receptive_field(const ps_wavenet_config *cfg);
/* Multiply-adds per output sample (convolutions, projections, head). */
double ps_wavenet_macs_per_sample(const ps_wavenet_config *cfg);

/* ---- the model: a config and all parameters in one contiguous block ---------------- */

typedef struct ps_wavenet ps_wavenet;

ps_wavenet *ps_wavenet_create(const ps_wavenet_config *cfg, ps_error *err); /* zeros */
void ps_wavenet_destroy(ps_wavenet *net);
const ps_wavenet_config *ps_wavenet_config_of(const ps_wavenet *net);
float *ps_wavenet_params(ps_wavenet *net);
size_t ps_wavenet_num_params(const ps_wavenet *net);
/* Scaled uniform (fan-in) initialization, reproducible from the seed. */
void ps_wavenet_init_random(ps_wavenet *net, uint64_t seed);
/* Deepens a trained model: net (initialized, e.g. at random) takes every parameter of
 * `from`, which must have the same architecture but fewer stacks. The layers `from` lacks
 * keep their convolutions and start with zero residual and skip outputs, as does the
 * residual output that `from`'s last layer did not have, so net computes what `from`
 * computes and training goes on from there. -1 with a message if the two do not fit. */
int ps_wavenet_grow(ps_wavenet *net, const ps_wavenet *from, ps_error *err);

/* Named tensors, in a fixed order, for model files. Names:
 *   input.w [input_kernel, 1, residual]   input.b [residual]
 *   layers.N.conv.w [kernel, residual, 2*residual]  layers.N.conv.b [2*residual]
 *   layers.N.cond.w [cond, 2*residual]     (only when cond > 0)
 *   layers.N.res.w [residual, residual]    layers.N.res.b [residual]  (not the last layer)
 *   layers.N.skip.w [residual, skip]       layers.N.skip.b [skip]
 *   head.w1 [skip, hidden]  head.b1 [hidden]  head.w2 [hidden, out_dim]  head.b2 [out_dim]
 * Weights are [in][out] (conv weights [tap][in][out]): a layer is x W. */
#define PS_TENSOR_MAX_RANK 4
typedef struct ps_tensor_view {
    char name[48];
    int rank;
    int64_t shape[PS_TENSOR_MAX_RANK];
    size_t numel;
    float *data; /* points into the model's parameter block */
} ps_tensor_view;

int ps_wavenet_num_tensors(const ps_wavenet *net);
/* Fills *view for tensor i (0 <= i < num_tensors). */
void ps_wavenet_tensor(ps_wavenet *net, int i, ps_tensor_view *view);

/* ---- full-sequence mode ------------------------------------------------------------- */

/* x: batch sequences of T samples each (row-major [batch][T]); cond: [batch][cfg.cond]
 * or NULL when cfg.cond == 0; out: [batch][T][out_dim]. Sequences start from silence
 * (zero past). Allocates its workspace; not for real-time use. */
int ps_wavenet_forward(const ps_wavenet *net, const float *x, int batch, int T,
                       const float *cond, float *out, ps_error *err);

/* ---- streaming mode ----------------------------------------------------------------- */

typedef struct ps_wavenet_stream ps_wavenet_stream;

/* Sized for frames of 1 .. max_frame samples. The stream reads the model's parameters
 * (the model must outlive it) and starts from silence with a zero conditioning vector. */
ps_wavenet_stream *ps_wavenet_stream_create(const ps_wavenet *net, int max_frame,
                                            ps_error *err);
void ps_wavenet_stream_destroy(ps_wavenet_stream *st);
/* Back to silence (clears the history cache). Real-time safe. */
void ps_wavenet_stream_reset(ps_wavenet_stream *st);
/* Sets the conditioning vector (cfg.cond floats). Real-time safe. */
void ps_wavenet_stream_set_cond(ps_wavenet_stream *st, const float *cond);
/* Feeds n samples (1 <= n <= max_frame) and writes n rows of out_dim values: row i is
 * the distribution of the sample after x[i]. Real-time safe: no allocation, lock, I/O
 * or system call; FTZ/DAZ are on for the duration of the call. */
void ps_wavenet_stream_process(ps_wavenet_stream *st, const float *x, int n, float *out);
const ps_wavenet *ps_wavenet_stream_model(const ps_wavenet_stream *st);

/* ---- the gradient through one frame (prior refinement, design §4) -------------------- */

/* Readies a stream for the two calls below: transposed copies of the weights (taken now:
 * the model must not change afterwards) and room for one frame's activations. Not
 * real-time; idempotent. */
int ps_wavenet_stream_enable_backward(ps_wavenet_stream *st, ps_error *err);
/* Like ps_wavenet_stream_process() for n <= max_frame samples, but commits nothing: the
 * cache stays as it was, so the frame can be changed and peeked again, and is finally
 * committed with ps_wavenet_stream_process(). Real-time safe. */
void ps_wavenet_stream_peek(ps_wavenet_stream *st, const float *x, int n, float *out);
/* Backward of the last peek from d_out [n][out_dim]: d_x[0..n-1] += dL/dx over the
 * frame, the cached history held fixed (its gradient is dropped). No weight gradient.
 * Real-time safe. Valid until the next process call. */
void ps_wavenet_stream_peek_backward(ps_wavenet_stream *st, const float *d_out, float *d_x);

/* ---- generation ----------------------------------------------------------------------- */

/* Samples n values one at a time, each fed back as the next input (Fast WaveNet: the
 * cache makes every sample cost O(layers)). Continues from the stream's state; *last is
 * the last sample fed (0 for a stream that starts from silence) and is updated. The
 * categorical head samples a mu-law bin and decodes it; the MoL head samples the
 * amplitude. Values are in [-1, 1]. Not real-time: allocates one output row. */
int ps_wavenet_generate(ps_wavenet_stream *st, float *last, float *y, int n, ps_rng *rng,
                        ps_error *err);

#endif
