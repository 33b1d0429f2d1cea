/*  test_harness.c - the integration harness, tested with ordinary programs
    (/bin/sh, cat, sleep, seq), so that it is solid before any braid binary
    runs under it.                                                          */

#include "harness.h"
#include "jsonl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/*  Each test runs in a fresh temp dir named after this prefix.             */
#define S_PREFIX "braid-harness"

static void
test_output_and_exit_code(void **state)
{
    const char *dir = *state;
    const char *argv[] = {"/bin/sh", "-c", "echo hello; echo oops >&2; exit 7", NULL};
    braid_proc_t *p = braid_proc_spawn(dir, "sh1", argv, NULL);
    assert_non_null(p);
    assert_int_equal(braid_proc_wait_line(p, BRAID_STDOUT, "hello", 5000), 0);
    assert_int_equal(braid_proc_wait_line(p, BRAID_STDERR, "oops", 5000), 0);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(p, 5000, &code), 0);
    assert_int_equal(code, 7);
    assert_true(braid_proc_exited(p));
    assert_true(braid_proc_exit_msec(p) > 0);
    assert_int_equal(braid_proc_wait_eof(p, BRAID_STDOUT, 5000), 0);
    assert_int_equal(braid_proc_wait_eof(p, BRAID_STDERR, 5000), 0);
    size_t len;
    char *out = braid_proc_output(p, BRAID_STDOUT, &len);
    assert_string_equal(out, "hello\n");
    assert_int_equal(len, 6);
    free(out);
    braid_proc_destroy(&p);
    assert_null(p);
    braid_proc_destroy(&p); /* NULL-safe, idempotent */

    /*  The copies in the temp dir.                                        */
    char *path = braid_path(dir, "sh1.err");
    char *err = braid_file_read(path, &len);
    assert_non_null(err);
    assert_string_equal(err, "oops\n");
    free(err);
    free(path);
}

static void
test_wait_line_needs_whole_line(void **state)
{
    const char *dir = *state;
    /*  The line arrives in two writes; it is matched whole.              */
    const char *argv[] = {"/bin/sh", "-c", "printf 'rea'; printf 'dy now\\n'; printf 'tail'",
                          NULL};
    braid_proc_t *p = braid_proc_spawn(dir, "sh2", argv, NULL);
    assert_non_null(p);
    assert_int_equal(braid_proc_wait_line(p, BRAID_STDOUT, "ready now", 5000), 0);
    /*  The last line has no newline: it counts once the stream ended.     */
    assert_int_equal(braid_proc_wait_line(p, BRAID_STDOUT, "tail", 5000), 0);
    braid_proc_destroy(&p);
}

static void
test_wait_line_deadline(void **state)
{
    const char *dir = *state;
    const char *argv[] = {"sleep", "30", NULL};
    braid_proc_t *p = braid_proc_spawn(dir, "sleeper", argv, NULL);
    assert_non_null(p);
    int64_t start = braid_now_msec();
    assert_int_equal(braid_proc_wait_line(p, BRAID_STDOUT, "never", 300), -1);
    int64_t took = braid_now_msec() - start;
    assert_true(took >= 290);
    assert_true(took < 3000);
    assert_int_equal(braid_proc_wait_exit(p, 100, NULL), -1);
    assert_false(braid_proc_exited(p));
    assert_int_equal(braid_proc_exit_msec(p), -1);
    pid_t pid = braid_proc_pid(p);
    assert_true(braid_pid_alive(pid));
    assert_int_equal(braid_pgrp_live_count(pid), 1);
    start = braid_now_msec();
    braid_proc_destroy(&p); /* backstop: SIGKILL to the group */
    assert_true(braid_now_msec() - start < 3000);
    assert_false(braid_pid_alive(pid));
}

