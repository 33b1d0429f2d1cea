/*  broker.c - the braid broker: sockets, event loop, dispatch, liveness.   */

#include "broker.h"

#include "braid_log.h"
#include "braid_msg.h"
#include "job.h"
#include "stats.h"
#include "timers.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define S_MAX_GLOBAL_SOURCES 1024   /* distinct source names ever seen     */
#define S_DRAIN_MAX 512             /* messages handled per socket a turn  */
#define S_RETRY_MSEC 2              /* retry a blocked client after        */
#define S_FRONTEND_HWM 200000       /* > the sum of client credit windows  */
#define S_BACKEND_HWM 20000
#define S_SINK_HWM 100000
#define S_STOP_GRACE_MSEC 2000      /* after a drain: wait for cancels     */
/*  Nothing a client sends is longer than a query or a header.              */
#define S_FRONTEND_MAX_FRAME (BRAID_MAX_HEADER + BRAID_MAX_QUERY_LEN)

/*  Timer kinds.                                                            */
enum { S_TIMER_RETRY = 1, S_TIMER_DEADLINE = 2 };

/*  A task as its worker holds it.                                          */
typedef struct {
    uint64_t task_id;
    uint32_t attempt;
    uint16_t gid;               /* global source id                        */
    bool acked;                 /* TASK_ACK or listed in a heartbeat       */
    bool preempted;             /* cancelled to free the slot for a head   */
    uint8_t missing;            /* heartbeats in a row that left it out    */
    int64_t sent_msec;          /* when the TASK went out                  */
    uint64_t hb_seq;            /* next seq the last heartbeat reported    */
    uint64_t hb_recv;           /* parts received when it was reported     */
    uint64_t resume;            /* parts received when the TASK went out   */
} s_slot_t;

/*  A worker with n slots runs n tasks and holds n more queued, so it never
    waits a round trip for its next task (PROTOCOL.md, "A worker" 2).       */
#define S_CAPACITY(slots) (2 * (slots))

/*  A registered worker.                                                    */
typedef struct {
    zframe_t *rid;              /* its routing id on the backend           */
    char *key;                  /* hex of rid, key in workers_by_rid       */
    char name[BRAID_MAX_NAME + 1];
    uint32_t slots;
    uint32_t nsrc;
    uint16_t src[BRAID_MAX_SOURCES];    /* global source ids it serves     */
    int64_t last_seen_msec;
    s_slot_t *tasks;            /* the tasks it holds, [0, running)        */
    uint32_t running;
    uint64_t *index_keys;       /* task id -> position in tasks            */
    uint32_t *index_pos;
    uint32_t index_mask;
} s_worker_t;

/*  A client that has talked to us.                                         */
typedef struct {
    char *key;                  /* hex of its routing id                   */
    int64_t last_seen_msec;
    uint32_t jobs;              /* open jobs                               */
} s_client_t;

/*  A job as the broker sees it: the job plus its client.                   */
typedef struct s_job_t s_job_t;
struct s_job_t {
    s_job_t *prev, *next;       /* the broker's list of jobs               */
    braid_job_t *job;
    zframe_t *client;           /* client routing id on the frontend       */
    char *key;                  /* hex(client)/hex(job id)                 */
    s_client_t *owner;
    uint16_t gid[BRAID_MAX_SOURCES];    /* global id of each job source    */
    bool blocked;               /* the client could not take more now      */
    bool silent;                /* emit nothing more (client gone or bad)  */
    bool stopped;               /* ended early: cancel, deadline, ...      */
};

/*  A source: its name and its limiter.                                     */
typedef struct {
    char *name;
    braid_limiter_t limiter;
} s_source_t;

struct braid_broker_t {
    braid_broker_config_t cfg;
    zsock_t *frontend;
    zsock_t *backend;
    zsock_t *sink;
    char *endpoint[3];

    s_worker_t **workers;       /* index = worker number; NULL = free      */
    uint32_t nworkers;
    zhashx_t *workers_by_rid;   /* hex rid -> s_worker_t                   */

    zhashx_t *source_ids;       /* name -> global id + 1                   */
    s_source_t sources[S_MAX_GLOBAL_SOURCES];
    uint32_t nsources;

    s_job_t *jobs_head;         /* all open jobs, oldest first             */
    s_job_t *jobs_tail;
    s_job_t *rr;                /* round robin: the job to serve first     */
    size_t njobs;
    zhashx_t *jobs_by_key;      /* client/job id -> s_job_t                */
    zhashx_t *jobs_by_serial;   /* serial -> s_job_t                       */
    zhashx_t *clients;          /* client key -> s_client_t                */
    uint32_t next_serial;

    braid_timers_t *timers;
    int64_t now;                /* this turn's clock, msec                 */
    int64_t next_tick;
    s_job_t *pumping;           /* the job s_job_pump works on             */
    uint32_t preempting;        /* slots cancelled for a head, not yet back */
    s_job_t *last_job;          /* the job of the last result (a cache)    */
    bool dispatch_due;
    bool pump_all;              /* some job changed outside a pump         */
    uint32_t blocked_jobs;
    bool draining;
    bool watchdog;              /* systemd watchdog is on                  */
    int64_t drain_until;
    unsigned int seed;          /* jitter                                  */

    braid_counters_t counters;
    uint64_t tasks_dispatched;
    uint64_t tasks_done;
    uint64_t retries;
};

static void
s_dispatch_later(braid_broker_t *self)
{
    self->dispatch_due = true;
}

/*  ---------------------------------------------------------------------
    Small helpers                                                          */

static char *
s_hex(const uint8_t *data, size_t size, const uint8_t *data2, size_t size2)
{
    static const char digits[] = "0123456789abcdef";
    char *hex = malloc((size + size2) * 2 + 2);
    if (!hex)
        return NULL;
    char *p = hex;
    for (size_t i = 0; i < size; i++) {
        *p++ = digits[data[i] >> 4];
        *p++ = digits[data[i] & 15];
    }
    if (data2) {
        *p++ = '/';
        for (size_t i = 0; i < size2; i++) {
            *p++ = digits[data2[i] >> 4];
            *p++ = digits[data2[i] & 15];
        }
    }
    *p = 0;
    return hex;
}

static char *
s_frame_hex(zframe_t *frame, const uint8_t *job_id)
{
    return s_hex(zframe_data(frame), zframe_size(frame), job_id, job_id ? 16 : 0);
}

static size_t
s_serial_hash(const void *key)
{
    return (size_t) (uintptr_t) key;
}

static int
s_serial_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) a, y = (uintptr_t) b;
    return x < y ? -1 : x > y;
}

/*  Global id of a source name, registering it; -1 when unknown or full.    */
static int
s_source_id(braid_broker_t *self, const char *name, bool create)
{
    void *v = zhashx_lookup(self->source_ids, name);
    if (v)
        return (int) ((uintptr_t) v - 1);
    if (!create || self->nsources >= S_MAX_GLOBAL_SOURCES)
        return -1;
    uint32_t id = self->nsources;
    s_source_t *src = &self->sources[id];
    src->name = strdup(name);
    if (!src->name)
        return -1;
    braid_limiter_init(&src->limiter, braid_broker_config_policy(&self->cfg, name), self->now);
    zhashx_insert(self->source_ids, name, (void *) (uintptr_t) (id + 1));
    self->nsources++;
    return (int) id;
}

static bool
s_worker_serves(const s_worker_t *w, uint16_t gid)
{
    for (uint32_t i = 0; i < w->nsrc; i++)
        if (w->src[i] == gid)
            return true;
    return false;
}

/*  The least-loaded worker serving gid with a free slot, or -1. The
    source's own limits (concurrency, rate) are checked too.                */
