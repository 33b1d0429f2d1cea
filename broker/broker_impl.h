/*  broker_impl.h - the broker's insides, shared by the three files of the
    braid_broker_t class and by nothing else:

    - broker.c: life cycle, sockets, the loop, timers and ticks;
    - frontend.c: clients and the jobs they open (SUBMIT, QUERIES, CREDIT,
      CANCEL, PING, STATS), what goes back to them, client liveness;
    - backend.c: workers (HELLO, heartbeats, TASK_ACK, BYE), their results
      on the sink (DATA, DONE), what goes to them (TASK, TASK_CREDIT,
      TASK_CANCEL), worker liveness.

    What runs where and when is the scheduler's (scheduler.h), which slot a
    task holds is slots.h's, a job's stream is job.h's: these files decode,
    hand over, and send what those decide.
*/

#ifndef BRAID_BROKER_IMPL_H_INCLUDED
#define BRAID_BROKER_IMPL_H_INCLUDED

#include "auth.h"
#include "broker.h"
#include "joblog.h"
#include "metrics.h"
#include "scheduler.h"
#include "slots.h"
#include "stats.h"
#include "timers.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

struct braid_broker_t {
    braid_broker_config_t cfg;
    zsock_t *frontend;          /* ROUTER: clients                         */
    zsock_t *backend;           /* ROUTER: worker control                  */
    zsock_t *sink;              /* PULL: worker results                    */
    braid_auth_t *auth;         /* the ZAP handler with CURVE, or NULL     */
    char *endpoint[3];
    braid_metrics_t *metrics;   /* the Prometheus endpoint, or NULL        */
    char status[128];           /* the last STATUS= told to systemd        */

    braid_sched_t *sched;       /* sources, workers, jobs, slots           */
    braid_slots_t *slots;       /* the scheduler's: who holds which task   */
    braid_timers_t *deadlines;  /* job deadlines: (serial)                 */

    /*  frontend.c's                                                        */
    zhashx_t *jobs_by_key;      /* client/job id -> its job                */
    zhashx_t *clients;          /* hex routing id -> its connection        */
    zhashx_t *principals;       /* who a client is -> its open jobs        */
    uint64_t open_tasks;        /* tasks the open jobs announced           */
    uint32_t next_serial;       /* the last job serial given out           */
    braid_sched_job_t *pumping; /* the job being pumped                    */
    uint32_t blocked_jobs;      /* jobs whose client could take no more    */

    /*  backend.c's                                                         */
    zhashx_t *workers_by_rid;   /* hex rid -> its record                   */
    zhashx_t *workers_by_name;  /* its name -> its record (names unique)   */

    int64_t now;                /* this turn's clock, msec                 */
    int64_t next_tick;
    bool pump_all;              /* some job changed outside a pump         */
    bool drained;               /* the last receive found nothing waiting  */
    bool draining;              /* stopping: new jobs are refused          */
    bool watchdog;              /* systemd watchdog is on                  */
    int64_t drain_until;
    int64_t last_trim;          /* when freed heap was last given back     */

    braid_counters_t counters;
};

/*  broker.c: hex of a routing id, then "/" and hex of job_id when it is
    not NULL. Owned; NULL on allocation failure.                            */
char *
braid_broker_hex(zframe_t *rid, const uint8_t *job_id);

/*  broker.c: a snapshot of the broker for STATS and /metrics, into *stats
    (lists and lines borrowed from the broker until the next turn). 0, or
    -1 on allocation failure. Free with braid_broker_collect_free().        */
int
braid_broker_collect(braid_broker_t *self, braid_stats_t *stats);
void
braid_broker_collect_free(braid_stats_t *stats);

/*  broker.c: receive one message from sock without waiting, routed when
    rid is not NULL (see braid_msg_try_recv). 0 with msg, *rid and *payload
    filled (owned by the caller); -1 when there was none (drained set: the
    loop stops draining sock), or it was malformed: counted, logged, and
    nothing is left to free.                                                */
