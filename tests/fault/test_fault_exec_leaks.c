/*  test_fault_exec_leaks.c - issue 9, acceptance 2: exec sources that leak
    nothing.

    The worker runs with SECRET_API_KEY=<random> in its environment and
    three exec sources: `wc -l {query}`, `sh -c {query}` and `sort {query}`.
      - `wc -l {query}` with the query `--files0-from=/proc/self/environ`
        ends failed (not transient: one attempt) with an error saying the
        query starts with '-'; `sort {query}` with `-o<file>` likewise, and
        the file keeps its bytes.
      - scripts that look for the secret in their environment (`env`,
        `echo $SECRET_API_KEY`, /proc/self/environ, on stdout and stderr)
        find nothing: the secret is in no byte of the client's output,
        JSON or text, stdout or stderr. (A script could read the worker's
        /proc/PPID/environ when it runs as root, as this test does; the
        worker is not dumpable, which stops that for any other user.)
      - `setsid sleep 300.<r> & echo started`, a double fork, and a
        grandchild that clears its environment (no marker) all end ok, and
        each escaped sleep is gone within a bounded wait after its task
        ended (no process has its unique command line).
      - a clean stop.
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
#include <unistd.h>

#define S_RUN_MSEC 30000
#define S_GONE_MSEC 15000

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-exec-leaks",
    .workers = 1,
    .slots = 4,
    .specs = {"wc=exec:wc -l {query}", "sh=exec:sh -c {query}", "sort=exec:sort {query}"},
};

/*  The secret the worker holds; set before the fixture starts it.          */
static char s_secret[64];

static int
s_setup(void **state)
{
    snprintf(s_secret, sizeof s_secret, "braid-secret-%ld-%08lx", (long) getpid(),
             (unsigned long) random());
    if (setenv("SECRET_API_KEY", s_secret, 1) != 0)
        return -1;
    return fault_fixture_setup(state);
}

/*  braid submit ARGS to its end (want_code); its stdout and stderr, owned,
    into *out_p and *err_p; neither may hold the secret.                   */
static void
s_submit(braid_fixture_t *f, const char *const args[], int want_code, char **out_p, char **err_p)
{
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, S_RUN_MSEC, want_code, &client, &code) != 0)
        fail_msg("client not done within %d ms", S_RUN_MSEC);
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    char *err = braid_proc_output(client, BRAID_STDERR, NULL);
    braid_proc_destroy(&client);
    assert_non_null(out);
    assert_non_null(err);
    print_message("client exit %d\nstdout:\n%sstderr:\n%s", code, out, err);
    assert_int_equal(code, want_code);
    assert_null(strstr(out, s_secret));
    assert_null(strstr(err, s_secret));
    *out_p = out;
    *err_p = err;
}

/*  The one end record of out (--json, one query): its status, attempts and
    error (owned) into the arguments.                                       */
static void
s_end_record(const char *out, char *status, size_t size, long long *attempts, char **error_p)
{
    const char *cursor = out;
    json_t *j;
    int ends = 0;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (strcmp(type, "end") == 0) {
            ends++;
            const char *s = json_string_value(json_object_get(j, "status"));
            const char *e = json_string_value(json_object_get(j, "error"));
            assert_non_null(s);
            assert_non_null(e);
            snprintf(status, size, "%s", s);
            assert_int_equal(json_unpack(j, "{s:I}", "attempts", attempts), 0);
            *error_p = strdup(e);
        }
        json_decref(j);
    }
    assert_int_equal(ends, 1);
}

/*  A query that starts with '-' where the command takes options is
    refused: failed at once, with a clear reason.                           */
