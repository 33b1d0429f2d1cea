/*  test_job.c - the broker's job module: ordering, credit, cancel, limits.
    Results are fed in random interleavings; the emitted stream is checked
    against what a sequential run would print.                              */

#include "job.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "braid_parts.h"

/*  ---------------------------------------------------------------------
    A recording emitter                                                    */

typedef struct {
    uint8_t type;
    uint32_t query, source, status;
    uint64_t seq, parts, out_seq;
    char data[64];      /* one line per partial, concatenated (short)      */
    size_t nframes;
} s_rec_t;

typedef struct {
    s_rec_t *recs;
    size_t n, cap;
    int refuse_every;   /* refuse every Nth call (0 = never)               */
    int calls;
} s_sink_t;

static int
s_record(void *arg, braid_job_t *job, const braid_msg_t *msg, zmsg_t **payload)
{
    (void) job;
    s_sink_t *sink = arg;
    sink->calls++;
    if (sink->refuse_every && sink->calls % sink->refuse_every == 0)
        return -1;
    if (sink->n == sink->cap) {
        sink->cap = sink->cap ? sink->cap * 2 : 256;
        sink->recs = realloc(sink->recs, sink->cap * sizeof *sink->recs);
        assert_non_null(sink->recs);
    }
    s_rec_t *r = &sink->recs[sink->n++];
    memset(r, 0, sizeof *r);
    r->type = msg->type;
    r->query = msg->query;
    r->source = msg->source;
    r->status = msg->status;
    r->seq = msg->seq;
    r->parts = msg->parts;
    r->out_seq = msg->out_seq;
    if (payload && *payload) {
        r->nframes = braid_parts_frame_count(zmsg_first(*payload));   /* partials */
        zmsg_destroy(payload);
    }
    return 0;
}

static const braid_job_io_t s_io = {s_record, NULL, NULL};

static uint32_t
s_start(braid_job_t *job, uint32_t idx)
{
    uint64_t resume, window;
    return braid_job_start(job, idx, &resume, &window);
}

static braid_msg_t
s_submit(uint32_t count, uint32_t nsources, uint32_t order, uint64_t credit)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_SUBMIT);
    for (int i = 0; i < 16; i++)
        m.job_id[i] = (uint8_t) i;
    m.order = order;
    m.count = count;
    m.credit = credit;
    m.nsources = nsources;
    for (uint32_t s = 0; s < nsources; s++)
        snprintf(m.sources[s], sizeof m.sources[s], "src%u", s);
    return m;
}

static void
s_add_queries(braid_job_t *job, uint32_t first, uint32_t n)
{
    zmsg_t *frames = zmsg_new();
    for (uint32_t i = 0; i < n; i++)
        zmsg_addstrf(frames, "query %u", first + i);
    frames = braid_parts_pack(&frames);     /* one parts frame             */
    assert_int_equal(braid_job_add_queries(job, first, &frames), 0);
    assert_null(frames);
}

static zmsg_t *
s_frames(size_t n)
{
    zmsg_t *m = zmsg_new();
    for (size_t i = 0; i < n; i++)
        zmsg_addstr(m, "x");
    return braid_parts_pack(&m);    /* the partials in one parts frame     */
}

/*  ---------------------------------------------------------------------
    Random runs: dispatch everything, deliver results interleaved at
    random, check the emitted stream.                                      */

typedef struct {
    uint32_t idx, attempt, parts, sent;
    bool done;
} s_run_t;