static int32_t
s_pick_worker(braid_broker_t *self, uint16_t gid)
{
    if (!braid_limiter_allows(&self->sources[gid].limiter, self->now))
        return -1;
    int32_t best = -1;
    uint64_t best_load = 0;
    for (uint32_t i = 0; i < self->nworkers; i++) {
        s_worker_t *w = self->workers[i];
        if (!w || w->running >= S_CAPACITY(w->slots) || !s_worker_serves(w, gid))
            continue;
        /*  Load as a fraction of slots, compared without division.         */
        uint64_t load = ((uint64_t) w->running << 32) / w->slots;
        if (best < 0 || load < best_load) {
            best = (int32_t) i;
            best_load = load;
        }
    }
    return best;
}

static bool
s_source_served(braid_broker_t *self, uint16_t gid)
{
    for (uint32_t i = 0; i < self->nworkers; i++)
        if (self->workers[i] && s_worker_serves(self->workers[i], gid))
            return true;
    return false;
}

static s_job_t *
s_job_of_task(braid_broker_t *self, uint64_t task_id)
{
    uint32_t serial = (uint32_t) (task_id >> 32);
    if (!serial)
        return NULL;
    /*  Results come in runs of one job: skip the hash for a repeat.       */
    if (self->last_job && braid_job_serial(self->last_job->job) == serial)
        return self->last_job;
    s_job_t *ent = zhashx_lookup(self->jobs_by_serial, (void *) (uintptr_t) serial);
    if (ent)
        self->last_job = ent;
    return ent;
}

/*  ---------------------------------------------------------------------
    Worker slots: the broker's record of which worker runs what            */

/*  A worker's tasks sit in a dense array (walked by heartbeats and ticks)
    and are found by task id through an open-addressing index (linear
    probing, at most half full; task id 0 never occurs, so 0 marks an
    empty cell): a DONE costs the same whatever the number of slots.        */
static uint32_t
s_hash64(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return (uint32_t) key;
}

static uint32_t
s_index_cell(const s_worker_t *w, uint64_t task_id)
{
    uint32_t i = s_hash64(task_id) & w->index_mask;
    while (w->index_keys[i] && w->index_keys[i] != task_id)
        i = (i + 1) & w->index_mask;
    return i;
}

static void
s_index_put(s_worker_t *w, uint64_t task_id, uint32_t pos)
{
    uint32_t i = s_index_cell(w, task_id);
    w->index_keys[i] = task_id;
    w->index_pos[i] = pos;
}

static void
s_index_del(s_worker_t *w, uint64_t task_id)
{
    uint32_t i = s_index_cell(w, task_id);
    if (!w->index_keys[i])
        return;
    /*  Backward-shift deletion: pull later cells of the run into the hole
        when their home is not between the hole and them.                  */
    for (uint32_t j = i;;) {
        j = (j + 1) & w->index_mask;
        if (!w->index_keys[j])
            break;
        uint32_t home = s_hash64(w->index_keys[j]) & w->index_mask;
        if (((j - home) & w->index_mask) < ((j - i) & w->index_mask))
            continue;
        w->index_keys[i] = w->index_keys[j];
        w->index_pos[i] = w->index_pos[j];
        i = j;
    }
    w->index_keys[i] = 0;
}

static s_slot_t *
s_slot_find(s_worker_t *w, uint64_t task_id)
{
    uint32_t i = s_index_cell(w, task_id);
    return w->index_keys[i] ? &w->tasks[w->index_pos[i]] : NULL;
}

/*  Record that w holds task_id; the new slot is returned zeroed.          */
static s_slot_t *
s_slot_add(s_worker_t *w, uint64_t task_id)
{
    uint32_t pos = w->running++;
    s_slot_t *slot = &w->tasks[pos];
    memset(slot, 0, sizeof *slot);
    slot->task_id = task_id;
    s_index_put(w, task_id, pos);
    return slot;
}

/*  Forget that worker index runs task_id (DONE, retry, cancel confirmed).  */
static void
s_slot_release(braid_broker_t *self, int32_t index, uint64_t task_id)
{
    if (index < 0 || (uint32_t) index >= self->nworkers || !self->workers[index])
        return;
    s_worker_t *w = self->workers[index];
    s_slot_t *slot = s_slot_find(w, task_id);
    if (!slot)
        return;
    braid_limiter_stop(&self->sources[slot->gid].limiter);
    if (slot->preempted && self->preempting > 0)
        self->preempting--;
    uint32_t pos = (uint32_t) (slot - w->tasks);
    s_index_del(w, task_id);
    if (pos != --w->running) {
        *slot = w->tasks[w->running];
        s_index_put(w, slot->task_id, pos);
    }
    s_dispatch_later(self);
}

static int32_t
s_worker_index(braid_broker_t *self, s_worker_t *w)
{
    for (uint32_t i = 0; i < self->nworkers; i++)
        if (self->workers[i] == w)
            return (int32_t) i;
    return -1;
}

/*  ---------------------------------------------------------------------
    Jobs                                                                   */

static bool
s_payload_intact(zmsg_t **payload)
{
    return !payload || *payload;
}

static int
s_emit(void *arg, braid_job_t *job, const braid_msg_t *msg, zmsg_t **payload)
{
    braid_broker_t *self = arg;
    s_job_t *ent = self->pumping;
    (void) job;
    assert(ent && ent->job == job);
    if (ent->silent) {
        if (payload)
            zmsg_destroy(payload);
        return 0;
    }
    if (braid_msg_try_send(self->frontend, ent->client, msg, payload) == 0)
        return 0;
    if (errno == EAGAIN && s_payload_intact(payload)) {
        if (!ent->blocked) {
            ent->blocked = true;
            self->blocked_jobs++;
        }
        return -1;
    }
    /*  The client is gone (EHOSTUNREACH): nobody will read this job.       */
    braid_info("client gone job=%s errno=%d", ent->key, errno);
    ent->silent = true;
    if (payload)
        zmsg_destroy(payload);
    return 0;
}

static void
s_grant(void *arg, braid_job_t *job, uint64_t task_id, uint32_t attempt, int32_t worker,
        uint64_t window)
{
    (void) job;
    braid_broker_t *self = arg;
    if (worker < 0 || (uint32_t) worker >= self->nworkers || !self->workers[worker])
        return;
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK_CREDIT);
    msg.task_id = task_id;
    msg.attempts = attempt;
    msg.window = window;
    /*  A lost grant is repaired by the next one: credit is absolute.       */
    if (braid_msg_send(self->backend, self->workers[worker]->rid, &msg, NULL, true) != 0)
        braid_debug("cannot send credit worker=%s errno=%d", self->workers[worker]->name, errno);
}

static const braid_job_io_t s_io = {s_emit, s_grant};

static void
s_job_remove(braid_broker_t *self, s_job_t *ent)
{
    if (ent->blocked)
        self->blocked_jobs--;
    if (ent->owner && ent->owner->jobs > 0)
        ent->owner->jobs--;
    zhashx_delete(self->jobs_by_key, ent->key);
    zhashx_delete(self->jobs_by_serial, (void *) (uintptr_t) braid_job_serial(ent->job));
    if (self->rr == ent)
        self->rr = ent->next;
    if (self->last_job == ent)
        self->last_job = NULL;
    if (ent->prev)
        ent->prev->next = ent->next;
    else
        self->jobs_head = ent->next;
    if (ent->next)
        ent->next->prev = ent->prev;
    else
        self->jobs_tail = ent->prev;
    self->njobs--;
    braid_debug("job closed job=%s", ent->key);
    braid_job_destroy(&ent->job);
    zframe_destroy(&ent->client);
    free(ent->key);
    free(ent);
}

static void
s_job_stop(braid_broker_t *self, s_job_t *ent, uint32_t status, const char *text);
static void
s_check_fail_fast(braid_broker_t *self, s_job_t *ent);

