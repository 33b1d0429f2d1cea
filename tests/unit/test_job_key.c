/*  test_job_key.c - a job of order key (broker/job.c with broker/merge.c),
    without sockets.

    Random runs: every task's partials (sorted scores with ties, now and
    then one out of order, dedup values that overlap across the query's
    sources) arrive in random chunks within the windows the job grants,
    the client's credit grows in steps and the emitter now and then
    refuses a message. The stream must be: queries in submit order; each
    query's partials exactly the reference (a sort of all of them by
    clamped score, source, seq, the duplicates of earlier dedup values
    left out); every END after its task's partials, with its part count
    and its duplicates; nothing stuck (the runs fail on a deadlock).
    Fixed cases: the END's count, a restart, the head of line a
    preemption needs, cancel, partials without keys.
*/

#include "job.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "braid_parts.h"

#define S_MAX_PARTS 24
#define S_MAX_TASKS 64

/*  ---------------------------------------------------------------------
    What the job emits                                                     */

typedef struct {
    uint8_t type;
    uint32_t query, source, status;
    uint64_t seq, parts, duplicates;
    size_t nframes;
    char first[32];             /* the first frame's text                  */
} t_rec_t;

typedef struct {
    t_rec_t recs[8192];
    size_t n;
    int refuse_every;           /* refuse every Nth message (0 = never)    */
    int calls;
    uint64_t granted[S_MAX_TASKS];  /* the last window per task            */
} t_sink_t;

static int
s_record(void *arg, braid_job_t *job, const braid_msg_t *msg, zmsg_t **payload)
{
    (void) job;
    t_sink_t *sink = arg;
    if (sink->refuse_every && ++sink->calls % sink->refuse_every == 0)
        return -1;
    assert_true(sink->n < sizeof sink->recs / sizeof sink->recs[0]);
    t_rec_t *r = &sink->recs[sink->n++];
    memset(r, 0, sizeof *r);
    r->type = msg->type;
    r->query = msg->query;
    r->source = msg->source;
    r->status = msg->status;
    r->seq = msg->seq;
    r->parts = msg->parts;
    r->duplicates = msg->duplicates;
    if (payload && *payload) {
        /*  One parts frame: its partials, the first of them.              */
        zframe_t *f = zmsg_first(*payload);
        r->nframes = braid_parts_frame_count(f);
        braid_parts_iter_t it;
        braid_parts_iter(&it, zframe_data(f), zframe_size(f));
        const void *data;
        size_t len;
        if (braid_parts_next(&it, &data, &len))
            snprintf(r->first, sizeof r->first, "%.*s", (int) len, (const char *) data);
        zmsg_destroy(payload);
    }
    return 0;
}

static void
s_grant(void *arg, braid_job_t *job, uint64_t task_id, uint32_t attempt, uint64_t window,
        uint64_t window_bytes)
{
    (void) job;
    (void) attempt;
    (void) window_bytes;
    t_sink_t *sink = arg;
    sink->granted[braid_task_index(task_id)] = window;
}

static const braid_job_io_t s_io = {.emit = s_record, .credit = s_grant};

static braid_job_t *
s_key_job(uint32_t count, uint32_t ns, uint32_t window)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_SUBMIT);
    m.order = BRAID_ORDER_KEY;
    m.count = count;
    m.credit = 1;
    m.nsources = ns;
    for (uint32_t s = 0; s < ns; s++)
        snprintf(m.sources[s], sizeof m.sources[s], "src%u", s);
    braid_job_t *job = braid_job_new(&m, 9, 1000000, window);
    assert_non_null(job);
    zmsg_t *frames = zmsg_new();
    for (uint32_t i = 0; i < count; i++)
        zmsg_addstrf(frames, "query %u", i);
    frames = braid_parts_pack(&frames);
    assert_int_equal(braid_job_add_queries(job, 0, &frames), 0);
    return job;
}

/*  Pump with credit to spare until nothing more comes; true at JOB_END.   */
static bool
s_drain(braid_job_t *job, t_sink_t *sink)
{
    braid_job_credit(job, UINT64_MAX);
    int refuse = sink->refuse_every;
    sink->refuse_every = 0;
    bool over = braid_job_pump(job, &s_io, sink);
    sink->refuse_every = refuse;
    return over;
}

