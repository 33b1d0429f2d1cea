/*  joblog.c - a job's log of where and when its tasks ran. See the header. */

#include "joblog.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct braid_name_t {
    uint32_t refs;
    char text[BRAID_MAX_NAME + 1];
};

/*  One task's last attempt.                                                */
typedef struct {
    braid_name_t *worker;       /* a reference, or NULL                    */
    uint32_t queue_msec;        /* from the job's accept to the dispatch   */
    uint32_t run_msec;          /* from the dispatch to the end            */
    uint16_t exit_value;        /* DONE X                                  */
    uint8_t ran;                /* dispatched at least once                */
    uint8_t ended;              /* the last attempt's end is recorded      */
} s_entry_t;

struct braid_joblog_t {
    s_entry_t *entries;         /* room of them: grown as tasks start      */
    uint64_t room;
    uint64_t ntasks;
    uint64_t touched;           /* entries below it may hold a name        */
    int64_t accepted_msec;
    int64_t wall_msec;
};

braid_name_t *
braid_name_new(const char *text)
{
    braid_name_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->refs = 1;
    snprintf(self->text, sizeof self->text, "%s", text);
    return self;
}

braid_name_t *
braid_name_ref(braid_name_t *name)
{
    if (name)
        name->refs++;
    return name;
}

void
braid_name_unref(braid_name_t **name_p)
{
    assert(name_p);
    braid_name_t *name = *name_p;
    if (name && --name->refs == 0)
        free(name);
    *name_p = NULL;
}

const char *
braid_name_text(const braid_name_t *name)
{
    return name->text;
}

braid_joblog_t *
braid_joblog_new(uint64_t ntasks, int64_t accepted_msec, int64_t wall_msec)
{
    braid_joblog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ntasks = ntasks;
    self->accepted_msec = accepted_msec;
    self->wall_msec = wall_msec;
    return self;
}

void
braid_joblog_destroy(braid_joblog_t **self_p)
{
    assert(self_p);
    braid_joblog_t *self = *self_p;
    if (!self)
        return;
    /*  Only what was written: a big job's untouched pages stay untouched. */
    for (uint64_t i = 0; i < self->touched; i++)
        braid_name_unref(&self->entries[i].worker);
    free(self->entries);
    free(self);
    *self_p = NULL;
}

/*  msec from since to now, 0 when the clock says otherwise, capped to 32
    bits (49 days: more than any job's deadline, BRAID_MAX_MSEC).           */
static uint32_t
s_elapsed(int64_t since, int64_t now)
{
    int64_t d = now - since;
    return d <= 0 ? 0 : d > UINT32_MAX ? UINT32_MAX : (uint32_t) d;
}

/*  Room for entry idx (< ntasks): doubling, the new entries zero. 0 / -1. */
static int
s_make_room(braid_joblog_t *self, uint64_t idx)
{
    if (idx < self->room)
        return 0;
    uint64_t room = self->room ? self->room : 64;
    while (room <= idx)
        room *= 2;
    if (room > self->ntasks)
        room = self->ntasks;
    s_entry_t *grown = realloc(self->entries, (size_t) room * sizeof *grown);
    if (!grown)
        return -1;
    memset(grown + self->room, 0, (size_t) (room - self->room) * sizeof *grown);
    self->entries = grown;
    self->room = room;
    return 0;
}

uint64_t
braid_joblog_start(braid_joblog_t *self, uint64_t idx, braid_name_t *worker, int64_t now_msec)
{
    if (idx >= self->ntasks || s_make_room(self, idx) != 0)
        return 0;   /* out of memory: the log misses this one */
    s_entry_t *e = &self->entries[idx];
    if (idx >= self->touched)
        self->touched = idx + 1;
    if (e->worker != worker) {
        braid_name_unref(&e->worker);
        e->worker = braid_name_ref(worker);
    }
    e->queue_msec = s_elapsed(self->accepted_msec, now_msec);
    e->run_msec = 0;
    e->exit_value = 0;
    e->ran = 1;
    e->ended = 0;
    return e->queue_msec;
}

void
braid_joblog_end(braid_joblog_t *self, uint64_t idx, uint32_t exit_value, int64_t now_msec)
{
    if (idx >= self->room || !self->entries[idx].ran)
        return;
    s_entry_t *e = &self->entries[idx];
    e->run_msec = s_elapsed(self->accepted_msec + e->queue_msec, now_msec);
    e->exit_value =
        exit_value > BRAID_MAX_EXIT_VALUE ? BRAID_MAX_EXIT_VALUE : (uint16_t) exit_value;
    e->ended = 1;
}

void
braid_joblog_describe(const braid_joblog_t *self, uint64_t idx, int64_t now_msec,
                      braid_msg_t *msg)
{
    msg->worker[0] = 0;
    msg->started_msec = msg->queue_msec = msg->run_msec = 0;
    msg->exit_value = 0;
    if (idx >= self->room || !self->entries[idx].ran)
        return;
    const s_entry_t *e = &self->entries[idx];
    if (e->worker)
        snprintf(msg->worker, sizeof msg->worker, "%s", e->worker->text);
    msg->started_msec = (uint64_t) (self->wall_msec + e->queue_msec);
    msg->queue_msec = e->queue_msec;
    msg->run_msec = e->ended ? e->run_msec
                             : s_elapsed(self->accepted_msec + e->queue_msec, now_msec);
    msg->exit_value = e->exit_value;
}
