/*  prom.c - the broker's stats as Prometheus text. See the header.        */

#include "prom.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  A growing text; failed once an allocation failed.                       */
typedef struct {
    char *text;
    size_t len, cap;
    bool failed;
} s_out_t;

/*  Append printf-style to out.                                             */
static void
s_printf(s_out_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_printf(s_out_t *out, const char *fmt, ...)
{
    for (int pass = 0; pass < 2 && !out->failed; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(out->text + out->len, out->cap - out->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            out->failed = true;
            return;
        }
        if ((size_t) n < out->cap - out->len) {
            out->len += (size_t) n;
            return;
        }
        size_t cap = out->cap * 2;
        while (cap - out->len <= (size_t) n)
            cap *= 2;
        char *grown = realloc(out->text, cap);
        if (!grown) {
            out->failed = true;
            return;
        }
        out->text = grown;
        out->cap = cap;
    }
}

/*  "# HELP" and "# TYPE" of a family.                                      */
static void
s_family(s_out_t *out, const char *name, const char *type, const char *help)
{
    s_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*  A family of one unlabelled sample.                                      */
static void
s_single(s_out_t *out, const char *name, const char *type, const char *help, uint64_t value)
{
    s_family(out, name, type, help);
    s_printf(out, "%s %" PRIu64 "\n", name, value);
}

char *
braid_prom_escape(const char *value, char *out, size_t outsize)
{
    if (!outsize)
        return out;
    size_t n = 0;
    for (const char *p = value; *p; p++) {
        bool escaped = *p == '\\' || *p == '"' || *p == '\n';
        if (n + (escaped ? 2 : 1) >= outsize)
            break;      /* cut, never inside an escape                  */
        if (escaped)
            out[n++] = '\\';
        out[n++] = *p == '\n' ? 'n' : *p;
    }
    out[n] = 0;
    return out;
}

/*  A per-source gauge or counter: one sample per source.                   */
typedef uint64_t(s_source_value_fn)(const braid_stats_source_t *src);

static uint64_t
s_queued(const braid_stats_source_t *src)
{
    return src->queued;
}

static uint64_t
s_running(const braid_stats_source_t *src)
{
    return src->running;
}

static uint64_t
s_retried(const braid_stats_source_t *src)
{
    return src->figures ? src->figures->retried : 0;
}

static void
s_per_source(s_out_t *out, const braid_stats_t *stats, const char *name, const char *type,
             const char *help, s_source_value_fn *value)
{
    s_family(out, name, type, help);
    for (uint32_t g = 0; g < stats->nsources; g++) {
        char label[2 * BRAID_MAX_NAME + 1];
        braid_prom_escape(stats->sources[g].name, label, sizeof label);
        s_printf(out, "%s{source=\"%s\"} %" PRIu64 "\n", name, label, value(&stats->sources[g]));
    }
}

/*  A latency histogram of every source, in seconds.                        */
static void
s_histograms(s_out_t *out, const braid_stats_t *stats, braid_latency_t which, const char *name,
             const char *help)
{
    s_family(out, name, "histogram", help);
    static const braid_hist_t none;
    for (uint32_t g = 0; g < stats->nsources; g++) {
        const braid_stats_source_t *src = &stats->sources[g];
        const braid_hist_t *h = src->figures ? &src->figures->hist[which] : &none;
        char label[2 * BRAID_MAX_NAME + 1];
        braid_prom_escape(src->name, label, sizeof label);
        for (size_t b = 0; b < BRAID_HIST_BUCKETS; b++) {
            char le[32];
            if (b < BRAID_HIST_BUCKETS - 1)
                snprintf(le, sizeof le, "%g", (double) braid_hist_bounds_msec[b] / 1000.0);
            else
                snprintf(le, sizeof le, "+Inf");
            s_printf(out, "%s_bucket{source=\"%s\",le=\"%s\"} %" PRIu64 "\n", name, label, le,
                     braid_hist_cumulative(h, b));
        }
        s_printf(out, "%s_sum{source=\"%s\"} %.3f\n", name, label,
                 (double) h->sum_msec / 1000.0);
        s_printf(out, "%s_count{source=\"%s\"} %" PRIu64 "\n", name, label, h->count);
    }
}

char *
braid_prom_render(const braid_stats_t *stats, size_t *len_p)
{
    s_out_t out = {.cap = 8192};
    out.text = malloc(out.cap);
    if (!out.text)
        return NULL;
    out.text[0] = 0;
    s_single(&out, "braid_workers", "gauge", "Workers registered.", stats->workers);
    s_single(&out, "braid_worker_slots", "gauge", "Slots the workers announced, summed.",
             stats->slots);
    s_single(&out, "braid_tasks_running", "gauge", "Tasks the workers hold.", stats->running);
    s_single(&out, "braid_tasks_queued", "gauge", "Tasks waiting for dispatch.", stats->queued);
    s_single(&out, "braid_jobs_open", "gauge", "Jobs open.", stats->jobs);
    s_single(&out, "braid_draining", "gauge", "1 while the broker drains to stop.",
             stats->draining ? 1 : 0);
    s_single(&out, "braid_tasks_dispatched_total", "counter",
             "TASK messages sent to workers (every attempt).", stats->tasks_dispatched);

    s_family(&out, "braid_tasks_ended_total", "counter", "END records sent, by source and status.");
    for (uint32_t g = 0; g < stats->nsources; g++) {
        const braid_stats_source_t *src = &stats->sources[g];
        char label[2 * BRAID_MAX_NAME + 1];
        braid_prom_escape(src->name, label, sizeof label);
        for (int st = 0; st < BRAID_STATUS_COUNT; st++)
            s_printf(&out, "braid_tasks_ended_total{source=\"%s\",status=\"%s\"} %" PRIu64 "\n",
                     label, braid_status_name(st), src->figures ? src->figures->ended[st] : 0);
    }
    s_per_source(&out, stats, "braid_task_retries_total", "counter",
                 "Counted retries of tasks, by source.", s_retried);
    s_per_source(&out, stats, "braid_source_tasks_queued", "gauge",
                 "Tasks waiting for dispatch, by source.", s_queued);
    s_per_source(&out, stats, "braid_source_tasks_running", "gauge",
                 "Tasks running, by source.", s_running);
    s_histograms(&out, stats, BRAID_LATENCY_QUEUE_WAIT, "braid_task_queue_wait_seconds",
                 "From a job's accept to its task's first dispatch.");
    s_histograms(&out, stats, BRAID_LATENCY_FIRST_PARTIAL, "braid_task_first_partial_seconds",
                 "From a dispatch to the attempt's first partial.");
    s_histograms(&out, stats, BRAID_LATENCY_DURATION, "braid_task_duration_seconds",
                 "From a dispatch to the DONE that ends the task.");

    s_family(&out, "braid_dropped_total", "counter", "Messages dropped, by reason.");
    const braid_counters_t *c = &stats->counters;
    for (int e = 1; e < BRAID_ERR_COUNT; e++)
        s_printf(&out, "braid_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
                 braid_err_name((braid_err_t) e), c->malformed[e]);
    s_printf(&out, "braid_dropped_total{reason=\"stale\"} %" PRIu64 "\n", c->stale);
    s_printf(&out, "braid_dropped_total{reason=\"unknown\"} %" PRIu64 "\n", c->unknown);
    s_printf(&out, "braid_dropped_total{reason=\"gaps\"} %" PRIu64 "\n", c->gaps);
    s_single(&out, "braid_requests_rejected_total", "counter",
             "Client requests answered ERROR.", c->rejected);

    s_single(&out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
             braid_stats_rss_bytes());
    s_family(&out, "process_cpu_seconds_total", "counter",
             "Total user and system CPU time spent in seconds.");
    s_printf(&out, "process_cpu_seconds_total %.3f\n", (double) braid_stats_cpu_msec() / 1000.0);
    if (out.failed) {
        free(out.text);
        return NULL;
    }
    if (len_p)
        *len_p = out.len;
    return out.text;
}
