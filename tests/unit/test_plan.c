/*  test_plan.c - what braid submit runs (client/plan.c): with no marks,
    one job that is the request itself; marks from a job log (done, to run
    again, the latest wins, unknown pairs, another input's queries); what
    is left cut into one job per set of sources, in the order of their
    first query, with the options of the request and the queries' numbers;
    nothing left; numbers out of order.                                     */

#include "plan.h"
#include "braid_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/*  A plan for sources a, b (and c when three), with fail-fast and a
    timeout, and queries q0..q(n-1) numbered 2i (every other line empty).  */
static braid_plan_t *
s_plan(int nsources, int nqueries)
{
    braid_request_t *request = braid_request_new();
    assert_non_null(request);
    static const char *names[] = {"a", "b", "c"};
    for (int i = 0; i < nsources; i++)
        assert_int_equal(braid_request_add_source(request, names[i]), BRAID_ADD_OK);
    braid_request_set_fail_fast(request, true);
    assert_int_equal(braid_request_set_timeout(request, 1500), 0);
    braid_plan_t *plan = braid_plan_new(&request);
    assert_non_null(plan);
    assert_null(request);
    for (int i = 0; i < nqueries; i++) {
        char q[16];
        snprintf(q, sizeof q, "q%d", i);
        assert_int_equal(braid_plan_add(plan, (uint32_t) (2 * i), q, strlen(q)), BRAID_ADD_OK);
    }
    assert_int_equal(braid_plan_query_count(plan), (size_t) nqueries);
    return plan;
}

/*  Mark query i (number 2i) for source with the right text.                */
static void
s_mark(braid_plan_t *plan, int i, const char *source, bool skip)
{
    char q[16];
    snprintf(q, sizeof q, "q%d", i);
    assert_int_equal(braid_plan_mark(plan, (uint32_t) (2 * i), source, q, strlen(q), skip),
                     BRAID_PLAN_MARKED);
}

/*  The request of job must ask sources (a comma list) for queries (a
    comma list of their texts), numbered 2i.                                */
static void
s_expect_job(braid_plan_t *plan, size_t job, const char *sources, const char *queries)
{
    const uint32_t *numbers = NULL;
    braid_request_t *request = braid_plan_request(plan, job, &numbers);
    assert_non_null(request);
    char got[256] = "";
    for (size_t i = 0; i < braid_request_source_count(request); i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "",
                 braid_request_source(request, i));
    assert_string_equal(got, sources);
    got[0] = 0;
    for (size_t i = 0; i < braid_request_query_count(request); i++) {
        size_t size = 0;
        const char *q = braid_request_query(request, i, &size);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%.*s", i ? "," : "", (int) size,
                 q);
        unsigned n;
        assert_int_equal(sscanf(q, "q%u", &n), 1);
        assert_int_equal(numbers[i], 2 * n);
    }
    assert_string_equal(got, queries);
    braid_request_destroy(&request);
}

/*  No marks: one job of everything, the request itself (handed out once). */
static void
test_everything(void **state)
{
    (void) state;
    braid_plan_t *plan = s_plan(2, 3);
    assert_string_equal(braid_plan_source(plan, 1), "b");
    assert_null(braid_plan_source(plan, 2));
    assert_int_equal(braid_plan_cut(plan), 1);
    assert_int_equal(braid_plan_task_count(plan), 6);
    s_expect_job(plan, 0, "a,b", "q0,q1,q2");
    const uint32_t *numbers;
    assert_null(braid_plan_request(plan, 0, &numbers));
    assert_null(braid_plan_source(plan, 0));
    braid_plan_destroy(&plan);
    assert_null(plan);
    braid_plan_destroy(&plan);
}

/*  --resume: every logged pair is done; --resume-failed: a later line of
    the pair wins. Unknown pairs and another input's queries.              */
