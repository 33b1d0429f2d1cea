/*  test_fault_failover.c - issue 12, acceptances 4 and 5 on loopback:
    client failover with resume, and a broker restarted on its ports.

    Two brokers (b1, b2: each its own cluster, dir and ports) and two
    workers, each attached to both (`-b B1 -k S1 -b B2 -k S2`), serving
    `load`: a synthetic source of 5 partials of 24 bytes, 10 ms apart, so
    every task streams several partials.

    failover_submit: `braid submit -b B1 -b B2 --liveness 2s -s load` of
    1,000 queries (stdin) in submit order. Once a fifth of the output is
    out, b1 is killed (SIGKILL). Asserts: the client exits 0; its stdout
    equals the sequential reference byte for byte (no gap, no duplicate);
    b2 logs that it resumed the job, with ranges of what had ended.

    failover_arrival: the same with `-o arrival --json`: exit 0; every
    (query, source) has exactly one end record, ok, 5 parts; every query's
    partials are seqs 0..4 exactly once each, with the reference's bytes;
    the job line counts 1,000 ok.

    restart: b1 killed (SIGKILL) while a client of it is mid-job, then
    started again on the same ports, with no other broker; the workers are
    frozen (SIGSTOP) meanwhile, so the client, whose job the new broker
    does not know, fails over to it (the same endpoint) first and is
    refused (no worker serves load: stats count it) until the workers,
    thawed, register again by themselves; then it resumes (exit 0, exact
    output), and a new job runs on the restarted broker.
*/

#include "fault.h"
#include "jsonl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 1000
#define S_PARTS 5
#define S_SIZE 24
#define S_SPEC "load=synthetic:parts=5,size=24,delay_msec=10"
#define S_CLIENT_MSEC 120000
#define S_JOIN_MSEC 20000

typedef struct {
    char *dir[2];
    braid_cluster_t *broker[2];
    char *queries;          /* the queries file (in dir[0])               */
    char *want;             /* the sequential reference                   */
    size_t want_len;
} s_fix_t;

static void
s_query(int q, char *buf, size_t size)
{
    snprintf(buf, size, "q%04d", q);
}

/*  Two brokers, two workers on both, the queries and the reference.      */
static int
s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    *state = f;
    for (int b = 0; b < 2; b++) {
        f->dir[b] = braid_tmpdir_new(b ? "braid-failover-b2" : "braid-failover-b1");
        assert_non_null(f->dir[b]);
        f->broker[b] = braid_cluster_new(f->dir[b], NULL);
        assert_non_null(f->broker[b]);
    }
    braid_cluster_t *c1 = f->broker[0], *c2 = f->broker[1];
    static const char *const names[] = {"w1", "w2"};
    for (int w = 0; w < 2; w++) {
        const char *argv[] = {BRAID_WORKER_PATH, "-b", c1->backend, "-k", c1->sink, "-b",
                              c2->backend, "-k", c2->sink, "-n", "8", "-N", names[w],
                              "--heartbeat", "200", "--liveness", "1500", "-s", S_SPEC, NULL};
        braid_proc_t *worker = braid_proc_spawn(f->dir[0], names[w], argv, NULL);
        assert_non_null(worker);
        c1->workers[c1->worker_count++] = worker;   /* stopped with b1's cluster */
        char joined[64];
        snprintf(joined, sizeof joined, "worker joined name=%s ", names[w]);
        for (int b = 0; b < 2; b++)
            assert_int_equal(
                braid_proc_wait_line(f->broker[b]->broker, BRAID_STDERR, joined, S_JOIN_MSEC), 0);
    }
    f->queries = braid_path(f->dir[0], "queries.txt");
    FILE *qf = fopen(f->queries, "we");
    assert_non_null(qf);
    f->want_len = (size_t) S_QUERIES * S_PARTS * S_SIZE;
    f->want = malloc(f->want_len);
    assert_non_null(f->want);
    for (int q = 0; q < S_QUERIES; q++) {
        char query[16];
        s_query(q, query, sizeof query);
        fprintf(qf, "%s\n", query);
        for (int s = 0; s < S_PARTS; s++)
            fault_synthetic_payload(query, (unsigned long long) s, S_SIZE,
                                    f->want + ((size_t) q * S_PARTS + (size_t) s) * S_SIZE);
    }
    assert_int_equal(fclose(qf), 0);
    return 0;
}

static int
s_teardown(void **state)
{
    s_fix_t *f = *state;
    for (int b = 0; b < 2; b++) {
        braid_cluster_destroy(&f->broker[b]);
        braid_tmpdir_destroy(&f->dir[b]);
    }
    free(f->queries);
    free(f->want);
    free(f);
    return braid_harness_reap_orphans() == 0 ? 0 : -1;
}

