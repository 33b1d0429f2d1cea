/*  test_fault_sigint.c - acceptance 4: SIGINT to `braid submit` during a
    job of long-running commands.

    Two workers (3 slots each) serve `long`, an exec source whose script
    prints "started QUERY" and then becomes `tail -n 0 -f SCRIPT` (it waits
    forever, and its command line holds the script's path). Six queries
    (arrival order, --json), so six tasks run at once. Once all six scripts
    and their sleeps run, the client gets SIGINT. Asserts:
      - the client exits 130 within a bounded wait and says it cancelled;
      - every child process (anything with the script's path in its
        command line) is gone within a bounded wait;
      - the broker holds no state for the job: stats `jobs` 0, `running` 0;
      - a clean stop.
*/

#include "fault.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TASKS 6

static const char s_script[] = "#!/bin/sh\n"
                               "echo \"started $1\"\n"
                               "exec tail -n 0 -f \"$0\"\n";

typedef struct {
    char *dir;
    char *script;
    braid_cluster_t *cluster;
} s_fixture_t;

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    if (!f)
        return 0;
    braid_cluster_destroy(&f->cluster);
    free(f->script);
    braid_tmpdir_destroy(&f->dir);
    free(f);
    return 0;
}

static int
s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    *state = f;
    if (!f || !(f->dir = braid_tmpdir_new("braid-fault-sigint"))
        || !(f->script = braid_script_write(f->dir, "long.sh", s_script)))
        return s_teardown(state), -1;
    char spec[512];
    snprintf(spec, sizeof spec, "long=exec:'%s' {query}", f->script);
    const char *specs[] = {spec, NULL};
    f->cluster = fault_cluster_new(f->dir, FAULT_BROKER_CONF);
    if (!f->cluster || fault_add_worker(f->cluster, "w1", 3, NULL, specs) != 0
        || fault_add_worker(f->cluster, "w2", 3, NULL, specs) != 0)
        return s_teardown(state), -1;
    return 0;
}

static bool
s_no_job(braid_json_t *stats, void *arg)
{
    (void) arg;
    return fault_stat(stats, NULL, "jobs") == 0 && fault_stat(stats, NULL, "running") == 0;
}

static void
test_sigint_cancels(void **state)
{
    s_fixture_t *f = *state;
    const char *args[] = {"--json", "-o", "arrival", "-s", "long", "q0", "q1", "q2", "q3", "q4",
                          "q5", NULL};
    braid_proc_t *client = braid_cluster_submit(f->cluster, "client", args, NULL);
    assert_non_null(client);
    /*  Each task is one process with the script's path in its command
        line (the script, then the tail it becomes).                       */
    if (fault_wait_marker(f->script, true, S_TASKS, 15000) != 0) {
        braid_proc_dump(client, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("the %d tasks did not all start within 15 s", S_TASKS);
    }
    if (braid_proc_wait_line(client, BRAID_STDOUT, "started q", 10000) != 0) {
        braid_proc_dump(client, 2000);
        braid_proc_destroy(&client);
        fail_msg("no partial reached the client");
    }
    int64_t start = braid_now_msec();
    assert_int_equal(braid_proc_signal(client, SIGINT), 0);
    int code = -1;
    if (braid_proc_finish(client, 10000, &code) != 0) {
        braid_proc_dump(client, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("client still running 10 s after SIGINT");
    }
    print_message("client exited %d, %lld ms after SIGINT\n", code,
                  (long long) (braid_now_msec() - start));
    if (code != 130)
        braid_proc_dump(client, 2000);
    assert_int_equal(code, 130);
    char *err = braid_proc_output(client, BRAID_STDERR, NULL);
    assert_non_null(err);
    assert_non_null(strstr(err, "interrupted"));
    free(err);

    if (fault_wait_marker(f->script, false, 0, 10000) != 0) {
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("the job's child processes outlived the cancel by 10 s");
    }
    char *text = NULL;
    int rc = fault_wait_stats(f->cluster, s_no_job, NULL, 5000, &text);
    print_message("stats: %s\n", text ? text : "(none)");
    free(text);
    assert_int_equal(rc, 0);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigint_cancels, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
