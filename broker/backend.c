/*  backend.c - the broker's workers: HELLO, heartbeats, TASK_ACK, BYE on
    the backend, results (DATA, DONE) on the sink; TASK, TASK_CREDIT and
    TASK_CANCEL back to them; worker liveness. See broker_impl.h.           */

#include "broker_impl.h"

#include "braid_keys.h"
#include "braid_log.h"
#include "braid_msg.h"
#include "braid_parts.h"
#include "job.h"
#include "joblog.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/*  A registered worker: its connection, liveness, and what it said of
    itself. What it serves and the tasks it holds are the scheduler's,
    under its number.                                                       */
typedef struct {
    zframe_t *rid;              /* its routing id on the backend           */
    char *key;                  /* hex of rid, key in workers_by_rid       */
    braid_name_t *name;         /* unique among the workers; counted: the
                                   job logs of its tasks hold it too       */
    char host[BRAID_MAX_HOST + 1];
    char version[BRAID_MAX_VERSION + 1];
    uint32_t pid;
    uint32_t slots;
    char peer[BRAID_MAX_PEER + 1];  /* its CURVE key (Z85), "" without      */
    int32_t number;             /* its number in the scheduler and slots   */
    int64_t last_seen_msec;
} s_worker_t;

/*  Its name, for logs. Borrowed.                                           */
static const char *
s_name(const s_worker_t *w)
{
    return braid_name_text(w->name);
}

/*  The record of worker number, or NULL.                                   */
static s_worker_t *
s_worker(braid_broker_t *self, int32_t number)
{
    return braid_sched_worker(self->sched, number);
}

/*  The worker that holds task_id's attempt, or NULL.                       */
static s_worker_t *
s_holder(braid_broker_t *self, uint64_t task_id, uint32_t attempt)
{
    braid_slot_t *slot = braid_slots_find(self->slots, task_id);
    return slot && slot->attempt == attempt ? s_worker(self, slot->worker) : NULL;
}

/*  Send a header-only message to a worker: cancel, credit, heartbeat. A
    lost one is repaired by the next (all are idempotent).                  */
static int
s_send_worker(braid_broker_t *self, s_worker_t *w, const braid_msg_t *msg)
{
    return braid_msg_send(self->backend, w->rid, msg, NULL, true);
}

/*  ---------------------------------------------------------------------
    To workers                                                             */

void
braid_backend_grant(void *arg, braid_job_t *job, uint64_t task_id, uint32_t attempt,
                    uint64_t window, uint64_t window_bytes)
{
    (void) job;
    braid_broker_t *self = arg;
    s_worker_t *w = s_holder(self, task_id, attempt);
    if (!w)
        return;
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK_CREDIT);
    msg.task_id = task_id;
    msg.attempts = attempt;
    msg.window = window;
    msg.window_bytes = window_bytes;
    /*  A lost grant is repaired by the next one: credit is absolute.       */
    if (s_send_worker(self, w, &msg) != 0)
        braid_debug("cannot send credit worker=%s errno=%d", s_name(w), errno);
}

void
braid_backend_cancel_task(void *arg, uint64_t task_id, uint32_t attempt)
{
    braid_broker_t *self = arg;
    s_worker_t *w = s_holder(self, task_id, attempt);
    if (!w)
        return;
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK_CANCEL);
    msg.task_id = task_id;
    msg.attempts = attempt;
    if (s_send_worker(self, w, &msg) != 0)
        braid_warning("cannot send cancel worker=%s errno=%d", s_name(w), errno);
}

void
braid_backend_task_retry(braid_broker_t *self, braid_sched_job_t *sj, uint32_t idx,
                         uint32_t attempt, bool counted, const char *why)
{
    uint32_t delay = 0;
    braid_job_retry_t rc =
        braid_sched_retry(self->sched, sj, idx, attempt, counted, why, self->now, &delay);
    if (rc == BRAID_JOB_ENDED) {
        braid_joblog_end(braid_frontend_joblog(sj), idx, 0, self->now);
        braid_frontend_check_fail_fast(self, sj);
    }
    else if (rc == BRAID_JOB_AGAIN)
        braid_debug("task retry job=%s task=%u attempt=%u counted=%d delay_msec=%u why=%s",
                    braid_frontend_job_key(sj), idx, attempt, counted, delay, why);
}

