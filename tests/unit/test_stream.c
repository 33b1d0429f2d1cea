/*  test_stream.c - one job's stream inside libbraid (client/stream.c): the
    events a sequence of broker messages gives, in order; what is dropped;
    what breaks the stream; and the client's credit. No sockets: messages
    are built here, their payload frames are plain zmq_msg_t.              */

#include "request.h"
#include "stream.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "braid_parts.h"

#define T_MAX_FRAMES 4

static const uint8_t s_job_id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

typedef struct {
    braid_request_t *request;
    braid_stream_t *stream;
    braid_msg_t msg;            /* the message put last, and its frames     */
    zmq_msg_t frames[T_MAX_FRAMES];
    size_t nframes;
} t_fix_t;

/*  A request for queries q0 q1 q2 to sources web, docs; a stream of window
    messages for it.                                                        */
static t_fix_t *
s_fix_new(uint32_t window)
{
    t_fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->request = braid_request_new();
    assert_non_null(f->request);
    assert_int_equal(braid_request_add_source(f->request, "web"), BRAID_ADD_OK);
    assert_int_equal(braid_request_add_source(f->request, "docs"), BRAID_ADD_OK);
    for (int i = 0; i < 3; i++) {
        char q[8];
        snprintf(q, sizeof q, "q%d", i);
        assert_int_equal(braid_request_add_query(f->request, q, strlen(q)), BRAID_ADD_OK);
    }
    f->stream = braid_stream_new(f->request, s_job_id, window);
    assert_non_null(f->stream);
    return f;
}

static void
s_close_frames(t_fix_t *f)
{
    for (size_t i = 0; i < f->nframes; i++)
        zmq_msg_close(&f->frames[i]);
    f->nframes = 0;
}

static int
s_setup(void **state)
{
    *state = s_fix_new(4096);
    return 0;
}

static int
s_teardown(void **state)
{
    t_fix_t *f = *state;
    s_close_frames(f);
    braid_stream_destroy(&f->stream);
    assert_null(f->stream);
    braid_stream_destroy(&f->stream);  /* idempotent                        */
    braid_request_destroy(&f->request);
    free(f);
    return 0;
}

/*  A message of type for the job, out_seq, query, source.                  */
static braid_msg_t
s_msg(braid_msg_type_t type, uint64_t out_seq, uint32_t query, uint32_t source)
{
    braid_msg_t msg;
    braid_msg_init(&msg, type);
    memcpy(msg.job_id, s_job_id, sizeof msg.job_id);
    msg.out_seq = out_seq;
    msg.query = query;
    msg.source = source;
    return msg;
}

/*  Put msg with payload frames of the n sizes, or (sizes NULL) of the n
    strings in texts.                                                      */
static braid_stream_put_t
s_put_sized(t_fix_t *f, const braid_msg_t *msg, size_t n, const size_t *sizes,
            const char *const *texts)
{
    s_close_frames(f);
    f->msg = *msg;
    /*  The n partials travel in one parts frame.                          */
    f->nframes = 0;
    if (n > 0) {
        const void **data = calloc(n, sizeof *data);
        size_t *lens = calloc(n, sizeof *lens);
        size_t most = 0;
        assert_true(lens && (texts || sizes));
        if (texts)
            for (size_t i = 0; i < n; i++)
                lens[i] = strlen(texts[i]);
        else
            memcpy(lens, sizes, n * sizeof *lens);
        for (size_t i = 0; i < n; i++)
            most = lens[i] > most ? lens[i] : most;
        char *zeros = calloc(1, most + 1);
        assert_true(data && lens && zeros);
        for (size_t i = 0; i < n; i++)
            data[i] = texts ? texts[i] : zeros;
        zframe_t *frame = braid_parts_encode(data, lens, n);
        assert_non_null(frame);
        assert_int_equal(zmq_msg_init_size(&f->frames[0], zframe_size(frame)), 0);
        memcpy(zmq_msg_data(&f->frames[0]), zframe_data(frame), zframe_size(frame));
        zframe_destroy(&frame);
        free(zeros);
        free(lens);
        free(data);
        f->nframes = 1;
    }
    return braid_stream_put(f->stream, &f->msg, f->frames, f->nframes);
}

