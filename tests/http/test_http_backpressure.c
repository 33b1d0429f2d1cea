/*  test_http_backpressure.c - acceptance 6: a client that stops reading
    while the server streams 200 MB.

    One worker serves `big`: GET /big?bytes=200 MiB (byte k of the body is
    k % 256), output = chunks. The broker's window is 16 partials. The
    client, `braid submit`, writes into a pipe the test does not read at
    first: it fills, the client blocks in write() and grants no credit,
    the broker stops granting the task credit, the worker stops taking
    partials, its splitter fills, and the transfer pauses: curl stops
    reading the socket, and the server's writes block. Asserts:
      - the server's count of bytes written (big_sent) comes to a stop
        well short of 200 MiB, and meanwhile the worker's RSS stays within
        32 MiB of its baseline (the figures are printed);
      - when the test reads again, all 200 MiB arrive intact (the pattern
        checked as it streams, nothing stored), the RSS bound holding
        throughout; the client exits 0; a clean stop.
    Under ASan/UBSan (BRAID_HTTP_SCALE_DOWN) 50 MiB are streamed instead.
*/

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "fault.h"
#include "http_fixture.h"

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

#ifdef BRAID_HTTP_SCALE_DOWN
#define S_BYTES "52428800"
#else
#define S_BYTES "209715200"
#endif
#define S_TOTAL ((long long) strtoll(S_BYTES, NULL, 10))
#define S_BOUND (32ll << 20)
#define S_STILL_POLLS 25        /* big_sent unchanged this many polls: stopped */

static const char s_conf[] = "broker\n"
                             "    client_liveness_msec = 60000\n"
                             "    window = 16\n";

static const char s_worker_conf[] =
    "source\n"
    "    big\n"
    "        type = http\n"
    "        url = \"http://127.0.0.1:" BRAID_HTTP_PORT "/big?bytes=" S_BYTES "&q={query}\"\n"
    "        output = chunks\n";

static const braid_http_fixture_def_t s_def = {
    .name = "braid-http-backpressure",
    .conf = s_conf,
    .workers = 1,
    .slots = 2,
    .worker_conf = s_worker_conf,
};

typedef struct {
    braid_http_fixture_t *fx;
    fault_piped_t client;   /* braid submit, its stdout ours to read        */
    pid_t worker;
    long long base;         /* the worker's RSS before the job              */
    long long max;
} s_state_t;

static int
s_teardown(void **state)
{
    s_state_t *s = *state;
    if (!s)
        return 0;
    fault_piped_destroy(&s->client);
    braid_http_fixture_destroy(&s->fx);
    free(s);
    return 0;
}

static int
s_setup(void **state)
{
    s_state_t *s = calloc(1, sizeof *s);
    *state = s;
    if (!s)
        return -1;
    s->client.fd = -1;
    if (!(s->fx = braid_http_fixture_new(&s_def)))
        return s_teardown(state), -1;
    return 0;
}

/*  `braid submit -s big q` with stdout into a pipe the test holds.        */
static void
s_spawn_client(s_state_t *s)
{
    char *err_path = braid_path(s->fx->dir, "client.err");
    assert_non_null(err_path);
    const char *argv[] = {BRAID_CLI_PATH, "submit", "-b", s->fx->cluster->frontend, "-s", "big",
                          "q", NULL};
    assert_int_equal(fault_piped_spawn(&s->client, argv, err_path), 0);
    free(err_path);
}

/*  Sample the worker's RSS; fail over the bound.                          */
static void
s_rss_check(s_state_t *s, const char *when)
{
    long long rss = fault_rss_bytes(s->worker);
    if (rss > s->max)
        s->max = rss;
    if (rss > s->base + S_BOUND)
        fail_msg("%s: worker RSS %lld MiB, over its baseline %lld MiB + %lld MiB", when,
                 rss >> 20, s->base >> 20, S_BOUND >> 20);
}

/*  The server's big_sent; fails when the stats cannot be read.            */
static long long
s_big_sent(s_state_t *s)
{
    json_t *stats = braid_http_server_stats(s->fx->server);
    assert_non_null(stats);
    long long sent = braid_http_server_stat(stats, "big_sent");
    json_decref(stats);
    return sent;
}

/*  Wait until the client blocks on its full pipe, then until the server
    stops getting bytes out; check the RSS bound all the while.            */
static void
s_wait_paused(s_state_t *s)
{
    int queued = 0;
    if (fault_piped_wait_full(&s->client, 60000, &queued) != 0)
        fail_msg("the client did not fill its stdout pipe within 60 s (%d bytes)", queued);
    int64_t deadline = braid_now_msec() + 60000;
    long long last = -1;
    int still = 0;
    while (still < S_STILL_POLLS && braid_now_msec() < deadline) {
        long long sent = s_big_sent(s);
        still = sent == last ? still + 1 : 0;
        last = sent;
        s_rss_check(s, "client paused");
        fault_poll_pause();
    }
    if (still < S_STILL_POLLS)
        fail_msg("the server kept sending (%lld bytes) while the client did not read", last);
    print_message("client paused: the server stopped at %lld of %lld bytes (%.1f%%); "
                  "worker RSS max %lld KiB, baseline %lld KiB\n",
                  last, S_TOTAL, 100.0 * (double) last / (double) S_TOTAL, s->max >> 10,
                  s->base >> 10);
    assert_true(last < S_TOTAL / 2);
    assert_int_equal(waitpid(s->client.pid, NULL, WNOHANG), 0);    /* still blocked */
}

static void
test_http_backpressure(void **state)
{
    s_state_t *s = *state;
    s->worker = braid_proc_pid(s->fx->cluster->workers[0]);
    s->base = fault_rss_bytes(s->worker);
    assert_true(s->base > 0);
    int64_t start = braid_now_msec();
    s_spawn_client(s);
    s_wait_paused(s);

    /*  Read it all, checking the pattern as it streams.                   */
    static unsigned char buf[1 << 20];
    long long total = 0;
    int64_t deadline = braid_now_msec() + 120000, next_sample = 0;
    while (true) {
        ssize_t n = read(s->client.fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != (unsigned char) ((total + i) & 0xff))
                fail_msg("byte %lld is %u, want %u", total + (long long) i, buf[i],
                         (unsigned) ((total + i) & 0xff));
        total += n;
        int64_t now = braid_now_msec();
        if (now >= next_sample) {
            s_rss_check(s, "streaming");
            next_sample = now + 50;
        }
        if (now > deadline)
            fail_msg("only %lld of %lld bytes within 120 s", total, S_TOTAL);
    }
    assert_int_equal(total, S_TOTAL);
    int status = 0;
    assert_int_equal(fault_piped_wait_exit(&s->client, 15000, &status), 0);
    print_message("%lld MiB intact in %lld ms; worker RSS max %lld KiB (baseline %lld KiB)\n",
                  total >> 20, (long long) (braid_now_msec() - start), s->max >> 10,
                  s->base >> 10);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(braid_http_fixture_stop(s->fx), 0);
}

int
main(void)
{
#ifdef BRAID_HTTP_SCALE_DOWN
    /*  ASan's quarantine would count freed memory as RSS: keep it small.  */
    const char *old = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof opts, "%s%squarantine_size_mb=16", old ? old : "",
             old && *old ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
#endif
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_http_backpressure, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("http_backpressure", tests, NULL, NULL);
}
