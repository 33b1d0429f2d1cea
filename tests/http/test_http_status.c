/*  test_http_status.c - acceptance 4: what HTTP statuses and connection
    errors do to a task.

    One job, query "s1", four sources (one worker):
      busy      429 with Retry-After: 1 twice, then 200: ends ok after 3
                attempts, and each retry reached the server at least a
                second after the answer before it (the server's arrival
                times; the backoff alone is 10 ms here);
      later     503 with Retry-After as an HTTP date, then 200: ends ok
                after 2 attempts, the retry no earlier than that date;
      missing   404: ends failed at once (1 attempt, one request), the
                status line and the head of the body in the error;
      refused   a port nothing listens on: retried (3 attempts, retries =
                2), then failed with the connection error;
      slow      an answer 10 minutes away, the source's timeout 300 ms:
                ends timeout after 1 attempt (the transfer is dropped; a
                worker that waited for the answer would not end the job).
    The client exits 1 (a task failed); a clean stop.
*/

#include "http_fixture.h"
#include "jsonl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERY "s1"

static const char s_conf[] = "source\n"
                             "    busy\n"
                             "        retries = 3\n"
                             "        backoff_msec = 10\n"
                             "    later\n"
                             "        retries = 3\n"
                             "        backoff_msec = 10\n"
                             "    missing\n"
                             "        retries = 3\n"
                             "        backoff_msec = 10\n"
                             "    refused\n"
                             "        retries = 2\n"
                             "        backoff_msec = 10\n"
                             "    slow\n"
                             "        timeout_msec = 300\n";

/*  The refused source's port: one that was free a moment ago (set before
    the fixture starts).                                                    */
static char s_refused_spec[128];

static braid_http_fixture_def_t s_def = {
    .name = "braid-http-status",
    .conf = s_conf,
    .workers = 1,
    .slots = 4,
    .specs = {"busy=http:http://127.0.0.1:" BRAID_HTTP_PORT
              "/status?q={query}&code=429&times=2&retry_after=1",
              "later=http:http://127.0.0.1:" BRAID_HTTP_PORT
              "/status?q={query}%23d&code=503&times=1&retry_after=date:1",
              "missing=http:http://127.0.0.1:" BRAID_HTTP_PORT "/nowhere?q={query}",
              "slow=http:http://127.0.0.1:" BRAID_HTTP_PORT "/search?q={query}&delay_ms=600000",
              s_refused_spec},
};

/*  The end of source must have status and attempts; its error in *error
    (owned) if error is not NULL.                                          */
static void
s_check_end(const char *out, const char *source, const char *status, long long attempts,
            char **error)
{
    json_t *end = braid_json_find(out, "end", source);
    if (!end)
        fail_msg("no end record for %s", source);
    long long got = -1;
    assert_int_equal(json_unpack(end, "{s:I}", "attempts", &got), 0);
    const char *st = json_string_value(json_object_get(end, "status"));
    const char *err = json_string_value(json_object_get(end, "error"));
    print_message("%s: %s after %lld attempts: %s\n", source, st ? st : "?", got,
                  err ? err : "?");
    assert_non_null(st);
    assert_string_equal(st, status);
    assert_int_equal(got, attempts);
    if (error)
        *error = strdup(err ? err : "");
    json_decref(end);
}

static void
test_http_status(void **state)
{
    braid_http_fixture_t *f = *state;
    const char *args[] = {"--json", "-s",      "busy", "-s",   "later", "-s",    "missing",
                          "-s",     "refused", "-s",   "slow", S_QUERY, NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 60000, 1, &client, &code) != 0)
        fail_msg("the job did not end within 60 s");
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 1);
    assert_non_null(out);

    s_check_end(out, "busy", "ok", 3, NULL);
    s_check_end(out, "later", "ok", 2, NULL);
    char *error = NULL;
    s_check_end(out, "missing", "failed", 1, &error);
    assert_non_null(strstr(error, "HTTP/1.1 404 Not Found: no such endpoint"));
    free(error);
    s_check_end(out, "refused", "failed", 3, &error);
    assert_non_null(strstr(error, "onnect"));
    free(error);
    s_check_end(out, "slow", "timeout", 1, NULL);
    free(out);

    json_t *stats = braid_http_server_stats(f->server);
    assert_non_null(stats);
    /*  busy: no retry before the second its 429 asked for.                */
    json_t *times = braid_http_server_list(stats, "times", "/status?" S_QUERY);
    assert_non_null(times);
    assert_int_equal(json_array_size(times), 3);
    for (size_t i = 1; i < 3; i++) {
        long long gap = json_integer_value(json_array_get(times, i)) -
                        json_integer_value(json_array_get(times, i - 1));
        print_message("busy: retry %zu came %.3f s after the 429 asked for 1 s\n", i,
                      (double) gap / 1e9);
        assert_true(gap >= 1000000000ll);
    }
    /*  later: no retry before the date its 503 named.                      */
    json_t *wall = braid_http_server_list(stats, "wall", "/status?" S_QUERY "#d");
    json_t *dates = braid_http_server_list(stats, "retry_dates", S_QUERY "#d");
    assert_non_null(wall);
    assert_non_null(dates);
    assert_int_equal(json_array_size(wall), 2);
    double retry = json_number_value(json_array_get(wall, 1));
    double date = json_number_value(json_array_get(dates, 0));
    print_message("later: retry at %.3f, Retry-After date %.0f\n", retry, date);
    assert_true(retry >= date);
    /*  missing: asked once.                                               */
    times = braid_http_server_list(stats, "times", "/nowhere?" S_QUERY);
    assert_non_null(times);
    assert_int_equal(json_array_size(times), 1);
    json_decref(stats);
    assert_int_equal(braid_http_fixture_stop(f), 0);
}

int
main(void)
{
    braid_harness_init();
    int port = braid_free_port();
    if (port < 0)
        return 1;
    snprintf(s_refused_spec, sizeof s_refused_spec, "refused=http:http://127.0.0.1:%d/x?q={query}",
             port);
    const struct CMUnitTest tests[] = {
        BRAID_HTTP_FIXTURE_TEST(test_http_status, s_def),
    };
    return cmocka_run_group_tests_name("http_status", tests, NULL, NULL);
}