/*  Emit what the job can, and close it when it is over.                    */
static void
s_job_pump(braid_broker_t *self, s_job_t *ent)
{
    if (ent->blocked) {
        ent->blocked = false;
        self->blocked_jobs--;
    }
    self->pumping = ent;
    braid_job_pump(ent->job, &s_io, self);
    if (ent->silent && !ent->stopped) {
        /*  Nobody reads this job any more: stop its work too.              */
        s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled: client gone");
        braid_job_pump(ent->job, &s_io, self);
    }
    self->pumping = NULL;
    if (braid_job_finished(ent->job))
        s_job_remove(self, ent);
}

static void
s_cancel_task(void *arg, uint64_t task_id, uint32_t attempt, int32_t worker)
{
    braid_broker_t *self = arg;
    if (worker < 0 || (uint32_t) worker >= self->nworkers || !self->workers[worker])
        return;
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK_CANCEL);
    msg.task_id = task_id;
    msg.attempts = attempt;
    if (braid_msg_send(self->backend, self->workers[worker]->rid, &msg, NULL, true) != 0)
        braid_warning("cannot send cancel worker=%s errno=%d", self->workers[worker]->name, errno);
}

/*  End the job early (client cancel, client lost, deadline, fail-fast,
    drain); the caller pumps.                                               */
static void
s_job_stop(braid_broker_t *self, s_job_t *ent, uint32_t status, const char *text)
{
    ent->stopped = true;
    braid_job_cancel(ent->job, status, text, s_cancel_task, self);
    s_dispatch_later(self);
}

/*  Policy of source s of the job.                                          */
static const braid_policy_t *
s_job_policy(braid_broker_t *self, s_job_t *ent, uint32_t idx)
{
    return &self->sources[ent->gid[idx % braid_job_nsources(ent->job)]].limiter.policy;
}

/*  Run task idx again after a failure or a hand-back: counted failures
    wait a backoff, hand-backs go at once.                                  */
static void
s_task_retry(braid_broker_t *self, s_job_t *ent, uint32_t idx, uint32_t attempt, bool counted,
             const char *why)
{
    const braid_policy_t *policy = s_job_policy(self, ent, idx);
    braid_job_policy_t jp = {policy->retries, policy->on_retry};
    int32_t worker;
    uint32_t retries;
    int rc = braid_job_retry(ent->job, idx, attempt, counted, why, &jp, &worker, &retries);
    uint64_t task_id = braid_task_id(braid_job_serial(ent->job), idx);
    s_slot_release(self, worker, task_id);
    if (rc == 0)
        s_check_fail_fast(self, ent);
    if (rc != 1)
        return;
    self->retries += counted;
    uint32_t delay = counted ? braid_policy_backoff(policy, retries,
                                                    (double) rand_r(&self->seed) / RAND_MAX)
                             : 0;
    braid_debug("task retry job=%s task=%u attempt=%u counted=%d delay_msec=%u why=%s", ent->key,
                idx, attempt, counted, delay, why);
    if (delay == 0) {
        braid_job_ready(ent->job, idx);
        s_dispatch_later(self);
    } else
        braid_timers_add(self->timers, self->now + delay, S_TIMER_RETRY,
                         braid_job_serial(ent->job), idx);
}

/*  After a task ended: fail-fast stops the rest.                           */
static void
s_check_fail_fast(braid_broker_t *self, s_job_t *ent)
{
    if ((braid_job_flags(ent->job) & BRAID_FLAG_FAIL_FAST) && braid_job_failures(ent->job) > 0)
        s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled: fail-fast");
}

static void
s_send_error(braid_broker_t *self, zframe_t *client, const uint8_t *job_id, uint32_t code,
             const char *text)
{
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_ERROR);
    if (job_id)
        memcpy(msg.job_id, job_id, 16);
    msg.code = code;
    snprintf(msg.text, sizeof msg.text, "%s", text);
    self->counters.rejected++;
    if (braid_msg_send(self->frontend, client, &msg, NULL, true) != 0)
        braid_debug("cannot send error errno=%d", errno);
}

static void
s_send_accept(braid_broker_t *self, zframe_t *client, const uint8_t *job_id)
{
    braid_msg_t accept;
    braid_msg_init(&accept, BRAID_MSG_ACCEPT);
    memcpy(accept.job_id, job_id, 16);
    if (braid_msg_send(self->frontend, client, &accept, NULL, true) != 0)
        braid_debug("cannot send accept errno=%d", errno);
}

/*  Check a SUBMIT against the broker's rules; 0 if it may open, else the
    error code with text filled in.                                         */
static uint32_t
s_submit_refusal(braid_broker_t *self, s_client_t *client, const braid_msg_t *msg, uint16_t *gid,
                 char *text, size_t size)
{
    if (self->draining) {
        snprintf(text, size, "broker is stopping: not accepting jobs");
        return BRAID_ERR_CODE_UNAVAILABLE;
    }
    if (msg->order == BRAID_ORDER_KEY) {
        snprintf(text, size, "order 'key' is not supported by this broker");
        return BRAID_ERR_CODE_BAD_REQUEST;
    }
    if (client->jobs >= self->cfg.max_jobs_per_client) {
        snprintf(text, size, "too many open jobs for this client (limit %u)",
                 self->cfg.max_jobs_per_client);
        return BRAID_ERR_CODE_TOO_MANY;
    }
    if (msg->count > self->cfg.max_queries_per_job) {
        snprintf(text, size, "too many queries: %u, limit %u", msg->count,
                 self->cfg.max_queries_per_job);
        return BRAID_ERR_CODE_BAD_REQUEST;
    }
    uint64_t tasks = (uint64_t) msg->count * msg->nsources;
    if (tasks > self->cfg.max_tasks_per_job) {
        snprintf(text, size, "too many tasks: %" PRIu64 " (queries x sources), limit %" PRIu64,
                 tasks, self->cfg.max_tasks_per_job);
        return BRAID_ERR_CODE_BAD_REQUEST;
    }
    for (uint32_t s = 0; s < msg->nsources; s++) {
        for (uint32_t t = 0; t < s; t++)
            if (streq(msg->sources[s], msg->sources[t])) {
                snprintf(text, size, "source '%s' is named twice", msg->sources[s]);
                return BRAID_ERR_CODE_BAD_REQUEST;
            }
        int id = s_source_id(self, msg->sources[s], false);
        if (id < 0 || !s_source_served(self, (uint16_t) id)) {
            snprintf(text, size, "no worker serves source '%s'", msg->sources[s]);
            return BRAID_ERR_CODE_BAD_REQUEST;
        }
        gid[s] = (uint16_t) id;
    }
    return 0;
}

static void
s_on_submit(braid_broker_t *self, zframe_t *client, s_client_t *owner, const braid_msg_t *msg)
{
    char *key = s_frame_hex(client, msg->job_id);
    if (!key)
        return;
    s_job_t *ent = zhashx_lookup(self->jobs_by_key, key);
    if (ent) {
        if (braid_job_same(ent->job, msg))
            s_send_accept(self, client, msg->job_id);
        else
            s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_CONFLICT,
                         "job id already open with other parameters");
        free(key);
        return;
    }
    uint16_t gid[BRAID_MAX_SOURCES];
    char text[BRAID_MAX_TEXT + 1];
    uint32_t code = s_submit_refusal(self, owner, msg, gid, text, sizeof text);
    if (code) {
        s_send_error(self, client, msg->job_id, code, text);
        free(key);
        return;
    }
    ent = calloc(1, sizeof *ent);
    uint32_t serial = ++self->next_serial;
    if (serial == 0)
        serial = ++self->next_serial;
    if (ent) {
        ent->job = braid_job_new(msg, serial, self->cfg.max_tasks_per_job, self->cfg.window);
        ent->client = zframe_dup(client);
    }
    if (!ent || !ent->job || !ent->client) {
        if (ent) {
            braid_job_destroy(&ent->job);
            zframe_destroy(&ent->client);
            free(ent);
        }
        free(key);
        s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_UNAVAILABLE, "out of memory");
        return;
    }
    memcpy(ent->gid, gid, sizeof gid);
    ent->key = key;
    ent->owner = owner;
    owner->jobs++;
    zhashx_insert(self->jobs_by_key, ent->key, ent);
    zhashx_insert(self->jobs_by_serial, (void *) (uintptr_t) serial, ent);
    ent->prev = self->jobs_tail;
    if (self->jobs_tail)
        self->jobs_tail->next = ent;
    else
        self->jobs_head = ent;
    self->jobs_tail = ent;
    self->njobs++;
    if (msg->deadline_msec)
        braid_timers_add(self->timers, self->now + msg->deadline_msec, S_TIMER_DEADLINE, serial,
                         0);
    braid_debug("job open job=%s queries=%u sources=%u", ent->key, msg->count, msg->nsources);
    s_send_accept(self, client, msg->job_id);
}

