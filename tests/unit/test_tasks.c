/*  test_tasks.c - the worker's tasks without sockets: the table (add,
    find, claim, queue order, slots), and a task's life through its source
    kind (synthetic, and a scripted kind for holding and killing) to the
    DATA and DONE it hands a fake sink: windows, resume, refusals, cancel,
    timeout, silence, heartbeat entries.                                   */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "braid_parts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "source.h"
#include "tasks.h"

/*  ---------------------------------------------------------------------
    A fake sink: records what was sent, refuses on request                 */

#define S_MAX_SENT 32

typedef struct {
    braid_msg_t msg;
    size_t nframes;
    char first[64];         /* the first frame's bytes, as a string        */
} s_sent_t;

typedef struct {
    s_sent_t sent[S_MAX_SENT];
    size_t nsent;
    int refuse;             /* refuse this many sends, then take them      */
} s_sink_t;

static int
s_send(void *arg, const braid_msg_t *msg, zmsg_t **frames_p)
{
    s_sink_t *sink = arg;
    if (sink->refuse > 0) {
        sink->refuse--;
        return -1;
    }
    assert_true(sink->nsent < S_MAX_SENT);
    s_sent_t *s = &sink->sent[sink->nsent++];
    memset(s, 0, sizeof *s);
    s->msg = *msg;
    if (frames_p) {
        /*  nframes counts the partials of the parts frame; first is the
            first partial.                                                  */
        zframe_t *f = zmsg_first(*frames_p);
        assert_non_null(f);
        assert_int_equal(braid_parts_check(zframe_data(f), zframe_size(f), BRAID_MAX_PARTS,
                                           BRAID_MAX_FRAME, &s->nframes),
                         BRAID_OK);
        braid_parts_iter_t it;
        braid_parts_iter(&it, zframe_data(f), zframe_size(f));
        const void *data;
        size_t len;
        if (braid_parts_next(&it, &data, &len))
            snprintf(s->first, sizeof s->first, "%.*s", (int) len, (const char *) data);
        zmsg_destroy(frames_p);
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    A scripted kind: makes what the test puts in its queue, ends and
    stops when told                                                        */

typedef struct {
    int parts_ready;        /* partials produce() may give                 */
    bool fresh;
    braid_run_result_t result;  /* what advance() says while running       */
    bool stop_slowly;       /* stop() says BUSY; then gone once "exited"   */
    bool stopping;
    bool exited;
    int destroyed;
} s_script_t;

static s_script_t s_script;

static braid_run_result_t
s_fake_start(void *context, const void *settings, zframe_t **query_p, uint32_t attempt,
             int64_t now, void **run_p, char *text, size_t textsize)
{
    (void) context, (void) settings, (void) attempt, (void) now, (void) text, (void) textsize;
    zframe_destroy(query_p);
    *run_p = &s_script;
    return BRAID_RUN_BUSY;
}

static void
s_fake_destroy(void **run_p)
{
    if (*run_p)
        s_script.destroyed++;
    *run_p = NULL;
}

static size_t
s_fake_produce(void *run, int64_t now, braid_parts_t *out, size_t max)
{
    (void) run, (void) now;
    size_t n = 0;
    while (n < max && s_script.parts_ready > 0) {
        braid_parts_add(out, "p", 1);
        s_script.parts_ready--;
        n++;
    }
    return n;
}

static bool
s_fake_fresh(void *run)
{
    (void) run;
    bool fresh = s_script.fresh;
    s_script.fresh = false;
    return fresh;
}

static braid_run_result_t
s_fake_advance(void *run, int64_t now, size_t room, char *text, size_t textsize)
{
    (void) run, (void) now, (void) room;
    if (s_script.stopping)
        return s_script.exited ? BRAID_RUN_STOPPED : BRAID_RUN_BUSY;
    snprintf(text, textsize, "scripted");
    return s_script.result;
}

static braid_run_result_t
s_fake_stop(void *run, int64_t now)
{
    (void) run, (void) now;
    s_script.stopping = true;
    return s_script.stop_slowly ? BRAID_RUN_BUSY : BRAID_RUN_STOPPED;
}

static int64_t
s_fake_wake(void *run, int64_t now, size_t room)
{
    (void) run, (void) now, (void) room;
    return INT64_MAX;
}

static void *
s_fake_settings_new(void)
{
    return &s_script;
}

static void
s_fake_settings_destroy(void **settings_p)
{
    *settings_p = NULL;
}

static const braid_source_kind_t s_fake_kind = {
    .name = "fake",
    .hold_msec = 5,
    .settings_new = s_fake_settings_new,
    .settings_destroy = s_fake_settings_destroy,
    .start = s_fake_start,
    .destroy = s_fake_destroy,
    .produce = s_fake_produce,
    .fresh = s_fake_fresh,
    .advance = s_fake_advance,
    .stop = s_fake_stop,
    .wake = s_fake_wake,
};

static braid_source_t s_fake = {.name = "fake", .kind = &s_fake_kind, .settings = &s_script};

/*  ---------------------------------------------------------------------
    Helpers                                                                */

static braid_source_t *
s_synth(const char *spec)
{
    char err[256];
    braid_source_t *source = braid_source_from_flag(spec, err, sizeof err);
    assert_non_null(source);
    return source;
}

/*  A task as a TASK message would make it.                                */
static braid_task_t *
s_task(const braid_source_t *source, uint64_t id, uint32_t attempt, uint64_t resume,
       uint64_t window, uint32_t timeout_msec)
{
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK);
    msg.task_id = id;
    msg.attempts = attempt;
    msg.resume = resume;
    msg.window = window;
    msg.timeout_msec = timeout_msec;
    zframe_t *query = zframe_new("q", 1);
    braid_task_t *task = braid_task_new(&msg, source, &query);
    assert_null(query);
    assert_non_null(task);
    return task;
}

static braid_task_sink_t
s_sink(s_sink_t *fake)
{
    memset(fake, 0, sizeof *fake);
    return (braid_task_sink_t){.send = s_send, .arg = fake};
}

/*  Check the i-th message sent: its type, its seq (DATA) or parts (DONE),
    how many partials it carried and the first of them ("" if none).       */
static void
s_expect_sent(const s_sink_t *fake, size_t i, int type, uint64_t seq_or_parts, size_t nframes,
              const char *first)
{
    assert_true(i < fake->nsent);
    const s_sent_t *s = &fake->sent[i];
    assert_int_equal(s->msg.type, type);
    assert_int_equal(type == BRAID_MSG_DATA ? s->msg.seq : s->msg.parts, seq_or_parts);
    assert_int_equal(s->nframes, nframes);
    assert_string_equal(s->first, first);
}

/*  ---------------------------------------------------------------------
    The table                                                              */

static void
test_table(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=1");
    braid_tasks_t *tasks = braid_tasks_new(4);
    assert_non_null(tasks);
    uint64_t ids[] = {30, 10, 20};
    for (size_t i = 0; i < 3; i++) {
        braid_task_t *task = s_task(synth, ids[i], 1, 0, 0, 0);
        braid_task_t *added = braid_tasks_add(tasks, &task);
        assert_null(task);
        assert_non_null(added);
        assert_ptr_equal(added, braid_tasks_at(tasks, i));
    }
    assert_int_equal(braid_tasks_size(tasks), 3);
    assert_int_equal(braid_tasks_queued(tasks), 3);
    assert_int_equal(braid_tasks_live(tasks), 3);
    assert_false(braid_tasks_full(tasks));
    assert_null(braid_tasks_at(tasks, 3));

    /*  find: by id and attempt.                                           */
    assert_ptr_equal(braid_tasks_find(tasks, 0, 20, 1), braid_tasks_at(tasks, 2));
    assert_null(braid_tasks_find(tasks, 0, 20, 2));
    assert_null(braid_tasks_find(tasks, 0, 40, 1));

    /*  Queued tasks start lowest id first, whatever order they came in.   */
    braid_task_t *next = braid_tasks_next_queued(tasks);
    assert_int_equal(braid_task_id(next), 10);
    braid_tasks_start(tasks, next, NULL, 0);
    assert_int_equal(braid_task_phase(next), BRAID_TASK_RUN);
    assert_true(braid_task_has_slot(next));
    assert_int_equal(braid_tasks_busy(tasks), 1);
    assert_int_equal(braid_tasks_queued(tasks), 2);
    assert_int_equal(braid_task_id(braid_tasks_next_queued(tasks)), 20);

    /*  claim: the same attempt is a duplicate; another attempt silences
        the one held (its slot is free at once).                           */
    assert_int_equal(braid_tasks_claim(tasks, 0, 10, 1, 0), BRAID_TASKS_DUPLICATE);
    assert_int_equal(braid_tasks_claim(tasks, 0, 40, 1, 0), BRAID_TASKS_NEW);
    assert_int_equal(braid_tasks_claim(tasks, 0, 10, 2, 0), BRAID_TASKS_NEW);
    assert_int_equal(braid_tasks_busy(tasks), 0);
    assert_true(braid_task_silent(braid_tasks_at(tasks, 1)));
    assert_null(braid_tasks_find(tasks, 0, 10, 1));
    assert_int_equal(braid_tasks_live(tasks), 2);
    /*  A silenced attempt is no duplicate of itself any more.             */
    assert_int_equal(braid_tasks_claim(tasks, 0, 10, 1, 0), BRAID_TASKS_NEW);

    /*  Full: a fourth is taken, a fifth refused (and destroyed).          */
    braid_task_t *task = s_task(synth, 50, 1, 0, 0, 0);
    assert_non_null(braid_tasks_add(tasks, &task));
    assert_true(braid_tasks_full(tasks));
    task = s_task(synth, 60, 1, 0, 0, 0);
    assert_null(braid_tasks_add(tasks, &task));
    assert_null(task);

    /*  Pump: the silenced task is dropped without a word; the queued ones
        stay.                                                              */
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    assert_int_equal(braid_tasks_pump(tasks, 0, false, &sink), 0);
    assert_int_equal(fake.nsent, 0);
    assert_int_equal(braid_tasks_size(tasks), 3);
    assert_int_equal(braid_tasks_silence_all(tasks, 0), 3);
    assert_int_equal(braid_tasks_silence_all(tasks, 0), 0);
    assert_int_equal(braid_tasks_pump(tasks, 0, false, &sink), 0);
    assert_int_equal(braid_tasks_size(tasks), 0);
    braid_tasks_destroy(&tasks);
    braid_tasks_destroy(&tasks);
    assert_null(tasks);
    braid_source_destroy(&synth);
}

/*  Several brokers (links): task ids are each broker's own, so the same id
    on two links is two tasks; the slots go to the link holding fewest;
    silencing one link leaves the other's tasks.                          */
static void
test_links(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=1");
    braid_tasks_t *tasks = braid_tasks_new(8);
    assert_non_null(tasks);
    uint32_t links[] = {0, 0, 1, 1};
    uint64_t ids[] = {1, 2, 1, 2};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(braid_tasks_claim(tasks, links[i], ids[i], 1, 0), BRAID_TASKS_NEW);
        braid_task_t *task = s_task(synth, ids[i], 1, 0, 0, 0);
        braid_task_set_link(task, links[i]);
        assert_non_null(braid_tasks_add(tasks, &task));
    }
    /*  The same (link, id, attempt) is a duplicate; on the other link not. */
    assert_int_equal(braid_tasks_claim(tasks, 1, 1, 1, 0), BRAID_TASKS_DUPLICATE);
    assert_ptr_equal(braid_tasks_find(tasks, 1, 1, 1), braid_tasks_at(tasks, 2));
    assert_ptr_equal(braid_tasks_find(tasks, 0, 1, 1), braid_tasks_at(tasks, 0));
    assert_null(braid_tasks_find(tasks, 2, 1, 1));
    assert_int_equal(braid_tasks_held(tasks, 0), 2);
    assert_int_equal(braid_tasks_held(tasks, 1), 2);
    /*  Starting alternates between the links: each gets its share.        */
    uint32_t started[4];
    for (size_t i = 0; i < 4; i++) {
        braid_task_t *next = braid_tasks_next_queued(tasks);
        assert_non_null(next);
        started[i] = braid_task_link(next);
        braid_tasks_start(tasks, next, NULL, 0);
    }
    assert_int_equal(started[0], 0);
    assert_int_equal(started[1], 1);
    assert_int_equal(started[2], 0);
    assert_int_equal(started[3], 1);
    assert_null(braid_tasks_next_queued(tasks));
    assert_int_equal(braid_tasks_busy(tasks), 4);
    /*  Link 1's broker goes away: its tasks only are silenced.            */
    assert_int_equal(braid_tasks_silence_link(tasks, 1, 0), 2);
    assert_int_equal(braid_tasks_busy(tasks), 2);
    assert_int_equal(braid_tasks_held(tasks, 1), 0);
    assert_int_equal(braid_tasks_held(tasks, 0), 2);
    assert_int_equal(braid_tasks_live(tasks), 2);
    braid_tasks_destroy(&tasks);
    braid_source_destroy(&synth);
}