/*  ---------------------------------------------------------------------
    Workers                                                                */

/*  Free a worker record (the scheduler must not list it any more).        */
static void
s_worker_free(s_worker_t **w_p)
{
    s_worker_t *w = *w_p;
    if (!w)
        return;
    zframe_destroy(&w->rid);
    free(w->key);
    braid_name_unref(&w->name);
    free(w);
    *w_p = NULL;
}

/*  Take every task back from a worker: handed back (BYE, a new HELLO) or
    lost (expired, unreachable). Then forget the worker.                    */
static void
s_worker_remove(braid_broker_t *self, s_worker_t *w, bool counted, const char *why)
{
    uint32_t n;
    while ((n = braid_slots_running(self->slots, w->number)) > 0) {
        braid_slot_t slot = *braid_slots_at(self->slots, w->number, n - 1);
        braid_sched_job_t *sj = braid_sched_job_of(self->sched, slot.task_id);
        if (sj) {
            uint32_t idx = braid_task_index(slot.task_id);
            braid_backend_task_retry(self, sj, idx, slot.attempt, counted, why);
            self->pump_all = true;
        }
        /*  The retry freed it; without a job, it is freed here.            */
        braid_sched_release(self->sched, slot.task_id, slot.attempt);
    }
    braid_sched_worker_remove(self->sched, w->number);
    zhashx_delete(self->workers_by_rid, w->key);
    if (zhashx_lookup(self->workers_by_name, s_name(w)) == w)
        zhashx_delete(self->workers_by_name, s_name(w));
    s_worker_free(&w);
}

/*  The name a joining worker gets (into name): the one it asks for, unless
    a live worker (another connection) has it. The same process again (same
    host and pid: it reconnected before the broker gave up on it) takes its
    name back, and its old registration goes, its tasks to run again; any
    other gets the name with the lowest free suffix "-2", "-3", ..., logged
    at warning, so that names stay unique in logs, job logs and lists.
    -1 when no such name can be made.                                       */
static int
s_unique_name(braid_broker_t *self, const braid_msg_t *msg, char *name)
{
    snprintf(name, BRAID_MAX_NAME + 1, "%s", msg->name);
    s_worker_t *other = zhashx_lookup(self->workers_by_name, name);
    if (!other)
        return 0;
    if (msg->pid != 0 && other->pid == msg->pid && streq(other->host, msg->host)) {
        braid_info("worker reconnected name=%s host=%s pid=%u running=%u", name, msg->host,
                   msg->pid, braid_slots_running(self->slots, other->number));
        s_worker_remove(self, other, false, "worker reconnected");
        return 0;
    }
    /*  At most one name per worker is taken: a free one is near.          */
    size_t limit = zhashx_size(self->workers_by_name) + 2;
    for (size_t n = 2; n <= limit; n++) {
        char suffix[24];
        int slen = snprintf(suffix, sizeof suffix, "-%zu", n);
        snprintf(name, BRAID_MAX_NAME + 1, "%.*s%s", BRAID_MAX_NAME - slen, msg->name, suffix);
        if (!zhashx_lookup(self->workers_by_name, name)) {
            braid_warning("worker name taken, renamed name=%s as=%s host=%s pid=%u "
                          "(taken by host=%s pid=%u)",
                          msg->name, name, msg->host, msg->pid, other->host, other->pid);
            return 0;
        }
    }
    return -1;
}

