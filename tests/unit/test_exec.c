/*  test_exec.c - the exec kind of source through the source-kind
    interface, with real children: lines and chunks, exit statuses and
    transient_exit, the stderr tail (sanitized to one line), stopping,
    refusals to start (a '-' query where it would be an option), the
    child's allowlisted environment, and stdout left unpolled when the
    task wants no output.                                                  */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec_source.h"
#include "reaper.h"
#include "source.h"

#define S_MAX_FDS 8

/*  The descriptors a run asked for in one pass.                           */
typedef struct {
    struct pollfd fds[S_MAX_FDS];
    int what[S_MAX_FDS];
    size_t n;
} s_fds_t;

static int
s_add(void *arg, int fd, short events, int what)
{
    s_fds_t *set = arg;
    assert_true(set->n < S_MAX_FDS);
    assert_int_equal(events, ZMQ_POLLIN);
    set->fds[set->n] = (struct pollfd){.fd = fd, .events = POLLIN};
    set->what[set->n++] = what;
    return 0;
}

/*  A source from a config section of text (exec only).                     */
static braid_source_t *
s_source(const char *text)
{
    char err[256] = "";
    braid_conf_t *conf = braid_conf_parse(text, strlen(text), "w.cfg", err, sizeof err);
    assert_non_null(conf);
    braid_source_t *source =
        braid_source_from_conf(braid_conf_child(braid_conf_locate(conf, "source")), err,
                               sizeof err);
    if (!source)
        print_error("%s\n", err);
    braid_conf_destroy(&conf);
    assert_non_null(source);
    assert_ptr_equal(source->kind, &braid_exec_kind);
    return source;
}

/*  "sh -c {query}": the query is the script.                              */
static const char s_sh[] = "source\n    sh\n        type = exec\n"
                           "        command = \"sh -c {query}\"\n";

typedef struct {
    braid_source_t *source;
    void *context;
} s_fixture_t;

/*  What the last s_run's run said of its end (DONE X).                     */
static braid_run_outcome_t s_outcome;

/*  Run script to its end as a task would, taking at most room partials a
    pass, into out; returns the result, the text in text, the outcome in
    s_outcome.                                                              */
static braid_run_result_t
s_run(s_fixture_t *f, const char *script, size_t room, braid_parts_t *out, char *text,
      size_t textsize)
{
    const braid_source_kind_t *kind = f->source->kind;
    zframe_t *query = zframe_new(script, strlen(script));
    void *run = NULL;
    int64_t now = zclock_mono();
    braid_run_result_t result = kind->start(f->context, f->source->settings, &query, 1, now, &run,
                                            text, textsize);
    assert_null(query);
    int64_t give_up = now + 10000;
    while (result == BRAID_RUN_BUSY && now < give_up) {
        s_fds_t set = {.n = 0};
        kind->fds(run, true, s_add, &set);
        int64_t wake = kind->wake(run, now, room);
        int timeout = wake == INT64_MAX ? 1000 : wake > now ? (int) (wake - now) : 0;
        assert_true(poll(set.fds, set.n, timeout) >= 0);
        now = zclock_mono();
        for (size_t i = 0; i < set.n; i++)
            if (set.fds[i].revents)
                kind->ready(run, set.what[i], ZMQ_POLLIN, now);
        kind->produce(run, now, out, room);
        result = kind->advance(run, now, room, text, textsize);
    }
    memset(&s_outcome, 0, sizeof s_outcome);
    if (run)        /* NULL: start() refused it                            */
        kind->outcome(run, &s_outcome);
    kind->destroy(&run);
    assert_null(run);
    return result;
}

static int
s_setup(void **state)
{
    static s_fixture_t f;
    f.source = s_source(s_sh);
    char err[128];
    f.context = braid_exec_kind.open(4, err, sizeof err);
    *state = &f;
    return f.context ? 0 : -1;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    braid_exec_kind.close(&f->context);
    assert_null(f->context);
    braid_source_destroy(&f->source);
    return 0;
}

