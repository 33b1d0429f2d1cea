/*  test_http_fanout.c - acceptance 1: 500 queries through the http source,
    the server answering each after 50 ms, -j 50 over 2 workers.

    Two workers of 32 slots each serve `web` (GET /search?q={query}&
    delay_ms=50). `braid submit -s web -j 50` with 500 queries q000..q499.
    Asserts:
      - every result is the server's answer for its own query, in submit
        order: the output equals, byte for byte, what the server answers
        for q000, q001, ... one after another;
      - the server never had more than 50 requests in progress at once
        (its peak), and it saw exactly 500;
      - connections were reused: the server accepted at most one
        connection per worker slot (64), far fewer than the 500 requests;
      - a clean stop.
    The figures (peak, connections, wall time) are printed.
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

#define S_QUERIES 500
#define S_JOBS "50"
#define S_WORKERS 2
#define S_SLOTS 32

static const braid_http_fixture_def_t s_def = {
    .name = "braid-http-fanout",
    .workers = S_WORKERS,
    .slots = S_SLOTS,
    .specs = {"web=http:http://127.0.0.1:" BRAID_HTTP_PORT "/search?q={query}&delay_ms=50"},
};

static void
test_http_fanout(void **state)
{
    braid_http_fixture_t *f = *state;
    /*  The queries on stdin, one per line; and the answers a sequential
        run gets (the server's /search body for each).                    */
    char *queries = braid_path(f->dir, "queries");
    assert_non_null(queries);
    size_t want_cap = (size_t) S_QUERIES * 64, want_len = 0;
    char *want = malloc(want_cap);
    char list[S_QUERIES * 8];
    size_t list_len = 0;
    assert_non_null(want);
    for (int i = 0; i < S_QUERIES; i++) {
        list_len += (size_t) sprintf(list + list_len, "q%03d\n", i);
        want_len += (size_t) snprintf(want + want_len, want_cap - want_len,
                                      "{\"q\": \"q%03d\", \"results\": [\"q%03d result\"]}\n", i,
                                      i);
    }
    assert_int_equal(braid_file_write(queries, list, list_len, 0644), 0);

    const char *args[] = {"-s", "web", "-j", S_JOBS, NULL};
    int64_t start = braid_now_msec();
    braid_proc_t *client = braid_cluster_submit(f->cluster, "client", args, queries);
    assert_non_null(client);
    int code = -1;
    if (braid_cluster_finish(f->cluster, &client, 60000, 0, &code) != 0)
        fail_msg("the job did not end within 60 s");
    int64_t wall = braid_now_msec() - start;
    size_t out_len = 0;
    char *out = braid_proc_output(client, BRAID_STDOUT, &out_len);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_non_null(out);
    assert_int_equal(braid_compare("output", out, out_len, want, want_len), 0);

    json_t *stats = braid_http_server_stats(f->server);
    assert_non_null(stats);
    long long requests = braid_http_server_stat(stats, "requests");
    long long peak = braid_http_server_stat(stats, "peak");
    long long connections = braid_http_server_stat(stats, "connections");
    print_message("500 queries x 50 ms, -j 50, 2 workers x %d slots: %lld ms (ideal 500); "
                  "server: %lld requests, peak %lld at once, %lld connections\n",
                  S_SLOTS, (long long) wall, requests, peak, connections);
    assert_int_equal(requests, S_QUERIES);
    assert_in_range(peak, 1, 50);
    assert_in_range(connections, 1, S_WORKERS * S_SLOTS);
    json_decref(stats);
    free(out);
    free(want);
    free(queries);
    assert_int_equal(braid_http_fixture_stop(f), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_HTTP_FIXTURE_TEST(test_http_fanout, s_def),
    };
    return cmocka_run_group_tests_name("http_fanout", tests, NULL, NULL);
}
