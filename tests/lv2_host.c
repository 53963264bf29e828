#define _GNU_SOURCE
#include "lv2_host.h"

#include <dlfcn.h>

#include <lv2/atom/forge.h>
#include <lv2/atom/util.h>
#include <lv2/buf-size/buf-size.h>
#include <lv2/log/log.h>
#include <lv2/options/options.h>
#include <lv2/patch/patch.h>
#include <lv2/urid/urid.h>
#include <lv2/worker/worker.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_URIDS 256
#define MAX_PORTS 32
#define QUEUE 8
#define MSG_MAX 4096
#define ATOM_BUF 8192

typedef struct queue {
    int n;
    uint32_t size[QUEUE];
    unsigned char data[QUEUE][MSG_MAX];
} queue;

struct lv2_host {
    LilvWorld *world;
    const LilvPlugin *plugin;
    LilvInstance *instance;
    const LV2_Worker_Interface *worker;
    int max_block, n_ports;
    double rate;

    char *uris[MAX_URIDS];
    int n_uris;
    LV2_URID_Map map;
    LV2_URID_Unmap unmap;
    LV2_Worker_Schedule schedule;
    LV2_Log_Log log;
    int32_t block_min, block_max;
    LV2_Options_Option options[3];
    LV2_Feature f_map, f_unmap, f_schedule, f_log, f_options, f_bounded;
    const LV2_Feature *features[7];

    float control[MAX_PORTS];
    char symbols[MAX_PORTS][32];
    float *audio_in, *audio_out[LV2_HOST_OUTS];
    int in_port, out_port[LV2_HOST_OUTS];
    LV2_Atom_Sequence *atom_in, *atom_out;
    LV2_Atom_Forge forge;
    char pending_model[2048];

    queue jobs, responses;
    char log_text[8192];
    char slots[256];
};

static LV2_URID map_uri(LV2_URID_Map_Handle handle, const char *uri)
{
    lv2_host *h = handle;
    for (int i = 0; i < h->n_uris; i++)
        if (!strcmp(h->uris[i], uri)) return (LV2_URID)i + 1;
    if (h->n_uris == MAX_URIDS) return 0;
    h->uris[h->n_uris] = strdup(uri);
    return (LV2_URID)++h->n_uris;
}

static const char *unmap_uri(LV2_URID_Unmap_Handle handle, LV2_URID urid)
{
    lv2_host *h = handle;
    return urid >= 1 && (int)urid <= h->n_uris ? h->uris[urid - 1] : NULL;
}

static LV2_Worker_Status push(queue *q, uint32_t size, const void *data)
{
    if (q->n == QUEUE || size > MSG_MAX) return LV2_WORKER_ERR_NO_SPACE;
    q->size[q->n] = size;
    memcpy(q->data[q->n++], data, size);
    return LV2_WORKER_SUCCESS;
}

static LV2_Worker_Status schedule_work(LV2_Worker_Schedule_Handle handle, uint32_t size,
                                       const void *data)
{
    return push(&((lv2_host *)handle)->jobs, size, data);
}

static LV2_Worker_Status respond(LV2_Worker_Respond_Handle handle, uint32_t size, const void *data)
{
    return push(&((lv2_host *)handle)->responses, size, data);
}

static int log_vprintf(LV2_Log_Handle handle, LV2_URID type, const char *fmt, va_list ap)
{
    (void)type;
    lv2_host *h = handle;
    size_t used = strlen(h->log_text);
    return vsnprintf(h->log_text + used, sizeof h->log_text - used, fmt, ap);
}

static int log_printf(LV2_Log_Handle handle, LV2_URID type, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = log_vprintf(handle, type, fmt, ap);
    va_end(ap);
    return n;
}

