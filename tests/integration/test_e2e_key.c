/*  test_e2e_key.c - `-o key`: three sources answer the same queries with
    sorted scores and overlapping URLs; the broker merges each query's
    streams by score as they stream (issue 8, acceptance 5).

    ranked.sh SOURCE QUERY prints SOURCE's canned results for QUERY, best
    first, one JSON object a line, a moment apart. The workers serve a, b
    and c with score = score and dedup = url. Source c is the slowest: it
    holds its last result until the test releases the query (a file in
    the temp dir), and notes that it finished (another file) as it exits.

    Checked, with --json and two queries:
    - the first merged result reaches the client while c still holds its
      last one: the test waits for it before it releases c (a broker that
      did not stream would make it wait in vain, and fail);
    - each query's results are sorted by score (best first), each URL
      comes once, and the duplicates are counted in the end records (one
      per source: a's u2, b's u3, c's u1); all of query 0's records come
      before query 1's; every source ends ok with its parts; exit 0;
    - a source without score cannot be used with -o key: a clear error
      that names it, exit 3.
    Then a clean stop.
*/

#include "fixture.h"
#include "jsonl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 2
#define S_FIRST_MSEC 20000      /* the first result, at most (ASan, load)  */
#define S_CLIENT_MSEC 30000
#define S_HOLD_SEC 60           /* c waits for its release this long at most */

/*  A number as a string literal, for the script.                          */
#define S_TEXT(n) S_TEXT_(n)
#define S_TEXT_(n) #n

/* clang-format off */
static const char s_script[] =
    "#!/bin/sh\n"
    "# ranked.sh SOURCE QUERY: SOURCE's results for QUERY, best first.\n"
    "d=${0%/*} src=$1 q=$2\n"
    "item() {\n"
    "    printf '{\"q\":\"%s\",\"src\":\"%s\",\"url\":\"%s\",\"score\":%s}\\n' \\\n"
    "        \"$q\" \"$src\" \"$1\" \"$2\"\n"
    "    sleep 0.02\n"
    "}\n"
    "case $src in\n"
    "a) item u1 0.9; item u2 0.7; item u3 0.5; item u4 0.3 ;;\n"
    "b) item u2 0.95; item u5 0.6; item u3 0.4 ;;\n"
    "c) item u1 0.8; item u6 0.2\n"
    "   i=0\n"
    "   while [ ! -e \"$d/release-$q\" ] && [ $i -lt " S_TEXT(S_HOLD_SEC) "0 ]; do\n"
    "       sleep 0.1; i=$((i + 1))\n"
    "   done\n"
    "   item u7 0.1\n"
    "   : > \"$d/c-done-$q\" ;;\n"
    "esac\n";
/* clang-format on */

static const braid_fixture_def_t s_def = {
    .name = "braid-e2e-key",
    .script_name = "ranked.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 3,
    .specs = {"a=exec[score=score,dedup=url]:'%s' a {query}",
              "b=exec[score=score,dedup=url]:'%s' b {query}",
              "c=exec[score=score,dedup=url]:'%s' c {query}", "plain=exec:'%s' a {query}"},
};

/*  What each query must give, in order: source and URL.                   */
static const struct {
    const char *src, *url;
} s_want[] = {{"b", "u2"}, {"a", "u1"}, {"b", "u5"}, {"a", "u3"},
              {"a", "u4"}, {"c", "u6"}, {"c", "u7"}};
#define S_NWANT (sizeof s_want / sizeof s_want[0])

/*  Touch dir/name.                                                         */
static void
s_touch(const char *dir, const char *name)
{
    char *path = braid_path(dir, name);
    assert_non_null(path);
    assert_int_equal(braid_file_write(path, "", 0, 0644), 0);
    free(path);
}

/*  True if dir/name exists.                                                */
static bool
s_exists(const char *dir, const char *name)
{
    char *path = braid_path(dir, name);
    assert_non_null(path);
    FILE *f = fopen(path, "r");
    free(path);
    if (f)
        fclose(f);
    return f != NULL;
}

