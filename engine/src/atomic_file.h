/* Files written whole or not at all: under a temporary name beside the target, synced,
 * then renamed into place, so a failure (a full disk, a crash) leaves any earlier file
 * untouched. Model files, checkpoints and PNG grids are written this way. */
#ifndef PRIORSEP_ATOMIC_FILE_H
#define PRIORSEP_ATOMIC_FILE_H
#include <stddef.h>

#include "priorsep/error.h"

/* 0 or an errno value. A write that makes no progress counts as a full disk. */
int ps_write_all(int fd, const void *data, size_t size);

/* Writes the contents through `write` (which returns 0 or an errno value, as
 * ps_write_all does) into a temporary file, gives it mode 0644, syncs it and renames it
 * to path, then syncs the folder (best effort). Returns 0, or -1 with err naming path and
 * what failed; the temporary file is removed on failure. */
int ps_write_file_atomically(const char *path, int (*write)(int fd, void *ctx), void *ctx,
                             ps_error *err);

#endif
