/* Finite-difference check of a layer's backward pass, shared by the layer tests. */
#ifndef PRIORSEP_LAYER_FD_H
#define PRIORSEP_LAYER_FD_H
#include <math.h>
#include <stddef.h>

/* The scalar objective of the forward pass, recomputed on each call (in double). */
typedef double (*layer_objective)(void *ctx);

/* The central difference of J in entry i of var with step h (var is restored). */
static inline double layer_fd_central(layer_objective J, void *ctx, float *var, size_t i, float h)
{
    float keep = var[i];
    var[i] = keep + h;
    double up = J(ctx);
    var[i] = keep - h;
    double down = J(ctx);
    var[i] = keep;
    return (up - down) / (2.0 * h);
}

/* Largest |fd - g| / max(1, |g|) over every entry of var, where fd is the central
 * difference of J with step h and g the analytic gradient grad. */
static inline double layer_fd_worst(layer_objective J, void *ctx, float *var, const float *grad,
                                    size_t n, float h)
{
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double fd = layer_fd_central(J, ctx, var, i, h);
        worst = fmax(worst, fabs(fd - grad[i]) / fmax(1.0, fabs(grad[i])));
    }
    return worst;
}

/* One sigmoid in double, for the layers' reference implementations. */
static inline double layer_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

#endif
