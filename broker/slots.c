/*  slots.c - which worker holds which task.                                */

#include "slots.h"

#include "idmap.h"
#include "job.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*  One worker's slots: [0, running) are held.                              */
typedef struct {
    braid_slot_t *tasks;        /* capacity of them; NULL: no such worker   */
    uint32_t capacity;
    uint32_t running;
} s_worker_t;

struct braid_slots_t {
    s_worker_t *workers;        /* by worker number                         */
    uint32_t nworkers;          /* cells in workers                         */
    braid_idmap_t *by_task;     /* task id -> worker << 32 | position       */
    braid_idmap_t *by_job;      /* serial -> slots held, when not 0         */
};

braid_slots_t *
braid_slots_new(void)
{
    braid_slots_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->by_task = braid_idmap_new(0);
    self->by_job = braid_idmap_new(0);
    if (!self->by_task || !self->by_job)
        braid_slots_destroy(&self);
    return self;
}

void
braid_slots_destroy(braid_slots_t **self_p)
{
    assert(self_p);
    braid_slots_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t i = 0; i < self->nworkers; i++)
        free(self->workers[i].tasks);
    free(self->workers);
    braid_idmap_destroy(&self->by_task);
    braid_idmap_destroy(&self->by_job);
    free(self);
    *self_p = NULL;
}

/*  The record of worker, or NULL when there is none.                       */
static s_worker_t *
s_worker(const braid_slots_t *self, int32_t worker)
{
    if (worker < 0 || (uint32_t) worker >= self->nworkers || !self->workers[worker].tasks)
        return NULL;
    return &self->workers[worker];
}

int
braid_slots_worker_add(braid_slots_t *self, int32_t worker, uint32_t capacity)
{
    assert(worker >= 0 && !s_worker(self, worker));
    if ((uint32_t) worker >= self->nworkers) {
        uint32_t n = (uint32_t) worker + 1;
        s_worker_t *grown = realloc(self->workers, n * sizeof *grown);
        if (!grown)
            return -1;
        memset(grown + self->nworkers, 0, (n - self->nworkers) * sizeof *grown);
        self->workers = grown;
        self->nworkers = n;
    }
    s_worker_t *w = &self->workers[worker];
    w->tasks = calloc(capacity ? capacity : 1, sizeof *w->tasks);
    if (!w->tasks)
        return -1;
    w->capacity = capacity;
    w->running = 0;
    return 0;
}

void
braid_slots_worker_remove(braid_slots_t *self, int32_t worker)
{
    s_worker_t *w = s_worker(self, worker);
    if (!w)
        return;
    assert(w->running == 0);
    free(w->tasks);
    memset(w, 0, sizeof *w);
}

bool
braid_slots_has_worker(const braid_slots_t *self, int32_t worker)
{
    return s_worker(self, worker) != NULL;
}

uint32_t
braid_slots_capacity(const braid_slots_t *self, int32_t worker)
{
    s_worker_t *w = s_worker(self, worker);
    return w ? w->capacity : 0;
}

uint32_t
braid_slots_running(const braid_slots_t *self, int32_t worker)
{
    s_worker_t *w = s_worker(self, worker);
    return w ? w->running : 0;
}

braid_slot_t *
braid_slots_at(braid_slots_t *self, int32_t worker, uint32_t k)
{
    s_worker_t *w = s_worker(self, worker);
    return w && k < w->running ? &w->tasks[k] : NULL;
}

/*  Where the index says task_id sits.                                      */
static uint64_t
s_where(int32_t worker, uint32_t pos)
{
    return (uint64_t) (uint32_t) worker << 32 | pos;
}

/*  Add delta (+1 or -1) to the slots the job of task_id holds. 0 / -1
    (only +1 on a new serial allocates, and may fail).                      */
static int
s_held_add(braid_slots_t *self, uint64_t task_id, int delta)
{
    uint64_t serial = braid_task_serial(task_id), held = 0;
    braid_idmap_get(self->by_job, serial, &held);
    held += (uint64_t) (int64_t) delta;
    if (held == 0) {
        braid_idmap_del(self->by_job, serial);
        return 0;
    }
    return braid_idmap_put(self->by_job, serial, held);
}

braid_slot_t *
braid_slots_take(braid_slots_t *self, int32_t worker, uint64_t task_id)
{
    s_worker_t *w = s_worker(self, worker);
    uint64_t where;
    if (!w || w->running >= w->capacity || braid_task_serial(task_id) == 0 ||
        braid_idmap_get(self->by_task, task_id, &where))
        return NULL;
    uint32_t pos = w->running;
    if (braid_idmap_put(self->by_task, task_id, s_where(worker, pos)) != 0)
        return NULL;
    if (s_held_add(self, task_id, +1) != 0) {
        braid_idmap_del(self->by_task, task_id);
        return NULL;
    }
    w->running++;
    braid_slot_t *slot = &w->tasks[pos];
    memset(slot, 0, sizeof *slot);
    slot->task_id = task_id;
    slot->worker = worker;
    return slot;
}

braid_slot_t *
braid_slots_find(braid_slots_t *self, uint64_t task_id)
{
    uint64_t where;
    if (!braid_idmap_get(self->by_task, task_id, &where))
        return NULL;
    return &self->workers[where >> 32].tasks[(uint32_t) where];
}

bool
braid_slots_release(braid_slots_t *self, uint64_t task_id, uint32_t attempt,
                    braid_slot_t *released)
{
    braid_slot_t *slot = braid_slots_find(self, task_id);
    if (!slot || slot->attempt != attempt)
        return false;
    if (released)
        *released = *slot;
    s_worker_t *w = &self->workers[slot->worker];
    uint32_t pos = (uint32_t) (slot - w->tasks);
    braid_idmap_del(self->by_task, task_id);
    s_held_add(self, task_id, -1);
    /*  Keep the array dense: the last slot fills the hole.                  */
    if (pos != --w->running) {
        *slot = w->tasks[w->running];
        braid_idmap_put(self->by_task, slot->task_id, s_where(slot->worker, pos));
    }
    return true;
}

uint32_t
braid_slots_held(const braid_slots_t *self, uint32_t serial)
{
    uint64_t held = 0;
    braid_idmap_get(self->by_job, serial, &held);
    return (uint32_t) held;
}
