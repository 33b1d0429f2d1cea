/*  test_e2e_order.c - 1,000 queries through an exec source, both orders.

    The source runs gen.sh, a script written into the temp dir that prints
    1..5 lines per query (the count depends on the query's length), each
    holding the query text. The reference is the script run sequentially
    for each query by /bin/sh, here, with a record separator between
    queries.

    - `submit` order (the default): stdout equals the reference
      byte-for-byte.
    - `-o arrival`: the same multiset of lines; and with --json: per query,
      seqs 0..n-1 in order, its data equals that query's reference output,
      its end record comes after its partials with parts = n and status ok,
      and the job line (last) counts 1,000 ok.
    - Then the cluster stops cleanly: workers and broker exit 0 on SIGTERM,
      nothing left running.
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

#define S_QUERIES 1000
#define S_CLIENT_MSEC 40000

static const char s_script[] = "#!/bin/sh\n"
                               "# gen.sh QUERY: 1..5 lines, each holding the query\n"
                               "q=$1\n"
                               "n=$(( ${#q} % 5 + 1 ))\n"
                               "i=0\n"
                               "while [ \"$i\" -lt \"$n\" ]; do\n"
                               "    printf '%s|%d/%d\\n' \"$q\" \"$i\" \"$n\"\n"
                               "    i=$((i + 1))\n"
                               "done\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-e2e-order",
    .script_name = "gen.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 4,
    .specs = {"gen=exec:'%s' {query}"},
};

/*  The shared fixture, and the queries and their reference output.        */
typedef struct {
    braid_fixture_t *fx;
    char *queries; /* path of the queries file, one per line */
    char *want;    /* reference output, all queries */
    size_t want_len;
    size_t offset[S_QUERIES + 1]; /* query i's reference is want[offset[i]..offset[i+1]) */
} s_fixture_t;

/*  Query i: varied lengths, and now and then quotes, a backslash, shell
    syntax and a space, which must all reach the script as one argument.  */
static void
s_query(int i, char *buf, size_t size)
{
    int pad = (i * 7) % 11;
    snprintf(buf, size, "q%04d-%.*s%s", i, pad, "xxxxxxxxxxx",
             i % 97 == 0 ? " it's \"quoted\" \\ $HOME `x` ;|&" : "");
}

static int
s_setup_inner(void **state)
{
    s_fixture_t *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    f->fx = braid_fixture_new(&s_def);
    if (!f->fx)
        return -1;
    f->queries = braid_path(f->fx->dir, "queries.txt");
    if (!f->queries)
        return -1;
    FILE *qf = fopen(f->queries, "w");
    if (!qf)
        return -1;
    for (int i = 0; i < S_QUERIES; i++) {
        char q[128];
        s_query(i, q, sizeof q);
        fprintf(qf, "%s\n", q);
    }
    if (fclose(qf) != 0)
        return -1;

    /*  The reference: the script, sequentially, once per query; a record
        separator line (\036) after each query's output.                  */
    const char *loop[] = {"/bin/sh", "-c",
                          "while IFS= read -r q; do \"$0\" \"$q\"; printf '\\036\\n'; done",
                          f->fx->script, NULL};
    size_t len = 0;
    int code = -1;
    char *raw = braid_run(loop, f->queries, 30000, &len, &code);
    if (!raw || code != 0) {
        fprintf(stderr, "setup: reference run failed (exit %d)\n", code);
        free(raw);
        return -1;
    }
    f->want = malloc(len + 1);
    if (!f->want) {
        free(raw);
        return -1;
    }
    int query = 0;
    size_t line_start = 0;
    f->offset[0] = 0;
    while (line_start < len) {
        char *nl = memchr(raw + line_start, '\n', len - line_start);
        size_t line_len = (nl ? (size_t) (nl - raw) + 1 : len) - line_start;
        if (line_len == 2 && raw[line_start] == '\036') {
            if (query < S_QUERIES)
                f->offset[++query] = f->want_len;
        } else {
            memcpy(f->want + f->want_len, raw + line_start, line_len);
            f->want_len += line_len;
        }
        line_start += line_len;
    }
    free(raw);
    if (query != S_QUERIES) {
        fprintf(stderr, "setup: reference has %d queries, want %d\n", query, S_QUERIES);
        return -1;
    }
    return 0;
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    if (!f)
        return 0;
    braid_fixture_destroy(&f->fx);
    free(f->queries);
    free(f->want);
    free(f);
    return 0;
}

