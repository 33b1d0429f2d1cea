/*  task.c - one task on the worker. See the header.                       */

#include "task.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braid_log.h"
#include "braid_parts.h"

struct _braid_task_t {
    uint32_t link;          /* the broker link it came on (worker.c)       */
    uint64_t id;
    uint32_t attempt;
    const braid_source_t *source;
    uint64_t resume;        /* first seq to send                           */
    uint64_t token;         /* the TASK's z, echoed in DATA and DONE       */
    uint64_t window;        /* send seq < window; 0 = no limit             */
    uint64_t window_bytes;  /* send while bytes_sent < this; 0 = no limit  */
    uint64_t bytes_sent;    /* payload bytes this attempt sent             */
    uint32_t timeout_msec;
    int64_t deadline;       /* timeout; 0 = none                           */
    braid_task_phase_t phase;
    braid_status_t status;  /* once known                                  */
    bool transient;         /* DONE g: the failure may pass on retry       */
    braid_run_outcome_t outcome;    /* DONE X and A, from the run          */
    char text[BRAID_MAX_TEXT + 1];
    uint64_t produced;      /* partials made: the next seq                 */
    uint64_t sent_next;     /* seqs below were sent or skipped (resume)    */
    braid_parts_t *outq;    /* made, not sent; the first is seq sent_next;
                               NULL until the first is made                */
    braid_keyq_t *keys;     /* a keyed source: the keys of outq's partials */
    zframe_t *query;        /* QUEUED: the TASK's payload, for the run     */
    void *run;              /* RUN, KILL: the source kind's run            */
    int64_t hold_until;     /* RUN: fresh partials wait until then         */
    bool slot;              /* holds one of the worker's slots             */
    bool silent;            /* RESET or superseded: reap, send nothing     */
};

braid_task_t *
braid_task_new(const braid_msg_t *msg, const braid_source_t *source, zframe_t **query_p)
{
    braid_task_t *self = calloc(1, sizeof *self);
    if (!self) {
        zframe_destroy(query_p);
        return NULL;
    }
    self->id = msg->task_id;
    self->attempt = msg->attempts;
    self->token = msg->token;
    self->source = source;
    self->resume = msg->resume;
    self->window = msg->window;
    self->window_bytes = msg->window_bytes;
    self->timeout_msec = msg->timeout_msec;
    self->phase = BRAID_TASK_QUEUED;
    self->query = *query_p;
    *query_p = NULL;
    if (source && braid_keyer_keyed(source->keyer) && !(self->keys = braid_keyq_new(source->keyer)))
        braid_task_destroy(&self);
    return self;
}

/*  Destroy the run (killing and reaping what it started), keeping what it
    says of how it ended.                                                   */
static void
s_drop_run(braid_task_t *self)
{
    if (!self->run)
        return;
    const braid_source_kind_t *kind = self->source->kind;
    if (kind->outcome)
        kind->outcome(self->run, &self->outcome);
    kind->destroy(&self->run);
}

void
braid_task_destroy(braid_task_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_task_t *self = *self_p;
    s_drop_run(self);
    zframe_destroy(&self->query);
    braid_parts_destroy(&self->outq);
    braid_keyq_destroy(&self->keys);
    free(self);
    *self_p = NULL;
}

void
braid_task_set_link(braid_task_t *self, uint32_t link)
{
    self->link = link;
}

uint32_t
braid_task_link(const braid_task_t *self)
{
    return self->link;
}

uint64_t
braid_task_id(const braid_task_t *self)
{
    return self->id;
}

uint32_t
braid_task_attempt(const braid_task_t *self)
{
    return self->attempt;
}

braid_task_phase_t
braid_task_phase(const braid_task_t *self)
{
    return self->phase;
}

const braid_source_t *
braid_task_source(const braid_task_t *self)
{
    return self->source;
}

bool
braid_task_silent(const braid_task_t *self)
{
    return self->silent;
}

