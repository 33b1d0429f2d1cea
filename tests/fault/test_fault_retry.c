/*  test_fault_retry.c - acceptance 6: transient failures are retried with
    backoff; a permanent one ends failed after the retry limit.

    The exec source `flaky` runs a script that keeps a count per query in
    the temp dir: a query fails with exit 75 (EX_TEMPFAIL, the default
    transient exit) on its first two runs and answers "ok QUERY after N"
    on the third; a query starting with "perm" always exits 75. The
    broker's policy for `flaky`: retries = 2, backoff 50 msec doubling.
    Asserts (each a `braid submit --json`):
      - "a" and "b" end ok with attempts 3 and exactly one partial,
        "ok a after 3" (the failed attempts printed nothing, and nothing is
        repeated); job ok, exit 0;
      - "perm1" ends failed after the limit: attempts 3, error text with
        "exit status 75"; exit 1;
      - -r 4 overrides the source's limit: "perm2" ends failed, attempts 5;
      - -r 0: "c" (which would pass on its third run) ends failed, attempts 1;
      - the stats count the retries; a clean stop.
*/

#include "fault.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_script[] = "#!/bin/sh\n"
                               "case \"$1\" in\n"
                               "perm*) echo \"$1 is down\" >&2; exit 75 ;;\n"
                               "esac\n"
                               "f=\"$(dirname \"$0\")/count-$1\"\n"
                               "n=$(cat \"$f\" 2>/dev/null || echo 0)\n"
                               "n=$((n+1))\n"
                               "echo $n > \"$f\"\n"
                               "if [ $n -le 2 ]; then echo \"try $n\" >&2; exit 75; fi\n"
                               "echo \"ok $1 after $n\"\n";

static const char s_conf[] = FAULT_BROKER_CONF "source\n"
                                               "    flaky\n"
                                               "        retries = 2\n"
                                               "        backoff_msec = 50\n"
                                               "        backoff_max_msec = 400\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-retry",
    .conf = s_conf,
    .script_name = "flaky.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 2,
    .specs = {"flaky=exec:'%s' {query}"},
};

static int
s_setup(void **state)
{
    *state = fault_fixture_new(&s_def);
    return *state ? 0 : -1;
}

/*  What one task's records said.                                           */
typedef struct {
    const char *query;
    int partials;
    char data[128];
    char status[16];
    long long attempts;
    long long parts;
    char error[1100];
    bool ended;
} s_task_t;

/*  Run braid submit --json [extra] -s flaky QUERIES; check the exit code;
    fill tasks[i] for each query.                                          */
static void
s_run(braid_fixture_t *f, const char *extra, const char *extra_arg, const char *const queries[],
      s_task_t *tasks, int want_code)
{
    const char *args[32];
    int argc = 0;
    int n = 0;
    args[argc++] = "--json";
    if (extra) {
        args[argc++] = extra;
        args[argc++] = extra_arg;
    }
    args[argc++] = "-s";
    args[argc++] = "flaky";
    for (n = 0; queries[n]; n++) {
        args[argc++] = queries[n];
        memset(&tasks[n], 0, sizeof tasks[n]);
        tasks[n].query = queries[n];
    }
    args[argc] = NULL;
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 20000, want_code, &client, &code) != 0)
        fail_msg("client not done within 20 s");
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    assert_non_null(out);
    print_message("%s %s %s: exit %d\n%s", queries[0], extra ? extra : "",
                  extra ? extra_arg : "", code, out);
    assert_int_equal(code, want_code);
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        long long q = -1;
        if (strcmp(type, "job") != 0) {
            assert_int_equal(json_unpack(j, "{s:I}", "query", &q), 0);
            assert_in_range(q, 0, n - 1);
        }
        s_task_t *t = q >= 0 ? &tasks[q] : NULL;
        if (strcmp(type, "partial") == 0) {
            assert_false(t->ended);
            t->partials++;
            char *data = braid_json_data(j, NULL);
            snprintf(t->data, sizeof t->data, "%s", data);
            free(data);
        } else if (strcmp(type, "end") == 0) {
            assert_false(t->ended);
            t->ended = true;
            snprintf(t->status, sizeof t->status, "%s",
                     json_string_value(json_object_get(j, "status")));
            snprintf(t->error, sizeof t->error, "%s",
                     json_string_value(json_object_get(j, "error")));
            assert_int_equal(json_unpack(j, "{s:I}", "attempts", &t->attempts), 0);
            assert_int_equal(json_unpack(j, "{s:I}", "parts", &t->parts), 0);
        }
        json_decref(j);
    }
    for (int i = 0; i < n; i++)
        if (!tasks[i].ended)
            fail_msg("query %s has no end record", queries[i]);
    free(out);
    braid_proc_destroy(&client);
}

static void
test_transient_then_ok(void **state)
{
    braid_fixture_t *f = *state;
    const char *queries[] = {"a", "b", NULL};
    s_task_t tasks[2];
    s_run(f, NULL, NULL, queries, tasks, 0);
    for (int i = 0; i < 2; i++) {
        char want[64];
        snprintf(want, sizeof want, "ok %s after 3\n", queries[i]);
        assert_string_equal(tasks[i].status, "ok");
        assert_int_equal(tasks[i].attempts, 3);
        assert_int_equal(tasks[i].parts, 1);
        assert_int_equal(tasks[i].partials, 1);
        assert_string_equal(tasks[i].data, want);
    }
}

static void
test_permanent_fails_after_limit(void **state)
{
    braid_fixture_t *f = *state;
    const char *queries[] = {"perm1", NULL};
    s_task_t task;
    s_run(f, NULL, NULL, queries, &task, 1);
    assert_string_equal(task.status, "failed");
    assert_int_equal(task.attempts, 3);
    assert_int_equal(task.partials, 0);
    assert_non_null(strstr(task.error, "exit status 75"));
}

static void
test_job_retry_limit(void **state)
{
    braid_fixture_t *f = *state;
    const char *perm[] = {"perm2", NULL};
    s_task_t task;
    s_run(f, "-r", "4", perm, &task, 1);
    assert_string_equal(task.status, "failed");
    assert_int_equal(task.attempts, 5);

    const char *c[] = {"c", NULL};
    s_run(f, "-r", "0", c, &task, 1);
    assert_string_equal(task.status, "failed");
    assert_int_equal(task.attempts, 1);
    assert_non_null(strstr(task.error, "exit status 75"));

    char *text = NULL;
    json_t *stats = fault_stats(f->cluster, &text);
    assert_non_null(stats);
    print_message("stats: %s\n", text);
    /*  a, b: 2 each; perm1: 2; perm2: 4; c: 0.                           */
    assert_true(fault_stat(stats, NULL, "retries") >= 10);
    json_decref(stats);
    free(text);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    /*  One cluster for the three cases, in order (the last one stops it). */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transient_then_ok),
        cmocka_unit_test(test_permanent_fails_after_limit),
        cmocka_unit_test(test_job_retry_limit),
    };
    return cmocka_run_group_tests(tests, s_setup, braid_fixture_teardown);
}
