/* Raw safetensors files as bytes, for tests and the fuzz corpus generator that take a
 * valid model file apart and put malformed ones together. Failures return NULL / an
 * empty blob; callers report them their own way. */
#ifndef PRIORSEP_SAFETENSORS_BLOB_H
#define PRIORSEP_SAFETENSORS_BLOB_H
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct blob {
    uint8_t *p;
    size_t n;
} blob;

/* The whole file (one spare byte allocated, so that an empty file is not NULL). */
static inline blob blob_read(const char *path)
{
    blob b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    if (!f) return b;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0) {
        rewind(f);
        b.p = malloc((size_t)n + 1);
        b.n = (size_t)n;
        if (b.p && fread(b.p, 1, b.n, f) != b.n) free(b.p), b.p = NULL;
    }
    fclose(f);
    return b;
}

static inline int blob_write(const char *path, blob b)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = (b.n == 0 || fwrite(b.p, 1, b.n, f) == b.n);
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static inline uint64_t st_header_length(blob b)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b.p[i];
    return n;
}

static inline void st_set_header_length(blob b, uint64_t n)
{
    for (int i = 0; i < 8; i++) b.p[i] = (uint8_t)(n >> (8 * i));
}

/* The parsed JSON header of a well-formed file, or NULL (je may be NULL). */
static inline json_t *st_header(blob b, json_error_t *je)
{
    return json_loadb((const char *)b.p + 8, st_header_length(b), 0, je);
}

/* The data section (a view into b). */
static inline blob st_data(blob b)
{
    uint64_t hl = st_header_length(b);
    return (blob){b.p + 8 + hl, b.n - 8 - hl};
}

/* A new file from a header (JSON, padded with spaces to 8 bytes) and a data section;
 * p is NULL if the header cannot be encoded. */
static inline blob st_assemble(json_t *header, blob data)
{
    blob b = {NULL, 0};
    char *text = json_dumps(header, JSON_COMPACT);
    if (!text) return b;
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    b.n = 8 + padded + data.n;
    b.p = malloc(b.n + 1);
    if (b.p) {
        st_set_header_length(b, padded);
        memcpy(b.p + 8, text, n);
        memset(b.p + 8 + n, ' ', padded - n);
        if (data.n) memcpy(b.p + 8 + padded, data.p, data.n);
    }
    free(text);
    return b;
}

#endif