/*  HELLO: a worker joins (again: what it ran is handed back first).        */
static void
s_on_hello(braid_broker_t *self, zframe_t *rid, const char *key, const braid_msg_t *msg)
{
    s_worker_t *w = zhashx_lookup(self->workers_by_rid, key);
    if (w) {
        /*  The same connection says HELLO again: it dropped its tasks.     */
        s_worker_remove(self, w, false, "worker restarted");
    }
    if (zhashx_size(self->workers_by_rid) >= self->cfg.max_workers) {
        /*  A registry peers fill is bounded: a worker that left or was
            reaped makes room again.                                        */
        braid_debug("worker refused: max_workers=%u reached name=%s", self->cfg.max_workers,
                    msg->name);
        return;
    }
    char name[BRAID_MAX_NAME + 1];
    if (s_unique_name(self, msg, name) != 0) {
        braid_warning("worker refused: no free name name=%s", msg->name);
        return;
    }
    w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->rid = zframe_dup(rid);
    w->key = strdup(key);
    w->name = braid_name_new(name);
    if (!w->rid || !w->key || !w->name) {
        s_worker_free(&w);
        return;
    }
    snprintf(w->host, sizeof w->host, "%s", msg->host);
    snprintf(w->version, sizeof w->version, "%s", msg->version);
    snprintf(w->peer, sizeof w->peer, "%s", msg->peer);
    w->pid = msg->pid;
    w->slots = msg->slots;
    if (w->slots > self->cfg.max_slots_per_worker) {
        braid_warning("worker slots capped name=%s slots=%u max_slots_per_worker=%u", name,
                      msg->slots, self->cfg.max_slots_per_worker);
        w->slots = self->cfg.max_slots_per_worker;
    }
    w->last_seen_msec = self->now;
    uint16_t gids[BRAID_MAX_SOURCES];
    uint8_t flags[BRAID_MAX_SOURCES];
    uint32_t ngids = 0;
    char list[BRAID_MAX_SOURCES * (BRAID_MAX_NAME + 1) + 1] = "";
    for (uint32_t i = 0; i < msg->nsources; i++) {
        const char *source = msg->sources[i];
        int id = braid_sched_source_add(self->sched, source,
                                        braid_broker_config_policy(&self->cfg, source), self->now);
        if (id < 0) {
            braid_warning("source table full, ignoring source=%s worker=%s", source, s_name(w));
            continue;
        }
        if (ngids)
            strcat(list, ",");
        flags[ngids] = (uint8_t) msg->source_flags[i];
        gids[ngids++] = (uint16_t) id;
        strcat(list, source);
    }
    /*  The worker takes over the sources' references: they go with it.   */
    w->number = braid_sched_worker_add(self->sched, w->slots, gids, ngids, w);
    if (w->number < 0) {
        for (uint32_t i = 0; i < ngids; i++)
            braid_sched_source_unref(self->sched, gids[i]);
        s_worker_free(&w);
        return;
    }
    if (zhashx_insert(self->workers_by_name, s_name(w), w) != 0) {
        braid_sched_worker_remove(self->sched, w->number);
        s_worker_free(&w);
        return;
    }
    braid_sched_worker_set_flags(self->sched, w->number, flags);
    zhashx_insert(self->workers_by_rid, w->key, w);
    braid_info("worker joined name=%s slots=%u sources=%s host=%s pid=%u version=%s", s_name(w),
               w->slots, list, w->host, w->pid, w->version);
}

/*  A heartbeat lists what the worker runs: it acknowledges those tasks,
    shows a DONE that never came (a task missing twice), and a data loss
    (the worker is ahead of what arrived, twice with no progress).          */
