/*  stats.c - the broker's stats as JSON, written with jansson.             */

#include "stats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

uint64_t
braid_stats_rss_bytes(void)
{
    long size_pages = 0, rss_pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm)
        return 0;
    if (fscanf(statm, "%ld %ld", &size_pages, &rss_pages) != 2 || rss_pages < 0)
        rss_pages = 0;
    fclose(statm);
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (uint64_t) rss_pages * (uint64_t) page : 0;
}

uint64_t
braid_stats_cpu_msec(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
           (uint64_t) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

/*  Set obj[key] to a new value (consumed, may be NULL after a failed
    allocation). 0, or -1 when anything failed.                             */
static int
s_set(json_t *obj, const char *key, json_t *value)
{
    if (!obj) {
        json_decref(value);
        return -1;
    }
    return json_object_set_new(obj, key, value) == 0 ? 0 : -1;
}

/*  Set obj[key] to an unsigned integer. 0 / -1.                            */
static int
s_set_uint(json_t *obj, const char *key, uint64_t value)
{
    return s_set(obj, key, json_integer((json_int_t) value));
}

/*  Set obj[key] to a string (NULL: ""). 0 / -1.                            */
static int
s_set_str(json_t *obj, const char *key, const char *value)
{
    return s_set(obj, key, json_string(value ? value : ""));
}

/*  ---------------------------------------------------------------------
    A source's figures                                                      */

static const char *s_latency_names[BRAID_LATENCY_COUNT] = {"queue_wait", "first_partial",
                                                           "duration"};

const char *
braid_latency_name(braid_latency_t which)
{
    return which < BRAID_LATENCY_COUNT ? s_latency_names[which] : "unknown";
}

braid_source_figures_t *
braid_source_figures_new(void)
{
    braid_source_figures_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    braid_rate_init(&self->rate);
    for (int l = 0; l < BRAID_LATENCY_COUNT; l++)
        if (!(self->window[l] = braid_window_new())) {
            braid_source_figures_destroy(&self);
            return NULL;
        }
    return self;
}

void
braid_source_figures_destroy(braid_source_figures_t **self_p)
{
    braid_source_figures_t *self = *self_p;
    if (!self)
        return;
    for (int l = 0; l < BRAID_LATENCY_COUNT; l++)
        braid_window_destroy(&self->window[l]);
    free(self);
    *self_p = NULL;
}

void
braid_source_figures_latency(braid_source_figures_t *self, braid_latency_t which,
                             int64_t now_msec, uint64_t value)
{
    if (which >= BRAID_LATENCY_COUNT)
        return;
    braid_window_add(self->window[which], now_msec, value);
    braid_hist_add(&self->hist[which], value);
}

void
braid_source_figures_ended(braid_source_figures_t *self, uint32_t status, int64_t now_msec)
{
    if (status < BRAID_STATUS_COUNT)
        self->ended[status]++;
    braid_rate_add(&self->rate, now_msec, 1);
}

/*  ---------------------------------------------------------------------
    JSON                                                                    */

/*  {"p50":N,"p90":N,"p99":N,"samples":N} of a window (NULL: none), or
    NULL.                                                                   */
static json_t *
s_latency(const braid_window_t *window, int64_t now_msec)
{
    static const double ps[] = {50, 90, 99};
    uint64_t v[3] = {0, 0, 0};
    uint32_t n = window ? braid_window_percentiles(window, now_msec, ps, v, 3) : 0;
    json_t *lat = json_object();
    int rc = s_set_uint(lat, "p50", v[0]);
    rc |= s_set_uint(lat, "p90", v[1]);
    rc |= s_set_uint(lat, "p99", v[2]);
    rc |= s_set_uint(lat, "samples", n);
    if (rc != 0) {
        json_decref(lat);
        return NULL;
    }
    return lat;
}

/*  One source's figures into obj (zeros when it has none). 0 / -1.         */
static int
s_figures(json_t *obj, const braid_source_figures_t *fig, int64_t now_msec)
{
    static const braid_source_figures_t none;
    const braid_source_figures_t *f = fig ? fig : &none;
    int rc = s_set_uint(obj, "done", f->ended[BRAID_STATUS_OK]);
    rc |= s_set_uint(obj, "failed",
                     f->ended[BRAID_STATUS_FAILED] + f->ended[BRAID_STATUS_TIMEOUT]);
    rc |= s_set_uint(obj, "cancelled", f->ended[BRAID_STATUS_CANCELLED]);
    rc |= s_set_uint(obj, "retried", f->retried);
    double rate = fig ? braid_rate_per_second(&fig->rate, now_msec) : 0;
    /*  Two decimals are plenty for tasks per second.                       */
    rc |= s_set(obj, "rate", json_real((double) (int64_t) (rate * 100 + 0.5) / 100));
    json_t *lat = json_object();
    for (int l = 0; l < BRAID_LATENCY_COUNT; l++)
        rc |= s_set(lat, s_latency_names[l], s_latency(fig ? fig->window[l] : NULL, now_msec));
    rc |= s_set(obj, "latency_msec", lat);
    return rc;
}

/*  {"NAME":{"queued":N,"running":N,...},...}, or NULL.                     */
static json_t *
s_sources(const braid_stats_t *stats)
{
    json_t *sources = json_object();
    for (uint32_t g = 0; sources && g < stats->nsources; g++) {
        const braid_stats_source_t *src = &stats->sources[g];
        json_t *one = json_object();
        int rc = s_set_uint(one, "queued", src->queued);
        rc |= s_set_uint(one, "running", src->running);
        rc |= s_figures(one, src->figures, stats->now_msec);
        if (rc != 0) {
            json_decref(one);
            json_decref(sources);
            return NULL;
        }
        if (s_set(sources, src->name, one) != 0) {
            json_decref(sources);
            return NULL;
        }
    }
    return sources;
}

/*  {"DECODE-ERROR":N,...,"stale":N,"unknown":N,"gaps":N}, or NULL.         */
static json_t *
s_dropped(const braid_counters_t *counters)
{
    json_t *dropped = json_object();
    int rc = 0;
    for (int e = 1; e < BRAID_ERR_COUNT; e++)
        rc |= s_set_uint(dropped, braid_err_name((braid_err_t) e), counters->malformed[e]);
    rc |= s_set_uint(dropped, "stale", counters->stale);
    rc |= s_set_uint(dropped, "unknown", counters->unknown);
    rc |= s_set_uint(dropped, "gaps", counters->gaps);
    if (rc != 0) {
        json_decref(dropped);
        return NULL;
    }
    return dropped;
}

/*  Hex of n bytes into out (2n + 1 bytes).                                 */
static void
s_hex(const uint8_t *data, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * n] = 0;
}

