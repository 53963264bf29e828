/* Pitch-balanced picks from a pool of sampled waveforms. A WaveNet prior's samples
 * cluster around a few pitches (the toy sine prior's, sigma 0.1: 69 % between 60 and
 * 120 Hz, 3 % above 500 Hz, where the toy data spreads evenly over 26 to 1,100 Hz);
 * a separator trained on them fails where they are rare. Drawing more samples than
 * needed and keeping an even spread of pitches is the remedy. */
#ifndef PRIORSEP_PITCH_BALANCE_H
#define PRIORSEP_PITCH_BALANCE_H

/* The rate of upward crossings, in Hz, with hysteresis: x must fall below
 * mean - 0.75 rms and then rise above mean + 0.75 rms (rms about the mean; a square
 * wave reaches its rms, the others more), so noise around a crossing counts once. A periodic waveform with one rise per period
 * (sine, square, sawtooth, triangle) gives its fundamental; 0 for silence. */
double crossing_rate_hz(const float *x, long n, double rate);

/* Picks n_pick of the n candidates (n_pick <= n) so that their pitches spread
 * evenly: log2(hz) is cut into `bins` equal bins between the candidates' 1st and
 * 99th percentiles (the extremes join the edge bins), and the bins are visited in
 * turn, each giving its next candidate in index order, until n_pick are taken; a
 * bin that runs out is skipped. picked gets the indices in the order taken. A
 * candidate with no pitch (hz <= 0) goes to the lowest bin. Returns 0, -1 if out
 * of memory. */
int pick_pitch_balanced(const double *hz, long n, long n_pick, int bins, long *picked);

/* The 10th, 50th and 90th percentiles (nearest rank) of hz[at[0..n-1]], or of hz[0..n-1]
 * when at is NULL, into q[3]. Returns 0, -1 if out of memory (n >= 1). */
int pitch_deciles(const double *hz, const long *at, long n, double q[3]);

#endif