static void
s_on_worker_heartbeat(braid_broker_t *self, s_worker_t *w, zmsg_t *payload)
{
    zframe_t *frame = zmsg_first(payload);
    const uint8_t *p = zframe_data(frame);
    size_t n = zframe_size(frame) / BRAID_HEARTBEAT_ENTRY;
    for (uint32_t i = 0; i < braid_slots_running(self->slots, w->number); i++)
        braid_slots_at(self->slots, w->number, i)->missing++;
    for (size_t e = 0; e < n; e++, p += BRAID_HEARTBEAT_ENTRY) {
        braid_hb_entry_t entry;
        braid_hb_entry_get(p, &entry);
        braid_slot_t *slot = braid_slots_find(self->slots, entry.task_id);
        if (!slot || slot->worker != w->number || slot->attempt != entry.attempt)
            continue;
        slot->acked = true;
        slot->missing = 0;
        braid_sched_job_t *sj = braid_sched_job_of(self->sched, entry.task_id);
        if (!sj)
            continue;
        uint32_t idx = braid_task_index(entry.task_id);
        uint64_t recv = braid_job_received_parts(sj->job, idx);
        if (entry.next_seq > recv && slot->hb_seq == entry.next_seq && slot->hb_recv == recv) {
            /*  Partials the worker sent never came, and nothing moved.     */
            self->counters.gaps++;
            braid_warning("partials lost, task again job=%s task=%u", braid_frontend_job_key(sj),
                          idx);
            braid_backend_cancel_task(self, entry.task_id, entry.attempt);
            braid_backend_task_retry(self, sj, idx, entry.attempt, true, "partials lost");
            self->pump_all = true;
            continue;
        }
        /*  No progress, all it sent arrived, and more was granted than it
            has used: the grant may have been lost. Credit is absolute, so
            sending it again is harmless.                                   */
        uint64_t granted = braid_job_granted(sj->job, idx);
        if (slot->hb_seq == entry.next_seq && entry.next_seq == recv && granted > entry.next_seq)
            braid_backend_grant(self, sj->job, entry.task_id, entry.attempt, granted,
                                braid_job_granted_bytes(sj->job, idx));
        slot->hb_seq = entry.next_seq;
        slot->hb_recv = recv;
    }
    /*  Missing twice, sent before the last interval: its DONE was lost.   */
    for (uint32_t i = 0; i < braid_slots_running(self->slots, w->number);) {
        braid_slot_t *slot = braid_slots_at(self->slots, w->number, i);
        if (slot->missing < 2 || !slot->acked ||
            self->now - slot->sent_msec <= (int64_t) self->cfg.heartbeat_msec) {
            i++;
            continue;
        }
        uint64_t task_id = slot->task_id;
        uint32_t idx = braid_task_index(task_id), attempt = slot->attempt;
        braid_sched_job_t *sj = braid_sched_job_of(self->sched, task_id);
        if (sj) {
            braid_warning("task end lost, task again job=%s task=%u", braid_frontend_job_key(sj),
                          idx);
            braid_backend_task_retry(self, sj, idx, attempt, true, "end lost");
            self->pump_all = true;
        }
        /*  Freed by the retry, or here; the last slot has moved to i.      */
        braid_sched_release(self->sched, task_id, attempt);
    }
}

/*  RESET: a worker we do not know must say HELLO.                          */
static void
s_send_reset(braid_broker_t *self, zframe_t *rid)
{
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_RESET);
    braid_msg_send(self->backend, rid, &msg, NULL, true);
}

void
braid_backend_on_message(braid_broker_t *self)
{
    braid_msg_t msg;
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    if (braid_broker_recv(self, self->backend, &msg, &rid, &payload) != 0)
        return;
    char *key = braid_broker_hex(rid, NULL);
    if (!key)
        goto done;
    if (msg.type == BRAID_MSG_HELLO) {
        s_on_hello(self, rid, key, &msg);
        goto done;
    }
    s_worker_t *w = zhashx_lookup(self->workers_by_rid, key);
    if (!w) {
        /*  Expired, or from before a broker restart: it must say HELLO.    */
        self->counters.unknown++;
        if (msg.type != BRAID_MSG_BYE)
            s_send_reset(self, rid);
        goto done;
    }
    w->last_seen_msec = self->now;
    switch (msg.type) {
    case BRAID_MSG_TASK_ACK: {
        braid_slot_t *slot = braid_slots_find(self->slots, msg.task_id);
        if (slot && slot->worker == w->number && slot->attempt == msg.attempts)
            slot->acked = true;
        break;
    }
    case BRAID_MSG_WHEARTBEAT:
        s_on_worker_heartbeat(self, w, payload);
        break;
    case BRAID_MSG_BYE:
        braid_info("worker left name=%s running=%u", s_name(w),
                   braid_slots_running(self->slots, w->number));
        s_worker_remove(self, w, false, "worker left");
        break;
    default:
        break;
    }
done:
    free(key);
    zmsg_destroy(&payload);
    zframe_destroy(&rid);
}

