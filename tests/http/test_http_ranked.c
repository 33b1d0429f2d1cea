/*  test_http_ranked.c - issue 8, acceptance 5 with http sources: three
    sources answer the same query from tests/http/server.py's /ranked
    (NDJSON in descending score, every source the same scores, the even
    results' URLs shared by all three), merged with -o key.

    The sources ra, rb and rc (worker config: score = score, dedup = url)
    differ only in their name; rc's stream is gated (gate=1): the server
    sends its first result, then the rest only once the test releases
    them. The test releases them only after the first merged result has
    reached the client, and checks in the server's stats that rc had sent
    one result by then: the merged stream streams before the slowest
    source has finished.

    Then the output: scores never rise; ties in source order (ra, rb, rc);
    each URL once (the even results come from ra, rb's and rc's copies
    dropped and counted: 3 duplicates each, 0 for ra); every source ends
    ok with its 6 parts; exit 0.
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

#define S_N 6                   /* results per source                       */
#define S_FIRST_MSEC 20000      /* the first merged result, at most         */
#define S_QUERY "cats"

/* clang-format off */
#define S_SOURCE(NAME, GATE)                                                                   \
    "    " NAME "\n"                                                                           \
    "        type = http\n"                                                                    \
    "        url = \"http://127.0.0.1:" BRAID_HTTP_PORT "/ranked?q={query}&source=" NAME      \
    "&n=6&interval_ms=5" GATE "\"\n"                                                           \
    "        score = score\n"                                                                  \
    "        dedup = url\n"
/* clang-format on */

static const char s_worker_conf[] =
    "source\n" S_SOURCE("ra", "") S_SOURCE("rb", "") S_SOURCE("rc", "&gate=1");

static const braid_http_fixture_def_t s_def = {
    .name = "braid-http-ranked",
    .workers = 1,
    .slots = 4,
    .worker_conf = s_worker_conf,
};

/*  The merged stream of one query, in order: source and result index.     */
static const struct {
    const char *source;
    int i;
} s_want[] = {{"ra", 0}, {"ra", 1}, {"rb", 1}, {"rc", 1}, {"ra", 2}, {"ra", 3},
              {"rb", 3}, {"rc", 3}, {"ra", 4}, {"ra", 5}, {"rb", 5}, {"rc", 5}};
#define S_NWANT (sizeof s_want / sizeof s_want[0])

static void
s_check_output(const char *out)
{
    const char *cursor = out;
    json_t *j;
    size_t next = 0;
    long long last = 1 << 30;
    int ends = 0;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        const char *source = json_string_value(json_object_get(j, "source"));
        assert_non_null(type);
        if (strcmp(type, "partial") == 0) {
            char *data = braid_json_data(j, NULL);
            json_t *item = data ? braid_json_parse(data, strlen(data)) : NULL;
            long long score = -1, i = -1;
            if (!item || json_unpack(item, "{s:I,s:I}", "score", &score, "i", &i) != 0)
                fail_msg("not a ranked result: %s", data ? data : "-");
            if (next >= S_NWANT || strcmp(source, s_want[next].source) != 0 ||
                i != s_want[next].i)
                fail_msg("result %zu: %s %lld, want %s %d", next, source, i,
                         next < S_NWANT ? s_want[next].source : "-",
                         next < S_NWANT ? s_want[next].i : -1);
            assert_true(score <= last);
            last = score;
            next++;
            json_decref(item);
            free(data);
        } else if (strcmp(type, "end") == 0) {
            long long parts = -1, dups = -1;
            assert_int_equal(
                json_unpack(j, "{s:I,s:I}", "parts", &parts, "duplicates", &dups), 0);
            assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
            assert_int_equal(parts, S_N);
            assert_int_equal(dups, strcmp(source, "ra") == 0 ? 0 : S_N / 2);
            ends++;
        } else
            assert_string_equal(type, "job");
        json_decref(j);
    }
    assert_int_equal(next, S_NWANT);
    assert_int_equal(ends, 3);
}

static void
test_http_ranked(void **state)
{
    braid_http_fixture_t *f = *state;
    const char *args[] = {"-o", "key", "-s", "ra", "-s", "rb", "-s", "rc", "--json", S_QUERY, NULL};
    braid_proc_t *client = braid_cluster_submit(f->cluster, "client", args, NULL);
    assert_non_null(client);
    if (braid_proc_wait_line(client, BRAID_STDOUT, "\"type\":\"partial\"", S_FIRST_MSEC) != 0) {
        braid_cluster_dump(f->cluster);
        braid_proc_dump(client, 2000);
        braid_http_server_release(f->server, S_QUERY "#rc", S_N);
        braid_proc_destroy(&client);
        fail_msg("no merged result within %d ms while rc's stream waits", S_FIRST_MSEC);
    }
    /*  rc has sent its first result only: it has not finished.            */
    json_t *stats = braid_http_server_stats(f->server);
    assert_non_null(stats);
    json_t *sent = braid_http_server_list(stats, "sent", S_QUERY "#rc");
    assert_non_null(sent);
    assert_int_equal(json_array_size(sent), 1);
    json_decref(stats);
    assert_int_equal(braid_http_server_release(f->server, S_QUERY "#rc", S_N), 0);
    int code = -1;
    if (braid_cluster_finish(f->cluster, &client, 30000, 0, &code) != 0)
        fail_msg("the ranked job did not end");
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_non_null(out);
    print_message("--json output:\n%s", out);
    s_check_output(out);
    free(out);
    assert_int_equal(braid_http_fixture_stop(f), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_HTTP_FIXTURE_TEST(test_http_ranked, s_def),
    };
    return cmocka_run_group_tests_name("http_ranked", tests, NULL, NULL);
}
