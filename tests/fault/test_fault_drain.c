/*  test_fault_drain.c - acceptance 11: SIGTERM to the broker during a job.

    One worker (4 slots) serves `tick`, an exec source whose script prints
    "QUERY I" for I = 0..19 with a short pause between lines (about two
    seconds a task). Client A submits four queries; once its first line is
    out, the broker gets SIGTERM (drain_msec = 20000). Asserts:
      - the broker logs `draining jobs=1`;
      - a new submit (client B) is refused with a clear message: exit 3,
        stderr naming 503 and "stopping";
      - client A's in-flight job drains: exit 0, output equal to the
        sequential reference;
      - the broker then exits 0 by itself (bounded), logging `stopping`;
      - the worker then stops cleanly on SIGTERM and nothing is left.
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
#define S_LINES 20

static const char s_script[] = "#!/bin/sh\n"
                               "i=0\n"
                               "while [ $i -lt 20 ]; do\n"
                               "    echo \"$1 $i\"\n"
                               "    i=$((i+1))\n"
                               "    sleep 0.1\n"
                               "done\n";

static const char s_conf[] = FAULT_BROKER_CONF "    drain_msec = 20000\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-drain",
    .conf = s_conf,
    .script_name = "tick.sh",
    .script_text = s_script,
    .workers = 1,
    .slots = 4,
    .specs = {"tick=exec:'%s' {query}"},
};

static void
test_sigterm_drains(void **state)
{
    braid_fixture_t *f = *state;
    static const char *queries[S_QUERIES] = {"a", "b", "c", "d"};
    char want[S_QUERIES * S_LINES * 8];
    size_t want_len = 0;
    for (int q = 0; q < S_QUERIES; q++)
        for (int i = 0; i < S_LINES; i++)
            want_len += (size_t) snprintf(want + want_len, sizeof want - want_len, "%s %d\n",
                                          queries[q], i);
    const char *args_a[] = {"-s", "tick", "a", "b", "c", "d", NULL};
    braid_proc_t *a = braid_cluster_submit(f->cluster, "client-a", args_a, NULL);
    assert_non_null(a);
    if (braid_proc_wait_line(a, BRAID_STDOUT, "a 0", 15000) != 0) {
        braid_proc_dump(a, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&a);
        fail_msg("client A printed nothing within 15 s");
    }
    braid_proc_t *broker = f->cluster->broker;
    assert_int_equal(braid_proc_signal(broker, SIGTERM), 0);
    if (braid_proc_wait_line(broker, BRAID_STDERR, "<5>braidd: draining jobs=1", 5000) != 0) {
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&a);
        fail_msg("no 'draining jobs=1' from the broker within 5 s of SIGTERM");
    }

    const char *args_b[] = {"-s", "tick", "late", NULL};
    braid_proc_t *b = braid_cluster_submit(f->cluster, "client-b", args_b, NULL);
    assert_non_null(b);
    int code = -1;
    if (braid_cluster_finish(f->cluster, &b, 10000, 3, &code) != 0) {
        braid_proc_destroy(&a);
        fail_msg("client B not done within 10 s");
    }
    char *err = braid_proc_output(b, BRAID_STDERR, NULL);
    assert_non_null(err);
    print_message("client B: exit %d, stderr: %s", code, err);
    assert_int_equal(code, 3);
    assert_non_null(strstr(err, "503"));
    assert_non_null(strstr(err, "stopping"));
    free(err);
    braid_proc_destroy(&b);

    if (braid_cluster_finish(f->cluster, &a, 20000, 0, &code) != 0)
        fail_msg("client A not done within 20 s of the drain");
    size_t got_len = 0;
    char *got = braid_proc_output(a, BRAID_STDOUT, &got_len);
    assert_int_equal(code, 0);
    assert_int_equal(braid_compare("drained output", got, got_len, want, want_len), 0);
    free(got);
    braid_proc_destroy(&a);

    if (braid_proc_wait_exit(broker, 15000, &code) != 0) {
        braid_cluster_dump(f->cluster);
        fail_msg("the broker did not exit within 15 s after its last job drained");
    }
    assert_int_equal(code, 0);
    assert_int_equal(braid_proc_wait_line(broker, BRAID_STDERR, "<5>braidd: stopping", 1000), 0);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_sigterm_drains, s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
