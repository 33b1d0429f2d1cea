/*  job.c - one client job: queries, tasks, and the ordered merge (order
    key's merge in job_key.c).                                              */

#include "job_impl.h"

#include "braid_parts.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*  A job holds at most this many bytes of query text.                      */
#define S_MAX_QUERY_BYTES (1u << 30)

static braid_job_task_t *
s_running(braid_job_t *self, uint32_t idx, uint32_t attempt);
static void
s_set_state(braid_job_t *self, braid_job_task_t *t, braid_task_state_t state);
static void
s_end(braid_job_t *self, uint32_t idx, uint32_t status, uint64_t parts, const char *text);
static void
s_ready(braid_job_t *self, uint32_t idx);

braid_job_t *
braid_job_new(const braid_msg_t *submit, uint32_t serial, uint64_t max_tasks, uint32_t window)
{
    assert(submit && submit->type == BRAID_MSG_SUBMIT);
    uint64_t ntasks = (uint64_t) submit->count * submit->nsources;
    if (submit->count == 0 || submit->nsources == 0 || ntasks > max_tasks)
        return NULL;
    braid_job_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    memcpy(self->id, submit->job_id, sizeof self->id);
    self->serial = serial;
    self->order = submit->order;
    self->max_inflight = submit->max_inflight;
    self->timeout_msec = submit->timeout_msec;
    self->flags = submit->flags;
    self->deadline_msec = submit->deadline_msec;
    self->retries = submit->retries;
    self->window = window;
    self->count = submit->count;
    self->nsources = submit->nsources;
    memcpy(self->sources, submit->sources, sizeof self->sources);
    self->credit = submit->credit;
    /*  Nothing is reserved for the queries announced: the arrays grow as
        they arrive (s_make_room), so a SUBMIT costs the same whatever
        count it names.                                                     */
    self->qoff = calloc(1, sizeof *self->qoff);
    if (self->order == BRAID_ORDER_KEY)
        self->merge = braid_merge_new(false);
    if (!self->qoff || (self->order == BRAID_ORDER_KEY && !self->merge)) {
        braid_job_destroy(&self);
        return NULL;
    }
    return self;
}

/*  Grow an array of *items of size bytes each to cap items, the new ones
    zero. 0, or -1 (the array unchanged) on allocation failure.            */
static int
s_grow(void **array, size_t size, uint64_t items, uint64_t cap)
{
    char *grown = realloc(*array, (size_t) cap * size);
    if (!grown)
        return -1;
    memset(grown + (size_t) items * size, 0, (size_t) (cap - items) * size);
    *array = grown;
    return 0;
}

/*  Room for the tasks of need queries: the query offsets, task records,
    ended counts and the arrival ring grow together, doubling (at least 64
    queries, at most count). 0, or -1 on allocation failure (what was
    there stays valid).                                                     */
static int
s_make_room(braid_job_t *self, uint64_t need)
{
    if (need <= self->room)
        return 0;
    uint64_t cap = self->room ? self->room : 64;
    while (cap < need)
        cap *= 2;
    if (cap > self->count)
        cap = self->count;
    uint64_t ns = self->nsources;
    if (s_grow((void **) &self->qoff, sizeof *self->qoff, self->room + 1, cap + 1) != 0 ||
        s_grow((void **) &self->tasks, sizeof *self->tasks, self->room * ns, cap * ns) != 0 ||
        (ns > 1 && s_grow((void **) &self->qended, 1, self->room, cap) != 0))
        return -1;
    if (self->order == BRAID_ORDER_ARRIVAL) {
        /*  The ring holds every task at most once: as many as there are.  */
        uint32_t *ring = malloc((size_t) (cap * ns) * sizeof *ring);
        if (!ring)
            return -1;
        for (uint64_t i = 0; i < self->ready_len; i++)
            ring[i] = self->ready[(self->ready_head + i) % self->ready_cap];
        free(self->ready);
        self->ready = ring;
        self->ready_head = 0;
        self->ready_cap = cap * ns;
    }
    self->room = (uint32_t) cap;
    return 0;
}