static void
test_marks(void **state)
{
    (void) state;
    braid_plan_t *plan = s_plan(2, 4);
    s_mark(plan, 0, "a", true);
    s_mark(plan, 0, "b", true);
    s_mark(plan, 1, "a", false);    /* failed, then ok: done                */
    s_mark(plan, 1, "a", true);
    s_mark(plan, 2, "b", true);     /* ok, then failed: to run              */
    s_mark(plan, 2, "b", false);
    assert_int_equal(braid_plan_mark(plan, 1, "a", "x", 1, true), BRAID_PLAN_UNKNOWN);
    assert_int_equal(braid_plan_mark(plan, 99, "a", "x", 1, true), BRAID_PLAN_UNKNOWN);
    assert_int_equal(braid_plan_mark(plan, 2, "zz", "q1", 2, true), BRAID_PLAN_UNKNOWN);
    assert_int_equal(braid_plan_mark(plan, 2, "a", "q9", 2, true), BRAID_PLAN_MISMATCH);
    assert_int_equal(braid_plan_mark(plan, 2, "a", "q", 1, true), BRAID_PLAN_MISMATCH);
    /*  Left: q1 b; q2 a, b; q3 a, b.                                       */
    assert_int_equal(braid_plan_cut(plan), 2);
    assert_int_equal(braid_plan_task_count(plan), 5);
    s_expect_job(plan, 0, "b", "q1");
    s_expect_job(plan, 1, "a,b", "q2,q3");
    const uint32_t *numbers;
    assert_null(braid_plan_request(plan, 2, &numbers));
    braid_plan_destroy(&plan);
}

/*  Jobs come in the order of their first query, each with the options of
    the request (fail-fast, the timeout): a job's SUBMIT is what the
    request's would be but for its sources and queries.                    */
static void
test_order_of_jobs(void **state)
{
    (void) state;
    braid_plan_t *plan = s_plan(3, 6);
    s_mark(plan, 0, "c", true);     /* q0: a, b                             */
    s_mark(plan, 1, "a", true);     /* q1: b, c                             */
    s_mark(plan, 1, "b", true);     /*     c                                */
    s_mark(plan, 2, "c", true);     /* q2: a, b                             */
    s_mark(plan, 3, "a", true);     /* q3: b                                */
    s_mark(plan, 3, "c", true);
    s_mark(plan, 4, "a", true);     /* q4: nothing                          */
    s_mark(plan, 4, "b", true);
    s_mark(plan, 4, "c", true);
    s_mark(plan, 5, "a", true);     /* q5: b, c                             */
    assert_int_equal(braid_plan_cut(plan), 4);
    assert_int_equal(braid_plan_task_count(plan), 2 + 1 + 2 + 1 + 2);
    s_expect_job(plan, 0, "a,b", "q0,q2");
    s_expect_job(plan, 1, "c", "q1");
    s_expect_job(plan, 2, "b", "q3");
    s_expect_job(plan, 3, "b,c", "q5");
    braid_plan_destroy(&plan);
}

/*  Everything done: no job. No query at all: no job either.               */
static void
test_nothing_left(void **state)
{
    (void) state;
    braid_plan_t *plan = s_plan(1, 2);
    s_mark(plan, 0, "a", true);
    s_mark(plan, 1, "a", true);
    assert_int_equal(braid_plan_cut(plan), 0);
    assert_int_equal(braid_plan_task_count(plan), 0);
    assert_string_equal(braid_plan_source(plan, 0), "a");
    braid_plan_destroy(&plan);
    plan = s_plan(1, 0);
    assert_int_equal(braid_plan_cut(plan), 0);
    braid_plan_destroy(&plan);
}

/*  Numbers must increase; the request's own limits hold.                   */
static void
test_add(void **state)
{
    (void) state;
    braid_plan_t *plan = s_plan(1, 2);      /* numbers 0, 2                 */
    assert_int_equal(braid_plan_add(plan, 2, "x", 1), BRAID_ADD_INVALID);
    assert_int_equal(braid_plan_add(plan, 1, "x", 1), BRAID_ADD_INVALID);
    static char big[BRAID_MAX_QUERY_LEN + 1];
    assert_int_equal(braid_plan_add(plan, 3, big, sizeof big), BRAID_ADD_TOO_LONG);
    assert_int_equal(braid_plan_add(plan, 3, "", 0), BRAID_ADD_OK);
    assert_int_equal(braid_plan_query_count(plan), 3);
    /*  A mark after a cut makes a new cut necessary (and possible).        */
    assert_int_equal(braid_plan_cut(plan), 1);
    s_mark(plan, 0, "a", true);
    assert_int_equal(braid_plan_cut(plan), 1);
    assert_int_equal(braid_plan_task_count(plan), 2);
    braid_plan_destroy(&plan);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_everything),   cmocka_unit_test(test_marks),
        cmocka_unit_test(test_order_of_jobs), cmocka_unit_test(test_nothing_left),
        cmocka_unit_test(test_add),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
