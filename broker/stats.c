/*  stats.c - the broker's stats as JSON, written with jansson.             */

#include "stats.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/*  This process's resident set, in bytes (0 if /proc cannot tell).         */
static uint64_t
s_rss_bytes(void)
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

/*  CPU time this process used, user and system, in msec.                   */
static uint64_t
s_cpu_msec(void)
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

/*  {"NAME":{"queued":N,"running":N},...}, or NULL.                         */
static json_t *
s_sources(const braid_stats_t *stats)
{
    json_t *sources = json_object();
    for (uint32_t g = 0; sources && g < stats->nsources; g++) {
        const braid_stats_source_t *src = &stats->sources[g];
        json_t *one = json_object();
        int rc = s_set_uint(one, "queued", src->queued);
        rc |= s_set_uint(one, "running", src->running);
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
    rc |= s_set_uint(root, "rss_bytes", s_rss_bytes());
    rc |= s_set_uint(root, "cpu_msec", s_cpu_msec());
    rc |= s_set(root, "draining", json_boolean(stats->draining));
    rc |= s_set(root, "sources", s_sources(stats));
    rc |= s_set(root, "dropped", s_dropped(&stats->counters));
    rc |= s_set_uint(root, "rejected", stats->counters.rejected);
    /*  Members in the order they were set (jansson keeps insertion order
        since 2.8; the flag says so for older ones), no blanks.            */
    char *json = rc == 0 ? json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(root);
    return json;
}