void
braid_job_destroy(braid_job_t **self_p)
{
    assert(self_p);
    braid_job_t *self = *self_p;
    if (!self)
        return;
    if (self->tasks) {
        for (uint64_t i = 0; i < self->ntasks; i++) {
            zmsg_destroy(&self->tasks[i].buf);
            free(self->tasks[i].error);
        }
    }
    free(self->tasks);
    free(self->qoff);
    free(self->qbuf);
    free(self->ready);
    free(self->qended);
    braid_merge_destroy(&self->merge);
    for (uint32_t s = 0; s < BRAID_MAX_SOURCES; s++)
        free(self->retry[s].heap);
    free(self);
    *self_p = NULL;
}

void
braid_job_set_ascending(braid_job_t *self, bool ascending)
{
    if (self->merge)
        braid_merge_set_ascending(self->merge, ascending);
}

int
braid_job_add_queries(braid_job_t *self, uint32_t first, zmsg_t **frames)
{
    zmsg_t *msg = *frames;
    *frames = NULL;
    int rc = 0;
    zframe_t *parts = zmsg_first(msg);     /* the one parts frame (checked) */
    size_t n = braid_parts_frame_count(parts);
    if (self->cancelled || first + (uint64_t) n <= self->received)
        goto done;      /* a duplicate of what arrived, or a late one      */
    if (first > self->received || first + (uint64_t) n > self->count) {
        rc = -1;
        goto done;
    }
    if (s_make_room(self, first + (uint64_t) n) != 0) {
        rc = -1;
        goto done;
    }
    /*  Skip the part already received, then append the rest.             */
    size_t skip = self->received - first;
    braid_parts_iter_t it;
    braid_parts_iter(&it, zframe_data(parts), zframe_size(parts));
    const void *query;
    size_t len;
    for (size_t i = 0; braid_parts_next(&it, &query, &len); i++) {
        if (i < skip)
            continue;
        if (self->qlen + len > S_MAX_QUERY_BYTES) {
            rc = -1;
            goto done;
        }
        if (self->qlen + len > self->qcap) {
            size_t cap = self->qcap ? self->qcap : 4096;
            while (cap < self->qlen + len)
                cap *= 2;
            char *grown = realloc(self->qbuf, cap);
            if (!grown) {
                rc = -1;
                goto done;
            }
            self->qbuf = grown;
            self->qcap = cap;
        }
        if (len)
            memcpy(self->qbuf + self->qlen, query, len);
        self->qlen += len;
        self->received++;
        self->qoff[self->received] = (uint32_t) self->qlen;
    }
done:
    self->ntasks = (uint64_t) self->received * self->nsources;
    zmsg_destroy(&msg);
    return rc;
}

uint32_t
braid_job_wants(braid_job_t *self)
{
    if (self->cancelled || self->on_hold ||
        (self->max_inflight && self->running >= self->max_inflight))
        return 0;
    if (braid_job_over_buffer(self)) {
        /*  Enough waits for the client: only the head of line, which lets
            it go, may start.                                              */
        int64_t head = braid_job_head_waiting(self);
        return head >= 0 ? 1u << (head % self->nsources) : 0;
    }
    uint32_t mask = 0;
    for (uint32_t s = 0; s < self->nsources; s++)
        if (self->next[s] < self->received || self->retry[s].len)
            mask |= 1u << s;
    return mask;
}

int64_t
braid_job_next_task(braid_job_t *self, uint32_t avail)
{
    uint32_t wants = braid_job_wants(self) & avail;
    /*  The head of line first: in order key a task preempted for it may
        come before it, and would only block again.                        */
    int64_t best = braid_job_head_waiting(self);
    if (best >= 0 && (wants & (1u << (best % self->nsources))))
        return best;
    if (braid_job_over_buffer(self))
        return -1;
    best = -1;
    for (uint32_t s = 0; s < self->nsources; s++) {
        if (!(wants & (1u << s)))
            continue;
        int64_t idx = self->next[s] < self->received
                          ? (int64_t) self->next[s] * self->nsources + s
                          : INT64_MAX;
        if (self->retry[s].len) {
            int64_t again = self->retry[s].heap[0];
            if (again < idx)
                idx = again;
        }
        if (best < 0 || idx < best)
            best = idx;
    }
    return best;
}

