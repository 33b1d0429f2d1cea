/*  ledger.c - braid_ledger_t: what the caller of a job has (ledger.h).    */

#include "ledger.h"

#include "braid_msg.h"

#include <stdlib.h>
#include <string.h>

/*  A task in progress: partials handed out, no END yet. idx + 1 as the key
    (0: an empty slot).                                                     */
typedef struct {
    uint64_t key;
    uint64_t out;           /* partials handed out: the next seq           */
} s_open_t;

struct _braid_ledger_t {
    uint32_t queries;
    uint32_t sources;
    uint64_t ntasks;
    uint8_t *ended;         /* one bit per task                            */
    s_open_t *open;         /* open addressing, linear probing             */
    size_t cap;             /* a power of two                              */
    size_t nopen;
    uint64_t summary[BRAID_MAX_SOURCES][BRAID_END_STATUS_COUNT];
};

#define S_INITIAL_CAP 64

braid_ledger_t *
braid_ledger_new(uint32_t queries, uint32_t sources)
{
    braid_ledger_t *self = calloc(1, sizeof *self);
    if (!self || sources == 0 || sources > BRAID_MAX_SOURCES) {
        free(self);
        return NULL;
    }
    self->queries = queries;
    self->sources = sources;
    self->ntasks = (uint64_t) queries * sources;
    self->ended = calloc((size_t) (self->ntasks / 8 + 1), 1);
    self->cap = S_INITIAL_CAP;
    self->open = calloc(self->cap, sizeof *self->open);
    if (!self->ended || !self->open)
        braid_ledger_destroy(&self);
    return self;
}

void
braid_ledger_destroy(braid_ledger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->ended);
    free((*self_p)->open);
    free(*self_p);
    *self_p = NULL;
}

static bool
s_ended(const braid_ledger_t *self, uint64_t idx)
{
    return self->ended[idx / 8] & (1u << (idx % 8));
}

static size_t
s_hash(const braid_ledger_t *self, uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    return (size_t) key & (self->cap - 1);
}

/*  The slot of idx, or the empty slot where it would go.                   */
static s_open_t *
s_find(const braid_ledger_t *self, uint64_t idx)
{
    size_t i = s_hash(self, idx + 1);
    while (self->open[i].key && self->open[i].key != idx + 1)
        i = (i + 1) & (self->cap - 1);
    return &self->open[i];
}

/*  Double the table. -1 out of memory (the table is kept).                 */
static int
s_grow(braid_ledger_t *self)
{
    s_open_t *old = self->open;
    size_t old_cap = self->cap;
    s_open_t *open = calloc(old_cap * 2, sizeof *open);
    if (!open)
        return -1;
    self->open = open;
    self->cap = old_cap * 2;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key)
            *s_find(self, old[i].key - 1) = old[i];
    free(old);
    return 0;
}

/*  Remove the entry at slot (backward shift: no tombstones).              */
static void
s_remove(braid_ledger_t *self, s_open_t *slot)
{
    size_t i = (size_t) (slot - self->open);
    size_t mask = self->cap - 1;
    self->open[i].key = 0;
    self->nopen--;
    for (size_t j = (i + 1) & mask; self->open[j].key; j = (j + 1) & mask) {
        size_t home = s_hash(self, self->open[j].key);
        /*  Move j back to i unless its home lies cyclically in (i, j].    */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays)
            continue;
        self->open[i] = self->open[j];
        self->open[j].key = 0;
        i = j;
    }
}

bool
braid_ledger_partial(braid_ledger_t *self, uint32_t query, uint32_t source, uint64_t seq)
{
    uint64_t idx = (uint64_t) query * self->sources + source;
    if (query >= self->queries || source >= self->sources || s_ended(self, idx))
        return false;
    s_open_t *slot = s_find(self, idx);
    if (slot->key) {
        if (seq < slot->out)
            return false;
        slot->out = seq + 1;
        return true;
    }
    if (seq > 0)
        return true;    /* cannot be: seqs start at 0; hand it out          */
    if ((self->nopen + 1) * 2 > self->cap) {
        if (s_grow(self) != 0)
            return true;    /* not tracked: a failover may repeat it       */
        slot = s_find(self, idx);
    }
    slot->key = idx + 1;
    slot->out = 1;
    self->nopen++;
    return true;
}

