/*  test_render.c - the CLI's output (client/render.c): the JSON string
    writer, the terminal text writer, each event in text and JSON mode,
    tags, the queries' numbers, the progress line (also on the output's
    own screen), a failed output, and the stats summary.                   */

#include "render.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*  An output captured in memory.                                           */
typedef struct {
    char *text;
    size_t len;
    FILE *file;
} t_buf_t;

static void
s_open(t_buf_t *buf)
{
    buf->text = NULL;
    buf->len = 0;
    buf->file = open_memstream(&buf->text, &buf->len);
    assert_non_null(buf->file);
}

/*  Close and compare with want (then free).                                */
static void
s_expect(t_buf_t *buf, const char *want)
{
    fclose(buf->file);
    if (buf->len != strlen(want) || memcmp(buf->text, want, buf->len) != 0)
        fail_msg("got [%.*s], want [%s]", (int) buf->len, buf->text, want);
    free(buf->text);
}

/*  The JSON string of size bytes at data.                                  */
static void
s_expect_json(const char *data, size_t size, const char *want)
{
    t_buf_t buf;
    s_open(&buf);
    braid_render_json_string(buf.file, data, size);
    s_expect(&buf, want);
}

static void
test_json_string(void **state)
{
    (void) state;
    s_expect_json("", 0, "\"\"");
    s_expect_json("plain text", 10, "\"plain text\"");
    s_expect_json("q\"b\\s", 5, "\"q\\\"b\\\\s\"");
    s_expect_json("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    s_expect_json("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    s_expect_json("a\0b", 3, "\"a\\u0000b\"");
    /*  Valid UTF-8 goes as it is, 2, 3 and 4 bytes.                        */
    s_expect_json("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9,
                  "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
}

/*  In a text string, bytes that are not UTF-8 are written \ufffd, one by
    one (a payload never gets here: it goes to data_b64).                   */
static void
test_json_string_not_utf8(void **state)
{
    (void) state;
    s_expect_json("\xff", 1, "\"\\ufffd\"");
    s_expect_json("\xc3", 1, "\"\\ufffd\"");                 /* truncated  */
    s_expect_json("\xc3(", 2, "\"\\ufffd(\"");               /* bad second */
    s_expect_json("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");      /* overlong   */
    s_expect_json("\xe0\x80\xaf", 3, "\"\\ufffd\\ufffd\\ufffd\"");
    s_expect_json("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"");  /* surrogate */
    s_expect_json("\xf4\x90\x80\x80", 4, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    s_expect_json("\xe2\x82", 2, "\"\\ufffd\\ufffd\"");
    s_expect_json("a\x80z", 3, "\"a\\ufffdz\"");
}

static void
test_text(void **state)
{
    (void) state;
    t_buf_t buf;
    s_open(&buf);
    braid_render_text(buf.file, "a\tb\nc\x1b[2J\x7f\xc3\xa9", 12, false);
    s_expect(&buf, "a\\x09b\\x0ac\\x1b[2J\\x7f\xc3\xa9");
    s_open(&buf);
    braid_render_text(buf.file, "a\tb\nc\r", 6, true);
    s_expect(&buf, "a\tb\nc\\x0d");
}

/*  A renderer over two captured outputs.                                   */
typedef struct {
    t_buf_t out, err;
    braid_render_t *render;
} t_run_t;

static void
s_run_open(t_run_t *run, braid_render_mode_t mode)
{
    s_open(&run->out);
    s_open(&run->err);
    run->render = braid_render_new(run->out.file, run->err.file, mode);
    assert_non_null(run->render);
}

static void
s_run_expect(t_run_t *run, const char *want_out, const char *want_err)
{
    braid_render_destroy(&run->render);
    assert_null(run->render);
    s_expect(&run->out, want_out);
    s_expect(&run->err, want_err);
}

static braid_event_t
s_partial(uint32_t query, const char *source, uint64_t seq, const char *data)
{
    braid_event_t ev = {.type = BRAID_EVENT_PARTIAL, .query = query, .source_name = source,
                        .query_data = "q", .query_size = 1, .seq = seq, .data = data,
                        .size = strlen(data), .text = ""};
    return ev;
}

static braid_event_t
s_end(uint32_t query, const char *source, braid_end_status_t status, const char *text)
{
    braid_event_t ev = {.type = BRAID_EVENT_END, .query = query, .source_name = source,
                        .query_data = "cat\x1b", .query_size = 4, .status = status, .parts = 2,
                        .attempts = 1, .text = text};
    return ev;
}

static void
test_text_mode(void **state)
{
    (void) state;
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_TEXT);
    braid_event_t ev = s_partial(0, "web", 0, "one\n");
    braid_render_event(run.render, &ev);
    ev = s_end(0, "web", BRAID_END_OK, "");
    braid_render_event(run.render, &ev);
    ev = s_partial(1, "web", 0, "two");
    braid_render_event(run.render, &ev);
    /*  The failure follows what went to out before it; trailing newlines
        of the error text go, inner ones stay.                             */
    ev = s_end(1, "web", BRAID_END_FAILED, "exit 3\nboom\n\n");
    braid_render_event(run.render, &ev);
    ev = s_end(2, "docs", BRAID_END_TIMEOUT, "");
    braid_render_event(run.render, &ev);
    braid_event_t restart = {.type = BRAID_EVENT_RESTART, .query = 3, .source_name = "web",
                             .query_data = NULL, .attempts = 2, .text = ""};
    braid_render_event(run.render, &restart);
    braid_event_t job = {.type = BRAID_EVENT_JOB_END, .status = BRAID_END_FAILED, .text = ""};
    braid_render_event(run.render, &job);

    const braid_render_tally_t *tally = braid_render_tally(run.render);
    assert_int_equal(tally->ended, 3);
    assert_int_equal(tally->not_ok, 2);
    assert_true(tally->job_ended);
    assert_int_equal(tally->job_status, BRAID_END_FAILED);
    assert_int_equal(tally->error_code, 0);
    assert_false(tally->write_failed);
    s_run_expect(&run, "one\ntwo",
                 "braid: query 1 (cat\\x1b) source web: failed: exit 3\\x0aboom\n"
                 "braid: query 2 (cat\\x1b) source docs: timeout\n"
                 "braid: query 3 () source web: restarted (attempt 2)\n");
}

/*  Cancelled tasks are no failure once we asked for the cancel.            */
static void
test_text_cancelling(void **state)
{
    (void) state;
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_TEXT);
    braid_event_t ev = s_end(0, "web", BRAID_END_CANCELLED, "cancelled");
    braid_render_event(run.render, &ev);
    braid_render_set_cancelling(run.render);
    braid_render_event(run.render, &ev);
    ev = s_end(1, "web", BRAID_END_FAILED, "");
    braid_render_event(run.render, &ev);
    assert_int_equal(braid_render_tally(run.render)->not_ok, 3);
    s_run_expect(&run, "",
                 "braid: query 0 (cat\\x1b) source web: cancelled: cancelled\n"
                 "braid: query 1 (cat\\x1b) source web: failed\n");
}

static void
test_errors(void **state)
{
    (void) state;
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_JSON);
    braid_event_t ev = {.type = BRAID_EVENT_ERROR, .code = BRAID_CLIENT_ERR_TOO_MANY,
                        .text = "too many jobs", .source_name = ""};
    braid_render_event(run.render, &ev);
    assert_int_equal(braid_render_tally(run.render)->error_code, BRAID_CLIENT_ERR_TOO_MANY);
    ev.code = BRAID_CLIENT_ERR_GAP;
    ev.text = "lost messages";
    braid_render_event(run.render, &ev);
    assert_int_equal(braid_render_tally(run.render)->error_code, BRAID_CLIENT_ERR_GAP);
    /*  The next job of the run starts with a clean tally, and names its
        broker.                                                             */
    braid_render_next_job(run.render);
    assert_int_equal(braid_render_tally(run.render)->error_code, 0);
    braid_render_set_endpoint(run.render, "tcp://b:1");
    ev.code = BRAID_CLIENT_ERR_BAD_REQUEST;
    ev.text = "no worker serves source 'x'";
    braid_render_event(run.render, &ev);
    /*  A broker's text is escaped: it cannot start a line of its own.      */
    ev.text = "bad\nbraid: query 7 (x) ok\x1b[2J";
    braid_render_event(run.render, &ev);
    s_run_expect(&run, "",
                 "braid: job refused by the broker: 429 too many jobs\n"
                 "braid: lost messages\n"
                 "braid: job refused by tcp://b:1: 400 no worker serves source 'x'\n"
                 "braid: job refused by tcp://b:1: 400 bad\\x0abraid: query 7 (x) ok"
                 "\\x1b[2J\n");
}

static void
test_json_mode(void **state)
{
    (void) state;
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_JSON);
    braid_event_t ev = s_partial(0, "web", 7, "a \"b\"\n\xff");
    braid_render_event(run.render, &ev);
    ev = s_end(0, "web", BRAID_END_FAILED, "exit 3\n");
    ev.duplicates = 1;
    braid_render_event(run.render, &ev);
    braid_event_t restart = {.type = BRAID_EVENT_RESTART, .query = 1, .source_name = "docs",
                             .attempts = 2, .text = ""};
    braid_render_event(run.render, &restart);
    const char *names[] = {"web", "docs"};
    const uint64_t summary[2][BRAID_END_STATUS_COUNT] = {{1, 2, 3, 4}, {5, 0, 0, 6}};
    braid_event_t job = {.type = BRAID_EVENT_JOB_END, .status = BRAID_END_CANCELLED,
                         .text = "", .nsources = 2, .source_names = names, .summary = summary};
    braid_render_event(run.render, &job);
    s_run_expect(
        &run,
        "{\"type\":\"partial\",\"query\":0,\"text\":\"q\",\"source\":\"web\",\"seq\":7,"
        "\"data_b64\":\"YSAiYiIK/w==\"}\n"
        "{\"type\":\"end\",\"query\":0,\"text\":\"cat\\u001b\",\"source\":\"web\","
        "\"status\":\"failed\",\"parts\":2,\"duplicates\":1,\"attempts\":1,"
        "\"error\":\"exit 3\\n\"}\n"
        "{\"type\":\"restart\",\"query\":1,\"text\":\"\",\"source\":\"docs\",\"attempt\":2}\n"
        "{\"type\":\"job\",\"status\":\"cancelled\",\"sources\":{"
        "\"web\":{\"ok\":1,\"failed\":2,\"timeout\":3,\"cancelled\":4},"
        "\"docs\":{\"ok\":5,\"failed\":0,\"timeout\":0,\"cancelled\":6}}}\n",
        "");
}

