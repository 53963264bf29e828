/* Writes an audio file atomically: samples go to a temporary file beside the target
 * ("<path>.tmp-XXXXXX"), which is synced and renamed over the target only when complete.
 * A failure (full disk included) removes the temporary file and leaves the target as it
 * was. The format follows the extension: .wav, .flac, .aiff/.aif, .au; 16-bit PCM, or
 * 32-bit float (not .flac) to keep samples exact, or a subtype the caller names. Files
 * get 0666 less the umask, and the same samples always give the same bytes (no time
 * stamp in a PEAK chunk). */
#ifndef PRIORSEP_AUDIO_WRITER_H
#define PRIORSEP_AUDIO_WRITER_H
#include <sndfile.h>

#include "priorsep/error.h"

typedef struct audio_writer {
    SNDFILE *file;
    char *path, *tmp_path;
} audio_writer;

/* Fails if path exists and !overwrite, or the extension is not a known format. */
int audio_writer_open(audio_writer *w, const char *path, int sample_rate, int channels,
                      int float32, int overwrite, ps_error *err);
/* The same in a given libsndfile subtype: SF_FORMAT_PCM_16, _PCM_24, _PCM_32 or _FLOAT.
 * PCM clips samples beyond full scale (instead of wrapping them around). */
int audio_writer_open_subtype(audio_writer *w, const char *path, int sample_rate,
                              int channels, int subtype, int overwrite, ps_error *err);
int audio_writer_write(audio_writer *w, const float *frames, long n, ps_error *err);
int audio_writer_commit(audio_writer *w, ps_error *err); /* close, sync, rename */
void audio_writer_abort(audio_writer *w);                /* close, remove the temporary */

#endif