uint32_t
braid_job_start(braid_job_t *self, uint32_t idx, uint64_t *resume, uint64_t *window)
{
    assert(idx < self->ntasks);
    braid_job_task_t *t = &self->tasks[idx];
    assert(t->state == BRAID_TASK_PENDING);
    uint32_t q = idx / self->nsources, s = idx % self->nsources;
    braid_taskheap_t *pq = &self->retry[s];
    if (pq->len && pq->heap[0] == idx) {
        braid_taskheap_pop(pq);
        self->pending_retries--;
        self->pending[s]--;
    } else {
        assert(self->next[s] == q);
        self->next[s] = q + 1;
    }
    s_set_state(self, t, BRAID_TASK_RUNNING);
    t->ready = 0;
    t->attempt++;
    *resume = t->recv;
    t->granted = self->window ? t->fwd + self->window : 0;
    *window = t->granted;
    t->brecv = 0;
    t->bfwd = 0;
    t->bgranted = self->window_bytes;
    return t->attempt;
}

braid_job_retry_t
braid_job_retry(braid_job_t *self, uint32_t idx, uint32_t attempt, bool counted, const char *why,
                const braid_job_policy_t *policy)
{
    braid_job_task_t *t = s_running(self, idx, attempt);
    if (!t)
        return BRAID_JOB_NOT_RUNNING;
    if (t->attempt >= BRAID_MAX_ATTEMPTS) {
        s_end(self, idx, BRAID_STATUS_FAILED, t->recv, "too many attempts");
        return BRAID_JOB_ENDED;
    }
    uint32_t limit = braid_job_retries(self) >= 0 ? self->retries : policy->retries;
    bool shown = t->fwd > 0;    /* partials of it reached the client       */
    /*  A merged stream cannot take back what it sent: in order key a
        restart after that fails the task, as on_retry fail does.          */
    bool no_restart = policy->on_retry == BRAID_ON_RETRY_FAIL ||
                      (policy->on_retry == BRAID_ON_RETRY_RESTART && self->merge);
    if ((counted && t->retries >= limit) || (shown && no_restart)) {
        s_end(self, idx, BRAID_STATUS_FAILED, t->recv, why);
        return BRAID_JOB_ENDED;
    }
    if (policy->on_retry != BRAID_ON_RETRY_RESUME) {
        /*  Start again from seq 0: what is buffered goes; what the client
            already has is announced by a RESTART record.                   */
        braid_job_drop_buffer(self, t);
        if (self->merge)
            braid_merge_clear(self->merge, idx, true);
        if (t->fwd > 0)
            t->restart = 1;
        t->recv = t->fwd = 0;
        if (t->restart)
            s_ready(self, idx);
    }
    if (counted)
        t->retries++;
    s_set_state(self, t, BRAID_TASK_PENDING);
    self->pending_retries++;
    self->pending[idx % self->nsources]++;
    return BRAID_JOB_AGAIN;
}

uint32_t
braid_job_task_retries(braid_job_t *self, uint32_t idx)
{
    return idx < self->ntasks ? self->tasks[idx].retries : 0;
}

void
braid_job_ready(braid_job_t *self, uint32_t idx)
{
    if (idx >= self->ntasks || self->tasks[idx].state != BRAID_TASK_PENDING)
        return;
    braid_taskheap_t *pq = &self->retry[idx % self->nsources];
    if (pq->len == pq->cap) {
        /*  Each task is in it at most once: it grows with the retries.    */
        uint64_t cap = pq->cap ? pq->cap * 2 : 16;
        uint32_t *grown = realloc(pq->heap, (size_t) cap * sizeof *grown);
        if (!grown) {
            s_end(self, idx, BRAID_STATUS_FAILED, self->tasks[idx].recv, "out of memory");
            self->pending_retries--;
            self->pending[idx % self->nsources]--;
            return;
        }
        pq->heap = grown;
        pq->cap = cap;
    }
    assert(pq->len < pq->cap);
    braid_taskheap_push(pq, idx);
    self->tasks[idx].ready = 1;
}

int64_t
braid_job_head_waiting(braid_job_t *self)
{
    int64_t head = braid_job_head(self);
    if (head < 0 || self->cancelled || self->on_hold)
        return -1;
    braid_job_task_t *t = &self->tasks[head];
    if (t->state != BRAID_TASK_PENDING)
        return -1;
    uint32_t q = (uint32_t) (head / self->nsources);
    uint32_t s = (uint32_t) (head % self->nsources);
    if (t->ready || (t->attempt == 0 && self->next[s] == q))
        return head;
    return -1;
}