static void features_init(lv2_host *h)
{
    h->map = (LV2_URID_Map){h, map_uri};
    h->unmap = (LV2_URID_Unmap){h, unmap_uri};
    h->schedule = (LV2_Worker_Schedule){h, schedule_work};
    h->log = (LV2_Log_Log){h, log_printf, log_vprintf};
    h->block_min = 1, h->block_max = h->max_block;
    LV2_URID atom_int = map_uri(h, LV2_ATOM__Int);
    h->options[0] = (LV2_Options_Option){LV2_OPTIONS_INSTANCE, 0,
                                         map_uri(h, LV2_BUF_SIZE__minBlockLength),
                                         sizeof(int32_t), atom_int, &h->block_min};
    h->options[1] = (LV2_Options_Option){LV2_OPTIONS_INSTANCE, 0,
                                         map_uri(h, LV2_BUF_SIZE__maxBlockLength),
                                         sizeof(int32_t), atom_int, &h->block_max};
    h->options[2] = (LV2_Options_Option){LV2_OPTIONS_INSTANCE, 0, 0, 0, 0, NULL};
    h->f_map = (LV2_Feature){LV2_URID__map, &h->map};
    h->f_unmap = (LV2_Feature){LV2_URID__unmap, &h->unmap};
    h->f_schedule = (LV2_Feature){LV2_WORKER__schedule, &h->schedule};
    h->f_log = (LV2_Feature){LV2_LOG__log, &h->log};
    h->f_options = (LV2_Feature){LV2_OPTIONS__options, h->options};
    h->f_bounded = (LV2_Feature){LV2_BUF_SIZE__boundedBlockLength, NULL};
    const LV2_Feature *f[7] = {&h->f_map, &h->f_unmap, &h->f_schedule, &h->f_log,
                               &h->f_options, &h->f_bounded, NULL};
    memcpy(h->features, f, sizeof f);
}

static int port_index(const lv2_host *h, const char *symbol)
{
    for (int i = 0; i < h->n_ports; i++)
        if (!strcmp(h->symbols[i], symbol)) return i;
    fprintf(stderr, "lv2_host: no port \"%s\"\n", symbol);
    abort();
}

static void connect_ports(lv2_host *h)
{
    LilvNode *audio = lilv_new_uri(h->world, LV2_CORE__AudioPort);
    LilvNode *atom = lilv_new_uri(h->world, LV2_ATOM__AtomPort);
    LilvNode *input = lilv_new_uri(h->world, LV2_CORE__InputPort);
    float *defaults = calloc((size_t)h->n_ports, sizeof(float));
    lilv_plugin_get_port_ranges_float(h->plugin, NULL, NULL, defaults);
    int outs = 0;
    for (int i = 0; i < h->n_ports; i++) {
        const LilvPort *port = lilv_plugin_get_port_by_index(h->plugin, (uint32_t)i);
        snprintf(h->symbols[i], sizeof h->symbols[i], "%s",
                 lilv_node_as_string(lilv_port_get_symbol(h->plugin, port)));
        int is_input = lilv_port_is_a(h->plugin, port, input);
        void *buf = &h->control[i];
        h->control[i] = defaults[i];
        if (lilv_port_is_a(h->plugin, port, audio)) {
            if (is_input) h->in_port = i, buf = h->audio_in;
            else h->out_port[outs] = i, buf = h->audio_out[outs++];
        } else if (lilv_port_is_a(h->plugin, port, atom)) {
            buf = is_input ? h->atom_in : h->atom_out;
        }
        lilv_instance_connect_port(h->instance, (uint32_t)i, buf);
    }
    free(defaults);
    lilv_node_free(audio);
    lilv_node_free(atom);
    lilv_node_free(input);
}