/*  ---------------------------------------------------------------------
    Random runs                                                            */

typedef struct {
    braid_key_t keys[S_MAX_PARTS];
    braid_score_t eff[S_MAX_PARTS];     /* clamped                         */
    char dedup[S_MAX_PARTS][8];
    uint32_t parts, sent, attempt;
    bool done;
} t_task_t;

typedef struct {
    uint32_t idx, seq;
    braid_score_t eff;
    const char *dedup;
} t_ref_t;

static bool s_ascending;

static int
s_ref_cmp(const void *pa, const void *pb)
{
    const t_ref_t *a = pa, *b = pb;
    int c = braid_score_cmp(&a->eff, &b->eff);
    if (c)
        return s_ascending ? c : -c;
    if (a->idx != b->idx)
        return a->idx < b->idx ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*  The partials of one query as they must come out: (task, seq) in order,
    duplicates left out and counted per task in dups.                       */
static size_t
s_reference(t_task_t *tasks, uint32_t first, uint32_t ns, t_ref_t *out, uint64_t *dups)
{
    t_ref_t all[S_MAX_PARTS * 8];
    size_t n = 0, kept = 0;
    for (uint32_t s = 0; s < ns; s++)
        for (uint32_t i = 0; i < tasks[first + s].parts; i++)
            all[n++] = (t_ref_t){first + s, i, tasks[first + s].eff[i], tasks[first + s].dedup[i]};
    qsort(all, n, sizeof all[0], s_ref_cmp);
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t k = 0; k < i && all[i].dedup[0] && !dup; k++)
            dup = strcmp(all[k].dedup, all[i].dedup) == 0;
        if (dup)
            dups[all[i].idx]++;
        else
            out[kept++] = all[i];
    }
    return kept;
}

static void
s_make_task(t_task_t *t, unsigned *rs, bool ascending)
{
    t->parts = rand_r(rs) % S_MAX_PARTS;
    int64_t level = 100;
    for (uint32_t i = 0; i < t->parts; i++) {
        int step = rand_r(rs) % 12 == 0 ? -2 : (int) (rand_r(rs) % 3);
        level += ascending ? step : -step;
        braid_score_t score = rand_r(rs) % 2 ? braid_score_int(level)
                                             : braid_score_real((double) level + 0.25);
        t->eff[i] = score;
        if (i > 0) {
            int c = braid_score_cmp(&score, &t->eff[i - 1]);
            if (ascending ? c < 0 : c > 0)
                t->eff[i] = t->eff[i - 1];
        }
        if (rand_r(rs) % 4)
            snprintf(t->dedup[i], sizeof t->dedup[i], "u%u", rand_r(rs) % 12);
        t->keys[i] = (braid_key_t){score, (const uint8_t *) t->dedup[i], strlen(t->dedup[i])};
    }
}

