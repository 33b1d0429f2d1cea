/*  test_e2e_usage.c - exit codes of the command lines (the README).

    - Bad flags, missing flag values, out-of-range values, a worker without
      a source, a submit without a source or with an unknown order, an
      unknown client command: exit 2 with a message on stderr, for all
      three programs.
    - -h and -V: exit 0 with something on stdout or stderr.
    - `braid submit -T 500` to a port nobody listens on: exit 3, within
      a bounded time (3 s, for a 0.5 s connect timeout).
*/

#include "cluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Each test runs in a fresh temp dir named after this prefix.             */
#define S_PREFIX "braid-e2e-usage"

#define S_EXIT_MSEC 10000

typedef struct {
    int want_code;
    const char *argv[12];
} s_case_t;

static const s_case_t s_cases[] = {
    {2, {BRAIDD_PATH, "--no-such-flag", NULL}},
    {2, {BRAIDD_PATH, "-f", NULL}},
    {2, {BRAIDD_PATH, "-x", NULL}},
    {2, {BRAID_WORKER_PATH, "--no-such-flag", "-s", "x=synthetic:parts=1", NULL}},
    {2, {BRAID_WORKER_PATH, "-b", "tcp://127.0.0.1:9", NULL}}, /* no source */
    {2, {BRAID_WORKER_PATH, "-n", "0", "-s", "x=synthetic:parts=1", NULL}},
    {2, {BRAID_WORKER_PATH, "-n", "65536", "-s", "x=synthetic:parts=1", NULL}},
    {2, {BRAID_WORKER_PATH, "-s", NULL}},
    /*  Two brokers need two sinks (the i-th -b with the i-th -k).         */
    {2, {BRAID_WORKER_PATH, "-b", "tcp://127.0.0.1:9", "-b", "tcp://127.0.0.1:10", "-k",
         "tcp://127.0.0.1:11", "-s", "x=synthetic:parts=1", NULL}},
    {2, {BRAID_CLI_PATH, "--no-such-flag", NULL}},
    {2, {BRAID_CLI_PATH, "no-such-command", NULL}},
    {2, {BRAID_CLI_PATH, "submit", "--no-such-flag", "-s", "x", "q", NULL}},
    {2, {BRAID_CLI_PATH, "submit", "q", NULL}}, /* no source */
    {2, {BRAID_CLI_PATH, "submit", "-s", "x", "-o", "sideways", "q", NULL}},
    {2, {BRAID_CLI_PATH, "submit", "-s", NULL}},
    {2, {BRAID_CLI_PATH, "submit", "--liveness", "1s", "-s", "x", "q", NULL}}, /* < 2 s */
    {0, {BRAIDD_PATH, "-h", NULL}},
    {0, {BRAIDD_PATH, "-V", NULL}},
    {0, {BRAID_WORKER_PATH, "-h", NULL}},
    {0, {BRAID_WORKER_PATH, "-V", NULL}},
    {0, {BRAID_CLI_PATH, "-h", NULL}},
    {0, {BRAID_CLI_PATH, "-V", NULL}},
};

/*  The command line as one string, for messages.                          */
static void
s_describe(const char *const argv[], char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; argv[i] && off < size; i++) {
        const char *word = i == 0 ? strrchr(argv[0], '/') + 1 : argv[i];
        off += (size_t) snprintf(buf + off, size - off, "%s%s", i ? " " : "", word);
    }
}

static void
test_exit_codes(void **state)
{
    const char *dir = *state;
    int failures = 0;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const s_case_t *c = &s_cases[i];
        char what[256];
        s_describe(c->argv, what, sizeof what);
        char name[32];
        snprintf(name, sizeof name, "case%zu", i);
        braid_proc_t *p = braid_proc_spawn(dir, name, c->argv, NULL);
        assert_non_null(p);
        int code = -1;
        if (braid_proc_finish(p, S_EXIT_MSEC, &code) != 0) {
            print_error("`%s`: still running after %d ms (want exit %d)\n", what, S_EXIT_MSEC,
                        c->want_code);
            failures++;
        } else {
            size_t out_len = 0, err_len = 0;
            free(braid_proc_output(p, BRAID_STDOUT, &out_len));
            free(braid_proc_output(p, BRAID_STDERR, &err_len));
            if (code != c->want_code) {
                print_error("`%s`: exit %d, want %d\n", what, code, c->want_code);
                braid_proc_dump(p, 600);
                failures++;
            } else if (c->want_code == 2 && err_len == 0) {
                print_error("`%s`: exit 2 but nothing on stderr\n", what);
                failures++;
            } else if (c->want_code == 0 && out_len + err_len == 0) {
                print_error("`%s`: printed nothing\n", what);
                failures++;
            }
        }
        braid_proc_destroy(&p);
    }
    assert_int_equal(failures, 0);
}

static void
test_broker_unreachable(void **state)
{
    const char *dir = *state;
    int port = braid_free_port();
    assert_true(port > 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    const char *argv[] = {BRAID_CLI_PATH, "submit", "-b", ep, "-T", "500", "-s", "x", "q", NULL};
    int64_t start = braid_now_msec();
    braid_proc_t *p = braid_proc_spawn(dir, "unreachable", argv, NULL);
    assert_non_null(p);
    int code = -1;
    int rc = braid_proc_finish(p, S_EXIT_MSEC, &code);
    int64_t took = braid_now_msec() - start;
    print_message("unreachable broker: exit %d after %lld ms\n", code, (long long) took);
    if (rc != 0 || code != 3)
        braid_proc_dump(p, 1000);
    braid_proc_destroy(&p);
    assert_int_equal(rc, 0);
    assert_int_equal(code, 3);
    assert_true(took < 3000);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_TMPDIR_TEST(test_exit_codes, S_PREFIX),
        BRAID_TMPDIR_TEST(test_broker_unreachable, S_PREFIX),
    };
    return cmocka_run_group_tests_name("e2e_usage", tests, NULL, NULL);
}
