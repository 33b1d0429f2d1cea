/*  broker.c - the braid broker: sockets, event loop, dispatch.             */

#include "broker.h"

#include "braid_log.h"
#include "braid_msg.h"
#include "job.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_GLOBAL_SOURCES 1024   /* distinct source names ever seen     */
#define S_DRAIN_MAX 512             /* messages handled per socket a turn  */
#define S_RETRY_MSEC 2              /* retry a blocked client after        */
#define S_FRONTEND_HWM 200000       /* > the sum of client credit windows  */
#define S_BACKEND_HWM 20000
#define S_SINK_HWM 100000
/*  Nothing a client sends is longer than a query or a header.              */
#define S_FRONTEND_MAX_FRAME (BRAID_MAX_HEADER + BRAID_MAX_QUERY_LEN)

/*  A registered worker.                                                    */
typedef struct {
    zframe_t *rid;              /* its routing id on the backend           */
    char *key;                  /* hex of rid, key in workers_by_rid       */
    char name[BRAID_MAX_NAME + 1];
    uint32_t slots;
    uint32_t running;
    uint32_t nsrc;
    uint16_t src[BRAID_MAX_SOURCES];    /* global source ids it serves     */
    bool leaving;               /* said BYE: no new tasks                  */
} s_worker_t;

/*  A job as the broker sees it: the job plus its client.                   */
typedef struct s_job_t s_job_t;
struct s_job_t {
    s_job_t *prev, *next;       /* the broker's list of jobs               */
    braid_job_t *job;
    zframe_t *client;           /* client routing id on the frontend       */
    char *key;                  /* hex(client) hex(job id)                 */
    char *client_key;           /* hex(client)                             */
    uint16_t gid[BRAID_MAX_SOURCES];    /* global id of each job source    */
    bool blocked;               /* the client could not take more now      */
    bool silent;                /* emit nothing more (client gone or bad)  */
};

/*  Drop counters, one per reason.                                          */
typedef struct {
    uint64_t malformed[BRAID_ERR_COUNT];
    uint64_t stale;             /* result of an older attempt              */
    uint64_t unknown;           /* result or message for nobody we know    */
    uint64_t gaps;              /* result streams with a missing seq       */
    uint64_t rejected;          /* client requests answered ERROR          */
} s_counters_t;

struct braid_broker_t {
    braid_broker_config_t cfg;
    zsock_t *frontend;
    zsock_t *backend;
    zsock_t *sink;
    char *endpoint[3];

    s_worker_t **workers;       /* index = worker number; NULL = free      */
    uint32_t nworkers;
    zhashx_t *workers_by_rid;   /* hex rid -> s_worker_t                   */

    zhashx_t *sources;          /* name -> global id + 1                   */
    char *source_names[S_MAX_GLOBAL_SOURCES];
    uint32_t nsources;

    s_job_t *jobs_head;         /* all open jobs, oldest first             */
    s_job_t *jobs_tail;
    s_job_t *rr;                /* round robin: the job to serve first     */
    size_t njobs;
    zhashx_t *jobs_by_key;      /* client+job id -> s_job_t                */
    zhashx_t *jobs_by_serial;   /* serial -> s_job_t                       */
    zhashx_t *jobs_per_client;  /* client key -> open job count            */
    uint32_t next_serial;

