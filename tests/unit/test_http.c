/*  test_http.c - the http kind of source: its templates (URL and JSON
    escaping, ${VAR}), the SSE parser, and runs through the source-kind
    interface against tests/http/server.py on loopback: lines, chunks and
    SSE bodies; statuses (ok, failed with the status line, transient with
    Retry-After) and the exit value; a refused connection; the response
    size limit; a POST body; a header from the environment; a transfer
    paused while nothing is taken (the server stops getting bytes out)
    and intact once taken; stop removing the transfer at once.            */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "http_source.h"
#include "http_template.h"
#include "source.h"
#include "sse.h"

#define S_MAX_FDS 64
#define S_RUN_MSEC 20000        /* one run, at most (a backstop)           */

/*  ---------------------------------------------------------------------
    Templates                                                              */

static void
s_expect_fill(braid_http_escape_t escape, const char *text, const char *query, size_t qlen,
              const char *want)
{
    braid_http_template_t *t = braid_http_template_new(text, strlen(text), escape);
    assert_non_null(t);
    assert_string_equal(braid_http_template_text(t), text);
    size_t len = 0;
    char *got = braid_http_template_fill(t, query, qlen, &len);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(got);
    braid_http_template_destroy(&t);
    assert_null(t);
}

static void
test_templates(void **state)
{
    (void) state;
    static const char q[] = "a&b #c+d%e f\"g'h\\i\tj\x01\xce\xbb~-._";
    s_expect_fill(BRAID_HTTP_ESCAPE_URL, "http://h/s?q={query}&x={query}", q, strlen(q),
                  "http://h/s?q=a%26b%20%23c%2Bd%25e%20f%22g%27h%5Ci%09j%01%CE%BB~-._"
                  "&x=a%26b%20%23c%2Bd%25e%20f%22g%27h%5Ci%09j%01%CE%BB~-._");
    s_expect_fill(BRAID_HTTP_ESCAPE_JSON, "{\"q\": \"{query}\"}", q, strlen(q),
                  "{\"q\": \"a&b #c+d%e f\\\"g'h\\\\i\\tj\\u0001\xce\xbb~-._\"}");
    s_expect_fill(BRAID_HTTP_ESCAPE_JSON, "{query}", "\n\r\x7f", 3, "\\n\\r\\u007F");
    /*  A NUL in the query is one more byte to escape.                      */
    s_expect_fill(BRAID_HTTP_ESCAPE_URL, "/{query}/", "a\0b", 3, "/a%00b/");
    s_expect_fill(BRAID_HTTP_ESCAPE_URL, "http://h/fixed", q, strlen(q), "http://h/fixed");
    s_expect_fill(BRAID_HTTP_ESCAPE_URL, "{query", "x", 1, "{query");
    s_expect_fill(BRAID_HTTP_ESCAPE_URL, "{query}", "", 0, "");
    assert_int_equal(braid_http_escape(BRAID_HTTP_ESCAPE_URL, "a b", 3, NULL), 5);
}

static void
test_environment(void **state)
{
    (void) state;
    setenv("BRAID_TEST_HTTP_KEY", "k-123", 1);
    unsetenv("BRAID_TEST_HTTP_NONE");
    char err[128] = "";
    static const char ok[] = "Bearer ${BRAID_TEST_HTTP_KEY}; $x ${BRAID_TEST_HTTP_KEY}$";
    char *got = braid_http_expand_env(ok, strlen(ok), err, sizeof err);
    assert_non_null(got);
    assert_string_equal(got, "Bearer k-123; $x k-123$");
    free(got);
    static const struct {
        const char *text;
        const char *why;
    } bad[] = {
        {"${BRAID_TEST_HTTP_NONE}", "environment variable BRAID_TEST_HTTP_NONE is not set"},
        {"a ${BRAID_TEST_HTTP_KEY", "bad ${NAME} at '${BRAID_TEST_HTTP_KEY'"},
        {"${}", "bad ${NAME} at '${}'"},
        {"${A-B}", "bad ${NAME} at '${A-B}'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(braid_http_expand_env(bad[i].text, strlen(bad[i].text), err, sizeof err));
        assert_string_equal(err, bad[i].why);
    }
}

/*  ---------------------------------------------------------------------
    SSE                                                                    */

/*  Feed text (lines split at '\n', a last piece without one) and expect
    the frames want (joined by '|') and the last step.                     */
static void
s_expect_sse(const char *done, const char *text, const char *want, braid_sse_step_t last)
{
    braid_sse_t *sse = braid_sse_new(done);
    assert_non_null(sse);
    braid_parts_t *out = braid_parts_new();
    braid_sse_step_t step = BRAID_SSE_MORE;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t) (nl - p) + 1 : strlen(p);
        size_t before = braid_parts_size(out);
        step = braid_sse_line(sse, p, len, out);
        assert_int_equal(step == BRAID_SSE_EVENT, braid_parts_size(out) == before + 1);
        p += len;
    }
    char got[512] = "";
    for (size_t i = 0; i < braid_parts_size(out); i++) {
        size_t n = strlen(got), flen;
        const char *f = braid_parts_at(out, i, &flen);
        snprintf(got + n, sizeof got - n, "%s%.*s", n ? "|" : "", (int) flen, f);
    }
    assert_string_equal(got, want);
    assert_int_equal(step, last);
    braid_parts_destroy(&out);
    braid_sse_destroy(&sse);
    assert_null(sse);
}

