/*  broker.c - the braid broker: sockets, the loop, handlers, liveness.

    What runs where, and when, is the scheduler's (sched.h): the handlers
    here decode, hand results to the jobs and the scheduler, and send what
    those decide.                                                           */

#include "broker.h"

#include "braid_log.h"
#include "braid_msg.h"
#include "job.h"
#include "scheduler.h"
#include "slots.h"
#include "stats.h"
#include "timers.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define S_DRAIN_MAX 512             /* messages handled per socket a turn  */
#define S_RETRY_MSEC 2              /* retry a blocked client after        */
#define S_FRONTEND_HWM 200000       /* > the sum of client credit windows  */
#define S_BACKEND_HWM 20000
#define S_SINK_HWM 100000
#define S_STOP_GRACE_MSEC 2000      /* after a drain: wait for cancels     */
/*  Nothing a client sends is longer than a query or a header.              */
#define S_FRONTEND_MAX_FRAME (BRAID_MAX_HEADER + BRAID_MAX_QUERY_LEN)

/*  A registered worker: its connection and liveness. What it serves and
    the tasks it holds are the scheduler's, under its number.               */
typedef struct {
    zframe_t *rid;              /* its routing id on the backend           */
    char *key;                  /* hex of rid, key in workers_by_rid       */
    char name[BRAID_MAX_NAME + 1];
    int32_t number;             /* its number in the scheduler and slots   */
    int64_t last_seen_msec;
} s_worker_t;

/*  A client that has talked to us.                                         */
typedef struct {
    char *key;                  /* hex of its routing id                   */
    int64_t last_seen_msec;
    uint32_t jobs;              /* open jobs                               */
} s_client_t;

/*  A job as the broker sees it: the job and its client.                    */
typedef struct {
    braid_sched_job_t sj;       /* first: the scheduler's view (job, gid)  */
    zframe_t *client;           /* client routing id on the frontend       */
    char *key;                  /* hex(client)/hex(job id)                 */
    s_client_t *owner;
    bool blocked;               /* the client could not take more now      */
    bool silent;                /* emit nothing more (client gone or bad)  */
    bool stopped;               /* ended early: cancel, deadline, ...      */
} s_job_t;

struct braid_broker_t {
    braid_broker_config_t cfg;
    zsock_t *frontend;
    zsock_t *backend;
    zsock_t *sink;
    char *endpoint[3];

    braid_sched_t *sched;       /* sources, workers, jobs, slots           */
    braid_slots_t *slots;       /* the scheduler's: who holds which task   */
    zhashx_t *workers_by_rid;   /* hex rid -> s_worker_t                   */
    zhashx_t *jobs_by_key;      /* client/job id -> s_job_t                */
    zhashx_t *clients;          /* client key -> s_client_t                */
    uint32_t next_serial;

    braid_timers_t *deadlines;  /* job deadlines: (serial)                 */
    int64_t now;                /* this turn's clock, msec                 */
    int64_t next_tick;
    s_job_t *pumping;           /* the job s_job_pump works on             */
    bool pump_all;              /* some job changed outside a pump         */
    uint32_t blocked_jobs;
    bool draining;
    bool watchdog;              /* systemd watchdog is on                  */
    int64_t drain_until;

    braid_counters_t counters;
};

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

/*  The broker's job of a scheduler job (the scheduler's view is its first
    member), or NULL.                                                       */
static s_job_t *
s_job(braid_sched_job_t *sj)
{
    return (s_job_t *) sj;
}