static s_job_t *
s_find_job(braid_broker_t *self, zframe_t *client, const uint8_t *job_id)
{
    char *key = s_frame_hex(client, job_id);
    if (!key)
        return NULL;
    s_job_t *ent = zhashx_lookup(self->jobs_by_key, key);
    free(key);
    return ent;
}

/*  The client record for a routing id, created on first contact.           */
static s_client_t *
s_client(braid_broker_t *self, zframe_t *rid)
{
    char *key = s_frame_hex(rid, NULL);
    if (!key)
        return NULL;
    s_client_t *c = zhashx_lookup(self->clients, key);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            free(key);
            return NULL;
        }
        c->key = key;
        zhashx_insert(self->clients, key, c);
    } else
        free(key);
    c->last_seen_msec = self->now;
    return c;
}

/*  The STATS reply's JSON: owned, NULL on allocation failure.              */
static char *
s_stats_json(braid_broker_t *self)
{
    braid_stats_t stats = {0};
    stats.sources = calloc(self->nsources ? self->nsources : 1, sizeof *stats.sources);
    if (!stats.sources)
        return NULL;
    for (uint32_t i = 0; i < self->nworkers; i++)
        if (self->workers[i]) {
            stats.workers++;
            stats.slots += self->workers[i]->slots;
            stats.running += self->workers[i]->running;
        }
    for (s_job_t *ent = self->jobs_head; ent; ent = ent->next)
        stats.queued += braid_job_queued(ent->job);
    stats.jobs = self->njobs;
    stats.tasks_dispatched = self->tasks_dispatched;
    stats.tasks_done = self->tasks_done;
    stats.retries = self->retries;
    stats.draining = self->draining;
    for (uint32_t g = 0; g < self->nsources; g++) {
        braid_stats_source_t *src = &stats.sources[stats.nsources++];
        src->name = self->sources[g].name;
        src->running = self->sources[g].limiter.running;
        for (s_job_t *ent = self->jobs_head; ent; ent = ent->next)
            for (uint32_t s = 0; s < braid_job_nsources(ent->job); s++)
                if (ent->gid[s] == g)
                    src->queued += braid_job_queued(ent->job) / braid_job_nsources(ent->job);
    }
    stats.counters = self->counters;
    char *json = braid_stats_json(&stats);
    free(stats.sources);
    return json;
}

static void
s_on_frontend(braid_broker_t *self)
{
    braid_msg_t msg;
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    braid_err_t err;
    int rc = braid_msg_recv(self->frontend, true, BRAID_CH_CLIENT, &msg, &rid, &payload, &err);
    if (rc == -1)
        return;
    if (rc == -2) {
        /*  Dropped and counted; a malformed message creates no session.   */
        self->counters.malformed[err]++;
        braid_debug("frontend: dropped malformed message reason=%s", braid_err_name(err));
        goto done;
    }
    s_client_t *client = s_client(self, rid);
    if (!client)
        goto done;
    s_job_t *ent = NULL;
    switch (msg.type) {
    case BRAID_MSG_SUBMIT:
        s_on_submit(self, rid, client, &msg);
        break;
    case BRAID_MSG_QUERIES:
        ent = s_find_job(self, rid, msg.job_id);
        if (!ent || ent->silent) {
            s_send_error(self, rid, msg.job_id, BRAID_ERR_CODE_UNKNOWN_JOB, "unknown job");
            break;
        }
        if (braid_job_add_queries(ent->job, msg.first, &payload) != 0) {
            s_send_error(self, rid, msg.job_id, BRAID_ERR_CODE_BAD_REQUEST,
                         "queries out of order or beyond the announced count");
            ent->silent = true;
            s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled: bad request");
            s_job_pump(self, ent);
            break;
        }
        s_dispatch_later(self);
        break;
    case BRAID_MSG_CREDIT:
        ent = s_find_job(self, rid, msg.job_id);
        if (!ent) {
            self->counters.unknown++;
            break;
        }
        braid_job_credit(ent->job, msg.credit);
        s_job_pump(self, ent);
        break;
    case BRAID_MSG_CANCEL:
        ent = s_find_job(self, rid, msg.job_id);
        if (!ent) {
            s_send_error(self, rid, msg.job_id, BRAID_ERR_CODE_UNKNOWN_JOB, "unknown job");
            break;
        }
        braid_info("job cancelled by client job=%s", ent->key);
        s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled");
        s_job_pump(self, ent);
        break;
    case BRAID_MSG_PING: {
        braid_msg_t pong;
        braid_msg_init(&pong, BRAID_MSG_PONG);
        braid_msg_send(self->frontend, rid, &pong, NULL, true);
        break;
    }
    case BRAID_MSG_STATS: {
        char *json = s_stats_json(self);
        zmsg_t *body = json ? zmsg_new() : NULL;
        if (body) {
            zmsg_addstr(body, json);
            braid_msg_t reply;
            braid_msg_init(&reply, BRAID_MSG_STATS_REPLY);
            braid_msg_send(self->frontend, rid, &reply, &body, true);
        }
        free(json);
        break;
    }
    default:
        break;
    }
done:
    zmsg_destroy(&payload);
    zframe_destroy(&rid);
}

/*  ---------------------------------------------------------------------
    Workers                                                                */

static void
s_worker_free(s_worker_t **w_p)
{
    s_worker_t *w = *w_p;
    if (!w)
        return;
    zframe_destroy(&w->rid);
    free(w->key);
    free(w->tasks);
    free(w->index_keys);
    free(w->index_pos);
    free(w);
    *w_p = NULL;
}

/*  Take every task back from a worker: handed back (BYE, a new HELLO) or
    lost (expired). Then forget the worker.                                 */
static void
s_worker_remove(braid_broker_t *self, uint32_t index, bool counted, const char *why)
{
    s_worker_t *w = self->workers[index];
    while (w->running > 0) {
        s_slot_t slot = w->tasks[w->running - 1];
        s_job_t *ent = s_job_of_task(self, slot.task_id);
        if (ent) {
            s_task_retry(self, ent, (uint32_t) slot.task_id, slot.attempt, counted, why);
            self->pump_all = true;
        }
        /*  The retry released it when the task was running; a task that
            had ended (cancelled) is released here.                         */
        if (w->running > 0 && w->tasks[w->running - 1].task_id == slot.task_id)
            s_slot_release(self, (int32_t) index, slot.task_id);
    }
    zhashx_delete(self->workers_by_rid, w->key);
    s_worker_free(&self->workers[index]);
    s_dispatch_later(self);
}

