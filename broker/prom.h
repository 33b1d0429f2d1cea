/*  prom.h - the broker's stats as Prometheus text (the text exposition
    format 0.0.4), what `braidd --metrics` serves at /metrics.

    Everything comes from one braid_stats_t, the snapshot STATS answers
    with too, so the JSON and the metrics never disagree. Names follow the
    Prometheus conventions: a braid_ prefix, base units (seconds, bytes),
    _total on counters, and labels for what varies:

        braid_workers, braid_worker_slots, braid_tasks_running,
        braid_tasks_queued, braid_jobs_open, braid_draining       gauges
        braid_tasks_dispatched_total                               counter
        braid_tasks_ended_total{source,status}                     counter
        braid_task_retries_total{source}                           counter
        braid_source_tasks_queued{source},
        braid_source_tasks_running{source}                         gauges
        braid_task_queue_wait_seconds{source},
        braid_task_first_partial_seconds{source},
        braid_task_duration_seconds{source}                        histograms
        braid_dropped_total{reason}                                counter
        braid_requests_rejected_total                              counter
        process_resident_memory_bytes                              gauge
        process_cpu_seconds_total                                  counter

    Pure but for the process's RSS and CPU time; tested alone
    (tests/unit/test_prom.c).
*/

#ifndef BRAID_PROM_H_INCLUDED
#define BRAID_PROM_H_INCLUDED

#include "stats.h"

#include <stddef.h>

/*  The text of stats, NUL-terminated, its length in *len_p. Owned by the
    caller (free()); NULL on allocation failure.                            */
char *
braid_prom_render(const braid_stats_t *stats, size_t *len_p);

/*  A label value as the format wants it ('\', '"' and newline escaped)
    into out (outsize bytes, cut to fit). Returns out.                      */
char *
braid_prom_escape(const char *value, char *out, size_t outsize);

#endif