static void
s_random_run(unsigned seed)
{
    unsigned rs = seed;
    const uint32_t ns = 1 + rand_r(&rs) % 4, count = 1 + rand_r(&rs) % 5;
    const uint32_t ntasks = ns * count, window = 1 + rand_r(&rs) % 6;
    s_ascending = rand_r(&rs) % 4 == 0;
    braid_job_t *job = s_key_job(count, ns, window);
    braid_job_set_ascending(job, s_ascending);
    static t_task_t tasks[S_MAX_TASKS];
    static t_sink_t sink;
    memset(tasks, 0, sizeof tasks);
    memset(&sink, 0, sizeof sink);
    sink.refuse_every = rand_r(&rs) % 2 ? 0 : 3 + (int) (rand_r(&rs) % 4);
    int64_t idx;
    while ((idx = braid_job_next_task(job, 0xf)) >= 0) {
        uint64_t resume, w;
        tasks[idx].attempt = braid_job_start(job, (uint32_t) idx, &resume, &w);
        sink.granted[idx] = w;
        s_make_task(&tasks[idx], &rs, s_ascending);
    }
    uint64_t credit = 1;
    uint32_t left = ntasks;
    for (int guard = 0; left; guard++) {
        if (guard > 200000)
            fail_msg("seed %u: stuck", seed);
        /*  Some task that can move: send within its window, or end.      */
        uint32_t start = rand_r(&rs) % ntasks, i;
        t_task_t *t = NULL;
        for (i = 0; i < ntasks && !t; i++) {
            t_task_t *c = &tasks[(start + i) % ntasks];
            if (!c->done && (c->sent == c->parts || c->sent < sink.granted[(start + i) % ntasks]))
                t = c;
        }
        if (!t) {
            /*  Every task waits for its window: the client must read.     */
            credit += 1 + rand_r(&rs) % 3;
            braid_job_credit(job, credit);
            uint64_t before = sink.n;
            braid_job_pump(job, &s_io, &sink);
            if (sink.n == before && credit > 100000)
                fail_msg("seed %u: deadlock", seed);
            continue;
        }
        uint32_t ti = (uint32_t) (t - tasks);
        if (t->sent < t->parts) {
            uint64_t room = sink.granted[ti] - t->sent, left_parts = t->parts - t->sent;
            uint32_t n = 1 + rand_r(&rs) % (uint32_t) (room < left_parts ? room : left_parts);
            zmsg_t *frames = zmsg_new();
            for (uint32_t k = 0; k < n; k++)
                zmsg_addstrf(frames, "t%u p%u", ti, t->sent + k);
            frames = braid_parts_pack(&frames);
            assert_int_equal(braid_job_data_keyed(job, ti, t->attempt, t->sent, &frames,
                                                  &t->keys[t->sent]),
                             BRAID_JOB_ACCEPTED);
            t->sent += n;
        } else {
            assert_int_equal(braid_job_done(job, ti, t->attempt, BRAID_STATUS_OK, t->parts, ""),
                             BRAID_JOB_ACCEPTED);
            t->done = true;
            left--;
        }
        credit += rand_r(&rs) % 3;
        braid_job_credit(job, credit);
        braid_job_pump(job, &s_io, &sink);
    }
    for (int i = 0; i < 1000 && !s_drain(job, &sink); i++)
        ;
    assert_true(braid_job_finished(job));

    /*  The stream, query by query.                                         */
    size_t r = 0;
    for (uint32_t q = 0; q < count; q++) {
        t_ref_t want[S_MAX_PARTS * 8];
        uint64_t dups[S_MAX_TASKS] = {0};
        size_t nwant = s_reference(tasks, q * ns, ns, want, dups), got = 0;
        uint32_t ended = 0;
        uint64_t seen[S_MAX_TASKS] = {0};
        for (; r < sink.n && sink.recs[r].type != BRAID_MSG_JOB_END && ended < ns; r++) {
            t_rec_t *m = &sink.recs[r];
            if (m->query != q)
                fail_msg("seed %u: query %u before query %u ended", seed, m->query, q);
            uint32_t ti = q * ns + m->source;
            if (m->type == BRAID_MSG_END) {
                if (seen[ti] != tasks[ti].parts - dups[ti] || m->parts != tasks[ti].parts ||
                    m->duplicates != dups[ti] || m->nframes != 0)
                    fail_msg("seed %u: END of task %u: %llu seen, parts %llu, duplicates "
                             "%llu; want %llu, %u, %llu",
                             seed, ti, (unsigned long long) seen[ti],
                             (unsigned long long) m->parts, (unsigned long long) m->duplicates,
                             (unsigned long long) (tasks[ti].parts - dups[ti]), tasks[ti].parts,
                             (unsigned long long) dups[ti]);
                ended++;
                continue;
            }
            assert_int_equal(m->type, BRAID_MSG_PARTIAL);
            /*  The frames are seq .. seq + n - 1 of that task, and each is
                the next of the reference.                                 */
            char text[32];
            snprintf(text, sizeof text, "t%u p%llu", ti, (unsigned long long) m->seq);
            assert_string_equal(m->first, text);
            for (size_t k = 0; k < m->nframes; k++, got++) {
                if (got >= nwant || want[got].idx != ti || want[got].seq != m->seq + k)
                    fail_msg("seed %u: query %u partial %zu is t%u p%llu, want t%u p%u", seed, q,
                             got, ti, (unsigned long long) (m->seq + k),
                             got < nwant ? want[got].idx : 0, got < nwant ? want[got].seq : 0);
                seen[ti]++;
            }
        }
        if (got != nwant || ended != ns)
            fail_msg("seed %u: query %u: %zu partials and %u ends, want %zu and %u", seed, q, got,
                     ended, nwant, ns);
    }
    assert_int_equal(sink.recs[r].type, BRAID_MSG_JOB_END);
    assert_int_equal(r + 1, sink.n);
    braid_job_destroy(&job);
}