static void
s_on_hello(braid_broker_t *self, zframe_t *rid, const char *key, const braid_msg_t *msg)
{
    s_worker_t *w = zhashx_lookup(self->workers_by_rid, key);
    if (w) {
        /*  The same connection says HELLO again: it dropped its tasks.     */
        int32_t index = s_worker_index(self, w);
        s_worker_remove(self, (uint32_t) index, false, "worker restarted");
    }
    uint32_t index = 0;
    while (index < self->nworkers && self->workers[index])
        index++;
    if (index == self->nworkers) {
        s_worker_t **grown = realloc(self->workers, (self->nworkers + 1) * sizeof *self->workers);
        if (!grown)
            return;
        self->workers = grown;
        self->workers[self->nworkers++] = NULL;
    }
    w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->rid = zframe_dup(rid);
    w->key = strdup(key);
    w->tasks = calloc(S_CAPACITY(msg->slots), sizeof *w->tasks);
    uint32_t cells = 16;
    while (cells < 2 * S_CAPACITY(msg->slots))
        cells *= 2;
    w->index_keys = calloc(cells, sizeof *w->index_keys);
    w->index_pos = calloc(cells, sizeof *w->index_pos);
    w->index_mask = cells - 1;
    if (!w->rid || !w->key || !w->tasks || !w->index_keys || !w->index_pos) {
        s_worker_free(&w);
        return;
    }
    self->workers[index] = w;
    zhashx_insert(self->workers_by_rid, w->key, w);
    snprintf(w->name, sizeof w->name, "%s", msg->name);
    w->slots = msg->slots;
    w->last_seen_msec = self->now;
    char list[BRAID_MAX_SOURCES * (BRAID_MAX_NAME + 1) + 1] = "";
    for (uint32_t i = 0; i < msg->nsources; i++) {
        int id = s_source_id(self, msg->sources[i], true);
        if (id < 0) {
            braid_warning("source table full, ignoring source=%s worker=%s", msg->sources[i],
                          w->name);
            continue;
        }
        w->src[w->nsrc++] = (uint16_t) id;
        if (i)
            strcat(list, ",");
        strcat(list, msg->sources[i]);
    }
    braid_info("worker joined name=%s slots=%u sources=%s", w->name, w->slots, list);
    s_dispatch_later(self);
}

static uint64_t
s_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
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
    for (uint32_t i = 0; i < w->running; i++)
        w->tasks[i].missing++;
    for (size_t e = 0; e < n; e++, p += BRAID_HEARTBEAT_ENTRY) {
        uint64_t task_id = s_be64(p);
        uint32_t attempt = (uint32_t) (s_be64(p + 8) >> 32);
        uint64_t next_seq = s_be64(p + 12);
        s_slot_t *slot = s_slot_find(w, task_id);
        if (!slot || slot->attempt != attempt)
            continue;
        slot->acked = true;
        slot->missing = 0;
        s_job_t *ent = s_job_of_task(self, task_id);
        if (!ent)
            continue;
        uint64_t recv = braid_job_received_parts(ent->job, (uint32_t) task_id);
        if (next_seq > recv && slot->hb_seq == next_seq && slot->hb_recv == recv) {
            /*  Partials the worker sent never came, and nothing moved.     */
            self->counters.gaps++;
            braid_warning("partials lost, task again job=%s task=%u", ent->key,
                          (uint32_t) task_id);
            s_cancel_task(self, task_id, attempt, s_worker_index(self, w));
            s_task_retry(self, ent, (uint32_t) task_id, attempt, true, "partials lost");
            self->pump_all = true;
            continue;
        }
        /*  No progress, all it sent arrived, and more was granted than it
            has used: the grant may have been lost. Credit is absolute, so
            sending it again is harmless.                                   */
        uint64_t granted = braid_job_granted(ent->job, (uint32_t) task_id);
        if (slot->hb_seq == next_seq && next_seq == recv && granted > next_seq)
            s_grant(self, ent->job, task_id, attempt, s_worker_index(self, w), granted);
        slot->hb_seq = next_seq;
        slot->hb_recv = recv;
    }
    /*  Missing twice, sent before the last interval: its DONE was lost.   */
    for (uint32_t i = 0; i < w->running;) {
        s_slot_t *slot = &w->tasks[i];
        if (slot->missing >= 2 && slot->acked &&
            self->now - slot->sent_msec > (int64_t) self->cfg.heartbeat_msec) {
            s_job_t *ent = s_job_of_task(self, slot->task_id);
            uint64_t task_id = slot->task_id;
            if (ent) {
                braid_warning("task end lost, task again job=%s task=%u", ent->key,
                              (uint32_t) task_id);
                s_task_retry(self, ent, (uint32_t) task_id, slot->attempt, true, "end lost");
                self->pump_all = true;
            }
            if (i < w->running && w->tasks[i].task_id == task_id)
                s_slot_release(self, s_worker_index(self, w), task_id);
            continue;
        }
        i++;
    }
}

static void
s_send_reset(braid_broker_t *self, zframe_t *rid)
{
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_RESET);
    braid_msg_send(self->backend, rid, &msg, NULL, true);
}

static void
s_on_backend(braid_broker_t *self)
{
    braid_msg_t msg;
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    braid_err_t err;
    int rc = braid_msg_recv(self->backend, true, BRAID_CH_WORKER, &msg, &rid, &payload, &err);
    if (rc == -1)
        return;
    char *key = NULL;
    if (rc == -2) {
        self->counters.malformed[err]++;
        braid_debug("backend: dropped malformed message reason=%s", braid_err_name(err));
        goto done;
    }
    key = s_frame_hex(rid, NULL);
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
        s_slot_t *slot = s_slot_find(w, msg.task_id);
        if (slot && slot->attempt == msg.attempts)
            slot->acked = true;
        break;
    }
    case BRAID_MSG_WHEARTBEAT:
        s_on_worker_heartbeat(self, w, payload);
        break;
    case BRAID_MSG_BYE:
        braid_info("worker left name=%s running=%u", w->name, w->running);
        s_worker_remove(self, (uint32_t) s_worker_index(self, w), false, "worker left");
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
    Results                                                                */

/*  The slot record of a running task, wherever it runs.                    */
static s_slot_t *
s_slot_of(braid_broker_t *self, uint64_t task_id, uint32_t attempt)
{
    for (uint32_t i = 0; i < self->nworkers; i++) {
        s_worker_t *w = self->workers[i];
        s_slot_t *slot = w ? s_slot_find(w, task_id) : NULL;
        if (slot && slot->attempt == attempt)
            return slot;
    }
    return NULL;
}

static void
s_on_done(braid_broker_t *self, s_job_t *ent, const braid_msg_t *msg)
{
    uint32_t idx = (uint32_t) msg->task_id;
    int32_t worker = -1;
    bool running = braid_job_running(ent->job, idx, msg->attempts);
    if (running && msg->status == BRAID_STATUS_CANCELLED) {
        s_slot_t *slot = s_slot_of(self, msg->task_id, msg->attempts);
        if (slot && slot->preempted) {
            /*  It made room for its job's head of line: it runs again
                later, resuming after what it had sent.                     */
            s_task_retry(self, ent, idx, msg->attempts, false, "preempted");
            return;
        }
    }
    if (running && msg->transient && msg->status != BRAID_STATUS_OK) {
        /*  A transient failure retries; a hand-back (cancelled, transient)
            goes elsewhere without counting.                                */
        bool counted = msg->status != BRAID_STATUS_CANCELLED;
        s_task_retry(self, ent, idx, msg->attempts, counted,
                     msg->text[0] ? msg->text : "transient failure");
        if (counted)
            s_check_fail_fast(self, ent);
        return;
    }
    int rc =
        braid_job_done(ent->job, idx, msg->attempts, msg->status, msg->parts, msg->text, &worker);
    if (rc == -1 && worker < 0)
        self->counters.stale++;
    else if (rc == -2) {
        /*  Its end says more partials than arrived: run it again.          */
        self->counters.gaps++;
        s_task_retry(self, ent, idx, msg->attempts, true, "partials lost");
        return;
    }
    if (rc == 0)
        self->tasks_done++;
    s_slot_release(self, worker, msg->task_id);
    if (rc != -1)
        s_check_fail_fast(self, ent);
}