/*  A braid_tasks_context_fn: the context is the test's, counted.          */
static void *
s_context_of(void *arg, const braid_task_t *task)
{
    (void) task;
    (*(int *) arg)++;
    return NULL;
}

/*  start_queued starts the lowest ids first, at most max, skipping tasks
    that ended while queued (cancelled, refused); any_queued follows.      */
static void
test_start_queued(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=1");
    braid_tasks_t *tasks = braid_tasks_new(8);
    assert_false(braid_tasks_any_queued(tasks));
    uint64_t ids[] = {50, 20, 40, 10, 30};
    for (size_t i = 0; i < 5; i++) {
        braid_task_t *task = s_task(synth, ids[i], 1, 0, 0, 0);
        assert_non_null(braid_tasks_add(tasks, &task));
    }
    /*  10 is cancelled while queued: it never starts.                     */
    braid_task_abort(braid_tasks_find(tasks, 0, 10, 1), BRAID_STATUS_CANCELLED, false, "cancelled",
                     0);
    assert_true(braid_tasks_any_queued(tasks));
    assert_int_equal(braid_tasks_queued(tasks), 4);
    int contexts = 0;
    assert_int_equal(braid_tasks_start_queued(tasks, 2, s_context_of, &contexts, 0), 2);
    assert_int_equal(contexts, 2);
    assert_int_equal(braid_tasks_busy(tasks), 2);
    assert_int_equal(braid_task_phase(braid_tasks_find(tasks, 0, 20, 1)), BRAID_TASK_RUN);
    assert_int_equal(braid_task_phase(braid_tasks_find(tasks, 0, 30, 1)), BRAID_TASK_RUN);
    assert_int_equal(braid_task_phase(braid_tasks_find(tasks, 0, 40, 1)), BRAID_TASK_QUEUED);
    assert_int_equal(braid_task_phase(braid_tasks_find(tasks, 0, 10, 1)), BRAID_TASK_END);
    assert_int_equal(braid_tasks_queued(tasks), 2);
    assert_int_equal(braid_task_id(braid_tasks_next_queued(tasks)), 40);
    /*  No room: nothing starts.                                            */
    assert_int_equal(braid_tasks_start_queued(tasks, 0, s_context_of, &contexts, 0), 0);
    /*  More room than queued: both start, 40 then 50.                      */
    assert_int_equal(braid_tasks_start_queued(tasks, 5, s_context_of, &contexts, 0), 2);
    assert_int_equal(braid_tasks_busy(tasks), 4);
    assert_false(braid_tasks_any_queued(tasks));
    assert_null(braid_tasks_next_queued(tasks));
    assert_int_equal(braid_tasks_start_queued(tasks, 5, s_context_of, &contexts, 0), 0);
    assert_int_equal(contexts, 4);
    /*  The pump ends them all (and the cancelled one): the table empties. */
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    assert_int_equal(braid_tasks_pump(tasks, 0, false, &sink), 5);
    assert_int_equal(braid_tasks_size(tasks), 0);
    assert_int_equal(braid_tasks_busy(tasks), 0);
    /*  Tasks added after a pump are found queued again; pump_fresh pumps
        only those started since the last pump: the one started sends its
        DONE, the one still queued stays, and nothing is pumped twice.     */
    for (uint64_t id = 60; id <= 70; id += 10) {
        braid_task_t *task = s_task(synth, id, 1, 0, 0, 0);
        assert_non_null(braid_tasks_add(tasks, &task));
    }
    assert_true(braid_tasks_any_queued(tasks));
    assert_int_equal(braid_tasks_start_queued(tasks, 1, s_context_of, &contexts, 0), 1);
    fake.nsent = 0;
    assert_int_equal(braid_tasks_pump_fresh(tasks, 0, false, &sink), 1);
    assert_int_equal(fake.nsent, 1);
    assert_int_equal(fake.sent[0].msg.task_id, 60);
    assert_int_equal(braid_tasks_size(tasks), 1);
    assert_int_equal(braid_tasks_pump_fresh(tasks, 0, false, &sink), 0);
    assert_int_equal(braid_task_phase(braid_tasks_at(tasks, 0)), BRAID_TASK_QUEUED);
    braid_tasks_destroy(&tasks);
    braid_source_destroy(&synth);
}

