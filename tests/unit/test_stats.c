/*  test_stats.c - the broker's stats JSON: every member, in order, with
    the values given, compact; read back with jansson.                     */

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
};

static long long
s_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_non_null(v);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
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
test_empty_broker(void **state)
{
    (void) state;
    braid_stats_t stats = {0};
    char *text = braid_stats_json(&stats);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"draining\":false,\"sources\":{},\"dropped\":{"));
    assert_non_null(strstr(text, "{\"workers\":0,\"slots\":0,\"running\":0,\"jobs\":0,"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_members_in_order),
        cmocka_unit_test(test_empty_broker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
