/*  job_orphan.c - a source of the job that no worker serves any more: its
    waiting tasks end failed (the broker decides when: orphan.h). See
    braid_job_orphan() in job.h.

    A waiting task is PENDING: never dispatched (at or past next[s]), or
    taken back for a retry (attempt > 0: counted in pending_retries, in
    the retry heap once its backoff is over, else in the scheduler's
    backoff timers, which find it ended and let it be). It ends as a task
    whose retries ran out ends: failed, its parts what arrived, what it
    buffers still emitted before its END.                                   */

#include "job_impl.h"

uint64_t
braid_job_orphan(braid_job_t *self, uint32_t s, const char *text)
{
    if (self->cancelled || self->on_hold || s >= self->nsources)
        return 0;
    uint64_t ended = 0;
    for (uint32_t q = 0; q < self->received; q++) {
        uint32_t idx = q * self->nsources + s;
        braid_job_task_t *t = &self->tasks[idx];
        if (t->state != BRAID_TASK_PENDING)
            continue;
        if (t->attempt > 0) {
            self->pending_retries--;
            self->pending[s]--;
        }
        t->ready = 0;
        braid_job_end_task(self, idx, BRAID_STATUS_FAILED, t->recv, text);
        ended++;
    }
    /*  Every waiting task of s has ended: none is left to dispatch.       */
    self->retry[s].len = 0;
    if (self->next[s] < self->received)
        self->next[s] = self->received;
    return ended;
}
