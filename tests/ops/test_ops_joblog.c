/*  test_ops_joblog.c - END carries what a job log needs (PROTOCOL.md: W
    the worker, B when its last attempt was dispatched, Q the wait from
    ACCEPT to it, U how long it ran, X its exit value), read by a raw
    client speaking the protocol to a real broker and worker.

    One worker, w1, serves "job": job.sh QUERY prints a line and exits 0
    for "ok", exits 3 for "three", and kills itself with SIGKILL for
    "sig". Their ENDs: worker "w1" each; X 0, 3 and 137 (128 + 9, as a
    shell's $? says); B between the wall clock before SUBMIT and after
    JOB_END; B + U no later than that either (within the clock's msec).
*/

#include "ops.h"

#include "braid_msg.h"
#include "braid_parts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 3

static const char s_script[] = "#!/bin/sh\n"
                               "# job.sh QUERY: ok exits 0, three exits 3, sig is killed\n"
                               "case \"$1\" in\n"
                               "ok) echo fine ;;\n"
                               "three) echo \"three\" >&2; exit 3 ;;\n"
                               "sig) kill -KILL $$ ;;\n"
                               "esac\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-ops-joblog",
    .script_name = "job.sh",
    .script_text = s_script,
    .workers = 1,
    .slots = 2,
    .specs = {"job=exec:'%s' {query}"},
};

static int
s_setup(void **state)
{
    *state = fault_fixture_new(&s_def);
    return *state ? 0 : -1;
}

static const char *s_queries[S_QUERIES] = {"ok", "three", "sig"};

/*  Send the job: SUBMIT (submit order, credit for all of it), then its
    queries in one QUERIES.                                                 */
static void
s_send_job(zsock_t *sock, const uint8_t *id)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_SUBMIT);
    memcpy(m.job_id, id, 16);
    m.order = BRAID_ORDER_SUBMIT;
    m.count = S_QUERIES;
    m.credit = 1000;
    m.nsources = 1;
    strcpy(m.sources[0], "job");
    assert_int_equal(braid_msg_send(sock, NULL, &m, NULL, false), 0);
    braid_msg_init(&m, BRAID_MSG_QUERIES);
    memcpy(m.job_id, id, 16);
    m.first = 0;
    zmsg_t *frames = zmsg_new();
    for (int q = 0; q < S_QUERIES; q++)
        zmsg_addstr(frames, s_queries[q]);
    frames = braid_parts_pack(&frames);    /* one parts frame            */
    assert_int_equal(braid_msg_send(sock, NULL, &m, &frames, false), 0);
}

static void
test_ops_joblog(void **state)
{
    braid_fixture_t *f = *state;
    zsock_t *sock = zsock_new_dealer(f->cluster->frontend);
    assert_non_null(sock);
    zsock_set_rcvtimeo(sock, 200);
    uint8_t id[16];
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t) (0x40 + i);
    int64_t wall_before = zclock_time();
    s_send_job(sock, id);

    braid_msg_t ends[S_QUERIES];
    bool ended[S_QUERIES] = {false};
    bool accepted = false, job_end = false;
    int64_t deadline = braid_now_msec() + 20000, next_ping = 0;
    while (!job_end && braid_now_msec() < deadline) {
        /*  The broker's client liveness: a PING now and then.              */
        if (braid_now_msec() >= next_ping) {
            braid_msg_t ping;
            braid_msg_init(&ping, BRAID_MSG_PING);
            assert_int_equal(braid_msg_send(sock, NULL, &ping, NULL, false), 0);
            next_ping = braid_now_msec() + 300;
        }
        braid_msg_t m;
        zmsg_t *payload = NULL;
        braid_err_t err;
        int rc = braid_msg_recv(sock, false, BRAID_CH_TO_CLIENT, &m, NULL,
                                &payload, &err);
        zmsg_destroy(&payload);
        if (rc == -1)
            continue;   /* the receive timeout: ping and wait again */
        assert_int_equal(rc, 0);
        if (m.type == BRAID_MSG_ERROR)
            fail_msg("ERROR %u: %s", m.code, m.text);
        accepted |= m.type == BRAID_MSG_ACCEPT;
        if (m.type == BRAID_MSG_END) {
            assert_true(m.query < S_QUERIES);
            assert_false(ended[m.query]);
            ended[m.query] = true;
            ends[m.query] = m;
        }
        job_end = m.type == BRAID_MSG_JOB_END;
    }
    int64_t wall_after = zclock_time();
    zsock_destroy(&sock);
    if (!job_end) {
        braid_cluster_dump(f->cluster);
        fail_msg("no JOB_END within 20 s");
    }
    assert_true(accepted);
    static const uint32_t want_status[S_QUERIES] = {BRAID_STATUS_OK, BRAID_STATUS_FAILED,
                                                    BRAID_STATUS_FAILED};
    static const uint32_t want_exit[S_QUERIES] = {0, 3, 137};
    for (int q = 0; q < S_QUERIES; q++) {
        assert_true(ended[q]);
        const braid_msg_t *e = &ends[q];
        print_message("END q=%d (%s): status=%s W=%s B=%llu Q=%llu U=%llu X=%u E=%s\n", q,
                      s_queries[q], braid_status_name((int) e->status), e->worker,
                      (unsigned long long) e->started_msec, (unsigned long long) e->queue_msec,
                      (unsigned long long) e->run_msec, e->exit_value, e->text);
        assert_int_equal(e->status, want_status[q]);
        assert_int_equal(e->exit_value, want_exit[q]);
        assert_string_equal(e->worker, "w1");
        assert_int_equal(e->attempts, 1);
        /*  When it was dispatched, by the broker's wall clock: within the
            job's life as the test saw it, and so is its end.               */
        assert_true((int64_t) e->started_msec >= wall_before);
        assert_true((int64_t) e->started_msec <= wall_after);
        assert_true((int64_t) (e->started_msec + e->run_msec) <= wall_after + 1);
    }
    assert_non_null(strstr(ends[1].text, "exit status 3"));
    assert_non_null(strstr(ends[2].text, "killed by signal 9"));
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ops_joblog, s_setup, braid_fixture_teardown),
    };
    return cmocka_run_group_tests_name("ops_joblog", tests, NULL, NULL);
}
