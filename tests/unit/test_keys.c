/*  test_keys.c - the keys frame of order key (proto/braid_keys.c) and how
    a keyed DATA or DONE is received (proto/braid_wire.c).

    PROTOCOL.md ("Keys") is the reference: the golden frame and every
    malformed frame in s_keys_bad are written from it by hand.
    tests/python/test_proto.py reads s_keys_bad too, so the Python mirror
    (braid._proto.check_keys) refuses exactly what this decoder refuses.

    Groups:
      scores      numeric comparison, integers against reals at the edges
      codec       round trips, the golden frame, encoder refusals
      malformed   one case per malformed frame
      sockets     keyed DATA and DONE through braid_msg_recv and
                  braid_msg_recv_frames over inproc:// (the frame cap, a bad
                  keys frame refused and the stream still in sync)
*/

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "braid_parts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braid_keys.h"

/*  Parses "92 01 05" into buf; returns the length.                         */
static size_t
s_hex(const char *hex, uint8_t *buf, size_t size)
{
    size_t n = 0;
    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        unsigned v;
        assert_int_equal(sscanf(hex, "%2x", &v), 1);
        assert_true(n < size);
        buf[n++] = (uint8_t) v;
        hex += 2;
    }
    return n;
}

/*  ---------------------------------------------------------------------
    scores                                                                 */

typedef struct {
    braid_score_t a, b;
    int want;               /* sign of braid_score_cmp(a, b)                */
} t_cmp_t;

#define I_(v) {.real = false, .i = (v)}
#define R_(v) {.real = true, .f = (v)}

static void
test_score_cmp(void **state)
{
    (void) state;
    const double two63 = 9223372036854775808.0;
    const t_cmp_t cases[] = {
        {I_(1), I_(2), -1},
        {I_(INT64_MIN), I_(INT64_MAX), -1},
        {I_(5), I_(5), 0},
        {R_(0.5), R_(0.25), 1},
        {R_(0.0), R_(-0.0), 0},
        {I_(1), R_(1.0), 0},
        {I_(1), R_(1.5), -1},
        {I_(2), R_(1.5), 1},
        {I_(-1), R_(-1.5), 1},
        {I_(-2), R_(-1.5), -1},
        {I_(0), R_(-0.0), 0},
        {I_(INT64_MAX), R_(two63), -1},         /* 2^63 - 1 < 2^63         */
        {I_(INT64_MIN), R_(-two63), 0},
        {I_(INT64_MIN), R_(-two63 * 2), 1},
        {I_((1ll << 53) + 1), R_(9007199254740992.0), 1},  /* 2^53 + 1 > 2^53 */
        {I_(INT64_MAX), R_(INFINITY), -1},
        {I_(INT64_MIN), R_(-INFINITY), 1},
        {R_(-INFINITY), R_(INFINITY), -1},
        {R_(1e300), I_(INT64_MAX), 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int got = braid_score_cmp(&cases[c].a, &cases[c].b);
        int back = braid_score_cmp(&cases[c].b, &cases[c].a);
        got = got < 0 ? -1 : got > 0;
        back = back < 0 ? -1 : back > 0;
        if (got != cases[c].want || back != -cases[c].want)
            fail_msg("case %zu: cmp %d, reversed %d, want %d", c, got, back, cases[c].want);
    }
}

/*  ---------------------------------------------------------------------
    codec                                                                  */

static void
s_assert_keys_equal(const braid_key_t *a, const braid_key_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a[i].score.real, b[i].score.real);
        assert_int_equal(braid_score_cmp(&a[i].score, &b[i].score), 0);
        assert_int_equal(a[i].dedup_len, b[i].dedup_len);
        if (a[i].dedup_len)
            assert_memory_equal(a[i].dedup, b[i].dedup, a[i].dedup_len);
    }
}

