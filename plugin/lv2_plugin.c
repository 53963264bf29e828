/* priorsep.lv2: the streaming separator as an LV2 plugin (design §8).
 *
 * Mono in, one output per source slot; per-slot gain / mute / solo, refinement steps K,
 * bypass (lv2:enabled) and the latency as controls. The model folder is a patch
 * parameter (atom:Path): a patch:Set on the control port is loaded in the worker, the new
 * model swapped in by work_response() in the audio thread (a pointer store), the old one
 * handed back to the worker to be freed. It is saved and restored as state; the toy model
 * in the bundle is the default. Every host feature is optional: without urid:map (as in
 * lv2apply) the plugin runs the default model with its controls, and without the worker
 * model changes are refused with a log message. Blocks need no bound: the host's
 * maxBlockLength (options) sizes the buffers, and longer blocks are split. */
#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/core/lv2.h>
#include <lv2/log/logger.h>
#include <lv2/options/options.h>
#include <lv2/patch/patch.h>
#include <lv2/state/state.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lv2_model.h"
#include "priorsep/denormal.h"

#define PLUGIN_URI "urn:priorsep:separator"
#define MODEL_URI PLUGIN_URI "#model"
#define SLOTS_URI PLUGIN_URI "#slots"
#define DEFAULT_MAX_BLOCK 4096 /* without the host's maxBlockLength: longer blocks are split */
#define DEFAULT_MODEL "separator.safetensors" /* in the bundle, beside its priors */

enum port {
    PORT_IN = 0,
    PORT_OUT = 1,                   /* .. 4 */
    PORT_CONTROL = PORT_OUT + SLOTS, /* atom in: patch messages */
    PORT_NOTIFY,                    /* atom out */
    PORT_GAIN,                      /* .. +3 */
    PORT_MUTE = PORT_GAIN + SLOTS,
    PORT_SOLO = PORT_MUTE + SLOTS,
    PORT_REFINE = PORT_SOLO + SLOTS,
    PORT_ENABLED,
    PORT_LATENCY,
    PORT_COUNT
};

typedef struct uris {
    LV2_URID atom_path, atom_string, atom_urid;
    LV2_URID patch_set, patch_get, patch_property, patch_value, model, slots;
    LV2_URID bufsz_max_block, atom_int;
} uris;

/* Messages to and from the worker. */
enum { MSG_LOAD, MSG_LOADED, MSG_FREE };
typedef struct msg_model {
    int type;
    lv2_model *model; /* LOADED, FREE */
} msg_model;
typedef struct msg_load {
    int type;
    char path[LV2_MODEL_PATH_MAX];
} msg_load;

typedef struct plugin {
    const float *in;
    float *out[SLOTS];
    const LV2_Atom_Sequence *control;
    LV2_Atom_Sequence *notify;
    const float *gain[SLOTS], *mute[SLOTS], *solo[SLOTS], *refine, *enabled;
    float *latency;

    LV2_URID_Map *map;
    LV2_Worker_Schedule *schedule;
    LV2_Log_Logger log;
    LV2_Atom_Forge forge;
    uris u;
    double rate;
    int max_block;

    lv2_model *model; /* NULL only if even the default failed to load */
    slot_mixer mixer;
    slot_controls controls;
    int tell; /* send the model and slots on the notify port */
} plugin;

static void map_uris(uris *u, LV2_URID_Map *map)
{
    u->atom_path = map->map(map->handle, LV2_ATOM__Path);
    u->atom_string = map->map(map->handle, LV2_ATOM__String);
    u->atom_urid = map->map(map->handle, LV2_ATOM__URID);
    u->atom_int = map->map(map->handle, LV2_ATOM__Int);
    u->patch_set = map->map(map->handle, LV2_PATCH__Set);
    u->patch_get = map->map(map->handle, LV2_PATCH__Get);
    u->patch_property = map->map(map->handle, LV2_PATCH__property);
    u->patch_value = map->map(map->handle, LV2_PATCH__value);
    u->model = map->map(map->handle, MODEL_URI);
    u->slots = map->map(map->handle, SLOTS_URI);
    u->bufsz_max_block = map->map(map->handle, LV2_BUF_SIZE__maxBlockLength);
}

/* The host's largest block, from its options (if it gives them). */
static int max_block_of(const LV2_Options_Option *opt, const uris *u)
{
    for (; opt && opt->key; opt++)
        if (opt->key == u->bufsz_max_block && opt->type == u->atom_int && opt->value) {
            int v = *(const int32_t *)opt->value;
            if (v >= 1 && v <= 65536) return v;
        }
    return DEFAULT_MAX_BLOCK;
}