lv2_host *lv2_host_new(double rate, int max_block)
{
    lv2_host *h = calloc(1, sizeof *h);
    h->rate = rate, h->max_block = max_block;
    features_init(h);
    h->world = lilv_world_new();
    lilv_world_load_all(h->world);
    LilvNode *uri = lilv_new_uri(h->world, LV2_HOST_PLUGIN);
    h->plugin = lilv_plugins_get_by_uri(lilv_world_get_all_plugins(h->world), uri);
    lilv_node_free(uri);
    if (!h->plugin) {
        fprintf(stderr, "lv2_host: %s not found (LV2_PATH=%s)\n", LV2_HOST_PLUGIN,
                getenv("LV2_PATH") ? getenv("LV2_PATH") : "");
        lv2_host_free(h);
        return NULL;
    }
    /* Kept mapped after lilv unloads it, so that what it allocated once per process (in
     * libraries it uses) stays reachable rather than reported as leaked. */
    char *binary = lilv_file_uri_parse(
        lilv_node_as_uri(lilv_plugin_get_library_uri(h->plugin)), NULL);
    if (binary) dlopen(binary, RTLD_NOW | RTLD_NODELETE);
    lilv_free(binary);
    h->n_ports = (int)lilv_plugin_get_num_ports(h->plugin);
    h->audio_in = calloc((size_t)max_block, sizeof(float));
    for (int k = 0; k < LV2_HOST_OUTS; k++) h->audio_out[k] = calloc((size_t)max_block, sizeof(float));
    h->atom_in = calloc(1, ATOM_BUF);
    h->atom_out = calloc(1, ATOM_BUF);
    lv2_atom_forge_init(&h->forge, &h->map);
    if (!(h->instance = lilv_plugin_instantiate(h->plugin, rate, h->features))) {
        fprintf(stderr, "lv2_host: cannot instantiate %s\n", LV2_HOST_PLUGIN);
        lv2_host_free(h);
        return NULL;
    }
    h->worker = lilv_instance_get_extension_data(h->instance, LV2_WORKER__interface);
    connect_ports(h);
    lilv_instance_activate(h->instance);
    return h;
}

/* What the worker and the plugin still have under way is finished, as a host does
 * before it lets a plugin go: jobs run, their responses delivered (a swap then hands the
 * old model back to the worker), until nothing is left, so that no model is lost. */
static void finish_work(lv2_host *h)
{
    while (h->jobs.n || h->responses.n) {
        lv2_host_work(h);
        queue responses = h->responses;
        h->responses.n = 0;
        for (int i = 0; i < responses.n; i++)
            h->worker->work_response(lilv_instance_get_handle(h->instance), responses.size[i],
                                     responses.data[i]);
    }
}

void lv2_host_free(lv2_host *h)
{
    if (!h) return;
    if (h->instance) {
        finish_work(h);
        lilv_instance_deactivate(h->instance);
        lilv_instance_free(h->instance);
    }
    lilv_world_free(h->world);
    if (h->audio_in != h->audio_out[0]) free(h->audio_in);
    for (int k = 0; k < LV2_HOST_OUTS; k++) free(h->audio_out[k]);
    free(h->atom_in);
    free(h->atom_out);
    for (int i = 0; i < h->n_uris; i++) free(h->uris[i]);
    free(h);
}

void lv2_host_set(lv2_host *h, const char *symbol, float value)
{
    h->control[port_index(h, symbol)] = value;
}

float lv2_host_get(const lv2_host *h, const char *symbol)
{
    return h->control[port_index(h, symbol)];
}

void lv2_host_set_model(lv2_host *h, const char *path)
{
    snprintf(h->pending_model, sizeof h->pending_model, "%s", path);
}

/* The control sequence for the next run: the pending patch:Set, if any. */
static void write_control(lv2_host *h)
{
    lv2_atom_forge_set_buffer(&h->forge, (uint8_t *)h->atom_in, ATOM_BUF);
    LV2_Atom_Forge_Frame seq, obj;
    lv2_atom_forge_sequence_head(&h->forge, &seq, 0);
    if (h->pending_model[0]) {
        lv2_atom_forge_frame_time(&h->forge, 0);
        lv2_atom_forge_object(&h->forge, &obj, 0, map_uri(h, LV2_PATCH__Set));
        lv2_atom_forge_key(&h->forge, map_uri(h, LV2_PATCH__property));
        lv2_atom_forge_urid(&h->forge, map_uri(h, "urn:priorsep:separator#model"));
        lv2_atom_forge_key(&h->forge, map_uri(h, LV2_PATCH__value));
        lv2_atom_forge_path(&h->forge, h->pending_model, (uint32_t)strlen(h->pending_model));
        lv2_atom_forge_pop(&h->forge, &obj);
        h->pending_model[0] = '\0';
    }
    lv2_atom_forge_pop(&h->forge, &seq);
    h->atom_out->atom.type = map_uri(h, LV2_ATOM__Chunk);
    h->atom_out->atom.size = ATOM_BUF - sizeof(LV2_Atom);
}

