#include "priorsep/resample.h"

soxr_t ps_resampler_create(double in_rate, double out_rate, unsigned channels, ps_error *err)
{
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    rt.log2_min_dft_size = rt.log2_large_dft_size = 8;
    soxr_error_t e = NULL;
    soxr_t s = soxr_create(in_rate, out_rate, channels, &e, &io, &q, &rt);
    if (!s || e) {
        if (s) soxr_delete(s);
        ps_error_set(err, "resampling %.0f Hz to %.0f Hz: %s", in_rate, out_rate,
                     e ? e : "cannot start");
        return NULL;
    }
    return s;
}