/*  Append one (consumed) to list when rc, what building it returned, is 0.
    0, or -1 with list freed too.                                           */
static int
s_append(json_t *list, json_t *one, int rc)
{
    if (rc != 0) {
        json_decref(one);
        json_decref(list);
        return -1;
    }
    if (json_array_append_new(list, one) != 0) {
        json_decref(list);
        return -1;
    }
    return 0;
}

/*  The "worker_list" array, or NULL.                                       */
static json_t *
s_worker_list(const braid_stats_t *stats)
{
    json_t *list = json_array();
    for (uint32_t i = 0; list && i < stats->nworker_list; i++) {
        const braid_stats_worker_t *w = &stats->worker_list[i];
        json_t *one = json_object();
        int rc = s_set_str(one, "name", w->name);
        rc |= s_set_str(one, "host", w->host);
        rc |= s_set_uint(one, "pid", w->pid);
        rc |= s_set_str(one, "version", w->version);
        rc |= s_set_uint(one, "slots", w->slots);
        rc |= s_set_uint(one, "running", w->running);
        rc |= s_set_uint(one, "queued", w->queued);
        json_t *sources = json_array();
        for (uint32_t s = 0; sources && s < w->nsources; s++)
            if (json_array_append_new(sources, json_string(w->sources[s])) != 0) {
                json_decref(sources);
                sources = NULL;
            }
        rc |= s_set(one, "sources", sources);
        uint64_t idle = w->idle_msec > 0 ? (uint64_t) w->idle_msec : 0;
        rc |= s_set_uint(one, "last_heartbeat_msec", idle);
        if (s_append(list, one, rc) != 0)
            return NULL;
    }
    return list;
}

/*  The "job_list" array, or NULL.                                          */
static json_t *
s_job_list(const braid_stats_t *stats)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < stats->njob_list; i++) {
        const braid_stats_job_t *j = &stats->job_list[i];
        char id[33];
        s_hex(j->id, sizeof j->id, id);
        json_t *one = json_object();
        int rc = s_set_str(one, "id", id);
        rc |= s_set_str(one, "client", j->client);
        rc |= s_set_str(one, "order", braid_order_name((int) j->order));
        rc |= s_set_uint(one, "queries", j->queries);
        rc |= s_set_uint(one, "queries_done", j->queries_done);
        rc |= s_set_uint(one, "tasks", j->tasks);
        rc |= s_set_uint(one, "tasks_done", j->tasks_done);
        rc |= s_set_uint(one, "in_flight", j->in_flight);
        rc |= s_set_uint(one, "age_msec", j->age_msec > 0 ? (uint64_t) j->age_msec : 0);
        if (s_append(list, one, rc) != 0)
            return NULL;
    }
    return list;
}

char *
braid_stats_json(const braid_stats_t *stats)
{
    json_t *root = json_object();
    int rc = s_set_uint(root, "workers", stats->workers);
    rc |= s_set_uint(root, "slots", stats->slots);
    rc |= s_set_uint(root, "running", stats->running);
    rc |= s_set_uint(root, "jobs", stats->jobs);
    rc |= s_set_uint(root, "queued", stats->queued);
    rc |= s_set_uint(root, "tasks_dispatched", stats->tasks_dispatched);
    rc |= s_set_uint(root, "tasks_done", stats->tasks_done);
    rc |= s_set_uint(root, "retries", stats->retries);
    rc |= s_set_uint(root, "rss_bytes", braid_stats_rss_bytes());
    rc |= s_set_uint(root, "cpu_msec", braid_stats_cpu_msec());
    rc |= s_set(root, "draining", json_boolean(stats->draining));
    rc |= s_set(root, "sources", s_sources(stats));
    rc |= s_set(root, "dropped", s_dropped(&stats->counters));
    rc |= s_set_uint(root, "rejected", stats->counters.rejected);
    rc |= s_set(root, "worker_list", s_worker_list(stats));
    rc |= s_set(root, "job_list", s_job_list(stats));
    /*  Members in the order they were set (jansson keeps insertion order
        since 2.8; the flag says so for older ones), no blanks.            */
    char *json = rc == 0 ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    return json;
}