static void
test_slots_freed_by_done(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=2,size=4");
    braid_tasks_t *tasks = braid_tasks_new(8);
    for (uint64_t id = 1; id <= 3; id++) {
        braid_task_t *task = s_task(synth, id, 1, 0, 0, 0);
        braid_tasks_add(tasks, &task);
    }
    braid_tasks_start(tasks, braid_tasks_next_queued(tasks), NULL, 0);
    braid_tasks_start(tasks, braid_tasks_next_queued(tasks), NULL, 0);
    assert_int_equal(braid_tasks_busy(tasks), 2);
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    assert_int_equal(braid_tasks_pump(tasks, 0, false, &sink), 2);
    assert_int_equal(braid_tasks_busy(tasks), 0);
    assert_int_equal(braid_tasks_size(tasks), 1);
    assert_int_equal(braid_task_id(braid_tasks_at(tasks, 0)), 3);
    /*  One DONE each, carrying both partials: one message per short task. */
    assert_int_equal(fake.nsent, 2);
    for (size_t i = 0; i < 2; i++) {
        s_expect_sent(&fake, i, BRAID_MSG_DONE, 2, 2, "q 0\n");
        assert_int_equal(fake.sent[i].msg.task_id, i + 1);
        assert_int_equal(fake.sent[i].msg.status, BRAID_STATUS_OK);
    }
    braid_tasks_destroy(&tasks);
    braid_source_destroy(&synth);
}