static braid_stream_put_t
s_put(t_fix_t *f, const braid_msg_t *msg, size_t n, const char *const *texts)
{
    return s_put_sized(f, msg, n, NULL, texts);
}

/*  Take a partial and check it.                                            */
static void
s_take_partial(t_fix_t *f, uint32_t query, const char *source, uint64_t seq, const char *data)
{
    braid_event_t ev;
    assert_true(braid_stream_take(f->stream, &ev));
    assert_int_equal(ev.type, BRAID_EVENT_PARTIAL);
    assert_int_equal(ev.query, query);
    assert_string_equal(ev.source_name, source);
    assert_int_equal(ev.seq, seq);
    assert_int_equal(ev.size, strlen(data));
    assert_memory_equal(ev.data, data, ev.size);
    assert_int_equal(ev.query_size, 2);
    assert_memory_equal(ev.query_data, query == 0 ? "q0" : query == 1 ? "q1" : "q2", 2);
    assert_string_equal(ev.text, "");
}

/*  Take the ERROR that ends the stream.                                    */
static void
s_take_error(t_fix_t *f, braid_client_err_t code, const char *text)
{
    braid_event_t ev;
    assert_true(braid_stream_take(f->stream, &ev));
    assert_int_equal(ev.type, BRAID_EVENT_ERROR);
    assert_int_equal(ev.code, code);
    assert_string_equal(ev.text, text);
    assert_string_equal(ev.source_name, "");
    assert_true(braid_stream_finished(f->stream));
    assert_false(braid_stream_take(f->stream, &ev));
}

static void
test_nothing_to_take(void **state)
{
    t_fix_t *f = *state;
    braid_event_t ev;
    assert_false(braid_stream_take(f->stream, &ev));
    assert_false(braid_stream_finished(f->stream));
    assert_string_equal(braid_stream_error(f->stream), "");
}

/*  A PARTIAL's frames go out one by one, seq counting from its e.         */
static void
test_partials(void **state)
{
    t_fix_t *f = *state;
    braid_msg_t msg = s_msg(BRAID_MSG_PARTIAL, 0, 0, 1);
    msg.seq = 5;
    const char *texts[] = {"a", "bc"};
    assert_int_equal(s_put(f, &msg, 2, texts), BRAID_STREAM_EVENTS);
    s_take_partial(f, 0, "docs", 5, "a");
    s_take_partial(f, 0, "docs", 6, "bc");
    braid_event_t ev;
    assert_false(braid_stream_take(f->stream, &ev));
}

/*  An END carries its task's last partials (seqs parts-n .. parts-1), then
    the END itself.                                                         */
static void
test_end_with_partials(void **state)
{
    t_fix_t *f = *state;
    braid_msg_t msg = s_msg(BRAID_MSG_END, 0, 1, 0);
    msg.parts = 3;
    msg.duplicates = 1;
    msg.attempts = 2;
    msg.status = BRAID_STATUS_FAILED;
    strcpy(msg.text, "exit 3");
    strcpy(msg.worker, "w7");           /* what a job log needs             */
    msg.started_msec = 1700000000123ull;
    msg.queue_msec = 40;
    msg.run_msec = 1500;
    msg.exit_value = 3;
    const char *texts[] = {"x", "y"};
    assert_int_equal(s_put(f, &msg, 2, texts), BRAID_STREAM_EVENTS);
    s_take_partial(f, 1, "web", 1, "x");
    s_take_partial(f, 1, "web", 2, "y");
    braid_event_t ev;
    assert_true(braid_stream_take(f->stream, &ev));
    assert_int_equal(ev.type, BRAID_EVENT_END);
    assert_int_equal(ev.query, 1);
    assert_int_equal(ev.source, 0);
    assert_string_equal(ev.source_name, "web");
    assert_memory_equal(ev.query_data, "q1", 2);
    assert_int_equal(ev.status, BRAID_END_FAILED);
    assert_int_equal(ev.parts, 3);
    assert_int_equal(ev.duplicates, 1);
    assert_int_equal(ev.attempts, 2);
    assert_string_equal(ev.text, "exit 3");
    assert_string_equal(ev.worker, "w7");
    assert_true(ev.started_msec == 1700000000123ull);
    assert_int_equal(ev.queue_msec, 40);
    assert_int_equal(ev.run_msec, 1500);
    assert_int_equal(ev.exit_value, 3);
    assert_null(ev.data);
    assert_false(braid_stream_take(f->stream, &ev));
    assert_false(braid_stream_finished(f->stream));

    msg = s_msg(BRAID_MSG_END, 1, 2, 1);    /* no partials riding on it      */
    assert_int_equal(s_put(f, &msg, 0, NULL), BRAID_STREAM_EVENTS);
    assert_true(braid_stream_take(f->stream, &ev));
    assert_int_equal(ev.type, BRAID_EVENT_END);
    assert_int_equal(ev.status, BRAID_END_OK);
    assert_string_equal(ev.source_name, "docs");
    assert_string_equal(ev.worker, "");     /* never ran: none of it        */
    assert_int_equal(ev.started_msec, 0);
    assert_int_equal(ev.exit_value, 0);
}

