/*  test_ops_metrics.c - a real Prometheus scrapes braidd's /metrics during
    a job, and its HTTP API then says the job's tasks were counted.

    The broker serves its metrics on 127.0.0.1 at a port it picks
    (`metrics = "127.0.0.1:0"`; the ready line tells which). The test
    reads /metrics itself once (200, the text format, 404 elsewhere), then
    starts Debian's prometheus (/usr/bin/prometheus) on a loopback port
    with a 1 s scrape of the broker and its data in the temp dir, waits
    for its ready line, runs a job of S_QUERIES queries on two workers,
    and polls Prometheus's /api/v1/query (with a deadline) until
    braid_tasks_ended_total for the source reaches the job's task count;
    then it must be exactly that, as must the duration histogram's count,
    and the target must be up. Skipped, saying so, only when prometheus is
    not installed (scripts/install-deps installs it).
*/

#include "ops.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_PROMETHEUS "/usr/bin/prometheus"
#define S_QUERIES 20
#define S_WAIT_MSEC 60000

static const char s_conf[] = FAULT_BROKER_CONF "    metrics = \"127.0.0.1:0\"\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-ops-metrics",
    .conf = s_conf,
    .workers = 2,
    .slots = 4,
    .specs = {"syn=synthetic:parts=2,size=16"},
};

static int
s_setup(void **state)
{
    *state = fault_fixture_new(&s_def);
    return *state ? 0 : -1;
}

/*  query, percent-encoded for a URL, into out.                             */
static void
s_urlencode(const char *query, char *out, size_t outsize)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *) query; *p && n + 4 < outsize; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '_' || *p == '.' || *p == '-') {
            out[n++] = (char) *p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = 0;
}

/*  The value of an instant query at Prometheus on port: the one sample's
    value, or -1 when there is none yet (or the API failed).                */
static double
s_query(int port, const char *query)
{
    char encoded[1024], path[1200];
    s_urlencode(query, encoded, sizeof encoded);
    snprintf(path, sizeof path, "/api/v1/query?query=%s", encoded);
    int status = 0;
    size_t len = 0;
    char *body = ops_http_get(port, path, 5000, &status, &len);
    if (!body)
        return -1;
    double value = -1;
    json_t *j = status == 200 ? braid_json_parse(body, len) : NULL;
    json_t *result = json_object_get(json_object_get(j, "data"), "result");
    if (json_array_size(result) == 1) {
        json_t *pair = json_object_get(json_array_get(result, 0), "value");
        const char *text = json_string_value(json_array_get(pair, 1));
        if (text)
            value = strtod(text, NULL);
    }
    json_decref(j);
    free(body);
    return value;
}

/*  Poll query at Prometheus until it says want, or the deadline; returns
    the last value.                                                         */
static double
s_wait_value(int port, const char *query, double want, int timeout_msec)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    double value = s_query(port, query);
    while (value != want && braid_now_msec() < deadline) {
        fault_poll_pause();
        value = s_query(port, query);
    }
    return value;
}

/*  The broker's own answer: 200 and the text format at /metrics, 404
    anywhere else.                                                          */
static void
s_check_endpoint(int port)
{
    int status = 0;
    char *text = ops_http_get(port, "/metrics", 10000, &status, NULL);
    assert_non_null(text);
    assert_int_equal(status, 200);
    assert_non_null(strstr(text, "# TYPE braid_tasks_ended_total counter\n"));
    assert_non_null(strstr(text, "\nbraid_workers 2\n"));
    assert_non_null(strstr(text, "braid_task_duration_seconds_bucket{source=\"syn\",le=\"+Inf\"}"));
    free(text);
    char *missing = ops_http_get(port, "/nothing", 10000, &status, NULL);
    assert_non_null(missing);
    assert_int_equal(status, 404);
    free(missing);
}

static void
test_ops_metrics(void **state)
{
    braid_fixture_t *f = *state;
    if (access(S_PROMETHEUS, X_OK) != 0) {
        print_message("SKIP: %s is not installed (scripts/install-deps installs it)\n",
                      S_PROMETHEUS);
        braid_cluster_stop(f->cluster);
        skip();
    }
    int metrics = ops_ready_port(f->cluster->broker, "metrics");
    assert_true(metrics > 0);
    s_check_endpoint(metrics);

    int web = braid_free_port();
    assert_true(web > 0);
    char yml[512], listen[64];
    snprintf(yml, sizeof yml,
             "global:\n"
             "  scrape_interval: 1s\n"
             "  scrape_timeout: 1s\n"
             "scrape_configs:\n"
             "  - job_name: braid\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:%d']\n",
             metrics);
    char *config = braid_path(f->dir, "prometheus.yml");
    char *tsdb = braid_path(f->dir, "tsdb");
    assert_int_equal(braid_file_write(config, yml, strlen(yml), 0644), 0);
    char config_arg[600], tsdb_arg[600];
    snprintf(config_arg, sizeof config_arg, "--config.file=%s", config);
    snprintf(tsdb_arg, sizeof tsdb_arg, "--storage.tsdb.path=%s", tsdb);
    snprintf(listen, sizeof listen, "--web.listen-address=127.0.0.1:%d", web);
    const char *argv[] = {S_PROMETHEUS, config_arg, tsdb_arg, listen, NULL};
    braid_proc_t *prom = braid_proc_spawn(f->dir, "prometheus", argv, NULL);
    assert_non_null(prom);
    const char *ready = "Server is ready to receive web requests";
    if (braid_proc_wait_line(prom, BRAID_STDERR, ready, 60000)) {
        braid_proc_dump(prom, 4000);
        braid_proc_destroy(&prom);
        fail_msg("prometheus not ready within 60 s");
    }

    /*  The job, scraped while it runs and after.                           */
    const char *args[S_QUERIES + 3] = {"-s", "syn"};
    char names[S_QUERIES][8];
    for (int q = 0; q < S_QUERIES; q++) {
        snprintf(names[q], sizeof names[q], "q%d", q);
        args[2 + q] = names[q];
    }
    args[2 + S_QUERIES] = NULL;
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 30000, 0, &client, &code) != 0)
        fail_msg("the job did not end within 30 s");
    assert_int_equal(code, 0);
    braid_proc_destroy(&client);

    const char *ended = "sum(braid_tasks_ended_total{job=\"braid\",source=\"syn\"})";
    double got = s_wait_value(web, ended, S_QUERIES, S_WAIT_MSEC);
    print_message("prometheus: %s = %g\n", ended, got);
    if (got != S_QUERIES) {
        braid_proc_dump(prom, 4000);
        braid_proc_destroy(&prom);
        fail_msg("Prometheus counted %g tasks ended, want %d", got, S_QUERIES);
    }
    /*  Counted once each, all ok, each in the duration histogram, the
        target up.                                                          */
    assert_true(s_query(web, "braid_tasks_ended_total{source=\"syn\",status=\"ok\"}") ==
                S_QUERIES);
    assert_true(s_query(web, "braid_tasks_dispatched_total") == S_QUERIES);
    assert_true(s_query(web, "braid_task_duration_seconds_count{source=\"syn\"}") == S_QUERIES);
    assert_true(s_query(web, "up{job=\"braid\"}") == 1);

    assert_int_equal(braid_proc_signal(prom, SIGTERM), 0);
    assert_int_equal(braid_proc_wait_exit(prom, 30000, &code), 0);
    assert_int_equal(code, 0);
    braid_proc_destroy(&prom);
    free(config);
    free(tsdb);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ops_metrics, s_setup, braid_fixture_teardown),
    };
    return cmocka_run_group_tests_name("ops_metrics", tests, NULL, NULL);
}