/*  The partials in out (taken), each followed by '|'.                     */
static void
s_expect(braid_parts_t *out, const char *want)
{
    char got[256] = "";
    for (size_t i = 0; i < braid_parts_size(out); i++) {
        size_t flen;
        const char *f = braid_parts_at(out, i, &flen);
        size_t len = strlen(got);
        snprintf(got + len, sizeof got - len, "%.*s|", (int) flen, f);
    }
    braid_parts_drop(out, SIZE_MAX);
    assert_string_equal(got, want);
}

static void
test_lines(void **state)
{
    braid_parts_t *out = braid_parts_new();
    char text[256] = "?";
    assert_int_equal(s_run(*state, "printf 'a\\nbb\\nlast'", 1, out, text, sizeof text),
                     BRAID_RUN_OK);
    assert_string_equal(text, "");
    s_expect(out, "a\n|bb\n|last|");
    braid_parts_destroy(&out);
}

static void
test_exit_status(void **state)
{
    braid_parts_t *out = braid_parts_new();
    char text[256];
    /*  75 is transient by default; others are not. The stderr tail comes
        with the status.                                                    */
    assert_int_equal(s_run(*state, "exit 75", 8, out, text, sizeof text), BRAID_RUN_TRANSIENT);
    assert_string_equal(text, "exit status 75");
    assert_int_equal(s_outcome.exit_value, 75);
    assert_int_equal(s_run(*state, "echo oops >&2; exit 3", 8, out, text, sizeof text),
                     BRAID_RUN_FAILED);
    assert_string_equal(text, "exit status 3: oops");
    assert_int_equal(s_outcome.exit_value, 3);
    /*  DONE X of a signal is 128 + N, as a shell's $? says.                */
    assert_int_equal(s_run(*state, "kill -9 $$", 8, out, text, sizeof text), BRAID_RUN_FAILED);
    assert_string_equal(text, "killed by signal 9");
    assert_int_equal(s_outcome.exit_value, 137);
    assert_int_equal(s_outcome.retry_after_msec, 0);
    assert_int_equal(s_run(*state, "true", 8, out, text, sizeof text), BRAID_RUN_OK);
    assert_int_equal(s_outcome.exit_value, 0);
    assert_int_equal(braid_parts_size(out), 0);
    braid_parts_destroy(&out);
}

/*  The stderr tail is one line: newlines, escapes and invalid UTF-8 are
    escaped, valid UTF-8 stays, the last newline goes.                     */
static void
test_stderr_sanitized(void **state)
{
    braid_parts_t *out = braid_parts_new();
    char text[256];
    assert_int_equal(s_run(*state,
                           "printf 'one\\nbraid: query 7 ok\\n\\033[2J\\377 caf\\303\\251\\n' >&2;"
                           " exit 1",
                           8, out, text, sizeof text),
                     BRAID_RUN_FAILED);
    assert_string_equal(text, "exit status 1: one\\nbraid: query 7 ok\\n\\x1b[2J\\xff caf\xc3\xa9");
    assert_null(strchr(text, '\n'));
    braid_parts_destroy(&out);
}

/*  Run query with source (a config section's text) to its end; its
    result, the output (all partials, concatenated) into got.               */
static braid_run_result_t
s_run_source(s_fixture_t *f, const char *source, const char *query, char *got, size_t gotsize,
             char *text, size_t textsize)
{
    s_fixture_t g = {.context = f->context, .source = s_source(source)};
    braid_parts_t *out = braid_parts_new();
    braid_run_result_t result = s_run(&g, query, 64, out, text, textsize);
    size_t len = 0;
    got[0] = 0;
    for (size_t i = 0; i < braid_parts_size(out); i++) {
        size_t n;
        const void *frame = braid_parts_at(out, i, &n);
        if (len + n < gotsize) {
            memcpy(got + len, frame, n);
            len += n;
            got[len] = 0;
        }
    }
    braid_parts_destroy(&out);
    braid_source_destroy(&g.source);
    return result;
}

/*  The child's environment is the allowlist and the marker: PATH and LANG
    by default, what env names otherwise; never the worker's secrets.      */
