/*  test_request.c - braid_request_t (client/request.c): what a job asks,
    the named results of adding to it, its bounds, and how it goes onto
    the wire (the SUBMIT fields, QUERIES batches).                          */

#include "request.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "braid_parts.h"

static int
s_setup(void **state)
{
    *state = braid_request_new();
    return *state ? 0 : -1;
}

static int
s_teardown(void **state)
{
    braid_request_t *request = *state;
    braid_request_destroy(&request);
    assert_null(request);
    braid_request_destroy(&request);    /* idempotent                       */
    braid_request_destroy(NULL);
    return 0;
}

static void
test_sources(void **state)
{
    braid_request_t *request = *state;
    assert_int_equal(braid_request_add_source(request, "web"), BRAID_ADD_OK);
    assert_int_equal(braid_request_add_source(request, "docs.v2_x-y"), BRAID_ADD_OK);
    errno = 0;
    assert_int_equal(braid_request_add_source(request, "web"), BRAID_ADD_DUPLICATE);
    assert_int_equal(errno, EEXIST);
    const char *bad[] = {"", "a b", "a/b", "\xc3\xa9", NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        errno = 0;
        assert_int_equal(braid_request_add_source(request, bad[i]), BRAID_ADD_INVALID);
        assert_int_equal(errno, EINVAL);
    }
    char longest[BRAID_MAX_NAME + 2];
    memset(longest, 'n', sizeof longest);
    longest[BRAID_MAX_NAME + 1] = 0;
    assert_int_equal(braid_request_add_source(request, longest), BRAID_ADD_INVALID);
    longest[BRAID_MAX_NAME] = 0;
    assert_int_equal(braid_request_add_source(request, longest), BRAID_ADD_OK);
    for (int i = 3; i < BRAID_MAX_SOURCES; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        assert_int_equal(braid_request_add_source(request, name), BRAID_ADD_OK);
    }
    errno = 0;
    assert_int_equal(braid_request_add_source(request, "one-more"), BRAID_ADD_TOO_MANY);
    assert_int_equal(errno, E2BIG);
    assert_int_equal(braid_request_source_count(request), BRAID_MAX_SOURCES);
    assert_string_equal(braid_request_source(request, 0), "web");
    assert_string_equal(braid_request_source(request, 1), "docs.v2_x-y");
    assert_null(braid_request_source(request, BRAID_MAX_SOURCES));
    const char *const *names = braid_request_source_names(request);
    for (size_t i = 0; i < BRAID_MAX_SOURCES; i++)
        assert_string_equal(names[i], braid_request_source(request, i));
}

static void
test_queries(void **state)
{
    braid_request_t *request = *state;
    static char big[BRAID_MAX_QUERY_LEN + 1];
    memset(big, 'q', sizeof big);
    assert_int_equal(braid_request_add_query(request, "cats", 4), BRAID_ADD_OK);
    assert_int_equal(braid_request_add_query(request, "", 0), BRAID_ADD_OK);
    assert_int_equal(braid_request_add_query(request, big, BRAID_MAX_QUERY_LEN), BRAID_ADD_OK);
    errno = 0;
    assert_int_equal(braid_request_add_query(request, big, BRAID_MAX_QUERY_LEN + 1),
                     BRAID_ADD_TOO_LONG);
    assert_int_equal(errno, EMSGSIZE);
    assert_int_equal(braid_request_add_query(request, "a\0b", 3), BRAID_ADD_OK);
    assert_int_equal(braid_request_query_count(request), 4);
    size_t size = 99;
    assert_memory_equal(braid_request_query(request, 0, &size), "cats", 4);
    assert_int_equal(size, 4);
    assert_non_null(braid_request_query(request, 1, &size));
    assert_int_equal(size, 0);
    assert_memory_equal(braid_request_query(request, 2, &size), big, BRAID_MAX_QUERY_LEN);
    assert_int_equal(size, BRAID_MAX_QUERY_LEN);
    assert_memory_equal(braid_request_query(request, 3, &size), "a\0b", 3);
    assert_null(braid_request_query(request, 4, &size));
}

/*  An empty query before any bytes are stored is "", not NULL.            */
static void
test_empty_query(void **state)
{
    braid_request_t *request = *state;
    assert_int_equal(braid_request_add_query(request, NULL, 0), BRAID_ADD_OK);
    size_t size = 9;
    const char *query = braid_request_query(request, 0, &size);
    assert_non_null(query);
    assert_int_equal(size, 0);
}

/*  Many queries: the buffers grow and every query stays where it was.     */
static void
test_many_queries(void **state)
{
    braid_request_t *request = *state;
    for (int i = 0; i < 5000; i++) {
        char q[16];
        int len = snprintf(q, sizeof q, "query-%d", i);
        assert_int_equal(braid_request_add_query(request, q, (size_t) len), BRAID_ADD_OK);
    }
    for (int i = 0; i < 5000; i += 499) {
        char q[16];
        int len = snprintf(q, sizeof q, "query-%d", i);
        size_t size;
        const char *got = braid_request_query(request, (size_t) i, &size);
        assert_int_equal(size, len);
        assert_memory_equal(got, q, size);
    }
}

