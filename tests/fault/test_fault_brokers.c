/*  test_fault_brokers.c - issue 12: a worker serves several brokers at
    once, and a broker restarted on the same ports gets its workers back.

    Two brokers (each its own cluster and dir, loopback ports of their
    own) and one worker, `-b B1 -k S1 -b B2 -k S2 -n 3`, serving an exec
    source that sleeps a little and echoes its query. Asserts:
      - the worker registers with both brokers (each logs it joined);
      - a job on each broker at once: both clients exit 0 with the
        sequential output (every query once, in order);
      - the slots are shared: no more than the worker's 3 slots run at
        once (each run takes one of 3 tokens, atomically, or says "over");
      - broker 2 is killed (SIGKILL) and started again on the same ports:
        the worker registers with the new broker without any manual step
        (the new broker RESETs the heartbeat of a worker it does not know,
        or the worker reconnects after the liveness time; either way the
        new broker logs it joined), and a
        new job on it runs to the same exact output; broker 1 kept the
        worker all along (a job on it runs too);
      - everything stops cleanly.
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

#define S_SLOTS 3
#define S_QUERIES 24
#define S_MARK "brkshare"
#define S_CLIENT_MSEC 60000
#define S_JOIN_MSEC 20000
/*  The source takes one of S_SLOTS tokens (mkdir is atomic) for its run
    and gives it back before it exits: a task that finds none taken prints
    "over" instead of "ok", so more runs at once than the slots show in
    the output.                                                            */
#define S_SPEC_FMT                                                                                 \
    "slow=exec:sh -c 'for i in 1 2 3; do mkdir %s/slot$i 2>/dev/null && "                          \
    "{ sleep 0.15; rmdir %s/slot$i; echo \"$0 ok\"; exit 0; }; done; echo \"$0 over\"' {query}"

/*  n queries S_MARK-tag-NN, one per line, in dir/queries-tag.txt; the
    expected output in *want (owned). The path (owned).                    */
static char *
s_queries(const char *dir, const char *tag, int n, char **want)
{
    char name[64];
    snprintf(name, sizeof name, "queries-%s.txt", tag);
    char *path = braid_path(dir, name);
    size_t qsize = 0, wsize = 0;
    char *qtext = NULL;
    FILE *q = open_memstream(&qtext, &qsize);
    FILE *w = open_memstream(want, &wsize);
    assert_non_null(q);
    assert_non_null(w);
    for (int i = 0; i < n; i++) {
        fprintf(q, "%s-%s-%02d\n", S_MARK, tag, i);
        fprintf(w, "%s-%s-%02d ok\n", S_MARK, tag, i);
    }
    assert_int_equal(fclose(q), 0);
    assert_int_equal(fclose(w), 0);
    assert_int_equal(braid_file_write(path, qtext, qsize, 0644), 0);
    free(qtext);
    return path;
}

/*  Run a job of n queries on cluster; check exit 0 and the exact output.  */
static void
s_job(braid_cluster_t *cluster, const char *tag, int n)
{
    char *want = NULL;
    char *queries = s_queries(cluster->dir, tag, n, &want);
    const char *args[] = {"-s", "slow", NULL};
    braid_proc_t *client = braid_cluster_submit(cluster, tag, args, queries);
    assert_non_null(client);
    int code = -1;
    assert_int_equal(braid_cluster_finish(cluster, &client, S_CLIENT_MSEC, 0, &code), 0);
    assert_int_equal(code, 0);
    size_t len = 0;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    assert_int_equal(braid_compare(tag, out, len, want, strlen(want)), 0);
    free(out);
    free(want);
    free(queries);
    braid_proc_destroy(&client);
}

/*  Start braidd for cluster on its own endpoints again (after a kill); its
    logs under name.                                                        */
static braid_proc_t *
s_broker_again(braid_cluster_t *cluster, const char *name)
{
    const char *argv[] = {BRAIDD_PATH,      "-f", cluster->frontend, "-w", cluster->backend,
                          "-k", cluster->sink, NULL};
    braid_proc_t *broker = braid_proc_spawn(cluster->dir, name, argv, NULL);
    if (broker &&
        braid_proc_wait_line(broker, BRAID_STDERR, "<5>braidd: ready", BRAID_START_MSEC) != 0) {
        braid_proc_dump(broker, 4000);
        braid_proc_destroy(&broker);
    }
    return broker;
}

/*  What the test holds, freed by the teardown whatever happened (a failed
    assertion leaves the test at once: its processes must not outlive it). */
typedef struct {
    char *dir[2];
    braid_cluster_t *cluster[2];
} s_fix_t;

static int
s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    *state = f;
    return f ? 0 : -1;
}

static int
s_teardown(void **state)
{
    s_fix_t *f = *state;
    for (int i = 0; f && i < 2; i++) {
        braid_cluster_destroy(&f->cluster[i]);
        braid_tmpdir_destroy(&f->dir[i]);
    }
    free(f);
    return braid_harness_reap_orphans() == 0 ? 0 : -1;
}

