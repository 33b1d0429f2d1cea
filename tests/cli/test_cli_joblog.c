/*  test_cli_joblog.c - issue 11, acceptance 4: a job log, and resuming
    what failed.

    fail.sh answers "ok QUERY", except for the queries listed in
    failing.txt next to it: those print "boom QUERY" on stderr and exit 3.
    200 queries q000..q199 come on stdin with an empty line after every
    25th, so a query's number (its line from 0) is not its index; every
    10th query fails.

      1. --joblog --json: exit 1; each end record's "query" is the query's
         input line and its "text" the query; the job log has its header
         and 200 lines, one per query, each in the documented format, 20 of
         them failed.
      2. failing.txt removed (the source is fixed), --resume-failed: exit
         0; exactly the 20 failed queries run again (20 end records, all
         ok); the job log now holds 220 lines, and the last line of every
         query says ok.
      3. --resume: nothing left to run: exit 0, no end record, the job log
         unchanged.
      4. --resume with another input (the same queries, another order):
         exit 2, the job log named as not this input's.

    Columns the broker fills (Worker, Starttime, QueueTime, JobRuntime,
    Exitval: END's W, B, Q, U, X, from the h-ops branch) are checked for
    their format only, as a broker without them gives "-" and zeros; the
    others (Seq, Attempts, Parts, Bytes, Status, Source, Query) are known
    here and checked for their values.
*/

#include "fault.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_QUERIES 200
#define S_EVERY_FAILS 10
#define S_EMPTY_AFTER 25
#define S_RUN_MSEC 60000

static const char s_script[] = "#!/bin/sh\n"
                               "# fail.sh QUERY: the queries in failing.txt fail\n"
                               "list=\"$(dirname \"$0\")/failing.txt\"\n"
                               "if [ -f \"$list\" ] && grep -qx \"$1\" \"$list\"; then\n"
                               "    echo \"boom $1\" >&2\n"
                               "    exit 3\n"
                               "fi\n"
                               "echo \"ok $1\"\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-cli-joblog",
    .script_name = "fail.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 4,
    .specs = {"fail=exec:'%s' {query}"},
};

/*  The test's facts: paths, and each query's input line.                 */
typedef struct {
    braid_fixture_t *f;
    char *input;                /* the queries, with empty lines            */
    char *joblog;
    char *failing;              /* failing.txt                              */
    unsigned number[S_QUERIES]; /* query i's line, from 0                   */
} t_fix_t;

static bool
s_fails(int i)
{
    return i % S_EVERY_FAILS == 0;
}

static int
s_setup(void **state)
{
    t_fix_t *t = calloc(1, sizeof *t);
    if (!t || !(t->f = braid_fixture_new(&s_def)))
        return free(t), -1;
    t->input = braid_path(t->f->dir, "queries.txt");
    t->joblog = braid_path(t->f->dir, "job.log");
    t->failing = braid_path(t->f->dir, "failing.txt");
    static char text[S_QUERIES * 8 * 2], fails[S_QUERIES * 8];
    size_t len = 0, flen = 0;
    unsigned line = 0;
    for (int i = 0; i < S_QUERIES; i++) {
        t->number[i] = line++;
        len += (size_t) snprintf(text + len, sizeof text - len, "q%03d\n", i);
        if (i % S_EMPTY_AFTER == S_EMPTY_AFTER - 1) {
            text[len++] = '\n';
            line++;
        }
        if (s_fails(i))
            flen += (size_t) snprintf(fails + flen, sizeof fails - flen, "q%03d\n", i);
    }
    if (braid_file_write(t->input, text, len, 0644) != 0 ||
        braid_file_write(t->failing, fails, flen, 0644) != 0)
        return -1;
    *state = t;
    return 0;
}

static int
s_teardown(void **state)
{
    t_fix_t *t = *state;
    free(t->input);
    free(t->joblog);
    free(t->failing);
    braid_fixture_destroy(&t->f);
    free(t);
    return 0;
}

/*  braid submit -s fail --json --joblog FILE [flag] < input, which must
    exit want_code. Its stdout (owned).                                    */