static void
test_restart(void **state)
{
    t_fix_t *f = *state;
    braid_msg_t msg = s_msg(BRAID_MSG_RESTART, 0, 2, 1);
    msg.attempts = 3;
    assert_int_equal(s_put(f, &msg, 0, NULL), BRAID_STREAM_EVENTS);
    braid_event_t ev;
    assert_true(braid_stream_take(f->stream, &ev));
    assert_int_equal(ev.type, BRAID_EVENT_RESTART);
    assert_int_equal(ev.query, 2);
    assert_string_equal(ev.source_name, "docs");
    assert_int_equal(ev.attempts, 3);
    assert_string_equal(ev.text, "");
}

/*  JOB_END lists every source of the request, with rows of zeros where
    the broker sent none; the stream is over.                               */
static void
test_job_end(void **state)
{
    t_fix_t *f = *state;
    braid_msg_t msg = s_msg(BRAID_MSG_JOB_END, 0, 0, 0);
    msg.status = BRAID_STATUS_FAILED;
    msg.nsources = 1;
    msg.summary[0][BRAID_STATUS_OK] = 2;
    msg.summary[0][BRAID_STATUS_TIMEOUT] = 1;
    assert_int_equal(s_put(f, &msg, 0, NULL), BRAID_STREAM_EVENTS);
    assert_false(braid_stream_finished(f->stream));
    braid_event_t ev;
    assert_true(braid_stream_take(f->stream, &ev));
    assert_int_equal(ev.type, BRAID_EVENT_JOB_END);
    assert_int_equal(ev.status, BRAID_END_FAILED);
    assert_int_equal(ev.nsources, 2);
    assert_string_equal(ev.source_names[0], "web");
    assert_string_equal(ev.source_names[1], "docs");
    assert_int_equal(ev.summary[0][BRAID_END_OK], 2);
    assert_int_equal(ev.summary[0][BRAID_END_TIMEOUT], 1);
    for (int s = 0; s < BRAID_END_STATUS_COUNT; s++)
        assert_int_equal(ev.summary[1][s], 0);
    assert_true(braid_stream_finished(f->stream));
    assert_false(braid_stream_take(f->stream, &ev));
    msg = s_msg(BRAID_MSG_PARTIAL, 1, 0, 0);  /* nothing after the end      */
    const char *texts[] = {"late"};
    assert_int_equal(s_put(f, &msg, 1, texts), BRAID_STREAM_DROPPED);
    assert_false(braid_stream_take(f->stream, &ev));
}

/*  The broker's ERROR ends the stream; it is not a broken stream.         */
static void
test_broker_error(void **state)
{
    t_fix_t *f = *state;
    braid_msg_t msg = s_msg(BRAID_MSG_ERROR, 0, 0, 0);
    msg.code = BRAID_ERR_CODE_TOO_MANY;
    strcpy(msg.text, "too many jobs");
    assert_int_equal(s_put(f, &msg, 0, NULL), BRAID_STREAM_EVENTS);
    s_take_error(f, BRAID_CLIENT_ERR_TOO_MANY, "too many jobs");
    assert_string_equal(braid_stream_error(f->stream), "");
}

/*  PONGs, other jobs' leftovers, repeats and ACCEPTs give nothing; all but
    PONG count as dropped.                                                  */