int
braid_broker_recv(braid_broker_t *self, zsock_t *sock, braid_msg_t *msg, zframe_t **rid,
                  zmsg_t **payload);

/*  ---------------------------------------------------------------------
    frontend.c                                                              */

/*  Create and destroy frontend.c's part. 0 / -1; fini is NULL-safe and
    closes every job.                                                       */
int
braid_frontend_init(braid_broker_t *self);
void
braid_frontend_fini(braid_broker_t *self);

/*  Handle one message waiting on the frontend.                             */
void
braid_frontend_on_message(braid_broker_t *self);

/*  Emit what job sj can, and close it once it is over and its tasks hold
    no slot. sj may be gone afterwards.                                     */
void
braid_frontend_job_pump(braid_broker_t *self, braid_sched_job_t *sj);

/*  Pump every job (pump_all), or every job whose client was blocked.       */
void
braid_frontend_pump_all(braid_broker_t *self);
void
braid_frontend_retry_blocked(braid_broker_t *self);

/*  End job sj early (cancel, deadline, fail-fast, drain); the caller
    pumps.                                                                  */
void
braid_frontend_job_stop(braid_broker_t *self, braid_sched_job_t *sj, uint32_t status,
                        const char *text);

/*  After a task of sj ended: a fail-fast job stops at its first failure.   */
void
braid_frontend_check_fail_fast(braid_broker_t *self, braid_sched_job_t *sj);

/*  sj's key for logs: hex(client)/hex(job id). Borrowed.                   */
const char *
braid_frontend_job_key(braid_sched_job_t *sj);

/*  sj's job log (joblog.h). Borrowed.                                      */
braid_joblog_t *
braid_frontend_joblog(braid_sched_job_t *sj);

/*  The open jobs' lines for STATS, at most max of them into list; returns
    how many. Strings borrowed until the next turn.                         */
size_t
braid_frontend_collect(braid_broker_t *self, braid_stats_job_t *list, size_t max);

/*  A deadline timer fired.                                                 */
void
braid_frontend_on_deadline(braid_broker_t *self, const braid_timer_t *timer);

/*  Once a tick: a silent client loses its jobs; an idle one is forgotten.  */
void
braid_frontend_tick(braid_broker_t *self);

/*  ---------------------------------------------------------------------
    backend.c                                                               */

/*  Create and destroy backend.c's part. 0 / -1; fini is NULL-safe and
    forgets every worker (run it after braid_frontend_fini).                */
int
braid_backend_init(braid_broker_t *self);
void
braid_backend_fini(braid_broker_t *self);

/*  Handle one message waiting on the backend, or on the sink.              */
void
braid_backend_on_message(braid_broker_t *self);
void
braid_backend_on_result(braid_broker_t *self);

/*  The workers' lines for STATS, at most max of them into list; returns
    how many. Strings borrowed until the next turn.                         */
uint32_t
braid_backend_collect(braid_broker_t *self, braid_stats_worker_t *list, uint32_t max);

/*  Once a tick: heartbeats out, silent workers gone, lost TASKs and
    cancels sent again.                                                     */
void
braid_backend_tick(braid_broker_t *self);

/*  Take task idx of sj (attempt) back to run again (braid_sched_retry);
    counted: a failure rather than a hand-back.                             */
void
braid_backend_task_retry(braid_broker_t *self, braid_sched_job_t *sj, uint32_t idx,
                         uint32_t attempt, bool counted, const char *why);

/*  Tell the worker holding task_id's attempt to stop it (a
    braid_job_cancel_fn; arg is the broker).                                */
void
braid_backend_cancel_task(void *arg, uint64_t task_id, uint32_t attempt);

/*  Grant task_id's attempt a window (a braid_job_credit_fn).               */
void
braid_backend_grant(void *arg, braid_job_t *job, uint64_t task_id, uint32_t attempt,
                    uint64_t window, uint64_t window_bytes);

/*  What the scheduler's decisions send (TASK, and cancels for heads).      */
extern const braid_sched_io_t braid_backend_sched_io;

#endif
