/*  test_fault_sigstop.c - acceptance 2: SIGSTOP a worker mid-task.

    Two workers (2 slots each) serve `tick`, an exec source whose script
    prints "QUERY I" for I = 0..29 with a short pause between lines; four
    queries, so each worker runs two. Once w1 has a child running, w1 is
    stopped with SIGSTOP (its children, in their own process groups, go
    on writing into their pipes). Asserts:
      - the broker expires w1 (`worker expired name=w1`) after the
        liveness timeout;
      - then w1 gets SIGCONT: it wakes with the old attempts' output in its
        pipes and sends it; the broker discards it and counts it
        (`dropped.stale` >= 1 in the stats, within a bounded wait);
      - the client exits 0 with output equal to the sequential reference:
        w1's tasks completed elsewhere, nothing of the stale attempts got
        through, nothing is duplicated;
      - more dispatches than tasks (the new attempts); a clean stop.
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

#define S_QUERIES 4
#define S_LINES 30

static const char s_script[] = "#!/bin/sh\n"
                               "i=0\n"
                               "while [ $i -lt 30 ]; do\n"
                               "    echo \"$1 $i\"\n"
                               "    i=$((i+1))\n"
                               "    sleep 0.05\n"
                               "done\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-sigstop",
    .script_name = "tick.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 2,
    .specs = {"tick=exec:'%s' {query}"},
};

static bool
s_stale_seen(json_t *stats, void *arg)
{
    (void) arg;
    return fault_stat(stats, "dropped", "stale") >= 1;
}

static void
test_sigstop_worker(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"-s", "tick", "a", "b", "c", "d", NULL};
    static const char *queries[S_QUERIES] = {"a", "b", "c", "d"};
    char want[S_QUERIES * S_LINES * 8];
    size_t want_len = 0;
    for (int q = 0; q < S_QUERIES; q++)
        for (int i = 0; i < S_LINES; i++)
            want_len += (size_t) snprintf(want + want_len, sizeof want - want_len, "%s %d\n",
                                          queries[q], i);

    braid_proc_t *client = braid_cluster_submit(f->cluster, "client", args, NULL);
    assert_non_null(client);
    braid_proc_t *w1 = f->cluster->workers[0];
    int64_t deadline = braid_now_msec() + 15000;
    while (fault_child_count(braid_proc_pid(w1)) < 1 && braid_now_msec() < deadline)
        fault_poll_pause();
    if (fault_child_count(braid_proc_pid(w1)) < 1) {
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("w1 started no task within 15 s");
    }
    assert_int_equal(braid_proc_signal(w1, SIGSTOP), 0);
    int64_t stopped_at = braid_now_msec();
    if (braid_proc_wait_line(f->cluster->broker, BRAID_STDERR,
                             "<6>braidd: worker expired name=w1", 10000) != 0) {
        braid_proc_signal(w1, SIGCONT);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("the broker did not expire the stopped w1 within 10 s");
    }
    print_message("w1 expired %lld ms after SIGSTOP\n",
                  (long long) (braid_now_msec() - stopped_at));
    assert_int_equal(braid_proc_signal(w1, SIGCONT), 0);

    char *text = NULL;
    int stale_rc = fault_wait_stats(f->cluster, s_stale_seen, NULL, 10000, &text);
    print_message("stats after SIGCONT: %s\n", text ? text : "(none)");

    int code = -1;
    if (braid_cluster_finish(f->cluster, &client, 30000, 0, &code) != 0) {
        free(text);
        fail_msg("client not done within 30 s");
    }
    size_t got_len = 0;
    char *got = braid_proc_output(client, BRAID_STDOUT, &got_len);
    assert_int_equal(code, 0);
    assert_int_equal(braid_compare("submit output", got, got_len, want, want_len), 0);
    free(got);
    if (stale_rc != 0) {
        braid_cluster_dump(f->cluster);
        free(text);
        braid_proc_destroy(&client);
        fail_msg("no stale result counted within 10 s of SIGCONT");
    }
    json_t *stats = fault_stats(f->cluster, &text);
    assert_non_null(stats);
    assert_true(fault_stat(stats, NULL, "tasks_dispatched") > S_QUERIES);
    json_decref(stats);
    free(text);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_sigstop_worker, s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