static void
test_random_key_runs(void **state)
{
    (void) state;
    for (unsigned seed = 1; seed <= 1500; seed++)
        s_random_run(seed);
}

/*  ---------------------------------------------------------------------
    Fixed cases                                                            */

/*  Feed task idx n partials from seq with the scores given (no dedup).    */
static void
s_feed(braid_job_t *job, uint32_t idx, uint32_t attempt, uint64_t seq, const double *scores,
       size_t n, braid_job_result_t want)
{
    braid_key_t keys[8];
    zmsg_t *frames = zmsg_new();
    for (size_t i = 0; i < n; i++) {
        keys[i] = (braid_key_t){braid_score_real(scores[i]), NULL, 0};
        zmsg_addstrf(frames, "t%u p%llu", idx, (unsigned long long) (seq + i));
    }
    frames = braid_parts_pack(&frames);
    assert_int_equal(braid_job_data_keyed(job, idx, attempt, seq, &frames, keys), want);
}

/*  A job of one query from two sources, no windows, both tasks running
    (their attempts in a[0] and a[1]); the sink emptied.                    */
static braid_job_t *
s_pair(t_sink_t *sink, uint32_t a[2])
{
    memset(sink, 0, sizeof *sink);
    braid_job_t *job = s_key_job(1, 2, 0);
    uint64_t resume, window;
    a[0] = braid_job_start(job, 0, &resume, &window);
    a[1] = braid_job_start(job, 1, &resume, &window);
    return job;
}

/*  The head of line a preemption needs: the head query's task that waits
    for a slot, else one running with nothing buffered; none once every
    task of the query has partials to merge.                                */
static void
test_key_head(void **state)
{
    (void) state;
    braid_job_t *job = s_key_job(2, 2, 4);
    assert_int_equal(braid_job_head(job), 0);
    assert_int_equal(braid_job_head_waiting(job), 0);
    uint64_t resume, window;
    uint32_t a0 = braid_job_start(job, 0, &resume, &window);
    assert_int_equal(braid_job_head(job), 1);       /* waits for a slot    */
    assert_int_equal(braid_job_head_waiting(job), 1);
    uint32_t a1 = braid_job_start(job, 1, &resume, &window);
    assert_int_equal(braid_job_head(job), 0);       /* runs, nothing yet   */
    assert_int_equal(braid_job_head_waiting(job), -1);
    const double s0[] = {9, 8, 7, 6};
    s_feed(job, 0, a0, 0, s0, 4, BRAID_JOB_ACCEPTED);
    assert_true(braid_job_window_blocked(job, 0));
    assert_int_equal(braid_job_head(job), 1);       /* the merge waits on it */
    const double s1[] = {1};
    s_feed(job, 1, a1, 0, s1, 1, BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_head(job), -1);      /* both have partials  */
    braid_job_destroy(&job);
}

/*  A restart (on_retry restart) before anything of the task was merged
    starts it from seq 0 silently; after, it fails the task.               */