/*  ---------------------------------------------------------------------
    What the scheduler decides, sent                                       */

/*  A latency sample for task idx's source.                                 */
static void
s_measure(braid_broker_t *self, braid_sched_job_t *sj, uint32_t idx, braid_latency_t which,
          uint64_t msec)
{
    uint16_t gid = sj->gid[idx % braid_job_nsources(sj->job)];
    braid_source_figures_t *fig = braid_sched_source_figures(self->sched, gid);
    if (fig)
        braid_source_figures_latency(fig, which, self->now, msec);
}

/*  A fresh attempt token: 64 bits from the kernel's CSPRNG, never 0. 0, or
    -1 when the kernel gives none. The kernel is asked for a batch of them
    at a time (one getrandom() per S_TOKEN_BATCH tasks, not one per task);
    each token is used once and wiped from the batch as it is taken.      */
#define S_TOKEN_BATCH 32     /* 256 bytes: getrandom() gives them whole */
static int
s_token(uint64_t *token)
{
    static uint64_t batch[S_TOKEN_BATCH];
    static size_t left = 0;
    for (int tries = 0; tries < 4; tries++) {
        if (left == 0) {
            ssize_t n = getrandom(batch, sizeof batch, 0);
            if (n != (ssize_t) sizeof batch)
                return -1;
            left = S_TOKEN_BATCH;
        }
        uint64_t value = batch[--left];
        batch[left] = 0;
        if (value != 0) {
            *token = value;
            return 0;
        }
    }
    return -1;
}

/*  Send the TASK the scheduler started on worker number.                   */
static void
s_start_task(void *arg, braid_sched_job_t *sj, uint32_t idx, int32_t number,
             const braid_sched_task_t *task)
{
    braid_broker_t *self = arg;
    s_worker_t *w = s_worker(self, number);
    uint64_t waited = braid_joblog_start(braid_frontend_joblog(sj), idx, w->name, self->now);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK);
    msg.task_id = task->task_id;
    msg.attempts = task->attempt;
    msg.resume = task->resume;
    msg.window = task->window;
    msg.window_bytes = task->window_bytes;
    msg.timeout_msec = task->timeout_msec;
    braid_slot_t *slot = braid_slots_find(self->slots, task->task_id);
    int err = ENOMEM;
    if (!slot || s_token(&msg.token) != 0)
        goto unsent;
    slot->token = msg.token;
    snprintf(msg.name, sizeof msg.name, "%s",
             braid_job_source_name(sj->job, idx % braid_job_nsources(sj->job)));
    size_t qlen;
    const char *query = braid_job_query(sj->job, idx, &qlen);
    if (braid_msg_send_mem(self->backend, w->rid, &msg, query, qlen, true) == 0) {
        if (task->attempt == 1)
            s_measure(self, sj, idx, BRAID_LATENCY_QUEUE_WAIT, waited);
        return;
    }
    err = errno;
unsent:
    /*  Not queued: it reached nobody, so it goes back without counting as
        a retry. A worker whose connection is gone (EHOSTUNREACH) is lost
        now, not after its liveness timeout.                                */
    braid_debug("cannot send task worker=%s errno=%d", s_name(w), err);
    braid_backend_task_retry(self, sj, idx, task->attempt, false, "worker unreachable");
    if (err == EHOSTUNREACH) {
        braid_info("worker expired name=%s reason=unreachable running=%u", s_name(w),
                   braid_slots_running(self->slots, number));
        s_worker_remove(self, w, true, "worker lost");
    }
    self->pump_all = true;
}

