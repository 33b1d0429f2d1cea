/*  test_fault_kill9.c - acceptance 1: kill -9 one of three workers while
    50 tasks each stream 1,000 partials.

    Three workers serve the synthetic source `load` (1,000 parts of 32
    bytes, 2 msec apart: a task streams for about two seconds, so every
    worker is mid-task when one dies). Once the client has printed a good
    part of the output, w2 is killed with SIGKILL. Asserts:
      - the broker notices (`worker expired name=w2`) within the liveness
        timeout and a bounded slack;
      - `braid submit` (submit order) exits 0: every task ended ok;
      - its stdout equals the sequential reference byte for byte (nothing
        lost, nothing duplicated across the re-dispatch);
      - the stats count the re-dispatched work as retries or dispatches
        beyond the 50 tasks;
      - the two surviving workers and the broker stop cleanly.
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

#define S_QUERIES 50
#define S_PARTS 1000
#define S_SIZE 32

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-kill9",
    .workers = 3,
    .slots = 6,
    .specs = {"load=synthetic:parts=1000,size=32,delay_msec=2"},
};

static void
test_kill9_mid_stream(void **state)
{
    braid_fixture_t *f = *state;
    char queries[S_QUERIES][16];
    const char *args[S_QUERIES + 8];
    int argc = 0;
    args[argc++] = "-s";
    args[argc++] = "load";
    for (int q = 0; q < S_QUERIES; q++) {
        snprintf(queries[q], sizeof queries[q], "q%02d", q);
        args[argc++] = queries[q];
    }
    args[argc] = NULL;

    /*  The sequential reference.                                          */
    size_t want_len = (size_t) S_QUERIES * S_PARTS * S_SIZE;
    char *want = malloc(want_len);
    assert_non_null(want);
    for (int q = 0; q < S_QUERIES; q++)
        for (int s = 0; s < S_PARTS; s++)
            fault_synthetic_payload(queries[q], (unsigned long long) s, S_SIZE,
                                    want + ((size_t) q * S_PARTS + (size_t) s) * S_SIZE);

    braid_proc_t *client = braid_cluster_submit(f->cluster, "client", args, NULL);
    assert_non_null(client);
    /*  A fifth of the output: every worker is busy streaming.            */
    if (braid_proc_wait_bytes(client, BRAID_STDOUT, want_len / 5, 20000) != 0) {
        braid_proc_dump(client, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("client printed less than %zu bytes within 20 s", want_len / 5);
    }
    braid_proc_t *victim = f->cluster->workers[1];
    assert_int_equal(braid_proc_signal(victim, SIGKILL), 0);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(victim, 5000, &code), 0);
    assert_int_equal(code, 128 + SIGKILL);
    fault_drop_worker(f->cluster, victim);

    if (braid_proc_wait_line(f->cluster->broker, BRAID_STDERR,
                             "<6>braidd: worker expired name=w2", 10000) != 0) {
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("the broker did not expire w2 within 10 s of its SIGKILL");
    }
    if (braid_cluster_finish(f->cluster, &client, 40000, 0, &code) != 0)
        fail_msg("client not done within 40 s");
    size_t got_len = 0;
    char *got = braid_proc_output(client, BRAID_STDOUT, &got_len);
    assert_int_equal(code, 0);   /* every task ended ok */
    assert_int_equal(braid_compare("submit output", got, got_len, want, want_len), 0);

    char *text = NULL;
    json_t *stats = fault_stats(f->cluster, &text);
    assert_non_null(stats);
    print_message("stats after the job: %s\n", text);
    /*  w2's tasks were dispatched again as new attempts.                  */
    assert_true(fault_stat(stats, NULL, "tasks_dispatched") > S_QUERIES);
    assert_int_equal(fault_stat(stats, NULL, "jobs"), 0);
    json_decref(stats);
    free(text);
    free(got);
    free(want);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_kill9_mid_stream, s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
