/*  test_fault_failfast.c - acceptance 7: --fail-fast, the first failure
    cancels the rest.

    Two workers (4 slots each) serve `ff`, an exec source whose script
    fails (exit 1, not transient) for the query "bad" after a short
    while, and otherwise prints "started QUERY" and waits forever
    (`tail -n 0 -f SCRIPT`). Six queries, "bad" second. Asserts, for
    `braid submit --fail-fast --json`:
      - the client exits 1 well before anything would end by itself;
      - "bad" ends failed; each of the five others ends cancelled (exactly
        one end record each), and the job line counts 0 ok, 1 failed,
        0 timeout, 5 cancelled;
      - no process of the job is left (bounded wait on /proc);
      - stats: no job left; a clean stop.
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

#define S_QUERIES 6
#define S_BAD 1

static const char s_script[] = "#!/bin/sh\n"
                               "if [ \"$1\" = bad ]; then\n"
                               "    sleep 0.5\n"
                               "    echo \"bad is broken\" >&2\n"
                               "    exit 1\n"
                               "fi\n"
                               "echo \"started $1\"\n"
                               "exec tail -n 0 -f \"$0\"\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-failfast",
    .script_name = "ff.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 4,
    .specs = {"ff=exec:'%s' {query}"},
};

static void
test_fail_fast(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"--fail-fast", "--json", "-s", "ff", "q0", "bad", "q2", "q3", "q4",
                          "q5", NULL};
    int64_t start = braid_now_msec();
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 20000, 1, &client, &code) != 0)
        fail_msg("client not done within 20 s: the failure did not cancel the rest");
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    assert_non_null(out);
    print_message("client (%lld ms, exit %d):\n%s", (long long) (braid_now_msec() - start), code,
                  out);
    assert_int_equal(code, 1);

    int ends[S_QUERIES] = {0};
    bool job_seen = false;
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        assert_false(job_seen);
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (strcmp(type, "end") == 0) {
            long long q = -1;
            assert_int_equal(json_unpack(j, "{s:I}", "query", &q), 0);
            assert_in_range(q, 0, S_QUERIES - 1);
            ends[q]++;
            const char *status = json_string_value(json_object_get(j, "status"));
            assert_non_null(status);
            if (q == S_BAD) {
                assert_string_equal(status, "failed");
                const char *error = json_string_value(json_object_get(j, "error"));
                assert_non_null(error);
                assert_non_null(strstr(error, "bad is broken"));
            } else if (strcmp(status, "cancelled") != 0)
                fail_msg("query %lld ended %s, want cancelled", q, status);
        } else if (strcmp(type, "job") == 0) {
            job_seen = true;
            braid_json_check_job(j, "ff", 0, 1, 0, S_QUERIES - 1);
        } else
            assert_string_equal(type, "partial");
        json_decref(j);
    }
    assert_true(job_seen);
    for (int q = 0; q < S_QUERIES; q++)
        if (ends[q] != 1)
            fail_msg("query %d has %d end records, want 1", q, ends[q]);
    free(out);

    if (fault_wait_marker(f->script, false, 0, 10000) != 0) {
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("the cancelled tasks' processes still run 10 s after the job ended");
    }
    assert_int_equal(fault_wait_no_job(f->cluster, 5000), 0);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_fail_fast, s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
