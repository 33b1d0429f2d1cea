/*  merge.c - order key: one query's sources merged by score. See the
    header.                                                                */

#include "merge.h"

#include "idmap.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*  One undecided partial's key.                                            */
typedef struct {
    braid_score_t score;        /* clamped: never better than the one before */
    uint8_t *dedup;             /* owned copy; NULL: none                  */
    size_t dedup_len;
} s_entry_t;

/*  A task's record: its undecided partials' keys in seq order (a ring),
    the first `taken` of them in the batch, and its running score. Records
    are also on a list, so that destroy finds them all.                    */
typedef struct s_task_t {
    struct s_task_t *prev, *next;
    uint32_t idx;
    s_entry_t *ring;
    size_t cap, start, len;
    size_t taken;
    braid_score_t last;         /* the score of the last partial that came */
    bool seen;                  /* one came (since a restart)              */
    uint64_t dups;
} s_task_t;

/*  A dedup value sent for the query, in a chain of the values with the
    same hash (the one remembered last first).                              */
typedef struct s_sent_t {
    struct s_sent_t *next;
    size_t len;
    uint8_t bytes[];
} s_sent_t;

struct braid_merge_t {
    bool ascending;
    braid_idmap_t *tasks;       /* idx + 1 -> s_task_t *                   */
    s_task_t *all;              /* every record                            */
    size_t bytes;               /* entries and their dedup copies          */
    /*  The dedup values sent for query sent_first (when sent_any): a map
        from a value's hash to its chain, and a log of the hash of every
        value remembered, in order (to clear the map, and to take back
        what the batch remembered).                                        */
    braid_idmap_t *sent;
    uint32_t sent_first;
    bool sent_any;
    size_t sent_bytes;
    uint64_t *log;
    size_t nlog, log_cap;
    /*  The batch being built: its task, and the log's length before it.   */
    s_task_t *batch;
    size_t batch_mark;
};

braid_merge_t *
braid_merge_new(bool ascending)
{
    braid_merge_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ascending = ascending;
    self->tasks = braid_idmap_new(0);
    self->sent = braid_idmap_new(0);
    if (!self->tasks || !self->sent)
        braid_merge_destroy(&self);
    return self;
}

/*  Unlink and free the record t and its entries.                           */
static void
s_task_free(braid_merge_t *self, s_task_t *t)
{
    for (size_t i = 0; i < t->len; i++) {
        s_entry_t *e = &t->ring[(t->start + i) % t->cap];
        self->bytes -= sizeof *e + e->dedup_len;
        free(e->dedup);
    }
    if (t->prev)
        t->prev->next = t->next;
    else
        self->all = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t->ring);
    free(t);
}

/*  Forget every dedup value sent (a new query, or the end).               */
static void
s_sent_clear(braid_merge_t *self)
{
    assert(!self->batch);
    for (size_t i = 0; i < self->nlog; i++) {
        uint64_t v;
        if (!braid_idmap_get(self->sent, self->log[i], &v))
            continue;   /* a chain freed already, under an earlier entry  */
        s_sent_t *s = (s_sent_t *) (uintptr_t) v;
        while (s) {
            s_sent_t *next = s->next;
            free(s);
            s = next;
        }
        braid_idmap_del(self->sent, self->log[i]);
    }
    self->nlog = 0;
    self->sent_bytes = 0;
}

void
braid_merge_destroy(braid_merge_t **self_p)
{
    braid_merge_t *self = *self_p;
    if (!self)
        return;
    self->batch = NULL;
    if (self->sent)
        s_sent_clear(self);
    braid_idmap_destroy(&self->sent);
    free(self->log);
    while (self->all)
        s_task_free(self, self->all);
    braid_idmap_destroy(&self->tasks);
    free(self);
    *self_p = NULL;
}

void
braid_merge_set_ascending(braid_merge_t *self, bool ascending)
{
    self->ascending = ascending;
}

/*  Task idx's record, created when create is set. NULL if there is none
    (or out of memory).                                                     */
static s_task_t *
s_task(braid_merge_t *self, uint32_t idx, bool create)
{
    uint64_t v;
    if (braid_idmap_get(self->tasks, (uint64_t) idx + 1, &v))
        return (s_task_t *) (uintptr_t) v;
    if (!create)
        return NULL;
    s_task_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    if (braid_idmap_put(self->tasks, (uint64_t) idx + 1, (uintptr_t) t) != 0) {
        free(t);
        return NULL;
    }
    t->idx = idx;
    t->next = self->all;
    if (self->all)
        self->all->prev = t;
    self->all = t;
    return t;
}

/*  a is better than b: higher, or lower when ascending.                    */
static bool
s_better(const braid_merge_t *self, const braid_score_t *a, const braid_score_t *b)
{
    int c = braid_score_cmp(a, b);
    return self->ascending ? c < 0 : c > 0;
}

