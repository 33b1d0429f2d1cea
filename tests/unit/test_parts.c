/*  test_parts.c - the parts frame (braid_parts.h): its total check on
    malformed vectors, its readers, the builder, and the payload rules of
    the messages that carry one (braid_msg_check_payload).                 */

#include "braid_parts.h"
#include "braid_keys.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*  Check bytes (n of them) as a parts frame of at most 16 entries of at
    most 8 bytes.                                                           */
static braid_err_t
s_check(const char *bytes, size_t n, size_t *count)
{
    return braid_parts_check(bytes, n, 16, 8, count);
}

static void
test_golden(void **state)
{
    (void) state;
    /*  Three entries: "ab", "", "c": count 3, lengths 2 0 1, then data.   */
    const char *data[] = {"ab", "", "c"};
    size_t lens[] = {2, 0, 1};
    zframe_t *frame = braid_parts_encode((const void *const *) data, lens, 3);
    assert_non_null(frame);
    const uint8_t golden[] = {3, 2, 0, 1, 'a', 'b', 'c'};
    assert_int_equal(zframe_size(frame), sizeof golden);
    assert_memory_equal(zframe_data(frame), golden, sizeof golden);
    size_t count = 0;
    assert_int_equal(braid_parts_check(golden, sizeof golden, 3, 2, &count), BRAID_OK);
    assert_int_equal(count, 3);
    assert_int_equal(braid_parts_count(golden, sizeof golden), 3);
    size_t len;
    const char *all = braid_parts_data(golden, sizeof golden, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(all, "abc", 3);
    braid_parts_iter_t it;
    braid_parts_iter(&it, golden, sizeof golden);
    const void *entry;
    for (size_t i = 0; i < 3; i++) {
        assert_true(braid_parts_next(&it, &entry, &len));
        assert_int_equal(len, lens[i]);
        assert_memory_equal(entry, data[i], len);
    }
    assert_false(braid_parts_next(&it, &entry, &len));
    zframe_destroy(&frame);
}

/*  Malformed vectors: each refused with its reason, none read outside.    */
static void
test_malformed(void **state)
{
    (void) state;
    static const struct {
        const char *name;
        const char *bytes;
        size_t n;
        braid_err_t err;
    } vectors[] = {
        {"empty frame", "", 0, BRAID_ERR_FRAMES},
        {"no entry", "\x00", 1, BRAID_ERR_FRAMES},
        {"count over the bound", "\x11", 1, BRAID_ERR_FRAMES},
        {"count beyond the bytes", "\x05\x01", 2, BRAID_ERR_FRAMES},
        {"count cut short", "\x81", 1, BRAID_ERR_FRAMES},
        {"count not minimal", "\x81\x00\x00", 3, BRAID_ERR_FRAMES},
        {"varint too long", "\x01\xff\xff\xff\xff\x01", 6, BRAID_ERR_FRAMES},
        {"length cut short", "\x01\x80", 2, BRAID_ERR_FRAMES},
        {"entry overflows the frame", "\x01\x05" "abc", 5, BRAID_ERR_FRAMES},
        {"second entry overflows", "\x02\x01\x03" "ab", 5, BRAID_ERR_FRAMES},
        {"bytes left over", "\x01\x01" "ab", 4, BRAID_ERR_FRAMES},
        {"count says 2, one length", "\x02\x01", 2, BRAID_ERR_FRAMES},
        {"count says 1, two entries' bytes", "\x01\x01\x01" "ab", 5, BRAID_ERR_FRAMES},
        {"huge length", "\x01\xff\xff\xff\x7f" "a", 6, BRAID_ERR_FRAMES},
        {"entry over its bound", "\x01\x09" "123456789", 11, BRAID_ERR_FRAME_SIZE},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        /*  A copy of exactly n bytes, so ASan sees any read past it.       */
        char *copy = malloc(vectors[i].n ? vectors[i].n : 1);
        assert_non_null(copy);
        memcpy(copy, vectors[i].bytes, vectors[i].n);
        size_t count = 99;
        braid_err_t err = s_check(copy, vectors[i].n, &count);
        if (err != vectors[i].err)
            fail_msg("%s: %s, expected %s", vectors[i].name, braid_err_name(err),
                     braid_err_name(vectors[i].err));
        assert_int_equal(count, 99);
        free(copy);
    }
}

/*  Edge cases that are valid: only empty entries; one entry; the largest
    count; a multi-byte length.                                             */
static void
test_edges(void **state)
{
    (void) state;
    size_t count;
    assert_int_equal(s_check("\x03\x00\x00\x00", 4, &count), BRAID_OK);
    assert_int_equal(count, 3);
    assert_int_equal(s_check("\x01\x00", 2, &count), BRAID_OK);
    assert_int_equal(count, 1);
    char max[1 + 16];
    max[0] = 16;
    memset(max + 1, 0, 16);
    assert_int_equal(s_check(max, sizeof max, &count), BRAID_OK);
    assert_int_equal(count, 16);
    /*  200 bytes: length 0xc8 0x01.                                         */
    char big[3 + 200];
    big[0] = 1;
    big[1] = (char) 0xc8;
    big[2] = 1;
    memset(big + 3, 'x', 200);
    assert_int_equal(braid_parts_check(big, sizeof big, 1, 200, &count), BRAID_OK);
    assert_int_equal(braid_parts_check(big, sizeof big, 1, 199, &count), BRAID_ERR_FRAME_SIZE);
}

/*  The builder: entries added, the first n framed, dropped, more added.   */
static void
test_builder(void **state)
{
    (void) state;
    braid_parts_t *parts = braid_parts_new();
    assert_non_null(parts);
    char line[32];
    for (int i = 0; i < 1000; i++) {
        int len = snprintf(line, sizeof line, "%d\n", i);
        assert_int_equal(braid_parts_add(parts, line, (size_t) len), 0);
    }
    assert_int_equal(braid_parts_size(parts), 1000);
    /*  At most 20 bytes of entries: "0\n" .. "9\n" (2 each).              */
    assert_int_equal(braid_parts_fit(parts, 1000, 20), 10);
    assert_int_equal(braid_parts_fit(parts, 1000, 21), 10);
    assert_int_equal(braid_parts_fit(parts, 3, 1 << 20), 3);
    assert_int_equal(braid_parts_fit(parts, 1000, 1), 1);  /* one goes alone */
    int next = 0;
    while (braid_parts_size(parts) > 0) {
        size_t n = braid_parts_size(parts) < 300 ? braid_parts_size(parts) : 300;
        zframe_t *frame = braid_parts_frame(parts, n);
        assert_non_null(frame);
        size_t count;
        assert_int_equal(braid_parts_check(zframe_data(frame), zframe_size(frame), BRAID_MAX_PARTS,
                                           BRAID_MAX_FRAME, &count),
                         BRAID_OK);
        assert_int_equal(count, n);
        braid_parts_iter_t it;
        braid_parts_iter(&it, zframe_data(frame), zframe_size(frame));
        const void *data;
        size_t len;
        while (braid_parts_next(&it, &data, &len)) {
            int want = next < 1000 ? snprintf(line, sizeof line, "%d\n", next) : 1;
            if (next++ == 1000)
                line[0] = 'x';
            assert_int_equal(len, (size_t) want);
            assert_memory_equal(data, line, len);
        }
        zframe_destroy(&frame);
        braid_parts_drop(parts, n);
        if (next == 600)
            assert_int_equal(braid_parts_add(parts, "x", 1), 0);    /* after a drop */
    }
    assert_int_equal(next, 1001);   /* 1000 lines and the "x" framed as 1000 */
    assert_null(braid_parts_frame(parts, 1));
    braid_parts_destroy(&parts);
    braid_parts_destroy(&parts);
}

/*  The payload rules of the messages: a DATA's parts frame, a QUERIES
    over its bounds, a keyed DATA whose keys frame does not match.         */
static void
test_payload_rules(void **state)
{
    (void) state;
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_DATA);
    const char *lines[] = {"a\n", "b\n"};
    size_t lens[] = {2, 2};
    zframe_t *frame = braid_parts_encode((const void *const *) lines, lens, 2);
    const void *data[2] = {zframe_data(frame), NULL};
    size_t sizes[2] = {zframe_size(frame), 0};
    assert_int_equal(braid_msg_check_payload(&msg, 1, data, sizes), BRAID_OK);
    /*  A frame that is not a parts frame.                                 */
    const void *junk[1] = {"hello"};
    size_t junk_size[1] = {5};
    assert_int_equal(braid_msg_check_payload(&msg, 1, junk, junk_size), BRAID_ERR_FRAMES);
    /*  Keyed: the keys frame must hold one entry per partial.             */
    msg.keyed = 1;
    braid_key_t keys[2] = {{.score = {.i = 2}}, {.score = {.i = 1}}};
    zframe_t *one = braid_keys_encode(keys, 1);
    zframe_t *two = braid_keys_encode(keys, 2);
    assert_non_null(one);
    assert_non_null(two);
    data[1] = zframe_data(two);
    sizes[1] = zframe_size(two);
    assert_int_equal(braid_msg_check_payload(&msg, 2, data, sizes), BRAID_OK);
    data[1] = zframe_data(one);
    sizes[1] = zframe_size(one);
    assert_int_equal(braid_msg_check_payload(&msg, 2, data, sizes), BRAID_ERR_FRAMES);
    zframe_destroy(&one);
    zframe_destroy(&two);
    zframe_destroy(&frame);
    /*  QUERIES: at most BRAID_MAX_BATCH queries of BRAID_MAX_QUERY_LEN.    */
    braid_msg_init(&msg, BRAID_MSG_QUERIES);
    static char query[BRAID_MAX_QUERY_LEN + 1];
    const void *q[1] = {query};
    size_t qlen[1] = {BRAID_MAX_QUERY_LEN + 1};
    frame = braid_parts_encode(q, qlen, 1);
    data[0] = zframe_data(frame);
    sizes[0] = zframe_size(frame);
    assert_int_equal(braid_msg_check_payload(&msg, 1, data, sizes), BRAID_ERR_FRAME_SIZE);
    zframe_destroy(&frame);
    static const void *many[BRAID_MAX_BATCH + 1];
    static size_t many_len[BRAID_MAX_BATCH + 1];
    for (size_t i = 0; i <= BRAID_MAX_BATCH; i++)
        many[i] = "q";
    frame = braid_parts_encode(many, many_len, BRAID_MAX_BATCH + 1);
    data[0] = zframe_data(frame);
    sizes[0] = zframe_size(frame);
    assert_int_equal(braid_msg_check_payload(&msg, 1, data, sizes), BRAID_ERR_FRAMES);
    zframe_destroy(&frame);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_payload_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