static void
test_wait_line_eof_is_prompt(void **state)
{
    const char *dir = *state;
    const char *argv[] = {"/bin/sh", "-c", "echo something else", NULL};
    braid_proc_t *p = braid_proc_spawn(dir, "short", argv, NULL);
    assert_non_null(p);
    int64_t start = braid_now_msec();
    assert_int_equal(braid_proc_wait_line(p, BRAID_STDOUT, "never", 20000), -1);
    assert_int_equal(braid_proc_wait_bytes(p, BRAID_STDERR, 1, 20000), -1);
    assert_true(braid_now_msec() - start < 5000);
    assert_int_equal(braid_proc_wait_bytes(p, BRAID_STDOUT, 5, 1000), 0);
    braid_proc_destroy(&p);
}

static void
test_signal_and_exit_status(void **state)
{
    const char *dir = *state;
    const char *argv[] = {"sleep", "30", NULL};
    braid_proc_t *p = braid_proc_spawn(dir, "term", argv, NULL);
    assert_non_null(p);
    assert_int_equal(braid_proc_signal(p, SIGTERM), 0);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(p, 5000, &code), 0);
    assert_int_equal(code, 128 + SIGTERM);
    /*  Exited but not reaped: no live member, signalling the pid fails.   */
    assert_int_equal(braid_pgrp_live_count(braid_proc_pid(p)), 0);
    assert_int_equal(braid_proc_signal(p, SIGTERM), -1);
    braid_proc_destroy(&p);
}

static void
test_sigpipe_default_in_child(void **state)
{
    const char *dir = *state;
    /*  The test ignores SIGPIPE; the child must not inherit that.         */
    const char *argv[] = {"/bin/sh", "-c", "grep SigIgn /proc/self/status", NULL};
    braid_proc_t *p = braid_proc_spawn(dir, "sigign", argv, NULL);
    assert_non_null(p);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(p, 5000, &code), 0);
    assert_int_equal(braid_proc_wait_eof(p, BRAID_STDOUT, 5000), 0);
    char *out = braid_proc_output(p, BRAID_STDOUT, NULL);
    unsigned long long mask = 0;
    assert_int_equal(sscanf(out, "SigIgn: %llx", &mask), 1);
    assert_int_equal(mask & (1ull << (SIGPIPE - 1)), 0);
    free(out);
    braid_proc_destroy(&p);
}

static void
test_group_backstop(void **state)
{
    const char *dir = *state;
    /*  A shell with a background child in its group: destroy kills both. */
    const char *argv[] = {"/bin/sh", "-c", "sleep 30 & echo child=$!; wait", NULL};
    braid_proc_t *p = braid_proc_spawn(dir, "group", argv, NULL);
    assert_non_null(p);
    assert_int_equal(braid_proc_wait_line(p, BRAID_STDOUT, "child=", 5000), 0);
    char *out = braid_proc_output(p, BRAID_STDOUT, NULL);
    int child = 0;
    assert_int_equal(sscanf(out, "child=%d", &child), 1);
    free(out);
    pid_t pgid = braid_proc_pid(p);
    /*  kill(0), not /proc: the child may be between fork and exec.       */
    assert_int_equal(kill(child, 0), 0);
    assert_int_equal(braid_proc_signal_group(p, 0), 0);
    braid_proc_destroy(&p);
    assert_false(braid_pid_alive(child));
    assert_int_equal(braid_pgrp_live_count(pgid), 0);
    /*  The killed child was re-parented to us as a zombie: reaped, but
        not counted as left behind.                                        */
    assert_int_equal(braid_harness_reap_orphans(), 0);
}

