/*  test_cli_pipe.c - issue 11, acceptance 5 (first half): braid submit in a
    shell pipeline whose reader goes away.

    hold.sh prints "line QUERY" and then holds its task for a minute (so
    the job is still running, and the client idle, when the reader goes).

      - `{ braid submit ...; echo "braid-status $?" >&2; } | head -1`:
        head prints the first line and exits; the client notices its
        closed stdout without writing to it, cancels the job and exits 141
        (128 + SIGPIPE), as a shell pipeline expects; the broker logs the
        cancel and holds no job afterwards (stats "jobs" 0, "running" 0);
        its --joblog holds no task (they were cancelled: a resumed run
        runs them).
      - the same under bash's `set -o pipefail`: the pipeline's status is
        141.
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

static const char s_script[] = "#!/bin/sh\n"
                               "# hold.sh QUERY: one line, then hold the task\n"
                               "echo \"line $1\"\n"
                               "exec sleep 60\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-cli-pipe",
    .script_name = "hold.sh",
    .script_text = s_script,
    .workers = 1,
    .slots = 4,
    .specs = {"hold=exec:'%s' {query}"},
};

/*  Run shell -c script with the client's command line after it: `braid
    submit -b FRONTEND -s hold --no-progress --joblog FILE a b c d e f`. The exit code;
    the shell's stdout and stderr in *out_p and *err_p (owned).            */
static int
s_pipeline(braid_fixture_t *f, const char *name, const char *shell, const char *script,
           char **out_p, char **err_p)
{
    char *joblog = braid_path(f->dir, "job.log");
    const char *argv[] = {shell, "-c", script, shell, BRAID_CLI_PATH, "submit",
                          "-b", f->cluster->frontend, "-s", "hold", "--no-progress",
                          "--joblog", joblog, "a", "b", "c", "d", "e", "f", NULL};
    braid_proc_t *p = braid_proc_spawn(f->dir, name, argv, NULL);
    assert_non_null(p);
    int code = -1;
    if (braid_proc_finish(p, S_RUN_MSEC, &code) != 0) {
        braid_proc_dump(p, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&p);
        fail_msg("%s: not done within %d ms", name, S_RUN_MSEC);
    }
    *out_p = braid_proc_output(p, BRAID_STDOUT, NULL);
    *err_p = braid_proc_output(p, BRAID_STDERR, NULL);
    braid_proc_destroy(&p);
    /*  Every task was cancelled: none is logged as done.                   */
    char *log = braid_file_read(joblog, NULL);
    assert_non_null(log);
    assert_int_equal(fault_count_lines(log, "\t"), 1);     /* the header   */
    free(log);
    free(joblog);
    assert_non_null(*out_p);
    assert_non_null(*err_p);
    print_message("%s: exit %d, stdout [%s], stderr [%s]\n", name, code, *out_p, *err_p);
    return code;
}

/*  The broker cancelled the job (its log says so, cancels times in all)
    and holds none.                                                        */
static void
s_expect_cancelled(braid_fixture_t *f, int cancels)
{
    int n = 0;
    for (int64_t deadline = braid_now_msec() + 10000; braid_now_msec() < deadline;
         fault_poll_pause()) {
        char *log = braid_proc_output(f->cluster->broker, BRAID_STDERR, NULL);
        n = fault_count_lines(log, "braidd: job cancelled by client");
        free(log);
        if (n >= cancels)
            break;
    }
    assert_int_equal(n, cancels);
    assert_int_equal(fault_wait_no_job(f->cluster, 10000), 0);
}

static void
test_head(void **state)
{
    braid_fixture_t *f = *state;
    char *out, *err;
    int code = s_pipeline(f, "head", "/bin/sh",
                          "{ \"$@\"; echo \"braid-status $?\" >&2; } | head -1", &out, &err);
    assert_int_equal(code, 0);      /* the pipeline's status is head's     */
    assert_string_equal(out, "line a\n");
    assert_non_null(strstr(err, "braid-status 141\n"));
    free(out);
    free(err);
    s_expect_cancelled(f, 1);

    if (access("/bin/bash", X_OK) == 0) {
        code = s_pipeline(f, "pipefail", "/bin/bash", "set -o pipefail; \"$@\" | head -1", &out,
                          &err);
        assert_int_equal(code, 141);
        assert_string_equal(out, "line a\n");
        free(out);
        free(err);
        s_expect_cancelled(f, 2);
    } else
        print_message("no /bin/bash: the pipefail case is left out\n");
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_FIXTURE_TEST(test_head, s_def),
    };
    return cmocka_run_group_tests_name("cli_pipe", tests, NULL, NULL);
}