static char *
s_submit(t_fix_t *t, const char *name, const char *flag, const char *input, int want_code)
{
    const char *args[] = {"-s", "fail", "--json", "--joblog", t->joblog, flag, NULL};
    braid_proc_t *client = braid_cluster_submit(t->f->cluster, name, args, input);
    assert_non_null(client);
    int code = -1;
    if (braid_cluster_finish(t->f->cluster, &client, S_RUN_MSEC, want_code, &code) != 0)
        fail_msg("%s: not done within %d ms", name, S_RUN_MSEC);
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    char *err = braid_proc_output(client, BRAID_STDERR, NULL);
    braid_proc_destroy(&client);
    if (code != want_code)
        fail_msg("%s: exit %d, want %d; stderr: %s", name, code, want_code, err);
    free(err);
    assert_non_null(out);
    return out;
}

/*  The index of query text "qNNN", or -1.                                  */
static int
s_index(const char *text)
{
    int i = -1;
    char tail;
    if (!text || sscanf(text, "q%3d%c", &i, &tail) != 1 || i < 0 || i >= S_QUERIES)
        return -1;
    return i;
}

/*  The --json end records: each names its query by line and text; counted
    per query into ended[], their status checked (failed iff want_failed
    says so). The job line comes last. Returns the number of end records.  */
static int
s_check_ends(t_fix_t *t, const char *out, int ended[S_QUERIES], bool failures_expected)
{
    const char *cursor = out;
    json_t *j;
    int n = 0;
    bool job_seen = false;
    while ((j = braid_json_next(&cursor))) {
        assert_false(job_seen);
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (strcmp(type, "job") == 0)
            job_seen = true;
        else {
            const char *text = json_string_value(json_object_get(j, "text"));
            int i = s_index(text);
            long long query = -1;
            if (i < 0 || json_unpack(j, "{s:I}", "query", &query) != 0)
                fail_msg("a %s record without a query's text and number", type);
            assert_int_equal(query, t->number[i]);
            if (strcmp(type, "end") == 0) {
                const char *status = json_string_value(json_object_get(j, "status"));
                assert_non_null(status);
                assert_string_equal(status, failures_expected && s_fails(i) ? "failed" : "ok");
                ended[i]++;
                n++;
            }
        }
        json_decref(j);
    }
    assert_true(job_seen);
    return n;
}

/*  "DIGITS.DDD": seconds with msec.                                        */
static bool
s_is_seconds(const char *text)
{
    size_t digits = strspn(text, "0123456789");
    return digits > 0 && text[digits] == '.' && strspn(text + digits + 1, "0123456789") == 3 &&
           text[digits + 4] == 0;
}

static bool
s_is_number(const char *text)
{
    return *text && strspn(text, "0123456789") == strlen(text);
}

/*  Read the job log: the header, then per line its columns checked; the
    last status of each query in last_ok[] and its lines counted in
    lines[]. Returns the number of lines after the header.                 */
static int
s_check_joblog(t_fix_t *t, bool last_ok[S_QUERIES], int lines[S_QUERIES])
{
    char *text = braid_file_read(t->joblog, NULL);
    assert_non_null(text);
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    assert_non_null(line);
    assert_string_equal(line, "Seq\tWorker\tStarttime\tQueueTime\tJobRuntime\tAttempts\tParts"
                              "\tBytes\tStatus\tExitval\tSource\tQuery");
    int n = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *field[12];
        int nf = 0;
        for (char *p = line; p && nf < 12; nf++) {
            field[nf] = p;
            if ((p = strchr(p, '\t')))
                *p++ = 0;
        }
        if (nf != 12)
            fail_msg("job log line %d: %d fields", n + 2, nf);
        int i = s_index(field[11]);
        assert_true(i >= 0);
        bool ok = strcmp(field[8], "ok") == 0;
        assert_true(ok || strcmp(field[8], "failed") == 0);
        /*  Known here.                                                     */
        assert_true(s_is_number(field[0]));
        assert_int_equal(strtoul(field[0], NULL, 10), t->number[i]);
        assert_string_equal(field[5], "1");                 /* Attempts     */
        assert_string_equal(field[6], ok ? "1" : "0");      /* Parts        */
        assert_string_equal(field[7], ok ? "8" : "0");      /* "ok qNNN\n"  */
        assert_string_equal(field[10], "fail");
        /*  The broker's (h-ops): their format only.                        */
        assert_true(strlen(field[1]) > 0);                  /* Worker, "-"  */
        assert_true(s_is_seconds(field[2]));                /* Starttime    */
        assert_true(s_is_seconds(field[3]));                /* QueueTime    */
        assert_true(s_is_seconds(field[4]));                /* JobRuntime   */
        assert_true(s_is_number(field[9]));                 /* Exitval      */
        last_ok[i] = ok;
        lines[i]++;
        n++;
    }
    free(text);
    return n;
}