/*  ---------------------------------------------------------------------
    One task                                                               */

static void
test_window_and_credit(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=5,size=4");
    braid_task_t *task = s_task(synth, 7, 3, 0, 2, 0);
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);  /* queued */
    assert_int_equal(fake.nsent, 0);
    braid_task_start(task, NULL, 0);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 1);        /* seqs 0, 1: the window       */
    s_expect_sent(&fake, 0, BRAID_MSG_DATA, 0, 2, "q 0\n");
    assert_int_equal(fake.sent[0].msg.task_id, 7);
    assert_int_equal(fake.sent[0].msg.attempts, 3);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 1);        /* shut until credit           */

    braid_hb_entry_t entry;
    braid_task_hb_entry(task, &entry);
    assert_int_equal(entry.task_id, 7);
    assert_int_equal(entry.attempt, 3);
    assert_int_equal(entry.next_seq, 2);

    braid_task_credit(task, 1, 0);             /* stale: ignored              */
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 1);
    braid_task_credit(task, 4, 0);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    s_expect_sent(&fake, 1, BRAID_MSG_DATA, 2, 2, "q 2\n");
    braid_task_credit(task, 0, 0);             /* 0 lifts the limit           */
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_DONE);
    assert_int_equal(fake.nsent, 3);
    s_expect_sent(&fake, 2, BRAID_MSG_DONE, 5, 1, "q 4\n");
    braid_task_destroy(&task);
    braid_task_destroy(&task);
    assert_null(task);
    braid_source_destroy(&synth);
}