/*  --json is lossless: valid UTF-8 (NUL and ESC included) stays "data",
    anything else is "data_b64", padded for each length; a query that is
    not UTF-8 is "text_b64".                                                */
static void
test_json_bytes(void **state)
{
    (void) state;
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_JSON);
    static const struct {
        const char *data;
        size_t size;
    } parts[] = {
        {"a\0\x1b\xc3\xa9", 5}, {"\xff", 1}, {"\xff\0", 2}, {"\xff\0\x1b", 3},
        {"\xff\0\x1bz", 4}, {"", 0},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        braid_event_t ev = s_partial(0, "web", i, "");
        ev.data = parts[i].data;
        ev.size = parts[i].size;
        braid_render_event(run.render, &ev);
    }
    braid_event_t ev = s_partial(1, "web", 0, "x");
    ev.query_data = "\xfe";
    braid_render_event(run.render, &ev);
    s_run_expect(&run,
                 "{\"type\":\"partial\",\"query\":0,\"text\":\"q\",\"source\":\"web\",\"seq\":0,"
                 "\"data\":\"a\\u0000\\u001b\xc3\xa9\"}\n"
                 "{\"type\":\"partial\",\"query\":0,\"text\":\"q\",\"source\":\"web\",\"seq\":1,"
                 "\"data_b64\":\"/w==\"}\n"
                 "{\"type\":\"partial\",\"query\":0,\"text\":\"q\",\"source\":\"web\",\"seq\":2,"
                 "\"data_b64\":\"/wA=\"}\n"
                 "{\"type\":\"partial\",\"query\":0,\"text\":\"q\",\"source\":\"web\",\"seq\":3,"
                 "\"data_b64\":\"/wAb\"}\n"
                 "{\"type\":\"partial\",\"query\":0,\"text\":\"q\",\"source\":\"web\",\"seq\":4,"
                 "\"data_b64\":\"/wAbeg==\"}\n"
                 "{\"type\":\"partial\",\"query\":0,\"text\":\"q\",\"source\":\"web\",\"seq\":5,"
                 "\"data\":\"\"}\n"
                 "{\"type\":\"partial\",\"query\":1,\"text_b64\":\"/g==\",\"source\":\"web\","
                 "\"seq\":0,\"data\":\"x\"}\n",
                 "");
}