bool
braid_task_has_slot(const braid_task_t *self)
{
    return self->slot;
}

/*  Partials held, not sent.                                                */
static size_t
s_held(const braid_task_t *self)
{
    return self->outq ? braid_parts_size(self->outq) : 0;
}

/*  Drop the partials held (nothing more of them is sent), and their keys. */
static void
s_drop_held(braid_task_t *self)
{
    if (self->outq)
        braid_parts_drop(self->outq, SIZE_MAX);
    if (self->keys)
        braid_keyq_drop(self->keys, braid_keyq_held(self->keys));
}

/*  Partials one message carries at most: a keyed one carries their keys
    too, and the protocol bounds those tighter.                            */
static size_t
s_batch_max(const braid_task_t *self)
{
    return self->keys ? BRAID_MAX_BATCH : BRAID_MAX_PARTS;
}

/*  A message of the first n held partials: their parts frame and, for a
    keyed source, their keys frame (msg says so: h). NULL out of memory.  */
static zmsg_t *
s_batch(braid_task_t *self, braid_msg_t *msg, size_t n)
{
    zmsg_t *batch = zmsg_new();
    zframe_t *frame = batch ? braid_parts_frame(self->outq, n) : NULL;
    if (!frame) {
        zmsg_destroy(&batch);
        return NULL;
    }
    zmsg_append(batch, &frame);
    if (self->keys) {
        zframe_t *keys = braid_keyq_frame(self->keys, n);
        if (!keys) {
            zmsg_destroy(&batch);
            return NULL;
        }
        zmsg_append(batch, &keys);
        msg->keyed = 1;
    }
    return batch;
}

/*  How many partials the task may make now: none while it holds some, else
    what its window admits (the seqs below resume are dropped as they are
    made, so they never wait), at most a message's worth.                   */
static size_t
s_room(const braid_task_t *self)
{
    if (s_held(self) > 0)
        return 0;
    size_t most = s_batch_max(self);
    if (self->window == 0)
        return most;
    uint64_t limit = self->window > self->resume ? self->window : self->resume;
    uint64_t room = limit > self->produced ? limit - self->produced : 0;
    return room > most ? most : (size_t) room;
}

/*  How many held partials the windows let leave now in one message: none
    once the bytes sent reach the byte window; else a parts frame of at
    most a quarter of the byte window (at least one partial), so that
    several messages are in flight and the broker's grant, made at half
    the window, arrives before the worker runs dry; and never more than
    BRAID_TASK_MAX_DATA bytes of partials, so a message stays far below
    the frame bound.                                                        */
static size_t
s_sendable(const braid_task_t *self)
{
    uint64_t n = s_held(self);
    if (self->window) {
        uint64_t allowed = self->window > self->sent_next ? self->window - self->sent_next : 0;
        if (n > allowed)
            n = allowed;
    }
    if (n > s_batch_max(self))
        n = s_batch_max(self);
    if (n == 0)
        return 0;
    uint64_t max_bytes = BRAID_TASK_MAX_DATA;
    if (self->window_bytes) {
        if (self->bytes_sent >= self->window_bytes)
            return 0;
        if (self->window_bytes / 4 < max_bytes)
            max_bytes = self->window_bytes / 4;
    }
    return braid_parts_fit(self->outq, (size_t) n, (size_t) max_bytes);
}

void
braid_task_end(braid_task_t *self, braid_status_t status, bool transient, const char *text)
{
    self->phase = BRAID_TASK_END;
    self->status = status;
    self->transient = transient;
    if (text != self->text)
        snprintf(self->text, sizeof self->text, "%s", text ? text : "");
    if (status == BRAID_STATUS_CANCELLED || status == BRAID_STATUS_TIMEOUT)
        s_drop_held(self);          /* nothing more of it is sent          */
    s_drop_run(self);
    zframe_destroy(&self->query);
}

