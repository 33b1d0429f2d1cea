/*  synth_source.c - one running task of a synthetic source.               */

#include "synth_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _braid_synth_t {
    const char *query;      /* borrowed                                    */
    size_t qlen;
    uint64_t parts;
    uint64_t size;
    uint64_t delay_msec;
    uint64_t next_seq;
    int64_t next_at;
    bool failed;
    bool transient;
};

braid_synth_t *
braid_synth_new(const braid_source_t *source, const char *query, size_t qlen, uint32_t attempt,
                int64_t now_msec)
{
    braid_synth_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->query = query;
    self->qlen = qlen;
    self->parts = source->parts;
    self->size = source->size < 2 ? 2 : source->size;
    self->delay_msec = source->delay_msec;
    self->next_at = now_msec + (int64_t) self->delay_msec;
    if (source->fail) {
        size_t plen = strlen(source->fail);
        self->failed = plen <= qlen && memcmp(query, source->fail, plen) == 0;
    }
    self->transient = attempt <= source->fail_first;
    return self;
}

void
braid_synth_destroy(braid_synth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

bool
braid_synth_failed(braid_synth_t *self)
{
    return self->failed;
}

bool
braid_synth_transient(braid_synth_t *self)
{
    return self->transient;
}

bool
braid_synth_done(braid_synth_t *self)
{
    return self->failed || self->next_seq >= self->parts;
}

int64_t
braid_synth_next_at(braid_synth_t *self)
{
    return braid_synth_done(self) ? -1 : self->next_at;
}

/*  One payload of exactly size bytes.                                      */
static zframe_t *
s_payload(braid_synth_t *self, uint64_t seq)
{
    zframe_t *frame = zframe_new(NULL, (size_t) self->size);
    if (!frame)
        return NULL;
    char *data = (char *) zframe_data(frame);
    size_t body = (size_t) self->size - 1;
    char num[24];
    int numlen = snprintf(num, sizeof num, " %llu", (unsigned long long) seq);
    size_t pos = 0;
    size_t take = self->qlen < body ? self->qlen : body;
    memcpy(data, self->query, take);
    pos = take;
    take = (size_t) numlen < body - pos ? (size_t) numlen : body - pos;
    memcpy(data + pos, num, take);
    pos += take;
    memset(data + pos, '.', body - pos);
    data[body] = '\n';
    return frame;
}

size_t
braid_synth_produce(braid_synth_t *self, int64_t now_msec, zmsg_t *out, size_t max_frames)
{
    size_t n = 0;
    uint64_t bytes = 0;
    while (!braid_synth_done(self) && self->next_at <= now_msec && n < max_frames &&
           (n == 0 || bytes + self->size <= BRAID_SYNTH_MAX_BURST)) {
        zframe_t *frame = s_payload(self, self->next_seq);
        if (!frame || zmsg_append(out, &frame)) {
            zframe_destroy(&frame);
            break;
        }
        self->next_seq++;
        self->next_at += (int64_t) self->delay_msec;
        bytes += self->size;
        n++;
    }
    return n;
}