static void
test_sse(void **state)
{
    (void) state;
    s_expect_sse(NULL, "data: a\n\ndata:b\n\n", "a\n|b\n", BRAID_SSE_EVENT);
    /*  Data lines join; comments, other fields, CRLF, no-data events.     */
    s_expect_sse(NULL,
                 "\xEF\xBB\xBF: hello\r\nevent: x\r\ndata: one\r\ndata:  two\r\nid: 3\r\n\r\n"
                 "event: empty\n\ndata\n\n",
                 "one\n two\n|\n", BRAID_SSE_EVENT);
    /*  The terminator ends it, is not sent, and nothing after it is.      */
    s_expect_sse("[DONE]", "data: {\"t\":1}\n\ndata: [DONE]\n\ndata: late\n\n", "{\"t\":1}\n",
                 BRAID_SSE_DONE);
    /*  An event the stream ends in the middle of is dropped.              */
    s_expect_sse(NULL, "data: a\n\ndata: cut", "a\n", BRAID_SSE_MORE);
    /*  A line that comes in pieces (an overlong one) continues.           */
    s_expect_sse(NULL, "data: ab", "", BRAID_SSE_MORE);

    /*  Data over the bound leaves in pieces.                               */
    braid_sse_t *sse = braid_sse_new(NULL);
    braid_parts_t *out = braid_parts_new();
    size_t big = BRAID_SSE_MAX_DATA;
    char *line = malloc(big + 8);
    assert_non_null(line);
    memcpy(line, "data: ", 6);
    memset(line + 6, 'x', big);
    line[6 + big] = '\n';
    assert_int_equal(braid_sse_line(sse, line, big + 7, out), BRAID_SSE_EVENT);
    assert_int_equal(braid_sse_line(sse, "\n", 1, out), BRAID_SSE_MORE);
    assert_int_equal(braid_parts_size(out), 1);
    free(line);
    braid_parts_destroy(&out);
    braid_sse_destroy(&sse);
}

/*  ---------------------------------------------------------------------
    Runs against the server                                                */

typedef struct {
    char *dir;
    braid_http_server_t *server;
    void *context;
    char base[64];          /* http://127.0.0.1:PORT                       */
} s_fix_t;

static int
s_setup(void **state)
{
    static s_fix_t f;
    char err[128];
    if (!(f.dir = braid_tmpdir_new("braid-test-http")) ||
        !(f.server = braid_http_server_new(f.dir)) ||
        !(f.context = braid_http_kind.open(8, err, sizeof err)))
        return -1;
    snprintf(f.base, sizeof f.base, "http://127.0.0.1:%d", braid_http_server_port(f.server));
    *state = &f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fix_t *f = *state;
    braid_http_kind.close(&f->context);
    assert_null(f->context);
    int rc = braid_http_server_stop(f->server);
    braid_http_server_destroy(&f->server);
    braid_tmpdir_destroy(&f->dir);
    return rc;
}

/*  A source from a config section: "KEYS" after "type = http", every
    %s in keys the server's base URL.                                      */
static braid_source_t *
s_source(s_fix_t *f, const char *keys)
{
    char body[2048], text[2300], err[256] = "";
    snprintf(body, sizeof body, keys, f->base, f->base);
    snprintf(text, sizeof text, "source\n    s\n        type = http\n%s", body);
    braid_conf_t *conf = braid_conf_parse(text, strlen(text), "w.cfg", err, sizeof err);
    assert_non_null(conf);
    braid_source_t *source =
        braid_source_from_conf(braid_conf_child(braid_conf_locate(conf, "source")), err,
                               sizeof err);
    if (!source)
        print_error("%s\n", err);
    braid_conf_destroy(&conf);
    assert_non_null(source);
    assert_ptr_equal(source->kind, &braid_http_kind);
    return source;
}

