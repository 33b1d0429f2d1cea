/*  test_frames.c - proto's framing helpers shared by the three programs:
    receiving into a zmq_msg_t vector with a frame cap, payload size rules,
    taking a batch off a queue and putting it back, heartbeat entries.      */

#include "braid_msg.h"
#include "braid_parts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#define RECV_TIMEOUT_MSEC 2000

typedef struct {
    zsock_t *a, *b;
} t_pair_t;

static int
s_setup_pair(void **state)
{
    static int seq;
    t_pair_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://test-frames-%d", ++seq);
    p->a = zsock_new(ZMQ_PAIR);
    p->b = zsock_new(ZMQ_PAIR);
    assert_int_equal(zsock_bind(p->a, "%s", ep), 0);
    assert_int_equal(zsock_connect(p->b, "%s", ep), 0);
    zsock_set_rcvtimeo(p->a, RECV_TIMEOUT_MSEC);
    *state = p;
    return 0;
}

static int
s_teardown_pair(void **state)
{
    t_pair_t *p = *state;
    zsock_destroy(&p->b);
    zsock_destroy(&p->a);
    free(p);
    return 0;
}

/*  Send a PARTIAL header and n payload frames "p0", "p1", ... (packed:
    as the n partials of one parts frame).                                  */
static void
s_send_partial(zsock_t *sock, size_t n, bool packed)
{
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_PARTIAL);
    zmsg_t *payload = zmsg_new();
    for (size_t i = 0; i < n; i++)
        zmsg_addstrf(payload, "p%zu", i);
    if (packed)
        payload = braid_parts_pack(&payload);
    assert_int_equal(braid_msg_send(sock, NULL, &msg, &payload, false), 0);
}

static void
s_close(zmq_msg_t *frames, size_t n)
{
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
}

/*  A message within the cap arrives whole and decodes; one over it is
    drained and refused, and the next message is received in sync.         */
