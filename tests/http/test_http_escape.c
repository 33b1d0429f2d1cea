/*  test_http_escape.c - acceptance 7: a query reaches the server exactly
    as typed.

    The query holds &, #, +, %, spaces, both quotes, a backslash, a tab
    and non-ASCII text. Sources (worker config):
      web    GET /search?q={query}: the URL-escaped query; the server
             decodes its query string, answers {"q": Q} and records the
             request under "/search?Q";
      post   POST /echo with body template {"q": "{query}", "n": 1}: the
             query JSON-escaped; the server records the body;
      hdr    GET /headers with a header from the worker's environment
             (${BRAID_TEST_TOKEN}): the server answers the headers it got.
    Asserts: what the server decoded (the key it recorded, the q in its
    answer, the q of the body it got, parsed as JSON) equals the query
    byte for byte; the header came with the environment's value.
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

/*  & # + % space " ' \ tab, and UTF-8: Greek, CJK, an emoji (none in
    U+0080..U+00FF, which jsonl.h cannot tell from escaped bytes).        */
static const char s_query[] = "a&b #c+d %41%zz \"x\" 'y' \\ \t\xce\xbb \xe4\xb8\xad\xe6\x96\x87 "
                              "\xf0\x9f\x98\x80 ?q=1&r";
#define S_TOKEN "secret token/with+stuff=="

static const char s_worker_conf[] =
    "source\n"
    "    web\n"
    "        type = http\n"
    "        url = \"http://127.0.0.1:" BRAID_HTTP_PORT "/search?q={query}\"\n"
    "    post\n"
    "        type = http\n"
    "        url = \"http://127.0.0.1:" BRAID_HTTP_PORT "/echo\"\n"
    "        body = '{\"q\": \"{query}\", \"n\": 1}'\n"
    "    hdr\n"
    "        type = http\n"
    "        url = \"http://127.0.0.1:" BRAID_HTTP_PORT "/headers?q={query}\"\n"
    "        header\n"
    "            X-Api-Key = \"${BRAID_TEST_TOKEN}\"\n";

static const braid_http_fixture_def_t s_def = {
    .name = "braid-http-escape",
    .workers = 1,
    .slots = 4,
    .worker_conf = s_worker_conf,
};

/*  The one partial of source in the client's output, parsed as JSON.
    Owned.                                                                  */
static json_t *
s_answer(const char *out, const char *source)
{
    json_t *j = braid_json_find(out, "partial", source);
    if (!j)
        fail_msg("no partial from %s", source);
    size_t len = 0;
    char *data = braid_json_data(j, &len);
    json_decref(j);
    assert_non_null(data);
    json_t *answer = braid_json_parse(data, len);
    if (!answer)
        fail_msg("%s: the answer is not JSON: %s", source, data);
    free(data);
    return answer;
}

static void
test_http_escape(void **state)
{
    braid_http_fixture_t *f = *state;
    const char *args[] = {"--json", "-s", "web", "-s", "post", "-s", "hdr", s_query, NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 30000, 0, &client, &code) != 0)
        fail_msg("the job did not end within 30 s");
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_non_null(out);

    json_t *web = s_answer(out, "web");
    assert_string_equal(json_string_value(json_object_get(web, "q")), s_query);
    json_decref(web);
    json_t *post = s_answer(out, "post");
    assert_string_equal(json_string_value(json_object_get(post, "q")), s_query);
    assert_int_equal(json_integer_value(json_object_get(post, "n")), 1);
    json_decref(post);
    json_t *hdr = s_answer(out, "hdr");
    assert_string_equal(json_string_value(json_object_get(hdr, "x-api-key")), S_TOKEN);
    json_decref(hdr);
    free(out);

    json_t *stats = braid_http_server_stats(f->server);
    assert_non_null(stats);
    char key[sizeof s_query + 16];
    snprintf(key, sizeof key, "/search?%s", s_query);
    assert_non_null(braid_http_server_list(stats, "times", key));
    json_t *bodies = json_object_get(stats, "bodies");
    assert_int_equal(json_array_size(bodies), 1);
    /*  The body as the server got it (latin-1 there: one char per byte).  */
    size_t len = 0;
    char *body = braid_json_bytes(json_array_get(bodies, 0), &len);
    assert_non_null(body);
    print_message("POST body the server got: %s\n", body);
    json_t *parsed = braid_json_parse(body, len);
    assert_non_null(parsed);
    assert_string_equal(json_string_value(json_object_get(parsed, "q")), s_query);
    json_decref(parsed);
    free(body);
    json_decref(stats);
    assert_int_equal(braid_http_fixture_stop(f), 0);
}

int
main(void)
{
    braid_harness_init();
    /*  The workers inherit it: the header takes it from there.            */
    setenv("BRAID_TEST_TOKEN", S_TOKEN, 1);
    const struct CMUnitTest tests[] = {
        BRAID_HTTP_FIXTURE_TEST(test_http_escape, s_def),
    };
    return cmocka_run_group_tests_name("http_escape", tests, NULL, NULL);
}