/*  End the task as its run's result says (what the run reports beside it,
    DONE's X and A, is taken when the run is dropped: s_drop_run).          */
static void
s_end_as(braid_task_t *self, braid_run_result_t result, const char *text)
{
    if (result == BRAID_RUN_OK)
        braid_task_end(self, BRAID_STATUS_OK, false, text);
    else
        braid_task_end(self, BRAID_STATUS_FAILED, result == BRAID_RUN_TRANSIENT, text);
}

void
braid_task_start(braid_task_t *self, void *context, int64_t now)
{
    const braid_source_t *source = self->source;
    char text[BRAID_MAX_TEXT + 1] = "";
    self->phase = BRAID_TASK_RUN;
    self->slot = true;
    if (self->timeout_msec)
        self->deadline = now + self->timeout_msec;
    braid_debug("task start id=%llu attempt=%u source=%s resume=%llu window=%llu",
                (unsigned long long) self->id, self->attempt, source->name,
                (unsigned long long) self->resume, (unsigned long long) self->window);
    braid_run_result_t result = source->kind->start(context, source->settings, &self->query,
                                                    self->attempt, now, &self->run, text,
                                                    sizeof text);
    if (result != BRAID_RUN_BUSY) {
        braid_info("task id=%llu source=%s: %s", (unsigned long long) self->id, source->name,
                   text);
        s_end_as(self, result, text);
    }
}

void
braid_task_abort(braid_task_t *self, braid_status_t status, bool transient, const char *text,
                 int64_t now)
{
    if (self->phase == BRAID_TASK_KILL)
        return;             /* already on its way out; first reason wins   */
    if (self->phase == BRAID_TASK_END && s_held(self) == 0)
        return;             /* over; only its DONE is still to leave       */
    if (self->phase == BRAID_TASK_END || !self->run ||
        self->source->kind->stop(self->run, now) != BRAID_RUN_BUSY) {
        braid_task_end(self, status, transient, text);
        return;
    }
    s_drop_held(self);
    self->phase = BRAID_TASK_KILL;
    self->status = status;
    self->transient = transient;
    snprintf(self->text, sizeof self->text, "%s", text);
}

bool
braid_task_silence(braid_task_t *self, int64_t now)
{
    bool slot = self->slot;
    self->silent = true;
    self->slot = false;
    braid_task_abort(self, BRAID_STATUS_CANCELLED, false, "", now);
    return slot;
}

void
braid_task_credit(braid_task_t *self, uint64_t window, uint64_t window_bytes)
{
    /*  Credit is cumulative: a grant below the current one is stale.
        0 lifts the limit, as it does in TASK.                             */
    if (window == 0)
        self->window = 0;
    else if (self->window != 0 && window > self->window)
        self->window = window;
    if (window_bytes == 0)
        self->window_bytes = 0;
    else if (self->window_bytes != 0 && window_bytes > self->window_bytes)
        self->window_bytes = window_bytes;
}

void
braid_task_fds(braid_task_t *self, braid_fd_add_fn *add, void *arg)
{
    const braid_source_kind_t *kind = self->run ? self->source->kind : NULL;
    if (!kind || !kind->fds)
        return;
    /*  Output is wanted while the window admits more, and while fresh
        partials are held (more output lets them go).                      */
    bool want = self->phase == BRAID_TASK_RUN && (s_room(self) > 0 || self->hold_until);
    kind->fds(self->run, want, add, arg);
}

void
braid_task_ready(braid_task_t *self, int what, short revents, int64_t now)
{
    if (self->run && self->source->kind->ready)
        self->source->kind->ready(self->run, what, revents, now);
}

int64_t
braid_task_wake(braid_task_t *self, int64_t now, int64_t wake)
{
    /*  A hold that has passed wakes nobody: the partials it held wait for
        credit now (else a window-blocked task would spin the loop).      */
    if (self->phase == BRAID_TASK_RUN && self->hold_until > now && self->hold_until < wake)
        wake = self->hold_until;
    if (self->deadline && self->deadline < wake)
        wake = self->deadline;
    if (self->run) {
        int64_t at = self->source->kind->wake(self->run, now, s_room(self));
        if (at < wake)
            wake = at;
    }
    return wake;
}