/*  Cancel the task the scheduler preempts for a head of line.              */
static void
s_preempt_task(void *arg, const braid_slot_t *victim, braid_sched_job_t *sj, uint32_t head)
{
    braid_info("preempting task=%u job=%u for head task=%u job=%s",
               braid_task_index(victim->task_id), braid_task_serial(victim->task_id), head,
               braid_frontend_job_key(sj));
    braid_backend_cancel_task(arg, victim->task_id, victim->attempt);
}

const braid_sched_io_t braid_backend_sched_io = {s_start_task, s_preempt_task};

/*  ---------------------------------------------------------------------
    Results                                                                */

/*  DONE: what it did to the task (braid_sched_done), counted.              */
static void
s_on_done(braid_broker_t *self, braid_sched_job_t *sj, const braid_msg_t *msg)
{
    uint32_t idx = braid_task_index(msg->task_id);
    int64_t sent_msec = -1;
    if (braid_job_running(sj->job, idx, msg->attempts)) {
        /*  The attempt's end, for the job log (a later attempt replaces it). */
        braid_joblog_end(braid_frontend_joblog(sj), idx, msg->exit_value, self->now);
        braid_slot_t *slot = braid_slots_find(self->slots, msg->task_id);
        if (slot && slot->attempt == msg->attempts)
            sent_msec = slot->sent_msec;
    }
    braid_sched_done_t rc = braid_sched_done(self->sched, sj, msg, self->now);
    switch (rc) {
    case BRAID_SCHED_STALE:
        self->counters.stale++;
        return;
    case BRAID_SCHED_CONFIRMED:
        return;
    case BRAID_SCHED_GAP:
        self->counters.gaps++;
        break;
    case BRAID_SCHED_TAKEN_BACK:
        break;
    case BRAID_SCHED_ENDED:
        if (sent_msec >= 0)
            s_measure(self, sj, idx, BRAID_LATENCY_DURATION, (uint64_t) (self->now - sent_msec));
        break;
    }
    if (rc != BRAID_SCHED_ENDED)
        braid_debug("task taken back job=%s task=%u attempt=%u status=%s gap=%d",
                    braid_frontend_job_key(sj), braid_task_index(msg->task_id), msg->attempts,
                    braid_status_name((int) msg->status), rc == BRAID_SCHED_GAP);
    braid_frontend_check_fail_fast(self, sj);
}

/*  Partials of msg's attempt were accepted, the task having received
    before of them: the attempt's first ones are a latency sample.          */
static void
s_first_partial(braid_broker_t *self, braid_sched_job_t *sj, const braid_msg_t *msg,
                uint64_t before)
{
    braid_slot_t *slot = braid_slots_find(self->slots, msg->task_id);
    if (slot && slot->attempt == msg->attempts && before == slot->resume)
        s_measure(self, sj, braid_task_index(msg->task_id), BRAID_LATENCY_FIRST_PARTIAL,
                  (uint64_t) (self->now - slot->sent_msec));
}

/*  True if a result comes from the holder of its task: the task holds a
    slot for the result's attempt, under the result's token, and (with
    CURVE) the result's sender is the key of the worker holding the slot.
    False, counted, otherwise: forged when the task and attempt are held,
    stale or unknown when not.                                              */
static bool
s_from_holder(braid_broker_t *self, const braid_msg_t *msg)
{
    braid_slot_t *slot = braid_slots_find(self->slots, msg->task_id);
    if (slot && slot->attempt == msg->attempts) {
        s_worker_t *w = s_worker(self, slot->worker);
        if (slot->token == msg->token && w && streq(w->peer, msg->peer))
            return true;
        self->counters.forged++;
        braid_debug("sink: dropped forged result task=%" PRIu64 " attempt=%u", msg->task_id,
                    msg->attempts);
        return false;
    }
    /*  Not held: an older attempt's (stale), or a task id never given out. */
    uint32_t serial = braid_task_serial(msg->task_id);
    if (serial && serial <= self->next_serial)
        self->counters.stale++;
    else
        self->counters.unknown++;
    return false;
}

