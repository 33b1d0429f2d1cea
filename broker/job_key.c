/*  job_key.c - order key: each query's partials from all its sources
    merged by score as they stream (merge.h decides, the frames wait in the
    tasks' buffers); the head of line the merge waits for. See job.h and
    PROTOCOL.md, "Keys".                                                    */

#include "job_impl.h"

#include <assert.h>

/*  Order key: the head query's task the merge may be waiting for (it has
    nothing buffered and has not ended) that cannot move by itself: one
    waiting for dispatch first, else one that runs (it may sit queued at
    its worker). -1 when none.                                             */
int64_t
braid_job_key_head(braid_job_t *self)
{
    int64_t running = -1;
    for (uint64_t idx = self->head; idx < self->head + self->nsources; idx++) {
        braid_job_task_t *t = &self->tasks[idx];
        if (t->buf && zmsg_size(t->buf))
            continue;
        if (t->state == BRAID_TASK_PENDING)
            return (int64_t) idx;
        if (t->state == BRAID_TASK_RUNNING && running < 0)
            running = (int64_t) idx;
    }
    return running;
}

/*  Order key: one PARTIAL of task idx (source s of the query whose source
    0 is task first): its first undecided partial, and those after it for
    as long as the merge picks them next. 0 sent, -1 blocked.              */
static int
s_send(braid_job_t *self, uint32_t first, uint32_t s, uint32_t open, const braid_job_io_t *io,
       void *arg)
{
    uint32_t idx = first + s, again;
    braid_job_task_t *t = &self->tasks[idx];
    assert(t->buf && braid_merge_held(self->merge, idx) == zmsg_size(t->buf));
    zmsg_t *batch = zmsg_new();
    if (!batch)
        return -1;  /* out of memory: as if blocked, tried again later     */
    do {
        if (braid_merge_take(self->merge, idx) != 0)
            break;
        zframe_t *frame = zmsg_pop(t->buf);
        zmsg_append(batch, &frame);
    } while (zmsg_size(batch) < BRAID_MAX_BATCH &&
             braid_merge_next(self->merge, first, self->nsources, open, &again) ==
                 BRAID_MERGE_SEND &&
             again == s);
    size_t n = zmsg_size(batch);
    size_t bytes = zmsg_content_size(batch);
    braid_msg_t msg;
    braid_job_task_msg(self, &msg, BRAID_MSG_PARTIAL, idx);
    msg.seq = t->fwd;
    if (n == 0 || braid_job_emit(self, &msg, &batch, io, arg) != 0) {
        braid_msg_put_back(&t->buf, &batch);
        braid_merge_rollback(self->merge);
        return -1;
    }
    braid_merge_commit(self->merge);
    t->fwd += n;
    braid_job_grant(self, idx, bytes, io, arg);
    return 0;
}

/*  Order key: the head query's partials merged by score (merge.h), each
    task's END once all its partials are decided, then the next query.
    Returns 0 when every query that arrived is out, -1 when blocked or
    waiting for partials.                                                  */
int
braid_job_key_pump(braid_job_t *self, const braid_job_io_t *io, void *arg)
{
    while (self->head < self->ntasks) {
        uint32_t first = (uint32_t) self->head, open = 0;
        bool over = true;
        for (uint32_t s = 0; s < self->nsources; s++) {
            braid_job_task_t *t = &self->tasks[first + s];
            if (t->state == BRAID_TASK_PENDING || t->state == BRAID_TASK_RUNNING)
                open |= 1u << s;
            else if (t->state == BRAID_TASK_DONE && !(t->buf && zmsg_size(t->buf)) &&
                     braid_job_emit_end(self, first + s, io, arg) != 0)
                return -1;
            over &= t->state == BRAID_TASK_EMITTED;
        }
        if (over) {
            self->head += self->nsources;
            continue;
        }
        uint32_t s;
        braid_merge_next_t what = braid_merge_next(self->merge, first, self->nsources, open, &s);
        if (what == BRAID_MERGE_WAIT)
            return -1;
        if (what == BRAID_MERGE_SEND) {
            if (s_send(self, first, s, open, io, arg) != 0)
                return -1;
            continue;
        }
        /*  A duplicate: decided, never sent; counted on its task's END.   */
        braid_job_task_t *t = &self->tasks[first + s];
        zframe_t *frame = zmsg_pop(t->buf);
        size_t bytes = zframe_size(frame);
        zframe_destroy(&frame);
        self->held -= bytes;
        braid_merge_drop(self->merge, first + s);
        t->fwd++;
        braid_job_grant(self, first + s, bytes, io, arg);
    }
    return 0;
}
