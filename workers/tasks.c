/*  tasks.c - the worker's task table. See the header.                     */

#include "tasks.h"

#include <stdlib.h>

#include "braid_log.h"

struct _braid_tasks_t {
    braid_task_t **tasks;
    size_t size;
    size_t max;
    size_t busy;            /* tasks holding a slot                        */
};

braid_tasks_t *
braid_tasks_new(size_t max)
{
    braid_tasks_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max;
    if (!(self->tasks = calloc(max ? max : 1, sizeof *self->tasks))) {
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
        braid_task_destroy(&self->tasks[i]);
    free(self->tasks);
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
    return i < self->size ? self->tasks[i] : NULL;
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

size_t
braid_tasks_queued(const braid_tasks_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++)
        n += !braid_task_silent(self->tasks[i]) &&
             braid_task_phase(self->tasks[i]) == BRAID_TASK_QUEUED;
    return n;
}

size_t
braid_tasks_live(const braid_tasks_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++)
        n += !braid_task_silent(self->tasks[i]);
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
    self->tasks[self->size++] = task;
    return task;
}

size_t
braid_tasks_held(const braid_tasks_t *self, uint32_t link)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++) {
        braid_task_t *task = self->tasks[i];
        n += !braid_task_silent(task) && braid_task_link(task) == link &&
             (braid_task_phase(task) == BRAID_TASK_QUEUED || braid_task_has_slot(task));
    }
    return n;
}

braid_task_t *
braid_tasks_find(const braid_tasks_t *self, uint32_t link, uint64_t id, uint32_t attempt)
{
    for (size_t i = 0; i < self->size; i++) {
        braid_task_t *task = self->tasks[i];
        if (braid_task_link(task) == link && braid_task_id(task) == id && braid_task_attempt(task) == attempt &&
            !braid_task_silent(task))
            return task;
    }
    return NULL;
}

braid_tasks_claim_t
braid_tasks_claim(braid_tasks_t *self, uint32_t link, uint64_t id, uint32_t attempt, int64_t now)
{
    for (size_t i = 0; i < self->size; i++) {
        braid_task_t *held = self->tasks[i];
        if (braid_task_silent(held) || braid_task_link(held) != link || braid_task_id(held) != id)
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
        task (a link number past the table's bound shares the last row).  */
    size_t busy[BRAID_TASKS_MAX_LINKS] = {0};
    braid_task_t *first[BRAID_TASKS_MAX_LINKS] = {NULL};
    for (size_t i = 0; i < self->size; i++) {
        braid_task_t *task = self->tasks[i];
        uint32_t link = braid_task_link(task);
        if (link >= BRAID_TASKS_MAX_LINKS)
            link = BRAID_TASKS_MAX_LINKS - 1;
        if (braid_task_has_slot(task))
            busy[link]++;
        if (braid_task_phase(task) == BRAID_TASK_QUEUED &&
            (!first[link] || braid_task_id(task) < braid_task_id(first[link])))
            first[link] = task;
    }
    braid_task_t *best = NULL;
    size_t best_busy = 0;
    for (uint32_t link = 0; link < BRAID_TASKS_MAX_LINKS; link++)
        if (first[link] && (!best || busy[link] < best_busy)) {
            best = first[link];
            best_busy = busy[link];
        }
    return best;
}

void
braid_tasks_start(braid_tasks_t *self, braid_task_t *task, void *context, int64_t now)
{
    braid_task_start(task, context, now);
    self->busy++;
}

void
braid_tasks_silence(braid_tasks_t *self, braid_task_t *task, int64_t now)
{
    if (braid_task_silence(task, now))
        self->busy--;
}

size_t
braid_tasks_silence_all(braid_tasks_t *self, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++)
        if (!braid_task_silent(self->tasks[i])) {
            braid_tasks_silence(self, self->tasks[i], now);
            n++;
        }
    return n;
}

size_t
braid_tasks_silence_link(braid_tasks_t *self, uint32_t link, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < self->size; i++)
        if (!braid_task_silent(self->tasks[i]) && braid_task_link(self->tasks[i]) == link) {
            braid_tasks_silence(self, self->tasks[i], now);
            n++;
        }
    return n;
}

size_t
braid_tasks_pump(braid_tasks_t *self, int64_t now, bool thawed, braid_task_sink_t *sinks)
{
    size_t kept = 0, done = 0;
    for (size_t i = 0; i < self->size; i++) {
        braid_task_t *task = self->tasks[i];
        braid_task_pumped_t pumped =
            braid_task_pump(task, now, thawed, &sinks[braid_task_link(task)]);
        if (pumped == BRAID_TASK_BUSY) {
            self->tasks[kept++] = task;
            continue;
        }
        done += pumped == BRAID_TASK_DONE;
        if (braid_task_has_slot(task))
            self->busy--;
        braid_task_destroy(&task);
    }
    self->size = kept;
    return done;
}
