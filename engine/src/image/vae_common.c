/* The importance-weighted bound of the VAEs; see vae_common.h. */
#include "vae_common.h"

#include <math.h>

double iwae_nll(const double *log_w, int k)
{
    double top = log_w[0];
    for (int s = 1; s < k; s++) top = fmax(top, log_w[s]);
    double sum = 0.0;
    for (int s = 0; s < k; s++) sum += exp(log_w[s] - top);
    return -(top + log(sum / k));
}
