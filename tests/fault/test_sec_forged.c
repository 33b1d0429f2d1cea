/*  test_sec_forged.c - issue 9, acceptance 1: forged results on the sink.

    A peer that knows only the sink's address sends DATA and DONE for the
    task ids a real job's tasks have (serial << 32 | index: serials and
    attempts count from 1), with tokens it guessed (0, 1, random), while
    those tasks run. Asserts:
      - the broker counts every one that names a held task and attempt as
        `forged`, and the ones that name nothing held as stale or unknown:
        `dropped` grows by exactly the number sent;
      - the client's output is exactly the real one (no forged text), it
        exits 0 and no task failed.
    The source's tasks wait for a release file (polled by the script with
    its own deadline), so the forgeries arrive while the tasks are held.
*/

#include "fault.h"

#include "braid_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "braid_parts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 2
#define S_SERIALS 3     /* guessed job serials 1..3                       */
#define S_INDEXES 4     /* guessed task indexes 0..3                      */
#define S_ATTEMPTS 2    /* guessed attempts 1..2                          */
#define S_TOKENS 3      /* guessed tokens per (id, attempt)               */

static const braid_fixture_def_t s_def = {
    .name = "braid-sec-forged",
    .workers = 1,
    .slots = 2,
    .script_name = "held.sh",
    .script_text = "#!/bin/sh\n"
                   "echo \"out $1\"\n"
                   "i=0\n"
                   "while [ ! -e \"$(dirname \"$0\")/release\" ] && [ $i -lt 6000 ]; do\n"
                   "    sleep 0.01; i=$((i + 1))\n"
                   "done\n"
                   "echo \"end $1\"\n",
    .specs = {"held=exec:'%s' {query}"},
};

/*  True once the broker runs both tasks.                                   */
static bool
s_both_running(json_t *stats, void *arg)
{
    (void) arg;
    return fault_stat(stats, NULL, "running") >= S_QUERIES;
}

/*  True once every forgery is counted somewhere.                           */
static bool
s_all_counted(json_t *stats, void *arg)
{
    const long long *want = arg;
    return fault_dropped_total(stats) >= *want;
}

/*  Send one forged DATA or DONE on sink for (task_id, attempt, token).    */
static void
s_forge(zsock_t *sink, int type, uint64_t task_id, uint32_t attempt, uint64_t token)
{
    braid_msg_t msg;
    braid_msg_init(&msg, (braid_msg_type_t) type);
    msg.task_id = task_id;
    msg.attempts = attempt;
    msg.token = token;
    zmsg_t *payload = zmsg_new();
    assert_non_null(payload);
    if (type == BRAID_MSG_DATA) {
        assert_int_equal(zmsg_addstr(payload, "FORGED partial"), 0);
    } else {
        msg.status = BRAID_STATUS_FAILED;
        msg.parts = 1;
        snprintf(msg.text, sizeof msg.text, "FORGED error");
        assert_int_equal(zmsg_addstr(payload, "FORGED last"), 0);
    }
    payload = braid_parts_pack(&payload);  /* one parts frame             */
    assert_int_equal(braid_msg_send(sink, NULL, &msg, &payload, false), 0);
}

static void
test_forged_results(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"-s", "held", "q0", "q1", NULL};
    braid_proc_t *client = braid_cluster_submit(f->cluster, "client", args, NULL);
    assert_non_null(client);
    char *text = NULL;
    if (fault_wait_stats(f->cluster, s_both_running, NULL, 15000, &text) != 0) {
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("the tasks were not running within 15 s: %s", text ? text : "(none)");
    }
    free(text);
    text = NULL;
    json_t *before = fault_stats(f->cluster, NULL);
    assert_non_null(before);
    long long base = fault_dropped_total(before);
    long long base_forged = fault_stat(before, "dropped", "forged");
    json_decref(before);
    assert_true(base >= 0 && base_forged == 0);

    char endpoint[80];
    snprintf(endpoint, sizeof endpoint, ">%s", f->cluster->sink);
    zsock_t *sink = zsock_new_push(endpoint);
    assert_non_null(sink);
    uint64_t rng = 0x2545f4914f6cdd1dull;
    long long sent = 0, held = 0;
    for (uint32_t serial = 1; serial <= S_SERIALS; serial++)
        for (uint32_t idx = 0; idx < S_INDEXES; idx++)
            for (uint32_t attempt = 1; attempt <= S_ATTEMPTS; attempt++)
                for (int t = 0; t < S_TOKENS; t++) {
                    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                    uint64_t token = t == 0 ? 0 : t == 1 ? 1 : rng;
                    uint64_t task_id = (uint64_t) serial << 32 | idx;
                    s_forge(sink, BRAID_MSG_DATA, task_id, attempt, token);
                    s_forge(sink, BRAID_MSG_DONE, task_id, attempt, token);
                    sent += 2;
                    if (serial == 1 && idx < S_QUERIES && attempt == 1)
                        held += 2;
                }
    long long want = base + sent;
    int rc = fault_wait_stats(f->cluster, s_all_counted, &want, 15000, &text);
    json_t *after = fault_stats(f->cluster, NULL);
    assert_non_null(after);
    long long forged = fault_stat(after, "dropped", "forged");
    long long total = fault_dropped_total(after) - base;
    json_decref(after);
    print_message("forged results sent %lld (naming held tasks %lld): dropped %lld, forged %lld\n",
                  sent, held, total, forged);
    zsock_destroy(&sink);
    free(text);
    assert_int_equal(rc, 0);
    assert_int_equal(total, sent);
    assert_int_equal(forged, held);

    /*  Let the real tasks end: the client sees only their output.          */
    char release[1024];
    snprintf(release, sizeof release, "%s/release", f->dir);
    FILE *file = fopen(release, "w");
    assert_non_null(file);
    fclose(file);
    int code = -1;
    assert_int_equal(braid_cluster_finish(f->cluster, &client, 30000, 0, &code), 0);
    size_t got_len = 0;
    char *got = braid_proc_output(client, BRAID_STDOUT, &got_len);
    const char *want_out = "out q0\nend q0\nout q1\nend q1\n";
    assert_int_equal(code, 0);
    assert_int_equal(braid_compare("submit output", got, got_len, want_out, strlen(want_out)), 0);
    free(got);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_forged_results, s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
