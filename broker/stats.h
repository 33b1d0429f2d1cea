/*  stats.h - the broker's stats: what it counts and measures, and the JSON
    it answers STATS with.

    The broker fills a braid_stats_t (the scheduler its part, the handlers
    their drop counters and their lists); braid_stats_json() adds the
    process's RSS and CPU time and writes the JSON object `braid stats`
    reads:

        {"workers":N,"slots":N,"running":N,"jobs":N,"queued":N,
         "tasks_dispatched":N,"tasks_done":N,"retries":N,"rss_bytes":N,
         "cpu_msec":N,"draining":BOOL,
         "sources":{NAME:{"queued":N,"running":N,"done":N,"failed":N,
                          "cancelled":N,"retried":N,"rate":X,
                          "latency_msec":{"queue_wait":LAT,
                                          "first_partial":LAT,
                                          "duration":LAT}},...},
         "dropped":{DECODE-ERROR:N,...,"stale":N,"unknown":N,"gaps":N},
         "rejected":N,
         "worker_list":[{"name":S,"host":S,"pid":N,"version":S,"slots":N,
                         "running":N,"queued":N,"sources":[S,...],
                         "last_heartbeat_msec":N},...],
         "job_list":[{"id":HEX32,"client":S,"order":"submit|arrival|key",
                      "queries":N,"queries_done":N,"tasks":N,
                      "tasks_done":N,"in_flight":N,"age_msec":N},...]}

    LAT is {"p50":N,"p90":N,"p99":N,"samples":N} over the last minute
    (window.h). Members come in this order. DECODE-ERROR is each
    braid_err_name() but "ok". The JSON is written with jansson, not by
    hand.

    A source's figures (braid_source_figures_t) are what the broker
    measures of it while it runs: the scheduler keeps one per source, the
    handlers record into it; the JSON above and the Prometheus text
    (prom.h) both read them.
*/

#ifndef BRAID_STATS_H_INCLUDED
#define BRAID_STATS_H_INCLUDED

#include "braid_msg.h"
#include "window.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  What the broker dropped or refused, one counter per reason.             */
typedef struct {
    uint64_t malformed[BRAID_ERR_COUNT];    /* by decode error             */
    uint64_t stale;             /* result of an older attempt              */
    uint64_t unknown;           /* result or message for nobody we know    */
    uint64_t gaps;              /* result streams with a missing seq       */
    uint64_t rejected;          /* client requests answered ERROR          */
} braid_counters_t;

/*  The latencies measured per source.                                      */
typedef enum {
    BRAID_LATENCY_QUEUE_WAIT = 0,   /* a job's accept to a task's first
                                       dispatch                             */
    BRAID_LATENCY_FIRST_PARTIAL,    /* a dispatch to its first partial      */
    BRAID_LATENCY_DURATION,         /* a dispatch to the DONE that ends the
                                       task                                 */
    BRAID_LATENCY_COUNT
} braid_latency_t;

/*  Its name: "queue_wait", "first_partial", "duration".                    */
const char *
braid_latency_name(braid_latency_t which);

/*  What the broker measures of one source since it was first served.       */
typedef struct {
    uint64_t ended[BRAID_STATUS_COUNT];     /* END records, by status      */
    uint64_t retried;           /* counted retries of its tasks            */
    braid_rate_t rate;          /* ENDs per second                         */
    braid_window_t *window[BRAID_LATENCY_COUNT];    /* for percentiles     */
    braid_hist_t hist[BRAID_LATENCY_COUNT];         /* since the start     */
} braid_source_figures_t;

/*  New figures, all zero; NULL on allocation failure.                      */
braid_source_figures_t *
braid_source_figures_new(void);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_source_figures_destroy(braid_source_figures_t **self_p);

/*  A latency sample of value msec taken at now_msec.                       */
void
braid_source_figures_latency(braid_source_figures_t *self, braid_latency_t which,
                             int64_t now_msec, uint64_t value);

/*  A task's END went out with status at now_msec.                          */
void
braid_source_figures_ended(braid_source_figures_t *self, uint32_t status, int64_t now_msec);

/*  One source's line.                                                      */
typedef struct {
    const char *name;           /* borrowed                                */
    uint64_t queued;            /* its tasks waiting for dispatch          */
    uint32_t running;           /* its tasks running, cluster-wide         */
    const braid_source_figures_t *figures;  /* borrowed; NULL: none        */
} braid_stats_source_t;

/*  One worker's line (strings borrowed).                                   */
typedef struct {
    const char *name;
    const char *host;
    const char *version;
    uint32_t pid;
    uint32_t slots;
    uint32_t running;           /* tasks it runs                           */
    uint32_t queued;            /* tasks it holds beyond its slots         */
    const char *sources[BRAID_MAX_SOURCES];
    uint32_t nsources;
    int64_t idle_msec;          /* since the broker last heard from it     */
} braid_stats_worker_t;

/*  One open job's line.                                                    */
typedef struct {
    uint8_t id[16];
    const char *client;         /* borrowed: hex of its routing id         */
    uint32_t order;             /* braid_order_t                           */
    uint32_t queries;           /* announced                               */
    uint32_t queries_done;      /* every task of the query ended           */
    uint64_t tasks;             /* queries x sources                       */
    uint64_t tasks_done;
    uint32_t in_flight;         /* dispatched, not ended                   */
    int64_t age_msec;           /* since its accept                        */
} braid_stats_job_t;

/*  A snapshot of the broker, for one STATS reply.                          */
typedef struct {
    uint32_t workers;           /* registered workers                      */
    uint32_t slots;             /* their slots, summed                     */
    uint32_t running;           /* tasks they hold                         */
    size_t jobs;                /* open jobs                               */
    uint64_t queued;            /* tasks waiting for dispatch              */
    uint64_t tasks_dispatched;  /* TASKs sent since the start              */
    uint64_t tasks_done;        /* tasks ended by their worker             */
    uint64_t retries;           /* counted retries                         */
    bool draining;              /* stopping: new jobs are refused          */
    braid_stats_source_t *sources;  /* borrowed, nsources of them          */
    uint32_t nsources;
    braid_counters_t counters;
    int64_t now_msec;           /* the clock the windows are read at       */
    braid_stats_worker_t *worker_list;  /* borrowed, nworker_list of them  */
    uint32_t nworker_list;
    braid_stats_job_t *job_list;    /* borrowed, njob_list of them         */
    size_t njob_list;
} braid_stats_t;

/*  This process's resident set in bytes (0 if /proc cannot tell), and the
    CPU time it used, user and system, in msec.                             */
uint64_t
braid_stats_rss_bytes(void);
uint64_t
braid_stats_cpu_msec(void);

/*  The JSON text of stats, with this process's RSS and CPU time. Owned by
    the caller (free()); NULL on allocation failure.                        */
char *
braid_stats_json(const braid_stats_t *stats);

#endif