    bool dispatch_due;
    bool pump_all;              /* some job changed outside a pump        */
    uint32_t blocked_jobs;
    s_counters_t counters;
    uint64_t tasks_dispatched;
    uint64_t tasks_done;
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

/*  Global id of a source name, registering it; -1 when the table is full.   */
static int
s_source_id(braid_broker_t *self, const char *name, bool create)
{
    void *v = zhashx_lookup(self->sources, name);
    if (v)
        return (int) ((uintptr_t) v - 1);
    if (!create || self->nsources >= S_MAX_GLOBAL_SOURCES)
        return -1;
    uint32_t id = self->nsources;
    self->source_names[id] = strdup(name);
    if (!self->source_names[id])
        return -1;
    zhashx_insert(self->sources, name, (void *) (uintptr_t) (id + 1));
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

/*  The least-loaded worker serving gid with a free slot, or -1.            */
static int32_t
s_pick_worker(braid_broker_t *self, uint16_t gid)
{
    int32_t best = -1;
    uint64_t best_load = 0;
    for (uint32_t i = 0; i < self->nworkers; i++) {
        s_worker_t *w = self->workers[i];
        if (!w || w->leaving || w->running >= w->slots || !s_worker_serves(w, gid))
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
        if (self->workers[i] && !self->workers[i]->leaving &&
            s_worker_serves(self->workers[i], gid))
            return true;
    return false;
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
    s_job_t *ent = zhashx_lookup(self->jobs_by_serial,
                                 (void *) (uintptr_t) braid_job_serial(job));
    assert(ent);
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
s_job_remove(braid_broker_t *self, s_job_t *ent)
{
    if (ent->blocked)
        self->blocked_jobs--;
    void *count = zhashx_lookup(self->jobs_per_client, ent->client_key);
    if (count) {
        uintptr_t n = (uintptr_t) count - 1;
        if (n)
            zhashx_update(self->jobs_per_client, ent->client_key, (void *) n);
        else
            zhashx_delete(self->jobs_per_client, ent->client_key);
    }
    zhashx_delete(self->jobs_by_key, ent->key);
    zhashx_delete(self->jobs_by_serial, (void *) (uintptr_t) braid_job_serial(ent->job));
    if (self->rr == ent)
        self->rr = ent->next;
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
    free(ent->client_key);
    free(ent);
}

/*  Emit what the job can, and close it when it is over.                    */
static void
s_job_pump(braid_broker_t *self, s_job_t *ent)
{
    if (ent->blocked) {
        ent->blocked = false;
        self->blocked_jobs--;
    }
    braid_job_pump(ent->job, s_emit, self);
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

static void
s_job_cancel(braid_broker_t *self, s_job_t *ent)
{
    braid_job_cancel(ent->job, s_cancel_task, self);
    self->dispatch_due = true;
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
s_on_submit(braid_broker_t *self, zframe_t *client, const braid_msg_t *msg)
{
    char *key = s_frame_hex(client, msg->job_id);
    char *client_key = s_frame_hex(client, NULL);
    if (!key || !client_key)
        goto done;
    s_job_t *ent = zhashx_lookup(self->jobs_by_key, key);
    if (ent) {
        if (!braid_job_same(ent->job, msg)) {
            s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_CONFLICT,
                         "job id already open with other parameters");
            goto done;
        }
        braid_msg_t accept;
        braid_msg_init(&accept, BRAID_MSG_ACCEPT);
        memcpy(accept.job_id, msg->job_id, 16);
        braid_msg_send(self->frontend, client, &accept, NULL, true);
        goto done;
    }
    if (msg->order == BRAID_ORDER_KEY) {
        s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_BAD_REQUEST,
                     "order 'key' is not supported by this broker");
        goto done;
    }
    uintptr_t open = (uintptr_t) zhashx_lookup(self->jobs_per_client, client_key);
    if (open && open - 1 >= self->cfg.max_jobs_per_client) {
        s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_TOO_MANY,
                     "too many open jobs for this client");
        goto done;
    }
    if ((uint64_t) msg->count * msg->nsources > self->cfg.max_tasks_per_job) {
        char text[128];
        snprintf(text, sizeof text, "too many tasks: %" PRIu64 " (queries x sources), limit %" PRIu64,
                 (uint64_t) msg->count * msg->nsources, self->cfg.max_tasks_per_job);
        s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_BAD_REQUEST, text);
        goto done;
    }
    uint16_t gid[BRAID_MAX_SOURCES];
    for (uint32_t s = 0; s < msg->nsources; s++) {
        for (uint32_t t = 0; t < s; t++)
            if (streq(msg->sources[s], msg->sources[t])) {
                s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_BAD_REQUEST,
                             "a source is named twice");
                goto done;
            }
        int id = s_source_id(self, msg->sources[s], false);
        if (id < 0 || !s_source_served(self, (uint16_t) id)) {
            char text[128];
            snprintf(text, sizeof text, "no worker serves source '%s'", msg->sources[s]);
            s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_BAD_REQUEST, text);
            goto done;
        }
        gid[s] = (uint16_t) id;
    }
    ent = calloc(1, sizeof *ent);
    if (!ent)
        goto done;
    uint32_t serial = ++self->next_serial;
    if (serial == 0)
        serial = ++self->next_serial;
    ent->job = braid_job_new(msg, serial, self->cfg.max_tasks_per_job);
    ent->client = zframe_dup(client);
    if (!ent->job || !ent->client) {
        braid_job_destroy(&ent->job);
        zframe_destroy(&ent->client);
        free(ent);
        s_send_error(self, client, msg->job_id, BRAID_ERR_CODE_UNAVAILABLE, "out of memory");
        goto done;
    }
    memcpy(ent->gid, gid, sizeof gid);
    ent->key = key;
    ent->client_key = client_key;
    key = client_key = NULL;
    zhashx_insert(self->jobs_by_key, ent->key, ent);
    zhashx_insert(self->jobs_by_serial, (void *) (uintptr_t) serial, ent);
    zhashx_update(self->jobs_per_client, ent->client_key, (void *) (open ? open + 1 : 2));
    ent->prev = self->jobs_tail;
    if (self->jobs_tail)
        self->jobs_tail->next = ent;
    else
        self->jobs_head = ent;
    self->jobs_tail = ent;
    self->njobs++;
    braid_debug("job open job=%s queries=%u sources=%u", ent->key, msg->count, msg->nsources);