/*  `braid submit -b B1 -b B2 --liveness 2s -s load EXTRA...` < queries.  */
static braid_proc_t *
s_submit(s_fix_t *f, const char *name, const char *const extra[])
{
    const char *args[16] = {"-b", f->broker[1]->frontend, "--liveness", "2s", "-s", "load"};
    int n = 6;
    for (int i = 0; extra && extra[i] && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    /*  braid_cluster_submit puts -b B1 first.                             */
    return braid_cluster_submit(f->broker[0], name, args, f->queries);
}

/*  Wait until the client wrote bytes of stdout, then SIGKILL broker 1.   */
static void
s_kill_b1_at(s_fix_t *f, braid_proc_t *client, size_t bytes)
{
    if (braid_proc_wait_bytes(client, BRAID_STDOUT, bytes, 60000) != 0) {
        braid_proc_dump(client, 2000);
        braid_cluster_dump(f->broker[0]);
        fail_msg("client printed less than %zu bytes within 60 s", bytes);
    }
    braid_proc_t *b1 = f->broker[0]->broker;
    assert_int_equal(braid_proc_signal(b1, SIGKILL), 0);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(b1, 10000, &code), 0);
    assert_int_equal(code, 128 + SIGKILL);
    braid_proc_destroy(&f->broker[0]->broker);
}

/*  broker's "job resumed" line: printed, and it must claim ended tasks
    (the kill came after a fifth of the output).                           */
static void
s_check_resumed(braid_proc_t *broker)
{
    assert_int_equal(braid_proc_wait_line(broker, BRAID_STDERR, "job resumed", 1000), 0);
    size_t len = 0;
    char *err = braid_proc_output(broker, BRAID_STDERR, &len);
    const char *line = strstr(err, "job resumed");
    assert_non_null(line);
    print_message("%.*s\n", (int) strcspn(line, "\n"), line);
    assert_null(strstr(line, "ranges=0 "));
    free(err);
}

/*  Stop what is left: broker 2 (and its nothing), the workers (b1's
    cluster, its broker gone), each exiting 0.                             */
static void
s_stop(s_fix_t *f)
{
    assert_int_equal(braid_cluster_stop(f->broker[0]), 0);
    assert_int_equal(braid_cluster_stop(f->broker[1]), 0);
}

static void
test_failover_submit(void **state)
{
    s_fix_t *f = *state;
    braid_proc_t *client = s_submit(f, "client", NULL);
    assert_non_null(client);
    s_kill_b1_at(f, client, f->want_len / 5);
    int code = -1;
    assert_int_equal(braid_cluster_finish(f->broker[1], &client, S_CLIENT_MSEC, 0, &code), 0);
    assert_int_equal(code, 0);
    size_t len = 0;
    char *got = braid_proc_output(client, BRAID_STDOUT, &len);
    assert_int_equal(braid_compare("submit output", got, len, f->want, f->want_len), 0);
    s_check_resumed(f->broker[1]->broker);
    free(got);
    braid_proc_destroy(&client);
    s_stop(f);
}

static void
test_failover_arrival(void **state)
{
    s_fix_t *f = *state;
    const char *extra[] = {"-o", "arrival", "--json", NULL};
    braid_proc_t *client = s_submit(f, "client-arrival", extra);
    assert_non_null(client);
    /*  JSON lines are longer than the payload: a fifth of the partials.  */
    s_kill_b1_at(f, client, f->want_len / 5 * 3);
    int code = -1;
    assert_int_equal(braid_cluster_finish(f->broker[1], &client, S_CLIENT_MSEC, 0, &code), 0);
    assert_int_equal(code, 0);
    size_t len = 0;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    int *ends = calloc(S_QUERIES, sizeof *ends);
    int *seen = calloc((size_t) S_QUERIES * S_PARTS, sizeof *seen);
    assert_non_null(ends);
    assert_non_null(seen);
    bool job = false;
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        long long q = json_integer_value(json_object_get(j, "query"));
        if (strcmp(type, "partial") == 0) {
            long long seq = json_integer_value(json_object_get(j, "seq"));
            assert_true(q >= 0 && q < S_QUERIES && seq >= 0 && seq < S_PARTS);
            if (ends[q])
                fail_msg("query %lld: a partial after its end", q);
            if (seen[q * S_PARTS + seq]++)
                fail_msg("query %lld seq %lld twice", q, seq);
            size_t dlen = 0;
            char *data = braid_json_data(j, &dlen);
            assert_int_equal(dlen, S_SIZE);
            assert_memory_equal(data, f->want + ((size_t) q * S_PARTS + (size_t) seq) * S_SIZE,
                                S_SIZE);
            free(data);
        } else if (strcmp(type, "end") == 0) {
            assert_true(q >= 0 && q < S_QUERIES);
            if (ends[q]++)
                fail_msg("query %lld ended twice", q);
            assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
            assert_int_equal(json_integer_value(json_object_get(j, "parts")), S_PARTS);
            for (int s = 0; s < S_PARTS; s++)
                if (seen[q * S_PARTS + s] != 1)
                    fail_msg("query %lld ended without seq %d", q, s);
        } else if (strcmp(type, "job") == 0) {
            job = true;
            braid_json_check_job(j, "load", S_QUERIES, 0, 0, 0);
        }
        json_decref(j);
    }
    assert_true(job);
    for (int q = 0; q < S_QUERIES; q++)
        if (ends[q] != 1)
            fail_msg("query %d: %d end records", q, ends[q]);
    s_check_resumed(f->broker[1]->broker);
    free(ends);
    free(seen);
    free(out);
    braid_proc_destroy(&client);
    s_stop(f);
}