/*  A job with no query: its job line has rows of zeros.                    */
static void
test_json_empty_job(void **state)
{
    (void) state;
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_JSON);
    const char *names[] = {"a", "b"};
    braid_event_t job = {.type = BRAID_EVENT_JOB_END, .status = BRAID_END_OK, .text = "",
                         .nsources = 2, .source_names = names};
    braid_render_event(run.render, &job);
    s_run_expect(&run,
                 "{\"type\":\"job\",\"status\":\"ok\",\"sources\":{"
                 "\"a\":{\"ok\":0,\"failed\":0,\"timeout\":0,\"cancelled\":0},"
                 "\"b\":{\"ok\":0,\"failed\":0,\"timeout\":0,\"cancelled\":0}}}\n",
                 "");
    s_run_open(&run, BRAID_RENDER_TEXT);
    braid_render_event(run.render, &job);
    s_run_expect(&run, "", "");
}

/*  The progress line is cleared before any other line on err, and drawn
    at most every 200 msec unless forced; the rate and ETA count from the
    start given.                                                            */
static void
test_progress(void **state)
{
    (void) state;
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_TEXT);
    braid_render_progress(run.render, 0, true);    /* not asked for: nothing */
    braid_render_set_progress(run.render, 4, 1000, false);
    braid_render_progress(run.render, 1000, false);
    braid_render_progress(run.render, 1199, false);    /* too soon: nothing  */
    braid_event_t ev = s_end(0, "web", BRAID_END_FAILED, "");
    braid_render_event(run.render, &ev);
    braid_render_progress(run.render, 3000, false);
    braid_render_progress(run.render, 3001, true);
    braid_render_progress_clear(run.render);
    braid_render_progress_clear(run.render);   /* shown no more: nothing   */
    s_run_expect(&run, "",
                 "\r\033[Kbraid: 0/4 tasks done, 0 not ok, -/s, ETA -"
                 "\r\033[Kbraid: query 0 (cat\\x1b) source web: failed\n"
                 "\r\033[Kbraid: 1/4 tasks done, 1 not ok, 0.5/s, ETA 6.0s"
                 "\r\033[Kbraid: 1/4 tasks done, 1 not ok, 0.5/s, ETA 6.0s"
                 "\r\033[K");
}

