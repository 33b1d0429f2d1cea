/*  test_merge.c - the merge of order key (broker/merge.c), without sockets
    and without a job.

    The reference is a sort of the whole output: every partial of the
    query, its score clamped as the rules say (never better than the one
    before it in its task), sorted by score (best first), then source
    index, then seq; a partial whose dedup value came earlier in that
    order is a duplicate. Seeded random runs push each source's partials
    in random chunks, end the sources at random moments, pump the merge at
    random moments (sometimes rolling a batch back, as when the client
    cannot take it), and must produce exactly the reference, drop exactly
    its duplicates, and drain completely once every source has ended.
    Fixed cases check the streaming itself: what goes out before a source
    has ended, and what waits.
*/

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge.h"

/*  ---------------------------------------------------------------------
    A driver: pump the merge like job.c does and record what comes out.   */

#define S_MAX_OUT 4096

typedef struct {
    uint32_t source;
    uint32_t seq;
} t_out_t;

typedef struct {
    braid_merge_t *merge;
    uint32_t first;             /* the query's task of source 0            */
    uint32_t nsources;
    uint32_t open;              /* bit s: source s may bring more          */
    uint32_t next_seq[8];       /* per source: seq of its first undecided  */
    t_out_t out[S_MAX_OUT];
    size_t nout;
    t_out_t dropped[S_MAX_OUT];
    size_t ndropped;
    unsigned seed;
    int rollback_pct;           /* chance a batch is rolled back           */
} t_drv_t;

/*  Decide what can be decided; batches of one source's consecutive
    winners, sometimes rolled back and tried again.                        */
static void
s_pump(t_drv_t *d)
{
    for (int guard = 0; guard < 100000; guard++) {
        uint32_t s;
        braid_merge_next_t what = braid_merge_next(d->merge, d->first, d->nsources, d->open, &s);
        if (what == BRAID_MERGE_WAIT)
            return;
        uint32_t idx = d->first + s;
        if (what == BRAID_MERGE_DROP) {
            braid_merge_drop(d->merge, idx);
            d->dropped[d->ndropped++] = (t_out_t){s, d->next_seq[s]++};
            continue;
        }
        size_t n = 0;
        uint32_t again;
        do {
            assert_int_equal(braid_merge_take(d->merge, idx), 0);
            n++;
        } while (braid_merge_next(d->merge, d->first, d->nsources, d->open, &again) ==
                     BRAID_MERGE_SEND &&
                 again == s && n < 5);
        if (d->rollback_pct && rand_r(&d->seed) % 100 < d->rollback_pct) {
            braid_merge_rollback(d->merge);
            return;     /* as when the client is full: tried again later  */
        }
        braid_merge_commit(d->merge);
        for (size_t i = 0; i < n; i++)
            d->out[d->nout++] = (t_out_t){s, d->next_seq[s]++};
    }
    fail_msg("pump did not stop");
}

static braid_key_t
s_key(double score, const char *dedup)
{
    braid_key_t k = {braid_score_real(score), (const uint8_t *) dedup, dedup ? strlen(dedup) : 0};
    return k;
}

static void
s_push(t_drv_t *d, uint32_t s, const braid_key_t *keys, size_t n)
{
    assert_int_equal(braid_merge_push(d->merge, d->first + s, keys, n), 0);
}

static void
s_assert_out(t_drv_t *d, const char *want)
{
    char got[1024] = "";
    size_t len = 0;
    for (size_t i = 0; i < d->nout; i++)
        len += (size_t) snprintf(got + len, sizeof got - len, "%s%c%u", i ? " " : "",
                                 'A' + d->out[i].source, d->out[i].seq);
    if (strcmp(got, want) != 0)
        fail_msg("merged '%s', want '%s'", got, want);
}

static t_drv_t *
s_drv(uint32_t nsources, bool ascending)
{
    t_drv_t *d = calloc(1, sizeof *d);
    assert_non_null(d);
    d->merge = braid_merge_new(ascending);
    assert_non_null(d->merge);
    d->nsources = nsources;
    d->open = (1u << nsources) - 1;
    return d;
}

static void
s_drv_free(t_drv_t **d_p)
{
    braid_merge_destroy(&(*d_p)->merge);
    free(*d_p);
    *d_p = NULL;
}

/*  ---------------------------------------------------------------------
    Fixed cases                                                            */

/*  A partial goes once every open source has shown one as low; what a
    source that has shown nothing yet may still beat waits for it.         */
