/* Skewing a feature map for the Diagonal BiLSTM (PixelRNN): row i is shifted right by i
 * positions, so that each diagonal of the image becomes one column and the LSTM can run
 * along the columns with every column computed at once.
 *
 * Layouts: the plain map is [H][W][block] (block = the floats of one position, e.g.
 * images x channels); the skewed map is column-major, [W + H - 1][H][block], so that one
 * skewed column is contiguous:
 *
 *   skewed[j][i] = plain[i][j - i]            for 0 <= j - i < W, zero elsewhere
 *
 * With mirror != 0 the columns of each row are read right to left first
 * (plain[i][W - 1 - (j - i)]): the right-to-left direction of the BiLSTM. */
#ifndef PRIORSEP_SKEW_H
#define PRIORSEP_SKEW_H

/* Overwrites all of skewed, its padding with zeros. */
void skew_forward(float *skewed, const float *plain, int H, int W, int block, int mirror);
/* ADDS the gradient of the skewed map into d_plain (the padding's is dropped). */
void skew_backward(float *d_plain, const float *d_skewed, int H, int W, int block, int mirror);

/* The inverse: plain[i][c] = skewed[i + c][i] (mirrored: skewed[i + W - 1 - c][i]).
 * Overwrites plain. */
void unskew_forward(float *plain, const float *skewed, int H, int W, int block, int mirror);
/* ADDS into d_skewed (its padding gets nothing). */
void unskew_backward(float *d_skewed, const float *d_plain, int H, int W, int block, int mirror);

#endif