/*  When out is the same screen, the line makes way for output, and out is
    flushed before the line comes back.                                     */
static void
test_progress_same_screen(void **state)
{
    (void) state;
    char *text = NULL;
    size_t len = 0;
    FILE *screen = open_memstream(&text, &len);
    assert_non_null(screen);
    braid_render_t *render = braid_render_new(screen, screen, BRAID_RENDER_TEXT);
    assert_non_null(render);
    braid_render_set_progress(render, 2, 0, true);
    braid_render_progress(render, 0, true);
    braid_event_t ev = s_partial(0, "web", 0, "one\n");
    braid_render_event(render, &ev);
    braid_render_progress(render, 500, false);
    braid_render_destroy(&render);
    fclose(screen);
    assert_string_equal(text, "\r\033[Kbraid: 0/2 tasks done, 0 not ok, -/s, ETA -"
                              "\r\033[K"
                              "one\n"
                              "\r\033[Kbraid: 0/2 tasks done, 0 not ok, -/s, ETA -");
    free(text);
}

/*  Tags: the query and a tab in front of every line, the source too when
    asked; a task that ends in mid-line is ended before another's output;
    control bytes of the query escaped.                                     */
static void
test_tag(void **state)
{
    (void) state;
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_TEXT);
    braid_render_set_tag(run.render, false);
    braid_event_t ev = s_partial(0, "web", 0, "one\ntwo\nthr");
    braid_render_event(run.render, &ev);
    ev = s_partial(0, "web", 1, "ee\n");
    braid_render_event(run.render, &ev);
    ev = s_partial(1, "web", 0, "");
    braid_render_event(run.render, &ev);
    ev = s_partial(1, "web", 1, "x");
    ev.query_data = "a\tb";
    ev.query_size = 3;
    braid_render_event(run.render, &ev);
    ev = s_partial(2, "web", 0, "y\n");
    braid_render_event(run.render, &ev);
    s_run_expect(&run, "q\tone\nq\ttwo\nq\tthree\na\\x09b\tx\nq\ty\n", "");

    s_run_open(&run, BRAID_RENDER_TEXT);
    braid_render_set_tag(run.render, true);
    ev = s_partial(0, "web", 0, "1\n");
    braid_render_event(run.render, &ev);
    ev = s_partial(0, "docs", 0, "2\n3\n");
    ev.source = 1;
    braid_render_event(run.render, &ev);
    s_run_expect(&run, "q\tweb\t1\nq\tdocs\t2\nq\tdocs\t3\n", "");
}

