/*  test_stats.c - the broker's stats JSON: every member, in order, with
    the values given, compact; read back with jansson. A source's figures
    (counts by status, retries, rate, latency percentiles), the worker and
    job lists as `braid workers` and `braid jobs` read them.               */

#include "stats.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*  The top-level members, in the order `braid stats` prints them.         */
static const char *s_top[] = {
    "workers",  "slots",   "running",  "jobs",     "queued",  "tasks_dispatched", "tasks_done",
    "retries", "rss_bytes", "cpu_msec", "draining", "sources", "dropped",          "rejected",
    "worker_list", "job_list",
};

/*  A source's members, in order.                                          */
static const char *s_source_members[] = {
    "queued", "running", "done", "failed", "cancelled", "retried", "rate", "latency_msec",
};

static long long
s_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

/*  obj's members keys[0..n) must be the integers values[0..n).            */
static void
s_ints(json_t *obj, const char *const *keys, const long long *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s_int(obj, keys[i]) != values[i])
            fail_msg("%s: %lld, want %lld", keys[i], s_int(obj, keys[i]), values[i]);
}

static void
test_members_in_order(void **state)
{
    (void) state;
    braid_stats_source_t sources[2] = {{"web", 7, 2, NULL}, {"grep.x-1", 0, 0, NULL}};
    braid_stats_t stats = {
        .workers = 3,
        .slots = 12,
        .running = 5,
        .jobs = 4,
        .queued = 9,
        .tasks_dispatched = 100,
        .tasks_done = 90,
        .retries = 6,
        .draining = true,
        .sources = sources,
        .nsources = 2,
    };
    stats.counters.malformed[BRAID_ERR_MSGPACK] = 11;
    stats.counters.stale = 1;
    stats.counters.unknown = 2;
    stats.counters.gaps = 3;
    stats.counters.rejected = 4;
    char *text = braid_stats_json(&stats);
    assert_non_null(text);
    /*  Compact: the CLI's --json prints it as one line.                    */
    assert_null(strchr(text, ' '));
    assert_null(strchr(text, '\n'));
    json_error_t err;
    json_t *root = json_loads(text, 0, &err);
    assert_non_null(root);
    size_t i = 0;
    for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it), i++) {
        assert_true(i < sizeof s_top / sizeof s_top[0]);
        assert_string_equal(json_object_iter_key(it), s_top[i]);
    }
    assert_int_equal(i, sizeof s_top / sizeof s_top[0]);
    assert_int_equal(s_int(root, "workers"), 3);
    assert_int_equal(s_int(root, "slots"), 12);
    assert_int_equal(s_int(root, "running"), 5);
    assert_int_equal(s_int(root, "jobs"), 4);
    assert_int_equal(s_int(root, "queued"), 9);
    assert_int_equal(s_int(root, "tasks_dispatched"), 100);
    assert_int_equal(s_int(root, "tasks_done"), 90);
    assert_int_equal(s_int(root, "retries"), 6);
    assert_true(s_int(root, "rss_bytes") > 0);
    assert_true(s_int(root, "cpu_msec") >= 0);
    assert_true(json_is_true(json_object_get(root, "draining")));
    assert_int_equal(s_int(root, "rejected"), 4);

    size_t k = 0;
    json_t *web = json_object_get(json_object_get(root, "sources"), "web");
    for (void *it = json_object_iter(web); it; it = json_object_iter_next(web, it), k++) {
        assert_true(k < sizeof s_source_members / sizeof s_source_members[0]);
        assert_string_equal(json_object_iter_key(it), s_source_members[k]);
    }
    assert_int_equal(k, sizeof s_source_members / sizeof s_source_members[0]);
    json_t *src = json_object_get(root, "sources");
    assert_true(json_is_object(src));
    assert_int_equal(json_object_size(src), 2);
    void *it = json_object_iter(src);
    assert_string_equal(json_object_iter_key(it), "web");
    assert_int_equal(s_int(json_object_iter_value(it), "queued"), 7);
    assert_int_equal(s_int(json_object_iter_value(it), "running"), 2);
    it = json_object_iter_next(src, it);
    assert_string_equal(json_object_iter_key(it), "grep.x-1");
    assert_int_equal(s_int(json_object_iter_value(it), "queued"), 0);

    /*  dropped: every decode error but "ok", then stale, unknown, gaps.   */
    json_t *dropped = json_object_get(root, "dropped");
    assert_true(json_is_object(dropped));
    assert_int_equal(json_object_size(dropped), BRAID_ERR_COUNT - 1 + 3);
    it = json_object_iter(dropped);
    for (int e = 1; e < BRAID_ERR_COUNT; e++, it = json_object_iter_next(dropped, it)) {
        assert_string_equal(json_object_iter_key(it), braid_err_name((braid_err_t) e));
        assert_int_equal(json_integer_value(json_object_iter_value(it)),
                         e == BRAID_ERR_MSGPACK ? 11 : 0);
    }
    assert_string_equal(json_object_iter_key(it), "stale");
    assert_int_equal(s_int(dropped, "stale"), 1);
    assert_int_equal(s_int(dropped, "unknown"), 2);
    assert_int_equal(s_int(dropped, "gaps"), 3);
    json_decref(root);
    free(text);
}