static void
test_dropped(void **state)
{
    t_fix_t *f = *state;
    braid_msg_t msg = s_msg(BRAID_MSG_PARTIAL, 0, 0, 0);
    const char *texts[] = {"a"};
    assert_int_equal(s_put(f, &msg, 1, texts), BRAID_STREAM_EVENTS);
    s_take_partial(f, 0, "web", 0, "a");
    assert_int_equal(s_put(f, &msg, 1, texts), BRAID_STREAM_DROPPED);   /* repeat */
    assert_int_equal(braid_stream_dropped(f->stream), 1);
    braid_msg_t foreign = s_msg(BRAID_MSG_PARTIAL, 1, 0, 0);
    foreign.job_id[0] ^= 0xff;
    assert_int_equal(s_put(f, &foreign, 1, texts), BRAID_STREAM_DROPPED);
    assert_int_equal(braid_stream_dropped(f->stream), 2);
    braid_msg_t accept = s_msg(BRAID_MSG_ACCEPT, 0, 0, 0);
    assert_int_equal(s_put(f, &accept, 0, NULL), BRAID_STREAM_DROPPED);
    assert_int_equal(braid_stream_dropped(f->stream), 3);
    braid_msg_t pong;
    braid_msg_init(&pong, BRAID_MSG_PONG);
    assert_int_equal(s_put(f, &pong, 0, NULL), BRAID_STREAM_DROPPED);
    assert_int_equal(braid_stream_dropped(f->stream), 3);
    braid_event_t ev;
    assert_false(braid_stream_take(f->stream, &ev));
    msg.out_seq = 1;                        /* the stream goes on           */
    assert_int_equal(s_put(f, &msg, 1, texts), BRAID_STREAM_EVENTS);
    s_take_partial(f, 0, "web", 0, "a");
}

/*  A gap in out_seq: a message was lost, the stream is broken.             */
static void
test_gap(void **state)
{
    t_fix_t *f = *state;
    braid_msg_t msg = s_msg(BRAID_MSG_PARTIAL, 1, 0, 0);
    const char *texts[] = {"a"};
    assert_int_equal(s_put(f, &msg, 1, texts), BRAID_STREAM_BROKEN);
    const char *why = "lost messages: out_seq 0 expected, 1 received";
    assert_string_equal(braid_stream_error(f->stream), why);
    s_take_error(f, BRAID_CLIENT_ERR_GAP, why);
    msg.out_seq = 0;                        /* nothing after it             */
    assert_int_equal(s_put(f, &msg, 1, texts), BRAID_STREAM_DROPPED);
}

/*  The job's rules: a task of the request, no more partials on an END than
    the task produced.                                                      */
static void
test_broken_rules(void **state)
{
    t_fix_t *f = *state;
    braid_msg_t msg = s_msg(BRAID_MSG_PARTIAL, 0, 3, 0);
    const char *texts[] = {"a", "b"};
    assert_int_equal(s_put(f, &msg, 1, texts), BRAID_STREAM_BROKEN);
    s_take_error(f, BRAID_CLIENT_ERR_PROTOCOL, "PARTIAL for query 3 source 0: out of range");

    t_fix_t *g = s_fix_new(4096);
    msg = s_msg(BRAID_MSG_RESTART, 0, 0, 2);
    assert_int_equal(s_put(g, &msg, 0, NULL), BRAID_STREAM_BROKEN);
    s_take_error(g, BRAID_CLIENT_ERR_PROTOCOL, "RESTART for query 0 source 2: out of range");
    void *gs = g;
    s_teardown(&gs);

    g = s_fix_new(4096);
    msg = s_msg(BRAID_MSG_END, 0, 0, 1);
    msg.parts = 1;
    assert_int_equal(s_put(g, &msg, 2, texts), BRAID_STREAM_BROKEN);
    s_take_error(g, BRAID_CLIENT_ERR_PROTOCOL,
                 "END for query 0 source 1: 2 partials carried, 1 produced");
    gs = g;
    s_teardown(&gs);
}