static void
test_recv_frames_cap(void **state)
{
    t_pair_t *p = *state;
    void *h = zsock_resolve(p->a);
    zmq_msg_t frames[4];
    size_t n = 99;

    s_send_partial(p->b, 3, false);     /* 4 frames: at the cap           */
    s_send_partial(p->b, 4, false);     /* 5 frames: over it              */
    s_send_partial(p->b, 3, true);      /* 2 frames: 3 partials in one    */

    /*  Within the cap, but a PARTIAL carries one parts frame: refused.    */
    assert_int_equal(braid_msg_recv_frames(h, frames, 4, &n, 0), 0);
    assert_int_equal(n, 4);
    braid_msg_t msg;
    assert_int_equal(braid_msg_decode_frames(frames, n, BRAID_CH_TO_CLIENT, &msg),
                     BRAID_ERR_FRAMES);
    s_close(frames, n);

    n = 99;
    assert_int_equal(braid_msg_recv_frames(h, frames, 4, &n, 0), -2);
    assert_int_equal(n, 0);

    assert_int_equal(braid_msg_recv_frames(h, frames, 4, &n, 0), 0);
    assert_int_equal(n, 2);
    assert_int_equal(braid_msg_decode_frames(frames, n, BRAID_CH_TO_CLIENT, &msg), BRAID_OK);
    assert_int_equal(msg.type, BRAID_MSG_PARTIAL);
    size_t len;
    const char *all = braid_parts_data(zmq_msg_data(&frames[1]), zmq_msg_size(&frames[1]), &len);
    assert_int_equal(len, 6);
    assert_memory_equal(all, "p0p1p2", 6);
    s_close(frames, n);

    /*  Nothing waiting: EAGAIN with ZMQ_DONTWAIT, nothing held.            */
    assert_int_equal(braid_msg_recv_frames(h, frames, 4, &n, ZMQ_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
    assert_int_equal(n, 0);
}

/*  decode_frames applies the payload rules of braid_msg_recv: channel,
    frame count, and each frame's size.                                     */
static void
test_decode_frames_rules(void **state)
{
    (void) state;
    braid_msg_t msg;
    assert_int_equal(braid_msg_decode_frames(NULL, 0, BRAID_CH_TO_CLIENT, &msg), BRAID_ERR_EMPTY);

    uint8_t buf[BRAID_MAX_HEADER];
    braid_msg_init(&msg, BRAID_MSG_TASK);
    strcpy(msg.name, "web");
    msg.attempts = 1;
    size_t len = braid_msg_encode_buf(&msg, buf, sizeof buf);
    assert_true(len > 0);
    zmq_msg_t frames[2];
    zmq_msg_init_size(&frames[0], len);
    memcpy(zmq_msg_data(&frames[0]), buf, len);
    zmq_msg_init_size(&frames[1], BRAID_MAX_QUERY_LEN);
    memset(zmq_msg_data(&frames[1]), 'q', BRAID_MAX_QUERY_LEN);
    assert_int_equal(braid_msg_decode_frames(frames, 2, BRAID_CH_TO_WORKER, &msg), BRAID_OK);
    assert_int_equal(braid_msg_decode_frames(frames, 2, BRAID_CH_WORKER, &msg), BRAID_ERR_CHANNEL);
    assert_int_equal(braid_msg_decode_frames(frames, 1, BRAID_CH_TO_WORKER, &msg),
                     BRAID_ERR_FRAMES);
    zmq_msg_close(&frames[1]);
    zmq_msg_init_size(&frames[1], BRAID_MAX_QUERY_LEN + 1);
    memset(zmq_msg_data(&frames[1]), 'q', BRAID_MAX_QUERY_LEN + 1);
    assert_int_equal(braid_msg_decode_frames(frames, 2, BRAID_CH_TO_WORKER, &msg),
                     BRAID_ERR_FRAME_SIZE);
    s_close(frames, 2);
}

static void
test_payload_fits(void **state)
{
    (void) state;
    assert_true(braid_msg_payload_fits(BRAID_MSG_TASK, BRAID_MAX_QUERY_LEN));
    assert_false(braid_msg_payload_fits(BRAID_MSG_TASK, BRAID_MAX_QUERY_LEN + 1));
    /*  A QUERIES frame holds up to BRAID_MAX_BATCH queries: its entries
        are bounded by the parts check, the frame by BRAID_MAX_QUERIES_FRAME. */
    assert_true(braid_msg_payload_fits(BRAID_MSG_QUERIES, BRAID_MAX_QUERIES_FRAME));
    assert_false(braid_msg_payload_fits(BRAID_MSG_QUERIES, BRAID_MAX_QUERIES_FRAME + 1));
    assert_true(braid_msg_payload_fits(BRAID_MSG_PARTIAL, BRAID_MAX_FRAME));
    assert_false(braid_msg_payload_fits(BRAID_MSG_PARTIAL, BRAID_MAX_FRAME + 1));
    assert_true(braid_msg_payload_fits(BRAID_MSG_WHEARTBEAT, 0));
    assert_true(braid_msg_payload_fits(BRAID_MSG_WHEARTBEAT, 2 * BRAID_HEARTBEAT_ENTRY));
    assert_false(braid_msg_payload_fits(BRAID_MSG_WHEARTBEAT, BRAID_HEARTBEAT_ENTRY + 1));
    assert_true(braid_msg_payload_fits(BRAID_MSG_WHEARTBEAT,
                                       (size_t) BRAID_MAX_SLOTS * BRAID_HEARTBEAT_ENTRY));
    assert_false(braid_msg_payload_fits(BRAID_MSG_WHEARTBEAT,
                                        ((size_t) BRAID_MAX_SLOTS + 1) * BRAID_HEARTBEAT_ENTRY));
}

static zmsg_t *
s_queue(size_t n)
{
    zmsg_t *q = zmsg_new();
    for (size_t i = 0; i < n; i++)
        zmsg_addstrf(q, "%zu", i);
    return q;
}

/*  The frames of m, as "0,1,2".                                            */
static void
s_assert_frames(zmsg_t *m, const char *want)
{
    char got[256] = "";
    for (zframe_t *f = zmsg_first(m); f; f = zmsg_next(m)) {
        if (*got)
            strcat(got, ",");
        strncat(got, (const char *) zframe_data(f), zframe_size(f));
    }
    assert_string_equal(got, want);
}

static void
test_take_and_put_back(void **state)
{
    (void) state;
    zmsg_t *q = s_queue(5);
    zmsg_t *batch = braid_msg_take_frames(&q, 2);
    assert_non_null(batch);
    s_assert_frames(batch, "0,1");
    s_assert_frames(q, "2,3,4");
    /*  Not sent: back in front, in order.                                  */
    braid_msg_put_back(&q, &batch);
    assert_null(batch);
    s_assert_frames(q, "0,1,2,3,4");

    /*  Taking all of it hands over the queue itself.                       */
    zmsg_t *whole = q;
    batch = braid_msg_take_frames(&q, 9);
    assert_ptr_equal(batch, whole);
    assert_null(q);
    /*  ... and putting it back into no queue restores it.                  */
    braid_msg_put_back(&q, &batch);
    s_assert_frames(q, "0,1,2,3,4");

    assert_null(braid_msg_take_frames(&q, 0));
    zmsg_t *empty = zmsg_new();
    assert_null(braid_msg_take_frames(&empty, 3));
    zmsg_t *none = NULL;
    assert_null(braid_msg_take_frames(&none, 3));
    braid_msg_put_back(&q, &none);  /* nothing to put back                  */
    s_assert_frames(q, "0,1,2,3,4");
    zmsg_destroy(&empty);
    zmsg_destroy(&q);
}

/*  The wire layout of one entry (PROTOCOL.md): big-endian id (8), attempt
    (4), next seq (8), and its round trip at the extremes.                  */
static void
test_heartbeat_entry(void **state)
{
    (void) state;
    uint8_t p[BRAID_HEARTBEAT_ENTRY];
    braid_hb_entry_t e = {0x0102030405060708ull, 0x090a0b0cu, 0x0d0e0f1011121314ull};
    braid_hb_entry_put(p, &e);
    const uint8_t want[BRAID_HEARTBEAT_ENTRY] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                                 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    assert_memory_equal(p, want, sizeof want);
    braid_hb_entry_t back;
    braid_hb_entry_get(p, &back);
    assert_true(back.task_id == e.task_id && back.attempt == e.attempt &&
                back.next_seq == e.next_seq);

    braid_hb_entry_t max = {UINT64_MAX, UINT32_MAX, UINT64_MAX};
    braid_hb_entry_put(p, &max);
    braid_hb_entry_get(p, &back);
    assert_true(back.task_id == UINT64_MAX && back.attempt == UINT32_MAX &&
                back.next_seq == UINT64_MAX);
}

static void
test_worker_capacity(void **state)
{
    (void) state;
    assert_int_equal(braid_worker_capacity(1), 2);
    assert_int_equal(braid_worker_capacity(BRAID_MAX_SLOTS), 2 * BRAID_MAX_SLOTS);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recv_frames_cap, s_setup_pair, s_teardown_pair),
        cmocka_unit_test(test_decode_frames_rules),
        cmocka_unit_test(test_payload_fits),
        cmocka_unit_test(test_take_and_put_back),
        cmocka_unit_test(test_heartbeat_entry),
        cmocka_unit_test(test_worker_capacity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