/*  The context's descriptors in one pass.                                  */
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
    set->fds[set->n] = (struct pollfd){.fd = fd,
                                       .events = (short) ((events & ZMQ_POLLIN ? POLLIN : 0) |
                                                          (events & ZMQ_POLLOUT ? POLLOUT : 0))};
    set->what[set->n++] = what;
    return 0;
}

/*  One pass of a worker's loop for run: poll the context's sockets (at
    most max_wait msec), fire its timer, take at most room partials into
    out (none when room is 0), advance. Returns advance()'s answer.       */
static braid_run_result_t
s_pass(s_fix_t *f, void *run, size_t room, braid_parts_t *out, int max_wait, char *text, size_t size)
{
    const braid_source_kind_t *kind = &braid_http_kind;
    int64_t now = zclock_mono();
    s_fds_t set = {.n = 0};
    kind->context_fds(f->context, s_add, &set);
    int64_t wake = kind->context_wake(f->context, now);
    int64_t run_wake = kind->wake(run, now, room);
    if (run_wake < wake)
        wake = run_wake;
    int timeout = wake == INT64_MAX || wake - now > max_wait ? max_wait
                  : wake > now                               ? (int) (wake - now)
                                                             : 0;
    assert_true(poll(set.fds, set.n, timeout) >= 0);
    now = zclock_mono();
    for (size_t i = 0; i < set.n; i++)
        if (set.fds[i].revents)
            kind->context_ready(f->context, set.what[i],
                                (short) ((set.fds[i].revents & POLLIN ? ZMQ_POLLIN : 0) |
                                         (set.fds[i].revents & POLLOUT ? ZMQ_POLLOUT : 0) |
                                         (set.fds[i].revents & ~(POLLIN | POLLOUT)
                                              ? ZMQ_POLLERR
                                              : 0)),
                                now);
    kind->context_pump(f->context, now);
    if (room)
        kind->produce(run, now, out, room);
    return kind->advance(run, now, room, text, size);
}

/*  A run of source for query, started (it must be).                        */
static void *
s_start(s_fix_t *f, braid_source_t *source, const char *query)
{
    zframe_t *q = zframe_new(query, strlen(query));
    void *run = NULL;
    char text[256] = "";
    braid_run_result_t result = source->kind->start(f->context, source->settings, &q, 1,
                                                    zclock_mono(), &run, text, sizeof text);
    if (result != BRAID_RUN_BUSY)
        fail_msg("the run did not start: %s", text);
    assert_null(q);
    assert_non_null(run);
    return run;
}

/*  What a run came to.                                                     */
typedef struct {
    braid_run_result_t result;
    char text[512];
    uint32_t exit_value;
    uint32_t retry_after_msec;
} s_end_t;

/*  Run source for query to its end, taking at most room partials a pass
    into out.                                                               */
static s_end_t
s_run(s_fix_t *f, braid_source_t *source, const char *query, size_t room, braid_parts_t *out)
{
    const braid_source_kind_t *kind = source->kind;
    s_end_t end = {.result = BRAID_RUN_BUSY};
    void *run = s_start(f, source, query);
    int64_t give_up = zclock_mono() + S_RUN_MSEC;
    while (end.result == BRAID_RUN_BUSY && zclock_mono() < give_up)
        end.result = s_pass(f, run, room, out, 100, end.text, sizeof end.text);
    assert_int_not_equal(end.result, BRAID_RUN_BUSY);
    braid_run_outcome_t outcome = {0};
    kind->outcome(run, &outcome);
    end.exit_value = outcome.exit_value;
    end.retry_after_msec = outcome.retry_after_msec;
    kind->destroy(&run);
    assert_null(run);
    return end;
}

/*  The frames of out (taken), joined by '|'. Owned.                       */
static char *
s_frames(braid_parts_t *out)
{
    size_t cap = 1 + braid_parts_bytes(out) + braid_parts_size(out), len = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t i = 0; i < braid_parts_size(out); i++) {
        size_t flen;
        const void *f = braid_parts_at(out, i, &flen);
        if (len)
            text[len++] = '|';
        memcpy(text + len, f, flen);
        len += flen;
    }
    braid_parts_drop(out, SIZE_MAX);
    text[len] = 0;
    return text;
}