/*  The broker has refused something (stats "rejected").                  */
static bool
s_rejected(json_t *stats, void *arg)
{
    (void) arg;
    return fault_stat(stats, NULL, "rejected") >= 1;
}

static void
test_restart(void **state)
{
    s_fix_t *f = *state;
    braid_cluster_t *c1 = f->broker[0];
    /*  Only b1 this time: the client knows no other broker.              */
    const char *args[] = {"--liveness", "2s", "-T", "30s", "-s", "load", NULL};
    braid_proc_t *client = braid_cluster_submit(c1, "client-restart", args, f->queries);
    assert_non_null(client);
    /*  The workers are frozen across the restart, so that the client comes
        back first and is refused (no worker serves load yet): it must ask
        again until they are back.                                         */
    if (braid_proc_wait_bytes(client, BRAID_STDOUT, f->want_len / 5, 60000) != 0)
        fail_msg("client printed less than a fifth within 60 s");
    for (int w = 0; w < c1->worker_count; w++)
        assert_int_equal(braid_proc_signal(c1->workers[w], SIGSTOP), 0);
    s_kill_b1_at(f, client, f->want_len / 5);
    const char *argv[] = {BRAIDD_PATH, "-f", c1->frontend, "-w", c1->backend, "-k", c1->sink,
                          NULL};
    c1->broker = braid_proc_spawn(c1->dir, "braidd-again", argv, NULL);
    assert_non_null(c1->broker);
    assert_int_equal(
        braid_proc_wait_line(c1->broker, BRAID_STDERR, "<5>braidd: ready", BRAID_START_MSEC), 0);
    char *text = NULL;
    int waited = fault_wait_stats(c1, s_rejected, NULL, 20000, &text);
    for (int w = 0; w < c1->worker_count; w++)
        assert_int_equal(braid_proc_signal(c1->workers[w], SIGCONT), 0);
    if (waited != 0)
        fail_msg("the restarted broker refused nothing within 20 s: %s", text ? text : "");
    free(text);
    /*  The workers come back by themselves.                               */
    assert_int_equal(
        braid_proc_wait_line(c1->broker, BRAID_STDERR, "worker joined name=w1 ", S_JOIN_MSEC), 0);
    assert_int_equal(
        braid_proc_wait_line(c1->broker, BRAID_STDERR, "worker joined name=w2 ", S_JOIN_MSEC), 0);
    /*  The waiting client resumes there.                                  */
    int code = -1;
    assert_int_equal(braid_cluster_finish(c1, &client, S_CLIENT_MSEC, 0, &code), 0);
    assert_int_equal(code, 0);
    size_t len = 0;
    char *got = braid_proc_output(client, BRAID_STDOUT, &len);
    assert_int_equal(braid_compare("output across the restart", got, len, f->want, f->want_len),
                     0);
    free(got);
    braid_proc_destroy(&client);
    s_check_resumed(c1->broker);
    /*  A new job runs on the restarted broker.                            */
    const char *small[] = {"-s", "load", "q0000", "q0001", NULL};
    assert_int_equal(braid_cluster_run(c1, "client-new", small, S_CLIENT_MSEC, 0, &client, &code),
                     0);
    assert_int_equal(code, 0);
    got = braid_proc_output(client, BRAID_STDOUT, &len);
    assert_int_equal(braid_compare("a new job", got, len, f->want, 2 * S_PARTS * S_SIZE), 0);
    free(got);
    braid_proc_destroy(&client);
    s_stop(f);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failover_submit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_failover_arrival, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_restart, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("fault_failover", tests, NULL, NULL);
}
