/*  test_joblog.c - the CLI's job log (client/joblog.c): the lines written
    for a job's events (columns, bytes per task across interleaved tasks
    and a restart, cancelled tasks left out, escaped queries), truncating
    and appending, a line cut short by a crash, and reading back: every
    line as written, and one test per malformed line.                      */

#include "joblog.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define H BRAID_JOBLOG_HEADER "\n"

/*  A temp file's path, per test.                                           */
static int
s_setup(void **state)
{
    char *path = strdup("/tmp/braid-test-joblog-XXXXXX");
    int fd = path ? mkstemp(path) : -1;
    if (fd < 0)
        return -1;
    close(fd);
    unlink(path);       /* the tests create it, or find it missing          */
    *state = path;
    return 0;
}

static int
s_teardown(void **state)
{
    unlink(*state);
    free(*state);
    return 0;
}

static void
s_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/*  The whole file, owned.                                                  */
static char *
s_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

static void
s_expect_file(const char *path, const char *want)
{
    char *got = s_read_file(path);
    if (strcmp(got, want) != 0)
        fail_msg("got [%s]\nwant [%s]", got, want);
    free(got);
}

static braid_event_t
s_partial(uint32_t query, uint32_t source, const char *data)
{
    braid_event_t ev = {.type = BRAID_EVENT_PARTIAL, .query = query, .source = source,
                        .data = data, .size = strlen(data), .text = "", .worker = ""};
    return ev;
}

static braid_event_t
s_end(uint32_t query, uint32_t source, const char *name, const char *text,
      braid_end_status_t status)
{
    braid_event_t ev = {.type = BRAID_EVENT_END, .query = query, .source = source,
                        .source_name = name, .query_data = text, .query_size = strlen(text),
                        .status = status, .parts = 2, .attempts = 1, .text = "",
                        .worker = ""};
    return ev;
}

/*  Two tasks interleaved (arrival order), one restarted, one cancelled,
    one with the broker's facts, a query that needs escapes.                */
static void
test_write(void **state)
{
    const char *path = *state;
    braid_joblog_t *log = braid_joblog_open(path, false);
    assert_non_null(log);
    s_expect_file(path, H);     /* the header goes out at once             */
    braid_event_t ev = s_partial(0, 0, "abc");
    assert_int_equal(braid_joblog_event(log, &ev, 4), 0);
    ev = s_partial(1, 1, "1234567");
    assert_int_equal(braid_joblog_event(log, &ev, 9), 0);
    ev = s_partial(0, 0, "de");
    assert_int_equal(braid_joblog_event(log, &ev, 4), 0);
    ev = s_end(0, 0, "web", "cats", BRAID_END_OK);
    ev.worker = "w1";
    ev.started_msec = 1700000000123ull;
    ev.queue_msec = 5;
    ev.run_msec = 61234;
    ev.attempts = 3;
    ev.parts = 2;
    assert_int_equal(braid_joblog_event(log, &ev, 4), 0);
    /*  A restart: the partials that follow replace the ones counted.      */
    ev = (braid_event_t) {.type = BRAID_EVENT_RESTART, .query = 1, .source = 1, .attempts = 2};
    assert_int_equal(braid_joblog_event(log, &ev, 9), 0);
    ev = s_partial(1, 1, "xy");
    assert_int_equal(braid_joblog_event(log, &ev, 9), 0);
    ev = s_end(1, 1, "docs", "a\tb\\c\nd\x01", BRAID_END_FAILED);
    ev.exit_value = 137;
    assert_int_equal(braid_joblog_event(log, &ev, 9), 0);
    /*  Cancelled: not logged; ends without partials: 0 bytes.             */
    ev = s_partial(2, 0, "zzz");
    assert_int_equal(braid_joblog_event(log, &ev, 10), 0);
    ev = s_end(2, 0, "web", "dogs", BRAID_END_CANCELLED);
    assert_int_equal(braid_joblog_event(log, &ev, 10), 0);
    ev = s_end(3, 0, "web", "", BRAID_END_TIMEOUT);
    assert_int_equal(braid_joblog_event(log, &ev, 11), 0);
    ev = (braid_event_t) {.type = BRAID_EVENT_JOB_END};
    assert_int_equal(braid_joblog_event(log, &ev, 0), 0);
    assert_int_equal(braid_joblog_destroy(&log), 0);
    assert_null(log);
    assert_int_equal(braid_joblog_destroy(&log), 0);  /* NULL-safe         */
    s_expect_file(path, H "4\tw1\t1700000000.123\t0.005\t61.234\t3\t2\t5\tok\t0\tweb\tcats\n"
                          "9\t-\t0.000\t0.000\t0.000\t1\t2\t2\tfailed\t137\tdocs\t"
                          "a\\tb\\\\c\\nd\\x01\n"
                          "11\t-\t0.000\t0.000\t0.000\t1\t2\t0\ttimeout\t0\tweb\t\n");
}