/*  A byte window: a message at most a quarter of it (at least one
    partial), nothing more once the bytes sent reach it, the rest after a
    grant raises it.                                                       */
static void
test_byte_window(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=5,size=4");
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK);
    msg.task_id = 9;
    msg.attempts = 1;
    msg.window = 100;
    msg.window_bytes = 6;
    zframe_t *query = zframe_new("q", 1);
    braid_task_t *task = braid_task_new(&msg, synth, &query);
    assert_non_null(task);
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    braid_task_start(task, NULL, 0);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 2);        /* 4 bytes, then 8 >= 6: shut  */
    s_expect_sent(&fake, 0, BRAID_MSG_DATA, 0, 1, "q 0\n");
    s_expect_sent(&fake, 1, BRAID_MSG_DATA, 1, 1, "q 1\n");
    braid_task_credit(task, 100, 5);        /* stale: ignored              */
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 2);
    braid_task_credit(task, 100, 64);       /* quarter 16: 3 partials fit  */
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_DONE);
    assert_int_equal(fake.nsent, 3);
    s_expect_sent(&fake, 2, BRAID_MSG_DONE, 5, 3, "q 2\n");
    braid_task_destroy(&task);
    braid_source_destroy(&synth);
}

static void
test_resume(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=5,size=4");
    braid_task_t *task = s_task(synth, 1, 2, 3, 0, 0);
    braid_hb_entry_t entry;
    braid_task_hb_entry(task, &entry);
    assert_int_equal(entry.next_seq, 3);    /* before a seq is made        */
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    braid_task_start(task, NULL, 0);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_DONE);
    /*  Seqs 0..2 are counted, not sent: DONE carries 3 and 4.             */
    assert_int_equal(fake.nsent, 1);
    s_expect_sent(&fake, 0, BRAID_MSG_DONE, 5, 2, "q 3\n");
    braid_task_destroy(&task);

    /*  A window at or below resume admits up to resume.                   */
    task = s_task(synth, 2, 1, 4, 2, 0);
    sink = s_sink(&fake);
    braid_task_start(task, NULL, 0);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 0);
    braid_task_credit(task, 5, 0);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_DONE);
    s_expect_sent(&fake, 0, BRAID_MSG_DONE, 5, 1, "q 4\n");
    braid_task_destroy(&task);
    braid_source_destroy(&synth);
}