bool
braid_ledger_end(braid_ledger_t *self, uint32_t query, uint32_t source, braid_end_status_t status)
{
    uint64_t idx = (uint64_t) query * self->sources + source;
    if (query >= self->queries || source >= self->sources || s_ended(self, idx))
        return false;
    self->ended[idx / 8] |= (uint8_t) (1u << (idx % 8));
    if ((unsigned) status < BRAID_END_STATUS_COUNT)
        self->summary[source][status]++;
    s_open_t *slot = s_find(self, idx);
    if (slot->key)
        s_remove(self, slot);
    return true;
}

void
braid_ledger_restart(braid_ledger_t *self, uint32_t query, uint32_t source)
{
    uint64_t idx = (uint64_t) query * self->sources + source;
    if (query >= self->queries || source >= self->sources)
        return;
    s_open_t *slot = s_find(self, idx);
    if (slot->key)
        s_remove(self, slot);
}

const uint64_t (*braid_ledger_summary(const braid_ledger_t *self))[BRAID_END_STATUS_COUNT]
{
    return (const uint64_t(*)[BRAID_END_STATUS_COUNT]) self->summary;
}

braid_end_status_t
braid_ledger_status(const braid_ledger_t *self)
{
    bool failed = false, cancelled = false;
    for (uint32_t s = 0; s < self->sources; s++) {
        failed |= self->summary[s][BRAID_END_FAILED] || self->summary[s][BRAID_END_TIMEOUT];
        cancelled |= self->summary[s][BRAID_END_CANCELLED] > 0;
    }
    return failed ? BRAID_END_FAILED : cancelled ? BRAID_END_CANCELLED : BRAID_END_OK;
}

/*  Append the range [first, end) as 16 big-endian bytes.                   */
static void
s_put_range(uint8_t *p, uint64_t first, uint64_t end)
{
    for (int b = 0; b < 8; b++) {
        p[b] = (uint8_t) (first >> (56 - 8 * b));
        p[8 + b] = (uint8_t) (end >> (56 - 8 * b));
    }
}

/*  True if every task of query q ended.                                    */
static bool
s_query_ended(const braid_ledger_t *self, uint32_t q)
{
    for (uint32_t s = 0; s < self->sources; s++)
        if (!s_ended(self, (uint64_t) q * self->sources + s))
            return false;
    return true;
}

int
braid_ledger_resume(const braid_ledger_t *self, bool whole_queries, uint8_t **frame_p,
                    size_t *size_p, uint32_t *query_p, uint32_t *source_p, uint64_t *seq_p)
{
    *frame_p = NULL;
    *size_p = 0;
    *query_p = *source_p = 0;
    *seq_p = 0;
    size_t cap = 0, n = 0;
    uint8_t *frame = NULL;
    uint64_t idx = 0;
    while (idx < self->ntasks && n < BRAID_MAX_RESUME_RANGES) {
        bool in = whole_queries ? s_query_ended(self, (uint32_t) (idx / self->sources))
                                : s_ended(self, idx);
        uint64_t step = whole_queries ? self->sources : 1;
        if (!in) {
            idx += step;
            continue;
        }
        uint64_t first = idx;
        while (idx < self->ntasks &&
               (whole_queries ? s_query_ended(self, (uint32_t) (idx / self->sources))
                              : s_ended(self, idx)))
            idx += step;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            uint8_t *grown = realloc(frame, cap * BRAID_RESUME_RANGE);
            if (!grown) {
                free(frame);
                return -1;
            }
            frame = grown;
        }
        s_put_range(frame + n * BRAID_RESUME_RANGE, first, idx);
        n++;
    }
    *frame_p = frame;
    *size_p = n * BRAID_RESUME_RANGE;
    if (whole_queries)
        return 0;
    /*  The head: the first task in progress in task order.                */
    uint64_t head = UINT64_MAX, out = 0;
    for (size_t i = 0; i < self->cap; i++)
        if (self->open[i].key && self->open[i].key - 1 < head) {
            head = self->open[i].key - 1;
            out = self->open[i].out;
        }
    if (head != UINT64_MAX) {
        *query_p = (uint32_t) (head / self->sources);
        *source_p = (uint32_t) (head % self->sources);
        *seq_p = out;
    }
    return 0;
}
