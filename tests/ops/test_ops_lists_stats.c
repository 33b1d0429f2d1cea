/*  test_ops_lists_stats.c - what `braid workers` and `braid jobs` show, as
    the broker's STATS JSON gives it (`braid stats --json`): during a job,
    exactly the workers and the job the test started, with counts that
    match; a second worker with a taken name renamed and logged; a wrong
    source name refused naming the served ones; systemd's STATUS= line.

    Two workers (w1, w2) with 2 slots each serve "gate": gate.sh QUERY
    prints "started QUERY", then opens the FIFO "gate" in the temp dir,
    which blocks until the test holds it open for writing, then prints
    "done QUERY". A job of 6 queries in arrival order: the broker hands
    each worker 3 (2 slots and 1 queued: a worker holds twice its slots),
    so once 4 "started" lines have reached the client, 4 tasks run, 2 wait
    at the workers, none is done. The test reads the stats then, opens
    the gate, and the job ends ok.

    The broker reports to a notification socket the test plays systemd
    with ($NOTIFY_SOCKET): READY=1, then STATUS= with the jobs, workers
    and running tasks as they change.
*/

#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_QUERIES 6
#define S_SLOTS 2
#define S_RUNNING 4     /* 2 workers x 2 slots                              */

static const char s_script[] = "#!/bin/sh\n"
                               "# gate.sh QUERY: started, wait at the gate, done\n"
                               "echo \"started $1\"\n"
                               ": < \"$(dirname \"$0\")/gate\"\n"
                               "echo \"done $1\"\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-ops-lists",
    .script_name = "gate.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = S_SLOTS,
    .specs = {"gate=exec:'%s' {query}"},
};

typedef struct {
    braid_fixture_t *f;
    char *notify_dir;
    int notify;                 /* systemd's socket, played by the test    */
    char seen[8192];            /* the notifications read so far          */
} s_state_t;

static int
s_setup(void **state)
{
    static s_state_t s;
    memset(&s, 0, sizeof s);
    s.notify = -1;
    /*  The socket must be named before the broker starts; its own dir,
        since the fixture makes the temp dir.                               */
    s.notify_dir = braid_tmpdir_new("braid-ops-notify");
    if (!s.notify_dir || (s.notify = ops_notify_open(s.notify_dir)) < 0)
        return -1;
    s.f = fault_fixture_new(&s_def);
    unsetenv("NOTIFY_SOCKET");      /* for the broker only                 */
    *state = &s;
    return s.f ? 0 : -1;
}

static int
s_teardown(void **state)
{
    s_state_t *s = *state;
    braid_fixture_destroy(&s->f);
    if (s->notify >= 0)
        close(s->notify);
    braid_tmpdir_destroy(&s->notify_dir);
    return 0;
}