    braid_msg_t accept;
    braid_msg_init(&accept, BRAID_MSG_ACCEPT);
    memcpy(accept.job_id, msg->job_id, 16);
    if (braid_msg_send(self->frontend, client, &accept, NULL, true) != 0)
        braid_debug("cannot send accept errno=%d", errno);
done:
    free(key);
    free(client_key);
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

static void
s_on_frontend(braid_broker_t *self)
{
    braid_msg_t msg;
    zframe_t *client = NULL;
    zmsg_t *payload = NULL;
    braid_err_t err;
    int rc = braid_msg_recv(self->frontend, true, BRAID_CH_CLIENT, &msg, &client, &payload, &err);
    if (rc == -1)
        return;
    if (rc == -2) {
        self->counters.malformed[err]++;
        braid_debug("frontend: dropped malformed message reason=%s", braid_err_name(err));
        goto done;
    }
    s_job_t *ent = NULL;
    switch (msg.type) {
    case BRAID_MSG_SUBMIT:
        s_on_submit(self, client, &msg);
        break;
    case BRAID_MSG_QUERIES:
        ent = s_find_job(self, client, msg.job_id);
        if (!ent || ent->silent) {
            s_send_error(self, client, msg.job_id, BRAID_ERR_CODE_UNKNOWN_JOB, "unknown job");
            break;
        }
        if (braid_job_add_queries(ent->job, msg.first, &payload) != 0) {
            s_send_error(self, client, msg.job_id, BRAID_ERR_CODE_BAD_REQUEST,
                         "queries out of order or beyond the announced count");
            ent->silent = true;
            s_job_cancel(self, ent);
            s_job_pump(self, ent);
            break;
        }
        self->dispatch_due = true;
        break;
    case BRAID_MSG_CREDIT:
        ent = s_find_job(self, client, msg.job_id);
        if (!ent) {
            self->counters.unknown++;
            break;
        }
        braid_job_credit(ent->job, msg.credit);
        s_job_pump(self, ent);
        break;
    case BRAID_MSG_CANCEL:
        ent = s_find_job(self, client, msg.job_id);
        if (!ent) {
            s_send_error(self, client, msg.job_id, BRAID_ERR_CODE_UNKNOWN_JOB, "unknown job");
            break;
        }
        braid_info("job cancelled by client job=%s", ent->key);
        s_job_cancel(self, ent);
        s_job_pump(self, ent);
        break;
    case BRAID_MSG_PING: {
        braid_msg_t pong;
        braid_msg_init(&pong, BRAID_MSG_PONG);
        braid_msg_send(self->frontend, client, &pong, NULL, true);
        break;
    }
    case BRAID_MSG_STATS: {
        char *json = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&json, &len);
        if (!f)
            break;
        uint32_t workers = 0, slots = 0, running = 0;
        for (uint32_t i = 0; i < self->nworkers; i++)
            if (self->workers[i]) {
                workers++;
                slots += self->workers[i]->slots;
                running += self->workers[i]->running;
            }
        fprintf(f,
                "{\"workers\":%u,\"slots\":%u,\"running\":%u,\"jobs\":%zu,"
                "\"tasks_dispatched\":%" PRIu64 ",\"tasks_done\":%" PRIu64 ",\"dropped\":{",
                workers, slots, running, self->njobs, self->tasks_dispatched,
                self->tasks_done);
        for (int e = 1; e < BRAID_ERR_COUNT; e++)
            fprintf(f, "\"%s\":%" PRIu64 ",", braid_err_name((braid_err_t) e),
                    self->counters.malformed[e]);
        fprintf(f,
                "\"stale\":%" PRIu64 ",\"unknown\":%" PRIu64 ",\"gaps\":%" PRIu64
                "},\"rejected\":%" PRIu64 "}",
                self->counters.stale, self->counters.unknown, self->counters.gaps,
                self->counters.rejected);
        fclose(f);
        braid_msg_t reply;
        braid_msg_init(&reply, BRAID_MSG_STATS_REPLY);
        zmsg_t *body = zmsg_new();
        zmsg_addmem(body, json, len);
        free(json);
        braid_msg_send(self->frontend, client, &reply, &body, true);
        break;
    }
    default:
        break;
    }
done:
    zmsg_destroy(&payload);
    zframe_destroy(&client);
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

static void
s_worker_remove(braid_broker_t *self, uint32_t index)
{
    s_worker_t *w = self->workers[index];
    braid_info("worker left name=%s", w->name);
    zhashx_delete(self->workers_by_rid, w->key);
    s_worker_free(&self->workers[index]);
}

static void
s_on_hello(braid_broker_t *self, zframe_t *rid, const char *key, const braid_msg_t *msg)
{
    s_worker_t *w = zhashx_lookup(self->workers_by_rid, key);
    if (!w) {
        uint32_t index = 0;
        while (index < self->nworkers && self->workers[index])
            index++;
        if (index == self->nworkers) {
            s_worker_t **grown =
                realloc(self->workers, (self->nworkers + 1) * sizeof *self->workers);
            if (!grown)
                return;
            self->workers = grown;
            self->nworkers++;
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
        self->workers[index] = w;
        zhashx_insert(self->workers_by_rid, w->key, w);
    }
    snprintf(w->name, sizeof w->name, "%s", msg->name);
    w->slots = msg->slots;
    w->leaving = false;
    w->nsrc = 0;
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
    self->dispatch_due = true;
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
        self->counters.unknown++;
        goto done;
    }
    if (msg.type == BRAID_MSG_BYE) {
        w->leaving = true;
        braid_info("worker leaving name=%s running=%u", w->name, w->running);
        if (w->running == 0)
            for (uint32_t i = 0; i < self->nworkers; i++)
                if (self->workers[i] == w) {
                    s_worker_remove(self, i);
                    break;
                }
    }
done:
    free(key);
    zmsg_destroy(&payload);
    zframe_destroy(&rid);
}

/*  ---------------------------------------------------------------------
    Results                                                                */

static s_job_t *
s_job_of_task(braid_broker_t *self, uint64_t task_id)
{
    uint32_t serial = (uint32_t) (task_id >> 32);
    return serial ? zhashx_lookup(self->jobs_by_serial, (void *) (uintptr_t) serial) : NULL;
}

static void
s_release_slot(braid_broker_t *self, int32_t index)
{
    if (index < 0 || (uint32_t) index >= self->nworkers || !self->workers[index])
        return;
    s_worker_t *w = self->workers[index];
    if (w->running > 0)
        w->running--;
    self->dispatch_due = true;
    if (w->leaving && w->running == 0)
        s_worker_remove(self, (uint32_t) index);
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
            self->counters.gaps++;
            braid_warning("result stream gap job=%s task=%u", ent->key, idx);
        }
    } else {
        int32_t worker = -1;
        rc = braid_job_done(ent->job, idx, msg.attempts, msg.status, msg.parts, msg.text, &worker);
        if (rc == -1 && worker < 0)
            self->counters.stale++;
        else if (rc == -2)
            self->counters.gaps++;
        if (rc == 0)
            self->tasks_done++;
        s_release_slot(self, worker);
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
    int32_t wi = s_pick_worker(self, ent->gid[s]);
    assert(wi >= 0);
    s_worker_t *w = self->workers[wi];

    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK);
    msg.task_id = braid_task_id(braid_job_serial(job), (uint32_t) idx);
    snprintf(msg.name, sizeof msg.name, "%s", braid_job_source_name(job, s));
    msg.timeout_msec = braid_job_timeout_msec(job);
    size_t qlen;
    const char *query = braid_job_query(job, (uint32_t) idx, &qlen);
    zmsg_t *body = zmsg_new();
    if (!body || zmsg_addmem(body, query, qlen) != 0) {
        zmsg_destroy(&body);
        return false;
    }
    msg.attempts = braid_job_start(job, (uint32_t) idx, wi);
    w->running++;
    self->tasks_dispatched++;
    if (braid_msg_send(self->backend, w->rid, &msg, &body, true) != 0) {
        /*  The worker cannot be reached: end the attempt as failed so the
            job goes on (re-dispatch belongs to the liveness rules).        */
        braid_warning("cannot send task worker=%s errno=%d", w->name, errno);
        int32_t held = -1;
        braid_job_done(job, (uint32_t) idx, msg.attempts, BRAID_STATUS_FAILED, 0,
                       "worker unreachable", &held);
        s_release_slot(self, held);
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
    bool progress = true;
    while (progress && self->njobs) {
        progress = false;
        s_job_t *ent = self->rr ? self->rr : self->jobs_head;
        for (size_t i = 0; i < self->njobs; i++) {
            s_job_t *next = ent->next ? ent->next : self->jobs_head;
            if (s_dispatch_one(self, ent)) {
                progress = true;
                self->rr = next;
            }
            ent = next;
        }
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
    Life cycle                                                             */

void
braid_broker_config_defaults(braid_broker_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->frontend = "tcp://127.0.0.1:5555";
    cfg->backend = "tcp://127.0.0.1:5556";
    cfg->sink = "tcp://127.0.0.1:5557";
    cfg->max_jobs_per_client = 64;
    cfg->max_tasks_per_job = BRAID_MAX_QUERIES;
}

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
    self->workers_by_rid = zhashx_new();
    self->sources = zhashx_new();
    self->jobs_by_key = zhashx_new();
    self->jobs_by_serial = zhashx_new();
    self->jobs_per_client = zhashx_new();
    if (!self->workers_by_rid || !self->sources || !self->jobs_by_key ||
        !self->jobs_by_serial || !self->jobs_per_client) {
        braid_broker_destroy(&self);
        return NULL;
    }
    zhashx_set_key_hasher(self->jobs_by_serial, s_serial_hash);
    zhashx_set_key_comparator(self->jobs_by_serial, s_serial_cmp);
    zhashx_set_key_duplicator(self->jobs_by_serial, NULL);
    zhashx_set_key_destructor(self->jobs_by_serial, NULL);

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
        free(self->source_names[i]);
    zhashx_destroy(&self->workers_by_rid);
    zhashx_destroy(&self->sources);
    zhashx_destroy(&self->jobs_by_key);
    zhashx_destroy(&self->jobs_by_serial);
    zhashx_destroy(&self->jobs_per_client);
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

int
braid_broker_run(braid_broker_t *self)
{
    zmq_pollitem_t items[] = {
        {zsock_resolve(self->frontend), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(self->backend), 0, ZMQ_POLLIN, 0},
        {zsock_resolve(self->sink), 0, ZMQ_POLLIN, 0},
    };
    while (!zsys_interrupted) {
        long timeout = self->blocked_jobs ? S_RETRY_MSEC : 1000;
        int rc = zmq_poll(items, 3, timeout);
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
        if (self->blocked_jobs)
            s_retry_blocked(self);
        if (self->dispatch_due)
            s_dispatch(self);
        if (self->pump_all)
            s_pump_all(self);
    }
    return 0;
}