/*  cmocka does not call the teardown when the setup fails: do it here, so
    that a failed start leaves no temp dir and no process behind.         */
static int
s_setup(void **state)
{
    if (s_setup_inner(state) == 0)
        return 0;
    s_teardown(state);
    return -1;
}

/*  Run a client to completion; its exit code must be 0. Owned process.   */
static braid_proc_t *
s_run_client(s_fixture_t *f, const char *name, const char *const args[])
{
    braid_proc_t *client = braid_cluster_submit(f->fx->cluster, name, args, f->queries);
    assert_non_null(client);
    int code = -1;
    int64_t start = braid_now_msec();
    if (braid_cluster_finish(f->fx->cluster, &client, S_CLIENT_MSEC, 0, &code) != 0)
        fail_msg("%s: not done within %d ms", name, S_CLIENT_MSEC);
    print_message("%s: %lld ms\n", name, (long long) (braid_now_msec() - start));
    if (code != 0) {
        braid_proc_destroy(&client);
        fail_msg("%s: exit %d, want 0", name, code);
    }
    return client;
}

static int
s_cmp_line(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    return strcmp(*x, *y);
}

/*  Split text (modified in place) into lines, sorted. Owned array.        */
static char **
s_sorted_lines(char *text, size_t len, size_t *count_p)
{
    size_t count = 0;
    for (size_t i = 0; i < len; i++)
        count += text[i] == '\n';
    char **lines = calloc(count + 1, sizeof *lines);
    assert_non_null(lines);
    size_t n = 0;
    char *p = text;
    while (n < count) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        lines[n++] = p;
        p = nl + 1;
    }
    qsort(lines, n, sizeof *lines, s_cmp_line);
    *count_p = n;
    return lines;
}

static void
s_check_submit_order(s_fixture_t *f)
{
    const char *args[] = {"-s", "gen", NULL};
    braid_proc_t *client = s_run_client(f, "submit-order", args);
    size_t len;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    assert_non_null(out);
    int same = braid_compare("submit order vs sequential run", out, len, f->want, f->want_len);
    free(out);
    braid_proc_destroy(&client);
    assert_int_equal(same, 0);
}

static void
s_check_arrival_lines(s_fixture_t *f)
{
    const char *args[] = {"-s", "gen", "-o", "arrival", NULL};
    braid_proc_t *client = s_run_client(f, "arrival", args);
    size_t len;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    braid_proc_destroy(&client);
    assert_non_null(out);
    char *want = malloc(f->want_len + 1);
    assert_non_null(want);
    memcpy(want, f->want, f->want_len);
    want[f->want_len] = '\0';
    size_t got_count, want_count;
    /*  Every line ends in a newline, or the counts below differ.          */
    assert_true(len > 0 && out[len - 1] == '\n');
    char **got_lines = s_sorted_lines(out, len, &got_count);
    char **want_lines = s_sorted_lines(want, f->want_len, &want_count);
    int bad = -1;
    for (size_t i = 0; i < got_count && i < want_count && bad < 0; i++)
        if (strcmp(got_lines[i], want_lines[i]) != 0)
            bad = (int) i;
    if (got_count != want_count || bad >= 0)
        print_error("arrival: %zu lines, want %zu; first sorted difference at %d: '%s' vs '%s'\n",
                    got_count, want_count, bad, bad >= 0 ? got_lines[bad] : "",
                    bad >= 0 ? want_lines[bad] : "");
    assert_int_equal(got_count, want_count);
    assert_int_equal(bad, -1);
    free(got_lines);
    free(want_lines);
    free(out);
    free(want);
}

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    long long next_seq;
    bool ended;
} s_task_t;