static LV2_Handle instantiate(const LV2_Descriptor *d, double rate, const char *bundle,
                              const LV2_Feature *const *features)
{
    (void)d;
    plugin *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    const LV2_Options_Option *options = NULL;
    LV2_Log_Log *log = NULL;
    for (int i = 0; features && features[i]; i++) {
        const char *uri = features[i]->URI;
        if (!strcmp(uri, LV2_URID__map)) p->map = features[i]->data;
        else if (!strcmp(uri, LV2_WORKER__schedule)) p->schedule = features[i]->data;
        else if (!strcmp(uri, LV2_LOG__log)) log = features[i]->data;
        else if (!strcmp(uri, LV2_OPTIONS__options)) options = features[i]->data;
    }
    p->rate = rate;
    p->max_block = DEFAULT_MAX_BLOCK;
    if (p->map) {
        map_uris(&p->u, p->map);
        lv2_atom_forge_init(&p->forge, p->map);
        lv2_log_logger_init(&p->log, p->map, log);
        p->max_block = max_block_of(options, &p->u);
    }
    char path[LV2_MODEL_PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", bundle, bundle[strlen(bundle) - 1] == '/' ? "" : "/",
             DEFAULT_MODEL);
    ps_error err;
    if (!(p->model = lv2_model_load(path, rate, p->max_block, &err)))
        lv2_log_error(&p->log, "priorsep: the bundled model: %s (the outputs stay silent)\n",
                      err.msg);
    p->controls.enabled = 1;
    slot_mixer_init(&p->mixer, rate, &p->controls, p->model ? p->model->n_sources : 0);
    p->tell = 1;
    return p;
}

static void connect_port(LV2_Handle h, uint32_t port, void *data)
{
    plugin *p = h;
    if (port == PORT_IN) p->in = data;
    else if (port < PORT_OUT + SLOTS) p->out[port - PORT_OUT] = data;
    else if (port == PORT_CONTROL) p->control = data;
    else if (port == PORT_NOTIFY) p->notify = data;
    else if (port < PORT_GAIN + SLOTS) p->gain[port - PORT_GAIN] = data;
    else if (port < PORT_MUTE + SLOTS) p->mute[port - PORT_MUTE] = data;
    else if (port < PORT_SOLO + SLOTS) p->solo[port - PORT_SOLO] = data;
    else if (port == PORT_REFINE) p->refine = data;
    else if (port == PORT_ENABLED) p->enabled = data;
    else if (port == PORT_LATENCY) p->latency = data;
}

/* In run(): only through the host's log, which hosts make real-time safe (the logger's
 * own fallback prints to stderr). */
#define rt_error(p, ...) \
    do { \
        if ((p)->log.log) lv2_log_error(&(p)->log, __VA_ARGS__); \
    } while (0)

/* A patch:Set of the model path: to the worker. */
static void on_set(plugin *p, const LV2_Atom_Object *obj)
{
    const LV2_Atom_URID *property = NULL;
    const LV2_Atom *value = NULL;
    lv2_atom_object_get(obj, p->u.patch_property, &property, p->u.patch_value, &value, 0);
    if (!property || property->atom.type != p->u.atom_urid || property->body != p->u.model)
        return;
    if (!value || value->type != p->u.atom_path || value->size == 0) {
        rt_error(p, "priorsep: the model must be set as an atom:Path\n");
        return;
    }
    if (value->size > LV2_MODEL_PATH_MAX) {
        rt_error(p, "priorsep: model path too long (%u bytes)\n", value->size);
        return;
    }
    if (!p->schedule) {
        rt_error(p, "priorsep: the host has no worker: the model cannot change\n");
        return;
    }
    msg_load m = {.type = MSG_LOAD};
    memcpy(m.path, LV2_ATOM_BODY_CONST(value), value->size);
    m.path[value->size - 1] = '\0';
    p->schedule->schedule_work(p->schedule->handle, sizeof m, &m);
}

static void read_messages(plugin *p)
{
    if (!p->map || !p->control) return;
    LV2_ATOM_SEQUENCE_FOREACH (p->control, ev) {
        if (!lv2_atom_forge_is_object_type(&p->forge, ev->body.type)) continue;
        const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
        if (obj->body.otype == p->u.patch_set) on_set(p, obj);
        else if (obj->body.otype == p->u.patch_get) p->tell = 1;
    }
}

static void forge_set(plugin *p, LV2_URID property, LV2_URID type, const char *text)
{
    LV2_Atom_Forge_Frame frame;
    lv2_atom_forge_frame_time(&p->forge, 0);
    lv2_atom_forge_object(&p->forge, &frame, 0, p->u.patch_set);
    lv2_atom_forge_key(&p->forge, p->u.patch_property);
    lv2_atom_forge_urid(&p->forge, property);
    lv2_atom_forge_key(&p->forge, p->u.patch_value);
    lv2_atom_forge_typed_string(&p->forge, type, text, (uint32_t)strlen(text));
    lv2_atom_forge_pop(&p->forge, &frame);
}

