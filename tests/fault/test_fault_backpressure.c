/*  test_fault_backpressure.c - acceptance 8: a client that stops reading
    pauses the workers; memory stays bounded by the windows.

    Two workers (4 slots each) serve the synthetic source `big`: parts of
    64 KiB, 1,600 per task, so each of the 8 tasks tries to stream 100 MiB
    (800 MiB in all). The broker's per-task window is 16 partials. The
    client, `braid submit`, writes into a pipe that the test does not read
    at first: the pipe fills, the client blocks in write and grants no
    more credit. Asserts:
      - while the client is blocked (a 2 s look), the RSS of the broker and
        of each worker (from /proc) stays under its baseline plus a bound
        derived from the windows: 4 x (8 tasks x 16 x 64 KiB) + 32 MiB;
      - when the test reads again, the whole output arrives, equal to the
        sequential reference (checked as it streams, nothing stored), and
        the RSS bound holds throughout; the client exits 0;
      - a clean stop.

    Under ASan/UBSan (BRAID_FAULT_SCALE_DOWN, set by CMake with
    BRAID_SANITIZE) the tasks stream 200 parts (12.5 MiB) each instead, so
    the test stays well under a minute on two cores, and ASan's quarantine
    is capped so that freed memory does not count against the bound.
*/

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "fault.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_TASKS 8
#define S_SIZE 65536
#define S_WINDOW 16
#ifdef BRAID_FAULT_SCALE_DOWN
#define S_PARTS 200
#define S_SPEC "big=synthetic:parts=200,size=65536"
#else
#define S_PARTS 1600
#define S_SPEC "big=synthetic:parts=1600,size=65536"
#endif
#define S_WINDOWS_BYTES ((long long) S_TASKS * S_WINDOW * S_SIZE)
#define S_BOUND (4 * S_WINDOWS_BYTES + (32ll << 20))

/*  The client is never silent for the broker's client liveness here: it
    is blocked on purpose, for a few seconds.                              */
static const char s_conf[] = "broker\n"
                             "    heartbeat_msec = " FAULT_HEARTBEAT "\n"
                             "    worker_liveness_msec = " FAULT_LIVENESS "\n"
                             "    client_liveness_msec = 60000\n"
                             "    window = 16\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-fault-backpressure",
    .conf = s_conf,
    .workers = 2,
    .slots = 4,
    .specs = {S_SPEC},
};

typedef struct {
    braid_fixture_t *fx;
    fault_piped_t client;
} s_fixture_t;

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    if (!f)
        return 0;
    fault_piped_destroy(&f->client);
    braid_fixture_destroy(&f->fx);
    free(f);
    return 0;
}

static int
s_setup(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    *state = f;
    if (!f)
        return -1;
    f->client.fd = -1;
    f->fx = fault_fixture_new(&s_def);
    if (!f->fx)
        return s_teardown(state), -1;
    return 0;
}

/*  Spawn braid submit with stdout into a pipe we hold; stderr to a file. */
static void
s_spawn_client(s_fixture_t *f, char queries[S_TASKS][8])
{
    char *err_path = braid_path(f->fx->dir, "client.err");
    const char *argv[S_TASKS + 8];
    int argc = 0;
    argv[argc++] = BRAID_CLI_PATH;
    argv[argc++] = "submit";
    argv[argc++] = "-b";
    argv[argc++] = f->fx->cluster->frontend;
    argv[argc++] = "-s";
    argv[argc++] = "big";
    for (int q = 0; q < S_TASKS; q++)
        argv[argc++] = queries[q];
    argv[argc] = NULL;
    assert_int_equal(fault_piped_spawn(&f->client, argv, err_path), 0);
    free(err_path);
}

typedef struct {
    pid_t pids[3];
    long long base[3];
    long long max[3];
    const char *names[3];
} s_rss_t;

/*  Sample the RSS of the broker and the workers; fail on a breach.       */
static void
s_rss_check(s_rss_t *r, const char *when)
{
    for (int i = 0; i < 3; i++) {
        long long rss = fault_rss_bytes(r->pids[i]);
        if (rss > r->max[i])
            r->max[i] = rss;
        if (rss > r->base[i] + S_BOUND)
            fail_msg("%s: %s RSS %lld MiB, over its baseline %lld MiB + bound %lld MiB", when,
                     r->names[i], rss >> 20, r->base[i] >> 20, (long long) S_BOUND >> 20);
    }
}

