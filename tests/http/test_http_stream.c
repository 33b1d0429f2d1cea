/*  test_http_stream.c - acceptance 2: chunked NDJSON and SSE answers,
    dripping one item every 20 ms, reach the client item by item.

    The server's streams are gated (server.py, gate=1): it sends item i+1
    only once the test released it, and the test releases it only once
    `braid submit --json` has printed item i. So the stream completes only
    if every item reached the client before the server sent the next (a
    worker or broker that held an item until more came would never see
    the next one; the test fails at its deadline). The server's send
    timestamps are checked against the times the test saw each item too
    (one clock, CLOCK_MONOTONIC): item i seen before item i+1 was sent.

    Sources (worker config): `nd`, NDJSON as lines; `ev`, SSE with the
    terminator [DONE], which ends the task ok and is not itself a partial.
    Each partial is checked: {"q": Q, "i": i} and a newline.
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
#include <time.h>

#define S_ITEMS 5
#define S_ITEM_MSEC 20000       /* one item to arrive, at most (a backstop) */

static const char s_worker_conf[] =
    "source\n"
    "    nd\n"
    "        type = http\n"
    "        url = \"http://127.0.0.1:" BRAID_HTTP_PORT
    "/ndjson?q={query}&n=5&interval_ms=20&gate=1\"\n"
    "        output = lines\n"
    "    ev\n"
    "        type = http\n"
    "        url = \"http://127.0.0.1:" BRAID_HTTP_PORT
    "/sse?q={query}&n=5&interval_ms=20&gate=1&done=%5BDONE%5D\"\n"
    "        output = sse\n"
    "        sse_done = \"[DONE]\"\n";

static const braid_http_fixture_def_t s_def = {
    .name = "braid-http-stream",
    .workers = 1,
    .slots = 4,
    .worker_conf = s_worker_conf,
};

/*  CLOCK_MONOTONIC in ns, the clock of the server's time.monotonic_ns().  */
static long long
s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*  Stream query q from source: release item by item as the client prints
    them; check each partial, the end, and the timestamps.                 */
static void
s_stream(braid_http_fixture_t *f, const char *source, const char *q)
{
    const char *args[] = {"--json", "-s", source, q, NULL};
    braid_proc_t *client = braid_cluster_submit(f->cluster, source, args, NULL);
    assert_non_null(client);
    long long seen[S_ITEMS];
    for (int i = 0; i < S_ITEMS; i++) {
        char text[64];
        snprintf(text, sizeof text, "\"seq\":%d,\"data\"", i);
        if (braid_proc_wait_line(client, BRAID_STDOUT, text, S_ITEM_MSEC) != 0) {
            braid_cluster_dump(f->cluster);
            braid_proc_dump(client, 2000);
            braid_proc_destroy(&client);
            fail_msg("%s: item %d did not reach the client", source, i);
        }
        seen[i] = s_now_ns();
        assert_int_equal(braid_http_server_release(f->server, q, i + 1), 0);
    }
    int code = -1;
    if (braid_cluster_finish(f->cluster, &client, 20000, 0, &code) != 0)
        fail_msg("%s: the job did not end", source);
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_non_null(out);

    int partials = 0;
    bool ended = false;
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (strcmp(type, "partial") == 0) {
            char want[64];
            snprintf(want, sizeof want, "{\"q\": \"%s\", \"i\": %d}\n", q, partials);
            char *data = braid_json_data(j, NULL);
            assert_non_null(data);
            assert_string_equal(data, want);
            free(data);
            partials++;
        } else if (strcmp(type, "end") == 0) {
            long long parts = -1;
            assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
            assert_int_equal(json_unpack(j, "{s:I}", "parts", &parts), 0);
            assert_int_equal(parts, S_ITEMS);
            ended = true;
        }
        json_decref(j);
    }
    assert_int_equal(partials, S_ITEMS);
    assert_true(ended);
    free(out);

    json_t *stats = braid_http_server_stats(f->server);
    assert_non_null(stats);
    json_t *sent = braid_http_server_list(stats, "sent", q);
    assert_non_null(sent);
    assert_int_equal(json_array_size(sent), S_ITEMS);
    for (int i = 0; i + 1 < S_ITEMS; i++) {
        long long next = json_integer_value(json_array_get(sent, (size_t) i + 1));
        print_message("%s: item %d seen by the client %.1f ms before item %d was sent\n",
                      source, i, (double) (next - seen[i]) / 1e6, i + 1);
        assert_true(seen[i] < next);
    }
    json_decref(stats);
}

static void
test_http_stream(void **state)
{
    braid_http_fixture_t *f = *state;
    s_stream(f, "nd", "alpha");
    s_stream(f, "ev", "beta");
    assert_int_equal(braid_http_fixture_stop(f), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_HTTP_FIXTURE_TEST(test_http_stream, s_def),
    };
    return cmocka_run_group_tests_name("http_stream", tests, NULL, NULL);
}