static void
test_roundtrip(void **state)
{
    (void) state;
    static uint8_t big[BRAID_MAX_DEDUP];
    memset(big, 0xab, sizeof big);
    static const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, INT32_MAX,
                                   (int64_t) UINT32_MAX + 1, INT64_MAX, -1, -32, -33, -128,
                                   -129, INT32_MIN, INT64_MIN};
    static const double reals[] = {0.0, -0.0, 0.5, -1e-300, 1e300, INFINITY, -INFINITY};
    static braid_key_t in[BRAID_MAX_BATCH], out[BRAID_MAX_BATCH];
    size_t n = 0;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++, n++)
        in[n] = (braid_key_t){braid_score_int(ints[i]), big, i % 3 ? i : 0};
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++, n++)
        in[n] = (braid_key_t){braid_score_real(reals[i]), big, i};
    in[n++] = (braid_key_t){braid_score_int(7), big, BRAID_MAX_DEDUP};
    for (size_t k = 0; k <= n; k++) {
        zframe_t *frame = braid_keys_encode(in, k);
        assert_non_null(frame);
        assert_int_equal(braid_keys_decode(zframe_data(frame), zframe_size(frame), k, out),
                         BRAID_OK);
        s_assert_keys_equal(in, out, k);
        /*  Only exactly k entries: one more or one fewer is refused.      */
        if (k > 0)
            assert_int_equal(braid_keys_decode(zframe_data(frame), zframe_size(frame), k - 1,
                                               NULL),
                             BRAID_ERR_FRAMES);
        assert_int_equal(braid_keys_decode(zframe_data(frame), zframe_size(frame), k + 1, NULL),
                         BRAID_ERR_FRAMES);
        /*  Every prefix is refused.                                        */
        for (size_t len = 0; len < zframe_size(frame); len++)
            assert_int_equal(braid_keys_decode(zframe_data(frame), len, k, NULL),
                             BRAID_ERR_FRAMES);
        zframe_destroy(&frame);
    }
    /*  A whole batch of the largest entries.                               */
    for (size_t i = 0; i < BRAID_MAX_BATCH; i++)
        in[i] = (braid_key_t){braid_score_real(-1.0 / (double) (i + 1)), big, BRAID_MAX_DEDUP};
    zframe_t *frame = braid_keys_encode(in, BRAID_MAX_BATCH);
    assert_non_null(frame);
    assert_true(zframe_size(frame) < BRAID_MAX_FRAME);
    assert_int_equal(braid_keys_decode(zframe_data(frame), zframe_size(frame), BRAID_MAX_BATCH,
                                       out),
                     BRAID_OK);
    s_assert_keys_equal(in, out, BRAID_MAX_BATCH);
    zframe_destroy(&frame);
}

/*  [[5, "a"], [-1, ""], [0.5, ""]], written from PROTOCOL.md.             */
static void
test_golden(void **state)
{
    (void) state;
    uint8_t want[64];
    size_t len = s_hex("93 92 05 c4 01 61 92 ff c4 00 92 cb 3f e0 00 00 00 00 00 00 c4 00", want,
                       sizeof want);
    const braid_key_t keys[3] = {
        {braid_score_int(5), (const uint8_t *) "a", 1},
        {braid_score_int(-1), NULL, 0},
        {braid_score_real(0.5), NULL, 0},
    };
    zframe_t *frame = braid_keys_encode(keys, 3);
    assert_non_null(frame);
    assert_int_equal(zframe_size(frame), len);
    assert_memory_equal(zframe_data(frame), want, len);
    zframe_destroy(&frame);
    braid_key_t out[3];
    assert_int_equal(braid_keys_decode(want, len, 3, out), BRAID_OK);
    s_assert_keys_equal(keys, out, 3);
    /*  The dedup value points into the frame, whose bytes it is.          */
    assert_ptr_equal(out[0].dedup, want + 5);
}

static void
test_encode_refuses(void **state)
{
    (void) state;
    static uint8_t big[BRAID_MAX_DEDUP + 1];
    braid_key_t nan = {braid_score_real(NAN), NULL, 0};
    assert_null(braid_keys_encode(&nan, 1));
    braid_key_t longer = {braid_score_int(1), big, BRAID_MAX_DEDUP + 1};
    assert_null(braid_keys_encode(&longer, 1));
    static braid_key_t many[BRAID_MAX_BATCH + 1];
    assert_null(braid_keys_encode(many, BRAID_MAX_BATCH + 1));
    zframe_t *empty = braid_keys_encode(NULL, 0);
    assert_non_null(empty);
    assert_int_equal(zframe_size(empty), 1);    /* 90: no entries          */
    zframe_destroy(&empty);
}

/*  ---------------------------------------------------------------------
    malformed: one case per frame. n is the number of partials the message
    carries; err BRAID_OK marks the forms that are fine.                    */