void
braid_backend_on_result(braid_broker_t *self)
{
    braid_msg_t msg;
    zmsg_t *payload = NULL;
    if (braid_broker_recv(self, self->sink, &msg, NULL, &payload) != 0)
        return;
    braid_sched_job_t *sj = braid_sched_job_of(self->sched, msg.task_id);
    if (sj && !s_from_holder(self, &msg)) {
        zmsg_destroy(&payload);
        return;
    }
    if (!sj) {
        /*  A job that is gone (a late result of a cancelled task) is stale;
            a task id the broker never gave out is unknown.                 */
        uint32_t serial = braid_task_serial(msg.task_id);
        if (serial && serial <= self->next_serial)
            self->counters.stale++;
        else
            self->counters.unknown++;
        zmsg_destroy(&payload);
        return;
    }
    braid_job_t *job = sj->job;
    uint32_t idx = braid_task_index(msg.task_id);
    /*  A keyed result's last frame is its keys frame (checked on receive):
        the job keeps the keys, the client never sees the frame.           */
    static braid_key_t keys[BRAID_MAX_BATCH];
    zframe_t *keys_frame = msg.keyed ? zmsg_last(payload) : NULL;
    if (keys_frame) {
        zmsg_remove(payload, keys_frame);
        if (braid_keys_decode(zframe_data(keys_frame), zframe_size(keys_frame),
                              braid_parts_frame_count(zmsg_first(payload)), keys) != BRAID_OK)
            zframe_destroy(&keys_frame);    /* cannot be: checked on receive */
    }
    uint64_t before = braid_job_received_parts(job, idx);
    if (msg.type == BRAID_MSG_DATA) {
        braid_job_result_t result = braid_job_data_keyed(job, idx, msg.attempts, msg.seq, &payload,
                                                         keys_frame ? keys : NULL);
        if (result == BRAID_JOB_ACCEPTED)
            s_first_partial(self, sj, &msg, before);
        else if (result == BRAID_JOB_STALE)
            self->counters.stale++;
        else if (result == BRAID_JOB_GAP) {
            /*  The attempt's stream has a hole: stop it, run it again.    */
            self->counters.gaps++;
            braid_warning("result stream gap job=%s task=%u", braid_frontend_job_key(sj), idx);
            braid_backend_cancel_task(self, msg.task_id, msg.attempts);
            braid_backend_task_retry(self, sj, idx, msg.attempts, true, "result stream gap");
        }
    } else {
        /*  The task's last partials may ride on its DONE (a parts frame). */
        size_t n = braid_parts_frame_count(zmsg_first(payload));
        if (n > 0 && braid_job_running(job, idx, msg.attempts)) {
            braid_job_result_t result =
                msg.parts < n ? BRAID_JOB_GAP
                              : braid_job_data_keyed(job, idx, msg.attempts, msg.parts - n,
                                                     &payload, keys_frame ? keys : NULL);
            if (result == BRAID_JOB_ACCEPTED)
                s_first_partial(self, sj, &msg, before);
            else if (result == BRAID_JOB_GAP) {
                self->counters.gaps++;
                braid_warning("result stream gap job=%s task=%u", braid_frontend_job_key(sj),
                              idx);
            }
        }
        s_on_done(self, sj, &msg);
    }
    zframe_destroy(&keys_frame);
    zmsg_destroy(&payload);
    braid_frontend_job_pump(self, sj);
}

/*  ---------------------------------------------------------------------
    Liveness                                                               */

/*  A worker's slots, once a tick: cancels for heads sent again, TASKs
    neither acknowledged nor in a heartbeat run elsewhere.                  */