static void
test_brokers(void **state)
{
    s_fix_t *f = *state;
    char *dir1 = f->dir[0] = braid_tmpdir_new("braid-brokers-1");
    char *dir2 = f->dir[1] = braid_tmpdir_new("braid-brokers-2");
    assert_non_null(dir1);
    assert_non_null(dir2);
    braid_cluster_t *c1 = f->cluster[0] = braid_cluster_new(dir1, NULL);
    braid_cluster_t *c2 = f->cluster[1] = braid_cluster_new(dir2, NULL);
    assert_non_null(c1);
    assert_non_null(c2);

    /*  One worker, both brokers; owned by c1 (its logs in dir1).         */
    char slots[8], spec[1024];
    snprintf(slots, sizeof slots, "%d", S_SLOTS);
    snprintf(spec, sizeof spec, S_SPEC_FMT, dir1, dir1);
    const char *wargv[] = {BRAID_WORKER_PATH, "-b", c1->backend, "-k", c1->sink, "-b",
                           c2->backend, "-k", c2->sink, "-n", slots, "-N", "wb",
                           "--heartbeat", "200", "--liveness", "1500", "-s", spec, NULL};
    braid_proc_t *worker = braid_proc_spawn(dir1, "wb", wargv, NULL);
    assert_non_null(worker);
    c1->workers[c1->worker_count++] = worker;
    assert_int_equal(braid_proc_wait_line(worker, BRAID_STDERR, "brokers=2", S_JOIN_MSEC), 0);
    assert_int_equal(
        braid_proc_wait_line(c1->broker, BRAID_STDERR, "worker joined name=wb ", S_JOIN_MSEC), 0);
    assert_int_equal(
        braid_proc_wait_line(c2->broker, BRAID_STDERR, "worker joined name=wb ", S_JOIN_MSEC), 0);

    /*  A job on each broker at once; count the running children (for the
        record: a /proc scan is not atomic, the tokens are the check).     */
    char *want1 = NULL, *want2 = NULL;
    char *q1 = s_queries(dir1, "one", S_QUERIES, &want1);
    char *q2 = s_queries(dir2, "two", S_QUERIES, &want2);
    const char *args[] = {"-s", "slow", NULL};
    braid_proc_t *k1 = braid_cluster_submit(c1, "one", args, q1);
    braid_proc_t *k2 = braid_cluster_submit(c2, "two", args, q2);
    assert_non_null(k1);
    assert_non_null(k2);
    int most = 0;
    int64_t deadline = braid_now_msec() + S_CLIENT_MSEC;
    while ((!braid_proc_exited(k1) || !braid_proc_exited(k2)) && braid_now_msec() < deadline) {
        int n = fault_marker_count(S_MARK);
        if (n > most)
            most = n;
        fault_poll_pause();
    }
    int code = -1;
    assert_int_equal(braid_cluster_finish(c1, &k1, S_CLIENT_MSEC, 0, &code), 0);
    assert_int_equal(code, 0);
    assert_int_equal(braid_cluster_finish(c2, &k2, S_CLIENT_MSEC, 0, &code), 0);
    assert_int_equal(code, 0);
    size_t len = 0;
    char *out = braid_proc_output(k1, BRAID_STDOUT, &len);
    assert_int_equal(braid_compare("broker 1's job", out, len, want1, strlen(want1)), 0);
    free(out);
    out = braid_proc_output(k2, BRAID_STDOUT, &len);
    assert_int_equal(braid_compare("broker 2's job", out, len, want2, strlen(want2)), 0);
    free(out);
    print_message("about %d tasks seen running at once (slots %d)\n", most, S_SLOTS);
    assert_true(most >= 1);
    braid_proc_destroy(&k1);
    braid_proc_destroy(&k2);

    /*  Broker 2 dies and comes back on the same ports: the worker finds
        it again by itself.                                                */
    assert_int_equal(braid_proc_signal(c2->broker, SIGKILL), 0);
    assert_int_equal(braid_proc_wait_exit(c2->broker, BRAID_STOP_MSEC, &code), 0);
    braid_proc_destroy(&c2->broker);
    c2->broker = s_broker_again(c2, "braidd-again");
    assert_non_null(c2->broker);
    assert_int_equal(
        braid_proc_wait_line(c2->broker, BRAID_STDERR, "worker joined name=wb ", S_JOIN_MSEC), 0);
    s_job(c2, "three", S_QUERIES);
    s_job(c1, "four", S_QUERIES);

    assert_int_equal(braid_cluster_stop(c1), 0);   /* the worker, broker 1 */
    assert_int_equal(braid_cluster_stop(c2), 0);   /* broker 2             */
    free(want1);
    free(want2);
    free(q1);
    free(q2);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_brokers, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("fault_brokers", tests, NULL, NULL);
}
