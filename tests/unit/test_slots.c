/*  test_slots.c - the broker's slot record (slots.c) and its index
    (idmap.c): insert, find, replace, delete with backward shift across
    the end of the table, growth, and a random run against a plain list;
    then slots: capacity, one slot per task id, dense arrays, held counts
    per job.                                                                */

#include "idmap.h"
#include "slots.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*  ---------------------------------------------------------------------
    The index                                                              */

/*  The first n ids from start on whose home cell in map is home.          */
static void
s_ids_at(const braid_idmap_t *map, size_t home, uint64_t start, uint64_t *ids, size_t n)
{
    for (uint64_t id = start; n > 0; id++)
        if (braid_idmap_home(map, id) == home) {
            *ids++ = id;
            n--;
        }
}

static void
test_index_put_get_replace(void **state)
{
    (void) state;
    braid_idmap_t *map = braid_idmap_new(0);
    assert_non_null(map);
    assert_int_equal(braid_idmap_cells(map), 16);
    uint64_t v = 7;
    assert_false(braid_idmap_get(map, 42, &v));
    assert_int_equal(v, 7);                         /* untouched */
    assert_false(braid_idmap_get(map, 0, &v));      /* 0 is never a key */
    assert_int_equal(braid_idmap_put(map, 42, 1000), 0);
    assert_int_equal(braid_idmap_put(map, 1ull << 40, 2000), 0);
    assert_true(braid_idmap_get(map, 42, &v));
    assert_int_equal(v, 1000);
    assert_true(braid_idmap_get(map, 1ull << 40, &v));
    assert_int_equal(v, 2000);
    assert_int_equal(braid_idmap_size(map), 2);
    /*  Replacing keeps the size.                                           */
    assert_int_equal(braid_idmap_put(map, 42, UINT64_MAX), 0);
    assert_true(braid_idmap_get(map, 42, &v));
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(braid_idmap_size(map), 2);
    assert_true(braid_idmap_del(map, 42));
    assert_false(braid_idmap_del(map, 42));
    assert_false(braid_idmap_get(map, 42, &v));
    assert_int_equal(braid_idmap_size(map), 1);
    braid_idmap_destroy(&map);
    assert_null(map);
    braid_idmap_destroy(&map);      /* idempotent */
    /*  A hint sizes the table: at most half full.                          */
    map = braid_idmap_new(100);
    assert_int_equal(braid_idmap_cells(map), 256);
    braid_idmap_destroy(&map);
}

/*  A probe run that wraps from the last cell to the first, then deletes
    that pull later ids back across the end.                                */
static void
test_index_delete_wraps_around(void **state)
{
    (void) state;
    braid_idmap_t *map = braid_idmap_new(0);
    size_t last = braid_idmap_cells(map) - 1;
    uint64_t h_last[3], h_first[1];
    s_ids_at(map, last, 1, h_last, 3);
    s_ids_at(map, 0, 1, h_first, 1);
    uint64_t a = h_last[0], b = h_last[1], c = h_first[0], d = h_last[2];
    /*  a in the last cell; b, c, d wrap around to cells 0, 1, 2.          */
    assert_int_equal(braid_idmap_put(map, a, 1), 0);
    assert_int_equal(braid_idmap_put(map, b, 2), 0);
    assert_int_equal(braid_idmap_put(map, c, 3), 0);
    assert_int_equal(braid_idmap_put(map, d, 4), 0);
    assert_int_equal(braid_idmap_distance(map, a), 0);
    assert_int_equal(braid_idmap_distance(map, b), 1);
    assert_int_equal(braid_idmap_distance(map, c), 1);
    assert_int_equal(braid_idmap_distance(map, d), 3);
    /*  Deleting a shifts b back into the last cell, c to its home, d one
        closer: no tombstone, every id as near its home as it can be.      */
    assert_true(braid_idmap_del(map, a));
    assert_int_equal(braid_idmap_distance(map, a), -1);
    assert_int_equal(braid_idmap_distance(map, b), 0);
    assert_int_equal(braid_idmap_distance(map, c), 0);
    assert_int_equal(braid_idmap_distance(map, d), 2);
    /*  Deleting c (at its home, cell 0): d, at home in the last cell, may
        move into cell 0, across the end.                                   */
    assert_true(braid_idmap_del(map, c));
    assert_int_equal(braid_idmap_distance(map, d), 1);
    uint64_t v;
    assert_true(braid_idmap_get(map, b, &v));
    assert_int_equal(v, 2);
    assert_true(braid_idmap_get(map, d, &v));
    assert_int_equal(v, 4);
    /*  An id whose home lies between the hole and where it sits stays.    */
    uint64_t h1[2];
    s_ids_at(map, 1, 1, h1, 2);
    assert_int_equal(braid_idmap_put(map, h1[0], 5), 0);  /* cell 1 is free */
    assert_int_equal(braid_idmap_put(map, h1[1], 6), 0);  /* cell 2        */
    assert_int_equal(braid_idmap_distance(map, h1[1]), 1);
    assert_true(braid_idmap_del(map, b));    /* hole in the last cell      */
    assert_int_equal(braid_idmap_distance(map, d), 0);    /* d moved back  */
    assert_int_equal(braid_idmap_distance(map, h1[0]), 0);
    assert_int_equal(braid_idmap_distance(map, h1[1]), 1);
    assert_int_equal(braid_idmap_size(map), 3);
    braid_idmap_destroy(&map);
}