typedef struct {
    const char *name;
    const char *hex;
    size_t n;
    braid_err_t err;
} t_keys_bad_t;

static const t_keys_bad_t s_keys_bad[] = {
    {"empty frame", "", 0, BRAID_ERR_FRAMES},
    {"no entries is fine", "90", 0, BRAID_OK},
    {"no entries for one partial", "90", 1, BRAID_ERR_FRAMES},
    {"one entry for no partial", "91 92 05 c4 00", 0, BRAID_ERR_FRAMES},
    {"one entry is fine", "91 92 05 c4 00", 1, BRAID_OK},
    {"two entries claimed, one present", "92 92 05 c4 00", 2, BRAID_ERR_FRAMES},
    {"trailing nil", "91 92 05 c4 00 c0", 1, BRAID_ERR_FRAMES},
    {"not an array", "81 92 05 c4 00", 1, BRAID_ERR_FRAMES},
    {"array16 of one is fine", "dc 00 01 92 05 c4 00", 1, BRAID_OK},
    {"array32 of one is fine", "dd 00 00 00 01 92 05 c4 00", 1, BRAID_OK},
    {"array32 claiming 2^32-1", "dd ff ff ff ff 92 05 c4 00", 1, BRAID_ERR_FRAMES},
    {"array16 cut short", "dc 00", 0, BRAID_ERR_FRAMES},
    {"entry of one", "91 91 05", 1, BRAID_ERR_FRAMES},
    {"entry of three", "91 93 05 c4 00 c0", 1, BRAID_ERR_FRAMES},
    {"entry not an array", "91 05", 1, BRAID_ERR_FRAMES},
    {"entry as array16 is fine", "91 dc 00 02 05 c4 00", 1, BRAID_OK},
    {"entry nested deeper", "91 92 91 05 c4 00", 1, BRAID_ERR_FRAMES},
    {"score nil", "91 92 c0 c4 00", 1, BRAID_ERR_FRAMES},
    {"score true", "91 92 c3 c4 00", 1, BRAID_ERR_FRAMES},
    {"score str", "91 92 a1 31 c4 00", 1, BRAID_ERR_FRAMES},
    {"score float32", "91 92 ca 3f 80 00 00 c4 00", 1, BRAID_ERR_FRAMES},
    {"score NaN", "91 92 cb 7f f8 00 00 00 00 00 00 c4 00", 1, BRAID_ERR_FRAMES},
    {"score -inf is fine", "91 92 cb ff f0 00 00 00 00 00 00 c4 00", 1, BRAID_OK},
    {"score float64 cut short", "91 92 cb 3f f0 00 00", 1, BRAID_ERR_FRAMES},
    {"score uint64 2^63", "91 92 cf 80 00 00 00 00 00 00 00 c4 00", 1, BRAID_ERR_FRAMES},
    {"score uint64 2^63-1 is fine", "91 92 cf 7f ff ff ff ff ff ff ff c4 00", 1, BRAID_OK},
    {"score int64 -2^63 is fine", "91 92 d3 80 00 00 00 00 00 00 00 c4 00", 1, BRAID_OK},
    {"score int8 -1 is fine", "91 92 d0 ff c4 00", 1, BRAID_OK},
    {"score uint16 cut short", "91 92 cd 01", 1, BRAID_ERR_FRAMES},
    {"score ext", "91 92 d4 01 00 c4 00", 1, BRAID_ERR_FRAMES},
    {"dedup missing", "91 92 05", 1, BRAID_ERR_FRAMES},
    {"dedup nil", "91 92 05 c0", 1, BRAID_ERR_FRAMES},
    {"dedup str", "91 92 05 a1 61", 1, BRAID_ERR_FRAMES},
    {"dedup uint", "91 92 05 05", 1, BRAID_ERR_FRAMES},
    {"dedup bin8 claiming 5, 1 present", "91 92 05 c4 05 61", 1, BRAID_ERR_FRAMES},
    {"dedup bin32 claiming 4 GiB", "91 92 05 c6 ff ff ff ff", 1, BRAID_ERR_FRAMES},
    {"dedup bin16 of 2 is fine", "91 92 05 c5 00 02 61 62", 1, BRAID_OK},
    {"dedup bin32 of 1 is fine", "91 92 05 c6 00 00 00 01 61", 1, BRAID_OK},
    {"dedup bin16 claiming 1025", "91 92 05 c5 04 01 61", 1, BRAID_ERR_FRAMES},
    {"second entry bad", "92 92 05 c4 00 92 05 c0", 2, BRAID_ERR_FRAMES},
    {"more partials than a batch", "90", 1025, BRAID_ERR_FRAMES},
};
#define NKEYSBAD (sizeof s_keys_bad / sizeof s_keys_bad[0])