static void
s_random_run(uint32_t order, unsigned seed, int refuse_every, uint64_t credit_step)
{
    srand(seed);
    const uint32_t count = 40, ns = 3, ntasks = count * ns;
    braid_msg_t sub = s_submit(count, ns, order, credit_step);
    braid_job_t *job = braid_job_new(&sub, 7, 1000000, 0);
    assert_non_null(job);
    s_add_queries(job, 0, 25);
    s_add_queries(job, 10, 30);         /* overlaps: the first 15 ignored */

    s_run_t *runs = calloc(ntasks, sizeof *runs);
    uint32_t nrun = 0;
    int64_t idx;
    while ((idx = braid_job_next_task(job, 0x7)) >= 0) {
        runs[nrun].idx = (uint32_t) idx;
        runs[nrun].attempt = s_start(job, (uint32_t) idx);
        runs[nrun].parts = (uint32_t) (rand() % 5);
        nrun++;
    }
    assert_int_equal(nrun, ntasks);

    s_sink_t sink = {.refuse_every = refuse_every};
    uint64_t credit = credit_step;
    uint32_t left = ntasks;
    while (left) {
        s_run_t *r = &runs[rand() % ntasks];
        if (r->done)
            continue;
        if (r->sent < r->parts) {
            uint32_t n = 1 + (uint32_t) rand() % (r->parts - r->sent);
            zmsg_t *frames = s_frames(n);
            assert_int_equal(braid_job_data(job, r->idx, r->attempt, r->sent, &frames),
                             BRAID_JOB_ACCEPTED);
            r->sent += n;
        } else {
            uint32_t status = (r->idx % 7 == 3) ? BRAID_STATUS_FAILED : BRAID_STATUS_OK;
            assert_int_equal(braid_job_done(job, r->idx, r->attempt, status, r->parts, "boom"),
                             BRAID_JOB_ACCEPTED);
            r->done = true;
            left--;
            assert_int_equal(braid_job_inflight(job), left);
        }
        braid_job_pump(job, &s_io, &sink);
        credit += credit_step;
        braid_job_credit(job, credit);
    }
    /*  Drain: keep granting credit until JOB_END is out.                   */
    for (int i = 0; i < 100000 && !braid_job_pump(job, &s_io, &sink); i++) {
        credit += credit_step;
        braid_job_credit(job, credit);
    }
    assert_true(braid_job_finished(job));

    /*  Check the stream.                                                   */
    for (size_t i = 0; i < sink.n; i++)
        assert_int_equal(sink.recs[i].out_seq, i);
    assert_int_equal(sink.recs[sink.n - 1].type, BRAID_MSG_JOB_END);
    assert_int_equal(sink.recs[sink.n - 1].status, BRAID_STATUS_FAILED);

    uint64_t *seen = calloc(ntasks, sizeof *seen);
    bool *ended = calloc(ntasks, sizeof *ended);
    uint32_t expect_task = 0;
    for (size_t i = 0; i + 1 < sink.n; i++) {
        s_rec_t *m = &sink.recs[i];
        uint32_t t = m->query * ns + m->source;
        assert_true(t < ntasks);
        assert_false(ended[t]);
        if (order == BRAID_ORDER_SUBMIT) {
            /*  Exactly the sequential order: task after task.              */
            assert_int_equal(t, expect_task);
        }
        if (m->type == BRAID_MSG_PARTIAL) {
            assert_int_equal(m->seq, seen[t]);
            seen[t] += m->nframes;
        } else {
            assert_int_equal(m->type, BRAID_MSG_END);
            /*  An END carries the task's last partials.                    */
            assert_int_equal(m->parts, seen[t] + m->nframes);
            seen[t] += m->nframes;
            assert_int_equal(m->status,
                             t % 7 == 3 ? BRAID_STATUS_FAILED : BRAID_STATUS_OK);
            ended[t] = true;
            expect_task++;
        }
    }
    for (uint32_t t = 0; t < ntasks; t++) {
        assert_true(ended[t]);
        s_run_t *r = NULL;
        for (uint32_t k = 0; k < ntasks; k++)
            if (runs[k].idx == t)
                r = &runs[k];
        assert_non_null(r);
        assert_int_equal(seen[t], r->parts);
    }
    free(seen);
    free(ended);
    free(runs);
    free(sink.recs);
    braid_job_destroy(&job);
    assert_null(job);
}

static void
test_submit_order_is_sequential(void **state)
{
    (void) state;
    for (unsigned seed = 1; seed <= 20; seed++)
        s_random_run(BRAID_ORDER_SUBMIT, seed, 0, 1000000);
}

static void
test_arrival_order_keeps_seq(void **state)
{
    (void) state;
    for (unsigned seed = 1; seed <= 20; seed++)
        s_random_run(BRAID_ORDER_ARRIVAL, seed, 0, 1000000);
}

static void
test_small_credit_loses_nothing(void **state)
{
    (void) state;
    for (unsigned seed = 1; seed <= 10; seed++) {
        s_random_run(BRAID_ORDER_SUBMIT, seed, 0, 1);
        s_random_run(BRAID_ORDER_ARRIVAL, seed, 0, 1);
    }
}

static void
test_refusing_client_loses_nothing(void **state)
{
    (void) state;
    for (unsigned seed = 1; seed <= 10; seed++) {
        s_random_run(BRAID_ORDER_SUBMIT, seed, 3, 1000000);
        s_random_run(BRAID_ORDER_ARRIVAL, seed, 2, 1000000);
    }
}

/*  ---------------------------------------------------------------------
    Targeted cases                                                         */

static void
test_credit_bounds_emission(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(1, 1, BRAID_ORDER_SUBMIT, 2);
    braid_job_t *job = braid_job_new(&sub, 1, 100, 0);
    s_add_queries(job, 0, 1);
    uint32_t a = s_start(job, 0);
    s_sink_t sink = {0};
    for (int i = 0; i < 5; i++) {
        zmsg_t *f = s_frames(1);
        assert_int_equal(braid_job_data(job, 0, a, (uint64_t) i, &f), BRAID_JOB_ACCEPTED);
        braid_job_pump(job, &s_io, &sink);
    }
    assert_int_equal(sink.n, 2);        /* credit 2: two messages only    */
    braid_job_credit(job, 1);           /* lower grant: ignored           */
    braid_job_pump(job, &s_io, &sink);
    assert_int_equal(sink.n, 2);
    braid_job_credit(job, 100);
    braid_job_pump(job, &s_io, &sink);
    /*  The three waiting partials leave as they came, a message each (the
        parts frame of a DATA is forwarded, not copied).                    */
    assert_int_equal(sink.n, 5);
    assert_int_equal(sink.recs[2].seq, 2);
    assert_int_equal(sink.recs[2].nframes, 1);
    assert_int_equal(sink.recs[4].seq, 4);
    assert_int_equal(braid_job_done(job, 0, a, BRAID_STATUS_OK, 5, ""), BRAID_JOB_ACCEPTED);
    assert_true(braid_job_pump(job, &s_io, &sink));
    assert_int_equal(sink.n, 7);
    free(sink.recs);
    braid_job_destroy(&job);
}

/*  Credit 2^64-1 lets at most the byte window out (issue 9): each message
    counts BRAID_MSG_OVERHEAD plus its payload; a grant that is not lower
    lets one more window go; held bytes go down as they leave.             */