static void
test_streams_and_waits(void **state)
{
    (void) state;
    t_drv_t *d = s_drv(3, false);
    const braid_key_t a[] = {s_key(10, NULL), s_key(9, NULL), s_key(3, NULL)};
    const braid_key_t b[] = {s_key(8, NULL)};
    s_push(d, 0, a, 3);
    s_push(d, 1, b, 1);
    s_pump(d);
    s_assert_out(d, "");            /* C has shown nothing               */
    const braid_key_t c[] = {s_key(9.5, NULL)};
    s_push(d, 2, c, 1);
    s_pump(d);
    /*  A10 and C9.5 go; A9 waits: C may still bring a 9.2.              */
    s_assert_out(d, "A0 C0");
    d->open &= ~4u;                 /* C ends                            */
    s_pump(d);
    s_assert_out(d, "A0 C0 A1 B0");
    /*  A3 waits for B, which is open and has shown 8.                     */
    d->open &= ~2u;
    s_pump(d);
    s_assert_out(d, "A0 C0 A1 B0 A2");
    s_drv_free(&d);
}

/*  Ties go to the lower source, then seq; 1 and 1.0 are a tie; a source
    that shows the same score as the candidate from a lower index is
    waited for, from a higher one not.                                      */
static void
test_ties(void **state)
{
    (void) state;
    t_drv_t *d = s_drv(3, false);
    braid_key_t one_int = {braid_score_int(1), NULL, 0};
    const braid_key_t b[] = {s_key(1.0, NULL), s_key(1.0, NULL)};
    s_push(d, 1, b, 2);
    s_push(d, 2, &one_int, 1);
    s_pump(d);
    s_assert_out(d, "");            /* A (lower) may still bring a 1      */
    s_push(d, 0, &one_int, 1);
    s_pump(d);
    s_assert_out(d, "A0");          /* then A waits: it may bring another */
    d->open &= ~1u;
    s_pump(d);
    s_assert_out(d, "A0 B0 B1");    /* C's 1 waits: B may bring another 1 */
    d->open = 0;
    s_pump(d);
    s_assert_out(d, "A0 B0 B1 C0");
    s_drv_free(&d);
}

/*  An unsorted source: a partial better than the one before it keeps its
    place after it. Keyless partials take the score before them (the best
    for the first).                                                         */
static void
test_unsorted_and_keyless(void **state)
{
    (void) state;
    t_drv_t *d = s_drv(2, false);
    const braid_key_t a[] = {s_key(5, NULL), s_key(7, NULL), s_key(4, NULL)};
    const braid_key_t b[] = {s_key(6, NULL), s_key(4.5, NULL)};
    s_push(d, 0, a, 3);             /* scores 5, 5 (clamped), 4           */
    s_push(d, 1, b, 2);
    d->open = 0;
    s_pump(d);
    s_assert_out(d, "B0 A0 A1 B1 A2");
    s_drv_free(&d);

    d = s_drv(2, false);
    s_push(d, 0, NULL, 1);          /* the best score ...                 */
    s_pump(d);
    s_assert_out(d, "");            /* ... but B has shown nothing        */
    const braid_key_t b2[] = {s_key(3, NULL)};
    s_push(d, 1, b2, 1);
    s_pump(d);
    s_assert_out(d, "A0");
    s_push(d, 0, NULL, 1);          /* the next rides with the first      */
    s_pump(d);
    s_assert_out(d, "A0 A1");       /* A open, shown +inf: B3 waits       */
    d->open = 0;
    s_pump(d);
    s_assert_out(d, "A0 A1 B0");
    s_drv_free(&d);
}

/*  Ascending: lower first.                                                 */
static void
test_ascending(void **state)
{
    (void) state;
    t_drv_t *d = s_drv(2, true);
    const braid_key_t a[] = {s_key(1, NULL), s_key(5, NULL)};
    const braid_key_t b[] = {s_key(2, NULL), s_key(3, NULL)};
    s_push(d, 0, a, 2);
    s_push(d, 1, b, 2);
    s_pump(d);
    s_assert_out(d, "A0 B0 B1");    /* A5 waits: B open, shown 3          */
    d->open = 0;
    s_pump(d);
    s_assert_out(d, "A0 B0 B1 A1");
    s_drv_free(&d);
}

/*  Duplicates: dropped and counted where they are; a rolled-back batch
    forgets its values; the next query starts a new set.                   */