static void
test_environment(void **state)
{
    assert_int_equal(setenv("BRAID_TEST_SECRET", "s3cret-value", 1), 0);
    assert_int_equal(setenv("BRAID_TEST_SHOWN", "shown-value", 1), 0);
    assert_int_equal(setenv("LANG", "C", 1), 0);
    char got[4096], text[256];
    assert_int_equal(s_run_source(*state, s_sh, "env", got, sizeof got, text, sizeof text),
                     BRAID_RUN_OK);
    assert_null(strstr(got, "s3cret-value"));
    assert_null(strstr(got, "shown-value"));
    assert_non_null(strstr(got, "PATH="));
    assert_non_null(strstr(got, "LANG=C\n"));
    assert_non_null(strstr(got, "BRAID_TASK="));

    assert_int_equal(s_run_source(*state,
                                  "source\n    e\n        type = exec\n"
                                  "        command = \"sh -c {query}\"\n"
                                  "        env = \"PATH BRAID_TEST_SHOWN BRAID_TEST_UNSET\"\n",
                                  "env", got, sizeof got, text, sizeof text),
                     BRAID_RUN_OK);
    assert_non_null(strstr(got, "BRAID_TEST_SHOWN=shown-value\n"));
    assert_null(strstr(got, "BRAID_TEST_UNSET"));
    assert_null(strstr(got, "LANG="));
    assert_null(strstr(got, "s3cret-value"));

    /*  Bad names are refused when the source is read.                      */
    static const char *bad[] = {"\"A B-C\"", "1X", BRAID_REAPER_MARKER};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char conf[256], err[256] = "";
        snprintf(conf, sizeof conf,
                 "source\n    e\n        type = exec\n        command = env\n"
                 "        env = %s\n", bad[i]);
        braid_conf_t *c = braid_conf_parse(conf, strlen(conf), "w.cfg", err, sizeof err);
        assert_non_null(c);
        braid_source_t *source = braid_source_from_conf(
            braid_conf_child(braid_conf_locate(c, "source")), err, sizeof err);
        braid_conf_destroy(&c);
        assert_null(source);
        assert_non_null(strstr(err, "env"));
    }
}

/*  A query starting with '-' is refused where it would be an option, with
    a clear reason; after "--", inside a word, or with allow_options it
    runs.                                                                   */
static void
test_option_queries(void **state)
{
    static const char wc[] = "source\n    wc\n        type = exec\n"
                             "        command = \"wc -c {query}\"\n";
    static const char dashes[] = "source\n    wc\n        type = exec\n"
                                 "        command = \"wc -c -- {query}\"\n";
    static const char allowed[] = "source\n    wc\n        type = exec\n"
                                  "        command = \"wc -c {query}\"\n"
                                  "        allow_options = yes\n";
    static const char inside[] = "source\n    p\n        type = exec\n"
                                 "        command = \"printf %s\\\\n --x={query}\"\n";
    char got[4096], text[256];
    assert_int_equal(s_run_source(*state, wc, "--files0-from=/proc/self/environ", got, sizeof got,
                                  text, sizeof text),
                     BRAID_RUN_FAILED);
    assert_non_null(strstr(text, "query starts with '-'"));
    assert_non_null(strstr(text, "allow_options"));
    assert_string_equal(got, "");
    /*  After --: wc takes it as a file name.                               */
    assert_int_equal(s_run_source(*state, dashes, "--version", got, sizeof got, text, sizeof text),
                     BRAID_RUN_FAILED);
    assert_non_null(strstr(text, "exit status 1"));
    assert_null(strstr(text, "query starts with"));
    assert_int_equal(s_run_source(*state, allowed, "--version", got, sizeof got, text,
                                  sizeof text),
                     BRAID_RUN_OK);
    assert_non_null(strstr(got, "wc"));
    assert_int_equal(s_run_source(*state, inside, "-q", got, sizeof got, text, sizeof text),
                     BRAID_RUN_OK);
    assert_string_equal(got, "--x=-q\n");
    /*  A query not starting with '-' runs as ever.                         */
    assert_int_equal(s_run_source(*state, wc, "/dev/null", got, sizeof got, text, sizeof text),
                     BRAID_RUN_OK);
    assert_string_equal(got, "0 /dev/null\n");
}

