/*  test_net_braid.c - braid across the test network: braidd on the broker
    host binding 198.18.0.1, a worker on each worker host, the client on
    the client host (netcluster.h).

    CURVE is on: the broker binds with its keypair and the client and
    worker allowlists; the client and the workers present their keys, and
    a client without keys gets no answer (exit 3).

    1,000 queries through an exec source,
    `sh -c 'echo "$0 one"; echo "$0 two"' {query}`: the client exits 0 and
    its stdout (submit order) equals the sequential reference, the same
    command run here once per query. Each process runs in its host's
    namespace; both workers took tasks (their tasks_done on exit add up to
    at least 1,000, each above 0); a clean stop.
*/

#include "netcluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 1000
#define S_CLIENT_MSEC 90000
#define S_COMMAND "echo \"$0 one\"; echo \"$0 two\""

/*  tasks_done=N from a worker's "stopped" line in dir/NAME.err, or -1.    */
static long long
s_tasks_done(const char *dir, const char *name)
{
    char file[64];
    snprintf(file, sizeof file, "%s.err", name);
    char *path = braid_path(dir, file);
    char *text = path ? braid_file_read(path, NULL) : NULL;
    free(path);
    const char *at = text ? strstr(text, "tasks_done=") : NULL;
    long long done = at ? strtoll(at + strlen("tasks_done="), NULL, 10) : -1;
    free(text);
    return done;
}

static void
test_net_braid(void **state)
{
    BRAID_TOPO_REQUIRE();
    braid_net_fixture_t *f = *state;
    char *queries = braid_net_queries_file(f->dir, S_QUERIES);
    assert_non_null(queries);
    const char *ref_argv[] = {"sh", "-c", S_COMMAND, NULL};
    size_t want_len = 0;
    char *want = braid_net_reference(ref_argv, queries, &want_len);
    assert_non_null(want);

    /*  CURVE on (issue 12, acceptance 1): every peer presents its key.    */
    braid_net_opts_t opts = {.curve = true};
    f->net = braid_net_cluster_new(f->topo, f->dir, &opts);
    assert_non_null(f->net);
    const char *specs[] = {"lines=exec:sh -c '" S_COMMAND "' {query}", NULL};
    assert_int_equal(braid_net_cluster_add_worker(f->net, BRAID_HOST_WORKER1, "w1", 4, specs), 0);
    assert_int_equal(braid_net_cluster_add_worker(f->net, BRAID_HOST_WORKER2, "w2", 4, specs), 0);

    const char *args[] = {"-s", "lines", NULL};
    int64_t start = braid_now_msec();
    braid_proc_t *client = braid_net_cluster_submit(f->net, "client", args, queries);
    assert_non_null(client);
    /*  Every process is on its own host.                                  */
    braid_cluster_t *c = f->net->cluster;
    assert_int_equal(braid_pid_netns(braid_proc_pid(c->broker)),
                     braid_topo_ns_ino(f->topo, BRAID_HOST_BROKER));
    assert_int_equal(braid_pid_netns(braid_proc_pid(c->workers[0])),
                     braid_topo_ns_ino(f->topo, BRAID_HOST_WORKER1));
    assert_int_equal(braid_pid_netns(braid_proc_pid(c->workers[1])),
                     braid_topo_ns_ino(f->topo, BRAID_HOST_WORKER2));
    unsigned long client_ns = braid_pid_netns(braid_proc_pid(client));
    /*  (0 if the client has already exited.)                              */
    assert_true(client_ns == 0 || client_ns == braid_topo_ns_ino(f->topo, BRAID_HOST_CLIENT));

    int code = -1;
    assert_int_equal(braid_cluster_finish(c, &client, S_CLIENT_MSEC, 0, &code), 0);
    print_message("%d queries across the hosts in %lld ms\n", S_QUERIES,
                  (long long) (braid_now_msec() - start));
    assert_int_equal(code, 0);
    size_t got_len = 0;
    char *got = braid_proc_output(client, BRAID_STDOUT, &got_len);
    assert_non_null(got);
    assert_int_equal(braid_compare("submit output", got, got_len, want, want_len), 0);
    braid_proc_destroy(&client);

    /*  CURVE is enforced: a client without keys gets no answer (exit 3,
        broker unavailable) from the same frontend.                        */
    const char *plain[] = {BRAID_CLI_PATH, "submit", "-T", "1500", "-b", c->frontend,
                           "-s", "lines", "nokey", NULL};
    braid_proc_t *nokey =
        braid_topo_spawn(f->topo, BRAID_HOST_CLIENT, f->dir, "client-nokey", plain, NULL);
    assert_non_null(nokey);
    assert_int_equal(braid_proc_finish(nokey, 30000, &code), 0);
    assert_int_equal(code, 3);
    braid_proc_destroy(&nokey);

    assert_int_equal(braid_net_cluster_stop(f->net), 0);
    long long w1 = s_tasks_done(f->dir, "w1"), w2 = s_tasks_done(f->dir, "w2");
    print_message("tasks done: w1 %lld, w2 %lld\n", w1, w2);
    assert_true(w1 > 0);
    assert_true(w2 > 0);
    assert_true(w1 + w2 >= S_QUERIES);
    free(got);
    free(want);
    free(queries);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_NET_TEST(test_net_braid, "braid-net-braid"),
    };
    return cmocka_run_group_tests_name("net_braid", tests, NULL, NULL);
}