/*  Many tasks stream at once: each keeps its own count (the table grows
    and closes its gaps).                                                   */
static void
test_many_tasks(void **state)
{
    const char *path = *state;
    braid_joblog_t *log = braid_joblog_open(path, false);
    assert_non_null(log);
    for (int round = 0; round < 3; round++)
        for (uint32_t q = 0; q < 500; q++) {
            braid_event_t ev = s_partial(q, q % 3, "0123456789");
            ev.size = q % 10 + 1;
            assert_int_equal(braid_joblog_event(log, &ev, q), 0);
        }
    for (uint32_t q = 0; q < 500; q += 2) {     /* every other one ends     */
        braid_event_t ev = s_end(q, q % 3, "s", "q", BRAID_END_OK);
        assert_int_equal(braid_joblog_event(log, &ev, q), 0);
    }
    for (uint32_t q = 1; q < 500; q += 2) {
        braid_event_t ev = s_end(q, q % 3, "s", "q", BRAID_END_OK);
        assert_int_equal(braid_joblog_event(log, &ev, q), 0);
    }
    assert_int_equal(braid_joblog_destroy(&log), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned seq;
        unsigned long long bytes;
        assert_int_equal(sscanf(line, "%u\t-\t0.000\t0.000\t0.000\t1\t2\t%llu\t", &seq, &bytes),
                         2);
        assert_int_equal(bytes, 3 * (seq % 10 + 1));
        n++;
    }
    fclose(f);
    assert_int_equal(n, 500);
}

/*  A new job's indexes are its own: counts do not carry over.              */
static void
test_next_job(void **state)
{
    const char *path = *state;
    braid_joblog_t *log = braid_joblog_open(path, false);
    assert_non_null(log);
    braid_event_t ev = s_partial(0, 0, "abc");
    assert_int_equal(braid_joblog_event(log, &ev, 0), 0);
    braid_joblog_next_job(log);
    ev = s_end(0, 0, "web", "q", BRAID_END_OK);
    assert_int_equal(braid_joblog_event(log, &ev, 7), 0);
    assert_int_equal(braid_joblog_destroy(&log), 0);
    s_expect_file(path, H "7\t-\t0.000\t0.000\t0.000\t1\t2\t0\tok\t0\tweb\tq\n");
}

/*  Without append the file starts over; with it the lines are kept, a last
    line cut short is dropped, and no second header is written.            */
static void
test_truncate_and_append(void **state)
{
    const char *path = *state;
    s_write_file(path, "old stuff\n");
    braid_joblog_t *log = braid_joblog_open(path, false);
    assert_non_null(log);
    assert_int_equal(braid_joblog_destroy(&log), 0);
    s_expect_file(path, H);

    s_write_file(path, H "1\t-\t0.000\t0.000\t0.000\t1\t2\t0\tok\t0\tweb\tq\n2\t-\t0.0");
    log = braid_joblog_open(path, true);
    assert_non_null(log);
    braid_event_t ev = s_end(0, 0, "web", "r", BRAID_END_OK);
    assert_int_equal(braid_joblog_event(log, &ev, 2), 0);
    assert_int_equal(braid_joblog_destroy(&log), 0);
    s_expect_file(path, H "1\t-\t0.000\t0.000\t0.000\t1\t2\t0\tok\t0\tweb\tq\n"
                          "2\t-\t0.000\t0.000\t0.000\t1\t2\t0\tok\t0\tweb\tr\n");

    /*  Appending to a file that does not exist starts it with a header.   */
    unlink(path);
    log = braid_joblog_open(path, true);
    assert_non_null(log);
    assert_int_equal(braid_joblog_destroy(&log), 0);
    s_expect_file(path, H);
    /*  A directory cannot be a job log; a full disk says so at once.       */
    assert_null(braid_joblog_open("/", false));
    errno = 0;
    assert_null(braid_joblog_open("/dev/full", false));
    assert_int_equal(errno, ENOSPC);
}

/*  What reading collects.                                                  */
typedef struct {
    int n;
    char text[1024];
    int stop_at;                /* return -1 at this line, or 0            */
} t_seen_t;