/*  The member key of obj as a string ("" when missing).                    */
static const char *
s_str(json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

/*  The member key of obj as an integer; the test fails when missing.      */
static long long
s_int(json_t *obj, const char *key)
{
    long long v = fault_stat(obj, NULL, key);
    if (v < 0)
        fail_msg("no integer '%s'", key);
    return v;
}

/*  The worker line called name in the stats, or NULL.                      */
static json_t *
s_worker(json_t *stats, const char *name)
{
    json_t *list = json_object_get(stats, "worker_list");
    for (size_t i = 0; i < json_array_size(list); i++)
        if (strcmp(s_str(json_array_get(list, i), "name"), name) == 0)
            return json_array_get(list, i);
    return NULL;
}

/*  Worker w as the test started it: its pid, this host, this version,
    its slots, the one source.                                              */
static void
s_check_worker(json_t *w, braid_proc_t *proc, long long slots)
{
    char host[256] = "";
    assert_int_equal(gethostname(host, sizeof host - 1), 0);
    assert_non_null(w);
    assert_int_equal(s_int(w, "pid"), braid_proc_pid(proc));
    assert_string_equal(s_str(w, "host"), host);
    assert_string_equal(s_str(w, "version"), BRAID_VERSION);
    assert_int_equal(s_int(w, "slots"), slots);
    json_t *sources = json_object_get(w, "sources");
    assert_int_equal(json_array_size(sources), 1);
    assert_string_equal(json_string_value(json_array_get(sources, 0)), "gate");
    assert_true(s_int(w, "last_heartbeat_msec") >= 0);
}

/*  During the job: the lists hold exactly what the test started.           */
static void
s_check_during(s_state_t *s, json_t *stats)
{
    braid_cluster_t *c = s->f->cluster;
    json_t *workers = json_object_get(stats, "worker_list");
    assert_int_equal(json_array_size(workers), 2);
    long long running = 0, queued = 0;
    const char *names[] = {"w1", "w2"};
    for (int i = 0; i < 2; i++) {
        json_t *w = s_worker(stats, names[i]);
        s_check_worker(w, c->workers[i], S_SLOTS);
        assert_true(s_int(w, "running") <= S_SLOTS);
        running += s_int(w, "running");
        queued += s_int(w, "queued");
    }
    assert_int_equal(running, S_RUNNING);
    assert_int_equal(queued, S_QUERIES - S_RUNNING);

    json_t *jobs = json_object_get(stats, "job_list");
    assert_int_equal(json_array_size(jobs), 1);
    json_t *job = json_array_get(jobs, 0);
    const char *id = s_str(job, "id");
    assert_int_equal(strlen(id), 32);
    assert_int_equal(strspn(id, "0123456789abcdef"), 32);
    assert_true(strlen(s_str(job, "client")) > 0);
    assert_string_equal(s_str(job, "order"), "arrival");
    assert_int_equal(s_int(job, "queries"), S_QUERIES);
    assert_int_equal(s_int(job, "queries_done"), 0);
    assert_int_equal(s_int(job, "tasks"), S_QUERIES);
    assert_int_equal(s_int(job, "tasks_done"), 0);
    assert_int_equal(s_int(job, "in_flight"), S_QUERIES);
    assert_true(s_int(job, "age_msec") >= 0);

    assert_int_equal(fault_stat(stats, NULL, "jobs"), 1);
    assert_int_equal(fault_stat(stats, NULL, "running"), S_QUERIES);
    json_t *sources = json_object_get(stats, "sources");
    assert_int_equal(fault_stat(sources, "gate", "running"), S_QUERIES);
    assert_int_equal(fault_stat(sources, "gate", "queued"), 0);
    assert_int_equal(fault_stat(sources, "gate", "done"), 0);
}

/*  After the job: no job listed; the source's figures count it.           */
static void
s_check_after(json_t *stats)
{
    assert_int_equal(json_array_size(json_object_get(stats, "job_list")), 0);
    json_t *gate = json_object_get(json_object_get(stats, "sources"), "gate");
    assert_int_equal(s_int(gate, "done"), S_QUERIES);
    assert_int_equal(s_int(gate, "failed"), 0);
    assert_int_equal(s_int(gate, "retried"), 0);
    assert_int_equal(s_int(gate, "queued"), 0);
    assert_int_equal(s_int(gate, "running"), 0);
    json_t *lat = json_object_get(gate, "latency_msec");
    const char *which[] = {"queue_wait", "first_partial", "duration"};
    for (int i = 0; i < 3; i++) {
        json_t *l = json_object_get(lat, which[i]);
        assert_int_equal(s_int(l, "samples"), S_QUERIES);
        assert_true(s_int(l, "p50") <= s_int(l, "p90"));
        assert_true(s_int(l, "p90") <= s_int(l, "p99"));
    }
}

static void
test_ops_lists_stats(void **state)
{
    s_state_t *s = *state;
    braid_fixture_t *f = s->f;
    char *gate = braid_path(f->dir, "gate");
    assert_int_equal(mkfifo(gate, 0600), 0);
    const char *args[] = {"-o", "arrival", "-s", "gate", "q0", "q1", "q2", "q3", "q4", "q5", NULL};
    braid_proc_t *client = braid_cluster_submit(f->cluster, "client", args, NULL);
    assert_non_null(client);
    /*  "started qN\n" is 11 bytes: 4 of them, 4 tasks run.                 */
    if (braid_proc_wait_bytes(client, BRAID_STDOUT, S_RUNNING * 11, 20000) != 0) {
        braid_proc_dump(client, 2000);
        braid_cluster_dump(f->cluster);
        fail_msg("%d tasks did not start within 20 s", S_RUNNING);
    }
    char *text = NULL;
    json_t *stats = fault_stats(f->cluster, &text);
    print_message("stats during the job: %s\n", text ? text : "(none)");
    assert_non_null(stats);
    s_check_during(s, stats);
    json_decref(stats);
    if (ops_notify_wait(s->notify, "STATUS=jobs=1 workers=2 ", 10000, s->seen, sizeof s->seen))
        fail_msg("no STATUS=jobs=1 workers=2 within 10 s; seen:\n%s", s->seen);

    /*  Open the gate: every task may end.                                  */
    int fd = open(gate, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    assert_true(fd >= 0);
    int code = -1;
    if (braid_cluster_finish(f->cluster, &client, 20000, 0, &code) != 0)
        fail_msg("the job did not end within 20 s of the gate opening");
    close(fd);
    assert_int_equal(code, 0);
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    assert_non_null(out);
    for (int q = 0; q < S_QUERIES; q++) {
        char want[32];
        snprintf(want, sizeof want, "done q%d\n", q);
        assert_non_null(strstr(out, want));
    }
    free(out);
    braid_proc_destroy(&client);
    assert_int_equal(fault_wait_no_job(f->cluster, 10000), 0);
    stats = fault_stats(f->cluster, &text);
    print_message("stats after the job: %s\n", text ? text : "(none)");
    assert_non_null(stats);
    s_check_after(stats);
    json_decref(stats);

    /*  A third worker asks for the name w1: renamed w1-2, logged.          */
    const char *specs[] = {"gate=synthetic:parts=1", NULL};
    assert_int_equal(braid_cluster_add_worker(f->cluster, "w1", 1, FAULT_WORKER_ARGS, specs), 0);
    braid_proc_t *broker = f->cluster->broker;
    if (braid_proc_wait_line(broker, BRAID_STDERR,
                             "<4>braidd: worker name taken, renamed name=w1 as=w1-2 ", 10000) ||
        braid_proc_wait_line(broker, BRAID_STDERR, "<6>braidd: worker joined name=w1-2 ", 10000)) {
        braid_cluster_dump(f->cluster);
        fail_msg("the second w1 was not renamed w1-2 within 10 s");
    }
    stats = fault_stats(f->cluster, &text);
    print_message("stats with the renamed worker: %s\n", text ? text : "(none)");
    assert_non_null(stats);
    assert_int_equal(json_array_size(json_object_get(stats, "worker_list")), 3);
    s_check_worker(s_worker(stats, "w1"), f->cluster->workers[0], S_SLOTS);
    s_check_worker(s_worker(stats, "w2"), f->cluster->workers[1], S_SLOTS);
    s_check_worker(s_worker(stats, "w1-2"), f->cluster->workers[2], 1);
    json_decref(stats);
    if (ops_notify_wait(s->notify, "STATUS=jobs=0 workers=3 ", 10000, s->seen, sizeof s->seen))
        fail_msg("no STATUS=jobs=0 workers=3 within 10 s; seen:\n%s", s->seen);
    assert_non_null(strstr(s->seen, "READY=1\n"));

    /*  A typo is not an outage: the refusal names what is served.         */
    const char *typo[] = {"-s", "gat", "q", NULL};
    braid_proc_t *bad = NULL;
    if (braid_cluster_run(f->cluster, "typo", typo, 20000, 3, &bad, &code) != 0)
        fail_msg("the refused client did not end within 20 s");
    assert_int_equal(code, 3);
    char *err = braid_proc_output(bad, BRAID_STDERR, NULL);
    assert_non_null(err);
    if (!strstr(err, "no worker serves source 'gat' (served: gate)"))
        fail_msg("refusal without the served sources:\n%s", err);
    free(err);
    braid_proc_destroy(&bad);

    free(text);
    free(gate);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ops_lists_stats, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("ops_lists_stats", tests, NULL, NULL);
}