static void
test_options(void **state)
{
    braid_request_t *request = *state;
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_SUBMIT);
    braid_request_put_header(request, &msg);
    assert_int_equal(msg.order, BRAID_ORDER_SUBMIT);
    assert_int_equal(msg.max_inflight, 0);
    assert_int_equal(msg.timeout_msec, 0);
    assert_int_equal(msg.deadline_msec, 0);
    assert_int_equal(msg.flags, 0);

    assert_int_equal(braid_request_set_order(request, BRAID_ORDERING_KEY), 0);
    braid_request_put_header(request, &msg);
    assert_int_equal(msg.order, BRAID_ORDER_KEY);
    assert_int_equal(braid_request_set_order(request, BRAID_ORDERING_ARRIVAL), 0);
    assert_int_equal(braid_request_set_order(request, (braid_ordering_t) 3), -1);
    assert_int_equal(braid_request_set_max_inflight(request, BRAID_MAX_INFLIGHT), 0);
    assert_int_equal(braid_request_set_max_inflight(request, BRAID_MAX_INFLIGHT + 1), -1);
    assert_int_equal(braid_request_set_timeout(request, BRAID_MAX_MSEC), 0);
    errno = 0;
    assert_int_equal(braid_request_set_timeout(request, BRAID_MAX_MSEC + 1), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(braid_request_set_deadline(request, 1500), 0);
    assert_int_equal(braid_request_set_deadline(request, BRAID_MAX_MSEC + 1), -1);
    assert_int_equal(braid_request_set_retries(request, BRAID_MAX_RETRIES + 1), -1);
    assert_int_equal(braid_request_set_retries(request, 7), 0);
    braid_request_set_fail_fast(request, true);
    assert_int_equal(braid_request_add_source(request, "web"), BRAID_ADD_OK);
    assert_int_equal(braid_request_add_query(request, "q", 1), BRAID_ADD_OK);
    braid_request_put_header(request, &msg);
    assert_int_equal(msg.order, BRAID_ORDER_ARRIVAL);
    assert_int_equal(msg.max_inflight, BRAID_MAX_INFLIGHT);
    assert_int_equal(msg.timeout_msec, BRAID_MAX_MSEC);
    assert_int_equal(msg.deadline_msec, 1500);
    assert_int_equal(msg.retries, 7);
    assert_int_equal(msg.flags, BRAID_FLAG_RETRIES | BRAID_FLAG_FAIL_FAST);
    assert_int_equal(msg.count, 1);
    assert_int_equal(msg.nsources, 1);
    assert_string_equal(msg.sources[0], "web");
    /*  The header is one the codec takes.                                  */
    uint8_t buf[BRAID_MAX_HEADER];
    assert_true(braid_msg_encode_buf(&msg, buf, sizeof buf) > 0);

    /*  A request like it: the same options, no source, no query.           */
    braid_request_t *like = braid_request_new_like(request);
    assert_non_null(like);
    assert_int_equal(braid_request_source_count(like), 0);
    assert_int_equal(braid_request_query_count(like), 0);
    braid_msg_t like_msg;
    braid_msg_init(&like_msg, BRAID_MSG_SUBMIT);
    braid_request_put_header(like, &like_msg);
    assert_int_equal(like_msg.order, BRAID_ORDER_ARRIVAL);
    assert_int_equal(like_msg.max_inflight, BRAID_MAX_INFLIGHT);
    assert_int_equal(like_msg.timeout_msec, BRAID_MAX_MSEC);
    assert_int_equal(like_msg.deadline_msec, 1500);
    assert_int_equal(like_msg.retries, 7);
    assert_int_equal(like_msg.flags, BRAID_FLAG_RETRIES | BRAID_FLAG_FAIL_FAST);
    assert_int_equal(like_msg.count, 0);
    braid_request_destroy(&like);

    assert_int_equal(braid_request_set_retries(request, -1), 0);
    braid_request_set_fail_fast(request, false);
    braid_request_put_header(request, &msg);
    assert_int_equal(msg.retries, 0);
    assert_int_equal(msg.flags, 0);
}

/*  QUERIES batches: at most BRAID_MAX_BATCH queries, in order.            */
static void
test_batches(void **state)
{
    braid_request_t *request = *state;
    uint32_t n = BRAID_MAX_BATCH + 3, next = 0;
    for (uint32_t i = 0; i < n; i++) {
        char q[16];
        int len = snprintf(q, sizeof q, "%u", i);
        assert_int_equal(braid_request_add_query(request, q, (size_t) len), BRAID_ADD_OK);
    }
    /*  One parts frame per batch.                                         */
    zmsg_t *batch = braid_request_batch(request, 0, &next);
    assert_non_null(batch);
    assert_int_equal(zmsg_size(batch), 1);
    zframe_t *f = zmsg_first(batch);
    size_t count;
    assert_int_equal(braid_parts_check(zframe_data(f), zframe_size(f), BRAID_MAX_BATCH,
                                       BRAID_MAX_QUERY_LEN, &count),
                     BRAID_OK);
    assert_int_equal(count, BRAID_MAX_BATCH);
    assert_int_equal(next, BRAID_MAX_BATCH);
    braid_parts_iter_t it;
    braid_parts_iter(&it, zframe_data(f), zframe_size(f));
    const void *data;
    size_t len;
    assert_true(braid_parts_next(&it, &data, &len));
    assert_int_equal(len, 1);
    assert_memory_equal(data, "0", 1);
    zmsg_destroy(&batch);
    batch = braid_request_batch(request, next, &next);
    assert_non_null(batch);
    f = zmsg_first(batch);
    assert_int_equal(braid_parts_frame_count(f), 3);
    assert_int_equal(next, n);
    braid_parts_iter(&it, zframe_data(f), zframe_size(f));
    assert_true(braid_parts_next(&it, &data, &len));
    char want[16];
    snprintf(want, sizeof want, "%u", BRAID_MAX_BATCH);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(data, want, len);
    zmsg_destroy(&batch);
    assert_null(braid_request_batch(request, n, &next));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sources, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_queries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_empty_query, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_many_queries, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_options, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_batches, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("request", tests, NULL, NULL);
}
