/* Training mode of the WaveNet: a full-sequence forward pass that keeps every
 * activation, and the backward pass that accumulates the parameter gradients into a
 * gradient block (a second ps_wavenet of the same config, used only for its parameter
 * block: same tensors, same names). Offline: allocates at creation, uses ps_gemm. */
#ifndef PRIORSEP_WAVENET_TRAIN_H
#define PRIORSEP_WAVENET_TRAIN_H
#include "priorsep/error.h"
#include "priorsep/wavenet.h"

typedef struct ps_wavenet_acts ps_wavenet_acts;

/* Activations for one sequence of up to max_T samples. */
ps_wavenet_acts *ps_wavenet_acts_create(const ps_wavenet *net, int max_T, ps_error *err);
void ps_wavenet_acts_destroy(ps_wavenet_acts *a);

/* Forward over x[0..T-1] (T <= max_T) from silence with conditioning cond (NULL when the
 * model has none). Returns the output rows [T][out_dim], owned by the activations. The
 * result equals ps_wavenet_forward(). */
const float *ps_wavenet_train_forward(const ps_wavenet *net, ps_wavenet_acts *a,
                                      const float *x, const float *cond, int T);

/* Backward of the last forward, from d_out [T][out_dim]: grad's parameters += dL/dθ
 * (grad may be NULL: then no weight gradient is computed);
 * when d_x is not NULL, d_x[0..T-1] += dL/dx (the gradient with respect to the input
 * samples, which prior refinement needs). */
void ps_wavenet_train_backward(const ps_wavenet *net, ps_wavenet_acts *a, const float *d_out,
                               ps_wavenet *grad, float *d_x);

#endif