static void
s_on_sink(braid_broker_t *self)
{
    braid_msg_t msg;
    zmsg_t *payload = NULL;
    braid_err_t err;
    int rc = braid_msg_recv(self->sink, false, BRAID_CH_SINK, &msg, NULL, &payload, &err);
    if (rc == -1)
        return;
    if (rc == -2) {
        self->counters.malformed[err]++;
        braid_debug("sink: dropped malformed message reason=%s", braid_err_name(err));
        return;
    }
    s_job_t *ent = s_job_of_task(self, msg.task_id);
    if (!ent) {
        /*  A job that is gone (a late result of a cancelled task) is stale;
            a task id the broker never gave out is unknown.                 */
        uint32_t serial = (uint32_t) (msg.task_id >> 32);
        if (serial && serial <= self->next_serial)
            self->counters.stale++;
        else
            self->counters.unknown++;
        zmsg_destroy(&payload);
        return;
    }
    uint32_t idx = (uint32_t) msg.task_id;
    if (msg.type == BRAID_MSG_DATA) {
        rc = braid_job_data(ent->job, idx, msg.attempts, msg.seq, &payload);
        if (rc == -1)
            self->counters.stale++;
        else if (rc == -2) {
            /*  The attempt's stream has a hole: stop it, run it again.    */
            self->counters.gaps++;
            braid_warning("result stream gap job=%s task=%u", ent->key, idx);
            s_cancel_task(self, msg.task_id, msg.attempts, braid_job_worker(ent->job, idx));
            s_task_retry(self, ent, idx, msg.attempts, true, "result stream gap");
        }
    } else {
        /*  The task's last partials may ride on its DONE.                  */
        size_t n = zmsg_size(payload);
        if (n > 0 && braid_job_running(ent->job, idx, msg.attempts)) {
            if (msg.parts < n ||
                braid_job_data(ent->job, idx, msg.attempts, msg.parts - n, &payload) == -2) {
                self->counters.gaps++;
                braid_warning("result stream gap job=%s task=%u", ent->key, idx);
            }
        }
        s_on_done(self, ent, &msg);
    }
    zmsg_destroy(&payload);
    s_job_pump(self, ent);
}

/*  ---------------------------------------------------------------------
    Dispatch                                                               */

static bool
s_dispatch_one(braid_broker_t *self, s_job_t *ent)
{
    braid_job_t *job = ent->job;
    uint32_t wants = braid_job_wants(job);
    if (!wants)
        return false;
    uint32_t ns = braid_job_nsources(job);
    uint32_t avail = 0;
    for (uint32_t s = 0; s < ns; s++)
        if ((wants & (1u << s)) && s_pick_worker(self, ent->gid[s]) >= 0)
            avail |= 1u << s;
    int64_t idx = braid_job_next_task(job, avail);
    if (idx < 0)
        return false;
    uint32_t s = (uint32_t) idx % ns;
    uint16_t gid = ent->gid[s];
    int32_t wi = s_pick_worker(self, gid);
    assert(wi >= 0);
    s_worker_t *w = self->workers[wi];

    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK);
    msg.task_id = braid_task_id(braid_job_serial(job), (uint32_t) idx);
    snprintf(msg.name, sizeof msg.name, "%s", braid_job_source_name(job, s));
    msg.timeout_msec = braid_job_timeout_msec(job);
    if (!msg.timeout_msec)
        msg.timeout_msec = self->sources[gid].limiter.policy.timeout_msec;
    size_t qlen;
    const char *query = braid_job_query(job, (uint32_t) idx, &qlen);
    zmsg_t *body = zmsg_new();
    if (!body || zmsg_addmem(body, query, qlen) != 0) {
        zmsg_destroy(&body);
        return false;
    }
    msg.attempts = braid_job_start(job, (uint32_t) idx, wi, &msg.resume, &msg.window);
    s_slot_t *slot = s_slot_add(w, msg.task_id);
    slot->attempt = msg.attempts;
    slot->gid = gid;
    slot->sent_msec = self->now;
    slot->resume = msg.resume;
    braid_limiter_start(&self->sources[gid].limiter);
    self->tasks_dispatched++;
    if (braid_msg_send(self->backend, w->rid, &msg, &body, true) != 0) {
        /*  Not queued: it reached nobody, so it goes back without counting
            as a retry. A worker whose connection is gone (EHOSTUNREACH) is
            lost now, not after its liveness timeout.                       */
        int err = errno;
        braid_debug("cannot send task worker=%s errno=%d", w->name, err);
        s_task_retry(self, ent, (uint32_t) idx, msg.attempts, false, "worker unreachable");
        if (err == EHOSTUNREACH) {
            braid_info("worker expired name=%s reason=unreachable running=%u", w->name,
                       w->running);
            s_worker_remove(self, (uint32_t) wi, true, "worker lost");
        }
        self->pump_all = true;
    }
    return true;
}

/*  Hand out tasks while workers have free slots: one task per job per
    round, each round starting after the job served last, so a freed slot
    goes to the jobs in turn and a small job is never stuck behind a large
    one. s_dispatch_one never removes a job, so the walk is safe.           */
static void
s_dispatch(braid_broker_t *self)
{
    self->dispatch_due = false;
    /*  What the workers can take at all: once it is used up, no job needs
        to be asked (with a hundred jobs, most turns free a single slot).  */
    uint64_t free = 0;
    for (uint32_t i = 0; i < self->nworkers; i++)
        if (self->workers[i])
            free += S_CAPACITY(self->workers[i]->slots) - self->workers[i]->running;
    bool progress = true;
    while (progress && free && self->njobs) {
        progress = false;
        s_job_t *ent = self->rr ? self->rr : self->jobs_head;
        for (size_t i = 0; i < self->njobs && free; i++) {
            s_job_t *next = ent->next ? ent->next : self->jobs_head;
            if (s_dispatch_one(self, ent)) {
                progress = true;
                self->rr = next;
                free--;
            }
            ent = next;
        }
    }
}

/*  Submit order needs the head of line to run. Its job's later tasks (and,
    through their heads, other jobs' tasks) may hold every slot, each stuck
    on a full window that only a head can move: nothing would ever move
    again. So when a head cannot run, the latest window-blocked task that
    is in its way is cancelled: it keeps what it sent and resumes later
    (not counted as a retry), and its slot, once its worker confirms, goes
    to the head (workers start queued tasks lowest task id first).
    A head is in the way of blocked tasks when it waits for a worker and
    none has room, or when it sits queued (nothing received yet) at a
    worker whose every slot runs a blocked task. One cancel at a time.     */

/*  Is task_id a window-blocked task that is not its own job's head?        */
static bool
s_preemptible(braid_broker_t *self, uint64_t task_id)
{
    s_job_t *ent = s_job_of_task(self, task_id);
    uint32_t idx = (uint32_t) task_id;
    return ent && braid_job_head(ent->job) != (int64_t) idx &&
           braid_job_window_blocked(ent->job, idx);
}

/*  The latest preemptible task on worker w (or on any worker serving gid
    when w is NULL); *blocked counts them on w.                             */
static s_slot_t *
s_pick_victim(braid_broker_t *self, s_worker_t *w, uint16_t gid, int32_t *worker_p,
              uint32_t *blocked)
{
    s_slot_t *victim = NULL;
    *blocked = 0;
    for (uint32_t i = 0; i < self->nworkers; i++) {
        s_worker_t *cand = self->workers[i];
        if (!cand || (w && cand != w) || (!w && !s_worker_serves(cand, gid)))
            continue;
        for (uint32_t k = 0; k < cand->running; k++) {
            s_slot_t *slot = &cand->tasks[k];
            if (!s_preemptible(self, slot->task_id))
                continue;
            (*blocked)++;
            if (!victim || slot->task_id > victim->task_id) {
                victim = slot;
                *worker_p = (int32_t) i;
            }
        }
    }
    return victim;
}

