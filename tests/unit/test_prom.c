/*  test_prom.c - the broker's Prometheus text (prom.h): the gauges and
    counters carry the snapshot's values, every family has its HELP and
    TYPE before its samples, the histograms are cumulative with +Inf equal
    to _count and _sum in seconds, label values are escaped, and every
    sample line is "name{labels} value" with a number for the value.       */

#include "prom.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*  The line of text that starts with prefix exactly (then a space), or
    the test fails.                                                         */
static const char *
s_line(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
            return p;
    fail_msg("no line '%s ...' in:\n%s", prefix, text);
    return NULL;
}

/*  The value of the sample named by prefix.                                */
static double
s_value(const char *text, const char *prefix)
{
    const char *line = s_line(text, prefix);
    return strtod(line + strlen(prefix) + 1, NULL);
}

/*  A snapshot with one busy source ("web") and one idle ("grep").          */
static void
s_snapshot(braid_stats_t *stats, braid_stats_source_t *sources, braid_source_figures_t *fig)
{
    memset(stats, 0, sizeof *stats);
    stats->workers = 2;
    stats->slots = 8;
    stats->running = 3;
    stats->jobs = 1;
    stats->queued = 17;
    stats->tasks_dispatched = 42;
    stats->draining = true;
    stats->counters.malformed[BRAID_ERR_MSGPACK] = 5;
    stats->counters.stale = 6;
    stats->counters.unknown = 7;
    stats->counters.gaps = 8;
    stats->counters.rejected = 9;
    stats->now_msec = 1000;
    fig->ended[BRAID_STATUS_OK] = 30;
    fig->ended[BRAID_STATUS_FAILED] = 2;
    fig->retried = 4;
    /*  Durations 3 ms, 40 ms and 2 s.                                      */
    braid_source_figures_latency(fig, BRAID_LATENCY_DURATION, 1000, 3);
    braid_source_figures_latency(fig, BRAID_LATENCY_DURATION, 1000, 40);
    braid_source_figures_latency(fig, BRAID_LATENCY_DURATION, 1000, 2000);
    sources[0] = (braid_stats_source_t){"web", 15, 3, fig};
    sources[1] = (braid_stats_source_t){"grep", 2, 0, NULL};
    stats->sources = sources;
    stats->nsources = 2;
}

/*  Each test's fixture: the snapshot and its text.                         */
typedef struct {
    braid_stats_t stats;
    braid_stats_source_t sources[2];
    braid_source_figures_t *fig;
    char *text;
    size_t len;
} s_fixture_t;

static s_fixture_t *
s_fixture(void **state)
{
    return *state;
}

static int
s_setup(void **state)
{
    static s_fixture_t f;
    memset(&f, 0, sizeof f);
    f.fig = braid_source_figures_new();
    if (!f.fig)
        return -1;
    s_snapshot(&f.stats, f.sources, f.fig);
    f.text = braid_prom_render(&f.stats, &f.len);
    *state = &f;
    return f.text ? 0 : -1;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    free(f->text);
    braid_source_figures_destroy(&f->fig);
    return 0;
}

static void
test_values(void **state)
{
    const char *text = s_fixture(state)->text;
    assert_int_equal(strlen(text), s_fixture(state)->len);
    assert_true(s_value(text, "braid_workers") == 2);
    assert_true(s_value(text, "braid_worker_slots") == 8);
    assert_true(s_value(text, "braid_tasks_running") == 3);
    assert_true(s_value(text, "braid_tasks_queued") == 17);
    assert_true(s_value(text, "braid_jobs_open") == 1);
    assert_true(s_value(text, "braid_draining") == 1);
    assert_true(s_value(text, "braid_tasks_dispatched_total") == 42);
    assert_true(s_value(text, "braid_tasks_ended_total{source=\"web\",status=\"ok\"}") == 30);
    assert_true(s_value(text, "braid_tasks_ended_total{source=\"web\",status=\"failed\"}") == 2);
    assert_true(s_value(text, "braid_tasks_ended_total{source=\"grep\",status=\"ok\"}") == 0);
    assert_true(s_value(text, "braid_task_retries_total{source=\"web\"}") == 4);
    assert_true(s_value(text, "braid_source_tasks_queued{source=\"web\"}") == 15);
    assert_true(s_value(text, "braid_source_tasks_queued{source=\"grep\"}") == 2);
    assert_true(s_value(text, "braid_source_tasks_running{source=\"web\"}") == 3);
    assert_true(s_value(text, "braid_dropped_total{reason=\"msgpack\"}") == 5);
    assert_true(s_value(text, "braid_dropped_total{reason=\"stale\"}") == 6);
    assert_true(s_value(text, "braid_dropped_total{reason=\"unknown\"}") == 7);
    assert_true(s_value(text, "braid_dropped_total{reason=\"gaps\"}") == 8);
    assert_true(s_value(text, "braid_requests_rejected_total") == 9);
    assert_true(s_value(text, "process_resident_memory_bytes") > 0);
    assert_true(s_value(text, "process_cpu_seconds_total") >= 0);
}