static void
s_check_slots(braid_broker_t *self, s_worker_t *w)
{
    /*  A cancel made for a head may have been lost: it is idempotent.     */
    for (uint32_t t = 0; t < braid_slots_running(self->slots, w->number); t++) {
        braid_slot_t *slot = braid_slots_at(self->slots, w->number, t);
        if (slot->preempted)
            braid_backend_cancel_task(self, slot->task_id, slot->attempt);
    }
    for (uint32_t t = 0; t < braid_slots_running(self->slots, w->number);) {
        braid_slot_t *slot = braid_slots_at(self->slots, w->number, t);
        if (slot->acked || self->now - slot->sent_msec <= (int64_t) self->cfg.ack_timeout_msec) {
            t++;
            continue;
        }
        uint64_t task_id = slot->task_id;
        uint32_t idx = braid_task_index(task_id), attempt = slot->attempt;
        braid_sched_job_t *sj = braid_sched_job_of(self->sched, task_id);
        /*  Partials of this attempt arrived: the worker has it.            */
        if (sj && braid_job_received_parts(sj->job, idx) > slot->resume &&
            braid_job_attempt(sj->job, idx) == attempt) {
            slot->acked = true;
            t++;
            continue;
        }
        braid_backend_cancel_task(self, task_id, attempt);
        if (sj) {
            braid_warning("task not acknowledged, task again job=%s task=%u worker=%s",
                          braid_frontend_job_key(sj), idx, s_name(w));
            braid_backend_task_retry(self, sj, idx, attempt, true, "task not acknowledged");
            self->pump_all = true;
        }
        /*  Freed by the retry, or here; the last slot has moved to t.      */
        braid_sched_release(self->sched, task_id, attempt);
    }
}

void
braid_backend_tick(braid_broker_t *self)
{
    braid_msg_t beat;
    braid_msg_init(&beat, BRAID_MSG_BHEARTBEAT);
    for (uint32_t i = 0; i < braid_sched_nworkers(self->sched); i++) {
        s_worker_t *w = s_worker(self, (int32_t) i);
        if (!w)
            continue;
        int64_t idle = self->now - w->last_seen_msec;
        if (idle > (int64_t) self->cfg.worker_liveness_msec) {
            braid_info("worker expired name=%s idle_msec=%" PRId64 " running=%u", s_name(w), idle,
                       braid_slots_running(self->slots, w->number));
            s_worker_remove(self, w, true, "worker lost");
            continue;
        }
        s_send_worker(self, w, &beat);
        s_check_slots(self, w);
    }
}

/*  ---------------------------------------------------------------------
    Life cycle                                                             */

int
braid_backend_init(braid_broker_t *self)
{
    self->workers_by_rid = zhashx_new();
    self->workers_by_name = zhashx_new();
    return self->workers_by_rid && self->workers_by_name ? 0 : -1;
}

void
braid_backend_fini(braid_broker_t *self)
{
    for (uint32_t i = 0; self->sched && i < braid_sched_nworkers(self->sched); i++) {
        s_worker_t *w = s_worker(self, (int32_t) i);
        s_worker_free(&w);
    }
    zhashx_destroy(&self->workers_by_rid);
    zhashx_destroy(&self->workers_by_name);
}

uint32_t
braid_backend_collect(braid_broker_t *self, braid_stats_worker_t *list, uint32_t max)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < braid_sched_nworkers(self->sched) && n < max; i++) {
        s_worker_t *w = s_worker(self, (int32_t) i);
        if (!w)
            continue;
        braid_stats_worker_t *line = &list[n++];
        memset(line, 0, sizeof *line);
        line->name = s_name(w);
        line->host = w->host;
        line->version = w->version;
        line->pid = w->pid;
        line->slots = w->slots;
        uint32_t held = braid_slots_running(self->slots, w->number);
        line->running = held < w->slots ? held : w->slots;
        line->queued = held - line->running;
        uint32_t ngids = 0;
        const uint16_t *gids = braid_sched_worker_sources(self->sched, w->number, &ngids);
        for (uint32_t g = 0; g < ngids && g < BRAID_MAX_SOURCES; g++)
            line->sources[line->nsources++] = braid_sched_source_name(self->sched, gids[g]);
        line->idle_msec = self->now - w->last_seen_msec;
    }
    return n;
}