static void
s_preempt_for_heads(braid_broker_t *self, bool queued_heads)
{
    if (self->preempting)
        return;     /* one at a time */
    for (s_job_t *ent = self->jobs_head; ent; ent = ent->next) {
        int64_t head = braid_job_head(ent->job);
        if (head < 0)
            continue;
        uint16_t gid = ent->gid[head % braid_job_nsources(ent->job)];
        uint64_t head_id = braid_task_id(braid_job_serial(ent->job), (uint32_t) head);
        s_slot_t *victim = NULL;
        int32_t victim_worker = -1;
        uint32_t blocked = 0;
        if (braid_job_head_waiting(ent->job) >= 0) {
            if (s_pick_worker(self, gid) >= 0)
                continue;   /* a worker has room: dispatch gets there */
            victim = s_pick_victim(self, NULL, gid, &victim_worker, &blocked);
        } else if (queued_heads && braid_job_running(ent->job, (uint32_t) head,
                                                     braid_job_attempt(ent->job, (uint32_t) head))) {
            /*  Dispatched: nothing arrived since may mean queued there.    */
            s_worker_t *w = NULL;
            s_slot_t *hs = NULL;
            for (uint32_t i = 0; i < self->nworkers && !w; i++)
                if (self->workers[i] && (hs = s_slot_find(self->workers[i], head_id)))
                    w = self->workers[i];
            if (!w || braid_job_received_parts(ent->job, (uint32_t) head) != hs->resume)
                continue;
            victim = s_pick_victim(self, w, gid, &victim_worker, &blocked);
            if (blocked < w->slots)
                continue;   /* a slot there runs something that can end */
        }
        braid_debug("head check job=%s head=%" PRId64 " waiting=%d victim=%d blocked=%u", ent->key,
                    head, braid_job_head_waiting(ent->job) >= 0, victim != NULL, blocked);
        if (!victim)
            continue;
        braid_info("preempting task=%u job=%u for head task=%" PRId64 " job=%s",
                   (uint32_t) victim->task_id, (uint32_t) (victim->task_id >> 32), head, ent->key);
        victim->preempted = true;
        self->preempting++;
        s_cancel_task(self, victim->task_id, victim->attempt, victim_worker);
        return;
    }
}

static void
s_pump_all(braid_broker_t *self)
{
    self->pump_all = false;
    s_job_t *ent = self->jobs_head;
    while (ent) {
        s_job_t *next = ent->next;
        s_job_pump(self, ent);
        ent = next;
    }
}

/*  ---------------------------------------------------------------------
    Time: timers, heartbeats, liveness                                     */

static void
s_on_timer(braid_broker_t *self, const braid_timer_t *t)
{
    s_job_t *ent = zhashx_lookup(self->jobs_by_serial, (void *) (uintptr_t) t->a);
    if (!ent)
        return;     /* the job is gone: a lazily cancelled timer */
    if (t->kind == S_TIMER_RETRY) {
        braid_job_ready(ent->job, t->b);
        s_dispatch_later(self);
    } else if (t->kind == S_TIMER_DEADLINE) {
        braid_info("job deadline passed job=%s", ent->key);
        s_job_stop(self, ent, BRAID_STATUS_TIMEOUT, "job deadline passed");
        s_job_pump(self, ent);
    }
}

static void
s_tick(braid_broker_t *self)
{
    /*  systemd's watchdog (WatchdogSec=): the loop is alive.               */
    if (self->watchdog)
        sd_notify(0, "WATCHDOG=1");
    braid_msg_t beat;
    braid_msg_init(&beat, BRAID_MSG_BHEARTBEAT);
    for (uint32_t i = 0; i < self->nworkers; i++) {
        s_worker_t *w = self->workers[i];
        if (!w)
            continue;
        int64_t idle = self->now - w->last_seen_msec;
        if (idle > (int64_t) self->cfg.worker_liveness_msec) {
            braid_info("worker expired name=%s idle_msec=%" PRId64 " running=%u", w->name, idle,
                       w->running);
            s_worker_remove(self, i, true, "worker lost");
            continue;
        }
        braid_msg_send(self->backend, w->rid, &beat, NULL, true);
        /*  A cancel made for a head may have been lost: it is idempotent. */
        for (uint32_t t = 0; t < w->running; t++)
            if (w->tasks[t].preempted)
                s_cancel_task(self, w->tasks[t].task_id, w->tasks[t].attempt, (int32_t) i);
        /*  A TASK neither acknowledged nor in a heartbeat: send it again.  */
        for (uint32_t t = 0; t < w->running;) {
            s_slot_t *slot = &w->tasks[t];
            if (slot->acked || self->now - slot->sent_msec <= (int64_t) self->cfg.ack_timeout_msec) {
                t++;
                continue;
            }
            uint64_t task_id = slot->task_id;
            uint32_t attempt = slot->attempt;
            s_job_t *ent = s_job_of_task(self, task_id);
            /*  Partials of this attempt arrived: the worker has it.        */
            if (ent && braid_job_received_parts(ent->job, (uint32_t) task_id) > slot->resume &&
                braid_job_attempt(ent->job, (uint32_t) task_id) == attempt) {
                slot->acked = true;
                t++;
                continue;
            }
            s_cancel_task(self, task_id, attempt, (int32_t) i);
            if (ent) {
                braid_warning("task not acknowledged, task again job=%s task=%u worker=%s",
                              ent->key, (uint32_t) task_id, w->name);
                s_task_retry(self, ent, (uint32_t) task_id, attempt, true,
                             "task not acknowledged");
                self->pump_all = true;
            }
            if (t < w->running && w->tasks[t].task_id == task_id)
                s_slot_release(self, (int32_t) i, task_id);
        }
    }
    /*  Clients: a silent one loses its jobs; an idle one is forgotten.     */
    for (s_job_t *ent = self->jobs_head; ent; ent = ent->next) {
        if (ent->stopped || !ent->owner)
            continue;
        int64_t idle = self->now - ent->owner->last_seen_msec;
        if (idle > (int64_t) self->cfg.client_liveness_msec) {
            braid_info("client expired job=%s idle_msec=%" PRId64, ent->key, idle);
            ent->silent = true;
            s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled: client lost");
            self->pump_all = true;
        }
    }
    zlistx_t *idle_clients = zlistx_new();
    for (s_client_t *c = zhashx_first(self->clients); c; c = zhashx_next(self->clients))
        if (c->jobs == 0 && self->now - c->last_seen_msec > (int64_t) self->cfg.client_liveness_msec)
            zlistx_add_end(idle_clients, c->key);
    for (char *key = zlistx_first(idle_clients); key; key = zlistx_next(idle_clients))
        zhashx_delete(self->clients, key);
    zlistx_destroy(&idle_clients);
}

static void
s_client_free(void **item)
{
    s_client_t *c = *item;
    if (c) {
        free(c->key);
        free(c);
        *item = NULL;
    }
}

/*  ---------------------------------------------------------------------
    Life cycle                                                             */

