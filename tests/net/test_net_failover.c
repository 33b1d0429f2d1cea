/*  test_net_failover.c - issue 12, acceptance 4 across the test network:
    two brokers on their own hosts, workers attached to both, the first
    broker killed mid-stream; the client fails over and resumes.

    braidd on the broker host (b1) and on the second broker host (b2); a
    worker on each worker host with `-b B1 -k S1 -b B2 -k S2`, serving
    `load` (synthetic: 5 partials of 24 bytes, 10 ms apart); the client on
    the client host: `braid submit -b B1 -b B2 --liveness 2s -s load` of
    1,000 queries in submit order. Once a fifth of the output is out, b1 is
    SIGKILLed. Asserts: the client exits 0 and its output equals the
    sequential reference byte for byte; b2 logs that it resumed the job;
    every process ran in its host's namespace; a clean stop.
*/

#include "fault.h"
#include "netcluster.h"

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

static void
test_net_failover(void **state)
{
    BRAID_TOPO_REQUIRE();
    braid_net_fixture_t *f = *state;
    /*  The queries and the reference.                                     */
    char *queries = braid_path(f->dir, "queries.txt");
    FILE *qf = fopen(queries, "we");
    assert_non_null(qf);
    size_t want_len = (size_t) S_QUERIES * S_PARTS * S_SIZE;
    char *want = malloc(want_len);
    assert_non_null(want);
    for (int q = 0; q < S_QUERIES; q++) {
        char query[16];
        snprintf(query, sizeof query, "q%04d", q);
        fprintf(qf, "%s\n", query);
        for (int s = 0; s < S_PARTS; s++)
            fault_synthetic_payload(query, (unsigned long long) s, S_SIZE,
                                    want + ((size_t) q * S_PARTS + (size_t) s) * S_SIZE);
    }
    assert_int_equal(fclose(qf), 0);

    /*  b1 in the fixture's dir, b2 in a dir of its own.                   */
    braid_net_opts_t opts1 = {.heartbeat_msec = 200, .liveness_msec = 1500};
    f->net = braid_net_cluster_new(f->topo, f->dir, &opts1);
    assert_non_null(f->net);
    char *dir2 = f->dir2 = braid_tmpdir_new("braid-net-failover-b2");
    assert_non_null(dir2);
    braid_net_opts_t opts2 = opts1;
    opts2.broker_host = BRAID_HOST_BROKER2;
    braid_net_cluster_t *net2 = f->net2 = braid_net_cluster_new(f->topo, dir2, &opts2);
    assert_non_null(net2);
    braid_cluster_t *c1 = f->net->cluster, *c2 = net2->cluster;

    static const char *const names[] = {"w1", "w2"};
    static const braid_host_t hosts[] = {BRAID_HOST_WORKER1, BRAID_HOST_WORKER2};
    for (int w = 0; w < 2; w++) {
        const char *argv[] = {BRAID_WORKER_PATH, "-b", c1->backend, "-k", c1->sink, "-b",
                              c2->backend, "-k", c2->sink, "-n", "8", "-N", names[w],
                              "--heartbeat", "200", "--liveness", "1500", "-s", S_SPEC, NULL};
        braid_proc_t *worker = braid_topo_spawn(f->topo, hosts[w], f->dir, names[w], argv, NULL);
        assert_non_null(worker);
        c1->workers[c1->worker_count++] = worker;
        char joined[64];
        snprintf(joined, sizeof joined, "worker joined name=%s ", names[w]);
        assert_int_equal(braid_proc_wait_line(c1->broker, BRAID_STDERR, joined, S_JOIN_MSEC), 0);
        assert_int_equal(braid_proc_wait_line(c2->broker, BRAID_STDERR, joined, S_JOIN_MSEC), 0);
        assert_int_equal(braid_pid_netns(braid_proc_pid(worker)),
                         braid_topo_ns_ino(f->topo, hosts[w]));
    }
    assert_int_equal(braid_pid_netns(braid_proc_pid(c1->broker)),
                     braid_topo_ns_ino(f->topo, BRAID_HOST_BROKER));
    assert_int_equal(braid_pid_netns(braid_proc_pid(c2->broker)),
                     braid_topo_ns_ino(f->topo, BRAID_HOST_BROKER2));

    const char *args[] = {"-b", c2->frontend, "--liveness", "2s", "-s", "load", NULL};
    braid_proc_t *client = braid_net_cluster_submit(f->net, "client", args, queries);
    assert_non_null(client);
    if (braid_proc_wait_bytes(client, BRAID_STDOUT, want_len / 5, 60000) != 0) {
        braid_proc_dump(client, 2000);
        braid_cluster_dump(c1);
        fail_msg("client printed less than %zu bytes within 60 s", want_len / 5);
    }
    assert_int_equal(braid_proc_signal(c1->broker, SIGKILL), 0);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(c1->broker, 10000, &code), 0);
    braid_proc_destroy(&c1->broker);

    assert_int_equal(braid_cluster_finish(c2, &client, S_CLIENT_MSEC, 0, &code), 0);
    assert_int_equal(code, 0);
    size_t got_len = 0;
    char *got = braid_proc_output(client, BRAID_STDOUT, &got_len);
    assert_int_equal(braid_compare("submit output", got, got_len, want, want_len), 0);
    assert_int_equal(braid_proc_wait_line(c2->broker, BRAID_STDERR, "job resumed", 1000), 0);
    free(got);
    braid_proc_destroy(&client);

    assert_int_equal(braid_net_cluster_stop(f->net), 0);   /* the workers */
    assert_int_equal(braid_net_cluster_stop(net2), 0);
    free(want);
    free(queries);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_NET_TEST(test_net_failover, "braid-net-failover"),
    };
    return cmocka_run_group_tests_name("net_failover", tests, NULL, NULL);
}