static void
test_index_grows(void **state)
{
    (void) state;
    braid_idmap_t *map = braid_idmap_new(0);
    const uint64_t n = 5000;
    for (uint64_t i = 1; i <= n; i++) {
        assert_int_equal(braid_idmap_put(map, i << 32 | (i * 7), i), 0);
        /*  Never more than half full.                                      */
        assert_true(2 * braid_idmap_size(map) <= braid_idmap_cells(map));
    }
    assert_int_equal(braid_idmap_size(map), n);
    assert_int_equal(braid_idmap_cells(map), 16384);
    for (uint64_t i = 1; i <= n; i++) {
        uint64_t v = 0;
        assert_true(braid_idmap_get(map, i << 32 | (i * 7), &v));
        assert_int_equal(v, i);
    }
    braid_idmap_destroy(&map);
}

/*  Random puts, deletes and gets over a small id space (many collisions,
    many runs across the end), checked against a plain array.               */
static void
test_index_random_against_list(void **state)
{
    (void) state;
    srand(11);
    enum { S_IDS = 200 };
    uint64_t model[S_IDS + 1] = {0};    /* id -> value + 1; 0 = absent      */
    braid_idmap_t *map = braid_idmap_new(0);
    size_t size = 0;
    for (int op = 0; op < 200000; op++) {
        uint64_t id = 1 + (uint64_t) (rand() % S_IDS);
        int what = rand() % 3;
        if (what == 0) {
            uint64_t value = (uint64_t) rand();
            assert_int_equal(braid_idmap_put(map, id, value), 0);
            size += model[id] == 0;
            model[id] = value + 1;
        } else if (what == 1) {
            assert_int_equal(braid_idmap_del(map, id), model[id] != 0);
            size -= model[id] != 0;
            model[id] = 0;
        } else {
            uint64_t v;
            bool found = braid_idmap_get(map, id, &v);
            assert_int_equal(found, model[id] != 0);
            if (found)
                assert_int_equal(v + 1, model[id]);
        }
        assert_int_equal(braid_idmap_size(map), size);
    }
    /*  Every id is found from its home without crossing an empty cell.    */
    for (uint64_t id = 1; id <= S_IDS; id++)
        assert_int_equal(braid_idmap_distance(map, id) >= 0, model[id] != 0);
    braid_idmap_destroy(&map);
}

/*  ---------------------------------------------------------------------
    Slots                                                                  */

static uint64_t
s_task(uint32_t serial, uint32_t idx)
{
    return (uint64_t) serial << 32 | idx;
}