/* The slots line from the notify port, if the plugin sent one. */
static void read_notify(lv2_host *h)
{
    LV2_URID slots = map_uri(h, "urn:priorsep:separator#slots");
    LV2_ATOM_SEQUENCE_FOREACH (h->atom_out, ev) {
        const LV2_Atom_Object *obj = (const LV2_Atom_Object *)&ev->body;
        const LV2_Atom_URID *property = NULL;
        const LV2_Atom *value = NULL;
        lv2_atom_object_get(obj, map_uri(h, LV2_PATCH__property), &property,
                            map_uri(h, LV2_PATCH__value), &value, 0);
        if (property && value && property->body == slots)
            snprintf(h->slots, sizeof h->slots, "%s", (const char *)LV2_ATOM_BODY_CONST(value));
    }
}

void lv2_host_run(lv2_host *h, const float *in, int n, float *const *out)
{
    for (int i = 0; i < h->responses.n; i++)
        h->worker->work_response(lilv_instance_get_handle(h->instance), h->responses.size[i],
                                 h->responses.data[i]);
    h->responses.n = 0;
    write_control(h);
    memcpy(h->audio_in, in, sizeof(float) * (size_t)n); /* in place: slot 1's buffer */
    lilv_instance_run(h->instance, (uint32_t)n);
    for (int k = 0; k < LV2_HOST_OUTS; k++)
        memcpy(out[k], h->audio_out[k], sizeof(float) * (size_t)n);
    read_notify(h);
}

void lv2_host_in_place(lv2_host *h)
{
    free(h->audio_in);
    h->audio_in = h->audio_out[0];
    lilv_instance_connect_port(h->instance, (uint32_t)h->in_port, h->audio_in);
}

void lv2_host_restart(lv2_host *h)
{
    lilv_instance_deactivate(h->instance);
    lilv_instance_activate(h->instance);
}

int lv2_host_work(lv2_host *h)
{
    int failed = 0;
    queue jobs = h->jobs; /* a job may schedule more */
    h->jobs.n = 0;
    for (int i = 0; i < jobs.n; i++)
        failed += h->worker->work(lilv_instance_get_handle(h->instance), respond, h,
                                  jobs.size[i], jobs.data[i]) != LV2_WORKER_SUCCESS;
    return failed;
}

int lv2_host_jobs(const lv2_host *h) { return h->jobs.n; }

const char *lv2_host_log(const lv2_host *h) { return h->log_text; }
const char *lv2_host_slots(const lv2_host *h) { return h->slots; }

static const void *port_value(const char *symbol, void *data, uint32_t *size, uint32_t *type)
{
    lv2_host *h = data;
    int i = port_index(h, symbol);
    *size = sizeof(float), *type = map_uri(h, LV2_ATOM__Float);
    return &h->control[i];
}

static void set_port_value(const char *symbol, void *data, const void *value, uint32_t size,
                           uint32_t type)
{
    lv2_host *h = data;
    if (size == sizeof(float) && type == map_uri(h, LV2_ATOM__Float))
        h->control[port_index(h, symbol)] = *(const float *)value;
}

int lv2_host_save(lv2_host *h, const char *dir)
{
    LilvState *state = lilv_state_new_from_instance(h->plugin, h->instance, &h->map, NULL, dir,
                                                    dir, dir, port_value, h, 0, h->features);
    if (!state) return -1;
    int rc = lilv_state_save(h->world, &h->map, &h->unmap, state, NULL, dir, "state.ttl");
    lilv_state_free(state);
    return rc;
}

int lv2_host_restore(lv2_host *h, const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/state.ttl", dir);
    LilvState *state = lilv_state_new_from_file(h->world, &h->map, NULL, path);
    if (!state) return -1;
    lilv_state_restore(state, h->instance, set_port_value, h, 0, h->features);
    lilv_state_free(state);
    return 0;
}