static s_job_t *
s_job_of_task(braid_broker_t *self, uint64_t task_id)
{
    return s_job(braid_sched_job_of(self->sched, task_id));
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

/*  Send a header-only message to a worker: cancel, credit. A lost one is
    repaired by the next (both are idempotent).                            */
static int
s_send_worker(braid_broker_t *self, s_worker_t *w, const braid_msg_t *msg)
{
    return braid_msg_send(self->backend, w->rid, msg, NULL, true);
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
    assert(ent && ent->sj.job == job);
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
s_grant(void *arg, braid_job_t *job, uint64_t task_id, uint32_t attempt, uint64_t window)
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
    /*  A lost grant is repaired by the next one: credit is absolute.       */
    if (s_send_worker(self, w, &msg) != 0)
        braid_debug("cannot send credit worker=%s errno=%d", w->name, errno);
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
    braid_sched_job_remove(self->sched, &ent->sj);
    braid_debug("job closed job=%s", ent->key);
    braid_job_destroy(&ent->sj.job);
    zframe_destroy(&ent->client);
    free(ent->key);
    free(ent);
}

static void
s_job_stop(braid_broker_t *self, s_job_t *ent, uint32_t status, const char *text);

/*  Emit what the job can, and close it once it is over and its tasks hold
    no slot any more.                                                       */
static void
s_job_pump(braid_broker_t *self, s_job_t *ent)
{
    braid_job_t *job = ent->sj.job;
    if (ent->blocked) {
        ent->blocked = false;
        self->blocked_jobs--;
    }
    self->pumping = ent;
    braid_job_pump(job, &s_io, self);
    if (ent->silent && !ent->stopped) {
        /*  Nobody reads this job any more: stop its work too.              */
        s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled: client gone");
        braid_job_pump(job, &s_io, self);
    }
    self->pumping = NULL;
    if (braid_job_finished(job) && braid_slots_held(self->slots, braid_job_serial(job)) == 0)
        s_job_remove(self, ent);
}

/*  Tell the worker holding task_id's attempt to stop it.                   */
static void
s_cancel_task(void *arg, uint64_t task_id, uint32_t attempt)
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
        braid_warning("cannot send cancel worker=%s errno=%d", w->name, errno);
}

/*  End the job early (client cancel, client lost, deadline, fail-fast,
    drain); the caller pumps.                                               */
static void
s_job_stop(braid_broker_t *self, s_job_t *ent, uint32_t status, const char *text)
{
    ent->stopped = true;
    braid_job_cancel(ent->sj.job, status, text, s_cancel_task, self);
    braid_sched_wake(self->sched);
}

/*  After a task ended: fail-fast stops the rest.                           */
static void
s_check_fail_fast(braid_broker_t *self, s_job_t *ent)
{
    braid_job_t *job = ent->sj.job;
    if ((braid_job_flags(job) & BRAID_FLAG_FAIL_FAST) && braid_job_failures(job) > 0)
        s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled: fail-fast");
}

/*  Run task idx again after a failure or a hand-back (see
    braid_sched_retry).                                                     */
static void
s_task_retry(braid_broker_t *self, s_job_t *ent, uint32_t idx, uint32_t attempt, bool counted,
             const char *why)
{
    uint32_t delay = 0;
    braid_job_retry_t rc =
        braid_sched_retry(self->sched, &ent->sj, idx, attempt, counted, why, self->now, &delay);
    if (rc == BRAID_JOB_ENDED)
        s_check_fail_fast(self, ent);
    else if (rc == BRAID_JOB_AGAIN)
        braid_debug("task retry job=%s task=%u attempt=%u counted=%d delay_msec=%u why=%s",
                    ent->key, idx, attempt, counted, delay, why);
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
        int id = braid_sched_source_id(self->sched, msg->sources[s]);
        if (id < 0 || !braid_sched_source_served(self->sched, (uint16_t) id)) {
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
        if (braid_job_same(ent->sj.job, msg))
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
        ent->sj.job = braid_job_new(msg, serial, self->cfg.max_tasks_per_job, self->cfg.window);
        memcpy(ent->sj.gid, gid, sizeof gid);
        ent->client = zframe_dup(client);
    }
    if (!ent || !ent->sj.job || !ent->client ||
        braid_sched_job_add(self->sched, &ent->sj) != 0) {
        if (ent) {
            braid_job_destroy(&ent->sj.job);
            zframe_destroy(&ent->client);
            free(ent);
        }
        free(key);
        s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_UNAVAILABLE, "out of memory");
        return;
    }
    ent->key = key;
    ent->owner = owner;
    owner->jobs++;
    zhashx_insert(self->jobs_by_key, ent->key, ent);
    if (msg->deadline_msec)
        braid_timers_add(self->deadlines, self->now + msg->deadline_msec, 0, serial, 0);
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
/*  The STATS reply's JSON: owned, NULL on allocation failure.              */
static char *
s_stats_json(braid_broker_t *self)
{
    braid_stats_t stats = {0};
    uint32_t nsources = braid_sched_nsources(self->sched);
    stats.sources = calloc(nsources ? nsources : 1, sizeof *stats.sources);
    if (!stats.sources)
        return NULL;
    braid_sched_stats(self->sched, &stats);
    stats.draining = self->draining;
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
        if (braid_job_add_queries(ent->sj.job, msg.first, &payload) != 0) {
            s_send_error(self, rid, msg.job_id, BRAID_ERR_CODE_BAD_REQUEST,
                         "queries out of order or beyond the announced count");
            ent->silent = true;
            s_job_stop(self, ent, BRAID_STATUS_CANCELLED, "cancelled: bad request");
            s_job_pump(self, ent);
            break;
        }
        braid_sched_wake(self->sched);
        break;
    case BRAID_MSG_CREDIT:
        ent = s_find_job(self, rid, msg.job_id);
        if (!ent) {
            self->counters.unknown++;
            break;
        }
        braid_job_credit(ent->sj.job, msg.credit);
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
        s_job_t *ent = s_job_of_task(self, slot.task_id);
        if (ent) {
            s_task_retry(self, ent, (uint32_t) slot.task_id, slot.attempt, counted, why);
            self->pump_all = true;
        }
        /*  The retry freed it; without a job, it is freed here.            */
        braid_sched_release(self->sched, slot.task_id, slot.attempt);
    }
    braid_sched_worker_remove(self->sched, w->number);
    zhashx_delete(self->workers_by_rid, w->key);
    s_worker_free(&w);
}

