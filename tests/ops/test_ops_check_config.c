/*  test_ops_check_config.c - `braidd --check-config FILE` and
    `braid-worker --check-config FILE`: a config checked as at start, and
    nothing bound or connected.

    The shipped examples (the .conf files in systemd/) pass: exit 0, "FILE: ok" on
    stdout. A broken file exits 2 with "FILE:LINE: why" on stderr: a bad
    number (line 3), a bad metrics address, an endpoint that is not one;
    for the worker an unknown source type (line 5), and a file with no
    source (no line to name: "FILE: no source"). A broker config whose
    frontend port the test holds still checks 0 (nothing is bound), as
    does a worker config whose broker does not exist (nothing connects).
    A missing file is 2 too; and a bad --metrics flag prints the usage and
    exits 2.
*/

#include "ops.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*  Run argv to its end; its exit code, and its stdout and stderr (owned)
    in *out_p and *err_p.                                                   */
static int
s_run(const char *dir, const char *const argv[], char **out_p, char **err_p)
{
    braid_proc_t *p = braid_proc_spawn(dir, "check", argv, NULL);
    assert_non_null(p);
    int code = -1;
    if (braid_proc_finish(p, 20000, &code) != 0) {
        braid_proc_dump(p, 2000);
        braid_proc_destroy(&p);
        fail_msg("%s did not end within 20 s", argv[0]);
    }
    *out_p = braid_proc_output(p, BRAID_STDOUT, NULL);
    *err_p = braid_proc_output(p, BRAID_STDERR, NULL);
    braid_proc_destroy(&p);
    assert_non_null(*out_p);
    assert_non_null(*err_p);
    return code;
}

/*  program --check-config of text (written to dir/name; or the file path
    as it is when text is NULL) must exit want with want_text on stdout
    (0) or stderr (2); "%s" in want_text is the file's path.                */
static void
s_check(const char *dir, const char *program, const char *name, const char *text, int want,
        const char *want_text)
{
    char *path = text ? braid_path(dir, name) : strdup(name);
    assert_non_null(path);
    if (text)
        assert_int_equal(braid_file_write(path, text, strlen(text), 0644), 0);
    const char *argv[] = {program, "--check-config", path, NULL};
    char *out = NULL, *err = NULL;
    int code = s_run(dir, argv, &out, &err);
    char expect[1024];
    snprintf(expect, sizeof expect, want_text, path);
    const char *where = want == 0 ? out : err;
    if (code != want || !strstr(where, expect))
        fail_msg("%s --check-config %s: exit %d, want %d with '%s'\nstdout: %s\nstderr: %s",
                 program, name, code, want, expect, out, err);
    free(out);
    free(err);
    free(path);
}

/*  One file a row: the program, the file (in the temp dir when text is
    set), its text, the exit and text wanted (see s_check).                */
typedef struct {
    const char *program;
    const char *name;
    const char *text;
    int want;
    const char *want_text;
} s_case_t;

static const s_case_t s_cases[] = {
    {BRAIDD_PATH, BRAID_SYSTEMD_DIR "/braidd.conf", NULL, 0, "%s: ok\n"},
    {BRAIDD_PATH, BRAID_SYSTEMD_DIR "/braidd-test.conf", NULL, 0, "%s: ok\n"},
    {BRAIDD_PATH, "often.conf",
     "broker\n    frontend = \"tcp://127.0.0.1:5555\"\n    heartbeat_msec = often\n", 2,
     "%s:3: heartbeat_msec must be an integer"},
    {BRAIDD_PATH, "metrics.conf",
     "# metrics by name will not do\nbroker\n    metrics = \"localhost:9464\"\n", 2,
     "%s:3: metrics address: 'localhost' is not a numeric"},
    {BRAIDD_PATH, "endpoint.conf", "broker\n    sink = 127.0.0.1:5557\n", 2,
     "%s:2: sink: '127.0.0.1:5557' is not an endpoint"},
    {BRAIDD_PATH, "/nonexistent/braidd.conf", NULL, 2, "%s"},
    {BRAID_WORKER_PATH, BRAID_SYSTEMD_DIR "/worker-example.conf", NULL, 0, "%s: ok\n"},
    {BRAID_WORKER_PATH, "teleport.conf",
     "worker\n    slots = 4\nsource\n    x\n        type = teleport\n", 2,
     "%s:5: unknown source type 'teleport'"},
    {BRAID_WORKER_PATH, "slots.conf", "worker\n    slots = 0\nsource\n    x\n        type = exec\n",
     2, "%s:2: slots must be an integer"},
    {BRAID_WORKER_PATH, "empty.conf", "worker\n    slots = 4\n", 2, "%s: no source"},
    {BRAID_WORKER_PATH, "brokers.conf",
     "worker\n    backend = \"tcp://10.0.0.1:5556 tcp://10.0.0.2:5556\"\n"
     "    sink = \"tcp://10.0.0.1:5557,tcp://10.0.0.2:5557\"\n"
     "source\n    x\n        type = exec\n        command = \"echo {query}\"\n",
     0, "%s: ok\n"},
    {BRAID_WORKER_PATH, "sinks.conf",
     "worker\n    backend = \"tcp://10.0.0.1:5556 tcp://10.0.0.2:5556\"\n"
     "    sink = \"tcp://10.0.0.1:5557\"\n"
     "source\n    x\n        type = exec\n        command = \"echo {query}\"\n",
     2, "%s: 2 backends need as many sinks, not 1"},
};

static void
test_files(void **state)
{
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const s_case_t *c = &s_cases[i];
        s_check(*state, c->program, c->name, c->text, c->want, c->want_text);
    }
}

static void
test_broker(void **state)
{
    const char *dir = *state;
    /*  Nothing is bound: a port the test holds is no obstacle.             */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &addr, &len), 0);
    char text[256];
    snprintf(text, sizeof text,
             "broker\n    frontend = \"tcp://127.0.0.1:%u\"\n    metrics = \"127.0.0.1:%u\"\n",
             ntohs(addr.sin_port), ntohs(addr.sin_port));
    s_check(dir, BRAIDD_PATH, "held.conf", text, 0, "%s: ok\n");
    close(fd);

    /*  A bad --metrics flag: the reason, the usage, 2.                     */
    const char *argv[] = {BRAIDD_PATH, "--metrics", "9464", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(s_run(dir, argv, &out, &err), 2);
    assert_non_null(strstr(err, "metrics address '9464'"));
    assert_non_null(strstr(err, "usage: braidd"));
    free(out);
    free(err);
}

static void
test_worker(void **state)
{
    const char *dir = *state;
    /*  Nothing connects: a broker that does not exist is no obstacle.      */
    int port = braid_free_port();
    assert_true(port > 0);
    char text[256];
    snprintf(text, sizeof text,
             "worker\n    backend = \"tcp://127.0.0.1:%d\"\nsource\n    s\n"
             "        type = synthetic\n",
             port);
    s_check(dir, BRAID_WORKER_PATH, "nobroker.conf", text, 0, "%s: ok\n");
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_TMPDIR_TEST(test_files, "braid-ops-check-files"),
        BRAID_TMPDIR_TEST(test_broker, "braid-ops-check-broker"),
        BRAID_TMPDIR_TEST(test_worker, "braid-ops-check-worker"),
    };
    return cmocka_run_group_tests_name("ops_check_config", tests, NULL, NULL);
}
