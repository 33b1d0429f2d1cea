/*  test_ledger.c - braid_ledger_t (client/ledger.h): what the caller of a
    job has, kept across brokers.

      dedup      partials below what was handed out and repeated ENDs are
                 refused; a RESTART starts a task's seqs again
      summary    the ENDs per source and status, the job's status
      resume     the ended tasks as ranges, the head in progress; whole
                 queries only for order key
      many_open  thousands of tasks in progress at once (the table grows,
                 entries leave by backward shift), checked against a plain
                 array
*/

#include "ledger.h"

#include "braid_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static uint64_t
s_be(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static void
test_dedup(void **state)
{
    (void) state;
    braid_ledger_t *l = braid_ledger_new(3, 2);
    assert_non_null(l);
    assert_true(braid_ledger_partial(l, 0, 1, 0));
    assert_true(braid_ledger_partial(l, 0, 1, 1));
    assert_false(braid_ledger_partial(l, 0, 1, 0));     /* a broker resent it */
    assert_false(braid_ledger_partial(l, 0, 1, 1));
    assert_true(braid_ledger_partial(l, 0, 1, 2));
    assert_true(braid_ledger_end(l, 0, 1, BRAID_END_OK));
    assert_false(braid_ledger_end(l, 0, 1, BRAID_END_OK));
    assert_false(braid_ledger_partial(l, 0, 1, 3));     /* after its end      */
    /*  RESTART: seq 0 again is new.                                       */
    assert_true(braid_ledger_partial(l, 1, 0, 0));
    assert_false(braid_ledger_partial(l, 1, 0, 0));
    braid_ledger_restart(l, 1, 0);
    assert_true(braid_ledger_partial(l, 1, 0, 0));
    /*  Out of range: refused.                                             */
    assert_false(braid_ledger_partial(l, 3, 0, 0));
    assert_false(braid_ledger_end(l, 0, 2, BRAID_END_OK));
    braid_ledger_destroy(&l);
    braid_ledger_destroy(&l);
    assert_null(l);
}

static void
test_summary(void **state)
{
    (void) state;
    braid_ledger_t *l = braid_ledger_new(2, 2);
    assert_int_equal(braid_ledger_status(l), BRAID_END_OK);
    braid_ledger_end(l, 0, 0, BRAID_END_OK);
    braid_ledger_end(l, 0, 1, BRAID_END_CANCELLED);
    assert_int_equal(braid_ledger_status(l), BRAID_END_CANCELLED);
    braid_ledger_end(l, 1, 1, BRAID_END_TIMEOUT);
    braid_ledger_end(l, 1, 1, BRAID_END_OK);            /* a repeat: ignored */
    assert_int_equal(braid_ledger_status(l), BRAID_END_FAILED);
    const uint64_t(*sum)[BRAID_END_STATUS_COUNT] = braid_ledger_summary(l);
    assert_int_equal(sum[0][BRAID_END_OK], 1);
    assert_int_equal(sum[1][BRAID_END_CANCELLED], 1);
    assert_int_equal(sum[1][BRAID_END_TIMEOUT], 1);
    assert_int_equal(sum[1][BRAID_END_OK], 0);
    braid_ledger_destroy(&l);
}

static void
test_resume(void **state)
{
    (void) state;
    /*  4 queries x 2 sources: tasks 0 1 | 2 3 | 4 5 | 6 7.                */
    braid_ledger_t *l = braid_ledger_new(4, 2);
    uint8_t *frame;
    size_t size;
    uint32_t q, s;
    uint64_t seq;
    assert_int_equal(braid_ledger_resume(l, false, &frame, &size, &q, &s, &seq), 0);
    assert_int_equal(size, 0);
    assert_int_equal(seq, 0);
    free(frame);
    braid_ledger_end(l, 0, 0, BRAID_END_OK);    /* task 0 */
    braid_ledger_end(l, 0, 1, BRAID_END_OK);    /* task 1 */
    braid_ledger_end(l, 1, 1, BRAID_END_OK);    /* task 3 */
    braid_ledger_end(l, 3, 0, BRAID_END_OK);    /* task 6 */
    braid_ledger_partial(l, 2, 1, 0);           /* task 5 in progress */
    braid_ledger_partial(l, 2, 1, 1);
    braid_ledger_partial(l, 1, 0, 0);           /* task 2 in progress: the head */
    assert_int_equal(braid_ledger_resume(l, false, &frame, &size, &q, &s, &seq), 0);
    assert_int_equal(size, 3 * BRAID_RESUME_RANGE);
    uint64_t want[] = {0, 2, 3, 4, 6, 7};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(s_be(frame + i * 8), want[i]);
    assert_int_equal(q, 1);
    assert_int_equal(s, 0);
    assert_int_equal(seq, 1);
    free(frame);
    /*  Order key: whole queries only (query 0), no head.                  */
    assert_int_equal(braid_ledger_resume(l, true, &frame, &size, &q, &s, &seq), 0);
    assert_int_equal(size, BRAID_RESUME_RANGE);
    assert_int_equal(s_be(frame), 0);
    assert_int_equal(s_be(frame + 8), 2);
    assert_int_equal(seq, 0);
    free(frame);
    braid_ledger_destroy(&l);
}

/*  Thousands in progress at once, in a scrambled order, ended in another:
    the table against a plain array of what was handed out.                */
static void
test_many_open(void **state)
{
    (void) state;
    enum { N = 5000 };
    braid_ledger_t *l = braid_ledger_new(N, 1);
    uint64_t *out = calloc(N, sizeof *out);
    assert_non_null(out);
    uint32_t x = 12345;
    for (int round = 0; round < 4; round++)
        for (uint32_t i = 0; i < N; i++) {
            uint32_t q = (i * 7919u + (uint32_t) round * 31u) % N;
            assert_true(braid_ledger_partial(l, q, 0, out[q]));
            assert_false(braid_ledger_partial(l, q, 0, out[q]));
            out[q]++;
        }
    for (uint32_t i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        uint32_t q = (i * 4999u) % N;
        if (x % 3 == 0) {
            assert_true(braid_ledger_end(l, q, 0, BRAID_END_OK));
            out[q] = UINT64_MAX;
        }
    }
    for (uint32_t q = 0; q < N; q++) {
        if (out[q] == UINT64_MAX) {
            assert_false(braid_ledger_partial(l, q, 0, 4));
            continue;
        }
        assert_int_equal(out[q], 4);
        assert_false(braid_ledger_partial(l, q, 0, 3));
        assert_true(braid_ledger_partial(l, q, 0, 4));
    }
    free(out);
    braid_ledger_destroy(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_many_open),
    };
    return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
