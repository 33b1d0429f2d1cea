/*  broker.c - the braid broker: life cycle, sockets, the loop, timers and
    ticks. Clients and jobs are frontend.c's, workers and results
    backend.c's, what runs where the scheduler's (see broker_impl.h).       */

#include "broker_impl.h"

#include "braid_curve.h"
#include "braid_log.h"
#include "braid_msg.h"
#include "prom.h"

#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#define S_DRAIN_MAX 512             /* messages handled per socket a turn  */
#define S_RETRY_MSEC 2              /* retry a blocked client after        */
#define S_TRIM_MSEC 1000            /* malloc_trim after a drop, at most   */
#define S_FRONTEND_HWM 200000       /* > the sum of client credit windows  */
#define S_BACKEND_HWM 20000
#define S_SINK_HWM 100000
#define S_STOP_GRACE_MSEC 2000      /* after a drain: wait for cancels     */
/*  Nothing a client sends is longer than a query or a header.              */
#define S_FRONTEND_MAX_FRAME BRAID_MAX_QUERIES_FRAME

/*  Hex of data, then "/" and hex of data2 if it is not NULL. Owned.        */
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

char *
braid_broker_hex(zframe_t *rid, const uint8_t *job_id)
{
    return s_hex(zframe_data(rid), zframe_size(rid), job_id, job_id ? 16 : 0);
}

/*  ---------------------------------------------------------------------
    Stats                                                                  */

int
braid_broker_collect(braid_broker_t *self, braid_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    uint32_t nsources = braid_sched_nsources(self->sched);
    uint32_t nworkers = braid_sched_nworkers(self->sched);
    size_t njobs = braid_sched_njobs(self->sched);
    stats->sources = calloc(nsources ? nsources : 1, sizeof *stats->sources);
    stats->worker_list = calloc(nworkers ? nworkers : 1, sizeof *stats->worker_list);
    stats->job_list = calloc(njobs ? njobs : 1, sizeof *stats->job_list);
    if (!stats->sources || !stats->worker_list || !stats->job_list) {
        braid_broker_collect_free(stats);
        return -1;
    }
    braid_sched_stats(self->sched, stats);
    stats->draining = self->draining;
    stats->counters = self->counters;
    stats->now_msec = self->now;
    stats->nworker_list = braid_backend_collect(self, stats->worker_list, nworkers);
    stats->njob_list = braid_frontend_collect(self, stats->job_list, njobs);
    return 0;
}

void
braid_broker_collect_free(braid_stats_t *stats)
{
    free(stats->sources);
    free(stats->worker_list);
    free(stats->job_list);
    stats->sources = NULL;
    stats->worker_list = NULL;
    stats->job_list = NULL;
}

/*  The Prometheus text (a braid_metrics_render_fn; arg is the broker).     */
static char *
s_render_metrics(void *arg, size_t *len_p)
{
    braid_broker_t *self = arg;
    braid_stats_t stats;
    if (braid_broker_collect(self, &stats) != 0)
        return NULL;
    char *text = braid_prom_render(&stats, len_p);
    braid_broker_collect_free(&stats);
    return text;
}

/*  ---------------------------------------------------------------------
    Life cycle                                                             */

int
braid_broker_recv(braid_broker_t *self, zsock_t *sock, braid_msg_t *msg, zframe_t **rid,
                  zmsg_t **payload)
{
    bool front = sock == self->frontend, back = sock == self->backend;
    braid_channel_t channel = front ? BRAID_CH_CLIENT : back ? BRAID_CH_WORKER : BRAID_CH_SINK;
    braid_err_t err;
    int rc = braid_msg_try_recv(sock, rid != NULL, channel, msg, rid, payload, &err);
    if (rc == -1)
        self->drained = true;   /* EAGAIN, or the socket failed            */
    else if (rc == -2) {
        /*  Dropped and counted; a malformed message creates no session.   */
        self->counters.malformed[err]++;
        braid_debug("%s: dropped malformed message reason=%s",
                    front ? "frontend" : back ? "backend" : "sink", braid_err_name(err));
        zmsg_destroy(payload);
        if (rid)
            zframe_destroy(rid);
        /*  libzmq held the whole of a message with too many frames before
            we could refuse it (64 bytes a frame: 5,000,000 empty frames
            are 320 MB); it freed them as they were drained, but the heap
            keeps freed memory. Give it back, at most once a second (a
            trim walks the heap).                                          */
        if (err == BRAID_ERR_FRAMES && self->now - self->last_trim >= S_TRIM_MSEC) {
            malloc_trim(0);
            self->last_trim = self->now;
        }
    }
    return rc == 0 ? 0 : -1;
}