/*  Broken from outside (a silent broker): once, and only while open.      */
static void
test_fail(void **state)
{
    t_fix_t *f = *state;
    braid_stream_fail(f->stream, BRAID_CLIENT_ERR_LOST, "broker %s: silent", "x");
    braid_stream_fail(f->stream, BRAID_CLIENT_ERR_GAP, "again");
    assert_string_equal(braid_stream_error(f->stream), "broker x: silent");
    s_take_error(f, BRAID_CLIENT_ERR_LOST, "broker x: silent");
    braid_stream_fail(f->stream, BRAID_CLIENT_ERR_GAP, "after the end");
    braid_event_t ev;
    assert_false(braid_stream_take(f->stream, &ev));
}

/*  Put n messages of one payload frame of size bytes, taking the events.  */
static void
s_consume(t_fix_t *f, uint64_t *out_seq, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        braid_msg_t msg = s_msg(BRAID_MSG_PARTIAL, (*out_seq)++, 0, 0);
        assert_int_equal(s_put_sized(f, &msg, 1, &size, NULL), BRAID_STREAM_EVENTS);
        braid_event_t ev;
        assert_true(braid_stream_take(f->stream, &ev));
    }
}

/*  Credit: the first grant is small; once a message is seen, a grant of
    consumed + window is due whenever half the window is consumed.         */
static void
test_credit(void **state)
{
    t_fix_t *f = *state;
    uint64_t out_seq = 0;
    assert_int_equal(braid_stream_granted(f->stream), 64);
    assert_false(braid_stream_credit_due(f->stream));
    s_consume(f, &out_seq, 1, 10);
    assert_true(braid_stream_credit_due(f->stream));
    assert_int_equal(braid_stream_granted(f->stream), 1 + 4096);
    braid_stream_credit_sent(f->stream);
    assert_false(braid_stream_credit_due(f->stream));
    s_consume(f, &out_seq, 2047, 10);
    assert_false(braid_stream_credit_due(f->stream));
    s_consume(f, &out_seq, 1, 10);
    assert_true(braid_stream_credit_due(f->stream));
    assert_int_equal(braid_stream_granted(f->stream), 2049 + 4096);
    braid_stream_credit_sent(f->stream);
    braid_stream_repeat_credit(f->stream);  /* absolute: repeated at will   */
    assert_true(braid_stream_credit_due(f->stream));
    assert_int_equal(braid_stream_granted(f->stream), 2049 + 4096);
}

/*  A small window is the first grant; large messages shrink the window so
    that about 16 MiB may be ahead.                                         */
static void
test_credit_window(void **state)
{
    (void) state;
    t_fix_t *f = s_fix_new(10);
    uint64_t out_seq = 0;
    assert_int_equal(braid_stream_granted(f->stream), 10);
    s_consume(f, &out_seq, 4, 0);
    assert_false(braid_stream_credit_due(f->stream));
    s_consume(f, &out_seq, 1, 0);
    assert_true(braid_stream_credit_due(f->stream));
    assert_int_equal(braid_stream_granted(f->stream), 15);
    void *fs = f;
    s_teardown(&fs);

    f = s_fix_new(4096);
    out_seq = 0;
    size_t mib = 1u << 20;
    /*  Half the window's bytes (8 MiB) consumed: a grant is due whatever
        the count says (the broker lets each grant run a window of bytes
        ahead); the count granted does not go down.                        */
    s_consume(f, &out_seq, 7, mib);
    assert_false(braid_stream_credit_due(f->stream));
    s_consume(f, &out_seq, 1, mib);
    assert_true(braid_stream_credit_due(f->stream));
    assert_int_equal(braid_stream_granted(f->stream), 64);
    for (int i = 0; i < 48; i++) {
        braid_stream_credit_sent(f->stream);
        s_consume(f, &out_seq, 1, mib);     /* window 15: due at 56 + 8 = 64 */
    }
    assert_true(braid_stream_credit_due(f->stream));
    assert_int_equal(braid_stream_granted(f->stream), 56 + 15);
    fs = f;
    s_teardown(&fs);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_to_take, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_partials, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_end_with_partials, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_restart, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_job_end, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_broker_error, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_dropped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_gap, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_broken_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fail, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_credit, s_setup, s_teardown),
        cmocka_unit_test(test_credit_window),
    };
    return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