static void
test_dedup(void **state)
{
    (void) state;
    t_drv_t *d = s_drv(2, false);
    const braid_key_t a[] = {s_key(9, "u1"), s_key(7, "u2"), s_key(5, "u3")};
    const braid_key_t b[] = {s_key(8, "u2"), s_key(6, "u1"), s_key(4, "")};
    s_push(d, 0, a, 3);
    s_push(d, 1, b, 3);
    d->open = 0;
    uint32_t s;
    assert_int_equal(braid_merge_next(d->merge, 0, 2, 0, &s), BRAID_MERGE_SEND);
    assert_int_equal(s, 0);
    assert_int_equal(braid_merge_take(d->merge, 0), 0);
    braid_merge_rollback(d->merge);
    assert_int_equal(braid_merge_held(d->merge, 0), 3);
    assert_int_equal(braid_merge_next(d->merge, 0, 2, 0, &s), BRAID_MERGE_SEND);
    s_pump(d);
    s_assert_out(d, "A0 B0 A2 B2");
    assert_int_equal(d->ndropped, 2);
    assert_int_equal(braid_merge_duplicates(d->merge, 0), 1);   /* A1: u2 */
    assert_int_equal(braid_merge_duplicates(d->merge, 1), 1);   /* B1: u1 */
    assert_int_equal(braid_merge_held(d->merge, 0), 0);

    /*  Query 1 (tasks 2 and 3): u1 is new again.                          */
    const braid_key_t a1[] = {s_key(1, "u1")};
    assert_int_equal(braid_merge_push(d->merge, 2, a1, 1), 0);
    assert_int_equal(braid_merge_next(d->merge, 2, 2, 0, &s), BRAID_MERGE_SEND);
    braid_merge_forget(d->merge, 0);
    braid_merge_forget(d->merge, 1);
    assert_int_equal(braid_merge_duplicates(d->merge, 0), 0);
    s_drv_free(&d);
}

/*  A cleared task: its undecided partials go; restarted, it has shown
    nothing again.                                                          */
static void
test_clear(void **state)
{
    (void) state;
    t_drv_t *d = s_drv(2, false);
    const braid_key_t a[] = {s_key(9, NULL), s_key(8, NULL)};
    const braid_key_t b[] = {s_key(1, NULL)};
    s_push(d, 0, a, 2);
    s_push(d, 1, b, 1);
    size_t bytes = braid_merge_bytes(d->merge);
    assert_true(bytes > 0);
    braid_merge_clear(d->merge, 0, false);
    assert_int_equal(braid_merge_held(d->merge, 0), 0);
    assert_true(braid_merge_bytes(d->merge) < bytes);
    uint32_t s;
    /*  A still counts as having shown 8: B's 1 waits for it.              */
    assert_int_equal(braid_merge_next(d->merge, 0, 2, 3, &s), BRAID_MERGE_WAIT);
    braid_merge_clear(d->merge, 0, true);
    assert_int_equal(braid_merge_next(d->merge, 0, 2, 3, &s), BRAID_MERGE_WAIT);
    assert_int_equal(braid_merge_next(d->merge, 0, 2, 2, &s), BRAID_MERGE_SEND);
    assert_int_equal(s, 1);
    s_drv_free(&d);
}

/*  ---------------------------------------------------------------------
    Random runs against the sort of the whole output                       */

typedef struct {
    braid_score_t score;        /* as sent                                 */
    braid_score_t eff;          /* clamped                                 */
    char dedup[8];
    uint32_t source, seq;
} t_part_t;

static bool s_ascending;

