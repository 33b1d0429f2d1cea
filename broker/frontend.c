/*  frontend.c - the broker's clients and the jobs they open: SUBMIT,
    QUERIES, CREDIT, CANCEL, PING and STATS on the frontend; the ordered
    streams back to them; client liveness. See broker_impl.h.               */

#include "broker_impl.h"

#include "braid_log.h"
#include "braid_msg.h"
#include "job.h"
#include "orphan.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Who a client is, for its limits: its CURVE key (the User-Id of its
    messages), else its IP address (tcp: the connection's Peer-Address),
    else its user id (ipc: the peer's credentials), else its connection.
    A new routing id, a new DEALER, is the same principal:
    max_jobs_per_client counts here.                                        */
typedef struct {
    char *key;                  /* "key:Z85", "ip:ADDR", "uid:N", "rid:HEX" */
    uint32_t refs;              /* client connections that are it          */
    uint32_t jobs;              /* open jobs                               */
} s_principal_t;

/*  A client connection (routing id) that has talked to us: its liveness,
    and who it is.                                                          */
typedef struct {
    char *key;                  /* hex of its routing id                   */
    int64_t last_seen_msec;
    uint32_t jobs;              /* open jobs                               */
    s_principal_t *principal;   /* a reference                             */
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
    braid_joblog_t *log;        /* where and when its tasks ran            */
    int64_t accepted_msec;
    uint64_t tasks;             /* announced: counted in open_tasks        */
    int64_t orphan_since[BRAID_MAX_SOURCES];    /* orphan.h; 0 = served   */
    zframe_t *resume;           /* a held job's RESUME frame, until applied */
    braid_msg_t resume_msg;     /* ... and its head (q, s, e)              */
} s_job_t;

/*  Nobody reads job ent any more (its client is gone, or broke the rules):
    what it still emits is dropped, and credit no longer holds it back, so
    that it can end.                                                        */
static void
s_silence(s_job_t *ent)
{
    ent->silent = true;
    braid_job_credit_unbounded(ent->sj.job);
}

/*  The broker's job of a scheduler job (the scheduler's view is its first
    member), or NULL.                                                       */
static s_job_t *
s_job(braid_sched_job_t *sj)
{
    return (s_job_t *) sj;
}

const char *
braid_frontend_job_key(braid_sched_job_t *sj)
{
    return s_job(sj)->key;
}

braid_joblog_t *
braid_frontend_joblog(braid_sched_job_t *sj)
{
    return s_job(sj)->log;
}

/*  ---------------------------------------------------------------------
    Jobs                                                                   */

/*  True unless a failed send consumed the payload (see braid_msg_try_send). */
static bool
s_payload_intact(zmsg_t **payload)
{
    return !payload || *payload;
}

/*  An END went out (or would have, to a client that is gone): counted for
    its source.                                                             */
static void
s_ended(braid_broker_t *self, s_job_t *ent, const braid_msg_t *msg)
{
    if (msg->source >= braid_job_nsources(ent->sj.job))
        return;
    braid_source_figures_t *fig = braid_sched_source_figures(self->sched, ent->sj.gid[msg->source]);
    if (fig)
        braid_source_figures_ended(fig, msg->status, self->now);
}

/*  The jobs' emitter (braid_job_emit_fn): to the client, without blocking;
    a client that cannot take more blocks its job, one that is gone
    silences it. An END that leaves (or is dropped for a silent job) is
    counted for its source.                                                 */
static int
s_emit(void *arg, braid_job_t *job, const braid_msg_t *msg, zmsg_t **payload)
{
    braid_broker_t *self = arg;
    s_job_t *ent = s_job(self->pumping);
    (void) job;
    assert(ent && ent->sj.job == job);
    if (!ent->silent && braid_msg_try_send(self->frontend, ent->client, msg, payload) != 0) {
        if (errno == EAGAIN && s_payload_intact(payload)) {
            if (!ent->blocked) {
                ent->blocked = true;
                self->blocked_jobs++;
            }
            return -1;
        }
        /*  The client is gone (EHOSTUNREACH): nobody will read this job.   */
        braid_info("client gone job=%s errno=%d", ent->key, errno);
        s_silence(ent);
    }
    if (payload)
        zmsg_destroy(payload);
    if (msg->type == BRAID_MSG_END)
        s_ended(self, ent, msg);
    return 0;
}

/*  The job log's fields of an END (a braid_job_describe_fn).               */
static void
s_describe(void *arg, braid_job_t *job, uint32_t idx, braid_msg_t *msg)
{
    braid_broker_t *self = arg;
    s_job_t *ent = s_job(self->pumping);
    (void) job;
    braid_joblog_describe(ent->log, idx, self->now, msg);
}

static const braid_job_io_t s_io = {s_emit, braid_backend_grant, s_describe};

/*  Close the job: forget it everywhere and free it.                        */
static void
s_job_remove(braid_broker_t *self, s_job_t *ent)
{
    if (ent->blocked)
        self->blocked_jobs--;
    if (ent->owner && ent->owner->jobs > 0) {
        ent->owner->jobs--;
        ent->owner->principal->jobs--;
    }
    self->open_tasks -= ent->tasks;
    zhashx_delete(self->jobs_by_key, ent->key);
    braid_sched_job_remove(self->sched, &ent->sj);
    braid_debug("job closed job=%s", ent->key);
    braid_job_destroy(&ent->sj.job);
    braid_joblog_destroy(&ent->log);
    zframe_destroy(&ent->client);
    zframe_destroy(&ent->resume);
    free(ent->key);
    free(ent);
}

void
braid_frontend_job_pump(braid_broker_t *self, braid_sched_job_t *sj)
{
    s_job_t *ent = s_job(sj);
    braid_job_t *job = sj->job;
    if (ent->blocked) {
        ent->blocked = false;
        self->blocked_jobs--;
    }
    self->pumping = sj;
    bool over = braid_job_over_buffer(job);
    braid_job_pump(job, &s_io, self);
    if (over && !braid_job_over_buffer(job))
        braid_sched_wake(self->sched);  /* it may dispatch again */
    if (ent->silent && !ent->stopped) {
        /*  Nobody reads this job any more: stop its work too.              */
        braid_frontend_job_stop(self, sj, BRAID_STATUS_CANCELLED, "cancelled: client gone");
        braid_job_pump(job, &s_io, self);
    }
    self->pumping = NULL;
    if (braid_job_finished(job) && braid_slots_held(self->slots, braid_job_serial(job)) == 0)
        s_job_remove(self, ent);
}

void
braid_frontend_job_stop(braid_broker_t *self, braid_sched_job_t *sj, uint32_t status,
                        const char *text)
{
    s_job(sj)->stopped = true;
    braid_job_cancel(sj->job, status, text, braid_backend_cancel_task, self);
    braid_sched_wake(self->sched);
}

void
braid_frontend_check_fail_fast(braid_broker_t *self, braid_sched_job_t *sj)
{
    if ((braid_job_flags(sj->job) & BRAID_FLAG_FAIL_FAST) && braid_job_failures(sj->job) > 0)
        braid_frontend_job_stop(self, sj, BRAID_STATUS_CANCELLED, "cancelled: fail-fast");
}

/*  ---------------------------------------------------------------------
    Requests                                                               */

/*  ERROR to a client, counted as rejected.                                 */
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

/*  ACCEPT to a client.                                                     */
static void
s_send_accept(braid_broker_t *self, zframe_t *client, const uint8_t *job_id)
{
    braid_msg_t accept;
    braid_msg_init(&accept, BRAID_MSG_ACCEPT);
    memcpy(accept.job_id, job_id, 16);
    if (braid_msg_send(self->frontend, client, &accept, NULL, true) != 0)
        braid_debug("cannot send accept errno=%d", errno);
}

/*  Order key: every source of msg (gid[s] its id) must be scored by every
    worker serving it, all in one order (*ascending). 0, or the error code
    with text filled in.                                                    */
static uint32_t
s_key_refusal(braid_broker_t *self, const braid_msg_t *msg, const uint16_t *gid, bool *ascending,
              char *text, size_t size)
{
    braid_sched_keys_t first = BRAID_SCHED_UNKEYED;
    for (uint32_t s = 0; s < msg->nsources; s++) {
        braid_sched_keys_t keys = braid_sched_source_keys(self->sched, gid[s]);
        if (keys == BRAID_SCHED_UNKEYED) {
            snprintf(text, size,
                     "order key needs a score from every source: source '%s' has none "
                     "(a worker serves it without score)",
                     msg->sources[s]);
            return BRAID_ERR_CODE_BAD_REQUEST;
        }
        if (keys == BRAID_SCHED_KEYED_MIXED) {
            snprintf(text, size,
                     "order key: the workers serving source '%s' rank its scores in different "
                     "orders (score_order)",
                     msg->sources[s]);
            return BRAID_ERR_CODE_BAD_REQUEST;
        }
        if (s == 0)
            first = keys;
        else if (keys != first) {
            snprintf(text, size,
                     "order key: sources '%s' and '%s' rank scores in opposite orders "
                     "(score_order)",
                     msg->sources[0], msg->sources[s]);
            return BRAID_ERR_CODE_BAD_REQUEST;
        }
    }
    *ascending = first == BRAID_SCHED_KEYED_ASC;
    return 0;
}

/*  "no worker serves source 'NAME' (served: a, b)" into text: the sources
    that are served, so that a typo does not read as an outage. Cut with
    ", ..." to fit size.                                                    */
static void
s_unserved_text(braid_broker_t *self, const char *name, char *text, size_t size)
{
    static const char more[] = ", ...)";
    int len = snprintf(text, size, "no worker serves source '%s' (", name);
    if (len < 0 || (size_t) len + sizeof more >= size)
        return;
    size_t at = (size_t) len, listed = 0;
    for (uint32_t g = 0; g < braid_sched_nsources(self->sched); g++) {
        if (!braid_sched_source_served(self->sched, (uint16_t) g))
            continue;
        const char *served = braid_sched_source_name(self->sched, (uint16_t) g);
        size_t need = strlen(served) + (listed ? 2 : strlen("served: "));
        if (at + need + sizeof more >= size) {
            snprintf(text + at, size - at, "%s", more + (listed ? 0 : 2));
            return;
        }
        at += (size_t) snprintf(text + at, size - at, "%s%s", listed ? ", " : "served: ", served);
        listed++;
    }
    snprintf(text + at, size - at, "%s", listed ? ")" : "no source is served)");
}

/*  Bytes the open jobs hold: queries, task records, buffered partials.    */
static uint64_t
s_buffered(braid_broker_t *self)
{
    uint64_t bytes = 0;
    for (braid_sched_job_t *sj = braid_sched_jobs(self->sched); sj; sj = sj->next)
        bytes += braid_job_buffered_bytes(sj->job) + braid_job_record_bytes(sj->job);
    return bytes;
}

/*  The global caps: a new job of tasks tasks (0: none), or more bytes of
    queries for an open one. 0 if within them, else BRAID_ERR_CODE_FULL
    with text filled in.                                                    */
static uint32_t
s_cap_refusal(braid_broker_t *self, uint64_t tasks, uint64_t bytes, char *text, size_t size)
{
    const braid_broker_config_t *cfg = &self->cfg;
    if (tasks && braid_sched_njobs(self->sched) >= cfg->max_jobs) {
        snprintf(text, size, "broker full: %zu open jobs (limit %u, max_jobs)",
                 braid_sched_njobs(self->sched), cfg->max_jobs);
        return BRAID_ERR_CODE_FULL;
    }
    if (tasks && self->open_tasks + tasks > cfg->max_tasks) {
        snprintf(text, size,
                 "broker full: %" PRIu64 " tasks open, %" PRIu64 " more would pass the limit %"
                 PRIu64 " (max_tasks)",
                 self->open_tasks, tasks, cfg->max_tasks);
        return BRAID_ERR_CODE_FULL;
    }
    uint64_t held = s_buffered(self);
    if (held + bytes >= cfg->max_buffered_bytes) {
        snprintf(text, size,
                 "broker full: %" PRIu64 " bytes buffered%s (limit %" PRIu64
                 ", max_buffered_bytes)",
                 held, bytes ? " with these queries" : "", cfg->max_buffered_bytes);
        return BRAID_ERR_CODE_FULL;
    }
    return 0;
}

/*  Check a SUBMIT against the broker's rules; 0 if it may open, else the
    error code with text filled in. gid[s] gets each source's id, and
    *ascending the score order of an order key job.                         */
static uint32_t
s_submit_refusal(braid_broker_t *self, s_client_t *client, const braid_msg_t *msg, uint16_t *gid,
                 bool *ascending, char *text, size_t size)
{
    if (self->draining) {
        snprintf(text, size, "broker is stopping: not accepting jobs");
        return BRAID_ERR_CODE_UNAVAILABLE;
    }
    if (client->principal->jobs >= self->cfg.max_jobs_per_client) {
        snprintf(text, size, "too many open jobs for this client (limit %u, max_jobs_per_client)",
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
            s_unserved_text(self, msg->sources[s], text, size);
            return BRAID_ERR_CODE_BAD_REQUEST;
        }
        gid[s] = (uint16_t) id;
    }
    /*  A job the broker could run: the global caps say whether it can now. */
    uint32_t code = s_cap_refusal(self, tasks, 0, text, size);
    if (code)
        return code;
    if (msg->order == BRAID_ORDER_KEY)
        return s_key_refusal(self, msg, gid, ascending, text, size);
    return 0;
}

/*  SUBMIT: open the job (or ACCEPT again an identical one), or refuse.     */
static void
s_on_submit(braid_broker_t *self, zframe_t *client, s_client_t *owner, const braid_msg_t *msg)
{
    char *key = braid_broker_hex(client, msg->job_id);
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
    bool ascending = false;
    uint32_t code = s_submit_refusal(self, owner, msg, gid, &ascending, text, sizeof text);
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
        if (ent->sj.job) {
            braid_job_set_window_bytes(ent->sj.job, self->cfg.window_bytes);
            braid_job_set_credit_bytes(ent->sj.job, self->cfg.credit_bytes);
            braid_job_set_buffer_limit(ent->sj.job, self->cfg.max_job_buffered_bytes);
            braid_job_set_ascending(ent->sj.job, ascending);
        }
        memcpy(ent->sj.gid, gid, sizeof gid);
        ent->client = zframe_dup(client);
        ent->accepted_msec = self->now;
        ent->log = braid_joblog_new((uint64_t) msg->count * msg->nsources, self->now,
                                    zclock_time());
    }
    if (!ent || !ent->sj.job || !ent->client || !ent->log ||
        braid_sched_job_add(self->sched, &ent->sj) != 0) {
        if (ent) {
            braid_job_destroy(&ent->sj.job);
            braid_joblog_destroy(&ent->log);
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
    owner->principal->jobs++;
    ent->tasks = (uint64_t) msg->count * msg->nsources;
    self->open_tasks += ent->tasks;
    zhashx_insert(self->jobs_by_key, ent->key, ent);
    if (msg->flags & BRAID_FLAG_RESUME)
        braid_job_hold(ent->sj.job);    /* until its RESUME: s_try_resume */
    if (msg->deadline_msec)
        braid_timers_add(self->deadlines, self->now + msg->deadline_msec, 0, serial, 0);
    braid_debug("job open job=%s queries=%u sources=%u", ent->key, msg->count, msg->nsources);
    s_send_accept(self, client, msg->job_id);
}

/*  The job a client opened with job_id, or NULL.                           */
static s_job_t *
s_find_job(braid_broker_t *self, zframe_t *client, const uint8_t *job_id)
{
    char *key = braid_broker_hex(client, job_id);
    if (!key)
        return NULL;
    s_job_t *ent = zhashx_lookup(self->jobs_by_key, key);
    free(key);
    return ent;
}

/*  The principal a client connection is (see s_principal_t), a new
    reference. NULL on allocation failure.                                  */
static s_principal_t *
s_principal(braid_broker_t *self, const char *rid_hex, const braid_msg_t *msg)
{
    char key[BRAID_MAX_PEER + BRAID_MAX_ADDRESS + 16];
    if (msg->peer[0])
        snprintf(key, sizeof key, "key:%s", msg->peer);
    else if (strncmp(msg->address, "localhost:", 10) == 0) {
        /*  ipc: libzmq says "localhost:UID:GID:PID" (the peer's
            credentials): a local user is one client.                       */
        size_t uid = strcspn(msg->address + 10, ":");
        snprintf(key, sizeof key, "uid:%.*s", (int) uid, msg->address + 10);
    } else if (msg->address[0])
        snprintf(key, sizeof key, "ip:%s", msg->address);
    else
        snprintf(key, sizeof key, "rid:%.64s", rid_hex);
    s_principal_t *p = zhashx_lookup(self->principals, key);
    if (!p) {
        p = calloc(1, sizeof *p);
        if (!p || !(p->key = strdup(key)) || zhashx_insert(self->principals, p->key, p) != 0) {
            if (p)
                free(p->key);
            free(p);
            return NULL;
        }
    }
    p->refs++;
    return p;
}

/*  Let go of a client connection's principal: forgotten with its last.    */
static void
s_principal_unref(braid_broker_t *self, s_principal_t **p_p)
{
    s_principal_t *p = *p_p;
    *p_p = NULL;
    if (p && --p->refs == 0) {
        zhashx_delete(self->principals, p->key);
        free(p->key);
        free(p);
    }
}

/*  The client record for a routing id, created on first contact with the
    principal msg says it is.                                               */
static s_client_t *
s_client(braid_broker_t *self, zframe_t *rid, const braid_msg_t *msg)
{
    char *key = braid_broker_hex(rid, NULL);
    if (!key)
        return NULL;
    s_client_t *c = zhashx_lookup(self->clients, key);
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c || !(c->principal = s_principal(self, key, msg))) {
            free(c);
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

size_t
braid_frontend_collect(braid_broker_t *self, braid_stats_job_t *list, size_t max)
{
    size_t n = 0;
    for (braid_sched_job_t *sj = braid_sched_jobs(self->sched); sj && n < max; sj = sj->next) {
        s_job_t *ent = s_job(sj);
        braid_job_t *job = sj->job;
        braid_stats_job_t *line = &list[n++];
        memcpy(line->id, braid_job_id(job), sizeof line->id);
        line->client = ent->owner ? ent->owner->key : "";
        line->order = braid_job_order(job);
        line->queries = braid_job_count(job);
        line->queries_done = braid_job_queries_done(job);
        line->tasks = (uint64_t) line->queries * braid_job_nsources(job);
        line->tasks_done = braid_job_tasks_done(job);
        line->in_flight = braid_job_inflight(job);
        line->age_msec = self->now - ent->accepted_msec;
    }
    return n;
}

/*  The STATS reply's JSON: owned, NULL on allocation failure.              */
static char *
s_stats_json(braid_broker_t *self)
{
    braid_stats_t stats;
    if (braid_broker_collect(self, &stats) != 0)
        return NULL;
    char *json = braid_stats_json(&stats);
    braid_broker_collect_free(&stats);
    return json;
}

/*  A held job resumes once its RESUME came and its queries are complete
    (PROTOCOL.md, "A job" 10); bad ranges end it with ERROR 400.           */
static void
s_try_resume(braid_broker_t *self, s_job_t *ent)
{
    braid_job_t *job = ent->sj.job;
    if (!ent->resume || !braid_job_held(job) || !braid_job_queries_complete(job))
        return;
    braid_on_retry_t on_retry[BRAID_MAX_SOURCES];
    for (uint32_t s = 0; s < braid_job_nsources(job); s++)
        on_retry[s] = braid_sched_policy(self->sched, ent->sj.gid[s])->on_retry;
    const braid_msg_t *r = &ent->resume_msg;
    size_t size = zframe_size(ent->resume);
    if (braid_job_resume(job, zframe_data(ent->resume), size, r->query, r->source, r->seq,
                         on_retry) != 0) {
        s_send_error(self, ent->client, braid_job_id(job), BRAID_ERR_CODE_BAD_REQUEST,
                     "resume: task ranges out of order or beyond the job");
        s_silence(ent);
        braid_frontend_job_stop(self, &ent->sj, BRAID_STATUS_CANCELLED, "cancelled: bad request");
    } else
        braid_info("job resumed job=%s ranges=%zu head=%u/%u seq=%llu", ent->key,
                   size / BRAID_RESUME_RANGE, r->query, r->source, (unsigned long long) r->seq);
    zframe_destroy(&ent->resume);
    braid_sched_wake(self->sched);
    braid_frontend_job_pump(self, &ent->sj);
}

/*  RESUME: kept until the held job's queries are complete; a repeat, or
    one for a job not held, is ignored.                                    */
static void
s_on_resume(braid_broker_t *self, s_job_t *ent, const braid_msg_t *msg, zmsg_t *payload)
{
    if (ent->resume || !braid_job_held(ent->sj.job))
        return;
    ent->resume = zmsg_pop(payload);
    if (!ent->resume)
        return;
    ent->resume_msg = *msg;
    s_try_resume(self, ent);
}

void
braid_frontend_on_message(braid_broker_t *self)
{
    braid_msg_t msg;
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    if (braid_broker_recv(self, self->frontend, &msg, &rid, &payload) != 0)
        return;
    s_client_t *client = s_client(self, rid, &msg);
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
        /*  New queries (not a resent batch) must fit under the cap.       */
        char text[BRAID_MAX_TEXT + 1];
        bool fresh = payload && (uint64_t) msg.first + zmsg_size(payload) >
                                    braid_job_received(ent->sj.job);
        uint32_t code = fresh ? s_cap_refusal(self, 0, zmsg_content_size(payload) +
                                                           zmsg_size(payload) * sizeof(uint32_t),
                                              text, sizeof text)
                              : 0;
        if (code) {
            s_send_error(self, rid, msg.job_id, code, text);
            s_silence(ent);
            braid_frontend_job_stop(self, &ent->sj, BRAID_STATUS_CANCELLED,
                                    "cancelled: broker full");
            braid_frontend_job_pump(self, &ent->sj);
            break;
        }
        if (braid_job_add_queries(ent->sj.job, msg.first, &payload) != 0) {
            s_send_error(self, rid, msg.job_id, BRAID_ERR_CODE_BAD_REQUEST,
                         "queries out of order or beyond the announced count");
            s_silence(ent);
            braid_frontend_job_stop(self, &ent->sj, BRAID_STATUS_CANCELLED,
                                    "cancelled: bad request");
            braid_frontend_job_pump(self, &ent->sj);
            break;
        }
        s_try_resume(self, ent);
        braid_sched_wake(self->sched);
        break;
    case BRAID_MSG_RESUME:
        ent = s_find_job(self, rid, msg.job_id);
        if (!ent || ent->silent) {
            s_send_error(self, rid, msg.job_id, BRAID_ERR_CODE_UNKNOWN_JOB, "unknown job");
            break;
        }
        s_on_resume(self, ent, &msg, payload);
        break;
    case BRAID_MSG_CREDIT:
        ent = s_find_job(self, rid, msg.job_id);
        if (!ent) {
            /*  A job this broker does not hold (any more): closed, or the
                broker restarted under a client that repeats its credit.
                The client fails over on it (PROTOCOL.md, "A job" 10).     */
            self->counters.unknown++;
            s_send_error(self, rid, msg.job_id, BRAID_ERR_CODE_UNKNOWN_JOB, "unknown job");
            break;
        }
        braid_job_credit(ent->sj.job, msg.credit);
        braid_frontend_job_pump(self, &ent->sj);
        break;
    case BRAID_MSG_CANCEL:
        ent = s_find_job(self, rid, msg.job_id);
        if (!ent) {
            s_send_error(self, rid, msg.job_id, BRAID_ERR_CODE_UNKNOWN_JOB, "unknown job");
            break;
        }
        braid_info("job cancelled by client job=%s", ent->key);
        braid_frontend_job_stop(self, &ent->sj, BRAID_STATUS_CANCELLED, "cancelled");
        braid_frontend_job_pump(self, &ent->sj);
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

void
braid_frontend_pump_all(braid_broker_t *self)
{
    self->pump_all = false;
    braid_sched_job_t *sj = braid_sched_jobs(self->sched);
    while (sj) {
        braid_sched_job_t *next = sj->next;
        braid_frontend_job_pump(self, sj);
        sj = next;
    }
}

void
braid_frontend_retry_blocked(braid_broker_t *self)
{
    braid_sched_job_t *sj = braid_sched_jobs(self->sched);
    while (sj && self->blocked_jobs) {
        braid_sched_job_t *next = sj->next;
        if (s_job(sj)->blocked)
            braid_frontend_job_pump(self, sj);
        sj = next;
    }
}

/*  ---------------------------------------------------------------------
    Time                                                                   */

void
braid_frontend_on_deadline(braid_broker_t *self, const braid_timer_t *timer)
{
    braid_sched_job_t *sj = braid_sched_job_of(self->sched, braid_task_id(timer->a, 0));
    if (!sj)
        return;     /* the job is gone: a lazily cancelled timer */
    braid_info("job deadline passed job=%s", s_job(sj)->key);
    braid_frontend_job_stop(self, sj, BRAID_STATUS_TIMEOUT, "job deadline passed");
    braid_frontend_job_pump(self, sj);
}

void
braid_frontend_tick(braid_broker_t *self)
{
    for (braid_sched_job_t *sj = braid_sched_jobs(self->sched); sj; sj = sj->next) {
        s_job_t *ent = s_job(sj);
        if (ent->stopped || !ent->owner)
            continue;
        if (!braid_job_finished(sj->job) && braid_orphan_check(self, sj, ent->orphan_since)) {
            braid_frontend_check_fail_fast(self, sj);
            self->pump_all = true;
        }
        int64_t idle = self->now - ent->owner->last_seen_msec;
        if (idle > (int64_t) self->cfg.client_liveness_msec) {
            braid_info("client expired job=%s idle_msec=%" PRId64, ent->key, idle);
            s_silence(ent);
            braid_frontend_job_stop(self, sj, BRAID_STATUS_CANCELLED, "cancelled: client lost");
            self->pump_all = true;
        }
    }
    zlistx_t *idle_clients = zlistx_new();
    if (!idle_clients)
        return;
    int64_t liveness = self->cfg.client_liveness_msec;
    for (s_client_t *c = zhashx_first(self->clients); c; c = zhashx_next(self->clients))
        if (c->jobs == 0 && self->now - c->last_seen_msec > liveness)
            zlistx_add_end(idle_clients, c->key);
    for (char *key = zlistx_first(idle_clients); key; key = zlistx_next(idle_clients)) {
        s_client_t *c = zhashx_lookup(self->clients, key);
        s_principal_unref(self, &c->principal);
        zhashx_delete(self->clients, key);
    }
    zlistx_destroy(&idle_clients);
}

/*  ---------------------------------------------------------------------
    Life cycle                                                             */

/*  zhashx destructor of client records.                                    */
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

int
braid_frontend_init(braid_broker_t *self)
{
    self->jobs_by_key = zhashx_new();
    self->clients = zhashx_new();
    self->principals = zhashx_new();
    if (!self->jobs_by_key || !self->clients || !self->principals)
        return -1;
    zhashx_set_destructor(self->clients, s_client_free);
    return 0;
}

void
braid_frontend_fini(braid_broker_t *self)
{
    while (self->sched && self->jobs_by_key && braid_sched_jobs(self->sched))
        s_job_remove(self, s_job(braid_sched_jobs(self->sched)));
    zhashx_destroy(&self->jobs_by_key);
    for (s_client_t *c = self->clients ? zhashx_first(self->clients) : NULL; c;
         c = zhashx_next(self->clients))
        s_principal_unref(self, &c->principal);
    zhashx_destroy(&self->clients);
    zhashx_destroy(&self->principals);
}