/*  A socket of type bound to endpoint, hardened, with ZMTP heartbeats
    (peers that vanish are reaped) and, when cert is not NULL, a CURVE
    server in ZAP domain domain; *bound gets the endpoint actually bound
    (owned). NULL, logged, on failure or when CURVE is not in force.        */
static zsock_t *
s_bind(braid_broker_t *self, int type, const char *endpoint, int hwm, int64_t max_frame,
       zcert_t *cert, const char *domain, char **bound)
{
    zsock_t *sock = zsock_new(type);
    if (!sock)
        return NULL;
    braid_socket_harden(sock, hwm);
    /*  The loop never waits in a receive: ZMQ_EVENTS (or zmq_poll) may
        report a message that is gone by the time it is read (its peer's
        connection torn down in between: a link dropping, a ZMTP heartbeat
        timeout), and a blocking read would then hang the broker for good.
        With a zero timeout that read says EAGAIN and the loop moves on. A
        message's later frames are there once its first is (ZeroMQ
        delivers a message whole or not at all).                          */
    zsock_set_rcvtimeo(sock, 0);
    braid_socket_heartbeat(sock, (int) self->cfg.heartbeat_msec,
                           (int) self->cfg.worker_liveness_msec);
    if (cert) {
        zcert_apply(cert, sock);
        zsock_set_curve_server(sock, 1);
        zsock_set_zap_domain(sock, domain);
        if (zsock_mechanism(sock) != ZMQ_CURVE) {
            braid_error("CURVE not in force on endpoint=%s", endpoint);
            zsock_destroy(&sock);
            return NULL;
        }
    }
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
    self->deadlines = braid_timers_new();
    if (!self->sched || !self->deadlines || braid_frontend_init(self) != 0 ||
        braid_backend_init(self) != 0) {
        braid_broker_destroy(&self);
        return NULL;
    }
    self->slots = braid_sched_slots(self->sched);

    zcert_t *cert = NULL;
    if (cfg->secret_key) {
        char err[512];
        cert = braid_curve_load(cfg->secret_key, true, err, sizeof err);
        self->auth = cert ? braid_auth_new(cfg->client_keys, cfg->worker_keys, err, sizeof err)
                          : NULL;
        if (!self->auth) {
            braid_error("%s", err);
            zcert_destroy(&cert);
            braid_broker_destroy(&self);
            return NULL;
        }
    }
    self->frontend = s_bind(self, ZMQ_ROUTER, cfg->frontend, S_FRONTEND_HWM,
                            S_FRONTEND_MAX_FRAME, cert, BRAID_AUTH_CLIENTS, &self->endpoint[0]);
    self->backend = s_bind(self, ZMQ_ROUTER, cfg->backend, S_BACKEND_HWM, 0, cert,
                           BRAID_AUTH_WORKERS, &self->endpoint[1]);
    self->sink = s_bind(self, ZMQ_PULL, cfg->sink, S_SINK_HWM, 0, cert, BRAID_AUTH_WORKERS,
                        &self->endpoint[2]);
    zcert_destroy(&cert);
    if (!self->frontend || !self->backend || !self->sink) {
        braid_broker_destroy(&self);
        return NULL;
    }
    if (self->auth)
        braid_notice("CURVE on frontend, backend and sink");
    if (cfg->metrics) {
        char err[256];
        self->metrics = braid_metrics_new(cfg->metrics, s_render_metrics, self, err, sizeof err);
        if (!self->metrics) {
            braid_error("%s", err);
            braid_broker_destroy(&self);
            return NULL;
        }
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
    braid_frontend_fini(self);
    braid_backend_fini(self);
    braid_sched_destroy(&self->sched);
    braid_timers_destroy(&self->deadlines);
    zsock_destroy(&self->frontend);
    zsock_destroy(&self->backend);
    zsock_destroy(&self->sink);
    braid_auth_destroy(&self->auth);
    braid_metrics_destroy(&self->metrics);
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
    if (streq(which, "metrics"))
        return self->metrics ? braid_metrics_address(self->metrics) : NULL;
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
        if (!name)
            continue;   /* a free id */
        braid_sched_source_set_policy(self->sched, (uint16_t) g,
                                      braid_broker_config_policy(&self->cfg, name), self->now);
    }
    braid_notice("source policies reloaded policies=%u", cfg->npolicies);
    braid_sched_wake(self->sched);
}

/*  Handle what is waiting on a socket, at most S_DRAIN_MAX messages: the
    handler receives without waiting (braid_broker_recv) until nothing is
    left; asking ZMQ_EVENTS before each message costs two system calls.   */