static void
test_credit_bytes_cap(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(1, 1, BRAID_ORDER_SUBMIT, UINT64_MAX);
    braid_job_t *job = braid_job_new(&sub, 1, 100, 0);
    braid_job_set_credit_bytes(job, 3 * (BRAID_MSG_OVERHEAD + 1));
    s_add_queries(job, 0, 1);
    uint32_t a = s_start(job, 0);
    s_sink_t sink = {0};
    size_t queries = braid_job_buffered_bytes(job);
    for (int i = 0; i < 10; i++) {
        zmsg_t *f = s_frames(1);
        assert_int_equal(braid_job_data(job, 0, a, (uint64_t) i, &f), BRAID_JOB_ACCEPTED);
        braid_job_pump(job, &s_io, &sink);
    }
    assert_int_equal(sink.n, 3);        /* 3 messages of 1 byte: the window */
    /*  7 partials of 1 byte held: "x" from s_frames.                      */
    assert_int_equal(braid_job_buffered_bytes(job) - queries, 7);
    braid_job_credit(job, UINT64_MAX);  /* the same grant: one window more */
    braid_job_pump(job, &s_io, &sink);
    /*  Each DATA's parts frame leaves as its own message (no copy): three
        more of the 7 held, then the window (390 bytes from 195) holds.    */
    assert_int_equal(sink.n, 6);
    assert_int_equal(sink.recs[5].nframes, 1);
    assert_int_equal(braid_job_buffered_bytes(job) - queries, 4);
    for (int i = 10; i < 20; i++) {
        zmsg_t *f = s_frames(1);
        assert_int_equal(braid_job_data(job, 0, a, (uint64_t) i, &f), BRAID_JOB_ACCEPTED);
        braid_job_pump(job, &s_io, &sink);
    }
    assert_int_equal(sink.n, 6);
    /*  A client that is gone: credit no longer holds the job back.        */
    braid_job_credit_unbounded(job);
    assert_int_equal(braid_job_done(job, 0, a, BRAID_STATUS_OK, 20, ""), BRAID_JOB_ACCEPTED);
    assert_true(braid_job_pump(job, &s_io, &sink));
    free(sink.recs);
    braid_job_destroy(&job);
}

/*  Past its buffer limit a job dispatches only its head of line; once the
    client takes the buffered partials, the rest again.                     */
static void
test_buffer_limit_holds_dispatch(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(4, 1, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 1, 100, 0);
    braid_job_set_buffer_limit(job, 10);
    s_add_queries(job, 0, 4);
    assert_int_equal(braid_job_next_task(job, 1), 0);
    uint32_t a0 = s_start(job, 0);
    assert_int_equal(braid_job_next_task(job, 1), 1);
    uint32_t a1 = s_start(job, 1);
    /*  Task 1 ends ahead of the head with 20 bytes: held for the client.  */
    zmsg_t *f = s_frames(20);
    assert_int_equal(braid_job_data(job, 1, a1, 0, &f), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_done(job, 1, a1, BRAID_STATUS_OK, 20, ""), BRAID_JOB_ACCEPTED);
    assert_true(braid_job_over_buffer(job));
    assert_int_equal(braid_job_wants(job), 0);
    assert_int_equal(braid_job_next_task(job, 1), -1);
    /*  The head ends: both go out, and dispatch goes on.                   */
    s_sink_t sink = {0};
    assert_int_equal(braid_job_done(job, 0, a0, BRAID_STATUS_OK, 0, ""), BRAID_JOB_ACCEPTED);
    braid_job_pump(job, &s_io, &sink);
    assert_false(braid_job_over_buffer(job));
    assert_int_equal(braid_job_next_task(job, 1), 2);
    free(sink.recs);
    braid_job_destroy(&job);
}

/*  Records grow with the queries that arrive, not with the count a SUBMIT
    announces (issue 9: 2M queries x 5 sources reserved 880 MB a job).     */
static void
test_records_grow_as_queries_arrive(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(2000000, 5, BRAID_ORDER_ARRIVAL, 1000);
    braid_job_t *job = braid_job_new(&sub, 1, 10000000, 0);
    assert_non_null(job);
    assert_int_equal(braid_job_record_bytes(job), 0);
    s_add_queries(job, 0, 100);
    size_t small = braid_job_record_bytes(job);
    assert_true(small > 0 && small < 128 * 5 * 256);
    for (uint32_t first = 100; first < 5000; first += 100)
        s_add_queries(job, first, 100);
    size_t grown = braid_job_record_bytes(job);
    assert_true(grown > small && grown < 2 * 8192 * 5 * 256);
    /*  Every task of the queries that arrived runs and ends, in arrival
        order through the grown ring.                                      */
    s_sink_t sink = {0};
    int64_t idx;
    uint32_t n = 0;
    while ((idx = braid_job_next_task(job, 0x1f)) >= 0 && n < 25000) {
        uint32_t a = s_start(job, (uint32_t) idx);
        assert_int_equal(braid_job_done(job, (uint32_t) idx, a, BRAID_STATUS_OK, 0, ""),
                         BRAID_JOB_ACCEPTED);
        n++;
    }
    assert_int_equal(n, 25000);
    braid_job_pump(job, &s_io, &sink);
    assert_int_equal(sink.n, 1000);     /* credit 1000 */
    free(sink.recs);
    braid_job_destroy(&job);
}