int64_t
braid_job_head(braid_job_t *self)
{
    if (self->order == BRAID_ORDER_ARRIVAL || self->head >= self->ntasks)
        return -1;
    return self->merge ? braid_job_key_head(self) : (int64_t) self->head;
}

uint64_t
braid_job_failures(braid_job_t *self)
{
    uint64_t n = 0;
    for (uint32_t s = 0; s < self->nsources; s++)
        n += self->summary[s][BRAID_STATUS_FAILED] + self->summary[s][BRAID_STATUS_TIMEOUT];
    return n;
}

uint32_t
braid_job_attempt(braid_job_t *self, uint32_t idx)
{
    return idx < self->ntasks ? self->tasks[idx].attempt : 0;
}

uint64_t
braid_job_received_parts(braid_job_t *self, uint32_t idx)
{
    return idx < self->ntasks ? self->tasks[idx].recv : 0;
}

bool
braid_job_running(braid_job_t *self, uint32_t idx, uint32_t attempt)
{
    return s_running(self, idx, attempt) != NULL;
}

/*  Put task idx on the arrival-order ready queue.                          */
static void
s_ready(braid_job_t *self, uint32_t idx)
{
    braid_job_task_t *t = &self->tasks[idx];
    if (self->order != BRAID_ORDER_ARRIVAL || t->queued)
        return;
    /*  The ring holds every task at most once: it never overflows.         */
    assert(self->ready_len < self->ready_cap);
    self->ready[(self->ready_head + self->ready_len) % self->ready_cap] = idx;
    self->ready_len++;
    t->queued = 1;
}

/*  Record the end of task t (not yet emitted).                             */
static void
s_end(braid_job_t *self, uint32_t idx, uint32_t status, uint64_t parts, const char *text)
{
    braid_job_task_t *t = &self->tasks[idx];
    s_set_state(self, t, BRAID_TASK_DONE);
    t->status = (uint8_t) status;
    t->parts = parts;
    free(t->error);
    t->error = (text && *text) ? strdup(text) : NULL;
    self->summary[idx % self->nsources][status]++;
    self->ended++;
    if (!self->qended || ++self->qended[idx / self->nsources] == self->nsources)
        self->queries_done++;
    s_ready(self, idx);
}

void
braid_job_end_task(braid_job_t *self, uint32_t idx, uint32_t status, uint64_t parts,
                   const char *text)
{
    s_end(self, idx, status, parts, text);
}

static braid_job_task_t *
s_running(braid_job_t *self, uint32_t idx, uint32_t attempt)
{
    if (idx >= self->ntasks)
        return NULL;
    braid_job_task_t *t = &self->tasks[idx];
    if (t->state != BRAID_TASK_RUNNING || t->attempt != attempt)
        return NULL;
    return t;
}

/*  Move task t to state, counting the running ones.                        */
static void
s_set_state(braid_job_t *self, braid_job_task_t *t, braid_task_state_t state)
{
    if (t->state == BRAID_TASK_RUNNING) {
        assert(self->running > 0);
        self->running--;
    }
    if (state == BRAID_TASK_RUNNING)
        self->running++;
    t->state = (uint8_t) state;
}

/*  Append each partial of the parts frame to queue as a frame of its own
    (a parts frame of one entry). 0, or -1 out of memory (queue as it was). */
static int
s_explode(zmsg_t *queue, zframe_t *parts)
{
    size_t before = zmsg_size(queue);
    braid_parts_iter_t it;
    braid_parts_iter(&it, zframe_data(parts), zframe_size(parts));
    const void *data;
    size_t len;
    while (braid_parts_next(&it, &data, &len)) {
        zframe_t *one = braid_parts_encode(&data, &len, 1);
        if (!one || zmsg_append(queue, &one) != 0) {
            zframe_destroy(&one);
            while (zmsg_size(queue) > before) {
                zframe_t *f = zmsg_last(queue);
                zmsg_remove(queue, f);
                zframe_destroy(&f);
            }
            return -1;
        }
    }
    return 0;
}