static zsock_t *
s_bind(int type, const char *endpoint, int hwm, int64_t max_frame, char **bound)
{
    zsock_t *sock = zsock_new(type);
    if (!sock)
        return NULL;
    braid_socket_harden(sock, hwm);
    if (type == ZMQ_ROUTER)
        zsock_set_router_mandatory(sock, 1);
    if (max_frame)
        zsock_set_maxmsgsize(sock, max_frame);
    if (zmq_bind(zsock_resolve(sock), endpoint) != 0) {
        braid_error("cannot bind endpoint=%s: %s", endpoint, zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
        return NULL;
    }
    *bound = zsock_last_endpoint(sock);
    return sock;
}

braid_broker_t *
braid_broker_new(const braid_broker_config_t *cfg)
{
    braid_broker_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *cfg;
    self->now = zclock_mono();
    self->seed = (unsigned int) (zclock_time() ^ getpid());
    self->workers_by_rid = zhashx_new();
    self->source_ids = zhashx_new();
    self->jobs_by_key = zhashx_new();
    self->jobs_by_serial = zhashx_new();
    self->clients = zhashx_new();
    self->timers = braid_timers_new();
    if (!self->workers_by_rid || !self->source_ids || !self->jobs_by_key ||
        !self->jobs_by_serial || !self->clients || !self->timers) {
        braid_broker_destroy(&self);
        return NULL;
    }
    zhashx_set_key_hasher(self->jobs_by_serial, s_serial_hash);
    zhashx_set_key_comparator(self->jobs_by_serial, s_serial_cmp);
    zhashx_set_key_duplicator(self->jobs_by_serial, NULL);
    zhashx_set_key_destructor(self->jobs_by_serial, NULL);
    zhashx_set_destructor(self->clients, s_client_free);

    self->frontend = s_bind(ZMQ_ROUTER, cfg->frontend, S_FRONTEND_HWM, S_FRONTEND_MAX_FRAME,
                            &self->endpoint[0]);
    self->backend = s_bind(ZMQ_ROUTER, cfg->backend, S_BACKEND_HWM, 0, &self->endpoint[1]);
    self->sink = s_bind(ZMQ_PULL, cfg->sink, S_SINK_HWM, 0, &self->endpoint[2]);
    if (!self->frontend || !self->backend || !self->sink) {
        braid_broker_destroy(&self);
        return NULL;
    }
    return self;
}

void
braid_broker_destroy(braid_broker_t **self_p)
{
    assert(self_p);
    braid_broker_t *self = *self_p;
    if (!self)
        return;
    while (self->jobs_head)
        s_job_remove(self, self->jobs_head);
    for (uint32_t i = 0; i < self->nworkers; i++)
        s_worker_free(&self->workers[i]);
    free(self->workers);
    for (uint32_t i = 0; i < self->nsources; i++)
        free(self->sources[i].name);
    zhashx_destroy(&self->workers_by_rid);
    zhashx_destroy(&self->source_ids);
    zhashx_destroy(&self->jobs_by_key);
    zhashx_destroy(&self->jobs_by_serial);
    zhashx_destroy(&self->clients);
    braid_timers_destroy(&self->timers);
    zsock_destroy(&self->frontend);
    zsock_destroy(&self->backend);
    zsock_destroy(&self->sink);
    for (int i = 0; i < 3; i++)
        free(self->endpoint[i]);
    free(self);
    *self_p = NULL;
}

const char *
braid_broker_endpoint(braid_broker_t *self, const char *which)
{
    if (streq(which, "frontend"))
        return self->endpoint[0];
    if (streq(which, "backend"))
        return self->endpoint[1];
    if (streq(which, "sink"))
        return self->endpoint[2];
    return NULL;
}

void
braid_broker_set_policies(braid_broker_t *self, const braid_broker_config_t *cfg)
{
    self->cfg.default_policy = cfg->default_policy;
    memcpy(self->cfg.policies, cfg->policies, sizeof cfg->policies);
    self->cfg.npolicies = cfg->npolicies;
    for (uint32_t g = 0; g < self->nsources; g++) {
        braid_limiter_t *lim = &self->sources[g].limiter;
        uint32_t running = lim->running;
        braid_limiter_init(lim, braid_broker_config_policy(&self->cfg, self->sources[g].name), self->now);
        lim->running = running;
    }
    braid_notice("source policies reloaded policies=%u", cfg->npolicies);
    s_dispatch_later(self);
}

/*  Handle what is waiting on sock, at most S_DRAIN_MAX messages.           */
static void
s_drain(braid_broker_t *self, zsock_t *sock, void (*handler)(braid_broker_t *))
{
    for (int i = 0; i < S_DRAIN_MAX && (zsock_events(sock) & ZMQ_POLLIN); i++)
        handler(self);
}

static void
s_retry_blocked(braid_broker_t *self)
{
    s_job_t *ent = self->jobs_head;
    while (ent && self->blocked_jobs) {
        s_job_t *next = ent->next;
        if (ent->blocked)
            s_job_pump(self, ent);
        ent = next;
    }
}

/*  How long poll may sleep: until the next tick, timer, token, or a retry
    of a blocked client.                                                    */
static long
s_poll_timeout(braid_broker_t *self)
{
    int64_t until = self->next_tick;
    int64_t t = braid_timers_next(self->timers);
    if (t < until)
        until = t;
    for (uint32_t g = 0; g < self->nsources; g++) {
        braid_limiter_t *lim = &self->sources[g].limiter;
        if (lim->policy.rate > 0 && lim->tokens < 1.0) {
            int64_t next = braid_limiter_next_msec(lim, self->now);
            if (next < until)
                until = next;
            /*  Whoever waits on a token is served when the poll wakes.    */
            self->dispatch_due = true;
        }
    }
    if (self->draining && self->drain_until < until)
        until = self->drain_until;
    long timeout = (long) (until - self->now);
    if (self->blocked_jobs && timeout > S_RETRY_MSEC)
        timeout = S_RETRY_MSEC;
    return timeout < 0 ? 0 : timeout;
}

static void
s_start_drain(braid_broker_t *self)
{
    self->draining = true;
    self->drain_until = self->now + self->cfg.drain_msec;
    sd_notify(0, "STOPPING=1");
    braid_notice("draining jobs=%zu drain_msec=%u", self->njobs, self->cfg.drain_msec);
}

int
braid_broker_run(braid_broker_t *self, volatile int *reload, braid_broker_reload_fn *reload_fn,
                 void *arg)
{
    zmq_pollitem_t items[] = {
        {zsock_resolve(self->frontend), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(self->backend), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(self->sink), 0, ZMQ_POLLIN, 0},
    };
    bool cancelled_rest = false;
    self->now = zclock_mono();
    self->next_tick = self->now + self->cfg.heartbeat_msec;
    uint64_t watchdog_usec = 0;
    self->watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
    if (self->watchdog && watchdog_usec / 2000 < self->cfg.heartbeat_msec)
        braid_warning("WatchdogSec is shorter than twice heartbeat_msec=%u",
                      self->cfg.heartbeat_msec);
    for (;;) {
        if (zsys_interrupted) {
            if (self->draining)
                return 0;       /* a second signal: stop now */
            zsys_interrupted = 0;
            s_start_drain(self);
        }
        if (self->draining) {
            if (self->njobs == 0) {
                /*  Let the last ENDs and JOB_ENDs reach their clients.     */
                zsock_set_linger(self->frontend, S_STOP_GRACE_MSEC);
                return 0;
            }
            if (self->now >= self->drain_until) {
                if (cancelled_rest)
                    return 0;   /* the grace after the cancel is over too */
                braid_warning("drain time over, cancelling jobs=%zu", self->njobs);
                for (s_job_t *ent = self->jobs_head; ent; ent = ent->next)
                    s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled: broker stopping");
                self->pump_all = true;
                cancelled_rest = true;
                self->drain_until = self->now + S_STOP_GRACE_MSEC;
            }
        }
        if (reload && *reload) {
            *reload = 0;
            if (reload_fn)
                reload_fn(arg, self);
        }
        int rc = zmq_poll(items, 3, s_poll_timeout(self));
        self->now = zclock_mono();
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            braid_error("poll failed: %s", zmq_strerror(errno));
            return -1;
        }
        /*  Results first: they free slots and move jobs forward.           */
        s_drain(self, self->sink, s_on_sink);
        s_drain(self, self->backend, s_on_backend);
        s_drain(self, self->frontend, s_on_frontend);
        braid_timer_t timer;
        while (braid_timers_pop(self->timers, self->now, &timer))
            s_on_timer(self, &timer);
        if (self->now >= self->next_tick) {
            s_tick(self);
            /*  A task in a head's way may have filled its window since; and
                a head queued behind blocked tasks is looked for here only,
                once a tick, as that walks every slot of its worker.        */
            s_preempt_for_heads(self, true);
            self->next_tick = self->now + self->cfg.heartbeat_msec;
        }
        if (self->blocked_jobs)
            s_retry_blocked(self);
        if (self->pump_all)
            s_pump_all(self);
        if (self->dispatch_due) {
            s_dispatch(self);
            s_preempt_for_heads(self, false);
        }
        if (self->pump_all)
            s_pump_all(self);
    }
}
