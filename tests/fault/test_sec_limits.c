/*  test_sec_limits.c - issue 9, acceptance 1: per-client limits that a new
    connection cannot get around, and the broker's global caps.

    test_principal_limits (max_jobs_per_client = 2):
      - a raw client (a DEALER speaking the protocol) opens two jobs; new
        DEALERs from the same address (new routing ids) are refused ERROR
        429, each of them: a new connection is the same client;
      - a DEALER from another address (127.0.0.2) is another client and is
        accepted at the same moment;
      - once the first client cancels a job, a new DEALER of its address is
        accepted again (the count is the client's, and it goes down).
    test_global_caps (max_jobs = 2, max_tasks = 300, max_buffered_bytes =
    1 MiB):
      - QUERIES that would take the broker's buffered bytes past the cap are
        refused ERROR 507 naming max_buffered_bytes, and the job ends;
      - `braid submit` over max_tasks, then over max_jobs, exits 3 with
        "job refused by ...: 507 broker full: ..." naming the cap (a
        refusal, not "broker unreachable"), while jobs within them run;
      - the stats count the refusals.
*/

#include "fault.h"

#include "braid_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CLIENTS 5     /* new DEALERs of the first client's address    */

static const char s_principal_conf[] = FAULT_BROKER_CONF "    max_jobs_per_client = 2\n";

/*  A source whose tasks run until cancelled (or a minute).                 */
static const braid_fixture_def_t s_principal_def = {
    .name = "braid-sec-principal",
    .conf = s_principal_conf,
    .workers = 1,
    .slots = 8,
    .specs = {"slow=synthetic:parts=1,size=16,delay_msec=60000"},
};

static const char s_caps_conf[] = FAULT_BROKER_CONF "    max_jobs = 2\n"
                                                    "    max_tasks = 300\n"
                                                    "    max_buffered_bytes = 1048576\n";

static const braid_fixture_def_t s_caps_def = {
    .name = "braid-sec-caps",
    .conf = s_caps_conf,
    .workers = 1,
    .slots = 4,
    .specs = {"slow=synthetic:parts=1,size=16,delay_msec=60000"},
};

static void
s_send_submit(zsock_t *sock, uint8_t id, uint32_t count)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_SUBMIT);
    memset(m.job_id, id, sizeof m.job_id);
    m.count = count;
    m.credit = 1000;
    m.nsources = 1;
    snprintf(m.sources[0], sizeof m.sources[0], "slow");
    assert_int_equal(braid_msg_send(sock, NULL, &m, NULL, false), 0);
}

static void
s_send_cancel(zsock_t *sock, uint8_t id)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_CANCEL);
    memset(m.job_id, id, sizeof m.job_id);
    assert_int_equal(braid_msg_send(sock, NULL, &m, NULL, false), 0);
}

/*  The broker's answer about job id (ACCEPT or ERROR), skipping the other
    messages (PONG, a stream): its type, its code and text in *m. -1 when
    none came within the socket's receive timeout.                          */
static int
s_answer(zsock_t *sock, uint8_t id, braid_msg_t *m)
{
    uint8_t job_id[16];
    memset(job_id, id, sizeof job_id);
    for (int i = 0; i < 1000; i++) {
        zmsg_t *payload = NULL;
        braid_err_t err;
        int rc = braid_msg_recv(sock, false, BRAID_CH_TO_CLIENT, m, NULL, &payload, &err);
        zmsg_destroy(&payload);
        if (rc == -1)
            return -1;
        if (rc == 0 && memcmp(m->job_id, job_id, sizeof job_id) == 0 &&
            (m->type == BRAID_MSG_ACCEPT || m->type == BRAID_MSG_ERROR))
            return m->type;
    }
    return -1;
}

/*  SUBMIT job id from sock and assert the answer: ACCEPT (code 0), or
    ERROR code with want_text in its text.                                  */
static void
s_submit_expect(zsock_t *sock, uint8_t id, uint32_t count, uint32_t code, const char *want_text)
{
    s_send_submit(sock, id, count);
    braid_msg_t m;
    int type = s_answer(sock, id, &m);
    if (type == BRAID_MSG_ERROR)
        print_message("job %u: error %u: %s\n", id, m.code, m.text);
    assert_int_equal(type, code ? BRAID_MSG_ERROR : BRAID_MSG_ACCEPT);
    if (code) {
        assert_int_equal(m.code, code);
        assert_non_null(strstr(m.text, want_text));
    }
}

