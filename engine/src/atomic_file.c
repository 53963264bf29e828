/* Files written whole or not at all; see atomic_file.h. */
#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ps_write_all(int fd, const void *data, size_t size)
{
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t r = write(fd, p, size);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return errno;
        if (r == 0) return ENOSPC;
        p += r;
        size -= (size_t)r;
    }
    return 0;
}

/* Makes the rename durable; best effort, the file is already in place. */
static void sync_folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : NULL;
    int fd = open(dir ? dir : ".", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

int ps_write_file_atomically(const char *path, int (*write)(int fd, void *ctx), void *ctx,
                             ps_error *err)
{
    size_t tmp_size = strlen(path) + sizeof ".tmp-XXXXXX";
    char *tmp = malloc(tmp_size);
    if (!tmp) return ps_error_set(err, "%s: out of memory", path);
    snprintf(tmp, tmp_size, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ps_error_set(err, "%s: cannot create a temporary file next to it: %s", path,
                     strerror(errno));
        free(tmp);
        return -1;
    }
    int rc = 0, e = write(fd, ctx);
    if (e) rc = ps_error_set(err, "%s: cannot write: %s", path, strerror(e));
    /* mkstemp() makes the file private; these are ordinary readable files. Failure (a
     * file system without modes) does not matter. */
    (void)fchmod(fd, 0644);
    if (rc == 0 && fsync(fd) != 0)
        rc = ps_error_set(err, "%s: cannot sync: %s", path, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = ps_error_set(err, "%s: cannot close: %s", path, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ps_error_set(err, "%s: cannot replace it: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    else
        sync_folder_of(path);
    free(tmp);
    return rc;
}