/* The notify port: the model's path and slot names when they changed or were asked for. */
static void write_notify(plugin *p)
{
    if (!p->map || !p->notify) return;
    uint32_t capacity = p->notify->atom.size;
    lv2_atom_forge_set_buffer(&p->forge, (uint8_t *)p->notify, capacity);
    LV2_Atom_Forge_Frame seq;
    lv2_atom_forge_sequence_head(&p->forge, &seq, 0);
    if (p->tell && p->model) {
        forge_set(p, p->u.model, p->u.atom_path, p->model->path);
        forge_set(p, p->u.slots, p->u.atom_string, p->model->slots);
        p->tell = 0;
    }
    lv2_atom_forge_pop(&p->forge, &seq);
}

static void run(LV2_Handle h, uint32_t n_frames)
{
    plugin *p = h;
    unsigned saved = ps_denormals_off();
    read_messages(p);
    write_notify(p);
    slot_controls_read(&p->controls, p->gain, p->mute, p->solo, p->enabled);
    lv2_model *m = p->model;
    if (!m) {
        for (int k = 0; k < SLOTS; k++) memset(p->out[k], 0, sizeof(float) * n_frames);
        if (p->latency) *p->latency = 0.0f;
        ps_denormals_restore(saved);
        return;
    }
    if (p->refine) {
        float K = *p->refine;
        int steps = isnan(K) ? 0 : (int)lrintf(fminf(fmaxf(K, 0), PS_MAX_REFINE));
        ps_host_stream_set_refine(m->hs, steps);
    }
    const float *w = ps_host_stream_info(m->hs)->weights;
    for (uint32_t done = 0; done < n_frames;) {
        int n = n_frames - done < (uint32_t)m->max_block ? (int)(n_frames - done) : m->max_block;
        float *out[SLOTS];
        for (int k = 0; k < SLOTS; k++) out[k] = p->out[k] + done;
        ps_host_stream_process(m->hs, p->in + done, n, m->src);
        slot_mixer_run(&p->mixer, &p->controls, m->n_sources, w, (const float *const *)m->src,
                       n, out);
        done += (uint32_t)n;
    }
    if (p->latency) *p->latency = (float)ps_host_stream_latency(m->hs);
    ps_denormals_restore(saved);
}

/* A fresh start (a host activates after a deactivate when, say, the transport jumps):
 * nothing of the audio before comes out. */
static void activate(LV2_Handle h)
{
    plugin *p = h;
    ps_error err;
    if (p->model && ps_host_stream_reset(p->model->hs, &err)) {
        lv2_log_error(&p->log, "priorsep: restarting the model: %s (the outputs stay "
                      "silent)\n", err.msg);
        lv2_model_free(p->model);
        p->model = NULL;
    }
}

static void cleanup(LV2_Handle h)
{
    plugin *p = h;
    lv2_model_free(p->model);
    free(p);
}

/* ---- worker ------------------------------------------------------------------------ */

static LV2_Worker_Status work(LV2_Handle h, LV2_Worker_Respond_Function respond,
                              LV2_Worker_Respond_Handle rh, uint32_t size, const void *data)
{
    plugin *p = h;
    /* messages come unaligned: copied out */
    msg_model free_msg;
    if (size == sizeof free_msg) {
        memcpy(&free_msg, data, sizeof free_msg);
        if (free_msg.type != MSG_FREE) return LV2_WORKER_ERR_UNKNOWN;
        lv2_model_free(free_msg.model);
        return LV2_WORKER_SUCCESS;
    }
    msg_load load;
    if (size != sizeof load) return LV2_WORKER_ERR_UNKNOWN;
    memcpy(&load, data, sizeof load);
    if (load.type != MSG_LOAD) return LV2_WORKER_ERR_UNKNOWN;
    ps_error err;
    const char *path = load.path;
    msg_model done = {.type = MSG_LOADED};
    if (!(done.model = lv2_model_load(path, p->rate, p->max_block, &err))) {
        lv2_log_error(&p->log, "priorsep: %s (the previous model keeps playing)\n", err.msg);
        return LV2_WORKER_ERR_UNKNOWN;
    }
    lv2_log_note(&p->log, "priorsep: loaded %s: %s, latency %d samples\n", path,
                 done.model->slots, ps_host_stream_latency(done.model->hs));
    if (respond(rh, sizeof done, &done) != LV2_WORKER_SUCCESS) {
        lv2_model_free(done.model);
        return LV2_WORKER_ERR_NO_SPACE;
    }
    return LV2_WORKER_SUCCESS;
}

