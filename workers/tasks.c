/*  tasks.c - the worker's task table. See the header.                     */

#include "tasks.h"

#include <stdlib.h>

#include "braid_log.h"

/*  One task held, with what the table's scans read without asking the
    task: its id, and whether it waits for a slot (set when added, cleared
    when started or seen ended). A TASK, a credit or a cancel then costs a
    walk over a flat array, not a call per task held.                      */
typedef struct {
    braid_task_t *task;
    uint64_t id;
    uint32_t link;          /* its broker (braid_task_link), table row     */
    bool waiting;
    bool fresh;             /* started since the last pump                 */
} s_entry_t;

struct _braid_tasks_t {
    s_entry_t *entries;
    size_t size;
    size_t max;
    size_t busy;            /* tasks holding a slot                        */
    size_t waiting;         /* entries with waiting set                    */
};

braid_tasks_t *
braid_tasks_new(size_t max)
{
    braid_tasks_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max;
    if (!(self->entries = calloc(max ? max : 1, sizeof *self->entries))) {
        free(self);
        return NULL;
    }
    return self;
}

void
braid_tasks_destroy(braid_tasks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_tasks_t *self = *self_p;
    for (size_t i = 0; i < self->size; i++)
        braid_task_destroy(&self->entries[i].task);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

size_t
braid_tasks_size(const braid_tasks_t *self)
{
    return self->size;
}

braid_task_t *
braid_tasks_at(const braid_tasks_t *self, size_t i)
{
    return i < self->size ? self->entries[i].task : NULL;
}

bool
braid_tasks_full(const braid_tasks_t *self)
{
    return self->size >= self->max;
}

size_t
braid_tasks_busy(const braid_tasks_t *self)
{
    return self->busy;
}

/*  True if entry e's task still waits for a slot; an entry whose task
    ended meanwhile (cancelled, refused) stops waiting here.               */
static bool
s_waiting(braid_tasks_t *self, s_entry_t *e)
{
    if (!e->waiting)
        return false;
    if (braid_task_phase(e->task) == BRAID_TASK_QUEUED && !braid_task_silent(e->task))
        return true;
    e->waiting = false;
    self->waiting--;
    return false;
}

size_t
braid_tasks_queued(const braid_tasks_t *self)
{
    braid_tasks_t *table = (braid_tasks_t *) self;   /* prunes the flags only */
    size_t n = 0;
    for (size_t i = 0; i < self->size && table->waiting > 0; i++)
        n += s_waiting(table, &table->entries[i]);
    return n;
}

size_t
braid_tasks_live(const braid_tasks_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++)
        n += !braid_task_silent(self->entries[i].task);
    return n;
}

braid_task_t *
braid_tasks_add(braid_tasks_t *self, braid_task_t **task_p)
{
    braid_task_t *task = *task_p;
    *task_p = NULL;
    if (!task)
        return NULL;
    if (braid_tasks_full(self)) {
        braid_task_destroy(&task);
        return NULL;
    }
    bool waiting = braid_task_phase(task) == BRAID_TASK_QUEUED;
    uint32_t link = braid_task_link(task);
    if (link >= BRAID_TASKS_MAX_LINKS) {
        /*  No such broker: the worker has at most that many (worker.h).  */
        braid_error("task id=%llu on link %u: no such link",
                    (unsigned long long) braid_task_id(task), link);
        braid_task_destroy(&task);
        return NULL;
    }
    self->entries[self->size++] = (s_entry_t){task, braid_task_id(task), link, waiting, false};
    self->waiting += waiting;
    return task;
}

size_t
braid_tasks_held(const braid_tasks_t *self, uint32_t link)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++) {
        braid_task_t *task = self->entries[i].task;
        n += !braid_task_silent(task) && braid_task_link(task) == link &&
             (braid_task_phase(task) == BRAID_TASK_QUEUED || braid_task_has_slot(task));
    }
    return n;
}

braid_task_t *
braid_tasks_find(const braid_tasks_t *self, uint32_t link, uint64_t id, uint32_t attempt)
{
    for (size_t i = 0; i < self->size; i++) {
        if (self->entries[i].id != id || braid_task_link(self->entries[i].task) != link)
            continue;
        braid_task_t *task = self->entries[i].task;
        if (braid_task_attempt(task) == attempt && !braid_task_silent(task))
            return task;
    }
    return NULL;
}

braid_tasks_claim_t
braid_tasks_claim(braid_tasks_t *self, uint32_t link, uint64_t id, uint32_t attempt, int64_t now)
{
    for (size_t i = 0; i < self->size; i++) {
        braid_task_t *held = self->entries[i].task;
        if (self->entries[i].id != id || braid_task_silent(held) || braid_task_link(held) != link)
            continue;
        if (braid_task_attempt(held) == attempt)
            return BRAID_TASKS_DUPLICATE;
        braid_debug("task id=%llu attempt=%u superseded by attempt %u", (unsigned long long) id,
                    braid_task_attempt(held), attempt);
        braid_tasks_silence(self, held, now);
    }
    return BRAID_TASKS_NEW;
}

