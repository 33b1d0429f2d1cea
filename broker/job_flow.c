/*  job_flow.c - a job's flow control: the client's credit (in messages,
    and in bytes: what one grant lets go out), the workers' windows
    granted as partials leave, and the bytes the job holds for its client
    (its buffer limit). See job.h; the struct is job_impl.h's.             */

#include "job_impl.h"

#include <stdint.h>

uint64_t
braid_job_granted(braid_job_t *self, uint32_t idx)
{
    return idx < self->ntasks ? self->tasks[idx].granted : 0;
}

void
braid_job_set_window_bytes(braid_job_t *self, uint64_t bytes)
{
    self->window_bytes = bytes;
}

uint64_t
braid_job_granted_bytes(braid_job_t *self, uint32_t idx)
{
    return idx < self->ntasks ? self->tasks[idx].bgranted : 0;
}

bool
braid_job_window_blocked(braid_job_t *self, uint32_t idx)
{
    if (idx >= self->ntasks || (!self->window && !self->window_bytes))
        return false;
    braid_job_task_t *t = &self->tasks[idx];
    return t->state == BRAID_TASK_RUNNING && ((self->window && t->recv >= t->granted) ||
                                              (t->bgranted && t->brecv >= t->bgranted));
}

void
braid_job_credit(braid_job_t *self, uint64_t credit)
{
    if (credit < self->credit)
        return;     /* an older grant: it moves nothing */
    self->credit = credit;
    /*  However far the grant says, it lets at most the window run ahead of
        what was sent: a client that grants 2^64-1 and never reads holds
        one window in the broker, not the whole job.                       */
    if (self->credit_window && self->bytes_out + self->credit_window > self->credit_bytes)
        self->credit_bytes = self->bytes_out + self->credit_window;
}

void
braid_job_set_buffer_limit(braid_job_t *self, uint64_t bytes)
{
    self->held_limit = bytes;
}

bool
braid_job_over_buffer(braid_job_t *self)
{
    return self->held_limit && self->held >= self->held_limit;
}

void
braid_job_credit_unbounded(braid_job_t *self)
{
    self->credit = UINT64_MAX;
    self->credit_window = 0;
}

void
braid_job_set_credit_bytes(braid_job_t *self, uint64_t bytes)
{
    self->credit_window = bytes;
    self->credit_bytes = self->bytes_out + bytes;
}

void
braid_job_drop_buffer(braid_job_t *self, braid_job_task_t *t)
{
    if (t->buf)
        self->held -= zmsg_content_size(t->buf);
    zmsg_destroy(&t->buf);
}

/*  Emit one message if credit allows. 0 sent, -1 blocked.                  */
int
braid_job_emit(braid_job_t *self, braid_msg_t *msg, zmsg_t **payload, const braid_job_io_t *io,
               void *arg)
{
    if (self->out_seq >= self->credit ||
        (self->credit_window && self->bytes_out >= self->credit_bytes))
        return -1;
    memcpy(msg->job_id, self->id, sizeof self->id);
    msg->out_seq = self->out_seq;
    /*  A payload always comes out of the tasks' buffers.                   */
    size_t bytes = payload && *payload ? zmsg_content_size(*payload) : 0;
    if (io->emit(arg, self, msg, payload) != 0)
        return -1;
    self->out_seq++;
    self->bytes_out += BRAID_MSG_OVERHEAD + bytes;
    self->held -= bytes;
    return 0;
}

/*  Return credit as task idx's partials leave (bytes of payload with
    them): re-grant both windows once half of either is used, so the worker
    never waits on a round trip per window.                                */
void
braid_job_grant(braid_job_t *self, uint32_t idx, uint64_t bytes, const braid_job_io_t *io,
                void *arg)
{
    braid_job_task_t *t = &self->tasks[idx];
    t->bfwd += bytes;
    bool count_due = self->window && t->fwd + self->window >= t->granted + self->window / 2 + 1;
    bool bytes_due = self->window_bytes &&
                     t->bfwd + self->window_bytes >= t->bgranted + self->window_bytes / 2 + 1;
    if (io->credit && t->state == BRAID_TASK_RUNNING && (count_due || bytes_due)) {
        if (self->window)
            t->granted = t->fwd + self->window;
        if (self->window_bytes)
            t->bgranted = t->bfwd + self->window_bytes;
        io->credit(arg, self, braid_task_id(self->serial, idx), t->attempt, t->granted,
                   t->bgranted);
    }
}

size_t
braid_job_buffered_bytes(braid_job_t *self)
{
    return self->qcap + (self->merge ? braid_merge_bytes(self->merge) : 0) + self->held;
}