static void
test_principal_limits(void **state)
{
    braid_fixture_t *f = *state;
    const char *ep = f->cluster->frontend;
    zsock_t *a = fault_dealer_from(ep, NULL);
    assert_non_null(a);
    s_submit_expect(a, 1, 1, 0, NULL);
    s_submit_expect(a, 2, 1, 0, NULL);
    /*  New connections of the same address: each a new routing id, each
        the same client, each refused.                                      */
    zsock_t *again[S_CLIENTS];
    for (int i = 0; i < S_CLIENTS; i++) {
        again[i] = fault_dealer_from(ep, NULL);
        assert_non_null(again[i]);
        s_submit_expect(again[i], (uint8_t) (10 + i), 1, BRAID_ERR_CODE_TOO_MANY,
                        "too many open jobs");
    }
    /*  Another address is another client.                                  */
    zsock_t *b = fault_dealer_from(ep, "127.0.0.2");
    assert_non_null(b);
    s_submit_expect(b, 3, 1, 0, NULL);
    /*  The first client ends a job: a new connection of its may open one,
        once the broker has closed it (its task confirmed cancelled).      */
    s_send_cancel(a, 1);
    int64_t deadline = braid_now_msec() + 20000;
    bool accepted = false;
    for (uint8_t id = 20; !accepted && id < 250 && braid_now_msec() < deadline; id++) {
        s_send_submit(again[0], id, 1);
        braid_msg_t m;
        int type = s_answer(again[0], id, &m);
        assert_true(type == BRAID_MSG_ACCEPT ||
                    (type == BRAID_MSG_ERROR && m.code == BRAID_ERR_CODE_TOO_MANY));
        accepted = type == BRAID_MSG_ACCEPT;
        if (!accepted)
            fault_poll_pause();
    }
    assert_true(accepted);
    json_t *stats = fault_stats(f->cluster, NULL);
    assert_non_null(stats);
    long long rejected = fault_stat(stats, NULL, "rejected");
    json_decref(stats);
    print_message("rejected %lld\n", rejected);
    assert_true(rejected >= S_CLIENTS);

    /*  The clients go: their jobs are cancelled (client liveness).         */
    zsock_destroy(&a);
    zsock_destroy(&b);
    for (int i = 0; i < S_CLIENTS; i++)
        zsock_destroy(&again[i]);
    assert_int_equal(fault_wait_no_job(f->cluster, 30000), 0);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

/*  A fault_wait_stats() predicate: the broker holds *arg jobs.            */
static bool
s_jobs(json_t *stats, void *arg)
{
    return fault_stat(stats, NULL, "jobs") == *(long long *) arg;
}

static void
s_wait_jobs(braid_fixture_t *f, long long jobs)
{
    char *text = NULL;
    if (fault_wait_stats(f->cluster, s_jobs, &jobs, 20000, &text) != 0) {
        braid_cluster_dump(f->cluster);
        fail_msg("not %lld open jobs within 20 s: %s", jobs, text ? text : "(none)");
    }
    free(text);
}

/*  `braid submit -s slow` with n queries (from a file on its stdin),
    started (it runs until cancelled).                                      */
static braid_proc_t *
s_start(braid_fixture_t *f, const char *name, int n)
{
    char file[64];
    snprintf(file, sizeof file, "%s.queries", name);
    char *path = braid_path(f->dir, file);
    char *text = calloc((size_t) n, 16);
    assert_true(path && text);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t) sprintf(text + len, "q%d\n", i);
    assert_int_equal(braid_file_write(path, text, len, 0644), 0);
    const char *args[] = {"-s", "slow", NULL};
    braid_proc_t *client = braid_cluster_submit(f->cluster, name, args, path);
    free(text);
    free(path);
    assert_non_null(client);
    return client;
}

/*  `braid submit -s slow` with n queries is refused: exit 3, and its one
    line says so, naming the cap.                                           */