static void
test_source_figures(void **state)
{
    (void) state;
    braid_source_figures_t *fig = braid_source_figures_new();
    assert_non_null(fig);
    /*  In the second from 10 s: 4 ok, 1 failed, 1 timeout, 1 cancelled;
        durations 1..100 msec; 3 retries.                                   */
    for (int i = 0; i < 4; i++)
        braid_source_figures_ended(fig, BRAID_STATUS_OK, 10000);
    braid_source_figures_ended(fig, BRAID_STATUS_FAILED, 10100);
    braid_source_figures_ended(fig, BRAID_STATUS_TIMEOUT, 10200);
    braid_source_figures_ended(fig, BRAID_STATUS_CANCELLED, 10300);
    for (int i = 1; i <= 100; i++)
        braid_source_figures_latency(fig, BRAID_LATENCY_DURATION, 10000, (uint64_t) i);
    braid_source_figures_latency(fig, BRAID_LATENCY_FIRST_PARTIAL, 10000, 7);
    fig->retried = 3;
    braid_stats_source_t sources[1] = {{"web", 0, 0, fig}};
    braid_stats_t stats = {.sources = sources, .nsources = 1, .now_msec = 10500};
    char *text = braid_stats_json(&stats);
    assert_non_null(text);
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    json_t *web = json_object_get(json_object_get(root, "sources"), "web");
    assert_int_equal(s_int(web, "done"), 4);
    assert_int_equal(s_int(web, "failed"), 2);     /* failed and timeout */
    assert_int_equal(s_int(web, "cancelled"), 1);
    assert_int_equal(s_int(web, "retried"), 3);
    /*  7 ends within the one second so far.                                */
    json_t *rate = json_object_get(web, "rate");
    assert_true(json_is_real(rate));
    assert_true(json_real_value(rate) > 6.99 && json_real_value(rate) < 7.01);
    json_t *lat = json_object_get(web, "latency_msec");
    json_t *duration = json_object_get(lat, "duration");
    assert_int_equal(s_int(duration, "p50"), 50);
    assert_int_equal(s_int(duration, "p90"), 90);
    assert_int_equal(s_int(duration, "p99"), 99);
    assert_int_equal(s_int(duration, "samples"), 100);
    assert_int_equal(s_int(json_object_get(lat, "first_partial"), "p99"), 7);
    assert_int_equal(s_int(json_object_get(lat, "queue_wait"), "samples"), 0);
    json_decref(root);
    free(text);
    /*  Over a minute later the window is empty: the figures describe the
        last minute, the counts the broker's life.                          */
    stats.now_msec = 10000 + BRAID_WINDOW_MSEC + 1;
    text = braid_stats_json(&stats);
    root = json_loads(text, 0, NULL);
    assert_non_null(root);
    web = json_object_get(json_object_get(root, "sources"), "web");
    lat = json_object_get(web, "latency_msec");
    assert_int_equal(s_int(json_object_get(lat, "duration"), "samples"), 0);
    assert_int_equal(s_int(web, "done"), 4);
    json_decref(root);
    free(text);
    braid_source_figures_destroy(&fig);
    assert_null(fig);
}

