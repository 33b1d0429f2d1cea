/*  test_fault_timeout.c - acceptance 3: a task whose command sleeps past
    --timeout ends `timeout`, and its process group is gone.

    The exec source `sleepy` runs a script that ignores SIGTERM (so the
    worker has to escalate to SIGKILL), prints "pgid PID" (it leads its own
    process group), and sleeps 30 s in a child of its own. The job says
    `-t 1000`. A second query, "quick", answers at once. Asserts:
      - the client (--json) exits 1; the slow task's end record says
        "timeout" with its one partial, the quick one "ok";
      - the slow task ends well before its sleep would (bounded);
      - the process group it printed has no live process left within a
        bounded wait (SIGTERM then SIGKILL), and nothing with the script's
        path in its command line runs;
      - a clean stop.
*/

#include "fault.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_script[] = "#!/bin/sh\n"
                               "trap '' TERM\n"
                               "if [ \"$1\" = quick ]; then echo quick; exit 0; fi\n"
                               "echo \"pgid $$\"\n"
                               "sleep 30\n"
                               "echo never\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-timeout",
    .script_name = "sleepy.sh",
    .script_text = s_script,
    .workers = 1,
    .slots = 2,
    .specs = {"sleepy=exec:'%s' {query}"},
};

static void
test_timeout_kills_group(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"--json", "-t", "1000", "-s", "sleepy", "slow", "quick", NULL};
    int64_t start = braid_now_msec();
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 25000, 1, &client, &code) != 0)
        fail_msg("client not done within 25 s (the task sleeps 30 s, its timeout is 1 s)");
    int64_t took = braid_now_msec() - start;
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    assert_non_null(out);
    print_message("client (%lld ms, exit %d):\n%s", (long long) took, code, out);
    assert_int_equal(code, 1);

    long long pgid = -1;
    bool slow_ended = false, quick_ended = false;
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        long long q = -1;
        json_unpack(j, "{s:I}", "query", &q);
        assert_non_null(type);
        if (strcmp(type, "partial") == 0 && q == 0) {
            char *data = braid_json_data(j, NULL);
            assert_non_null(data);
            assert_int_equal(sscanf(data, "pgid %lld", &pgid), 1);
            free(data);
        } else if (strcmp(type, "end") == 0) {
            const char *status = json_string_value(json_object_get(j, "status"));
            assert_non_null(status);
            if (q == 0) {
                assert_string_equal(status, "timeout");
                slow_ended = true;
            } else {
                assert_string_equal(status, "ok");
                quick_ended = true;
            }
        }
        json_decref(j);
    }
    assert_true(slow_ended);
    assert_true(quick_ended);
    assert_true(pgid > 1);
    assert_true(took < 20000);

    /*  SIGTERM is ignored by the script: only SIGKILL ends the group.     */
    int64_t deadline = braid_now_msec() + 10000;
    while (braid_pgrp_live_count((pid_t) pgid) > 0 && braid_now_msec() < deadline)
        fault_poll_pause();
    int live = braid_pgrp_live_count((pid_t) pgid);
    if (live > 0) {
        braid_cluster_dump(f->cluster);
        fail_msg("%d process(es) of the timed-out task's group %lld still live 10 s later", live,
                 pgid);
    }
    /*  kill(-pgid, 0) may still see zombies that nobody reaped yet; a live
        process of the group it must not see.                             */
    if (kill((pid_t) -pgid, 0) == 0)
        print_message("note: group %lld holds only zombies now\n", pgid);
    else
        assert_int_equal(errno, ESRCH);
    assert_int_equal(fault_wait_marker(f->script, false, 0, 5000), 0);
    free(out);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_timeout_kills_group, s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