/*  The reference order: best clamped score, then source, then seq.        */
static int
s_ref_cmp(const void *pa, const void *pb)
{
    const t_part_t *a = pa, *b = pb;
    int c = braid_score_cmp(&a->eff, &b->eff);
    if (c)
        return s_ascending ? c : -c;
    if (a->source != b->source)
        return a->source < b->source ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static braid_score_t
s_random_score(unsigned *seed, int64_t base)
{
    if (rand_r(seed) % 2)
        return braid_score_int(base);
    /*  A real on or between the integers: ties across kinds happen.       */
    return braid_score_real((double) base + (rand_r(seed) % 2 ? 0.0 : 0.5));
}

static void
s_random_run(unsigned seed)
{
    unsigned rs = seed;
    uint32_t ns = 1 + rand_r(&rs) % 5;
    s_ascending = rand_r(&rs) % 4 == 0;
    t_drv_t *d = s_drv(ns, s_ascending);
    d->seed = seed * 7 + 1;
    d->rollback_pct = rand_r(&rs) % 3 ? 0 : 30;
    d->first = ns * (rand_r(&rs) % 3);      /* query 0, 1 or 2              */

    static t_part_t parts[8][64];
    static t_part_t all[8 * 64];
    uint32_t count[8], pushed[8];
    size_t total = 0;
    for (uint32_t s = 0; s < ns; s++) {
        count[s] = rand_r(&rs) % 40;
        pushed[s] = 0;
        int64_t level = 50;
        for (uint32_t i = 0; i < count[s]; i++) {
            t_part_t *p = &parts[s][i];
            /*  Mostly sorted with ties; now and then out of order.        */
            int step = rand_r(&rs) % 10 == 0 ? -3 : (int) (rand_r(&rs) % 3);
            level += s_ascending ? step : -step;
            p->score = s_random_score(&rs, level);
            p->eff = p->score;
            if (i > 0) {
                int c = braid_score_cmp(&p->score, &parts[s][i - 1].eff);
                if (s_ascending ? c < 0 : c > 0)
                    p->eff = parts[s][i - 1].eff;
            }
            if (rand_r(&rs) % 3)
                snprintf(p->dedup, sizeof p->dedup, "u%u", rand_r(&rs) % 30);
            else
                p->dedup[0] = 0;
            p->source = s;
            p->seq = i;
            all[total++] = *p;
        }
    }
    /*  Arrival: random chunks from random sources; ends at random.        */
    for (int guard = 0; d->open && guard < 100000; guard++) {
        uint32_t s = rand_r(&rs) % ns;
        if (!(d->open & (1u << s)))
            continue;
        uint32_t left = count[s] - pushed[s];
        if (left == 0) {
            d->open &= ~(1u << s);
        } else {
            uint32_t n = 1 + rand_r(&rs) % (left < 4 ? left : 4);
            braid_key_t keys[4];
            for (uint32_t i = 0; i < n; i++) {
                t_part_t *p = &parts[s][pushed[s] + i];
                keys[i] = (braid_key_t){p->score, (const uint8_t *) p->dedup, strlen(p->dedup)};
            }
            s_push(d, s, keys, n);
            pushed[s] += n;
        }
        if (rand_r(&rs) % 2)
            s_pump(d);
    }
    d->rollback_pct = 0;
    s_pump(d);

    qsort(all, total, sizeof all[0], s_ref_cmp);
    size_t want_out = 0, want_dropped = 0;
    for (size_t i = 0; i < total; i++) {
        bool dup = false;
        for (size_t k = 0; k < i && all[i].dedup[0] && !dup; k++)
            dup = strcmp(all[k].dedup, all[i].dedup) == 0;
        if (dup) {
            want_dropped++;
            continue;
        }
        if (want_out >= d->nout || d->out[want_out].source != all[i].source ||
            d->out[want_out].seq != all[i].seq)
            fail_msg("seed %u: output %zu is %c%u, want %c%u (%zu out)", seed, want_out,
                     want_out < d->nout ? 'A' + d->out[want_out].source : '-',
                     want_out < d->nout ? d->out[want_out].seq : 0, 'A' + all[i].source,
                     all[i].seq, d->nout);
        want_out++;
    }
    if (want_out != d->nout || want_dropped != d->ndropped)
        fail_msg("seed %u: %zu out, %zu dropped; want %zu and %zu", seed, d->nout, d->ndropped,
                 want_out, want_dropped);
    uint64_t dups = 0;
    for (uint32_t s = 0; s < ns; s++) {
        assert_int_equal(braid_merge_held(d->merge, d->first + s), 0);
        dups += braid_merge_duplicates(d->merge, d->first + s);
        braid_merge_forget(d->merge, d->first + s);
    }
    assert_int_equal(dups, want_dropped);
    s_drv_free(&d);
}

static void
test_random_against_sort(void **state)
{
    (void) state;
    for (unsigned seed = 1; seed <= 3000; seed++)
        s_random_run(seed);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_streams_and_waits),
        cmocka_unit_test(test_ties),
        cmocka_unit_test(test_unsorted_and_keyless),
        cmocka_unit_test(test_ascending),
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_clear),
        cmocka_unit_test(test_random_against_sort),
    };
    return cmocka_run_group_tests_name("merge", tests, NULL, NULL);
}
