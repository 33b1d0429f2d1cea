/*  test_e2e_failure.c - one failing query of ten.

    fail.sh prints "ok QUERY" and exits 0, except for q3: it prints
    "boom: cannot fetch q3" on stderr and exits 1.

    With --json: q3's end record has status "failed" and an error holding
    "exit status 1" and the stderr text; the nine others end "ok" with an
    empty error; the job line comes last, is not "ok", and counts 9 ok,
    1 failed, 0 timeout, 0 cancelled for the source; exit status 1.
    Without --json: stdout holds the nine answers in order, stderr the
    line `braid: query 3 (q3) source fail: failed: ...` with the error
    text; exit status 1. Then a clean stop.
*/

#include "fixture.h"
#include "jsonl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 10
#define S_FAILING 3

static const char s_script[] = "#!/bin/sh\n"
                               "# fail.sh QUERY: q3 fails, the others answer\n"
                               "if [ \"$1\" = q3 ]; then\n"
                               "    echo \"boom: cannot fetch $1\" >&2\n"
                               "    exit 1\n"
                               "fi\n"
                               "echo \"ok $1\"\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-e2e-fail",
    .script_name = "fail.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 4,
    .specs = {"fail=exec:'%s' {query}"},
};

/*  Run the job, with one extra flag or none (NULL), want exit 1. Owned
    finished client.                                                       */
static braid_proc_t *
s_run(braid_fixture_t *f, const char *name, const char *extra)
{
    const char *args[16];
    int argc = 0;
    args[argc++] = "-s";
    args[argc++] = "fail";
    if (extra)
        args[argc++] = extra;
    static const char *queries[] = {"q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9"};
    for (int i = 0; i < S_QUERIES; i++)
        args[argc++] = queries[i];
    args[argc] = NULL;
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, name, args, 20000, 1, &client, &code) != 0)
        fail_msg("%s: not done within 20 s", name);
    if (code != 1) {
        braid_proc_destroy(&client);
        fail_msg("%s: exit %d, want 1 (some task not ok)", name, code);
    }
    return client;
}

static void
s_check_json(braid_fixture_t *f)
{
    braid_proc_t *client = s_run(f, "client-json", "--json");
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_non_null(out);
    print_message("--json output:\n%s", out);

    bool ended[S_QUERIES] = {false};
    bool job_seen = false;
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        assert_false(job_seen); /* the job line is the last */
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (strcmp(type, "end") == 0) {
            long long q = -1, parts = -1;
            assert_int_equal(json_unpack(j, "{s:I}", "query", &q), 0);
            assert_in_range(q, 0, S_QUERIES - 1);
            assert_false(ended[q]);
            ended[q] = true;
            const char *status = json_string_value(json_object_get(j, "status"));
            const char *error = json_string_value(json_object_get(j, "error"));
            assert_non_null(status);
            assert_non_null(error);
            assert_int_equal(json_unpack(j, "{s:I}", "parts", &parts), 0);
            if (q == S_FAILING) {
                assert_string_equal(status, "failed");
                assert_non_null(strstr(error, "exit status 1"));
                assert_non_null(strstr(error, "boom: cannot fetch q3"));
                assert_int_equal(parts, 0);
            } else {
                assert_string_equal(status, "ok");
                assert_string_equal(error, "");
                assert_int_equal(parts, 1);
            }
        } else if (strcmp(type, "partial") == 0) {
            long long q = -1;
            assert_int_equal(json_unpack(j, "{s:I}", "query", &q), 0);
            assert_int_not_equal(q, S_FAILING);
            char want[16];
            snprintf(want, sizeof want, "ok q%lld\n", q);
            char *data = braid_json_data(j, NULL);
            assert_non_null(data);
            assert_string_equal(data, want);
            free(data);
        } else if (strcmp(type, "job") == 0) {
            job_seen = true;
            const char *status = json_string_value(json_object_get(j, "status"));
            assert_non_null(status);
            assert_string_not_equal(status, "ok");
            braid_json_check_job(j, "fail", 9, 1, 0, 0);
        } else
            fail_msg("unknown type %s", type);
        json_decref(j);
    }
    assert_true(job_seen);
    for (int q = 0; q < S_QUERIES; q++)
        if (!ended[q])
            fail_msg("query %d has no end record", q);
    free(out);
}

static void
s_check_plain(braid_fixture_t *f)
{
    braid_proc_t *client = s_run(f, "client-plain", NULL);
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    char *err = braid_proc_output(client, BRAID_STDERR, NULL);
    braid_proc_destroy(&client);
    assert_non_null(out);
    assert_non_null(err);
    assert_string_equal(out, "ok q0\nok q1\nok q2\nok q4\nok q5\nok q6\nok q7\nok q8\nok q9\n");
    const char *line = strstr(err, "braid: query 3 (q3) source fail: failed: ");
    if (!line)
        fail_msg("no failure line on stderr:\n%s", err);
    const char *line_end = strstr(line, "boom: cannot fetch q3");
    assert_non_null(line_end);
    assert_null(memchr(line, '\n', (size_t) (line_end - line)));
    free(out);
    free(err);
}

static void
test_e2e_failure(void **state)
{
    braid_fixture_t *f = *state;
    s_check_json(f);
    s_check_plain(f);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_FIXTURE_TEST(test_e2e_failure, s_def),
    };
    return cmocka_run_group_tests_name("e2e_failure", tests, NULL, NULL);
}