static void
test_orphan_reaper(void **state)
{
    const char *dir = *state;
    /*  A grandchild that leaves the group (as an exec source's child does)
        and outlives its parent is re-parented to the test and found. It
        prints its pid only after setsid(), so the backstop killpg() of the
        shell's group can no longer reach it.                              */
    const char *argv[] = {"/bin/sh", "-c", "setsid /bin/sh -c 'echo orphan=$$; exec sleep 30' &",
                          NULL};
    braid_proc_t *p = braid_proc_spawn(dir, "orphaner", argv, NULL);
    assert_non_null(p);
    assert_int_equal(braid_proc_wait_line(p, BRAID_STDOUT, "orphan=", 5000), 0);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(p, 5000, &code), 0);
    assert_int_equal(code, 0);
    char *out = braid_proc_output(p, BRAID_STDOUT, NULL);
    int orphan = 0;
    assert_int_equal(sscanf(out, "orphan=%d", &orphan), 1);
    free(out);
    braid_proc_destroy(&p);
    assert_true(braid_pid_alive(orphan));
    assert_int_equal(braid_harness_reap_orphans(), 1);
    assert_false(braid_pid_alive(orphan));
}

static void
test_stdin_and_large_output(void **state)
{
    const char *dir = *state;
    char *in = braid_path(dir, "in.txt");
    const char text[] = "line one\nline two\n";
    assert_int_equal(braid_file_write(in, text, sizeof text - 1, 0600), 0);
    const char *cat[] = {"cat", NULL};
    size_t len = 0;
    int code = -1;
    char *out = braid_run(cat, in, 5000, &len, &code);
    assert_non_null(out);
    assert_int_equal(code, 0);
    assert_string_equal(out, text);
    free(out);
    free(in);

    /*  More than a pipe holds: the drain thread must keep up.             */
    const char *seq[] = {"seq", "1", "200000", NULL};
    out = braid_run(seq, NULL, 10000, &len, &code);
    assert_non_null(out);
    assert_int_equal(code, 0);
    assert_int_equal(len, 1288895); /* digits of 1..200000 plus newlines */
    assert_memory_equal(out + len - 7, "200000\n", 7);
    free(out);

    /*  No stdin given: /dev/null.                                         */
    out = braid_run(cat, NULL, 5000, &len, &code);
    assert_non_null(out);
    assert_int_equal(len, 0);
    free(out);
}

static void
test_spawn_failure(void **state)
{
    (void) state;
    const char *argv[] = {"/nonexistent/braid-nothing", NULL};
    braid_proc_t *p = braid_proc_spawn(NULL, "none", argv, NULL);
    assert_null(p);
}

static void
test_free_port(void **state)
{
    (void) state;
    int port = braid_free_port();
    assert_true(port > 0 && port < 65536);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t) port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *) &addr, sizeof addr), 0);
    /*  While it is taken, the next free port differs.                     */
    int other = braid_free_port();
    assert_true(other > 0 && other != port);
    close(fd);
}

static void
test_tmpdir(void **state)
{
    (void) state;
    char *dir = braid_tmpdir_new("braid-tmpdir");
    assert_non_null(dir);
    char *sub = braid_path(dir, "sub");
    assert_int_equal(mkdir(sub, 0700), 0);
    char *file = braid_path(sub, "f");
    assert_int_equal(braid_file_write(file, "x", 1, 0755), 0);
    struct stat st;
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    char *keep = strdup(dir);
    unsetenv("BRAID_IT_KEEP");
    braid_tmpdir_destroy(&dir);
    assert_null(dir);
    assert_int_not_equal(stat(keep, &st), 0);
    braid_tmpdir_destroy(&dir); /* NULL-safe */
    free(keep);
    free(sub);
    free(file);
}

