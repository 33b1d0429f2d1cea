/*  stats.h - the broker's stats: what it counts, and the JSON it answers
    STATS with.

    The broker fills a braid_stats_t (the scheduler its part, the handlers
    their drop counters); braid_stats_json() adds the process's RSS and
    CPU time and writes the JSON object `braid stats` reads:

        {"workers":N,"slots":N,"running":N,"jobs":N,"queued":N,
         "tasks_dispatched":N,"tasks_done":N,"retries":N,"rss_bytes":N,
         "cpu_msec":N,"draining":BOOL,
         "sources":{NAME:{"queued":N,"running":N},...},
         "dropped":{DECODE-ERROR:N,...,"stale":N,"unknown":N,"gaps":N},
         "rejected":N}

    Members come in this order. DECODE-ERROR is each braid_err_name() but
    "ok". The JSON is written with jansson, not by hand.
*/

#ifndef BRAID_STATS_H_INCLUDED
#define BRAID_STATS_H_INCLUDED

#include "braid_msg.h"

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

/*  One source's line.                                                      */
typedef struct {
    const char *name;           /* borrowed                                */
    uint64_t queued;            /* its tasks waiting for dispatch          */
    uint32_t running;           /* its tasks running, cluster-wide         */
} braid_stats_source_t;

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
} braid_stats_t;

/*  The JSON text of stats, with this process's RSS and CPU time. Owned by
    the caller (free()); NULL on allocation failure.                        */
char *
braid_stats_json(const braid_stats_t *stats);

#endif