braid_task_t *
braid_tasks_next_queued(const braid_tasks_t *self)
{
    /*  One pass: per link, the slots its tasks hold and its lowest queued
        task; the link running fewest goes first (ties to the lower link). */
    braid_tasks_t *table = (braid_tasks_t *) self;   /* prunes the flags only */
    size_t busy[BRAID_TASKS_MAX_LINKS] = {0};
    s_entry_t *first[BRAID_TASKS_MAX_LINKS] = {NULL};
    if (table->waiting == 0)
        return NULL;
    for (size_t i = 0; i < self->size; i++) {
        s_entry_t *e = &table->entries[i];
        if (braid_task_has_slot(e->task))
            busy[e->link]++;
        if (s_waiting(table, e) && (!first[e->link] || e->id < first[e->link]->id))
            first[e->link] = e;
    }
    s_entry_t *best = NULL;
    size_t best_busy = 0;
    for (uint32_t link = 0; link < BRAID_TASKS_MAX_LINKS; link++)
        if (first[link] && (!best || busy[link] < best_busy)) {
            best = first[link];
            best_busy = busy[link];
        }
    return best ? best->task : NULL;
}

bool
braid_tasks_any_queued(const braid_tasks_t *self)
{
    braid_tasks_t *table = (braid_tasks_t *) self;   /* prunes the flags only */
    for (size_t i = 0; i < self->size && table->waiting > 0; i++)
        if (s_waiting(table, &table->entries[i]))
            return true;
    return false;
}

/*  Order of entries by task id, for qsort.                                 */
static int
s_by_id(const void *a, const void *b)
{
    uint64_t x = (*(s_entry_t *const *) a)->id, y = (*(s_entry_t *const *) b)->id;
    return x < y ? -1 : x > y;
}

/*  Mark entry e's task started in a slot.                                  */
static void
s_start(braid_tasks_t *self, s_entry_t *e, void *context, int64_t now)
{
    if (e->waiting) {
        e->waiting = false;
        self->waiting--;
    }
    braid_task_start(e->task, context, now);
    e->fresh = true;
    self->busy++;
}

void
braid_tasks_start(braid_tasks_t *self, braid_task_t *task, void *context, int64_t now)
{
    for (size_t i = 0; i < self->size; i++)
        if (self->entries[i].task == task) {
            s_start(self, &self->entries[i], context, now);
            return;
        }
}

size_t
braid_tasks_start_queued(braid_tasks_t *self, size_t max, braid_tasks_context_fn *context_of,
                         void *arg, int64_t now)
{
    if (max == 0 || self->waiting == 0)
        return 0;
    /*  One walk collects the waiting entries; the lowest ids start. Their
        starts add no entry, so the pointers stay valid.                   */
    s_entry_t **list = malloc(self->waiting * sizeof *list);
    if (!list) {
        /*  Out of memory: one at a time, as the walk finds them.          */
        braid_task_t *task = braid_tasks_next_queued(self);
        if (!task)
            return 0;
        braid_tasks_start(self, task, context_of(arg, task), now);
        return 1;
    }
    size_t n = 0, cap = self->waiting;
    bool one_link = true;
    for (size_t i = 0; i < self->size && n < cap; i++)
        if (s_waiting(self, &self->entries[i])) {
            list[n++] = &self->entries[i];
            one_link = one_link && list[n - 1]->link == list[0]->link;
        }
    if (!one_link) {
        /*  Several brokers wait: each start goes to the one running fewest
            (braid_tasks_next_queued), a walk per start.                   */
        free(list);
        size_t started = 0;
        braid_task_t *task;
        while (started < max && (task = braid_tasks_next_queued(self))) {
            braid_tasks_start(self, task, context_of(arg, task), now);
            started++;
        }
        return started;
    }
    if (n > 1)
        qsort(list, n, sizeof *list, s_by_id);
    size_t started = n < max ? n : max;
    for (size_t i = 0; i < started; i++)
        s_start(self, list[i], context_of(arg, list[i]->task), now);
    free(list);
    return started;
}

void
braid_tasks_silence(braid_tasks_t *self, braid_task_t *task, int64_t now)
{
    if (braid_task_silence(task, now))
        self->busy--;
}

size_t
braid_tasks_silence_link(braid_tasks_t *self, uint32_t link, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++) {
        braid_task_t *task = self->entries[i].task;
        if (!braid_task_silent(task) && braid_task_link(task) == link) {
            braid_tasks_silence(self, task, now);
            n++;
        }
    }
    return n;
}

size_t
braid_tasks_silence_all(braid_tasks_t *self, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++)
        if (!braid_task_silent(self->entries[i].task)) {
            braid_tasks_silence(self, self->entries[i].task, now);
            n++;
        }
    return n;
}

/*  Pump the tasks (only the fresh ones if fresh_only) and drop those that
    are over. Returns how many sent their DONE.                             */
static size_t
s_pump(braid_tasks_t *self, int64_t now, bool thawed, braid_task_sink_t *sinks, bool fresh_only)
{
    size_t kept = 0, done = 0;
    for (size_t i = 0; i < self->size; i++) {
        s_entry_t e = self->entries[i];
        if (fresh_only && !e.fresh) {
            self->entries[kept++] = e;
            continue;
        }
        e.fresh = false;
        braid_task_pumped_t pumped = braid_task_pump(e.task, now, thawed, &sinks[e.link]);
        if (pumped == BRAID_TASK_BUSY) {
            self->entries[kept++] = e;
            continue;
        }
        done += pumped == BRAID_TASK_DONE;
        if (braid_task_has_slot(e.task))
            self->busy--;
        if (e.waiting)
            self->waiting--;
        braid_task_destroy(&e.task);
    }
    self->size = kept;
    return done;
}

size_t
braid_tasks_pump(braid_tasks_t *self, int64_t now, bool thawed, braid_task_sink_t *sinks)
{
    return s_pump(self, now, thawed, sinks, false);
}

size_t
braid_tasks_pump_fresh(braid_tasks_t *self, int64_t now, bool thawed, braid_task_sink_t *sinks)
{
    return s_pump(self, now, thawed, sinks, true);
}