/*  Ask the run for as many partials as the task may make, and number
    them: those below resume are counted and dropped, the rest wait.      */
static void
s_produce(braid_task_t *self, int64_t now)
{
    size_t room = s_room(self);
    if (room == 0)
        return;
    if (!self->outq && !(self->outq = braid_parts_new()))
        return;             /* out of memory: try again next pass          */
    const braid_source_kind_t *kind = self->source->kind;
    size_t n = kind->produce(self->run, now, self->outq, room);
    /*  The output these partials came from is not news for the hold.      */
    if (n > 0 && kind->fresh)
        (void) kind->fresh(self->run);
    /*  The keys of every partial made, those below resume too: a resumed
        task reads what the first attempt read (keys.h). The task held
        none before (s_room), so the partials made are all it holds.       */
    uint64_t seq = self->produced;
    for (size_t i = 0; self->keys && i < n; i++, seq++) {
        size_t len;
        const void *data = braid_parts_at(self->outq, i, &len);
        if (braid_keyq_add(self->keys, data, len, seq >= self->resume)) {
            s_drop_held(self);
            braid_task_end(self, BRAID_STATUS_FAILED, true, "out of memory");
            return;
        }
    }
    /*  Those below resume were sent by an attempt before: counted, gone.  */
    size_t skip = 0;
    for (size_t i = 0; i < n; i++)
        if (self->produced++ < self->resume)
            skip++;
    if (skip) {
        braid_parts_drop(self->outq, skip);
        self->sent_next = self->produced - (n - skip);
    }
}

/*  Send held partials in DATA as far as the window allows; an ended task
    keeps the last ones that the window admits, up to BRAID_MAX_BATCH, for
    its DONE. Returns -1 if the sink refused.                              */
static int
s_flush(braid_task_t *self, braid_task_sink_t *sink)
{
    while (s_held(self) > 0) {
        size_t n = s_sendable(self);
        if (n == 0)
            return 0;       /* waiting for credit                          */
        if (self->phase == BRAID_TASK_END && n == s_held(self))
            return 0;       /* the last ones: DONE carries them            */
        if (sink->blocked)
            return -1;
        braid_msg_t msg;
        braid_msg_init(&msg, BRAID_MSG_DATA);
        msg.task_id = self->id;
        msg.attempts = self->attempt;
        msg.token = self->token;
        msg.seq = self->sent_next;
        zmsg_t *batch = s_batch(self, &msg, n);
        if (!batch)
            return -1;      /* out of memory: try again next pass          */
        size_t bytes = braid_parts_frame_bytes(zmsg_first(batch));
        if (sink->send(sink->arg, &msg, &batch)) {
            zmsg_destroy(&batch);   /* the partials stay held              */
            sink->blocked = true;
            return -1;
        }
        braid_parts_drop(self->outq, n);
        self->sent_next += n;
        self->bytes_sent += bytes;
        if (self->keys)
            braid_keyq_drop(self->keys, n);
    }
    return 0;
}

/*  Send DONE for an ended task, carrying the partials it still holds (the
    caller made sure the window admits them all, and that they are at most
    BRAID_MAX_BATCH): seqs p - n .. p - 1. Returns 0 if sent.              */