static void
test_inflight_limit(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(9, 1, BRAID_ORDER_SUBMIT, 1000);
    sub.max_inflight = 3;
    braid_job_t *job = braid_job_new(&sub, 1, 100, 0);
    s_add_queries(job, 0, 9);
    uint32_t att[9];
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(braid_job_next_task(job, 1), i);
        att[i] = s_start(job, i);
    }
    assert_int_equal(braid_job_inflight(job), 3);
    assert_int_equal(braid_job_next_task(job, 1), -1);
    assert_int_equal(braid_job_wants(job), 0);
    assert_int_equal(braid_job_done(job, 1, att[1], BRAID_STATUS_OK, 0, ""), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_inflight(job), 2);
    assert_int_equal(braid_job_next_task(job, 1), 3);
    assert_int_equal(braid_job_next_task(job, 0), -1);  /* no worker: none */
    braid_job_destroy(&job);
}

static void
test_stale_and_gap(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(2, 1, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 1, 100, 0);
    s_add_queries(job, 0, 2);
    uint32_t a0 = s_start(job, 0);
    uint32_t a1 = s_start(job, 1);
    zmsg_t *f = s_frames(1);
    assert_int_equal(braid_job_data(job, 0, a0 + 1, 0, &f), BRAID_JOB_STALE);
    assert_null(f);
    f = s_frames(1);
    assert_int_equal(braid_job_data(job, 5, a0, 0, &f), BRAID_JOB_STALE);  /* no task */
    f = s_frames(1);
    assert_int_equal(braid_job_data(job, 1, a1, 3, &f), BRAID_JOB_GAP);
    /*  A gap leaves the attempt running: the broker runs it again.         */
    assert_true(braid_job_running(job, 1, a1));
    assert_int_equal(braid_job_inflight(job), 2);
    braid_job_policy_t pol = {2, BRAID_ON_RETRY_RESUME};
    assert_int_equal(braid_job_retry(job, 1, a1, true, "gap", &pol), BRAID_JOB_AGAIN);
    assert_int_equal(braid_job_inflight(job), 1);
    /*  The taken-back attempt is stale now, for a retry as for results.    */
    assert_int_equal(braid_job_retry(job, 1, a1, true, "gap", &pol), BRAID_JOB_NOT_RUNNING);
    /*  A DONE whose part count disagrees leaves it running too.            */
    assert_int_equal(braid_job_done(job, 0, a0, BRAID_STATUS_OK, 2, ""), BRAID_JOB_GAP);
    assert_true(braid_job_running(job, 0, a0));
    assert_int_equal(braid_job_inflight(job), 1);
    /*  Partials beyond the window are refused the same way.                */
    braid_msg_t sub2 = s_submit(1, 1, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *windowed = braid_job_new(&sub2, 2, 100, 2);
    s_add_queries(windowed, 0, 1);
    uint32_t b = s_start(windowed, 0);
    f = s_frames(3);
    assert_int_equal(braid_job_data(windowed, 0, b, 0, &f), BRAID_JOB_GAP);
    braid_job_destroy(&windowed);
    /*  A task cancelled, then its worker vanished: nothing to take back
        (its slot is the scheduler's business, test_sched.c).               */
    braid_job_cancel(job, BRAID_STATUS_CANCELLED, "cancelled", NULL, NULL);
    assert_int_equal(braid_job_inflight(job), 0);
    assert_int_equal(braid_job_retry(job, 0, a0, true, "worker lost", &pol),
                     BRAID_JOB_NOT_RUNNING);
    s_sink_t sink = {0};
    assert_true(braid_job_pump(job, &s_io, &sink));
    assert_true(braid_job_finished(job));
    free(sink.recs);
    braid_job_destroy(&job);
}

static size_t s_cancels;
static void
s_on_cancel(void *arg, uint64_t task_id, uint32_t attempt)
{
    braid_job_t *job = arg;
    assert_int_equal(task_id >> 32, 9);
    /*  Called for the attempt that ran, while the task ends cancelled.    */
    assert_int_equal(attempt, braid_job_attempt(job, (uint32_t) task_id));
    s_cancels++;
}

static void
test_cancel(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(10, 2, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 9, 100, 0);
    s_add_queries(job, 0, 6);   /* 4 queries never arrive                */
    uint32_t a[3];
    for (uint32_t i = 0; i < 3; i++)
        a[i] = s_start(job, (uint32_t) braid_job_next_task(job, 3));
    zmsg_t *f = s_frames(2);
    assert_int_equal(braid_job_data(job, 0, a[0], 0, &f), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_done(job, 0, a[0], BRAID_STATUS_OK, 2, ""), BRAID_JOB_ACCEPTED);
    s_cancels = 0;
    braid_job_cancel(job, BRAID_STATUS_CANCELLED, "cancelled", s_on_cancel, job);
    assert_int_equal(s_cancels, 2);
    assert_int_equal(braid_job_inflight(job), 0);
    assert_int_equal(braid_job_wants(job), 0);
    s_sink_t sink = {0};
    assert_true(braid_job_pump(job, &s_io, &sink));
    /*  Task 0 ok carrying its 2 partials, 11 cancelled ends, JOB_END.      */
    assert_int_equal(sink.n, 1 + 11 + 1);
    assert_int_equal(sink.recs[0].status, BRAID_STATUS_OK);
    assert_int_equal(sink.recs[0].nframes, 2);
    for (size_t i = 1; i < 12; i++)
        assert_int_equal(sink.recs[i].status, BRAID_STATUS_CANCELLED);
    assert_int_equal(sink.recs[12].status, BRAID_STATUS_CANCELLED);
    /*  The job has said everything. The workers' confirmations are stale
        for it (the slots they free are test_sched.c's).                    */
    assert_true(braid_job_finished(job));
    assert_int_equal(braid_job_done(job, 1, a[1], BRAID_STATUS_CANCELLED, 0, ""), BRAID_JOB_STALE);
    assert_int_equal(braid_job_done(job, 2, a[2], BRAID_STATUS_CANCELLED, 0, ""), BRAID_JOB_STALE);
    assert_int_equal(sink.n, 13);
    free(sink.recs);
    braid_job_destroy(&job);
}

/*  A source no worker serves any more (job_orphan.c): its waiting tasks,
    never dispatched or taken back for a retry, end failed; running ones
    and the other source's are untouched; what arrived stays before the
    END; nothing of that source is dispatched after.                       */
static void
test_orphan(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(4, 2, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 9, 100, 0);
    s_add_queries(job, 0, 4);
    uint32_t a0 = s_start(job, 0), a1 = s_start(job, 1), a2 = s_start(job, 2);
    zmsg_t *f = s_frames(1);
    assert_int_equal(braid_job_data(job, 0, a0, 0, &f), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_done(job, 0, a0, BRAID_STATUS_OK, 1, ""), BRAID_JOB_ACCEPTED);
    /*  Task 2 (query 1, source 0) sent one partial; its worker is lost.  */
    f = s_frames(1);
    assert_int_equal(braid_job_data(job, 2, a2, 0, &f), BRAID_JOB_ACCEPTED);
    braid_job_policy_t pol = {.retries = 5, .on_retry = BRAID_ON_RETRY_RESUME};
    assert_int_equal(braid_job_retry(job, 2, a2, true, "worker lost", &pol), BRAID_JOB_AGAIN);
    braid_job_ready(job, 2);
    assert_int_equal(braid_job_wants(job) & 1, 1);
    /*  Tasks 2, 4 and 6 wait on source 0: they end.                      */
    assert_int_equal(braid_job_orphan(job, 0, "no worker serves source src0"), 3);
    assert_int_equal(braid_job_orphan(job, 0, "again"), 0);
    assert_int_equal(braid_job_wants(job) & 1, 0);
    assert_true(braid_job_running(job, 1, a1));
    assert_int_equal(braid_job_done(job, 1, a1, BRAID_STATUS_OK, 0, ""), BRAID_JOB_ACCEPTED);
    for (int i = 0; i < 3; i++) {
        int64_t idx = braid_job_next_task(job, 3);
        assert_int_equal(idx % 2, 1);
        uint32_t a = s_start(job, (uint32_t) idx);
        assert_int_equal(braid_job_done(job, (uint32_t) idx, a, BRAID_STATUS_OK, 0, ""),
                         BRAID_JOB_ACCEPTED);
    }
    assert_int_equal(braid_job_next_task(job, 3), -1);
    s_sink_t sink = {0};
    assert_true(braid_job_pump(job, &s_io, &sink));
    /*  q0: ok (its partial in the END), ok; q1: the partial, failed (1
        part), ok; q2, q3: failed (0 parts), ok; JOB_END failed.          */
    uint32_t want[] = {BRAID_STATUS_OK, BRAID_STATUS_OK, BRAID_STATUS_FAILED, BRAID_STATUS_OK,
                       BRAID_STATUS_FAILED, BRAID_STATUS_OK, BRAID_STATUS_FAILED, BRAID_STATUS_OK};
    size_t e = 0, partials = 0;
    for (size_t i = 0; i < sink.n; i++) {
        if (sink.recs[i].type == BRAID_MSG_PARTIAL) {
            partials += sink.recs[i].nframes;
            continue;
        }
        if (sink.recs[i].type == BRAID_MSG_JOB_END) {
            assert_int_equal(sink.recs[i].status, BRAID_STATUS_FAILED);
            continue;
        }
        assert_int_equal(sink.recs[i].type, BRAID_MSG_END);
        assert_true(e < 8);
        assert_int_equal(sink.recs[i].status, want[e]);
        if (e == 2)
            assert_int_equal(sink.recs[i].parts, 1);
        partials += sink.recs[i].nframes;
        e++;
    }
    assert_int_equal(e, 8);
    assert_int_equal(partials, 2);
    free(sink.recs);
    braid_job_destroy(&job);
}

/*  ranges as RESUME's frame: pairs of big-endian first, end.              */
static size_t
s_ranges(uint8_t *buf, const uint64_t *pairs, size_t n)
{
    for (size_t i = 0; i < 2 * n; i++)
        for (int b = 0; b < 8; b++)
            buf[i * 8 + (size_t) b] = (uint8_t) (pairs[i] >> (56 - 8 * b));
    return n * BRAID_RESUME_RANGE;
}

/*  Failover with resume (job_resume.c): held until RESUME and the queries;
    the tasks the client saw end say nothing more; the head resumes after
    the seqs the client has; the rest runs in task order.                  */
static void
test_resume(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(3, 2, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 9, 100, 0);
    braid_job_hold(job);
    braid_on_retry_t resume[2] = {BRAID_ON_RETRY_RESUME, BRAID_ON_RETRY_RESUME};
    uint8_t buf[64];
    uint64_t ended[] = {0, 3};
    size_t size = s_ranges(buf, ended, 1);
    /*  Not before the queries are complete.                               */
    assert_int_equal(braid_job_resume(job, buf, size, 1, 1, 2, resume), -1);
    s_add_queries(job, 0, 3);
    assert_int_equal(braid_job_wants(job), 0);          /* held            */
    assert_int_equal(braid_job_next_task(job, 3), -1);
    /*  Bad ranges: out of order, empty, past the tasks.                   */
    uint64_t bad1[] = {2, 3, 0, 1}, bad2[] = {1, 1}, bad3[] = {4, 7};
    assert_int_equal(braid_job_resume(job, buf, s_ranges(buf, bad1, 2), 0, 0, 0, resume), -1);
    assert_int_equal(braid_job_resume(job, buf, s_ranges(buf, bad2, 1), 0, 0, 0, resume), -1);
    assert_int_equal(braid_job_resume(job, buf, s_ranges(buf, bad3, 1), 0, 0, 0, resume), -1);
    assert_true(braid_job_held(job));
    size = s_ranges(buf, ended, 1);
    assert_int_equal(braid_job_resume(job, buf, size, 1, 1, 2, resume), 0);
    assert_false(braid_job_held(job));
    /*  Task 3 (query 1, source 1) first, resuming at seq 2.               */
    assert_int_equal(braid_job_next_task(job, 3), 3);
    uint64_t r, w;
    uint32_t a3 = braid_job_start(job, 3, &r, &w);
    assert_int_equal(r, 2);
    assert_int_equal(braid_job_next_task(job, 3), 4);
    uint32_t a4 = s_start(job, 4);
    uint32_t a5 = s_start(job, 5);
    zmsg_t *f = s_frames(2);
    assert_int_equal(braid_job_data(job, 3, a3, 2, &f), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_done(job, 3, a3, BRAID_STATUS_OK, 4, ""), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_done(job, 4, a4, BRAID_STATUS_OK, 0, ""), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_done(job, 5, a5, BRAID_STATUS_OK, 0, ""), BRAID_JOB_ACCEPTED);
    s_sink_t sink = {0};
    assert_true(braid_job_pump(job, &s_io, &sink));
    /*  END of task 3 with its 2 partials (seqs 2, 3; parts 4), ENDs of 4
        and 5, JOB_END: nothing of tasks 0..2.                              */
    assert_int_equal(sink.n, 4);
    assert_int_equal(sink.recs[0].type, BRAID_MSG_END);
    assert_int_equal(sink.recs[0].query, 1);
    assert_int_equal(sink.recs[0].source, 1);
    assert_int_equal(sink.recs[0].parts, 4);
    assert_int_equal(sink.recs[0].nframes, 2);
    assert_int_equal(sink.recs[1].query, 2);
    assert_int_equal(sink.recs[2].query, 2);
    assert_int_equal(sink.recs[3].type, BRAID_MSG_JOB_END);
    assert_int_equal(sink.recs[3].status, BRAID_STATUS_OK);
    free(sink.recs);
    braid_job_destroy(&job);

    /*  Arrival order, ended tasks scattered, head restarted (on_retry
        restart): RESTART first, then from seq 0.                          */
    sub = s_submit(4, 1, BRAID_ORDER_ARRIVAL, 1000);
    job = braid_job_new(&sub, 10, 100, 0);
    braid_job_hold(job);
    s_add_queries(job, 0, 4);
    uint64_t scattered[] = {0, 1, 2, 3};
    braid_on_retry_t restart[1] = {BRAID_ON_RETRY_RESTART};
    assert_int_equal(braid_job_resume(job, buf, s_ranges(buf, scattered, 2), 1, 0, 5, restart), 0);
    assert_int_equal(braid_job_next_task(job, 1), 1);
    uint32_t a1 = braid_job_start(job, 1, &r, &w);
    assert_int_equal(r, 0);
    assert_int_equal(braid_job_next_task(job, 1), 3);
    f = s_frames(1);
    assert_int_equal(braid_job_data(job, 1, a1, 0, &f), BRAID_JOB_ACCEPTED);
    memset(&sink, 0, sizeof sink);
    braid_job_pump(job, &s_io, &sink);
    assert_true(sink.n >= 2);
    assert_int_equal(sink.recs[0].type, BRAID_MSG_RESTART);
    assert_int_equal(sink.recs[1].type, BRAID_MSG_PARTIAL);
    assert_int_equal(sink.recs[1].seq, 0);
    free(sink.recs);
    braid_job_destroy(&job);
}

static void
test_queries_rules(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(4, 1, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 1, 100, 0);
    zmsg_t *f = zmsg_new();
    zmsg_addstr(f, "a");
    f = braid_parts_pack(&f);
    assert_int_equal(braid_job_add_queries(job, 1, &f), -1);   /* gap      */
    s_add_queries(job, 0, 2);
    f = zmsg_new();
    zmsg_addstr(f, "x");
    zmsg_addstr(f, "y");
    zmsg_addstr(f, "z");
    f = braid_parts_pack(&f);
    assert_int_equal(braid_job_add_queries(job, 2, &f), -1);   /* over n   */
    s_add_queries(job, 0, 1);                                   /* dup: ok  */
    assert_int_equal(braid_job_received(job), 2);
    size_t len;
    const char *q = braid_job_query(job, 1, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(q, "query 1", 7);
    braid_job_destroy(&job);

    /*  Too many tasks for the broker's limit.                              */
    braid_msg_t big = s_submit(1000, 2, BRAID_ORDER_SUBMIT, 1);
    assert_null(braid_job_new(&big, 1, 1999, 0));
    assert_non_null(job = braid_job_new(&big, 1, 2000, 0));
    braid_job_destroy(&job);
    braid_job_destroy(&job);    /* idempotent */
}


/*  ---------------------------------------------------------------------
    Retries, restarts, credit windows                                      */

static uint64_t s_granted, s_granted_bytes;
static int s_grants;
static void
s_on_grant(void *arg, braid_job_t *job, uint64_t task_id, uint32_t attempt, uint64_t window,
           uint64_t window_bytes)
{
    (void) arg;
    assert_int_equal(task_id >> 32, braid_job_serial(job));
    assert_int_equal(attempt, braid_job_attempt(job, (uint32_t) task_id));
    s_granted = window;
    s_granted_bytes = window_bytes;
    s_grants++;
}

static void
s_feed(braid_job_t *job, uint32_t idx, uint32_t attempt, uint64_t seq, size_t n)
{
    zmsg_t *f = s_frames(n);
    assert_int_equal(braid_job_data(job, idx, attempt, seq, &f), BRAID_JOB_ACCEPTED);
}

static void
test_retry_resumes_after_forwarded(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(1, 1, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 3, 100, 0);
    s_add_queries(job, 0, 1);
    uint32_t a1 = s_start(job, 0);
    s_feed(job, 0, a1, 0, 3);
    s_sink_t sink = {0};
    braid_job_pump(job, &s_io, &sink);
    assert_int_equal(sink.n, 1);
    braid_job_policy_t pol = {2, BRAID_ON_RETRY_RESUME};
    assert_int_equal(braid_job_task_retries(job, 0), 0);
    assert_int_equal(braid_job_retry(job, 0, a1, true, "worker lost", &pol), BRAID_JOB_AGAIN);
    assert_int_equal(braid_job_task_retries(job, 0), 1);
    assert_int_equal(braid_job_inflight(job), 0);
    /*  Not ready until the backoff is over.                                */
    assert_int_equal(braid_job_next_task(job, 1), -1);
    braid_job_ready(job, 0);
    assert_int_equal(braid_job_next_task(job, 1), 0);
    uint64_t resume, window;
    uint32_t a2 = braid_job_start(job, 0, &resume, &window);
    assert_int_equal(a2, 2);
    assert_int_equal(resume, 3);
    /*  The old attempt is fenced.                                          */
    zmsg_t *f = s_frames(1);
    assert_int_equal(braid_job_data(job, 0, a1, 3, &f), BRAID_JOB_STALE);
    assert_int_equal(braid_job_done(job, 0, a1, BRAID_STATUS_OK, 3, ""), BRAID_JOB_STALE);
    s_feed(job, 0, a2, 3, 2);
    assert_int_equal(braid_job_done(job, 0, a2, BRAID_STATUS_OK, 5, ""), BRAID_JOB_ACCEPTED);
    assert_true(braid_job_pump(job, &s_io, &sink));
    /*  PARTIAL(3), then END carrying seqs 3 and 4, then JOB_END.          */
    assert_int_equal(sink.n, 3);
    assert_int_equal(sink.recs[1].type, BRAID_MSG_END);
    assert_int_equal(sink.recs[1].nframes, 2);
    assert_int_equal(sink.recs[1].parts, 5);
    free(sink.recs);
    braid_job_destroy(&job);
}

static void
test_retry_restart_announces(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(1, 1, BRAID_ORDER_ARRIVAL, 1000);
    braid_job_t *job = braid_job_new(&sub, 3, 100, 0);
    s_add_queries(job, 0, 1);
    uint32_t a1 = s_start(job, 0);
    s_feed(job, 0, a1, 0, 2);
    s_sink_t sink = {0};
    braid_job_pump(job, &s_io, &sink);
    braid_job_policy_t pol = {2, BRAID_ON_RETRY_RESTART};
    assert_int_equal(braid_job_retry(job, 0, a1, true, "lost", &pol), BRAID_JOB_AGAIN);
    braid_job_ready(job, 0);
    uint64_t resume, window;
    uint32_t a2 = braid_job_start(job, 0, &resume, &window);
    assert_int_equal(resume, 0);
    s_feed(job, 0, a2, 0, 3);
    assert_int_equal(braid_job_done(job, 0, a2, BRAID_STATUS_OK, 3, ""), BRAID_JOB_ACCEPTED);
    assert_true(braid_job_pump(job, &s_io, &sink));
    /*  PARTIAL(2), RESTART, END carrying 3 from seq 0, JOB_END.            */
    assert_int_equal(sink.n, 4);
    assert_int_equal(sink.recs[1].type, BRAID_MSG_RESTART);
    assert_int_equal(sink.recs[2].type, BRAID_MSG_END);
    assert_int_equal(sink.recs[2].nframes, 3);
    assert_int_equal(sink.recs[2].parts, 3);
    free(sink.recs);
    braid_job_destroy(&job);
}

static void
test_retry_limits_and_fail_policy(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(2, 1, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 3, 100, 0);
    s_add_queries(job, 0, 2);
    braid_job_policy_t pol = {1, BRAID_ON_RETRY_RESUME};
    uint32_t a = s_start(job, 0);
    assert_int_equal(braid_job_retry(job, 0, a, true, "flaky", &pol), BRAID_JOB_AGAIN);
    braid_job_ready(job, 0);
    a = s_start(job, 0);
    /*  A hand-back does not count toward the limit.                        */
    assert_int_equal(braid_job_retry(job, 0, a, false, "handed back", &pol), BRAID_JOB_AGAIN);
    assert_int_equal(braid_job_task_retries(job, 0), 1);
    braid_job_ready(job, 0);
    a = s_start(job, 0);
    assert_int_equal(braid_job_retry(job, 0, a, true, "flaky again", &pol), BRAID_JOB_ENDED);
    assert_int_equal(braid_job_inflight(job), 0);
    /*  on_retry fail: once partials reached the client, no second try.     */
    braid_job_policy_t fail = {5, BRAID_ON_RETRY_FAIL};
    uint32_t b = s_start(job, 1);
    s_feed(job, 1, b, 0, 1);
    s_sink_t sink = {0};
    assert_true(braid_job_pump(job, &s_io, &sink) == false);
    assert_int_equal(braid_job_retry(job, 1, b, true, "lost", &fail), BRAID_JOB_ENDED);
    assert_true(braid_job_pump(job, &s_io, &sink));
    assert_int_equal(sink.recs[0].type, BRAID_MSG_END);
    assert_int_equal(sink.recs[0].status, BRAID_STATUS_FAILED);
    assert_int_equal(sink.recs[2].type, BRAID_MSG_END);
    assert_int_equal(sink.recs[2].status, BRAID_STATUS_FAILED);
    assert_int_equal(sink.recs[2].parts, 1);
    assert_int_equal(braid_job_failures(job), 2);
    free(sink.recs);
    braid_job_destroy(&job);
}

/*  A byte window: regranted once half of it has left (before it runs dry),
    and a task whose bytes reached the grant is window-blocked even though
    its count window is far from used.                                     */
static void
test_byte_windows_move_and_block(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(1, 1, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 3, 100, 1000);
    braid_job_set_window_bytes(job, 8);
    s_add_queries(job, 0, 1);
    uint64_t resume, window;
    uint32_t a = braid_job_start(job, 0, &resume, &window);
    assert_int_equal(window, 1000);
    assert_int_equal(braid_job_granted_bytes(job, 0), 8);
    const braid_job_io_t io = {s_record, s_on_grant, NULL};
    s_sink_t sink = {0};
    s_grants = 0;
    s_feed(job, 0, a, 0, 3);            /* 3 bytes of 8: no grant yet     */
    braid_job_pump(job, &io, &sink);
    assert_int_equal(s_grants, 0);
    s_feed(job, 0, a, 3, 2);            /* 5 of 8: past half, regranted   */
    braid_job_pump(job, &io, &sink);
    assert_int_equal(s_grants, 1);
    assert_int_equal(s_granted_bytes, 13);      /* 5 forwarded + 8         */
    assert_int_equal(s_granted, 1005);
    assert_false(braid_job_window_blocked(job, 0));
    /*  A slow client: the bytes reach the grant, the task is blocked.     */
    braid_job_credit(job, 0);
    sink.refuse_every = 1;
    s_feed(job, 0, a, 5, 8);
    braid_job_pump(job, &io, &sink);
    assert_int_equal(s_grants, 1);
    assert_true(braid_job_window_blocked(job, 0));
    free(sink.recs);
    braid_job_destroy(&job);
}

static void
test_windows_move_as_partials_leave(void **state)
{
    (void) state;
    braid_msg_t sub = s_submit(1, 1, BRAID_ORDER_SUBMIT, 1000);
    braid_job_t *job = braid_job_new(&sub, 3, 100, 4);
    s_add_queries(job, 0, 1);
    uint64_t resume, window;
    uint32_t a = braid_job_start(job, 0, &resume, &window);
    assert_int_equal(window, 4);
    const braid_job_io_t io = {s_record, s_on_grant, NULL};
    s_sink_t sink = {0};
    s_grants = 0;
    s_feed(job, 0, a, 0, 1);
    braid_job_pump(job, &io, &sink);
    assert_int_equal(s_grants, 0);      /* less than half the window used */
    s_feed(job, 0, a, 1, 2);
    braid_job_pump(job, &io, &sink);
    assert_int_equal(s_grants, 1);
    assert_int_equal(s_granted, 7);     /* 3 forwarded + a window of 4    */
    /*  A slow client: nothing leaves, no new grant, buffer bounded.        */
    braid_job_credit(job, 0);
    sink.refuse_every = 1;
    s_feed(job, 0, a, 3, 4);
    braid_job_pump(job, &io, &sink);
    assert_int_equal(s_grants, 1);
    free(sink.recs);
    braid_job_destroy(&job);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_order_is_sequential),
        cmocka_unit_test(test_arrival_order_keeps_seq),
        cmocka_unit_test(test_small_credit_loses_nothing),
        cmocka_unit_test(test_refusing_client_loses_nothing),
        cmocka_unit_test(test_credit_bounds_emission),
        cmocka_unit_test(test_credit_bytes_cap),
        cmocka_unit_test(test_records_grow_as_queries_arrive),
        cmocka_unit_test(test_buffer_limit_holds_dispatch),
        cmocka_unit_test(test_inflight_limit),
        cmocka_unit_test(test_stale_and_gap),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_orphan),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_queries_rules),
        cmocka_unit_test(test_retry_resumes_after_forwarded),
        cmocka_unit_test(test_retry_restart_announces),
        cmocka_unit_test(test_retry_limits_and_fail_policy),
        cmocka_unit_test(test_windows_move_as_partials_leave),
        cmocka_unit_test(test_byte_windows_move_and_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