static void
s_refused(braid_fixture_t *f, const char *name, int n, const char *cap)
{
    braid_proc_t *client = s_start(f, name, n);
    int code = -1;
    assert_int_equal(braid_cluster_finish(f->cluster, &client, 20000, 3, &code), 0);
    char *err = braid_proc_output(client, BRAID_STDERR, NULL);
    braid_proc_destroy(&client);
    print_message("%s (%d queries): %s", name, n, err);
    assert_int_equal(code, 3);
    assert_non_null(strstr(err, "job refused by"));
    assert_non_null(strstr(err, "507 broker full"));
    assert_non_null(strstr(err, cap));
    assert_null(strstr(err, "unreachable"));
    free(err);
}

static void
test_global_caps(void **state)
{
    braid_fixture_t *f = *state;
    /*  Queries past max_buffered_bytes: 50 of 8000 bytes a message.        */
    zsock_t *raw = fault_dealer_from(f->cluster->frontend, NULL);
    assert_non_null(raw);
    s_submit_expect(raw, 1, 200, 0, NULL);
    char query[8000];
    memset(query, 'q', sizeof query);
    braid_msg_t m;
    int type = -1;
    for (uint32_t first = 0; first < 200 && type != BRAID_MSG_ERROR; first += 50) {
        braid_msg_t q;
        braid_msg_init(&q, BRAID_MSG_QUERIES);
        memset(q.job_id, 1, sizeof q.job_id);
        q.first = first;
        zmsg_t *frames = zmsg_new();
        for (int i = 0; i < 50; i++)
            assert_int_equal(zmsg_addmem(frames, query, sizeof query), 0);
        assert_int_equal(braid_msg_send(raw, NULL, &q, &frames, false), 0);
        /*  An ERROR comes at once; the stream's first messages otherwise
            (or nothing: the tasks are slow).                              */
        zsock_set_rcvtimeo(raw, 1000);
        for (int i = 0; i < 100; i++) {
            zmsg_t *payload = NULL;
            braid_err_t err;
            int rc = braid_msg_recv(raw, false, BRAID_CH_TO_CLIENT, &m, NULL, &payload, &err);
            zmsg_destroy(&payload);
            if (rc == -1)
                break;
            if (rc == 0 && m.type == BRAID_MSG_ERROR) {
                type = BRAID_MSG_ERROR;
                break;
            }
        }
    }
    assert_int_equal(type, BRAID_MSG_ERROR);
    print_message("queries past the cap: error %u: %s\n", m.code, m.text);
    assert_int_equal(m.code, BRAID_ERR_CODE_FULL);
    assert_non_null(strstr(m.text, "max_buffered_bytes"));
    zsock_destroy(&raw);
    s_wait_jobs(f, 0);

    /*  250 tasks open, 60 more pass max_tasks, 10 more do not; then a
        third job passes max_jobs.                                          */
    braid_proc_t *big = s_start(f, "big", 250);
    s_wait_jobs(f, 1);

    s_refused(f, "over-tasks", 60, "max_tasks");
    braid_proc_t *small = s_start(f, "small", 10);
    s_wait_jobs(f, 2);
    s_refused(f, "over-jobs", 1, "max_jobs");
    json_t *stats = fault_stats(f->cluster, NULL);
    assert_non_null(stats);
    long long rejected = fault_stat(stats, NULL, "rejected");
    json_decref(stats);
    assert_true(rejected >= 3);

    /*  Ctrl-C: each cancels its job and exits 130.                         */
    int code = -1;
    braid_proc_signal(big, SIGINT);
    braid_proc_signal(small, SIGINT);
    assert_int_equal(braid_cluster_finish(f->cluster, &big, 20000, 130, &code), 0);
    assert_int_equal(code, 130);
    assert_int_equal(braid_cluster_finish(f->cluster, &small, 20000, 130, &code), 0);
    assert_int_equal(code, 130);
    braid_proc_destroy(&big);
    braid_proc_destroy(&small);
    assert_int_equal(fault_wait_no_job(f->cluster, 30000), 0);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_principal_limits, s_principal_def),
        FAULT_FIXTURE_TEST(test_global_caps, s_caps_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