static void
s_on_hello(braid_broker_t *self, zframe_t *rid, const char *key, const braid_msg_t *msg)
{
    s_worker_t *w = zhashx_lookup(self->workers_by_rid, key);
    if (w) {
        /*  The same connection says HELLO again: it dropped its tasks.     */
        s_worker_remove(self, w, false, "worker restarted");
    }
    w = calloc(1, sizeof *w);
    if (!w)
        return;
    w->rid = zframe_dup(rid);
    w->key = strdup(key);
    if (!w->rid || !w->key) {
        s_worker_free(&w);
        return;
    }
    snprintf(w->name, sizeof w->name, "%s", msg->name);
    w->last_seen_msec = self->now;
    uint16_t gids[BRAID_MAX_SOURCES];
    uint32_t ngids = 0;
    char list[BRAID_MAX_SOURCES * (BRAID_MAX_NAME + 1) + 1] = "";
    for (uint32_t i = 0; i < msg->nsources; i++) {
        const char *name = msg->sources[i];
        int id = braid_sched_source_add(self->sched, name,
                                        braid_broker_config_policy(&self->cfg, name), self->now);
        if (id < 0) {
            braid_warning("source table full, ignoring source=%s worker=%s", name, w->name);
            continue;
        }
        gids[ngids++] = (uint16_t) id;
        if (i)
            strcat(list, ",");
        strcat(list, name);
    }
    w->number = braid_sched_worker_add(self->sched, msg->slots, gids, ngids, w);
    if (w->number < 0) {
        s_worker_free(&w);
        return;
    }
    zhashx_insert(self->workers_by_rid, w->key, w);
    braid_info("worker joined name=%s slots=%u sources=%s", w->name, msg->slots, list);
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
        s_job_t *ent = s_job_of_task(self, entry.task_id);
        if (!ent)
            continue;
        uint32_t idx = (uint32_t) entry.task_id;
        uint64_t recv = braid_job_received_parts(ent->sj.job, idx);
        if (entry.next_seq > recv && slot->hb_seq == entry.next_seq && slot->hb_recv == recv) {
            /*  Partials the worker sent never came, and nothing moved.     */
            self->counters.gaps++;
            braid_warning("partials lost, task again job=%s task=%u", ent->key, idx);
            s_cancel_task(self, entry.task_id, entry.attempt);
            s_task_retry(self, ent, idx, entry.attempt, true, "partials lost");
            self->pump_all = true;
            continue;
        }
        /*  No progress, all it sent arrived, and more was granted than it
            has used: the grant may have been lost. Credit is absolute, so
            sending it again is harmless.                                   */
        uint64_t granted = braid_job_granted(ent->sj.job, idx);
        if (slot->hb_seq == entry.next_seq && entry.next_seq == recv && granted > entry.next_seq)
            s_grant(self, ent->sj.job, entry.task_id, entry.attempt, granted);
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
        uint32_t attempt = slot->attempt;
        s_job_t *ent = s_job_of_task(self, task_id);
        if (ent) {
            braid_warning("task end lost, task again job=%s task=%u", ent->key,
                          (uint32_t) task_id);
            s_task_retry(self, ent, (uint32_t) task_id, attempt, true, "end lost");
            self->pump_all = true;
        }
        /*  Freed by the retry, or here; the last slot has moved to i.      */
        braid_sched_release(self->sched, task_id, attempt);
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
        braid_slot_t *slot = braid_slots_find(self->slots, msg.task_id);
        if (slot && slot->worker == w->number && slot->attempt == msg.attempts)
            slot->acked = true;
        break;
    }
    case BRAID_MSG_WHEARTBEAT:
        s_on_worker_heartbeat(self, w, payload);
        break;
    case BRAID_MSG_BYE:
        braid_info("worker left name=%s running=%u", w->name,
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
    Results                                                                */

static void
s_on_done(braid_broker_t *self, s_job_t *ent, const braid_msg_t *msg)
{
    braid_sched_done_t rc = braid_sched_done(self->sched, &ent->sj, msg, self->now);
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
    case BRAID_SCHED_ENDED:
        break;
    }
    if (rc != BRAID_SCHED_ENDED)
        braid_debug("task taken back job=%s task=%u attempt=%u status=%s gap=%d", ent->key,
                    (uint32_t) msg->task_id, msg->attempts, braid_status_name((int) msg->status),
                    rc == BRAID_SCHED_GAP);
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
    braid_job_t *job = ent->sj.job;
    uint32_t idx = (uint32_t) msg.task_id;
    if (msg.type == BRAID_MSG_DATA) {
        braid_job_result_t result = braid_job_data(job, idx, msg.attempts, msg.seq, &payload);
        if (result == BRAID_JOB_STALE)
            self->counters.stale++;
        else if (result == BRAID_JOB_GAP) {
            /*  The attempt's stream has a hole: stop it, run it again.    */
            self->counters.gaps++;
            braid_warning("result stream gap job=%s task=%u", ent->key, idx);
            s_cancel_task(self, msg.task_id, msg.attempts);
            s_task_retry(self, ent, idx, msg.attempts, true, "result stream gap");
        }
    } else {
        /*  The task's last partials may ride on its DONE.                  */
        size_t n = zmsg_size(payload);
        if (n > 0 && braid_job_running(job, idx, msg.attempts)) {
            if (msg.parts < n ||
                braid_job_data(job, idx, msg.attempts, msg.parts - n, &payload) == BRAID_JOB_GAP) {
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
    What the scheduler decides, sent                                       */

/*  Send the TASK the scheduler started on worker number.                   */
static void
s_start_task(void *arg, braid_sched_job_t *sj, uint32_t idx, int32_t number,
             const braid_sched_task_t *task)
{
    braid_broker_t *self = arg;
    s_worker_t *w = s_worker(self, number);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK);
    msg.task_id = task->task_id;
    msg.attempts = task->attempt;
    msg.resume = task->resume;
    msg.window = task->window;
    msg.timeout_msec = task->timeout_msec;
    snprintf(msg.name, sizeof msg.name, "%s",
             braid_job_source_name(sj->job, idx % braid_job_nsources(sj->job)));
    size_t qlen;
    const char *query = braid_job_query(sj->job, idx, &qlen);
    zmsg_t *body = zmsg_new();
    int err = ENOMEM;
    if (body && zmsg_addmem(body, query, qlen) == 0) {
        if (braid_msg_send(self->backend, w->rid, &msg, &body, true) == 0)
            return;
        err = errno;
    }
    zmsg_destroy(&body);
    /*  Not queued: it reached nobody, so it goes back without counting as
        a retry. A worker whose connection is gone (EHOSTUNREACH) is lost
        now, not after its liveness timeout.                                */
    braid_debug("cannot send task worker=%s errno=%d", w->name, err);
    s_task_retry(self, s_job(sj), idx, task->attempt, false, "worker unreachable");
    if (err == EHOSTUNREACH) {
        braid_info("worker expired name=%s reason=unreachable running=%u", w->name,
                   braid_slots_running(self->slots, number));
        s_worker_remove(self, w, true, "worker lost");
    }
    self->pump_all = true;
}

/*  Cancel the task the scheduler preempts for a head of line.              */
static void
s_preempt_task(void *arg, const braid_slot_t *victim, braid_sched_job_t *sj, uint32_t head)
{
    braid_info("preempting task=%u job=%u for head task=%u job=%s", (uint32_t) victim->task_id,
               (uint32_t) (victim->task_id >> 32), head, s_job(sj)->key);
    s_cancel_task(arg, victim->task_id, victim->attempt);
}

static const braid_sched_io_t s_sched_io = {s_start_task, s_preempt_task};

static void
s_pump_all(braid_broker_t *self)
{
    self->pump_all = false;
    braid_sched_job_t *sj = braid_sched_jobs(self->sched);
    while (sj) {
        braid_sched_job_t *next = sj->next;
        s_job_pump(self, s_job(sj));
        sj = next;
    }
}

/*  ---------------------------------------------------------------------
    Time: timers, heartbeats, liveness                                     */

static void
s_on_deadline(braid_broker_t *self, const braid_timer_t *t)
{
    s_job_t *ent = s_job_of_task(self, braid_task_id(t->a, 0));
    if (!ent)
        return;     /* the job is gone: a lazily cancelled timer */
    braid_info("job deadline passed job=%s", ent->key);
    s_job_stop(self, ent, BRAID_STATUS_TIMEOUT, "job deadline passed");
    s_job_pump(self, ent);
}

/*  A worker's slots, once a tick: cancels for heads sent again, TASKs
    neither acknowledged nor in a heartbeat run elsewhere.                  */
static void
s_check_slots(braid_broker_t *self, s_worker_t *w)
{
    /*  A cancel made for a head may have been lost: it is idempotent.     */
    for (uint32_t t = 0; t < braid_slots_running(self->slots, w->number); t++) {
        braid_slot_t *slot = braid_slots_at(self->slots, w->number, t);
        if (slot->preempted)
            s_cancel_task(self, slot->task_id, slot->attempt);
    }
    for (uint32_t t = 0; t < braid_slots_running(self->slots, w->number);) {
        braid_slot_t *slot = braid_slots_at(self->slots, w->number, t);
        if (slot->acked || self->now - slot->sent_msec <= (int64_t) self->cfg.ack_timeout_msec) {
            t++;
            continue;
        }
        uint64_t task_id = slot->task_id;
        uint32_t attempt = slot->attempt;
        s_job_t *ent = s_job_of_task(self, task_id);
        /*  Partials of this attempt arrived: the worker has it.            */
        if (ent && braid_job_received_parts(ent->sj.job, (uint32_t) task_id) > slot->resume &&
            braid_job_attempt(ent->sj.job, (uint32_t) task_id) == attempt) {
            slot->acked = true;
            t++;
            continue;
        }
        s_cancel_task(self, task_id, attempt);
        if (ent) {
            braid_warning("task not acknowledged, task again job=%s task=%u worker=%s", ent->key,
                          (uint32_t) task_id, w->name);
            s_task_retry(self, ent, (uint32_t) task_id, attempt, true, "task not acknowledged");
            self->pump_all = true;
        }
        /*  Freed by the retry, or here; the last slot has moved to t.      */
        braid_sched_release(self->sched, task_id, attempt);
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
    for (uint32_t i = 0; i < braid_sched_nworkers(self->sched); i++) {
        s_worker_t *w = s_worker(self, (int32_t) i);
        if (!w)
            continue;
        int64_t idle = self->now - w->last_seen_msec;
        if (idle > (int64_t) self->cfg.worker_liveness_msec) {
            braid_info("worker expired name=%s idle_msec=%" PRId64 " running=%u", w->name, idle,
                       braid_slots_running(self->slots, w->number));
            s_worker_remove(self, w, true, "worker lost");
            continue;
        }
        s_send_worker(self, w, &beat);
        s_check_slots(self, w);
    }
    /*  Clients: a silent one loses its jobs; an idle one is forgotten.     */
    for (braid_sched_job_t *sj = braid_sched_jobs(self->sched); sj; sj = sj->next) {
        s_job_t *ent = s_job(sj);
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
    self->sched = braid_sched_new((unsigned int) (zclock_time() ^ getpid()));
    self->workers_by_rid = zhashx_new();
    self->jobs_by_key = zhashx_new();
    self->clients = zhashx_new();
    self->deadlines = braid_timers_new();
    if (!self->sched || !self->workers_by_rid || !self->jobs_by_key || !self->clients ||
        !self->deadlines) {
        braid_broker_destroy(&self);
        return NULL;
    }
    self->slots = braid_sched_slots(self->sched);
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
    if (self->sched) {
        while (braid_sched_jobs(self->sched))
            s_job_remove(self, s_job(braid_sched_jobs(self->sched)));
        for (uint32_t i = 0; i < braid_sched_nworkers(self->sched); i++) {
            s_worker_t *w = s_worker(self, (int32_t) i);
            s_worker_free(&w);
        }
    }
    braid_sched_destroy(&self->sched);
    zhashx_destroy(&self->workers_by_rid);
    zhashx_destroy(&self->jobs_by_key);
    zhashx_destroy(&self->clients);
    braid_timers_destroy(&self->deadlines);
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
    for (uint32_t g = 0; g < braid_sched_nsources(self->sched); g++) {
        const char *name = braid_sched_source_name(self->sched, (uint16_t) g);
        braid_sched_source_set_policy(self->sched, (uint16_t) g,
                                      braid_broker_config_policy(&self->cfg, name), self->now);
    }
    braid_notice("source policies reloaded policies=%u", cfg->npolicies);
    braid_sched_wake(self->sched);
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
    braid_sched_job_t *sj = braid_sched_jobs(self->sched);
    while (sj && self->blocked_jobs) {
        braid_sched_job_t *next = sj->next;
        if (s_job(sj)->blocked)
            s_job_pump(self, s_job(sj));
        sj = next;
    }
}

/*  How long poll may sleep: until the next tick, deadline, backoff or
    token, or a retry of a blocked client.                                  */
static long
s_poll_timeout(braid_broker_t *self)
{
    int64_t until = self->next_tick;
    int64_t t = braid_timers_next(self->deadlines);
    if (t < until)
        until = t;
    t = braid_sched_next_msec(self->sched, self->now);
    if (t < until)
        until = t;
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
    braid_notice("draining jobs=%zu drain_msec=%u", braid_sched_njobs(self->sched),
                 self->cfg.drain_msec);
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
            size_t njobs = braid_sched_njobs(self->sched);
            if (njobs == 0) {
                /*  Let the last ENDs and JOB_ENDs reach their clients.     */
                zsock_set_linger(self->frontend, S_STOP_GRACE_MSEC);
                return 0;
            }
            if (self->now >= self->drain_until) {
                if (cancelled_rest)
                    return 0;   /* the grace after the cancel is over too */
                braid_warning("drain time over, cancelling jobs=%zu", njobs);
                for (braid_sched_job_t *sj = braid_sched_jobs(self->sched); sj; sj = sj->next)
                    s_job_stop(self, s_job(sj), BRAID_STATUS_CANCELLED,
                               "cancelled: broker stopping");
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
        braid_sched_fire(self->sched, self->now);
        braid_timer_t timer;
        while (braid_timers_pop(self->deadlines, self->now, &timer))
            s_on_deadline(self, &timer);
        if (self->now >= self->next_tick) {
            s_tick(self);
            /*  A task in a head's way may have filled its window since; and
                a head queued behind blocked tasks is looked for here only,
                once a tick, as that walks every slot of its worker.        */
            braid_sched_preempt(self->sched, true, self->now, &s_sched_io, self);
            self->next_tick = self->now + self->cfg.heartbeat_msec;
        }
        if (self->blocked_jobs)
            s_retry_blocked(self);
        if (self->pump_all)
            s_pump_all(self);
        if (braid_sched_due(self->sched)) {
            braid_sched_dispatch(self->sched, self->now, &s_sched_io, self);
            braid_sched_preempt(self->sched, false, self->now, &s_sched_io, self);
        }
        if (self->pump_all)
            s_pump_all(self);
    }
}