static void
test_key_restart(void **state)
{
    (void) state;
    static t_sink_t sink;
    uint32_t a[2];
    braid_job_t *job = s_pair(&sink, a);
    uint32_t a0 = a[0], a1 = a[1];
    uint64_t resume, window;
    const double s0[] = {9, 5};
    s_feed(job, 0, a0, 0, s0, 2, BRAID_JOB_ACCEPTED);
    braid_job_credit(job, 100);
    braid_job_pump(job, &s_io, &sink);
    assert_int_equal(sink.n, 0);                    /* source 1: nothing yet */
    const braid_job_policy_t restart = {3, BRAID_ON_RETRY_RESTART};
    assert_int_equal(braid_job_retry(job, 0, a0, true, "lost", &restart), BRAID_JOB_AGAIN);
    braid_job_ready(job, 0);
    a0 = braid_job_start(job, 0, &resume, &window);
    assert_int_equal(resume, 0);
    s_feed(job, 0, a0, 0, s0, 2, BRAID_JOB_ACCEPTED);
    const double s1[] = {7};
    s_feed(job, 1, a1, 0, s1, 1, BRAID_JOB_ACCEPTED);
    braid_job_pump(job, &s_io, &sink);
    assert_int_equal(sink.n, 2);                    /* 9 and 7; no RESTART */
    assert_int_equal(sink.recs[0].type, BRAID_MSG_PARTIAL);
    assert_string_equal(sink.recs[0].first, "t0 p0");
    assert_string_equal(sink.recs[1].first, "t1 p0");
    assert_int_equal(braid_job_retry(job, 0, a0, true, "lost again", &restart), BRAID_JOB_ENDED);
    assert_int_equal(braid_job_done(job, 1, a1, BRAID_STATUS_OK, 1, ""), BRAID_JOB_ACCEPTED);
    assert_true(s_drain(job, &sink));
    /*  Task 0 ended failed with the part it had merged and the one it had
        buffered; task 1 ok.                                                */
    int ends = 0;
    for (size_t i = 0; i < sink.n; i++)
        if (sink.recs[i].type == BRAID_MSG_END) {
            ends++;
            if (sink.recs[i].source == 0) {
                assert_int_equal(sink.recs[i].status, BRAID_STATUS_FAILED);
                assert_int_equal(sink.recs[i].parts, 2);
            } else
                assert_int_equal(sink.recs[i].status, BRAID_STATUS_OK);
        }
    assert_int_equal(ends, 2);
    braid_job_destroy(&job);
}

/*  Cancel: what is buffered goes, every task ends, JOB_END comes.          */
static void
test_key_cancel(void **state)
{
    (void) state;
    static t_sink_t sink;
    memset(&sink, 0, sizeof sink);
    braid_job_t *job = s_key_job(3, 2, 8);
    uint64_t resume, window;
    uint32_t a0 = braid_job_start(job, 0, &resume, &window);
    braid_job_start(job, 1, &resume, &window);
    const double s0[] = {9, 5, 4};
    s_feed(job, 0, a0, 0, s0, 3, BRAID_JOB_ACCEPTED);
    assert_true(braid_job_buffered_bytes(job) > 0);
    braid_job_cancel(job, BRAID_STATUS_CANCELLED, "cancelled", NULL, NULL);
    assert_true(s_drain(job, &sink));
    int ends = 0;
    for (size_t i = 0; i < sink.n; i++) {
        assert_int_not_equal(sink.recs[i].type, BRAID_MSG_PARTIAL);
        ends += sink.recs[i].type == BRAID_MSG_END;
    }
    assert_int_equal(ends, 6);
    braid_job_destroy(&job);
}

/*  Partials that came without keys (a worker that serves the source
    without score) keep their place after the partial before them.         */
static void
test_key_keyless(void **state)
{
    (void) state;
    static t_sink_t sink;
    uint32_t a[2];
    braid_job_t *job = s_pair(&sink, a);
    uint32_t a0 = a[0], a1 = a[1];
    const double s0[] = {3};
    s_feed(job, 0, a0, 0, s0, 1, BRAID_JOB_ACCEPTED);
    zmsg_t *frames = zmsg_new();
    zmsg_addstr(frames, "t1 p0");
    zmsg_addstr(frames, "t1 p1");
    frames = braid_parts_pack(&frames);
    assert_int_equal(braid_job_data(job, 1, a1, 0, &frames), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_done(job, 0, a0, BRAID_STATUS_OK, 1, ""), BRAID_JOB_ACCEPTED);
    assert_int_equal(braid_job_done(job, 1, a1, BRAID_STATUS_OK, 2, ""), BRAID_JOB_ACCEPTED);
    assert_true(s_drain(job, &sink));
    /*  Source 1's keyless partials score best: they come first.           */
    assert_string_equal(sink.recs[0].first, "t1 p0");
    assert_int_equal(sink.recs[0].nframes, 2);
    braid_job_destroy(&job);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_key_runs),
        cmocka_unit_test(test_key_head),
        cmocka_unit_test(test_key_restart),
        cmocka_unit_test(test_key_cancel),
        cmocka_unit_test(test_key_keyless),
    };
    return cmocka_run_group_tests_name("job_key", tests, NULL, NULL);
}