static int
s_send_done(braid_task_t *self, braid_task_sink_t *sink)
{
    if (sink->blocked)
        return -1;
    size_t n = s_held(self);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_DONE);
    msg.task_id = self->id;
    msg.attempts = self->attempt;
    msg.token = self->token;
    msg.status = self->status;
    msg.parts = self->sent_next + n;
    msg.transient = self->transient;
    /*  Within the protocol's bounds, whatever a kind says.                 */
    const braid_run_outcome_t *o = &self->outcome;
    msg.exit_value = o->exit_value < BRAID_MAX_EXIT_VALUE ? o->exit_value : BRAID_MAX_EXIT_VALUE;
    if (self->transient)
        msg.retry_after_msec = o->retry_after_msec < BRAID_MAX_MSEC ? o->retry_after_msec
                                                                     : BRAID_MAX_MSEC;
    snprintf(msg.text, sizeof msg.text, "%s", self->text);
    zmsg_t *batch = n ? s_batch(self, &msg, n) : NULL;
    if (n && !batch)
        return -1;          /* out of memory: try again next pass          */
    if (sink->send(sink->arg, &msg, batch ? &batch : NULL)) {
        zmsg_destroy(&batch);   /* the partials stay held                  */
        sink->blocked = true;
        return -1;
    }
    s_drop_held(self);
    self->sent_next += n;
    braid_debug("task done id=%llu attempt=%u status=%s parts=%llu carried=%zu transient=%u",
                (unsigned long long) self->id, self->attempt, braid_status_name((int) self->status),
                (unsigned long long) self->sent_next, n, self->transient);
    return 0;
}

braid_task_pumped_t
braid_task_pump(braid_task_t *self, int64_t now, bool thawed, braid_task_sink_t *sink)
{
    if (self->phase == BRAID_TASK_QUEUED)
        return BRAID_TASK_BUSY;     /* the worker decides when it starts   */
    if (self->deadline && now >= self->deadline) {
        /*  Too late only if the outcome was not already on its way out.   */
        char text[64];
        snprintf(text, sizeof text, "timeout after %u msec", self->timeout_msec);
        braid_task_abort(self, BRAID_STATUS_TIMEOUT, false, text, now);
        self->deadline = 0;
    }
    const braid_source_kind_t *kind = self->source ? self->source->kind : NULL;
    if (self->phase == BRAID_TASK_RUN)
        s_produce(self, now);
    if (self->run) {
        char text[BRAID_MAX_TEXT + 1] = "";
        braid_run_result_t result = kind->advance(self->run, now, s_room(self), text,
                                                  sizeof text);
        if (self->phase == BRAID_TASK_KILL && result != BRAID_RUN_BUSY)
            braid_task_end(self, self->status, self->transient, self->text);
        else if (self->phase == BRAID_TASK_RUN && result != BRAID_RUN_BUSY)
            s_end_as(self, result, text);
    }
    if (self->silent)
        return self->phase == BRAID_TASK_END ? BRAID_TASK_GONE : BRAID_TASK_BUSY;
    if (self->phase == BRAID_TASK_KILL)
        return BRAID_TASK_BUSY;
    if (self->phase == BRAID_TASK_RUN && kind->hold_msec && s_held(self) > 0) {
        /*  Hold fresh partials a moment: a run about to end then sends
            them in its DONE, one message instead of two. More output, or
            the moment passing, lets them go.                              */
        bool fresh = kind->fresh && kind->fresh(self->run);
        if (fresh)
            self->hold_until = now;
        else if (!self->hold_until)
            self->hold_until = now + kind->hold_msec;
        if (now < self->hold_until && !thawed)
            return BRAID_TASK_BUSY;
    }
    if (s_flush(self, sink))
        return BRAID_TASK_BUSY;
    if (s_held(self) == 0)
        self->hold_until = 0;
    if (self->phase != BRAID_TASK_END || s_sendable(self) < s_held(self))
        return BRAID_TASK_BUSY;
    return s_send_done(self, sink) == 0 ? BRAID_TASK_DONE : BRAID_TASK_BUSY;
}

void
braid_task_hb_entry(const braid_task_t *self, braid_hb_entry_t *entry)
{
    entry->task_id = self->id;
    entry->attempt = self->attempt;
    entry->next_seq = self->sent_next > self->resume ? self->sent_next : self->resume;
}
