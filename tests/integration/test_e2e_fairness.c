/*  test_e2e_fairness.c - a batch of ten does not wait for a batch of 2,000.

    Synthetic source load=synthetic:parts=1,size=64,delay_msec=5 on two
    workers with four slots each: 2,000 tasks take at least 2000 * 5 ms / 8
    = 1.25 s of slot time. Client A submits 2,000 queries (stdin); once A
    has streamed its first output, client B submits 5. With round robin
    across jobs, B's tasks get slots at once: B must exit 0 while A still
    runs (B's exit is seen before A's). Both outputs are complete and in
    submit order, each line the synthetic payload: "QUERY 0" padded with
    '.' to 63 bytes, then '\n'. Then a clean stop.
*/

#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_A_QUERIES 2000
#define S_B_QUERIES 5
#define S_SIZE 64

static const braid_fixture_def_t s_def = {
    .name = "braid-e2e-fair",
    .workers = 2,
    .slots = 4,
    .specs = {"load=synthetic:parts=1,size=64,delay_msec=5"},
};

/*  The synthetic source's one payload (seq 0) for a query.                */
static void
s_payload(const char *query, char out[S_SIZE + 1])
{
    int n = snprintf(out, S_SIZE + 1, "%s 0", query);
    if (n > S_SIZE - 1)
        n = S_SIZE - 1;
    memset(out + n, '.', (size_t) (S_SIZE - 1 - n));
    out[S_SIZE - 1] = '\n';
    out[S_SIZE] = '\0';
}

/*  Output of a client that sent queries PREFIX0000.. or PREFIX0..         */
static void
s_check_output(braid_proc_t *client, const char *fmt, int count)
{
    size_t len;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    assert_non_null(out);
    size_t want_len = (size_t) count * S_SIZE;
    char *want = malloc(want_len + 1);
    assert_non_null(want);
    for (int i = 0; i < count; i++) {
        char query[32];
        snprintf(query, sizeof query, fmt, i);
        s_payload(query, want + (size_t) i * S_SIZE);
    }
    int same = braid_compare(braid_proc_name(client), out, len, want, want_len);
    free(out);
    free(want);
    assert_int_equal(same, 0);
}

static void
test_e2e_fairness(void **state)
{
    braid_fixture_t *f = *state;
    char *a_queries = braid_path(f->dir, "a-queries.txt");
    FILE *qf = a_queries ? fopen(a_queries, "w") : NULL;
    assert_non_null(qf);
    for (int i = 0; i < S_A_QUERIES; i++)
        fprintf(qf, "a%04d\n", i);
    assert_int_equal(fclose(qf), 0);
    const char *a_args[] = {"-s", "load", NULL};
    braid_proc_t *a = braid_cluster_submit(f->cluster, "client-a", a_args, a_queries);
    free(a_queries);
    assert_non_null(a);
    if (braid_proc_wait_bytes(a, BRAID_STDOUT, 1, 20000) != 0) {
        braid_proc_dump(a, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&a);
        fail_msg("client A streamed nothing within 20 s");
    }
    int64_t a_first = braid_now_msec();

    const char *b_args[] = {"-s", "load", "b0", "b1", "b2", "b3", "b4", NULL};
    braid_proc_t *b = braid_cluster_submit(f->cluster, "client-b", b_args, NULL);
    assert_non_null(b);
    /*  If A were done already, the test would prove nothing.              */
    if (braid_proc_exited(a)) {
        braid_proc_destroy(&a);
        braid_proc_destroy(&b);
        fail_msg("client A finished before B was started: the load is too small");
    }
    int b_code = -1, a_code = -1;
    if (braid_proc_finish(b, 20000, &b_code) != 0) {
        braid_proc_dump(b, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&a);
        braid_proc_destroy(&b);
        fail_msg("client B not done within 20 s");
    }
    int64_t b_exit = braid_proc_exit_msec(b);
    if (braid_proc_finish(a, 30000, &a_code) != 0) {
        braid_proc_dump(a, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&a);
        braid_proc_destroy(&b);
        fail_msg("client A not done within 30 s");
    }
    int64_t a_exit = braid_proc_exit_msec(a);
    print_message("A first output -> B exit: %lld ms; B exit -> A exit: %lld ms\n",
                  (long long) (b_exit - a_first), (long long) (a_exit - b_exit));
    if (b_code != 0)
        braid_proc_dump(b, 2000);
    if (a_code != 0)
        braid_proc_dump(a, 2000);
    assert_int_equal(b_code, 0);
    assert_int_equal(a_code, 0);
    /*  A was still running when B exited.                                 */
    assert_true(a_exit > b_exit);
    s_check_output(b, "b%d", S_B_QUERIES);
    s_check_output(a, "a%04d", S_A_QUERIES);
    braid_proc_destroy(&a);
    braid_proc_destroy(&b);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_FIXTURE_TEST(test_e2e_fairness, s_def),
    };
    return cmocka_run_group_tests_name("e2e_fairness", tests, NULL, NULL);
}