static void
test_lists(void **state)
{
    (void) state;
    braid_stats_worker_t workers[2] = {
        {.name = "w1", .host = "h1", .version = "0.1.0", .pid = 101, .slots = 4, .running = 4,
         .queued = 2, .sources = {"web", "grep"}, .nsources = 2, .idle_msec = 250},
        {.name = "w1-2", .host = "h2", .version = "", .pid = 7, .slots = 1, .idle_msec = -3},
    };
    braid_stats_job_t jobs[1] = {{.client = "00a1b2c3d4", .order = BRAID_ORDER_ARRIVAL,
                                  .queries = 10, .queries_done = 3, .tasks = 20,
                                  .tasks_done = 7, .in_flight = 5, .age_msec = 1234}};
    for (int i = 0; i < 16; i++)
        jobs[0].id[i] = (uint8_t) (0xf0 + i);
    braid_stats_t stats = {.worker_list = workers, .nworker_list = 2, .job_list = jobs,
                           .njob_list = 1};
    char *text = braid_stats_json(&stats);
    assert_non_null(text);
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    json_t *wl = json_object_get(root, "worker_list");
    assert_true(json_is_array(wl));
    assert_int_equal(json_array_size(wl), 2);
    json_t *w = json_array_get(wl, 0);
    assert_string_equal(json_string_value(json_object_get(w, "name")), "w1");
    assert_string_equal(json_string_value(json_object_get(w, "host")), "h1");
    assert_string_equal(json_string_value(json_object_get(w, "version")), "0.1.0");
    static const char *wkeys[] = {"pid", "slots", "running", "queued", "last_heartbeat_msec"};
    static const long long wvalues[] = {101, 4, 4, 2, 250};
    s_ints(w, wkeys, wvalues, 5);
    json_t *ws = json_object_get(w, "sources");
    assert_int_equal(json_array_size(ws), 2);
    assert_string_equal(json_string_value(json_array_get(ws, 1)), "grep");
    /*  A clock that says the future reads as "just now".                   */
    assert_int_equal(s_int(json_array_get(wl, 1), "last_heartbeat_msec"), 0);
    assert_int_equal(json_array_size(json_object_get(json_array_get(wl, 1), "sources")), 0);
    json_t *jl = json_object_get(root, "job_list");
    assert_int_equal(json_array_size(jl), 1);
    json_t *j = json_array_get(jl, 0);
    assert_string_equal(json_string_value(json_object_get(j, "id")),
                        "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    assert_string_equal(json_string_value(json_object_get(j, "client")), "00a1b2c3d4");
    assert_string_equal(json_string_value(json_object_get(j, "order")), "arrival");
    static const char *jkeys[] = {"queries",    "queries_done", "tasks",
                                  "tasks_done", "in_flight",    "age_msec"};
    static const long long jvalues[] = {10, 3, 20, 7, 5, 1234};
    s_ints(j, jkeys, jvalues, 6);
    json_decref(root);
    free(text);
}

static void
test_empty_broker(void **state)
{
    (void) state;
    braid_stats_t stats = {0};
    char *text = braid_stats_json(&stats);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"draining\":false,\"sources\":{},\"dropped\":{"));
    assert_non_null(strstr(text, "{\"workers\":0,\"slots\":0,\"running\":0,\"jobs\":0,"));
    assert_non_null(strstr(text, "\"worker_list\":[],\"job_list\":[]}"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_in_order),
        cmocka_unit_test(test_source_figures),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_empty_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