static void
test_malformed(void **state)
{
    (void) state;
    for (size_t c = 0; c < NKEYSBAD; c++) {
        const t_keys_bad_t *k = &s_keys_bad[c];
        uint8_t buf[256];
        size_t len = s_hex(k->hex, buf, sizeof buf);
        braid_key_t keys[2];
        braid_err_t err = braid_keys_decode(len ? buf : NULL, len, k->n, k->n <= 2 ? keys : NULL);
        if (err != k->err)
            fail_msg("%s: got %s, want %s", k->name, braid_err_name(err), braid_err_name(k->err));
    }
}

/*  A dedup value of BRAID_MAX_DEDUP bytes is the most: one more is
    refused.                                                                */
static void
test_dedup_bound(void **state)
{
    (void) state;
    static uint8_t buf[16 + BRAID_MAX_DEDUP + 1];
    for (size_t len = BRAID_MAX_DEDUP; len <= BRAID_MAX_DEDUP + 1; len++) {
        size_t n = 0;
        buf[n++] = 0x91;
        buf[n++] = 0x92;
        buf[n++] = 0x05;
        buf[n++] = 0xc5;
        buf[n++] = (uint8_t) (len >> 8);
        buf[n++] = (uint8_t) len;
        memset(buf + n, 'u', len);
        n += len;
        braid_key_t key;
        braid_err_t want = len <= BRAID_MAX_DEDUP ? BRAID_OK : BRAID_ERR_FRAMES;
        assert_int_equal(braid_keys_decode(buf, n, 1, &key), want);
        if (want == BRAID_OK)
            assert_int_equal(key.dedup_len, len);
    }
}

/*  ---------------------------------------------------------------------
    sockets                                                                */

#define RECV_TIMEOUT_MSEC 5000

typedef struct {
    zsock_t *push;
    zsock_t *pull;
} t_pair_t;

static int
s_setup(void **state)
{
    static int seq;
    t_pair_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://test-keys-%d", seq++);
    p->pull = zsock_new_pull(ep);
    p->push = zsock_new_push(ep);
    assert_non_null(p->pull);
    assert_non_null(p->push);
    zsock_set_rcvtimeo(p->pull, RECV_TIMEOUT_MSEC);
    zsock_set_sndhwm(p->push, 0);
    zsock_set_rcvhwm(p->pull, 0);
    *state = p;
    return 0;
}

static int
s_teardown(void **state)
{
    t_pair_t *p = *state;
    zsock_destroy(&p->push);
    zsock_destroy(&p->pull);
    free(p);
    return 0;
}

/*  A keyed DATA of n partials, with the keys frame of nkeys entries (or
    bad bytes when nkeys is SIZE_MAX).                                      */
static void
s_send_data(t_pair_t *p, uint64_t task_id, size_t n, size_t nkeys)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_DATA);
    m.task_id = task_id;
    m.keyed = 1;
    zmsg_t *payload = zmsg_new();
    for (size_t i = 0; i < n; i++)
        zmsg_addstr(payload, "{\"score\":1}");
    payload = braid_parts_pack(&payload);  /* the partials in one frame    */
    if (nkeys == SIZE_MAX)
        zmsg_addmem(payload, "\x91\x92\x05\xc0", 4);
    else {
        static braid_key_t keys[BRAID_MAX_BATCH + 1];
        for (size_t i = 0; i < nkeys; i++)
            keys[i] = (braid_key_t){braid_score_int((int64_t) (n - i)), NULL, 0};
        zframe_t *frame = braid_keys_encode(keys, nkeys);
        assert_non_null(frame);
        zmsg_append(payload, &frame);
    }
    assert_int_equal(braid_msg_send(p->push, NULL, &m, &payload, false), 0);
}

/*  A keyed DATA of a whole batch (1024 partials and the keys frame: one
    frame over the unkeyed cap) is received; a bad keys frame and a count
    that does not match are refused as frames, and the next message still
    decodes.                                                                */