static void
test_slow_client(void **state)
{
    s_fixture_t *f = *state;
    braid_cluster_t *c = f->fx->cluster;
    s_rss_t r = {{braid_proc_pid(c->broker), braid_proc_pid(c->workers[0]),
                  braid_proc_pid(c->workers[1])},
                 {0},
                 {0},
                 {"braidd", "w1", "w2"}};
    for (int i = 0; i < 3; i++) {
        r.base[i] = fault_rss_bytes(r.pids[i]);
        assert_true(r.base[i] > 0);
    }
    char queries[S_TASKS][8];
    for (int q = 0; q < S_TASKS; q++)
        snprintf(queries[q], sizeof queries[q], "t%d", q);
    int64_t start = braid_now_msec();
    s_spawn_client(f, queries);

    /*  Wait until the pipe is full: the client is blocked in write().     */
    int queued = 0;
    if (fault_piped_wait_full(&f->client, 30000, &queued) != 0) {
        braid_cluster_dump(c);
        fail_msg("the client did not fill its stdout pipe within 30 s (%d bytes)", queued);
    }
    /*  A 2 s look at a paused pipeline: memory must stay bounded.         */
    int64_t look_end = braid_now_msec() + 2000;
    while (braid_now_msec() < look_end) {
        s_rss_check(&r, "client paused");
        fault_poll_pause();
    }
    assert_int_equal(waitpid(f->client.pid, NULL, WNOHANG), 0); /* still blocked */
    print_message("paused: max RSS broker %lld MiB (base %lld), w1 %lld (%lld), w2 %lld (%lld)\n",
                  r.max[0] >> 20, r.base[0] >> 20, r.max[1] >> 20, r.base[1] >> 20,
                  r.max[2] >> 20, r.base[2] >> 20);

    /*  Read it all, checking it against the reference as it streams.     */
    static char buf[1 << 20];
    char part[S_SIZE];
    int task = 0;
    unsigned long long seq = 0;
    size_t off = 0;         /* offset in the current part */
    unsigned long long total = 0;
    unsigned long long want_total = (unsigned long long) S_TASKS * S_PARTS * S_SIZE;
    fault_synthetic_payload(queries[0], 0, S_SIZE, part);
    int64_t deadline = braid_now_msec() + 90000;
    int64_t next_sample = 0;
    while (true) {
        ssize_t n = read(f->client.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n;) {
            if (task >= S_TASKS)
                fail_msg("output longer than the reference (%llu bytes)", want_total);
            size_t take = (size_t) n - (size_t) i;
            if (take > S_SIZE - off)
                take = S_SIZE - off;
            if (memcmp(buf + i, part + off, take) != 0)
                fail_msg("output differs in task %d part %llu (byte %llu of the stream)", task,
                         seq, total + (unsigned long long) i);
            i += (ssize_t) take;
            off += take;
            if (off == S_SIZE) {
                off = 0;
                if (++seq == S_PARTS) {
                    seq = 0;
                    task++;
                }
                if (task < S_TASKS)
                    fault_synthetic_payload(queries[task], seq, S_SIZE, part);
            }
        }
        total += (unsigned long long) n;
        int64_t now = braid_now_msec();
        if (now >= next_sample) {
            s_rss_check(&r, "streaming");
            next_sample = now + 50;
        }
        if (now > deadline)
            fail_msg("only %llu of %llu bytes within 90 s", total, want_total);
    }
    assert_int_equal(total, want_total);
    int status = 0;
    assert_int_equal(fault_piped_wait_exit(&f->client, 15000, &status), 0);
    print_message("%llu MiB in %lld ms; max RSS broker %lld MiB, w1 %lld, w2 %lld\n",
                  total >> 20, (long long) (braid_now_msec() - start), r.max[0] >> 20,
                  r.max[1] >> 20, r.max[2] >> 20);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char *err_path = braid_path(f->fx->dir, "client.err");
        char *err = braid_file_read(err_path, NULL);
        print_error("client status 0x%x, stderr:\n%s\n", status, err ? err : "");
        free(err);
        free(err_path);
        fail_msg("client did not exit 0");
    }
    assert_int_equal(braid_cluster_stop(c), 0);
}

int
main(void)
{
#ifdef BRAID_FAULT_SCALE_DOWN
    /*  ASan keeps freed memory in quarantine (256 MiB by default), which
        would count as RSS: keep it small in the processes we measure.     */
    const char *old = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=16", old ? old : "",
             old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
#endif
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_client, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