braid_job_result_t
braid_job_data(braid_job_t *self, uint32_t idx, uint32_t attempt, uint64_t seq, zmsg_t **frames)
{
    return braid_job_data_keyed(self, idx, attempt, seq, frames, NULL);
}

braid_job_result_t
braid_job_data_keyed(braid_job_t *self, uint32_t idx, uint32_t attempt, uint64_t seq,
                     zmsg_t **frames, const braid_key_t *keys)
{
    zmsg_t *msg = *frames;
    *frames = NULL;
    braid_job_task_t *t = s_running(self, idx, attempt);
    if (!t) {
        zmsg_destroy(&msg);
        return BRAID_JOB_STALE;
    }
    /*  The partials come in one parts frame (checked on receive).         */
    zframe_t *parts = zmsg_pop(msg);
    zmsg_destroy(&msg);
    size_t n = braid_parts_frame_count(parts);
    /*  A hole in the seqs, or partials beyond the window granted: this
        attempt's stream cannot be trusted; the caller runs it again. So
        is one whose keys cannot be kept (out of memory).                   */
    if (n == 0 || seq != t->recv || (t->granted && seq + n > t->granted) ||
        (self->merge && braid_merge_push(self->merge, idx, keys, n) != 0)) {
        zframe_destroy(&parts);
        return BRAID_JOB_GAP;
    }
    t->brecv += braid_parts_frame_bytes(parts);
    self->held += braid_parts_frame_bytes(parts);
    if (!t->buf && !(t->buf = zmsg_new())) {
        zframe_destroy(&parts);
        return BRAID_JOB_GAP;   /* out of memory: as if lost, run again    */
    }
    if (self->merge) {
        /*  Order key decides partial by partial: one frame each.           */
        if (s_explode(t->buf, parts) != 0) {
            zframe_destroy(&parts);
            return BRAID_JOB_GAP;
        }
        zframe_destroy(&parts);
    } else
        zmsg_append(t->buf, &parts);
    t->recv += n;
    s_ready(self, idx);
    return BRAID_JOB_ACCEPTED;
}

braid_job_result_t
braid_job_done(braid_job_t *self, uint32_t idx, uint32_t attempt, uint32_t status,
               uint64_t parts, const char *text)
{
    /*  A task ended by cancel still runs on its worker until this DONE:
        nothing is recorded, but the caller frees its slot.                 */
    braid_job_task_t *t = s_running(self, idx, attempt);
    if (!t)
        return BRAID_JOB_STALE;
    /*  Partials were lost: the task stays running; the caller runs it
        again (resuming after what did arrive).                            */
    if (parts != t->recv)
        return BRAID_JOB_GAP;
    s_end(self, idx, status, parts, text);
    return BRAID_JOB_ACCEPTED;
}

void
braid_job_cancel(braid_job_t *self, uint32_t status, const char *text,
                 braid_job_cancel_fn *cancel_fn, void *arg)
{
    if (self->cancelled)
        return;
    self->cancelled = true;
    self->pending_retries = 0;
    memset(self->pending, 0, sizeof self->pending);
    /*  Queries that never arrived never became tasks.                      */
    self->count = self->received;
    for (uint64_t i = 0; i < self->ntasks; i++) {
        braid_job_task_t *t = &self->tasks[i];
        if (t->state == BRAID_TASK_RUNNING && cancel_fn)
            cancel_fn(arg, braid_task_id(self->serial, (uint32_t) i), t->attempt);
        if (t->state == BRAID_TASK_PENDING || t->state == BRAID_TASK_RUNNING) {
            braid_job_drop_buffer(self, t);
            if (self->merge)
                braid_merge_clear(self->merge, (uint32_t) i, false);
            t->recv = t->fwd;
            s_end(self, (uint32_t) i, status, t->fwd, text);
        }
    }
}

/*  A PARTIAL or END of task idx, its query and source filled in.           */
void
braid_job_task_msg(braid_job_t *self, braid_msg_t *msg, braid_msg_type_t type, uint32_t idx)
{
    braid_msg_init(msg, type);
    msg->query = idx / self->nsources;
    msg->source = idx % self->nsources;
}

/*  The END of task idx (DONE), carrying what it still buffers (at most a
    batch: its last partials). 0 sent, -1 blocked.                          */