/*  The i-th undecided entry of t (0 = the first, taken ones included).    */
static s_entry_t *
s_entry(s_task_t *t, size_t i)
{
    return &t->ring[(t->start + i) % t->cap];
}

/*  Room in t's ring for n more entries. 0 / -1.                           */
static int
s_reserve(s_task_t *t, size_t n)
{
    if (t->len + n <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 16;
    while (cap < t->len + n)
        cap *= 2;
    s_entry_t *ring = malloc(cap * sizeof *ring);
    if (!ring)
        return -1;
    for (size_t i = 0; i < t->len; i++)
        ring[i] = *s_entry(t, i);
    free(t->ring);
    t->ring = ring;
    t->cap = cap;
    t->start = 0;
    return 0;
}

int
braid_merge_push(braid_merge_t *self, uint32_t idx, const braid_key_t *keys, size_t n)
{
    if (n == 0)
        return 0;
    s_task_t *t = s_task(self, idx, true);
    if (!t || s_reserve(t, n) != 0)
        return -1;
    /*  Copy the dedup values first: all or nothing.                       */
    uint8_t *copies[BRAID_MAX_BATCH] = {NULL};
    assert(n <= BRAID_MAX_BATCH);
    for (size_t i = 0; keys && i < n; i++) {
        if (!keys[i].dedup_len)
            continue;
        if (!(copies[i] = malloc(keys[i].dedup_len))) {
            for (size_t k = 0; k < i; k++)
                free(copies[k]);
            return -1;
        }
        memcpy(copies[i], keys[i].dedup, keys[i].dedup_len);
    }
    const braid_score_t best = braid_score_real(self->ascending ? -INFINITY : INFINITY);
    for (size_t i = 0; i < n; i++) {
        s_entry_t *e = &t->ring[(t->start + t->len) % t->cap];
        e->score = keys ? keys[i].score : t->seen ? t->last : best;
        if (t->seen && s_better(self, &e->score, &t->last))
            e->score = t->last;     /* unsorted: kept in its place         */
        e->dedup = copies[i];
        e->dedup_len = keys ? keys[i].dedup_len : 0;
        t->last = e->score;
        t->seen = true;
        t->len++;
        self->bytes += sizeof *e + e->dedup_len;
    }
    return 0;
}

/*  Remove t's first undecided entry.                                       */
static void
s_pop(braid_merge_t *self, s_task_t *t)
{
    assert(t->len > 0);
    s_entry_t *e = s_entry(t, 0);
    self->bytes -= sizeof *e + e->dedup_len;
    free(e->dedup);
    t->start = (t->start + 1) % t->cap;
    t->len--;
}

void
braid_merge_clear(braid_merge_t *self, uint32_t idx, bool restart)
{
    s_task_t *t = s_task(self, idx, false);
    if (!t)
        return;
    assert(self->batch != t);
    while (t->len)
        s_pop(self, t);
    if (restart)
        t->seen = false;
}

/*  ---------------------------------------------------------------------
    Dedup values sent                                                      */

/*  FNV-1a, never 0 (the map's empty id).                                   */
static uint64_t
s_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

/*  True if the value was sent for the query.                               */
static bool
s_was_sent(braid_merge_t *self, const uint8_t *p, size_t n)
{
    uint64_t v;
    if (!braid_idmap_get(self->sent, s_hash(p, n), &v))
        return false;
    for (s_sent_t *s = (s_sent_t *) (uintptr_t) v; s; s = s->next)
        if (s->len == n && memcmp(s->bytes, p, n) == 0)
            return true;
    return false;
}

/*  Remember a value as sent (its hash logged).
    0 / -1 out of memory. Past the byte bound it is not remembered.        */
static int
s_remember(braid_merge_t *self, const uint8_t *p, size_t n)
{
    if (self->sent_bytes + n > BRAID_MERGE_MAX_DEDUP_BYTES)
        return 0;
    if (self->nlog == self->log_cap) {
        size_t cap = self->log_cap ? self->log_cap * 2 : 64;
        uint64_t *grown = realloc(self->log, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->log = grown;
        self->log_cap = cap;
    }
    s_sent_t *s = malloc(sizeof *s + n);
    if (!s)
        return -1;
    uint64_t h = s_hash(p, n), v;
    s->next = braid_idmap_get(self->sent, h, &v) ? (s_sent_t *) (uintptr_t) v : NULL;
    s->len = n;
    memcpy(s->bytes, p, n);
    if (braid_idmap_put(self->sent, h, (uintptr_t) s) != 0) {
        free(s);
        return -1;
    }
    self->log[self->nlog++] = h;
    self->sent_bytes += n;
    return 0;
}

/*  Forget the value remembered last under hash h (the head of its chain). */
static void
s_forget_last(braid_merge_t *self, uint64_t h)
{
    uint64_t v;
    if (!braid_idmap_get(self->sent, h, &v))
        return;
    s_sent_t *s = (s_sent_t *) (uintptr_t) v;
    self->sent_bytes -= s->len;
    if (s->next)
        braid_idmap_put(self->sent, h, (uintptr_t) s->next);   /* replaces: cannot fail */
    else
        braid_idmap_del(self->sent, h);
    free(s);
}

/*  ---------------------------------------------------------------------
    Deciding                                                               */

braid_merge_next_t
braid_merge_next(braid_merge_t *self, uint32_t first, uint32_t nsources, uint32_t open,
                 uint32_t *source)
{
    if (!self->sent_any || self->sent_first != first) {
        if (self->sent_any)
            s_sent_clear(self);
        self->sent_first = first;
        self->sent_any = true;
    }
    /*  The candidate: the best first undecided partial, ties to the lowest
        source.                                                            */
    s_task_t *tasks[BRAID_MAX_SOURCES];
    int64_t best = -1;
    const braid_score_t *top = NULL;
    for (uint32_t s = 0; s < nsources; s++) {
        s_task_t *t = tasks[s] = s_task(self, first + s, false);
        if (!t || t->len == t->taken)
            continue;
        const braid_score_t *score = &s_entry(t, t->taken)->score;
        if (best < 0 || s_better(self, score, top)) {
            best = s;
            top = score;
        }
    }
    if (best < 0)
        return BRAID_MERGE_WAIT;
    /*  Every other open task must have shown a partial no better.        */
    for (uint32_t s = 0; s < nsources; s++) {
        s_task_t *t = tasks[s];
        if (s == (uint32_t) best || !(open & (1u << s)) || (t && t->len > t->taken))
            continue;
        if (!t || !t->seen)
            return BRAID_MERGE_WAIT;
        /*  It may still bring a partial as good as its last one.          */
        if (s_better(self, &t->last, top))
            return BRAID_MERGE_WAIT;
        if (s < (uint32_t) best && braid_score_cmp(&t->last, top) == 0)
            return BRAID_MERGE_WAIT;
    }
    *source = (uint32_t) best;
    s_entry_t *e = s_entry(tasks[best], tasks[best]->taken);
    if (e->dedup_len && s_was_sent(self, e->dedup, e->dedup_len))
        return BRAID_MERGE_DROP;
    return BRAID_MERGE_SEND;
}

int
braid_merge_take(braid_merge_t *self, uint32_t idx)
{
    s_task_t *t = s_task(self, idx, false);
    assert(t && t->len > t->taken && (!self->batch || self->batch == t));
    s_entry_t *e = s_entry(t, t->taken);
    size_t mark = self->nlog;
    if (e->dedup_len && s_remember(self, e->dedup, e->dedup_len) != 0)
        return -1;
    if (!self->batch) {
        self->batch = t;
        self->batch_mark = mark;
    }
    t->taken++;
    return 0;
}

void
braid_merge_commit(braid_merge_t *self)
{
    s_task_t *t = self->batch;
    if (!t)
        return;
    while (t->taken) {
        s_pop(self, t);
        t->taken--;
    }
    self->batch = NULL;
}

void
braid_merge_rollback(braid_merge_t *self)
{
    s_task_t *t = self->batch;
    if (!t)
        return;
    while (self->nlog > self->batch_mark)
        s_forget_last(self, self->log[--self->nlog]);
    t->taken = 0;
    self->batch = NULL;
}

void
braid_merge_drop(braid_merge_t *self, uint32_t idx)
{
    s_task_t *t = s_task(self, idx, false);
    assert(t && t->len > 0 && !self->batch);
    s_pop(self, t);
    t->dups++;
}

size_t
braid_merge_held(braid_merge_t *self, uint32_t idx)
{
    s_task_t *t = s_task(self, idx, false);
    return t ? t->len - t->taken : 0;
}

uint64_t
braid_merge_duplicates(braid_merge_t *self, uint32_t idx)
{
    s_task_t *t = s_task(self, idx, false);
    return t ? t->dups : 0;
}

void
braid_merge_forget(braid_merge_t *self, uint32_t idx)
{
    s_task_t *t = s_task(self, idx, false);
    if (!t)
        return;
    assert(self->batch != t);
    braid_idmap_del(self->tasks, (uint64_t) idx + 1);
    s_task_free(self, t);
}

size_t
braid_merge_bytes(braid_merge_t *self)
{
    return self->bytes + self->sent_bytes + self->log_cap * sizeof *self->log;
}
