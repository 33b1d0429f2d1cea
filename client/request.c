/*  request.c - braid_request_t: what a job asks (see braid.h, request.h).

    Queries are stored back to back in one growing buffer with an offset
    table, so a job of millions of short queries costs two allocations that
    double, not one per query.
*/

#include "request.h"
#include "braid_parts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*  The public enums are the wire's values: one owner (braid_msg.h), and
    the public header restates them for callers without czmq.               */
_Static_assert(BRAID_ORDERING_SUBMIT == (int) BRAID_ORDER_SUBMIT, "order values");
_Static_assert(BRAID_ORDERING_ARRIVAL == (int) BRAID_ORDER_ARRIVAL, "order values");
_Static_assert(BRAID_ORDERING_KEY == (int) BRAID_ORDER_KEY, "order values");

struct _braid_request_t {
    uint32_t order;
    uint32_t max_inflight;
    uint32_t timeout_msec;
    uint32_t deadline_msec;
    uint32_t retries;
    uint32_t flags;
    uint32_t nsources;
    char sources[BRAID_MAX_SOURCES][BRAID_MAX_NAME + 1];
    const char *names[BRAID_MAX_SOURCES];   /* names[i] is sources[i]       */
    char *bytes;            /* all queries back to back                     */
    size_t bytes_len;
    size_t bytes_cap;
    size_t *offsets;        /* query i is bytes[offsets[i] .. offsets[i+1]) */
    size_t nqueries;
    size_t offsets_cap;     /* entries allocated, >= nqueries + 1           */
};

/*  Fail with result and errno err.                                         */
static braid_add_t
s_refuse(braid_add_t result, int err)
{
    errno = err;
    return result;
}

braid_request_t *
braid_request_new(void)
{
    braid_request_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->offsets_cap = 64;
    self->offsets = calloc(self->offsets_cap, sizeof *self->offsets);
    if (!self->offsets) {
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < BRAID_MAX_SOURCES; i++)
        self->names[i] = self->sources[i];
    return self;
}

void
braid_request_destroy(braid_request_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_request_t *self = *self_p;
    free(self->bytes);
    free(self->offsets);
    free(self);
    *self_p = NULL;
}

braid_add_t
braid_request_add_source(braid_request_t *self, const char *name)
{
    if (!name || !braid_name_valid(name, strlen(name)))
        return s_refuse(BRAID_ADD_INVALID, EINVAL);
    for (uint32_t i = 0; i < self->nsources; i++)
        if (strcmp(self->sources[i], name) == 0)
            return s_refuse(BRAID_ADD_DUPLICATE, EEXIST);
    if (self->nsources >= BRAID_MAX_SOURCES)
        return s_refuse(BRAID_ADD_TOO_MANY, E2BIG);
    strcpy(self->sources[self->nsources++], name);
    return BRAID_ADD_OK;
}

braid_add_t
braid_request_add_query(braid_request_t *self, const void *data, size_t size)
{
    if (size > BRAID_MAX_QUERY_LEN)
        return s_refuse(BRAID_ADD_TOO_LONG, EMSGSIZE);
    if (self->nqueries >= BRAID_MAX_QUERIES)
        return s_refuse(BRAID_ADD_TOO_MANY, E2BIG);
    if (self->nqueries + 2 > self->offsets_cap) {
        size_t cap = self->offsets_cap * 2;
        size_t *offsets = realloc(self->offsets, cap * sizeof *offsets);
        if (!offsets)
            return s_refuse(BRAID_ADD_NO_MEMORY, ENOMEM);
        self->offsets = offsets;
        self->offsets_cap = cap;
    }
    if (size > self->bytes_cap - self->bytes_len) {
        size_t cap = self->bytes_cap ? self->bytes_cap : 4096;
        while (size > cap - self->bytes_len)
            cap *= 2;
        char *bytes = realloc(self->bytes, cap);
        if (!bytes)
            return s_refuse(BRAID_ADD_NO_MEMORY, ENOMEM);
        self->bytes = bytes;
        self->bytes_cap = cap;
    }
    if (size)
        memcpy(self->bytes + self->bytes_len, data, size);
    self->bytes_len += size;
    self->nqueries++;
    self->offsets[self->nqueries] = self->bytes_len;
    return BRAID_ADD_OK;
}

int
braid_request_set_order(braid_request_t *self, braid_ordering_t order)
{
    if (order != BRAID_ORDERING_SUBMIT && order != BRAID_ORDERING_ARRIVAL &&
        order != BRAID_ORDERING_KEY) {
        errno = EINVAL;
        return -1;
    }
    self->order = (uint32_t) order;
    return 0;
}