static void
test_recv_keyed_data(void **state)
{
    t_pair_t *p = *state;
    s_send_data(p, 1, BRAID_MAX_BATCH, BRAID_MAX_BATCH);
    s_send_data(p, 2, 2, SIZE_MAX);
    s_send_data(p, 3, 2, 1);
    s_send_data(p, 4, 2, 2);

    braid_msg_t m;
    zmsg_t *payload = NULL;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->pull, false, BRAID_CH_SINK, &m, NULL, &payload, &err), 0);
    assert_int_equal(m.task_id, 1);
    assert_int_equal(m.keyed, 1);
    assert_int_equal(zmsg_size(payload), BRAID_MAX_FRAMES);
    zframe_t *keys = zmsg_last(payload);
    braid_key_t *decoded = calloc(BRAID_MAX_BATCH, sizeof *decoded);
    assert_non_null(decoded);
    assert_int_equal(braid_keys_decode(zframe_data(keys), zframe_size(keys), BRAID_MAX_BATCH,
                                       decoded),
                     BRAID_OK);
    assert_int_equal(decoded[0].score.i, BRAID_MAX_BATCH);
    free(decoded);
    zmsg_destroy(&payload);

    for (int i = 0; i < 2; i++) {
        assert_int_equal(braid_msg_recv(p->pull, false, BRAID_CH_SINK, &m, NULL, &payload, &err),
                         -2);
        assert_int_equal(err, BRAID_ERR_FRAMES);
        assert_null(payload);
    }
    assert_int_equal(braid_msg_recv(p->pull, false, BRAID_CH_SINK, &m, NULL, &payload, &err), 0);
    assert_int_equal(m.task_id, 4);
    assert_int_equal(zmsg_size(payload), 2);    /* parts frame, keys frame */
    zmsg_destroy(&payload);
}

/*  A keyed DONE with no partials carries only its keys frame, of no
    entries; braid_msg_recv_frames and braid_msg_decode_frames say the same
    as braid_msg_recv, the cap included.                                    */
static void
test_recv_keyed_frames(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_DONE);
    m.task_id = 5;
    m.keyed = 1;
    zmsg_t *payload = zmsg_new();
    zframe_t *frame = braid_keys_encode(NULL, 0);
    zmsg_append(payload, &frame);
    assert_int_equal(braid_msg_send(p->push, NULL, &m, &payload, false), 0);
    s_send_data(p, 6, BRAID_MAX_BATCH, BRAID_MAX_BATCH);
    s_send_data(p, 7, 3, SIZE_MAX);

    static zmq_msg_t frames[1 + BRAID_MAX_FRAMES];
    size_t nframes;
    void *h = zsock_resolve(p->pull);
    braid_msg_t in;
    assert_int_equal(braid_msg_recv_frames(h, frames, 1 + BRAID_MAX_FRAMES, &nframes, 0), 0);
    assert_int_equal(nframes, 2);
    assert_int_equal(braid_msg_decode_frames(frames, nframes, BRAID_CH_SINK, &in), BRAID_OK);
    assert_int_equal(in.task_id, 5);
    for (size_t i = 0; i < nframes; i++)
        zmq_msg_close(&frames[i]);

    assert_int_equal(braid_msg_recv_frames(h, frames, 1 + BRAID_MAX_FRAMES, &nframes, 0), 0);
    assert_int_equal(nframes, 1 + BRAID_MAX_FRAMES);
    assert_int_equal(braid_msg_decode_frames(frames, nframes, BRAID_CH_SINK, &in), BRAID_OK);
    assert_int_equal(in.task_id, 6);
    for (size_t i = 0; i < nframes; i++)
        zmq_msg_close(&frames[i]);

    assert_int_equal(braid_msg_recv_frames(h, frames, 1 + BRAID_MAX_FRAMES, &nframes, 0), 0);
    assert_int_equal(braid_msg_decode_frames(frames, nframes, BRAID_CH_SINK, &in),
                     BRAID_ERR_FRAMES);
    for (size_t i = 0; i < nframes; i++)
        zmq_msg_close(&frames[i]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_cmp),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_dedup_bound),
        cmocka_unit_test_setup_teardown(test_recv_keyed_data, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_recv_keyed_frames, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