static void
test_option_query_refused(void **state)
{
    braid_fixture_t *f = *state;
    char *out, *err, *error = NULL, status[32];
    long long attempts = -1;
    const char *args[] = {"--json", "-r", "2", "-s", "wc", "--",
                          "--files0-from=/proc/self/environ", NULL};
    s_submit(f, args, 1, &out, &err);
    s_end_record(out, status, sizeof status, &attempts, &error);
    assert_string_equal(status, "failed");
    assert_int_equal(attempts, 1);      /* not transient: no retry          */
    assert_non_null(strstr(error, "query starts with '-'"));
    free(error);
    free(out);
    free(err);

    /*  The same in text mode, on stderr as one line.                       */
    const char *text_args[] = {"-s", "wc", "--", "--files0-from=/proc/self/environ", NULL};
    s_submit(f, text_args, 1, &out, &err);
    assert_non_null(strstr(err, "query starts with '-'"));
    assert_int_equal(fault_count_lines(err, "braid: query 0"), 1);
    free(out);
    free(err);

    /*  sort -o<file> would truncate the file.                              */
    char *victim = braid_path(f->dir, "victim.txt");
    assert_int_equal(braid_file_write(victim, "keep me\n", 8, 0644), 0);
    char query[512];
    snprintf(query, sizeof query, "-o%s", victim);
    const char *sort_args[] = {"--json", "-s", "sort", "--", query, NULL};
    s_submit(f, sort_args, 1, &out, &err);
    s_end_record(out, status, sizeof status, &attempts, &error);
    assert_string_equal(status, "failed");
    assert_non_null(strstr(error, "query starts with '-'"));
    size_t len = 0;
    char *kept = braid_file_read(victim, &len);
    assert_non_null(kept);
    assert_string_equal(kept, "keep me\n");
    free(kept);
    free(victim);
    free(error);
    free(out);
    free(err);
}

/*  Scripts that look for the secret find nothing; the child's environment
    is PATH and LANG and the marker.                                        */
static void
test_secret_stays(void **state)
{
    braid_fixture_t *f = *state;
    char *out, *err;
    const char *args[] = {"--json", "-s", "sh", "env",
                          "echo \"key=[$SECRET_API_KEY]\"",
                          "tr '\\0' '\\n' < /proc/self/environ >&2; exit 3",
                          "cat /proc/self/environ",
                          NULL};
    s_submit(f, args, 1, &out, &err);
    /*  The child saw an environment, only not the worker's.                */
    assert_non_null(strstr(out, "PATH="));
    assert_non_null(strstr(out, "BRAID_TASK="));
    assert_non_null(strstr(out, "key=[]"));
    free(out);
    free(err);

    const char *text_args[] = {"-s", "sh", "env >&2; exit 3", "set; exit 3", NULL};
    s_submit(f, text_args, 1, &out, &err);
    free(out);
    free(err);
}

/*  Each of the escaped sleeps is gone within a bounded wait.              */
static void
test_escaped_descendants_die(void **state)
{
    braid_fixture_t *f = *state;
    char marks[3][64], queries[3][256];
    unsigned long r = (unsigned long) random() % 1000000;
    for (int i = 0; i < 3; i++)
        snprintf(marks[i], sizeof marks[i], "sleep 30%d.%06lu", i, r);
    /*  A new session; a double fork in a new session; a new session that
        clears its environment (no marker: found as an orphan once no task
        runs).                                                              */
    snprintf(queries[0], sizeof queries[0], "setsid %s & echo started", marks[0]);
    snprintf(queries[1], sizeof queries[1],
             "(setsid sh -c '%s & exit 0' &); echo started", marks[1]);
    snprintf(queries[2], sizeof queries[2],
             "env -i /usr/bin/setsid %s </dev/null >/dev/null 2>&1 & echo started", marks[2]);
    const char *args[] = {"--json", "-s", "sh", queries[0], queries[1], queries[2], NULL};
    char *out, *err;
    s_submit(f, args, 0, &out, &err);
    assert_int_equal(fault_count_lines(out, "\"data\":\"started\\n\""), 3);
    assert_int_equal(fault_count_lines(out, "\"status\":\"ok\""), 4);     /* + the job line */
    free(out);
    free(err);
    for (int i = 0; i < 3; i++)
        if (fault_wait_marker(marks[i], false, 0, S_GONE_MSEC) != 0) {
            braid_cluster_dump(f->cluster);
            fail_msg("'%s' outlived its task by %d ms", marks[i], S_GONE_MSEC);
        }
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    srandom((unsigned) (getpid() ^ braid_now_msec()));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_option_query_refused, s_setup,
                                                 braid_fixture_teardown, (void *) &s_def),
        cmocka_unit_test_prestate_setup_teardown(test_secret_stays, s_setup,
                                                 braid_fixture_teardown, (void *) &s_def),
        cmocka_unit_test_prestate_setup_teardown(test_escaped_descendants_die, s_setup,
                                                 braid_fixture_teardown, (void *) &s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