static int
s_collect(const braid_joblog_entry_t *e, void *arg, char *error, size_t error_size)
{
    t_seen_t *seen = arg;
    seen->n++;
    size_t len = strlen(seen->text);
    len += (size_t) snprintf(seen->text + len, sizeof seen->text - len, "%zu:%u:%s:%s:", e->line,
                             e->seq, e->source, braid_end_status_name(e->status));
    memcpy(seen->text + len, e->query, e->query_size);
    seen->text[len + e->query_size] = '|';
    seen->text[len + e->query_size + 1] = 0;
    if (seen->stop_at && (int) e->line == seen->stop_at) {
        snprintf(error, error_size, "stopped at %zu", e->line);
        return -1;
    }
    return 0;
}

/*  What was written is read back, escapes undone; a missing file and an
    empty one have no lines; a last line cut short is skipped; the
    callback can stop the reading with its own reason.                      */
static void
test_read(void **state)
{
    const char *path = *state;
    t_seen_t seen = {0};
    char error[256] = "";
    assert_int_equal(braid_joblog_read(path, s_collect, &seen, error, sizeof error), 0);
    assert_int_equal(seen.n, 0);
    s_write_file(path, "");
    assert_int_equal(braid_joblog_read(path, s_collect, &seen, error, sizeof error), 0);
    assert_int_equal(seen.n, 0);

    braid_joblog_t *log = braid_joblog_open(path, false);
    assert_non_null(log);
    braid_event_t ev = s_end(0, 0, "web", "a\tb\\c\nd\r\x7f", BRAID_END_FAILED);
    assert_int_equal(braid_joblog_event(log, &ev, 3), 0);
    ev = s_end(1, 1, "docs-2.x", "plain", BRAID_END_OK);
    assert_int_equal(braid_joblog_event(log, &ev, 4294967295u), 0);
    assert_int_equal(braid_joblog_destroy(&log), 0);
    FILE *f = fopen(path, "a");
    fputs("5\t-\t0.0", f);      /* a crash in mid-line                      */
    fclose(f);
    assert_int_equal(braid_joblog_read(path, s_collect, &seen, error, sizeof error), 0);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.text,
                        "2:3:web:failed:a\tb\\c\nd\r\x7f|3:4294967295:docs-2.x:ok:plain|");

    memset(&seen, 0, sizeof seen);
    seen.stop_at = 3;
    assert_int_equal(braid_joblog_read(path, s_collect, &seen, error, sizeof error), -1);
    assert_string_equal(error, "stopped at 3");
}

/*  One malformed file per case: each refused, naming the file and line.   */
static void
test_read_malformed(void **state)
{
    const char *path = *state;
    static const struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"Seq\tHost\n", ":1: not a braid job log header"},
        {H "1\t-\t0\t0\t0\t1\t2\t0\tok\t0\tweb\n", ":2: not 12 tab-separated fields"},
        {H "1\t-\t0\t0\t0\t1\t2\t0\tok\t0\tweb\tq\tx\n", ":2: not 12 tab-separated fields"},
        {H "x\t-\t0\t0\t0\t1\t2\t0\tok\t0\tweb\tq\n", ":2: Seq is not a number"},
        {H "-1\t-\t0\t0\t0\t1\t2\t0\tok\t0\tweb\tq\n", ":2: Seq is not a number"},
        {H "4294967296\t-\t0\t0\t0\t1\t2\t0\tok\t0\tweb\tq\n", ":2: Seq is not a number"},
        {H "1\t-\t0\t0\t0\t1\t2\t0\tfine\t0\tweb\tq\n", ":2: Status is not ok"},
        {H "1\t-\t0\t0\t0\t1\t2\t0\tok\t0\twe b\tq\n", ":2: Source is not a source name"},
        {H "1\t-\t0\t0\t0\t1\t2\t0\tok\t0\t\tq\n", ":2: Source is not a source name"},
        {H "1\t-\t0\t0\t0\t1\t2\t0\tok\t0\tweb\tq\\\n", ":2: Query has a bad escape"},
        {H "1\t-\t0\t0\t0\t1\t2\t0\tok\t0\tweb\tq\\x4\n", ":2: Query has a bad escape"},
        {H "1\t-\t0\t0\t0\t1\t2\t0\tok\t0\tweb\tq\\u0041\n", ":2: Query has a bad escape"},
        {H "\n", ":2: not 12 tab-separated fields"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_write_file(path, cases[i].text);
        t_seen_t seen = {0};
        char error[256] = "";
        if (braid_joblog_read(path, s_collect, &seen, error, sizeof error) != -1)
            fail_msg("case %zu read", i);
        char want[512];
        snprintf(want, sizeof want, "%s%s", path, cases[i].why);
        if (strncmp(error, want, strlen(want)) != 0)
            fail_msg("case %zu: got '%s', want '%s...'", i, error, want);
        assert_int_equal(seen.n, 0);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_many_tasks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_next_job, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_truncate_and_append, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_read_malformed, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