static void
s_check_arrival_json(s_fixture_t *f)
{
    const char *args[] = {"-s", "gen", "-o", "arrival", "--json", NULL};
    braid_proc_t *client = s_run_client(f, "arrival-json", args);
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_non_null(out);
    s_task_t *tasks = calloc(S_QUERIES, sizeof *tasks);
    assert_non_null(tasks);

    bool job_seen = false;
    size_t line_no = 0;
    const char *cursor = out;
    json_t *j;
    while ((j = braid_json_next(&cursor))) {
        line_no++;
        if (job_seen)
            fail_msg("line %zu comes after the job line", line_no);
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        if (strcmp(type, "job") == 0) {
            job_seen = true;
            const char *status = json_string_value(json_object_get(j, "status"));
            assert_non_null(status);
            assert_string_equal(status, "ok");
            json_t *gen = json_object_get(json_object_get(j, "sources"), "gen");
            assert_non_null(gen);
            long long ok = -1, failed = -1;
            assert_int_equal(json_unpack(gen, "{s:I}", "ok", &ok), 0);
            assert_int_equal(json_unpack(gen, "{s:I}", "failed", &failed), 0);
            assert_int_equal(ok, S_QUERIES);
            assert_int_equal(failed, 0);
        } else {
            long long q = -1;
            assert_int_equal(json_unpack(j, "{s:I}", "query", &q), 0);
            assert_in_range(q, 0, S_QUERIES - 1);
            const char *source = json_string_value(json_object_get(j, "source"));
            assert_non_null(source);
            assert_string_equal(source, "gen");
            s_task_t *t = &tasks[q];
            if (t->ended)
                fail_msg("line %zu: query %lld has a %s record after its end", line_no, q, type);
            if (strcmp(type, "partial") == 0) {
                long long seq = -1;
                assert_int_equal(json_unpack(j, "{s:I}", "seq", &seq), 0);
                if (seq != t->next_seq)
                    fail_msg("line %zu: query %lld seq %lld, want %lld", line_no, q, seq,
                             t->next_seq);
                t->next_seq++;
                size_t dlen;
                char *data = braid_json_data(j, &dlen);
                assert_non_null(data);
                if (t->len + dlen > t->cap) {
                    t->cap = (t->len + dlen) * 2;
                    t->data = realloc(t->data, t->cap);
                    assert_non_null(t->data);
                }
                memcpy(t->data + t->len, data, dlen);
                t->len += dlen;
                free(data);
            } else if (strcmp(type, "end") == 0) {
                const char *status = json_string_value(json_object_get(j, "status"));
                assert_non_null(status);
                assert_string_equal(status, "ok");
                long long parts = -1;
                assert_int_equal(json_unpack(j, "{s:I}", "parts", &parts), 0);
                assert_int_equal(parts, t->next_seq);
                t->ended = true;
            } else
                fail_msg("line %zu: unknown type %s", line_no, type);
        }
        json_decref(j);
    }
    assert_true(job_seen);
    for (int q = 0; q < S_QUERIES; q++) {
        s_task_t *t = &tasks[q];
        if (!t->ended)
            fail_msg("query %d has no end record", q);
        char what[64];
        snprintf(what, sizeof what, "arrival --json, query %d", q);
        assert_int_equal(braid_compare(what, t->data ? t->data : "", t->len,
                                       f->want + f->offset[q], f->offset[q + 1] - f->offset[q]),
                         0);
        free(t->data);
    }
    free(tasks);
    free(out);
}

static void
test_e2e_order(void **state)
{
    s_fixture_t *f = *state;
    s_check_submit_order(f);
    s_check_arrival_lines(f);
    s_check_arrival_json(f);
    assert_int_equal(braid_cluster_stop(f->fx->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_e2e_order, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("e2e_order", tests, NULL, NULL);
}
