/*  synth_source.c - the synthetic kind of source. See the header.         */

#include "synth_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braid_num.h"

typedef struct {
    uint64_t parts;
    uint64_t size;
    uint64_t delay_msec;
    char *fail;             /* NULL: never fail                            */
    uint64_t fail_first;    /* attempts 1..fail_first fail transiently     */
} s_settings_t;

typedef struct {
    zframe_t *query;
    char *scratch;          /* one payload, size bytes                     */
    uint32_t attempt;
    uint64_t parts;
    uint64_t size;
    uint64_t delay_msec;
    uint64_t next_seq;
    int64_t next_at;
    bool failed;            /* the query matched fail=PREFIX               */
    bool transient;
} s_run_t;

/*  ---------------------------------------------------------------------
    Settings                                                               */

static void *
s_settings_new(void)
{
    s_settings_t *self = calloc(1, sizeof *self);
    if (self) {
        self->parts = 1;
        self->size = 64;
    }
    return self;
}

static void
s_settings_destroy(void **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_settings_t *self = *self_p;
    free(self->fail);
    free(self);
    *self_p = NULL;
}

static int
s_set(void *settings, const char *key, size_t keylen, const char *val, size_t vallen, char *err,
      size_t errsize)
{
    s_settings_t *self = settings;
    struct {
        const char *key;
        uint64_t *dst;
        uint64_t min, max;
    } ints[] = {
        {"parts", &self->parts, 0, BRAID_SYNTH_MAX_PARTS},
        {"size", &self->size, 2, BRAID_SYNTH_MAX_SIZE},
        {"delay_msec", &self->delay_msec, 0, BRAID_SYNTH_MAX_DELAY_MSEC},
        {"fail_first", &self->fail_first, 0, BRAID_MAX_ATTEMPTS},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strlen(ints[i].key) == keylen && memcmp(ints[i].key, key, keylen) == 0) {
            if (braid_parse_u64_len(val, vallen, ints[i].min, ints[i].max, ints[i].dst) == 0)
                return 0;
            snprintf(err, errsize, "%s must be an integer in %llu..%llu", ints[i].key,
                     (unsigned long long) ints[i].min, (unsigned long long) ints[i].max);
            return -1;
        }
    if (keylen == 4 && memcmp(key, "fail", 4) == 0) {
        char *fail = strndup(val, vallen);
        if (!fail) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        free(self->fail);
        self->fail = fail;
        return 0;
    }
    snprintf(err, errsize, "unknown synthetic setting '%.*s'", (int) keylen, key);
    return -1;
}

/*  ---------------------------------------------------------------------
    Runs                                                                   */

static void
s_destroy(void **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_run_t *self = *self_p;
    zframe_destroy(&self->query);
    free(self->scratch);
    free(self);
    *self_p = NULL;
}

static braid_run_result_t
s_start(void *context, const void *settings, zframe_t **query_p, uint32_t attempt, int64_t now,
        void **run_p, char *text, size_t textsize)
{
    (void) context;
    const s_settings_t *set = settings;
    zframe_t *query = *query_p;
    *query_p = NULL;
    *run_p = NULL;
    s_run_t *self = calloc(1, sizeof *self);
    if (!self) {
        zframe_destroy(&query);
        snprintf(text, textsize, "out of memory");
        return BRAID_RUN_TRANSIENT;
    }
    self->query = query;
    self->attempt = attempt;
    self->parts = set->parts;
    self->size = set->size < 2 ? 2 : set->size;
    self->delay_msec = set->delay_msec;
    self->next_at = now + (int64_t) self->delay_msec;
    self->transient = attempt <= set->fail_first;
    if (set->fail) {
        size_t plen = strlen(set->fail);
        size_t qlen = query ? zframe_size(query) : 0;
        self->failed =
            plen <= qlen && (plen == 0 || memcmp(zframe_data(query), set->fail, plen) == 0);
    }
    *run_p = self;
    return BRAID_RUN_BUSY;
}

static bool
s_done(const s_run_t *self)
{
    return self->failed || self->next_seq >= self->parts;
}

/*  One payload of exactly size bytes, in the run's scratch buffer (NULL
    out of memory).                                                         */
static const char *
s_payload(s_run_t *self, uint64_t seq)
{
    if (!self->scratch && !(self->scratch = malloc((size_t) self->size)))
        return NULL;
    const char *query = self->query ? (const char *) zframe_data(self->query) : "";
    size_t qlen = self->query ? zframe_size(self->query) : 0;
    char *data = self->scratch;
    size_t body = (size_t) self->size - 1;
    char num[24];
    int numlen = snprintf(num, sizeof num, " %llu", (unsigned long long) seq);
    size_t pos = 0;
    size_t take = qlen < body ? qlen : body;
    memcpy(data, query, take);
    pos = take;
    take = (size_t) numlen < body - pos ? (size_t) numlen : body - pos;
    memcpy(data + pos, num, take);
    pos += take;
    memset(data + pos, '.', body - pos);
    data[body] = '\n';
    return data;
}

/*  The parts due at now: at most max, and no more than
    BRAID_SYNTH_MAX_BURST bytes.                                           */
static size_t
s_produce(void *run, int64_t now, braid_parts_t *out, size_t max)
{
    s_run_t *self = run;
    size_t n = 0;
    uint64_t bytes = 0;
    while (!s_done(self) && self->next_at <= now && n < max &&
           (n == 0 || bytes + self->size <= BRAID_SYNTH_MAX_BURST)) {
        const char *payload = s_payload(self, self->next_seq);
        if (!payload || braid_parts_add(out, payload, (size_t) self->size) != 0)
            break;
        self->next_seq++;
        self->next_at += (int64_t) self->delay_msec;
        bytes += self->size;
        n++;
    }
    return n;
}

static braid_run_result_t
s_advance(void *run, int64_t now, size_t room, char *text, size_t textsize)
{
    (void) now;
    (void) room;
    s_run_t *self = run;
    if (!s_done(self))
        return BRAID_RUN_BUSY;
    if (self->failed) {
        snprintf(text, textsize, "synthetic failure");
        return BRAID_RUN_FAILED;
    }
    if (self->transient) {
        snprintf(text, textsize, "synthetic transient failure (attempt %u)", self->attempt);
        return BRAID_RUN_TRANSIENT;
    }
    snprintf(text, textsize, "%s", "");
    return BRAID_RUN_OK;
}

static braid_run_result_t
s_stop(void *run, int64_t now)
{
    (void) run;
    (void) now;
    return BRAID_RUN_STOPPED;
}

static int64_t
s_wake(void *run, int64_t now, size_t room)
{
    (void) now;
    s_run_t *self = run;
    return room > 0 && !s_done(self) ? self->next_at : INT64_MAX;
}

const braid_source_kind_t braid_synth_kind = {
    .name = "synthetic",
    .settings_new = s_settings_new,
    .settings_destroy = s_settings_destroy,
    .set = s_set,
    .start = s_start,
    .destroy = s_destroy,
    .produce = s_produce,
    .advance = s_advance,
    .stop = s_stop,
    .wake = s_wake,
};