/*  Run keys for query; the outcome must be result with exit value x and
    the partials (joined by '|') want, or (want NULL) any.                 */
static s_end_t
s_expect_run(s_fix_t *f, const char *keys, const char *query, braid_run_result_t result,
             uint32_t x, const char *want)
{
    braid_source_t *source = s_source(f, keys);
    braid_parts_t *out = braid_parts_new();
    s_end_t end = s_run(f, source, query, 16, out);
    char *got = s_frames(out);
    if (end.result != result || end.exit_value != x || (want && strcmp(got, want)))
        print_error("%s: result %d exit %u text '%s' partials '%s'\n", keys, end.result,
                    end.exit_value, end.text, got);
    assert_int_equal(end.result, result);
    assert_int_equal(end.exit_value, x);
    if (want)
        assert_string_equal(got, want);
    free(got);
    braid_parts_destroy(&out);
    braid_source_destroy(&source);
    return end;
}

static void
test_outputs(void **state)
{
    s_fix_t *f = *state;
    s_expect_run(f, "        url = %s/ndjson?q={query}&n=3\n", "a b", BRAID_RUN_OK, 200,
                 "{\"q\": \"a b\", \"i\": 0}\n|{\"q\": \"a b\", \"i\": 1}\n|"
                 "{\"q\": \"a b\", \"i\": 2}\n");
    s_expect_run(f,
                 "        url = \"%s/sse?q={query}&n=2&done=%%5BDONE%%5D\"\n"
                 "        output = sse\n        sse_done = [DONE]\n",
                 "e", BRAID_RUN_OK, 200, "{\"q\": \"e\", \"i\": 0}\n|{\"q\": \"e\", \"i\": 1}\n");
    s_expect_run(f, "        url = %s/big?bytes=300000\n        output = chunks\n", "",
                 BRAID_RUN_OK, 200, NULL);
    /*  POST: the body template, JSON-escaped, echoed back.                 */
    s_expect_run(f, "        url = %s/echo\n        body = '{\"q\": \"{query}\"}'\n", "say \"hi\"",
                 BRAID_RUN_OK, 200, "{\"q\": \"say \\\"hi\\\"\"}");
    /*  A header from the environment; an SSE source asks for the stream.  */
    setenv("BRAID_TEST_HTTP_KEY", "k-123", 1);
    s_expect_run(f,
                 "        url = %s/headers\n        output = sse\n        header\n"
                 "            X-Key = ${BRAID_TEST_HTTP_KEY}\n",
                 "", BRAID_RUN_OK, 200, "");
    braid_source_t *source = s_source(f, "        url = %s/headers\n        header\n"
                                         "            X-Key = \"v ${BRAID_TEST_HTTP_KEY}\"\n");
    braid_parts_t *out = braid_parts_new();
    s_end_t end = s_run(f, source, "", 16, out);
    char *got = s_frames(out);
    assert_int_equal(end.result, BRAID_RUN_OK);
    assert_non_null(strstr(got, "\"x-key\": \"v k-123\""));
    assert_non_null(strstr(got, "\"user-agent\": \"braid-worker/"));
    free(got);
    braid_parts_destroy(&out);
    braid_source_destroy(&source);
}

static void
test_statuses(void **state)
{
    s_fix_t *f = *state;
    s_end_t end = s_expect_run(f, "        url = %s/nowhere?q={query}\n", "x", BRAID_RUN_FAILED,
                               404, "");
    assert_string_equal(end.text, "HTTP/1.1 404 Not Found: no such endpoint");
    end = s_expect_run(f, "        url = \"%s/status?q={query}&code=429&retry_after=2\"\n", "t1",
                       BRAID_RUN_TRANSIENT, 429, "");
    assert_string_equal(end.text, "HTTP/1.1 429 Too Many Requests: status 429 for t1");
    assert_int_equal(end.retry_after_msec, 2000);
    end = s_expect_run(f, "        url = \"%s/status?q={query}&code=503\"\n", "t2",
                       BRAID_RUN_TRANSIENT, 503, "");
    assert_int_equal(end.retry_after_msec, 0);
    end = s_expect_run(f, "        url = \"%s/status?q={query}&code=400\"\n", "t3",
                       BRAID_RUN_FAILED, 400, "");
    assert_string_equal(end.text, "HTTP/1.1 400 Bad Request: status 400 for t3");
    /*  Over the size limit: failed, not retried.                          */
    end = s_expect_run(f, "        url = %s/big?bytes=100000\n        max_response_bytes = 5000\n",
                       "", BRAID_RUN_FAILED, 200, NULL);
    assert_string_equal(end.text, "response over max_response_bytes (5000)");
    /*  Nobody listens: transient, no status.                               */
    int port = braid_free_port();
    assert_true(port > 0);
    char keys[128];
    snprintf(keys, sizeof keys, "        url = http://127.0.0.1:%d/x\n", port);
    end = s_expect_run(f, keys, "", BRAID_RUN_TRANSIENT, 0, "");
    assert_non_null(strstr(end.text, "Couldn't connect to server"));
}

