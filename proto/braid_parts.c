/*  braid_parts.c - the parts frame: its total check, its readers, its
    builder. See the header and PROTOCOL.md, "Parts frame".               */

#include "braid_parts.h"

#include <stdlib.h>
#include <string.h>

/*  ---------------------------------------------------------------------
    Varints                                                                */

/*  Read the varint at *p (before end): 0 with *v and *p advanced, -1 when
    it is cut short, longer than BRAID_VARINT_MAX bytes or not minimal.   */
static int
s_varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    const uint8_t *q = *p;
    uint64_t value = 0;
    for (int i = 0; i < BRAID_VARINT_MAX; i++) {
        if (q >= end)
            return -1;
        uint8_t b = *q++;
        value |= (uint64_t) (b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return -1;      /* not minimal                              */
            *v = value;
            *p = q;
            return 0;
        }
    }
    return -1;
}

/*  Read the varint at *p of a checked frame.                               */
static uint64_t
s_varint_read(const uint8_t **p)
{
    const uint8_t *q = *p;
    uint64_t value = 0;
    for (int i = 0; i < BRAID_VARINT_MAX; i++) {
        uint8_t b = *q++;
        value |= (uint64_t) (b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            break;
    }
    *p = q;
    return value;
}

static size_t
s_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *
s_varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

#define S_VARINT_LIMIT (1ull << (7 * BRAID_VARINT_MAX))

/*  ---------------------------------------------------------------------
    Reading                                                                */

braid_err_t
braid_parts_check(const void *data, size_t size, size_t max_count, size_t max_len,
                  size_t *count)
{
    const uint8_t *p = data, *end = p + size;
    uint64_t n;
    if (!data || s_varint_get(&p, end, &n) != 0 || n == 0 || n > max_count)
        return BRAID_ERR_FRAMES;
    /*  Every length takes a byte at least: a count beyond the bytes left
        is a lie, refused before the walk.                                 */
    if (n > (uint64_t) (end - p))
        return BRAID_ERR_FRAMES;
    uint64_t total = 0;
    bool too_long = false;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        if (s_varint_get(&p, end, &len) != 0)
            return BRAID_ERR_FRAMES;
        if (len > max_len)
            too_long = true;
        total += len;   /* n < 2^24 entries of < 2^28: no overflow          */
        if (total > (uint64_t) (end - p))
            return BRAID_ERR_FRAMES;    /* more than the bytes after them  */
    }
    if (total != (uint64_t) (end - p))
        return BRAID_ERR_FRAMES;        /* bytes left over                  */
    if (too_long)
        return BRAID_ERR_FRAME_SIZE;
    if (count)
        *count = (size_t) n;
    return BRAID_OK;
}

void
braid_parts_iter(braid_parts_iter_t *it, const void *frame, size_t size)
{
    const uint8_t *p = frame;
    (void) size;
    it->left = (size_t) s_varint_read(&p);
    it->len = p;
    /*  The data starts after the last length.                              */
    for (size_t i = 0; i < it->left; i++)
        (void) s_varint_read(&p);
    it->data = p;
}

bool
braid_parts_next(braid_parts_iter_t *it, const void **data, size_t *len)
{
    if (it->left == 0)
        return false;
    size_t l = (size_t) s_varint_read(&it->len);
    *data = it->data;
    *len = l;
    it->data += l;
    it->left--;
    return true;
}

size_t
braid_parts_count(const void *frame, size_t size)
{
    const uint8_t *p = frame;
    return size ? (size_t) s_varint_read(&p) : 0;
}

const void *
braid_parts_data(const void *frame, size_t size, size_t *len)
{
    braid_parts_iter_t it;
    braid_parts_iter(&it, frame, size);
    *len = (size_t) ((const uint8_t *) frame + size - it.data);
    return it.data;
}

size_t
braid_parts_frame_count(zframe_t *frame)
{
    return frame ? braid_parts_count(zframe_data(frame), zframe_size(frame)) : 0;
}

size_t
braid_parts_frame_bytes(zframe_t *frame)
{
    size_t len = 0;
    if (frame && zframe_size(frame))
        braid_parts_data(zframe_data(frame), zframe_size(frame), &len);
    return len;
}

zframe_t *
braid_parts_encode(const void *const *data, const size_t *lens, size_t n)
{
    if (n == 0 || n >= S_VARINT_LIMIT)
        return NULL;
    size_t size = s_varint_size(n), bytes = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] >= S_VARINT_LIMIT)
            return NULL;
        size += s_varint_size(lens[i]);
        bytes += lens[i];
    }
    zframe_t *frame = zframe_new(NULL, size + bytes);
    if (!frame)
        return NULL;
    uint8_t *p = s_varint_put(zframe_data(frame), n);
    for (size_t i = 0; i < n; i++)
        p = s_varint_put(p, lens[i]);
    for (size_t i = 0; i < n; i++) {
        if (lens[i])
            memcpy(p, data[i], lens[i]);
        p += lens[i];
    }
    return frame;
}