static void
test_sink_refuses(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=3,size=4");
    braid_task_t *task = s_task(synth, 1, 1, 0, 2, 0);
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    fake.refuse = 1;
    braid_task_start(task, NULL, 0);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_true(sink.blocked);
    assert_int_equal(fake.nsent, 0);
    /*  Blocked: nothing is tried until the owner clears it.               */
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.refuse, 0);
    sink.blocked = false;
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 1);        /* the same batch, seq 0       */
    s_expect_sent(&fake, 0, BRAID_MSG_DATA, 0, 2, "q 0\n");
    /*  DONE refused too, then sent.                                       */
    braid_task_credit(task, 10, 0);
    fake.refuse = 1;
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_true(sink.blocked);
    sink.blocked = false;
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_DONE);
    s_expect_sent(&fake, 1, BRAID_MSG_DONE, 3, 1, "q 2\n");
    braid_task_destroy(&task);
    braid_source_destroy(&synth);
}

static void
test_cancel_timeout_unknown(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=5,size=4,delay_msec=100");
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);

    /*  Cancel: DONE cancelled, counting what left, carrying nothing.     */
    braid_task_t *task = s_task(synth, 1, 1, 0, 0, 0);
    braid_task_start(task, NULL, 0);
    assert_int_equal(braid_task_wake(task, 0, INT64_MAX), 100);
    assert_int_equal(braid_task_pump(task, 100, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 1);        /* seq 0 as DATA               */
    braid_task_abort(task, BRAID_STATUS_CANCELLED, false, "cancelled", 150);
    braid_task_abort(task, BRAID_STATUS_TIMEOUT, false, "late", 150);   /* first wins */
    assert_int_equal(braid_task_phase(task), BRAID_TASK_END);
    assert_int_equal(braid_task_pump(task, 150, false, &sink), BRAID_TASK_DONE);
    s_expect_sent(&fake, 1, BRAID_MSG_DONE, 1, 0, "");
    assert_int_equal(fake.sent[1].msg.status, BRAID_STATUS_CANCELLED);
    assert_string_equal(fake.sent[1].msg.text, "cancelled");
    braid_task_destroy(&task);

    /*  Timeout: counts from the start, not from the TASK.                 */
    task = s_task(synth, 2, 1, 0, 0, 30);
    braid_task_start(task, NULL, 1000);
    assert_int_equal(braid_task_wake(task, 1000, INT64_MAX), 1030);
    assert_int_equal(braid_task_pump(task, 1030, false, &sink), BRAID_TASK_DONE);
    assert_int_equal(fake.sent[2].msg.status, BRAID_STATUS_TIMEOUT);
    assert_string_equal(fake.sent[2].msg.text, "timeout after 30 msec");
    assert_int_equal(fake.sent[2].msg.transient, 0);
    braid_task_destroy(&task);

    /*  No source: ended at once; a QUEUED task aborted ends too.         */
    task = s_task(NULL, 3, 1, 0, 0, 0);
    braid_task_end(task, BRAID_STATUS_FAILED, false, "unknown source y");
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_DONE);
    assert_int_equal(fake.sent[3].msg.status, BRAID_STATUS_FAILED);
    assert_string_equal(fake.sent[3].msg.text, "unknown source y");
    braid_task_destroy(&task);
    task = s_task(synth, 4, 1, 0, 0, 0);
    braid_task_abort(task, BRAID_STATUS_CANCELLED, true, "worker stopping", 0);
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_DONE);
    assert_int_equal(fake.sent[4].msg.transient, 1);
    braid_task_destroy(&task);
    braid_source_destroy(&synth);
}

