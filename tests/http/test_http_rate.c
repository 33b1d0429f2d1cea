/*  test_http_rate.c - acceptance 3: the broker's rate limit holds for an
    http source served by two workers.

    The broker's policy for `web`: rate = 10, burst = 1. Two workers of 8
    slots serve it (GET /search, answered at once). 30 queries, no -j.
    Asserts: all 30 end ok; the server saw every query once; in any
    1-second window (from each arrival on) it saw at most 11 requests.
    The busiest window's count is printed.
*/

#include "http_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 30
#define S_MAX_PER_SEC 11

static const char s_conf[] = "source\n"
                             "    web\n"
                             "        rate = 10\n"
                             "        burst = 1\n";

static const braid_http_fixture_def_t s_def = {
    .name = "braid-http-rate",
    .conf = s_conf,
    .workers = 2,
    .slots = 8,
    .specs = {"web=http:http://127.0.0.1:" BRAID_HTTP_PORT "/search?q={query}"},
};

static int
s_cmp(const void *a, const void *b)
{
    long long x = *(const long long *) a, y = *(const long long *) b;
    return x < y ? -1 : x > y;
}

static void
test_http_rate(void **state)
{
    braid_http_fixture_t *f = *state;
    const char *args[S_QUERIES + 4] = {"-s", "web"};
    char names[S_QUERIES][8];
    for (int i = 0; i < S_QUERIES; i++) {
        snprintf(names[i], sizeof names[i], "r%02d", i);
        args[2 + i] = names[i];
    }
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 60000, 0, &client, &code) != 0)
        fail_msg("the job did not end within 60 s");
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);

    json_t *stats = braid_http_server_stats(f->server);
    assert_non_null(stats);
    long long arrivals[S_QUERIES];
    for (int i = 0; i < S_QUERIES; i++) {
        char key[32];
        snprintf(key, sizeof key, "/search?%s", names[i]);
        json_t *times = braid_http_server_list(stats, "times", key);
        assert_non_null(times);
        assert_int_equal(json_array_size(times), 1);
        arrivals[i] = json_integer_value(json_array_get(times, 0));
    }
    json_decref(stats);
    qsort(arrivals, S_QUERIES, sizeof arrivals[0], s_cmp);
    int busiest = 0;
    for (int i = 0; i < S_QUERIES; i++) {
        int n = 0;
        while (i + n < S_QUERIES && arrivals[i + n] - arrivals[i] < 1000000000ll)
            n++;
        if (n > busiest)
            busiest = n;
    }
    print_message("rate 10, burst 1, 2 workers: at most %d requests in any 1 s window; "
                  "30 requests over %.2f s\n",
                  busiest, (double) (arrivals[S_QUERIES - 1] - arrivals[0]) / 1e9);
    assert_in_range(busiest, 1, S_MAX_PER_SEC);
    assert_int_equal(braid_http_fixture_stop(f), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_HTTP_FIXTURE_TEST(test_http_rate, s_def),
    };
    return cmocka_run_group_tests_name("http_rate", tests, NULL, NULL);
}