int
braid_job_emit_end(braid_job_t *self, uint32_t idx, const braid_job_io_t *io, void *arg)
{
    braid_job_task_t *t = &self->tasks[idx];
    braid_msg_t msg;
    braid_job_task_msg(self, &msg, BRAID_MSG_END, idx);
    msg.status = t->status;
    msg.parts = t->parts;
    msg.attempts = t->attempt;
    if (self->merge)
        msg.duplicates = braid_merge_duplicates(self->merge, idx);
    if (t->error)
        snprintf(msg.text, sizeof msg.text, "%s", t->error);
    if (io->describe)
        io->describe(arg, self, idx, &msg);
    zmsg_t *last = t->buf;      /* seqs parts - n .. parts - 1 in one parts
                                   frame, or NULL                          */
    t->buf = NULL;
    if (last && zmsg_size(last) == 0)
        zmsg_destroy(&last);
    assert(!last || zmsg_size(last) == 1);
    size_t n = last ? braid_parts_frame_count(zmsg_first(last)) : 0;
    assert(t->parts == t->fwd + n);
    if (braid_job_emit(self, &msg, last ? &last : NULL, io, arg) != 0) {
        t->buf = last;
        return -1;
    }
    t->fwd += n;
    s_set_state(self, t, BRAID_TASK_EMITTED);
    free(t->error);
    t->error = NULL;
    self->emitted++;
    if (self->merge)
        braid_merge_forget(self->merge, idx);
    return 0;
}

/*  Emit task idx's buffered partials, then its END if it is done.
    Returns 0 when everything it had is out, -1 when blocked.               */
static int
s_flush_task(braid_job_t *self, uint32_t idx, const braid_job_io_t *io, void *arg)
{
    braid_job_task_t *t = &self->tasks[idx];
    braid_msg_t msg;
    if (t->restart) {
        braid_job_task_msg(self, &msg, BRAID_MSG_RESTART, idx);
        msg.attempts = t->attempt + (t->state == BRAID_TASK_PENDING ? 1 : 0);
        if (braid_job_emit(self, &msg, NULL, io, arg) != 0)
            return -1;
        t->restart = 0;
    }
    /*  Each parts frame that came goes on as it is, one PARTIAL (no copy);
        a task that is over sends its last one on its END: one message
        instead of two for a short task.                                   */
    while (t->buf && zmsg_size(t->buf) > 0 &&
           !(t->state == BRAID_TASK_DONE && zmsg_size(t->buf) == 1)) {
        zmsg_t *batch = braid_msg_take_frames(&t->buf, 1);
        if (!batch)
            return -1;  /* out of memory: as if blocked, tried again later */
        size_t n = braid_parts_frame_count(zmsg_first(batch));
        size_t bytes = braid_parts_frame_bytes(zmsg_first(batch));
        braid_job_task_msg(self, &msg, BRAID_MSG_PARTIAL, idx);
        msg.seq = t->fwd;
        if (braid_job_emit(self, &msg, &batch, io, arg) != 0) {
            braid_msg_put_back(&t->buf, &batch);
            return -1;
        }
        t->fwd += n;
        braid_job_grant(self, idx, bytes, io, arg);
    }
    if (t->state != BRAID_TASK_DONE) {
        braid_job_drop_buffer(self, t);     /* empty by now */
        return 0;
    }
    return braid_job_emit_end(self, idx, io, arg);
}