/*  One partial line: its query, source, and the result in its data.       */
static void
s_check_partial(json_t *j, long long query, size_t *next, double *last_score)
{
    long long q = -1;
    assert_int_equal(json_unpack(j, "{s:I}", "query", &q), 0);
    assert_int_equal(q, query);
    const char *src = json_string_value(json_object_get(j, "source"));
    char *data = braid_json_data(j, NULL);
    assert_non_null(src);
    assert_non_null(data);
    json_t *item = braid_json_parse(data, strlen(data));
    if (!item)
        fail_msg("partial data is not one JSON object: %s", data);
    const char *url = json_string_value(json_object_get(item, "url"));
    double score = json_number_value(json_object_get(item, "score"));
    if (*next >= S_NWANT || strcmp(src, s_want[*next].src) != 0 ||
        !url || strcmp(url, s_want[*next].url) != 0)
        fail_msg("query %lld result %zu: %s %s, want %s %s", query, *next, src, url ? url : "-",
                 *next < S_NWANT ? s_want[*next].src : "-",
                 *next < S_NWANT ? s_want[*next].url : "-");
    /*  Sorted: never better than the one before.                          */
    assert_true(score <= *last_score);
    *last_score = score;
    (*next)++;
    json_decref(item);
    free(data);
}

static void
s_check_output(const char *out)
{
    const char *cursor = out;
    json_t *j;
    long long query = 0;
    size_t next = 0;
    double last_score = 1e9;
    int ends = 0;
    bool job_seen = false;
    while ((j = braid_json_next(&cursor))) {
        assert_false(job_seen);
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (strcmp(type, "partial") == 0)
            s_check_partial(j, query, &next, &last_score);
        else if (strcmp(type, "end") == 0) {
            long long q = -1, parts = -1, dups = -1;
            assert_int_equal(json_unpack(j, "{s:I,s:I,s:I}", "query", &q, "parts", &parts,
                                         "duplicates", &dups),
                             0);
            assert_int_equal(q, query);
            const char *src = json_string_value(json_object_get(j, "source"));
            assert_non_null(src);
            assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
            assert_int_equal(parts, strcmp(src, "a") == 0 ? 4 : 3);
            assert_int_equal(dups, 1);
            if (++ends == 3) {
                /*  The query is over: all of it came, then the next.       */
                assert_int_equal(next, S_NWANT);
                query++;
                next = 0;
                last_score = 1e9;
                ends = 0;
            }
        } else if (strcmp(type, "job") == 0) {
            job_seen = true;
            assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
            for (int s = 0; s < 3; s++)
                braid_json_check_job(j, (const char *[]){"a", "b", "c"}[s], S_QUERIES, 0, 0, 0);
        } else
            fail_msg("unexpected line type %s", type);
        json_decref(j);
    }
    assert_true(job_seen);
    assert_int_equal(query, S_QUERIES);
}

static void
test_e2e_key(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"-o", "key", "-s", "a", "-s", "b", "-s", "c", "--json", "q0", "q1",
                          NULL};
    braid_proc_t *client = braid_cluster_submit(f->cluster, "client-key", args, NULL);
    assert_non_null(client);
    /*  The first merged result comes while c still holds its last one.    */
    if (braid_proc_wait_line(client, BRAID_STDOUT, "\"type\":\"partial\"", S_FIRST_MSEC) != 0) {
        braid_proc_dump(client, 4000);
        braid_cluster_dump(f->cluster);
        s_touch(f->dir, "release-q0");
        s_touch(f->dir, "release-q1");
        braid_proc_destroy(&client);
        fail_msg("no merged result within %d ms while source c still runs", S_FIRST_MSEC);
    }
    assert_false(s_exists(f->dir, "c-done-q0"));
    s_touch(f->dir, "release-q0");
    s_touch(f->dir, "release-q1");
    int code = -1;
    if (braid_cluster_finish(f->cluster, &client, S_CLIENT_MSEC, 0, &code) != 0)
        fail_msg("the key job did not finish within %d ms", S_CLIENT_MSEC);
    assert_int_equal(code, 0);
    assert_true(s_exists(f->dir, "c-done-q0"));
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_non_null(out);
    print_message("--json output:\n%s", out);
    s_check_output(out);
    free(out);

    /*  A source without score: refused at submit, naming it.              */
    const char *plain[] = {"-o", "key", "-s", "a", "-s", "plain", "q", NULL};
    if (braid_cluster_run(f->cluster, "client-plain", plain, S_CLIENT_MSEC, 3, &client, &code) != 0)
        fail_msg("the refused job did not end within %d ms", S_CLIENT_MSEC);
    char *err = braid_proc_output(client, BRAID_STDERR, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 3);
    assert_non_null(err);
    if (!strstr(err, "source 'plain' has none"))
        fail_msg("no error naming the source without score:\n%s", err);
    free(err);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_FIXTURE_TEST(test_e2e_key, s_def),
    };
    return cmocka_run_group_tests_name("e2e_key", tests, NULL, NULL);
}