int
braid_request_set_max_inflight(braid_request_t *self, uint32_t max_inflight)
{
    if (max_inflight > BRAID_MAX_INFLIGHT) {
        errno = EINVAL;
        return -1;
    }
    self->max_inflight = max_inflight;
    return 0;
}

/*  *field_p = msec within the protocol's bound for any wait; -1 EINVAL.  */
static int
s_set_msec(uint32_t *field_p, uint32_t msec)
{
    if (msec > BRAID_MAX_MSEC) {
        errno = EINVAL;
        return -1;
    }
    *field_p = msec;
    return 0;
}

int
braid_request_set_timeout(braid_request_t *self, uint32_t timeout_msec)
{
    return s_set_msec(&self->timeout_msec, timeout_msec);
}

int
braid_request_set_deadline(braid_request_t *self, uint32_t deadline_msec)
{
    return s_set_msec(&self->deadline_msec, deadline_msec);
}

int
braid_request_set_retries(braid_request_t *self, int retries)
{
    if (retries > BRAID_MAX_RETRIES) {
        errno = EINVAL;
        return -1;
    }
    if (retries < 0) {
        self->retries = 0;
        self->flags &= ~BRAID_FLAG_RETRIES;
    } else {
        self->retries = (uint32_t) retries;
        self->flags |= BRAID_FLAG_RETRIES;
    }
    return 0;
}

void
braid_request_set_fail_fast(braid_request_t *self, bool on)
{
    if (on)
        self->flags |= BRAID_FLAG_FAIL_FAST;
    else
        self->flags &= ~BRAID_FLAG_FAIL_FAST;
}

size_t
braid_request_query_count(const braid_request_t *self)
{
    return self->nqueries;
}

size_t
braid_request_source_count(const braid_request_t *self)
{
    return self->nsources;
}

const char *
braid_request_source(const braid_request_t *self, size_t index)
{
    return index < self->nsources ? self->sources[index] : NULL;
}

const void *
braid_request_query(const braid_request_t *self, size_t index, size_t *size_p)
{
    if (index >= self->nqueries)
        return NULL;
    if (size_p)
        *size_p = self->offsets[index + 1] - self->offsets[index];
    return self->bytes ? self->bytes + self->offsets[index] : "";
}

braid_request_t *
braid_request_new_like(const braid_request_t *other)
{
    braid_request_t *self = braid_request_new();
    if (!self)
        return NULL;
    self->order = other->order;
    self->max_inflight = other->max_inflight;
    self->timeout_msec = other->timeout_msec;
    self->deadline_msec = other->deadline_msec;
    self->retries = other->retries;
    self->flags = other->flags;
    return self;
}

/*  ---------------------------------------------------------------------
    Inside libbraid (request.h)                                             */

braid_ordering_t
braid_request_order(const braid_request_t *self)
{
    return (braid_ordering_t) self->order;
}

void
braid_request_put_header(const braid_request_t *self, braid_msg_t *msg)
{
    msg->order = self->order;
    msg->max_inflight = self->max_inflight;
    msg->timeout_msec = self->timeout_msec;
    msg->flags = self->flags;
    msg->deadline_msec = self->deadline_msec;
    msg->retries = self->retries;
    msg->count = (uint32_t) self->nqueries;
    msg->nsources = self->nsources;
    memcpy(msg->sources, self->sources, sizeof msg->sources);
}

zmsg_t *
braid_request_batch(const braid_request_t *self, uint32_t first, uint32_t *next_p)
{
    if (first >= self->nqueries)
        return NULL;
    zmsg_t *payload = zmsg_new();
    if (!payload)
        return NULL;
    /*  The queries travel in one parts frame (braid_parts.h) of at most
        BRAID_MAX_BATCH queries and BRAID_MAX_QUERIES_FRAME bytes (at least
        one query): a count of 2 bytes, a length of 2 and the bytes each.  */
    const void *data[BRAID_MAX_BATCH];
    size_t sizes[BRAID_MAX_BATCH];
    uint32_t n = 0;
    size_t bytes = 2;
    while (first + n < self->nqueries && n < BRAID_MAX_BATCH) {
        const void *query = braid_request_query(self, first + n, &sizes[n]);
        if (n > 0 && bytes + 2 + sizes[n] > BRAID_MAX_QUERIES_FRAME)
            break;
        bytes += 2 + sizes[n];
        data[n++] = query;
    }
    zframe_t *frame = braid_parts_encode(data, sizes, n);
    if (!frame || zmsg_append(payload, &frame) != 0) {
        zframe_destroy(&frame);
        zmsg_destroy(&payload);
        return NULL;
    }
    *next_p = first + n;
    return payload;
}

const char *const *
braid_request_source_names(const braid_request_t *self)
{
    return self->names;
}
