/* The per-sample i.i.d. baseline a prior must beat: a histogram density of the samples
 * (mu-law bins for a categorical prior, equal-width bins on the data's range for a
 * continuous one), with the bin count chosen by 2-fold cross-validation over
 * 16..4096 bins (fitted on half the crops, scored on the other half, both ways), so it
 * is fitted to the same data it is scored on without seeing a sample twice. Returns the
 * mean NLL in bits per sample. */
#ifndef PRIORSEP_IID_BASELINE_H
#define PRIORSEP_IID_BASELINE_H

double iid_baseline_bits(const float *const *crops, int n_crops, int len, int categorical);

#endif