bool
braid_job_pump(braid_job_t *self, const braid_job_io_t *io, void *arg)
{
    if (self->job_end_sent)
        return true;
    if (self->order == BRAID_ORDER_ARRIVAL) {
        while (self->ready_len > 0) {
            uint32_t idx = self->ready[self->ready_head];
            if (s_flush_task(self, idx, io, arg) != 0)
                return false;
            self->tasks[idx].queued = 0;
            self->ready_head = (self->ready_head + 1) % self->ready_cap;
            self->ready_len--;
        }
    } else if (self->merge) {
        if (braid_job_key_pump(self, io, arg) != 0)
            return false;
    } else {
        while (self->head < self->ntasks) {
            if (s_flush_task(self, (uint32_t) self->head, io, arg) != 0)
                return false;
            if (self->tasks[self->head].state != BRAID_TASK_EMITTED)
                break;
            self->head++;
        }
    }
    if (self->received < self->count || self->emitted < self->ntasks)
        return false;
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_JOB_END);
    bool some_failed = false, some_cancelled = self->cancelled;
    for (uint32_t s = 0; s < self->nsources; s++) {
        memcpy(msg.summary[s], self->summary[s], sizeof msg.summary[s]);
        if (self->summary[s][BRAID_STATUS_FAILED] || self->summary[s][BRAID_STATUS_TIMEOUT])
            some_failed = true;
        if (self->summary[s][BRAID_STATUS_CANCELLED])
            some_cancelled = true;
    }
    msg.nsources = self->nsources;
    /*  A deadline or fail-fast stop reports the failure, not a cancel.    */
    msg.status = some_failed      ? BRAID_STATUS_FAILED
                 : some_cancelled ? BRAID_STATUS_CANCELLED
                                  : BRAID_STATUS_OK;
    if (braid_job_emit(self, &msg, NULL, io, arg) != 0)
        return false;
    self->job_end_sent = true;
    return true;
}

bool
braid_job_finished(braid_job_t *self)
{
    return self->job_end_sent;
}

const uint8_t *
braid_job_id(braid_job_t *self)
{
    return self->id;
}

uint32_t
braid_job_serial(braid_job_t *self)
{
    return self->serial;
}

uint32_t
braid_job_nsources(braid_job_t *self)
{
    return self->nsources;
}

const char *
braid_job_source_name(braid_job_t *self, uint32_t source)
{
    return source < self->nsources ? self->sources[source] : NULL;
}

uint32_t
braid_job_count(braid_job_t *self)
{
    return self->count;
}

uint32_t
braid_job_received(braid_job_t *self)
{
    return self->received;
}

const char *
braid_job_query(braid_job_t *self, uint32_t idx, size_t *len)
{
    uint32_t q = idx / self->nsources;
    assert(q < self->received);
    *len = self->qoff[q + 1] - self->qoff[q];
    return self->qbuf ? self->qbuf + self->qoff[q] : "";
}

uint32_t
braid_job_inflight(braid_job_t *self)
{
    return self->running;
}

uint32_t
braid_job_timeout_msec(braid_job_t *self)
{
    return self->timeout_msec;
}

uint32_t
braid_job_flags(braid_job_t *self)
{
    return self->flags;
}

uint32_t
braid_job_deadline_msec(braid_job_t *self)
{
    return self->deadline_msec;
}

int64_t
braid_job_retries(braid_job_t *self)
{
    return (self->flags & BRAID_FLAG_RETRIES) ? (int64_t) self->retries : -1;
}

uint64_t
braid_job_queued(braid_job_t *self)
{
    if (self->cancelled)
        return 0;
    uint64_t n = self->pending_retries;
    for (uint32_t s = 0; s < self->nsources; s++)
        n += self->received - self->next[s];
    return n;
}

uint64_t
braid_job_queued_source(braid_job_t *self, uint32_t source)
{
    if (self->cancelled || source >= self->nsources)
        return 0;
    return self->received - self->next[source] + self->pending[source];
}

uint32_t
braid_job_order(braid_job_t *self)
{
    return self->order;
}

uint64_t
braid_job_tasks_done(braid_job_t *self)
{
    return self->ended;
}

uint32_t
braid_job_queries_done(braid_job_t *self)
{
    return self->queries_done;
}

bool
braid_job_same(braid_job_t *self, const braid_msg_t *submit)
{
    if (submit->order != self->order || submit->max_inflight != self->max_inflight ||
        submit->timeout_msec != self->timeout_msec || submit->flags != self->flags ||
        submit->deadline_msec != self->deadline_msec || submit->retries != self->retries ||
        (submit->count != self->count && !self->cancelled) || submit->nsources != self->nsources)
        return false;
    for (uint32_t s = 0; s < self->nsources; s++)
        if (strcmp(submit->sources[s], self->sources[s]) != 0)
            return false;
    return true;
}

size_t
braid_job_record_bytes(braid_job_t *self)
{
    size_t ns = self->nsources;
    return (size_t) self->room * (sizeof *self->qoff + ns * sizeof *self->tasks +
                                  (ns > 1 ? 1 : 0) + (self->ready ? ns * sizeof *self->ready : 0));
}
