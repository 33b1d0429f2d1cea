/*  job_resume.c - a job resubmitted by a client that lost its broker
    (PROTOCOL.md, "A job" 10): held until its RESUME says what the client
    has, then resumed with only what is left. See job.h.

    What the client has seen end counts as EMITTED at once (no END of its
    own; the summary counts only what this broker ends). Every other task
    is queued for dispatch through the retry heaps, in task order, as a
    task taken back would be (next[] points past the queries, so the
    cursor never meets an ended task), and the head task starts after the
    seqs the client wrote, as a task whose worker was lost does.            */

#include "job_impl.h"

#include "braid_msg.h"

void
braid_job_hold(braid_job_t *self)
{
    self->on_hold = true;
}

bool
braid_job_held(braid_job_t *self)
{
    return self->on_hold;
}

bool
braid_job_queries_complete(braid_job_t *self)
{
    return self->received == self->count;
}

/*  The ranges are ascending, disjoint, non-empty and within the tasks.    */
static bool
s_ranges_valid(braid_job_t *self, const uint8_t *ranges, size_t n)
{
    uint64_t floor = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t first = braid_be_get(ranges + i * BRAID_RESUME_RANGE, 8);
        uint64_t end = braid_be_get(ranges + i * BRAID_RESUME_RANGE + 8, 8);
        if (first < floor || end <= first || end > self->ntasks)
            return false;
        floor = end;
    }
    return true;
}

/*  Task idx ended at the client: nothing more of it comes from here.      */
static void
s_seen_end(braid_job_t *self, uint32_t idx)
{
    braid_job_task_t *t = &self->tasks[idx];
    t->state = BRAID_TASK_EMITTED;
    self->ended++;
    self->emitted++;
    if (!self->qended || ++self->qended[idx / self->nsources] == self->nsources)
        self->queries_done++;
}

int
braid_job_resume(braid_job_t *self, const uint8_t *ranges, size_t size, uint32_t q, uint32_t s,
                 uint64_t seq, const braid_on_retry_t *on_retry)
{
    size_t n = size / BRAID_RESUME_RANGE;
    if (!self->on_hold || !braid_job_queries_complete(self) || size % BRAID_RESUME_RANGE ||
        !s_ranges_valid(self, ranges, n))
        return -1;
    self->on_hold = false;
    if (self->cancelled)
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t first = braid_be_get(ranges + i * BRAID_RESUME_RANGE, 8);
        uint64_t end = braid_be_get(ranges + i * BRAID_RESUME_RANGE + 8, 8);
        for (uint64_t idx = first; idx < end; idx++)
            s_seen_end(self, (uint32_t) idx);
    }
    /*  The head: what the client wrote of it is not sent again.           */
    uint64_t head = (uint64_t) q * self->nsources + s;
    if (seq > 0 && !self->merge && s < self->nsources && head < self->ntasks &&
        self->tasks[head].state == BRAID_TASK_PENDING) {
        braid_job_task_t *t = &self->tasks[head];
        switch (on_retry[s]) {
        case BRAID_ON_RETRY_RESUME:
            t->recv = t->fwd = seq;
            break;
        case BRAID_ON_RETRY_RESTART:
            t->restart = 1;     /* a RESTART record, then from seq 0     */
            break;
        case BRAID_ON_RETRY_FAIL:
            t->recv = t->fwd = seq;
            braid_job_end_task(self, (uint32_t) head, BRAID_STATUS_FAILED, seq,
                               "broker lost after partials reached the client (on_retry fail)");
            break;
        }
    }
    /*  The rest waits for dispatch in task order, as tasks taken back do. */
    for (uint32_t src = 0; src < self->nsources; src++)
        self->next[src] = self->received;
    for (uint64_t idx = 0; idx < self->ntasks; idx++) {
        if (self->tasks[idx].state != BRAID_TASK_PENDING)
            continue;
        self->pending_retries++;
        self->pending[idx % self->nsources]++;
        braid_job_ready(self, (uint32_t) idx);
    }
    return 0;
}