zmsg_t *
braid_parts_pack(zmsg_t **frames_p)
{
    zmsg_t *in = *frames_p;
    *frames_p = NULL;
    zmsg_t *out = zmsg_new();
    size_t n = in ? zmsg_size(in) : 0;
    if (out && n) {
        braid_parts_t *parts = braid_parts_new();
        bool ok = parts != NULL;
        for (zframe_t *f = zmsg_first(in); ok && f; f = zmsg_next(in))
            ok = braid_parts_add(parts, zframe_data(f), zframe_size(f)) == 0;
        zframe_t *frame = ok ? braid_parts_frame(parts, n) : NULL;
        if (!frame || zmsg_append(out, &frame) != 0) {
            zframe_destroy(&frame);
            zmsg_destroy(&out);
        }
        braid_parts_destroy(&parts);
    }
    zmsg_destroy(&in);
    return out;
}

/*  ---------------------------------------------------------------------
    The builder                                                            */

struct _braid_parts_t {
    char *data;                 /* the entries' bytes, back to back         */
    size_t data_len, data_cap;
    size_t *ends;               /* entry i ends at ends[i] (from data)      */
    size_t head, n, cap;        /* entries head .. n-1 are held             */
};

braid_parts_t *
braid_parts_new(void)
{
    return calloc(1, sizeof(braid_parts_t));
}

void
braid_parts_destroy(braid_parts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->data);
    free((*self_p)->ends);
    free(*self_p);
    *self_p = NULL;
}

/*  Move the held entries to the front of both arrays.                      */
static void
s_compact(braid_parts_t *self)
{
    if (self->head == 0)
        return;
    size_t base = self->ends[self->head - 1];
    memmove(self->data, self->data + base, self->data_len - base);
    self->data_len -= base;
    for (size_t i = self->head; i < self->n; i++)
        self->ends[i - self->head] = self->ends[i] - base;
    self->n -= self->head;
    self->head = 0;
}

int
braid_parts_add(braid_parts_t *self, const void *data, size_t len)
{
    if (len >= S_VARINT_LIMIT)
        return -1;
    if (self->n == self->cap || self->data_len + len > self->data_cap)
        s_compact(self);
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        size_t *ends = realloc(self->ends, cap * sizeof *ends);
        if (!ends)
            return -1;
        self->ends = ends;
        self->cap = cap;
    }
    if (self->data_len + len > self->data_cap) {
        size_t cap = self->data_cap ? self->data_cap : 4096;
        while (cap < self->data_len + len)
            cap *= 2;
        char *grown = realloc(self->data, cap);
        if (!grown)
            return -1;
        self->data = grown;
        self->data_cap = cap;
    }
    if (len)
        memcpy(self->data + self->data_len, data, len);
    self->data_len += len;
    self->ends[self->n++] = self->data_len;
    return 0;
}

size_t
braid_parts_size(const braid_parts_t *self)
{
    return self->n - self->head;
}

/*  Where entry k (absolute index) starts.                                  */
static size_t
s_start(const braid_parts_t *self, size_t k)
{
    return k ? self->ends[k - 1] : 0;
}

size_t
braid_parts_bytes(const braid_parts_t *self)
{
    return self->data_len - s_start(self, self->head);
}

const void *
braid_parts_at(const braid_parts_t *self, size_t i, size_t *len)
{
    size_t k = self->head + i;
    size_t start = s_start(self, k);
    *len = self->ends[k] - start;
    return self->data + start;
}

size_t
braid_parts_fit(const braid_parts_t *self, size_t max_count, size_t max_bytes)
{
    size_t held = braid_parts_size(self);
    if (held == 0)
        return 0;
    size_t n = 0, size = 0;
    while (n < held && n < max_count) {
        size_t len;
        braid_parts_at(self, n, &len);
        size += len;
        if (n > 0 && size > max_bytes)
            break;
        n++;
    }
    return n;
}

zframe_t *
braid_parts_frame(const braid_parts_t *self, size_t n)
{
    if (n == 0 || n > braid_parts_size(self))
        return NULL;
    size_t first = s_start(self, self->head);
    size_t bytes = self->ends[self->head + n - 1] - first;
    size_t size = s_varint_size(n);
    for (size_t k = self->head; k < self->head + n; k++)
        size += s_varint_size(self->ends[k] - s_start(self, k));
    zframe_t *frame = zframe_new(NULL, size + bytes);
    if (!frame)
        return NULL;
    uint8_t *p = s_varint_put(zframe_data(frame), n);
    for (size_t k = self->head; k < self->head + n; k++)
        p = s_varint_put(p, self->ends[k] - s_start(self, k));
    if (bytes)
        memcpy(p, self->data + first, bytes);
    return frame;
}

void
braid_parts_drop(braid_parts_t *self, size_t n)
{
    if (n >= braid_parts_size(self)) {
        self->head = self->n = 0;
        self->data_len = 0;
        return;
    }
    self->head += n;
}