static void
test_slots_capacity_and_owner(void **state)
{
    (void) state;
    braid_slots_t *slots = braid_slots_new();
    assert_non_null(slots);
    assert_null(braid_slots_take(slots, 0, s_task(1, 0)));     /* no worker */
    assert_int_equal(braid_slots_worker_add(slots, 0, 2), 0);
    assert_int_equal(braid_slots_worker_add(slots, 3, 4), 0);  /* a hole   */
    assert_true(braid_slots_has_worker(slots, 3));
    assert_false(braid_slots_has_worker(slots, 1));
    assert_int_equal(braid_slots_capacity(slots, 0), 2);
    assert_int_equal(braid_slots_capacity(slots, 3), 4);
    assert_int_equal(braid_slots_capacity(slots, 7), 0);

    braid_slot_t *s = braid_slots_take(slots, 0, s_task(1, 0));
    assert_non_null(s);
    assert_int_equal(s->task_id, s_task(1, 0));
    assert_int_equal(s->worker, 0);
    assert_false(s->acked);
    s->attempt = 1;
    /*  A task id holds one slot at a time, whatever the worker.           */
    assert_null(braid_slots_take(slots, 3, s_task(1, 0)));
    assert_null(braid_slots_take(slots, 0, s_task(0, 5)));     /* serial 0 */
    assert_non_null(braid_slots_take(slots, 0, s_task(2, 0)));
    assert_null(braid_slots_take(slots, 0, s_task(2, 1)));     /* full     */
    assert_int_equal(braid_slots_running(slots, 0), 2);

    braid_slot_t *found = braid_slots_find(slots, s_task(1, 0));
    assert_non_null(found);
    assert_int_equal(found->worker, 0);
    assert_int_equal(found->attempt, 1);
    assert_null(braid_slots_find(slots, s_task(1, 1)));
    /*  Only the attempt that holds it frees it.                            */
    braid_slot_t copy;
    assert_false(braid_slots_release(slots, s_task(1, 0), 2, &copy));
    assert_true(braid_slots_release(slots, s_task(1, 0), 1, &copy));
    assert_int_equal(copy.task_id, s_task(1, 0));
    assert_int_equal(copy.attempt, 1);
    assert_false(braid_slots_release(slots, s_task(1, 0), 1, NULL));
    assert_null(braid_slots_find(slots, s_task(1, 0)));
    assert_int_equal(braid_slots_running(slots, 0), 1);
    /*  Free again: another worker may take it now.                         */
    assert_non_null(braid_slots_take(slots, 3, s_task(1, 0)));
    assert_int_equal(braid_slots_find(slots, s_task(1, 0))->worker, 3);
    braid_slots_destroy(&slots);
    assert_null(slots);
}

static void
test_slots_dense_and_held(void **state)
{
    (void) state;
    braid_slots_t *slots = braid_slots_new();
    assert_int_equal(braid_slots_worker_add(slots, 0, 100), 0);
    assert_int_equal(braid_slots_worker_add(slots, 1, 100), 0);
    /*  Jobs 5 and 6, tasks spread over both workers.                       */
    for (uint32_t i = 0; i < 60; i++) {
        braid_slot_t *s = braid_slots_take(slots, (int32_t) (i % 2), s_task(5 + i % 3 / 2, i));
        assert_non_null(s);
        s->attempt = i + 1;
    }
    assert_int_equal(braid_slots_held(slots, 5), 40);
    assert_int_equal(braid_slots_held(slots, 6), 20);
    assert_int_equal(braid_slots_held(slots, 7), 0);
    /*  Free every third one, from the middle of the arrays.               */
    for (uint32_t i = 0; i < 60; i += 3)
        assert_true(braid_slots_release(slots, s_task(5 + i % 3 / 2, i), i + 1, NULL));
    assert_int_equal(braid_slots_held(slots, 5), 20);
    assert_int_equal(braid_slots_held(slots, 6), 20);
    /*  The arrays stay dense, and each slot is found where it moved.       */
    uint32_t seen = 0;
    for (int32_t w = 0; w < 2; w++)
        for (uint32_t k = 0; k < braid_slots_running(slots, w); k++) {
            braid_slot_t *s = braid_slots_at(slots, w, k);
            assert_non_null(s);
            assert_int_equal(s->worker, w);
            assert_ptr_equal(braid_slots_find(slots, s->task_id), s);
            assert_int_equal(s->attempt, (uint32_t) s->task_id + 1);
            seen++;
        }
    assert_int_equal(seen, 40);
    assert_null(braid_slots_at(slots, 0, braid_slots_running(slots, 0)));
    /*  Free the rest; then the workers can go.                             */
    for (uint32_t i = 0; i < 60; i++)
        if (i % 3)
            assert_true(braid_slots_release(slots, s_task(5 + i % 3 / 2, i), i + 1, NULL));
    assert_int_equal(braid_slots_held(slots, 5), 0);
    assert_int_equal(braid_slots_held(slots, 6), 0);
    braid_slots_worker_remove(slots, 0);
    assert_false(braid_slots_has_worker(slots, 0));
    assert_null(braid_slots_take(slots, 0, s_task(5, 0)));
    /*  A number is reused like a descriptor.                               */
    assert_int_equal(braid_slots_worker_add(slots, 0, 1), 0);
    assert_non_null(braid_slots_take(slots, 0, s_task(5, 0)));
    braid_slots_destroy(&slots);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_index_put_get_replace),
        cmocka_unit_test(test_index_delete_wraps_around),
        cmocka_unit_test(test_index_grows),
        cmocka_unit_test(test_index_random_against_list),
        cmocka_unit_test(test_slots_capacity_and_owner),
        cmocka_unit_test(test_slots_dense_and_held),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