static void
test_hold(void **state)
{
    (void) state;
    memset(&s_script, 0, sizeof s_script);
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    braid_task_t *task = s_task(&s_fake, 1, 1, 0, 0, 0);
    braid_task_start(task, NULL, 0);
    /*  Fresh partials wait hold_msec for the end...                       */
    s_script.parts_ready = 1;
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 0);
    assert_int_equal(braid_task_wake(task, 0, INT64_MAX), 5);
    /*  ...and an end within it sends them in the DONE.                    */
    s_script.result = BRAID_RUN_OK;
    assert_int_equal(braid_task_pump(task, 3, false, &sink), BRAID_TASK_DONE);
    assert_int_equal(fake.nsent, 1);
    s_expect_sent(&fake, 0, BRAID_MSG_DONE, 1, 1, "p");
    braid_task_destroy(&task);
    assert_int_equal(s_script.destroyed, 1);

    /*  The hold passing lets them go; so does fresh output, and a thaw.  */
    memset(&s_script, 0, sizeof s_script);
    sink = s_sink(&fake);
    task = s_task(&s_fake, 2, 1, 0, 0, 0);
    braid_task_start(task, NULL, 0);
    s_script.parts_ready = 1;
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(braid_task_pump(task, 5, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 1);
    s_script.parts_ready = 1;
    s_script.fresh = true;  /* stale: it came before this hold began       */
    assert_int_equal(braid_task_pump(task, 10, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 1);
    s_script.fresh = true;
    assert_int_equal(braid_task_pump(task, 11, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 2);
    s_script.parts_ready = 1;
    assert_int_equal(braid_task_pump(task, 12, true, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 3);
    s_expect_sent(&fake, 2, BRAID_MSG_DATA, 2, 1, "p");
    braid_task_destroy(&task);
}

static void
test_kill_and_silence(void **state)
{
    (void) state;
    memset(&s_script, 0, sizeof s_script);
    s_script.stop_slowly = true;
    s_sink_t fake;
    braid_task_sink_t sink = s_sink(&fake);
    braid_task_t *task = s_task(&s_fake, 1, 1, 0, 0, 0);
    braid_task_start(task, NULL, 0);
    s_script.parts_ready = 3;
    assert_int_equal(braid_task_pump(task, 0, false, &sink), BRAID_TASK_BUSY);
    /*  Killed: the held partials are dropped; DONE waits for the run.    */
    braid_task_abort(task, BRAID_STATUS_CANCELLED, false, "cancelled", 1);
    assert_int_equal(braid_task_phase(task), BRAID_TASK_KILL);
    assert_int_equal(braid_task_pump(task, 100, false, &sink), BRAID_TASK_BUSY);
    assert_int_equal(fake.nsent, 0);
    s_script.exited = true;
    assert_int_equal(braid_task_pump(task, 101, false, &sink), BRAID_TASK_DONE);
    s_expect_sent(&fake, 0, BRAID_MSG_DONE, 0, 0, "");
    assert_int_equal(fake.sent[0].msg.status, BRAID_STATUS_CANCELLED);
    assert_string_equal(fake.sent[0].msg.text, "cancelled");
    assert_int_equal(s_script.destroyed, 1);
    braid_task_destroy(&task);

    /*  Silenced: reaped, nothing sent, the slot given up at once.        */
    memset(&s_script, 0, sizeof s_script);
    s_script.stop_slowly = true;
    sink = s_sink(&fake);
    task = s_task(&s_fake, 2, 1, 0, 0, 0);
    braid_task_start(task, NULL, 0);
    assert_true(braid_task_silence(task, 0));
    assert_false(braid_task_has_slot(task));
    assert_false(braid_task_silence(task, 0));
    assert_int_equal(braid_task_pump(task, 1, false, &sink), BRAID_TASK_BUSY);
    s_script.exited = true;
    assert_int_equal(braid_task_pump(task, 2, false, &sink), BRAID_TASK_GONE);
    assert_int_equal(fake.nsent, 0);
    braid_task_destroy(&task);
    assert_int_equal(s_script.destroyed, 1);
}

/*  Several links through the batch paths: start_queued shares the slots
    between the links (each gets two of four), and a pump sends each task's
    messages on its own link's sink; a task on a link past the table's
    bound is refused.                                                       */
static void
test_links_start_and_pump(void **state)
{
    (void) state;
    braid_source_t *synth = s_synth("x=synthetic:parts=1");
    braid_tasks_t *tasks = braid_tasks_new(8);
    assert_non_null(tasks);
    for (uint64_t i = 0; i < 6; i++) {
        braid_task_t *task = s_task(synth, 10 + i, 1, 0, 0, 0);
        braid_task_set_link(task, (uint32_t) (i % 2));
        assert_non_null(braid_tasks_add(tasks, &task));
    }
    braid_task_t *bad = s_task(synth, 99, 1, 0, 0, 0);
    braid_task_set_link(bad, BRAID_TASKS_MAX_LINKS);
    assert_null(braid_tasks_add(tasks, &bad));
    assert_int_equal(braid_tasks_size(tasks), 6);
    int contexts = 0;
    assert_int_equal(braid_tasks_start_queued(tasks, 4, s_context_of, &contexts, 0), 4);
    assert_int_equal(braid_tasks_busy(tasks), 4);
    /*  Two started per link, each link's lowest ids.                      */
    size_t running[2] = {0};
    for (size_t i = 0; i < braid_tasks_size(tasks); i++) {
        braid_task_t *task = braid_tasks_at(tasks, i);
        if (braid_task_phase(task) == BRAID_TASK_RUN) {
            running[braid_task_link(task)]++;
            assert_true(braid_task_id(task) < 14);
        }
    }
    assert_int_equal(running[0], 2);
    assert_int_equal(running[1], 2);
    s_sink_t fakes[BRAID_TASKS_MAX_LINKS];
    braid_task_sink_t sinks[BRAID_TASKS_MAX_LINKS];
    for (size_t i = 0; i < BRAID_TASKS_MAX_LINKS; i++)
        sinks[i] = s_sink(&fakes[i]);
    assert_int_equal(braid_tasks_pump(tasks, 0, false, sinks), 4);
    assert_int_equal(braid_tasks_busy(tasks), 0);
    for (size_t l = 0; l < 2; l++) {
        size_t dones = 0;
        assert_true(fakes[l].nsent > 0);
        for (size_t i = 0; i < fakes[l].nsent; i++) {
            assert_int_equal(fakes[l].sent[i].msg.task_id % 2, l);  /* ids 10+i, link i % 2 */
            dones += fakes[l].sent[i].msg.type == BRAID_MSG_DONE;
        }
        assert_int_equal(dones, 2);
    }
    for (size_t l = 2; l < BRAID_TASKS_MAX_LINKS; l++)
        assert_int_equal(fakes[l].nsent, 0);
    assert_int_equal(braid_tasks_queued(tasks), 2);
    braid_tasks_destroy(&tasks);
    braid_source_destroy(&synth);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_links_start_and_pump),
        cmocka_unit_test(test_start_queued),
        cmocka_unit_test(test_slots_freed_by_done),
        cmocka_unit_test(test_window_and_credit),
        cmocka_unit_test(test_byte_window),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_sink_refuses),
        cmocka_unit_test(test_cancel_timeout_unknown),
        cmocka_unit_test(test_hold),
        cmocka_unit_test(test_kill_and_silence),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
