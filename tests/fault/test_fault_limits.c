/*  test_fault_limits.c - limits against abuse: each violation gets a clear
    error, to that client only.

    The broker allows 10 queries per job and 1 open job per client. Asserts:
      - `braid submit` with 11 queries exits 3 with "too many queries" on
        stderr, while a 10-query job from another client succeeds;
      - a job naming a source nobody serves exits 3 with "no worker serves";
      - a raw client (DEALER speaking the protocol) whose first job is
        open gets ERROR 429 for a second one, while another raw client
        (from another address, 127.0.0.2: the limit is per client, not per
        connection) is accepted at the same moment; a SUBMIT reusing an open job id with
        other parameters gets ERROR 409, the same parameters ACCEPT again;
      - a query frame over 8192 bytes is dropped and counted (frame-size);
      - the stats count the rejections; a clean stop.
*/

#include "fault.h"

#include "braid_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char s_conf[] = FAULT_BROKER_CONF "    max_queries_per_job = 10\n"
                                               "    max_jobs_per_client = 1\n";

/*  A slow source, so a raw client's first job stays open.                  */
static const braid_fixture_def_t s_def = {
    .name = "braid-fault-limits",
    .conf = s_conf,
    .workers = 1,
    .slots = 4,
    .specs = {"slow=synthetic:parts=1,size=16,delay_msec=3000", "quick=synthetic:parts=2,size=16"},
};

static int
s_setup(void **state)
{
    *state = fault_fixture_new(&s_def);
    return *state ? 0 : -1;
}

/*  Run braid submit with args, assert it exits want_code; its stderr in
    *err_p.                                                                 */
static void
s_submit(braid_fixture_t *f, const char *const args[], int want_code, char **err_p)
{
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 20000, want_code, &client, &code) != 0)
        fail_msg("client not done within 20 s");
    *err_p = braid_proc_output(client, BRAID_STDERR, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, want_code);
}

static void
test_cli_limits(void **state)
{
    braid_fixture_t *f = *state;
    char *err = NULL;
    const char *eleven[] = {"-s", "quick", "1", "2", "3", "4", "5", "6",
                            "7",  "8",     "9", "10", "11", NULL};
    s_submit(f, eleven, 3, &err);
    print_message("11 queries: %s", err);
    assert_non_null(strstr(err, "too many queries"));
    free(err);
    const char *ten[] = {"-s", "quick", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", NULL};
    s_submit(f, ten, 0, &err);
    free(err);
    const char *nobody[] = {"-s", "nosuch", "q", NULL};
    s_submit(f, nobody, 3, &err);
    print_message("unknown source: %s", err);
    assert_non_null(strstr(err, "no worker serves source 'nosuch'"));
    free(err);
}

/*  A raw client: a DEALER that speaks the protocol through proto's codec,
    from the loopback address source (NULL: the default one).              */
static zsock_t *
s_raw_client(braid_fixture_t *f, const char *source)
{
    zsock_t *sock = fault_dealer_from(f->cluster->frontend, source);
    assert_non_null(sock);
    return sock;
}

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

/*  The next message from the broker, skipping stream messages.             */
static void
s_expect(zsock_t *sock, int type, uint32_t code, const char *text)
{
    for (int i = 0; i < 100; i++) {
        braid_msg_t m;
        zmsg_t *payload = NULL;
        braid_err_t err;
        int rc = braid_msg_recv(sock, false, BRAID_CH_TO_CLIENT, &m, NULL, &payload, &err);
        zmsg_destroy(&payload);
        assert_int_equal(rc, 0);
        if (m.type == BRAID_MSG_PONG)
            continue;
        assert_int_equal(m.type, type);
        if (type == BRAID_MSG_ERROR) {
            print_message("error %u: %s\n", m.code, m.text);
            assert_int_equal(m.code, code);
            assert_non_null(strstr(m.text, text));
        }
        return;
    }
    fail_msg("no answer");
}

static void
test_raw_limits(void **state)
{
    braid_fixture_t *f = *state;
    zsock_t *a = s_raw_client(f, NULL);
    zsock_t *b = s_raw_client(f, "127.0.0.2");
    s_send_submit(a, 1, 1);
    s_expect(a, BRAID_MSG_ACCEPT, 0, NULL);
    /*  The second open job of client a is refused, b is not affected.      */
    s_send_submit(a, 2, 1);
    s_send_submit(b, 3, 1);
    s_expect(a, BRAID_MSG_ERROR, BRAID_ERR_CODE_TOO_MANY, "too many open jobs");
    s_expect(b, BRAID_MSG_ACCEPT, 0, NULL);
    /*  Reusing an open id: other parameters conflict, the same ones are a
        retried submit.                                                     */
    s_send_submit(a, 1, 2);
    s_expect(a, BRAID_MSG_ERROR, BRAID_ERR_CODE_CONFLICT, "other parameters");
    s_send_submit(a, 1, 1);
    s_expect(a, BRAID_MSG_ACCEPT, 0, NULL);

    /*  A query frame over the bound is dropped and counted.                */
    json_t *before = fault_stats(f->cluster, NULL);
    assert_non_null(before);
    long long size_before = fault_stat(before, "dropped", "frame-size");
    json_decref(before);
    braid_msg_t q;
    braid_msg_init(&q, BRAID_MSG_QUERIES);
    memset(q.job_id, 3, sizeof q.job_id);
    zmsg_t *frames = zmsg_new();
    char *big = calloc(1, BRAID_MAX_QUERY_LEN + 1);
    memset(big, 'x', BRAID_MAX_QUERY_LEN + 1);
    zmsg_addmem(frames, big, BRAID_MAX_QUERY_LEN + 1);
    free(big);
    assert_int_equal(braid_msg_send(b, NULL, &q, &frames, false), 0);
    char *text = NULL;
    long long size_after = -1;
    for (int i = 0; i < 100 && size_after <= size_before; i++) {
        json_t *after = fault_stats(f->cluster, &text);
        assert_non_null(after);
        size_after = fault_stat(after, "dropped", "frame-size");
        json_decref(after);
        if (size_after <= size_before) {
            free(text);
            text = NULL;
            fault_poll_pause();
        }
    }
    print_message("stats: %s\n", text ? text : "");
    assert_int_equal(size_after, size_before + 1);
    json_t *stats = braid_json_parse(text, strlen(text));
    assert_true(fault_stat(stats, NULL, "rejected") >= 2);
    json_decref(stats);
    free(text);
    zsock_destroy(&a);
    zsock_destroy(&b);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_limits),
        cmocka_unit_test(test_raw_limits),
    };
    return cmocka_run_group_tests(tests, s_setup, braid_fixture_teardown);
}