static void
test_json_lines(void **state)
{
    (void) state;
    /*  A payload in "data" is the string's bytes (\u0000 too); one in
        "data_b64" is base64.                                               */
    const char *partial =
        "{\"type\":\"partial\",\"query\":12,\"source\":\"echo\",\"seq\":0,"
        "\"data\":\"a \\\"b\\\"\\\\c\\n\\u00e9\\u20ac\\u0000z\"}";
    json_t *j = braid_json_parse(partial, strlen(partial));
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "partial");
    long long q = -1;
    assert_int_equal(json_unpack(j, "{s:I}", "query", &q), 0);
    assert_int_equal(q, 12);
    size_t len;
    char *data = braid_json_data(j, &len);
    assert_non_null(data);
    assert_int_equal(len, 15);
    assert_memory_equal(data, "a \"b\"\\c\n\xc3\xa9\xe2\x82\xac\0z", 15);
    free(data);
    assert_null(json_string_value(json_object_get(j, "query")));
    json_t *b64 = json_pack("{s:s}", "data_b64", "/wAbeg==");
    assert_non_null(b64);
    data = braid_json_data(b64, &len);
    assert_non_null(data);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "\xff\0\x1bz", 4);
    free(data);
    json_object_set_new(b64, "data_b64", json_string("/wA"));   /* not base64 */
    assert_null(braid_json_data(b64, NULL));
    json_object_set_new(b64, "data", json_string("x"));         /* both       */
    assert_null(braid_json_data(b64, NULL));
    json_decref(b64);
    assert_null(braid_json_data(json_object_get(j, "query"), NULL));
    assert_int_equal(json_unpack(j, "{s:I}", "data", &q), -1);
    assert_null(json_object_get(j, "missing"));
    json_decref(j);

    /*  The lines of an output, and a job line's counts.                   */
    const char *lines =
        " {\"type\":\"end\",\"query\":0}\n"
        "{\"type\":\"job\",\"status\":\"ok\",\"list\":[1,[2,{}],\"x\"],\"t\":true,"
        "\"sources\":{\"echo\":{\"ok\":9,\"failed\":1,\"timeout\":0,\"cancelled\":0}}}\n";
    const char *cursor = lines;
    j = braid_json_next(&cursor);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "end");
    json_decref(j);
    j = braid_json_next(&cursor);
    assert_non_null(j);
    assert_non_null(json_object_get(j, "list"));
    braid_json_check_job(j, "echo", 9, 1, 0, 0);
    json_decref(j);
    assert_null(braid_json_next(&cursor));
    assert_null(braid_json_next(&cursor));

    static const char *bad[] = {
        "",          "{",        "}",           "[1]",        "1",
        "\"x\"",     "{\"a\":1,}", "{\"a\":1} x", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}",
        "{\"a\":\"x", "{a:1}",    "{\"a\" 1}",   "{\"a\":tru}", "{\"a\":\"\x01\"}",
        "{\"a\":-}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        j = braid_json_parse(bad[i], strlen(bad[i]));
        if (j)
            fail_msg("accepted bad JSON #%zu: %s", i, bad[i]);
    }
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_TMPDIR_TEST(test_output_and_exit_code, S_PREFIX),
        BRAID_TMPDIR_TEST(test_wait_line_needs_whole_line, S_PREFIX),
        BRAID_TMPDIR_TEST(test_wait_line_deadline, S_PREFIX),
        BRAID_TMPDIR_TEST(test_wait_line_eof_is_prompt, S_PREFIX),
        BRAID_TMPDIR_TEST(test_signal_and_exit_status, S_PREFIX),
        BRAID_TMPDIR_TEST(test_sigpipe_default_in_child, S_PREFIX),
        BRAID_TMPDIR_TEST(test_group_backstop, S_PREFIX),
        BRAID_TMPDIR_TEST(test_orphan_reaper, S_PREFIX),
        BRAID_TMPDIR_TEST(test_stdin_and_large_output, S_PREFIX),
        BRAID_TMPDIR_TEST(test_spawn_failure, S_PREFIX),
        BRAID_TMPDIR_TEST(test_free_port, S_PREFIX),
        BRAID_TMPDIR_TEST(test_tmpdir, S_PREFIX),
        BRAID_TMPDIR_TEST(test_json_lines, S_PREFIX),
    };
    return cmocka_run_group_tests_name("harness", tests, NULL, NULL);
}
