/*  test_fault_orphan.c - issue 12: a job whose source has lost every
    worker that served it waits orphan_msec for one, then its waiting
    tasks end failed; it no longer waits forever.

    The broker: heartbeat 200 ms, worker liveness 1 s, orphan_msec 1500
    (source "slow" keeps the broker's; source "quick" has its own, 500,
    from its config section). One worker, one slot, serves both. A job of
    8 queries on "slow" (each task sleeps 0.3 s) with `--json`; once the
    first end record is out the worker is killed (SIGKILL). Asserts:
      - the broker expires the worker, then fails the job's waiting tasks
        ("orphaned tasks failed ... source=slow");
      - the client exits 1 (some failed), not hanging: every query has
        exactly one end record; the ones that ran are ok, the rest failed
        with "no worker serves source slow", at least one of each;
      - the broker logs the orphan time it waits: the broker's 1500 for
        "slow", which has no orphan_msec of its own (test_config checks
        that a source's own orphan_msec, as "quick" has, is parsed).
*/

#include "fault.h"
#include "jsonl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 8
#define S_CLIENT_MSEC 60000

static const char *const s_worker_args[] = {"--heartbeat", "200", "--liveness", "1000", NULL};

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-orphan",
    .conf = "broker\n"
            "    heartbeat_msec = 200\n"
            "    worker_liveness_msec = 1000\n"
            "    orphan_msec = 1500\n"
            "source\n"
            "    quick\n"
            "        orphan_msec = 500\n",
    .workers = 1,
    .slots = 1,
    .worker_args = s_worker_args,
    .specs = {"slow=exec:sh -c 'sleep 0.3; echo \"$0\"' {query}",
              "quick=exec:sh -c 'echo \"$0\"' {query}"},
};

/*  Count the end records of out: ok ones, failed with want_text, others;
    each query exactly once.                                                */
static void
s_count_ends(const char *out, int queries, const char *want_text, int *ok, int *orphaned)
{
    int *ends = calloc((size_t) queries, sizeof *ends);
    assert_non_null(ends);
    *ok = *orphaned = 0;
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        if (type && strcmp(type, "end") == 0) {
            long long q = json_integer_value(json_object_get(j, "query"));
            assert_true(q >= 0 && q < queries);
            ends[q]++;
            const char *status = json_string_value(json_object_get(j, "status"));
            const char *error = json_string_value(json_object_get(j, "error"));
            if (status && strcmp(status, "ok") == 0)
                (*ok)++;
            else if (status && strcmp(status, "failed") == 0 && error &&
                     strcmp(error, want_text) == 0)
                (*orphaned)++;
            else
                fail_msg("query %lld ended %s: %s", q, status ? status : "?",
                         error ? error : "");
        }
        json_decref(j);
    }
    for (int q = 0; q < queries; q++)
        if (ends[q] != 1)
            fail_msg("query %d has %d end records", q, ends[q]);
    free(ends);
}

static void
test_orphan(void **state)
{
    braid_fixture_t *f = *state;
    braid_cluster_t *c = f->cluster;
    char queries[S_QUERIES][8];
    const char *args[S_QUERIES + 8];
    int argc = 0;
    args[argc++] = "--json";
    args[argc++] = "-s";
    args[argc++] = "slow";
    for (int q = 0; q < S_QUERIES; q++) {
        snprintf(queries[q], sizeof queries[q], "q%d", q);
        args[argc++] = queries[q];
    }
    args[argc] = NULL;
    braid_proc_t *client = braid_cluster_submit(c, "client", args, NULL);
    assert_non_null(client);
    assert_int_equal(braid_proc_wait_line(client, BRAID_STDOUT, "\"type\":\"end\"", 30000), 0);
    braid_proc_t *worker = c->workers[0];
    assert_int_equal(braid_proc_signal(worker, SIGKILL), 0);
    fault_drop_worker(c, worker);

    int code = -1;
    assert_int_equal(braid_cluster_finish(c, &client, S_CLIENT_MSEC, 1, &code), 0);
    assert_int_equal(code, 1);
    assert_int_equal(braid_proc_wait_line(c->broker, BRAID_STDERR, "worker expired", 1000), 0);
    assert_int_equal(braid_proc_wait_line(c->broker, BRAID_STDERR,
                                          "source=slow orphan_msec=1500", 1000),
                     0);
    assert_int_equal(braid_proc_wait_line(c->broker, BRAID_STDERR,
                                          "orphaned tasks failed", 1000),
                     0);
    size_t len = 0;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    int ok = 0, orphaned = 0;
    s_count_ends(out, S_QUERIES, "no worker serves source slow", &ok, &orphaned);
    print_message("%d ok, %d failed as orphans\n", ok, orphaned);
    assert_true(ok >= 1);
    assert_true(orphaned >= 1);
    assert_int_equal(ok + orphaned, S_QUERIES);
    free(out);
    braid_proc_destroy(&client);

    assert_int_equal(braid_cluster_stop(c), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_FIXTURE_TEST(test_orphan, s_def),
    };
    return cmocka_run_group_tests_name("fault_orphan", tests, NULL, NULL);
}