static void
s_drain(braid_broker_t *self, void (*handler)(braid_broker_t *))
{
    self->drained = false;
    for (int i = 0; i < S_DRAIN_MAX && !self->drained; i++)
        handler(self);
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
    long metrics = self->metrics ? braid_metrics_timeout_msec(self->metrics) : -1;
    if (metrics >= 0 && metrics < timeout)
        timeout = metrics;
    return timeout < 0 ? 0 : timeout;
}

/*  systemd's STATUS= (systemctl status shows it): a one-line summary, told
    when it changed.                                                        */
static void
s_notify_status(braid_broker_t *self)
{
    braid_stats_t stats = {0};
    braid_sched_stats(self->sched, &stats);
    char status[sizeof self->status];
    snprintf(status, sizeof status, "STATUS=jobs=%zu workers=%u running=%u queued=%" PRIu64 "%s",
             stats.jobs, stats.workers, stats.running, stats.queued,
             self->draining ? " draining" : "");
    if (streq(status, self->status))
        return;
    snprintf(self->status, sizeof self->status, "%s", status);
    sd_notify(0, status);
}

/*  Once a heartbeat interval: systemd's watchdog and status, workers,
    clients.                                                                */
static void
s_tick(braid_broker_t *self)
{
    /*  systemd's watchdog (WatchdogSec=): the loop is alive.               */
    if (self->watchdog)
        sd_notify(0, "WATCHDOG=1");
    s_notify_status(self);
    braid_backend_tick(self);
    braid_frontend_tick(self);
}

/*  The first SIGTERM: refuse new jobs, let the open ones run a while.      */
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
        {NULL, self->metrics ? braid_metrics_fd(self->metrics) : -1, ZMQ_POLLIN, 0},
        {self->auth ? zsock_resolve(braid_auth_socket(self->auth)) : NULL, -1, ZMQ_POLLIN, 0},
    };
    int nitems = self->metrics ? 4 : 3;
    if (self->auth) {
        /*  Without metrics the ZAP handler takes the fourth place.         */
        if (!self->metrics)
            items[3] = items[4];
        nitems++;
    }
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
                    braid_frontend_job_stop(self, sj, BRAID_STATUS_CANCELLED,
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
        long metrics_wait = self->metrics ? braid_metrics_timeout_msec(self->metrics) : -1;
        int64_t metrics_due = metrics_wait >= 0 ? self->now + metrics_wait : INT64_MAX;
        int rc = zmq_poll(items, nitems, s_poll_timeout(self));
        self->now = zclock_mono();
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            braid_error("poll failed: %s", zmq_strerror(errno));
            return -1;
        }
        /*  The metrics endpoint: answered on this thread, never blocking.  */
        if (self->metrics && ((items[3].revents & ZMQ_POLLIN) || self->now >= metrics_due))
            braid_metrics_run(self->metrics);
        if (self->auth)
            braid_auth_handle(self->auth, S_DRAIN_MAX);
        /*  Results first: they free slots and move jobs forward. Only the
            sockets the poll found readable: asking one that is not costs
            two system calls (what comes meanwhile, the next poll sees).   */
        if (items[2].revents & ZMQ_POLLIN)
            s_drain(self, braid_backend_on_result);
        if (items[1].revents & ZMQ_POLLIN)
            s_drain(self, braid_backend_on_message);
        if (items[0].revents & ZMQ_POLLIN)
            s_drain(self, braid_frontend_on_message);
        braid_sched_fire(self->sched, self->now);
        braid_timer_t timer;
        while (braid_timers_pop(self->deadlines, self->now, &timer))
            braid_frontend_on_deadline(self, &timer);
        if (self->now >= self->next_tick) {
            s_tick(self);
            /*  A task in a head's way may have filled its window since; and
                a head queued behind blocked tasks is looked for here only,
                once a tick, as that walks every slot of its worker.        */
            braid_sched_preempt(self->sched, true, self->now, &braid_backend_sched_io, self);
            self->next_tick = self->now + self->cfg.heartbeat_msec;
        }
        if (self->blocked_jobs)
            braid_frontend_retry_blocked(self);
        if (self->pump_all)
            braid_frontend_pump_all(self);
        if (braid_sched_due(self->sched)) {
            braid_sched_dispatch(self->sched, self->now, &braid_backend_sched_io, self);
            braid_sched_preempt(self->sched, false, self->now, &braid_backend_sched_io, self);
        }
        if (self->pump_all)
            braid_frontend_pump_all(self);
    }
}