/*  Nothing taken: the transfer pauses, and the server stops getting bytes
    out well short of the whole body; then everything arrives intact.     */
static void
test_pause(void **state)
{
    s_fix_t *f = *state;
    const long long total = 32ll << 20;
    braid_source_t *source =
        s_source(f, "        url = %s/big?bytes=33554432\n        output = chunks\n");
    assert_int_equal(braid_http_server_reset(f->server), 0);
    void *run = s_start(f, source, "");
    char text[256];
    braid_parts_t *out = braid_parts_new();
    long long last = -1;
    int still = 0;
    int64_t give_up = zclock_mono() + S_RUN_MSEC;
    while (still < 10 && zclock_mono() < give_up) {
        for (int i = 0; i < 5; i++)
            assert_int_equal(s_pass(f, run, 0, out, 20, text, sizeof text), BRAID_RUN_BUSY);
        json_t *stats = braid_http_server_stats(f->server);
        assert_non_null(stats);
        long long sent = braid_http_server_stat(stats, "big_sent");
        json_decref(stats);
        still = sent == last ? still + 1 : 0;
        last = sent;
    }
    print_message("nothing taken: the server stopped at %lld of %lld bytes\n", last, total);
    assert_int_equal(still, 10);
    assert_true(last < total / 2);
    assert_int_equal(braid_parts_size(out), 0);
    /*  Taken again: every byte, in order.                                  */
    long long got = 0;
    braid_run_result_t result = BRAID_RUN_BUSY;
    while (result == BRAID_RUN_BUSY && zclock_mono() < give_up) {
        result = s_pass(f, run, 4, out, 100, text, sizeof text);
        for (size_t k = 0; k < braid_parts_size(out); k++) {
            size_t flen;
            const unsigned char *b = braid_parts_at(out, k, &flen);
            for (size_t i = 0; i < flen; i++)
                if (b[i] != (unsigned char) ((got + (long long) i) & 0xff))
                    fail_msg("byte %lld is wrong", got + (long long) i);
            got += (long long) flen;
        }
        braid_parts_drop(out, SIZE_MAX);
    }
    assert_int_equal(result, BRAID_RUN_OK);
    assert_int_equal(got, total);
    braid_parts_destroy(&out);
    braid_http_kind.destroy(&run);
    braid_source_destroy(&source);
}

/*  stop() ends a transfer at once: over, and its socket no longer polled. */
static void
test_stop(void **state)
{
    s_fix_t *f = *state;
    braid_source_t *source =
        s_source(f, "        url = \"%s/ndjson?q={query}&n=1000&interval_ms=50\"\n");
    void *run = s_start(f, source, "s");
    char text[256];
    braid_parts_t *out = braid_parts_new();
    int64_t give_up = zclock_mono() + S_RUN_MSEC;
    while (braid_parts_size(out) < 2 && zclock_mono() < give_up)
        assert_int_equal(s_pass(f, run, 16, out, 100, text, sizeof text), BRAID_RUN_BUSY);
    assert_int_equal(braid_parts_size(out), 2);
    assert_int_equal(braid_http_kind.stop(run, zclock_mono()), BRAID_RUN_STOPPED);
    assert_int_equal(braid_http_kind.advance(run, zclock_mono(), 16, text, sizeof text),
                     BRAID_RUN_STOPPED);
    braid_http_kind.destroy(&run);
    s_fds_t set = {.n = 0};
    braid_http_kind.context_fds(f->context, s_add, &set);
    assert_int_equal(set.n, 0);
    braid_parts_destroy(&out);
    braid_source_destroy(&source);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_sse),
        cmocka_unit_test(test_outputs),
        cmocka_unit_test(test_statuses),
        cmocka_unit_test(test_pause),
        cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests_name("http", tests, s_setup, s_teardown);
}
