/* A separator and its priors, loaded from one folder and checked against each other. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "priorsep/separator.h"

static int load_prior(const char *dir, const char *name, int *rate, ps_wavenet **net,
                      ps_model_info *info, ps_error *err)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s.safetensors", dir, name) >= (int)sizeof path)
        return ps_error_set(err, "%s: path too long", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return ps_error_set(err, "%s: missing: the prior of source %s", path, name);
    if (!(*net = ps_model_load(path, info, err))) return -1;
    const ps_wavenet_config *c = ps_wavenet_config_of(*net);
    const char *problem = NULL;
    if (c->head != PS_HEAD_MOL)
        problem = "is not a prior with a mixture-of-logistics head (refinement needs a "
                  "density in the amplitude)";
    else if (info->noise_levels == 0 || c->cond != 1)
        problem = "is not a noise-conditioned prior";
    else if (strcmp(info->source, name) != 0)
        problem = "is the prior of another source";
    if (problem) {
        ps_error_set(err, "%s: %s (source \"%s\")", path, problem, info->source);
    } else if (*rate && info->sample_rate != *rate) {
        ps_error_set(err, "%s: a prior at %d Hz, the separator runs at %d Hz", path,
                     info->sample_rate, *rate);
        problem = "rate";
    }
    if (problem) {
        ps_wavenet_destroy(*net);
        *net = NULL;
        return -1;
    }
    *rate = info->sample_rate;
    return 0;
}

int ps_priors_load(const char *dir, int n, const char (*names)[32], int *rate,
                   ps_wavenet **prior, ps_model_info *info, ps_error *err)
{
    for (int k = 0; k < n; k++) prior[k] = NULL;
    for (int k = 0; k < n; k++)
        if (load_prior(dir, names[k], rate, &prior[k], &info[k], err)) {
            while (k-- > 0) ps_wavenet_destroy(prior[k]), prior[k] = NULL;
            return -1;
        }
    return 0;
}

int ps_model_set_load(const char *path, ps_model_set *set, ps_error *err)
{
    memset(set, 0, sizeof *set);
    char file[4096], dir[4096];
    struct stat st;
    if (stat(path, &st) != 0)
        return ps_error_set(err, "%s: no such model folder or file", path);
    if (S_ISDIR(st.st_mode)) {
        if (snprintf(file, sizeof file, "%s/%s", path, PS_SEPARATOR_FILE) >= (int)sizeof file)
            return ps_error_set(err, "%s: path too long", path);
        snprintf(dir, sizeof dir, "%s", path);
        if (stat(file, &st) != 0)
            return ps_error_set(err, "%s: no %s in this model folder", path, PS_SEPARATOR_FILE);
    } else {
        snprintf(file, sizeof file, "%s", path);
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (!slash)
            snprintf(dir, sizeof dir, ".");
        else if (slash == dir)
            dir[1] = '\0'; /* a file in / */
        else
            *slash = '\0';
    }
    if (!(set->separator = ps_model_load(file, &set->info, err))) return -1;
    if (ps_wavenet_config_of(set->separator)->head != PS_HEAD_GAUSSIAN) {
        ps_error_set(err, "%s: is a prior (%s), not a separator", file,
                     set->info.source[0] ? set->info.source : "no source name");
        ps_model_set_free(set);
        return -1;
    }
    int rate = set->info.sample_rate;
    if (ps_priors_load(dir, set->info.n_sources, (const char(*)[32])set->info.sources, &rate,
                       set->prior, set->prior_info, err)) {
        ps_model_set_free(set);
        return -1;
    }
    return 0;
}

void ps_model_set_free(ps_model_set *set)
{
    ps_wavenet_destroy(set->separator);
    for (int k = 0; k < PS_MAX_SOURCES; k++) ps_wavenet_destroy(set->prior[k]);
    memset(set, 0, sizeof *set);
}
