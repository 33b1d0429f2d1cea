/*  test_http_example.c - examples/aggregator runs as its README says.

    The example's worker.conf and braidd.conf, as they are but for the
    server's port (127.0.0.1:8080 becomes the test server's), with the
    three keys in the environment. One job, two queries, the sources
    brave, docs and llm, arrival order, --json. Asserts: every task ends
    ok; brave and docs give 5 NDJSON results per query, each a JSON object
    with a score, a url and its source; llm gives 5 events per query, the
    [DONE] terminator not among them; the client exits 0; a clean stop.
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
#include <limits.h>
#include <string.h>

#ifndef BRAID_EXAMPLES_DIR
#error "BRAID_EXAMPLES_DIR must be defined by the build"
#endif

#define S_QUERIES 2
#define S_ITEMS 5
#define S_EXAMPLE_HOST "127.0.0.1:8080"

static char *s_worker_conf;     /* the example's, port replaced            */
static char *s_broker_conf;

static braid_http_fixture_def_t s_def = {
    .name = "braid-http-example",
    .workers = 1,
    .slots = 8,
};

/*  The example file name, with every S_EXAMPLE_HOST made the fixture's
    server. Owned; NULL if it cannot be read.                              */
static char *
s_example(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/aggregator/%s", BRAID_EXAMPLES_DIR, name);
    char *text = braid_file_read(path, NULL);
    if (!text)
        return NULL;
    size_t n = 0;
    for (const char *p = strstr(text, S_EXAMPLE_HOST); p; p = strstr(p + 1, S_EXAMPLE_HOST))
        n++;
    char *out = malloc(strlen(text) + n * strlen(BRAID_HTTP_PORT) + 1);
    if (out) {
        char *o = out;
        const char *p = text, *at;
        while ((at = strstr(p, S_EXAMPLE_HOST))) {
            o += sprintf(o, "%.*s127.0.0.1:" BRAID_HTTP_PORT, (int) (at - p), p);
            p = at + strlen(S_EXAMPLE_HOST);
        }
        strcpy(o, p);
    }
    free(text);
    return out;
}

static void
test_http_example(void **state)
{
    braid_http_fixture_t *f = *state;
    const char *args[] = {"-o",    "arrival", "--json", "-s",        "brave", "-s",
                          "docs",  "-s",      "llm",    "rust async", "q\"2", NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 60000, 0, &client, &code) != 0)
        fail_msg("the job did not end within 60 s");
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_non_null(out);

    int results[S_QUERIES][3] = {{0}};
    static const char *sources[] = {"brave", "docs", "llm"};
    int ends = 0;
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        const char *source = json_string_value(json_object_get(j, "source"));
        long long q = -1;
        assert_non_null(type);
        if (strcmp(type, "end") == 0) {
            assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
            ends++;
        } else if (strcmp(type, "partial") == 0) {
            assert_non_null(source);
            assert_int_equal(json_unpack(j, "{s:I}", "query", &q), 0);
            assert_in_range(q, 0, S_QUERIES - 1);
            size_t len = 0;
            char *data = braid_json_data(j, &len);
            assert_non_null(data);
            assert_null(strstr(data, "[DONE]"));
            json_t *item = braid_json_parse(data, len);
            if (!item)
                fail_msg("%s: not one JSON object: %s", source, data);
            int s = strcmp(source, "brave") == 0 ? 0 : strcmp(source, "docs") == 0 ? 1 : 2;
            if (s < 2) {
                assert_true(json_is_integer(json_object_get(item, "score")));
                assert_non_null(json_string_value(json_object_get(item, "url")));
                assert_string_equal(json_string_value(json_object_get(item, "source")),
                                    sources[s]);
            }
            results[q][s]++;
            json_decref(item);
            free(data);
        }
        json_decref(j);
    }
    assert_int_equal(ends, S_QUERIES * 3);
    for (int q = 0; q < S_QUERIES; q++)
        for (int s = 0; s < 3; s++)
            if (results[q][s] != S_ITEMS)
                fail_msg("query %d source %s: %d results, want %d", q, sources[s], results[q][s],
                         S_ITEMS);
    free(out);

    /*  The README's aggregation line: brave and docs merged by score, each
        URL once (their even-numbered results are the same pages).         */
    const char *key_args[] = {"-o", "key", "--json", "-s", "brave", "-s", "docs", "rust async",
                              NULL};
    if (braid_cluster_run(f->cluster, "key", key_args, 60000, 0, &client, &code) != 0)
        fail_msg("the -o key job did not end within 60 s");
    out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_non_null(out);
    long long last = LLONG_MAX, duplicates = 0, merged = 0;
    json_t *urls = json_object();
    cursor = out;
    while ((j = braid_json_next(&cursor))) {
        const char *type = json_string_value(json_object_get(j, "type"));
        if (type && strcmp(type, "partial") == 0) {
            size_t len = 0;
            char *data = braid_json_data(j, &len);
            json_t *item = data ? braid_json_parse(data, len) : NULL;
            assert_non_null(item);
            long long score = json_integer_value(json_object_get(item, "score"));
            const char *url = json_string_value(json_object_get(item, "url"));
            assert_non_null(url);
            if (score > last)
                fail_msg("-o key: score %lld after %lld", score, last);
            last = score;
            if (json_object_get(urls, url))
                fail_msg("-o key: %s twice", url);
            json_object_set_new(urls, url, json_true());
            merged++;
            json_decref(item);
            free(data);
        } else if (type && strcmp(type, "end") == 0) {
            long long d = 0;
            assert_int_equal(json_unpack(j, "{s:I}", "duplicates", &d), 0);
            duplicates += d;
        }
        json_decref(j);
    }
    json_decref(urls);
    free(out);
    print_message("-o key: %lld merged, %lld duplicates dropped\n", merged, duplicates);
    assert_true(duplicates > 0);
    assert_int_equal(merged + duplicates, 2 * S_ITEMS);
    assert_int_equal(braid_http_fixture_stop(f), 0);
}

int
main(void)
{
    braid_harness_init();
    setenv("BRAVE_API_KEY", "test-brave", 1);
    setenv("DOCS_API_KEY", "test-docs", 1);
    setenv("LLM_API_KEY", "test-llm", 1);
    if (!(s_worker_conf = s_example("worker.conf")) ||
        !(s_broker_conf = s_example("braidd.conf"))) {
        fprintf(stderr, "cannot read %s/aggregator\n", BRAID_EXAMPLES_DIR);
        return 1;
    }
    s_def.worker_conf = s_worker_conf;
    s_def.conf = s_broker_conf;
    const struct CMUnitTest tests[] = {
        BRAID_HTTP_FIXTURE_TEST(test_http_example, s_def),
    };
    int rc = cmocka_run_group_tests_name("http_example", tests, NULL, NULL);
    free(s_worker_conf);
    free(s_broker_conf);
    return rc;
}