/*  The numbers shown are the caller's (the CLI's input lines).             */
static void
test_numbers(void **state)
{
    (void) state;
    static const uint32_t numbers[] = {4, 9};
    t_run_t run;
    s_run_open(&run, BRAID_RENDER_JSON);
    braid_render_set_numbers(run.render, numbers);
    braid_event_t ev = s_end(1, "web", BRAID_END_OK, "");
    braid_render_event(run.render, &ev);
    s_run_expect(&run,
                 "{\"type\":\"end\",\"query\":9,\"text\":\"cat\\u001b\",\"source\":\"web\","
                 "\"status\":\"ok\",\"parts\":2,\"duplicates\":0,\"attempts\":1,\"error\":\"\"}\n",
                 "");
    s_run_open(&run, BRAID_RENDER_TEXT);
    braid_render_set_numbers(run.render, numbers);
    ev = s_end(0, "web", BRAID_END_FAILED, "");
    braid_render_event(run.render, &ev);
    s_run_expect(&run, "", "braid: query 4 (cat\\x1b) source web: failed\n");
}

/*  A failed output stops the output for good and says so (not for EPIPE). */
static void
test_write_failed(void **state)
{
    (void) state;
    FILE *full = fopen("/dev/full", "w");
    if (!full)
        skip();
    t_buf_t err;
    s_open(&err);
    braid_render_t *render = braid_render_new(full, err.file, BRAID_RENDER_TEXT);
    braid_event_t ev = s_partial(0, "web", 0, "data");
    braid_render_event(render, &ev);
    braid_render_flush(render);
    assert_true(braid_render_tally(render)->write_failed);
    assert_int_equal(braid_render_tally(render)->write_errno, ENOSPC);
    ev = s_end(0, "web", BRAID_END_FAILED, "");
    braid_render_event(render, &ev);       /* not counted, not written     */
    braid_render_flush(render);            /* said once                    */
    assert_int_equal(braid_render_tally(render)->ended, 0);
    braid_render_destroy(&render);
    fclose(full);
    s_expect(&err, "braid: stdout: No space left on device\n");
}

static void
s_expect_stats(const char *json, int want_rc, const char *want)
{
    t_buf_t buf;
    s_open(&buf);
    assert_int_equal(braid_render_stats(buf.file, json, strlen(json)), want_rc);
    s_expect(&buf, want);
}

static void
test_stats(void **state)
{
    (void) state;
    /*  The broker's shape: members in its order, nested objects summarised,
        other objects and arrays left out.                                  */
    s_expect_stats("{\"workers\":2,\"slots\":8,\"draining\":false,\"name\":\"b\\u00e9\","
                   "\"sources\":{\"web\":{\"queued\":3,\"running\":1},\"docs\":{}},"
                   "\"dropped\":{\"empty\":0,\"msgpack\":2,\"stale\":5},\"rejected\":1,"
                   "\"other\":{\"x\":1},\"list\":[1,2],\"none\":null}",
                   0,
                   "braidd stats:\n"
                   "  workers: 2\n"
                   "  slots: 8\n"
                   "  draining: false\n"
                   "  name: \"b\xc3\xa9\"\n"
                   "  source web: queued 3, running 1\n"
                   "  source docs: \n"
                   "  dropped: 7 (msgpack 2, stale 5)\n"
                   "  rejected: 1\n"
                   "  none: null\n");
    s_expect_stats("{\"dropped\":{\"empty\":0},\"sources\":{}}", 0,
                   "braidd stats:\n  dropped: 0\n");
    s_expect_stats("{\"sources\":5}", 0, "braidd stats:\n  sources: 5\n");
    s_expect_stats("{}", 0, "braidd stats:\n");
    s_expect_stats("[1]", -1, "braidd stats:\n");
    s_expect_stats("{\"a\":1", -1, "braidd stats:\n");
    s_expect_stats("{\"a\":1} x", -1, "braidd stats:\n");
    s_expect_stats("", -1, "braidd stats:\n");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_json_string_not_utf8),
        cmocka_unit_test(test_json_bytes),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_mode),
        cmocka_unit_test(test_text_cancelling),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_json_mode),
        cmocka_unit_test(test_json_empty_job),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_progress_same_screen),
        cmocka_unit_test(test_tag),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_write_failed),
        cmocka_unit_test(test_stats),
    };
    return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