static void
test_settings(void **state)
{
    s_fixture_t *f = *state;
    s_fixture_t g = {.context = f->context};
    g.source = s_source("source\n    sh\n        type = exec\n"
                        "        command = \"sh -c {query}\"\n"
                        "        output = chunks\n"
                        "        transient_exit = \"3, 4\"\n");
    braid_parts_t *out = braid_parts_new();
    char text[256];
    assert_int_equal(s_run(&g, "printf 'a\\nb'; exit 4", 8, out, text, sizeof text),
                     BRAID_RUN_TRANSIENT);
    s_expect(out, "a\nb|");
    assert_int_equal(s_run(&g, "exit 75", 8, out, text, sizeof text), BRAID_RUN_FAILED);
    braid_source_destroy(&g.source);

    g.source = s_source("source\n    sh\n        type = exec\n"
                        "        command = \"sh -c {query}\"\n"
                        "        transient_exit = none\n");
    assert_int_equal(s_run(&g, "exit 75", 8, out, text, sizeof text), BRAID_RUN_FAILED);
    braid_source_destroy(&g.source);
    braid_parts_destroy(&out);
}

static void
test_refusals(void **state)
{
    s_fixture_t *f = *state;
    char text[256];
    void *run = NULL;
    zframe_t *query = zframe_new("a\0b", 3);
    assert_int_equal(f->source->kind->start(f->context, f->source->settings, &query, 1, 0, &run,
                                            text, sizeof text),
                     BRAID_RUN_FAILED);
    assert_null(query);
    assert_null(run);
    assert_string_equal(text, "query contains a NUL byte");

    braid_source_t *missing = braid_source_from_flag("x=exec:/nonexistent/braid-test", text,
                                                     sizeof text);
    assert_non_null(missing);
    query = zframe_new("q", 1);
    assert_int_equal(missing->kind->start(f->context, missing->settings, &query, 1, 0, &run, text,
                                          sizeof text),
                     BRAID_RUN_FAILED);
    assert_null(run);
    assert_string_equal(text, "cannot run /nonexistent/braid-test: No such file or directory");
    braid_source_destroy(&missing);
}

static void
test_stop_and_backpressure(void **state)
{
    s_fixture_t *f = *state;
    const braid_source_kind_t *kind = f->source->kind;
    zframe_t *query = zframe_new("echo hi; exec sleep 30", 22);
    void *run = NULL;
    char text[256];
    int64_t now = zclock_mono();
    assert_int_equal(kind->start(f->context, f->source->settings, &query, 1, now, &run, text,
                                 sizeof text),
                     BRAID_RUN_BUSY);
    /*  No output wanted: stdout is not polled (stderr and the pidfd are). */
    s_fds_t set = {.n = 0};
    kind->fds(run, false, s_add, &set);
    s_fds_t all = {.n = 0};
    kind->fds(run, true, s_add, &all);
    assert_int_equal(all.n, set.n + 1);
    assert_int_equal(kind->advance(run, now, 8, text, sizeof text), BRAID_RUN_BUSY);

    /*  Stopped: SIGTERM now, SIGKILL after the grace; advance says when
        it is gone.                                                        */
    assert_int_equal(kind->stop(run, now), BRAID_RUN_BUSY);
    assert_int_equal(kind->wake(run, now, 8) <= now + BRAID_EXEC_KILL_GRACE_MSEC, true);
    braid_run_result_t result = BRAID_RUN_BUSY;
    int64_t give_up = now + 5000;
    while (result == BRAID_RUN_BUSY && now < give_up) {
        s_fds_t fds = {.n = 0};
        kind->fds(run, true, s_add, &fds);
        assert_true(poll(fds.fds, fds.n, 50) >= 0);
        now = zclock_mono();
        for (size_t i = 0; i < fds.n; i++)
            if (fds.fds[i].revents)
                kind->ready(run, fds.what[i], ZMQ_POLLIN, now);
        result = kind->advance(run, now, 8, text, sizeof text);
    }
    assert_int_equal(result, BRAID_RUN_STOPPED);
    kind->destroy(&run);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_stderr_sanitized),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_option_queries),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_stop_and_backpressure),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