static void
test_joblog_and_resume_failed(void **state)
{
    t_fix_t *t = *state;
    int ended[S_QUERIES] = {0}, lines[S_QUERIES] = {0};
    bool last_ok[S_QUERIES] = {false};

    /*  1. The first run: 20 failures, all logged.                          */
    char *out = s_submit(t, "run1", NULL, t->input, 1);
    assert_int_equal(s_check_ends(t, out, ended, true), S_QUERIES);
    free(out);
    assert_int_equal(s_check_joblog(t, last_ok, lines), S_QUERIES);
    int failed = 0;
    for (int i = 0; i < S_QUERIES; i++) {
        assert_int_equal(ended[i], 1);
        assert_int_equal(lines[i], 1);
        assert_int_equal(last_ok[i], !s_fails(i));
        failed += !last_ok[i];
    }
    assert_int_equal(failed, S_QUERIES / S_EVERY_FAILS);

    /*  2. The source fixed: --resume-failed runs exactly the 20.            */
    assert_int_equal(unlink(t->failing), 0);
    memset(ended, 0, sizeof ended);
    out = s_submit(t, "run2", "--resume-failed", t->input, 0);
    assert_int_equal(s_check_ends(t, out, ended, false), S_QUERIES / S_EVERY_FAILS);
    free(out);
    for (int i = 0; i < S_QUERIES; i++)
        assert_int_equal(ended[i], s_fails(i) ? 1 : 0);
    memset(lines, 0, sizeof lines);
    assert_int_equal(s_check_joblog(t, last_ok, lines), S_QUERIES + S_QUERIES / S_EVERY_FAILS);
    for (int i = 0; i < S_QUERIES; i++) {
        assert_true(last_ok[i]);
        assert_int_equal(lines[i], s_fails(i) ? 2 : 1);
    }

    /*  3. --resume: nothing left.                                          */
    char *before = braid_file_read(t->joblog, NULL);
    memset(ended, 0, sizeof ended);
    out = s_submit(t, "run3", "--resume", t->input, 0);
    assert_int_equal(s_check_ends(t, out, ended, false), 0);
    free(out);
    char *after = braid_file_read(t->joblog, NULL);
    assert_string_equal(after, before);
    free(before);

    /*  4. Another input: refused, the job log untouched.                   */
    char *other = braid_path(t->f->dir, "other.txt");
    static char text[S_QUERIES * 8];
    size_t len = 0;
    for (int i = S_QUERIES - 1; i >= 0; i--)
        len += (size_t) snprintf(text + len, sizeof text - len, "q%03d\n", i);
    assert_int_equal(braid_file_write(other, text, len, 0644), 0);
    const char *args[] = {"-s", "fail", "--joblog", t->joblog, "--resume", NULL};
    braid_proc_t *client = braid_cluster_submit(t->f->cluster, "run4", args, other);
    int code = -1;
    assert_int_equal(braid_cluster_finish(t->f->cluster, &client, S_RUN_MSEC, 2, &code), 0);
    char *err = braid_proc_output(client, BRAID_STDERR, NULL);
    braid_proc_destroy(&client);
    print_message("another input: %s", err);
    assert_int_equal(code, 2);
    assert_non_null(strstr(err, "job.log:2: query 0 is not the input's"));
    free(err);
    free(other);
    char *last = braid_file_read(t->joblog, NULL);
    assert_string_equal(last, after);
    free(last);
    free(after);
    assert_int_equal(braid_cluster_stop(t->f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_joblog_and_resume_failed, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("cli_joblog", tests, NULL, NULL);
}