static void
test_histogram(void **state)
{
    const char *text = s_fixture(state)->text;
    /*  3 ms is within 0.005 s, 40 ms within 0.05, 2 s within 2.5; the idle
        source has its histograms too, all zero.                            */
    static const struct {
        const char *sample;
        double want;
    } rows[] = {
        {"braid_task_duration_seconds_bucket{source=\"web\",le=\"0.001\"}", 0},
        {"braid_task_duration_seconds_bucket{source=\"web\",le=\"0.005\"}", 1},
        {"braid_task_duration_seconds_bucket{source=\"web\",le=\"0.05\"}", 2},
        {"braid_task_duration_seconds_bucket{source=\"web\",le=\"1\"}", 2},
        {"braid_task_duration_seconds_bucket{source=\"web\",le=\"2.5\"}", 3},
        {"braid_task_duration_seconds_bucket{source=\"web\",le=\"+Inf\"}", 3},
        {"braid_task_duration_seconds_count{source=\"web\"}", 3},
        {"braid_task_duration_seconds_count{source=\"grep\"}", 0},
        {"braid_task_queue_wait_seconds_bucket{source=\"web\",le=\"+Inf\"}", 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (s_value(text, rows[i].sample) != rows[i].want)
            fail_msg("%s: %g, want %g", rows[i].sample, s_value(text, rows[i].sample),
                     rows[i].want);
    double sum = s_value(text, "braid_task_duration_seconds_sum{source=\"web\"}");
    assert_true(sum > 2.0429 && sum < 2.0431);
}

static void
test_format(void **state)
{
    char *text = strdup(s_fixture(state)->text);
    assert_non_null(text);
    assert_true(text[strlen(text) - 1] == '\n');
    /*  Every sample follows a "# TYPE" of its family (the name, or the name
        less _bucket, _sum, _count for a histogram), and its value parses.  */
    char family[128] = "";
    int samples = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line + 7, "%127s", family), 1);
            continue;
        }
        assert_true(line[0] != '#');
        assert_true(family[0]);
        assert_int_equal(strncmp(line, family, strlen(family)), 0);
        const char *rest = line + strlen(family);
        assert_true(*rest == ' ' || *rest == '{' || *rest == '_');
        const char *value = strrchr(line, ' ');
        assert_non_null(value);
        char *end = NULL;
        strtod(value + 1, &end);
        assert_true(end && *end == 0 && end > value + 1);
        samples++;
    }
    assert_true(samples > 50);
    free(text);
}

static void
test_escape(void **state)
{
    (void) state;
    char out[64];
    assert_string_equal(braid_prom_escape("plain.name-1", out, sizeof out), "plain.name-1");
    assert_string_equal(braid_prom_escape("a\"b\\c\nd", out, sizeof out), "a\\\"b\\\\c\\nd");
    /*  Cut to fit, never split inside an escape, always terminated.        */
    char small[4];
    assert_string_equal(braid_prom_escape("\"\"\"", small, sizeof small), "\\\"");
    assert_string_equal(braid_prom_escape("abcdef", small, sizeof small), "abc");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_values, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_histogram, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_format, s_setup, s_teardown),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests_name("prom", tests, NULL, NULL);
}
