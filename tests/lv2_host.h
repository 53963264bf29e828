/* A small LV2 host on lilv, for the plugin's tests and benchmark: it finds the plugin
 * where LV2_PATH points (the build folder's bundle), instantiates it with every feature
 * it declares (urid map, worker, log, options with the block length, bounded blocks)
 * and runs it block by block. The worker is explicit: jobs the plugin schedules wait
 * until lv2_host_work() runs them, and their responses reach the plugin at the start of
 * the next lv2_host_run() (as a host's audio thread delivers them), so that a test can
 * put the model swap inside a measured run. Nothing in lv2_host_run() allocates. */
#ifndef PRIORSEP_LV2_HOST_H
#define PRIORSEP_LV2_HOST_H
#include <lilv/lilv.h>

#define LV2_HOST_OUTS 4
#define LV2_HOST_PLUGIN "urn:priorsep:separator"

typedef struct lv2_host lv2_host;

/* NULL (with a message on stderr) if the plugin cannot be found or instantiated. */
lv2_host *lv2_host_new(double rate, int max_block);
/* Finishes the worker's jobs and responses first, then frees the plugin and the host. */
void lv2_host_free(lv2_host *h);

/* A control port's value by symbol (inputs: set for the next runs; outputs: as the last
 * run left it). */
void lv2_host_set(lv2_host *h, const char *symbol, float value);
float lv2_host_get(const lv2_host *h, const char *symbol);

/* Sends a patch:Set of the model path with the next run. */
void lv2_host_set_model(lv2_host *h, const char *path);
/* n <= max_block frames: in[0..n-1] to out[k][0..n-1]. */
void lv2_host_run(lv2_host *h, const float *in, int n, float *const *out);
/* Connects the input to slot 1's buffer (hosts may process in place). */
void lv2_host_in_place(lv2_host *h);
/* deactivate() then activate(), as a host does when it restarts processing. */
void lv2_host_restart(lv2_host *h);
/* Runs the queued worker jobs; returns how many failed. */
int lv2_host_work(lv2_host *h);
/* Worker jobs waiting. */
int lv2_host_jobs(const lv2_host *h);

/* Everything the plugin logged so far, and the last slots line it sent on its notify
 * port ("" if none). */
const char *lv2_host_log(const lv2_host *h);
const char *lv2_host_slots(const lv2_host *h);

/* State, as a session saves it: to dir/state.ttl (and restored from there). */
int lv2_host_save(lv2_host *h, const char *dir);
int lv2_host_restore(lv2_host *h, const char *dir);

#endif
