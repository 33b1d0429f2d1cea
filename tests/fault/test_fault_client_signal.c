/*  test_fault_client_signal.c - a client signalled mid-job, built twice
    (see CMakeLists.txt):
      - test_fault_sigint (acceptance 4): SIGINT to `braid submit` during a
        job of long-running commands;
      - test_fault_client_kill (FAULT_CLIENT_SIGKILL, acceptance 5): a
        client killed with -9 mid-job.

    Two workers (3 slots each) serve `long`, an exec source whose script
    prints "started QUERY" and then becomes `tail -n 0 -f SCRIPT` (it waits
    forever, and its command line holds the script's path). Six queries
    (arrival order, --json), so six tasks run at once. Once all six run and
    a partial reached the client, the client gets the signal. Asserts:
      - SIGINT: the client exits 130 within a bounded wait and says it
        cancelled ("interrupted" on stderr); every child process (anything
        with the script's path in its command line) is gone within a
        bounded wait;
      - SIGKILL: the client dies (128 + 9) and cannot cancel anything; the
        broker cancels the job after the client liveness timeout (1.5 s
        here): every child process is gone within a bounded wait;
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

#ifdef FAULT_CLIENT_SIGKILL
#define S_NAME "braid-fault-client-kill"
#define S_TEST test_client_kill9
#else
#define S_NAME "braid-fault-sigint"
#define S_TEST test_sigint_cancels
#endif

#define S_TASKS 6

static const char s_script[] = "#!/bin/sh\n"
                               "echo \"started $1\"\n"
                               "exec tail -n 0 -f \"$0\"\n";

static const braid_fixture_def_t s_def = {
    .name = S_NAME,
    .script_name = "long.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 3,
    .specs = {"long=exec:'%s' {query}"},
};

#ifdef FAULT_CLIENT_SIGKILL
/*  SIGKILL: the client cannot cancel; the broker must notice its silence. */
static void
s_signal_client(braid_fixture_t *f, braid_proc_t *client)
{
    int64_t start = braid_now_msec();
    assert_int_equal(braid_proc_signal(client, SIGKILL), 0);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(client, 5000, &code), 0);
    assert_int_equal(code, 128 + SIGKILL);
    /*  The jobs of a client silent for client_liveness_msec (1500) are
        cancelled; 10 s is the bound, with room for ASan.                  */
    if (fault_wait_marker(f->script, false, 0, 10000) != 0) {
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("the job's child processes still run 10 s after the client died");
    }
    print_message("children gone %lld ms after the client's SIGKILL\n",
                  (long long) (braid_now_msec() - start));
}
#else
/*  SIGINT: the client cancels its job and exits 130.                      */
static void
s_signal_client(braid_fixture_t *f, braid_proc_t *client)
{
    int64_t start = braid_now_msec();
    assert_int_equal(braid_proc_signal(client, SIGINT), 0);
    int code = -1;
    if (braid_cluster_finish(f->cluster, &client, 10000, 130, &code) != 0)
        fail_msg("client still running 10 s after SIGINT");
    print_message("client exited %d, %lld ms after SIGINT\n", code,
                  (long long) (braid_now_msec() - start));
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
}
#endif

static void
S_TEST(void **state)
{
    braid_fixture_t *f = *state;
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
    s_signal_client(f, client);
    assert_int_equal(fault_wait_no_job(f->cluster, 5000), 0);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(S_TEST, s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