/* In the audio thread: the new model goes in, the old one back to the worker. */
static LV2_Worker_Status work_response(LV2_Handle h, uint32_t size, const void *data)
{
    plugin *p = h;
    msg_model loaded; /* messages come unaligned: copied out */
    if (size != sizeof loaded) return LV2_WORKER_ERR_UNKNOWN;
    memcpy(&loaded, data, sizeof loaded);
    if (loaded.type != MSG_LOADED) return LV2_WORKER_ERR_UNKNOWN;
    msg_model old = {.type = MSG_FREE, .model = p->model};
    p->model = loaded.model;
    p->tell = 1;
    if (old.model && p->schedule->schedule_work(p->schedule->handle, sizeof old, &old) !=
                         LV2_WORKER_SUCCESS)
        rt_error(p, "priorsep: the worker queue is full: a model was not freed\n");
    return LV2_WORKER_SUCCESS;
}

/* ---- state --------------------------------------------------------------------------- */

static const LV2_Feature *feature(const LV2_Feature *const *features, const char *uri)
{
    for (int i = 0; features && features[i]; i++)
        if (!strcmp(features[i]->URI, uri)) return features[i];
    return NULL;
}

/* Gives back a path the host's map_path made, as the host asks (free_path, or free). */
static void free_host_path(const LV2_Feature *const *features, char *path)
{
    const LV2_Feature *f = feature(features, LV2_STATE__freePath);
    LV2_State_Free_Path *free_path = f ? f->data : NULL;
    if (free_path) free_path->free_path(free_path->handle, path);
    else free(path);
}

static LV2_State_Status save(LV2_Handle h, LV2_State_Store_Function store,
                             LV2_State_Handle sh, uint32_t flags,
                             const LV2_Feature *const *features)
{
    (void)flags;
    plugin *p = h;
    if (!p->map) return LV2_STATE_ERR_NO_FEATURE;
    if (!p->model) return LV2_STATE_SUCCESS;
    const LV2_Feature *f = feature(features, LV2_STATE__mapPath);
    LV2_State_Map_Path *map_path = f ? f->data : NULL;
    char *path = map_path ? map_path->abstract_path(map_path->handle, p->model->path) : NULL;
    const char *value = path ? path : p->model->path;
    LV2_State_Status st = store(sh, p->u.model, value, strlen(value) + 1, p->u.atom_path,
                                LV2_STATE_IS_POD | LV2_STATE_IS_PORTABLE);
    if (path) free_host_path(features, path);
    return st;
}

/* Restore is never run alongside run() (no state:threadSafeRestore), so the model is
 * loaded and swapped here. A path that does not load leaves the current model. */
static LV2_State_Status restore(LV2_Handle h, LV2_State_Retrieve_Function retrieve,
                                LV2_State_Handle sh, uint32_t flags,
                                const LV2_Feature *const *features)
{
    (void)flags;
    plugin *p = h;
    if (!p->map) return LV2_STATE_ERR_NO_FEATURE;
    size_t size = 0;
    uint32_t type = 0, vflags = 0;
    const char *value = retrieve(sh, p->u.model, &size, &type, &vflags);
    if (!value) return LV2_STATE_SUCCESS; /* a preset: controls only */
    if (type != p->u.atom_path || size == 0 || value[size - 1] != '\0') {
        lv2_log_error(&p->log, "priorsep: the saved model is not an atom:Path\n");
        return LV2_STATE_ERR_BAD_TYPE;
    }
    const LV2_Feature *f = feature(features, LV2_STATE__mapPath);
    LV2_State_Map_Path *map_path = f ? f->data : NULL;
    char *path = map_path ? map_path->absolute_path(map_path->handle, value) : NULL;
    ps_error err;
    lv2_model *m = lv2_model_load(path ? path : value, p->rate, p->max_block, &err);
    if (path) free_host_path(features, path);
    if (!m) {
        lv2_log_error(&p->log, "priorsep: the saved model: %s (the current one stays)\n",
                      err.msg);
        return LV2_STATE_ERR_UNKNOWN;
    }
    lv2_model_free(p->model);
    p->model = m;
    p->tell = 1;
    return LV2_STATE_SUCCESS;
}

static const void *extension_data(const char *uri)
{
    static const LV2_Worker_Interface worker = {work, work_response, NULL};
    static const LV2_State_Interface state = {save, restore};
    if (!strcmp(uri, LV2_WORKER__interface)) return &worker;
    if (!strcmp(uri, LV2_STATE__interface)) return &state;
    return NULL;
}

static const LV2_Descriptor descriptor = {
    PLUGIN_URI, instantiate, connect_port, activate, run, NULL, cleanup, extension_data,
};

LV2_SYMBOL_EXPORT const LV2_Descriptor *lv2_descriptor(uint32_t index)
{
    return index == 0 ? &descriptor : NULL;
}
