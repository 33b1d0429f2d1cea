/*  test_sched.c - the broker's scheduler (scheduler.c) without sockets:
    worker choice, round robin across jobs, source limits, retries and
    their backoff, what a DONE does to a slot, and preemption for a head
    of line. TASKs and cancels are recorded by the callbacks instead of
    being sent.                                                             */

#include "scheduler.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*  ---------------------------------------------------------------------
    Fixture: a recording io, jobs, workers                                 */

typedef struct {
    uint32_t serial, idx, attempt;
    int32_t worker;
    uint64_t resume, window;
    uint32_t timeout_msec;
} s_start_t;

typedef struct {
    braid_sched_t *sched;
    s_start_t starts[256];
    size_t nstarts;
    uint64_t victims[16];       /* task ids preempted                      */
    uint32_t heads[16];
    size_t npreempts;
    bool refuse;                /* starts fail: the TASK is not queued     */
    uint32_t max_inflight;      /* of the jobs s_job makes                 */
} s_fix_t;

static void
s_on_start(void *arg, braid_sched_job_t *sj, uint32_t idx, int32_t worker,
           const braid_sched_task_t *task)
{
    s_fix_t *f = arg;
    assert_true(f->nstarts < 256);
    assert_int_equal(task->task_id, braid_task_id(braid_job_serial(sj->job), idx));
    /*  The slot is taken before the TASK goes out.                         */
    braid_slot_t *slot = braid_slots_find(braid_sched_slots(f->sched), task->task_id);
    assert_non_null(slot);
    assert_int_equal(slot->worker, worker);
    assert_int_equal(slot->attempt, task->attempt);
    f->starts[f->nstarts++] = (s_start_t){braid_job_serial(sj->job), idx, task->attempt, worker,
                                          task->resume, task->window, task->timeout_msec};
    if (f->refuse)
        braid_sched_retry(f->sched, sj, idx, task->attempt, false, "worker unreachable", 0, NULL);
}

static void
s_on_preempt(void *arg, const braid_slot_t *victim, braid_sched_job_t *sj, uint32_t head)
{
    (void) sj;
    s_fix_t *f = arg;
    assert_true(victim->preempted);
    f->victims[f->npreempts] = victim->task_id;
    f->heads[f->npreempts++] = head;
}

static const braid_sched_io_t s_io = {s_on_start, s_on_preempt};

static int
s_setup(void **state)
{
    s_fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->sched = braid_sched_new(42);
    assert_non_null(f->sched);
    *state = f;
    return 0;
}

static int
s_teardown(void **state)
{
    s_fix_t *f = *state;
    braid_sched_destroy(&f->sched);
    assert_null(f->sched);
    free(f);
    return 0;
}

static uint16_t
s_source(s_fix_t *f, const char *name, const braid_policy_t *policy)
{
    braid_policy_t dflt;
    braid_policy_defaults(&dflt);
    int id = braid_sched_source_add(f->sched, name, policy ? policy : &dflt, 0);
    assert_true(id >= 0);
    return (uint16_t) id;
}

static int32_t
s_worker(s_fix_t *f, uint32_t slots, const uint16_t *gids, uint32_t n)
{
    static int tag;
    /*  The worker takes a reference of its own to each; the test keeps the
        one s_source() took, so a source outlives its workers here.        */
    for (uint32_t i = 0; i < n; i++)
        braid_sched_source_ref(f->sched, gids[i]);
    int32_t w = braid_sched_worker_add(f->sched, slots, gids, n, &tag);
    assert_true(w >= 0);
    return w;
}

/*  A job of count queries over the named sources (ids gids), all queries
    received, added to the scheduler.                                       */
static braid_sched_job_t *
s_job(s_fix_t *f, uint32_t serial, uint32_t count, uint32_t order, uint32_t window,
      const uint16_t *gids, uint32_t ns)
{
    braid_msg_t sub;
    braid_msg_init(&sub, BRAID_MSG_SUBMIT);
    sub.order = order;
    sub.count = count;
    sub.credit = 1000000;
    sub.max_inflight = f->max_inflight;
    sub.nsources = ns;
    for (uint32_t s = 0; s < ns; s++)
        snprintf(sub.sources[s], sizeof sub.sources[s], "%s",
                 braid_sched_source_name(f->sched, gids[s]));
    braid_sched_job_t *sj = calloc(1, sizeof *sj);
    sj->job = braid_job_new(&sub, serial, 1000000, window);
    assert_non_null(sj->job);
    memcpy(sj->gid, gids, ns * sizeof *gids);
    zmsg_t *frames = zmsg_new();
    for (uint32_t i = 0; i < count; i++)
        zmsg_addstrf(frames, "q%u", i);
    assert_int_equal(braid_job_add_queries(sj->job, 0, &frames), 0);
    assert_int_equal(braid_sched_job_add(f->sched, sj), 0);
    return sj;
}

/*  The default policy, with retries and a fixed backoff of backoff_msec.   */
static braid_policy_t
s_policy(uint32_t retries, uint32_t backoff_msec)
{
    braid_policy_t policy;
    braid_policy_defaults(&policy);
    policy.retries = retries;
    policy.backoff_msec = policy.backoff_max_msec = backoff_msec;
    return policy;
}

/*  The common case: source "a" under policy (NULL: the default), a worker
    of slots slots serving it, and job 1 of count queries asking it.        */
static braid_sched_job_t *
s_single(s_fix_t *f, const braid_policy_t *policy, uint32_t slots, uint32_t count, uint32_t order,
         uint32_t window)
{
    uint16_t a = s_source(f, "a", policy);
    s_worker(f, slots, &a, 1);
    return s_job(f, 1, count, order, window, &a, 1);
}

static void
s_job_free(s_fix_t *f, braid_sched_job_t **sj_p)
{
    braid_sched_job_remove(f->sched, *sj_p);
    braid_job_destroy(&(*sj_p)->job);
    free(*sj_p);
    *sj_p = NULL;
}

static braid_msg_t
s_done(braid_sched_job_t *sj, uint32_t idx, uint32_t attempt, uint32_t status, uint64_t parts)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_DONE);
    m.task_id = braid_task_id(braid_job_serial(sj->job), idx);
    m.attempts = attempt;
    m.status = status;
    m.parts = parts;
    return m;
}

static void
s_feed(braid_sched_job_t *sj, uint32_t idx, uint32_t attempt, uint64_t seq, size_t n)
{
    zmsg_t *frames = zmsg_new();
    for (size_t i = 0; i < n; i++)
        zmsg_addstr(frames, "x");
    assert_int_equal(braid_job_data(sj->job, idx, attempt, seq, &frames), BRAID_JOB_ACCEPTED);
}

/*  ---------------------------------------------------------------------
    Dispatch                                                               */

/*  Least loaded first (running over slots, ties to the lowest number),
    never past a worker's capacity of 2 x slots.                            */
static void
test_least_loaded_worker(void **state)
{
    s_fix_t *f = *state;
    uint16_t a = s_source(f, "a", NULL);
    assert_int_equal(s_worker(f, 1, &a, 1), 0);
    assert_int_equal(s_worker(f, 2, &a, 1), 1);
    braid_sched_job_t *sj = s_job(f, 1, 10, BRAID_ORDER_SUBMIT, 0, &a, 1);
    assert_true(braid_sched_due(f->sched));
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_false(braid_sched_due(f->sched));
    const int32_t expect[] = {0, 1, 1, 0, 1, 1};
    assert_int_equal(f->nstarts, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(f->starts[i].idx, i);
        assert_int_equal(f->starts[i].attempt, 1);
        assert_int_equal(f->starts[i].worker, expect[i]);
    }
    braid_slots_t *slots = braid_sched_slots(f->sched);
    assert_int_equal(braid_slots_running(slots, 0), 2);
    assert_int_equal(braid_slots_running(slots, 1), 4);
    assert_int_equal(braid_slots_held(slots, 1), 6);
    /*  Full: nothing more until a slot is free.                            */
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 6);
    braid_msg_t done = s_done(sj, 3, 1, BRAID_STATUS_OK, 0);
    assert_int_equal(braid_sched_done(f->sched, sj, &done, 0), BRAID_SCHED_ENDED);
    assert_int_equal(braid_slots_running(slots, 0), 1);
    assert_true(braid_sched_due(f->sched));
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 7);
    assert_int_equal(f->starts[6].idx, 6);
    assert_int_equal(f->starts[6].worker, 0);
    /*  The stats see what the slots hold.                                  */
    braid_stats_source_t sources[1];
    braid_stats_t stats = {.sources = sources};
    braid_sched_stats(f->sched, &stats);
    assert_int_equal(stats.workers, 2);
    assert_int_equal(stats.slots, 3);
    assert_int_equal(stats.running, 6);
    assert_int_equal(stats.jobs, 1);
    assert_int_equal(stats.queued, 3);
    assert_int_equal(stats.tasks_dispatched, 7);
    assert_int_equal(stats.tasks_done, 1);
    assert_int_equal(stats.nsources, 1);
    assert_string_equal(sources[0].name, "a");
    assert_int_equal(sources[0].running, 6);
    assert_int_equal(sources[0].queued, 3);
    s_job_free(f, &sj);
}

/*  One task per job per round, each round starting after the job served
    last: a small job is never stuck behind a large one.                    */
static void
test_round_robin_across_jobs(void **state)
{
    s_fix_t *f = *state;
    uint16_t a = s_source(f, "a", NULL);
    s_worker(f, 2, &a, 1);
    braid_sched_job_t *big = s_job(f, 1, 100, BRAID_ORDER_ARRIVAL, 0, &a, 1);
    braid_sched_job_t *small = s_job(f, 2, 2, BRAID_ORDER_ARRIVAL, 0, &a, 1);
    assert_int_equal(braid_sched_njobs(f->sched), 2);
    assert_ptr_equal(braid_sched_jobs(f->sched), big);
    assert_ptr_equal(braid_sched_jobs(f->sched)->next, small);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 4);
    const uint32_t serials[] = {1, 2, 1, 2};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(f->starts[i].serial, serials[i]);
    /*  A slot freed by the big job goes to the big job's turn: the small
        one has nothing left.                                               */
    braid_msg_t done = s_done(big, 0, 1, BRAID_STATUS_OK, 0);
    assert_int_equal(braid_sched_done(f->sched, big, &done, 0), BRAID_SCHED_ENDED);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 5);
    assert_int_equal(f->starts[4].serial, 1);
    assert_int_equal(f->starts[4].idx, 2);
    /*  Looked up by task id.                                               */
    assert_ptr_equal(braid_sched_job_of(f->sched, braid_task_id(2, 1)), small);
    assert_ptr_equal(braid_sched_job_of(f->sched, braid_task_id(1, 7)), big);
    assert_null(braid_sched_job_of(f->sched, braid_task_id(3, 0)));
    assert_null(braid_sched_job_of(f->sched, 5));   /* serial 0 */
    s_job_free(f, &small);
    assert_null(braid_sched_job_of(f->sched, braid_task_id(2, 1)));
    s_job_free(f, &big);
    assert_int_equal(braid_sched_njobs(f->sched), 0);
}

/*  A worker gets only the sources it serves; the job's timeout, else the
    source's, goes with the TASK.                                           */
static void
test_sources_served(void **state)
{
    s_fix_t *f = *state;
    braid_policy_t slow = s_policy(2, 100);
    slow.timeout_msec = 777;
    uint16_t gids[2] = {s_source(f, "a", NULL), s_source(f, "b", &slow)};
    assert_int_equal(braid_sched_source_id(f->sched, "b"), gids[1]);
    assert_int_equal(braid_sched_source_id(f->sched, "c"), -1);
    assert_int_equal(braid_sched_source_add(f->sched, "a", &slow, 0), gids[0]);  /* known */
    assert_false(braid_sched_source_served(f->sched, gids[1]));
    int32_t wa = s_worker(f, 4, &gids[0], 1);
    braid_sched_job_t *sj = s_job(f, 1, 3, BRAID_ORDER_SUBMIT, 0, gids, 2);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    /*  Tasks 0, 2, 4 are source a's; b has no worker.                      */
    assert_int_equal(f->nstarts, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(f->starts[i].idx % 2, 0);
        assert_int_equal(f->starts[i].timeout_msec, 0);
    }
    int32_t wb = s_worker(f, 1, &gids[1], 1);
    assert_true(braid_sched_source_served(f->sched, gids[1]));
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 5);
    assert_int_equal(f->starts[3].worker, wb);
    assert_int_equal(f->starts[3].idx, 1);
    assert_int_equal(f->starts[3].timeout_msec, 777);
    assert_non_null(braid_sched_worker(f->sched, wa));
    s_job_free(f, &sj);
}

/*  A source's concurrency and rate limits hold cluster-wide; a policy
    reload keeps counting what runs.                                        */
static void
test_source_limits(void **state)
{
    s_fix_t *f = *state;
    braid_policy_t one = s_policy(2, 100);
    one.max_concurrent = 1;
    uint16_t a = s_source(f, "a", &one);
    s_worker(f, 4, &a, 1);
    s_worker(f, 4, &a, 1);
    braid_sched_job_t *sj = s_job(f, 1, 5, BRAID_ORDER_SUBMIT, 0, &a, 1);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 1);
    braid_msg_t done = s_done(sj, 0, 1, BRAID_STATUS_OK, 0);
    assert_int_equal(braid_sched_done(f->sched, sj, &done, 0), BRAID_SCHED_ENDED);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 2);
    /*  Reload: a rate of 10 per second, burst 1; one still runs.          */
    braid_policy_t rated = s_policy(2, 100);
    rated.max_concurrent = 2;
    rated.rate = 10;
    braid_sched_source_set_policy(f->sched, a, &rated, 1000);
    assert_true(braid_sched_due(f->sched));
    braid_sched_dispatch(f->sched, 1000, &s_io, f);
    assert_int_equal(f->nstarts, 3);            /* the bucket's one token */
    assert_int_equal(braid_sched_next_msec(f->sched, 1000), 1100);
    assert_true(braid_sched_due(f->sched));     /* serve it when woken    */
    braid_sched_dispatch(f->sched, 1050, &s_io, f);
    assert_int_equal(f->nstarts, 3);
    done = s_done(sj, 1, 1, BRAID_STATUS_OK, 0);
    braid_sched_done(f->sched, sj, &done, 1050);
    braid_sched_dispatch(f->sched, 1100, &s_io, f);
    assert_int_equal(f->nstarts, 4);            /* a token, and room      */
    braid_sched_dispatch(f->sched, 1300, &s_io, f);
    assert_int_equal(f->nstarts, 4);            /* two run: the limit     */
    s_job_free(f, &sj);
}

/*  A TASK that cannot go out comes back at once, not counted, and goes
    again: the attempt number moves, the retry count does not.              */
static void
test_unsent_task_goes_again(void **state)
{
    s_fix_t *f = *state;
    braid_sched_job_t *sj = s_single(f, NULL, 1, 1, BRAID_ORDER_SUBMIT, 0);
    f->refuse = true;
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    /*  Capacity 2: two tries in this round, then the next dispatch.       */
    assert_int_equal(f->nstarts, 2);
    assert_int_equal(f->starts[1].attempt, 2);
    assert_int_equal(braid_slots_held(braid_sched_slots(f->sched), 1), 0);
    assert_int_equal(braid_job_task_retries(sj->job, 0), 0);
    f->refuse = false;
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 3);
    assert_int_equal(f->starts[2].attempt, 3);
    braid_stats_source_t sources[1];
    braid_stats_t stats = {.sources = sources};
    braid_sched_stats(f->sched, &stats);
    assert_int_equal(stats.retries, 0);
    assert_int_equal(sources[0].running, 1);
    s_job_free(f, &sj);
}

/*  ---------------------------------------------------------------------
    Retries and DONEs                                                      */

/*  A counted failure waits its backoff; a hand-back does not.              */
static void
test_retry_backoff(void **state)
{
    s_fix_t *f = *state;
    braid_policy_t policy = s_policy(5, 1000);
    braid_sched_job_t *sj = s_single(f, &policy, 1, 1, BRAID_ORDER_SUBMIT, 0);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 1);
    uint32_t delay = 0;
    assert_int_equal(braid_sched_retry(f->sched, sj, 0, 1, true, "flaky", 100, &delay),
                     BRAID_JOB_AGAIN);
    assert_true(delay > 0 && delay <= 1000);
    assert_null(braid_slots_find(braid_sched_slots(f->sched), braid_task_id(1, 0)));
    assert_int_equal(braid_sched_next_msec(f->sched, 100), 100 + delay);
    /*  Stale now: the same attempt again changes nothing.                  */
    assert_int_equal(braid_sched_retry(f->sched, sj, 0, 1, true, "flaky", 100, NULL),
                     BRAID_JOB_NOT_RUNNING);
    braid_sched_fire(f->sched, 100 + delay - 1);
    braid_sched_dispatch(f->sched, 100 + delay - 1, &s_io, f);
    assert_int_equal(f->nstarts, 1);            /* still backing off      */
    braid_sched_fire(f->sched, 100 + delay);
    assert_true(braid_sched_due(f->sched));
    braid_sched_dispatch(f->sched, 100 + delay, &s_io, f);
    assert_int_equal(f->nstarts, 2);
    assert_int_equal(f->starts[1].attempt, 2);
    /*  A hand-back goes at once.                                           */
    assert_int_equal(braid_sched_retry(f->sched, sj, 0, 2, false, "bye", 5000, &delay),
                     BRAID_JOB_AGAIN);
    assert_int_equal(delay, 0);
    braid_sched_dispatch(f->sched, 5000, &s_io, f);
    assert_int_equal(f->nstarts, 3);
    assert_int_equal(braid_job_task_retries(sj->job, 0), 1);
    s_job_free(f, &sj);
}

/*  A transient failure whose DONE says when to ask again (A, an HTTP
    Retry-After) waits at least that long, whatever the backoff; without
    one it waits only the backoff; a hand-back ignores it.                 */
static void
test_retry_after(void **state)
{
    s_fix_t *f = *state;
    braid_policy_t policy = s_policy(5, 10);
    braid_sched_job_t *sj = s_single(f, &policy, 3, 3, BRAID_ORDER_ARRIVAL, 0);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 3);
    braid_msg_t m = s_done(sj, 0, 1, BRAID_STATUS_FAILED, 0);
    m.transient = 1;
    m.retry_after_msec = 2000;
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 100), BRAID_SCHED_TAKEN_BACK);
    assert_int_equal(braid_sched_next_msec(f->sched, 100), 2100);
    braid_sched_fire(f->sched, 2099);
    braid_sched_dispatch(f->sched, 2099, &s_io, f);
    assert_int_equal(f->nstarts, 3);            /* not before it asked    */
    braid_sched_fire(f->sched, 2100);
    braid_sched_dispatch(f->sched, 2100, &s_io, f);
    assert_int_equal(f->nstarts, 4);
    assert_int_equal(f->starts[3].idx, 0);
    assert_int_equal(f->starts[3].attempt, 2);
    /*  No hint: the backoff (10 msec here) alone.                          */
    m = s_done(sj, 1, 1, BRAID_STATUS_FAILED, 0);
    m.transient = 1;
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 3000), BRAID_SCHED_TAKEN_BACK);
    assert_true(braid_sched_next_msec(f->sched, 3000) <= 3010);
    /*  A hand-back goes at once, hint or not.                              */
    m = s_done(sj, 2, 1, BRAID_STATUS_CANCELLED, 0);
    m.transient = 1;
    m.retry_after_msec = 5000;
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 3000), BRAID_SCHED_TAKEN_BACK);
    braid_sched_dispatch(f->sched, 3000, &s_io, f);
    assert_int_equal(f->nstarts, 5);
    assert_int_equal(f->starts[4].idx, 2);
    s_job_free(f, &sj);
}

/*  What each kind of DONE does to the task and its slot.                   */
static void
test_done_outcomes(void **state)
{
    s_fix_t *f = *state;
    braid_policy_t policy = s_policy(10, 0);
    braid_sched_job_t *sj = s_single(f, &policy, 4, 4, BRAID_ORDER_ARRIVAL, 0);
    braid_slots_t *slots = braid_sched_slots(f->sched);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 4);

    /*  Two partials came, the end says three: run it again, counted.      */
    s_feed(sj, 0, 1, 0, 2);
    braid_msg_t m = s_done(sj, 0, 1, BRAID_STATUS_OK, 3);
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_GAP);
    assert_int_equal(braid_job_task_retries(sj->job, 0), 1);
    assert_null(braid_slots_find(slots, braid_task_id(1, 0)));
    /*  A transient failure retries, counted; its DONE again is stale.     */
    m = s_done(sj, 1, 1, BRAID_STATUS_FAILED, 0);
    m.transient = 1;
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_TAKEN_BACK);
    assert_int_equal(braid_job_task_retries(sj->job, 1), 1);
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_STALE);
    /*  A hand-back (cancelled, transient) is not counted.                 */
    m = s_done(sj, 2, 1, BRAID_STATUS_CANCELLED, 0);
    m.transient = 1;
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_TAKEN_BACK);
    assert_int_equal(braid_job_task_retries(sj->job, 2), 0);
    /*  A plain failure ends the task.                                      */
    m = s_done(sj, 3, 1, BRAID_STATUS_FAILED, 0);
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_ENDED);
    assert_int_equal(braid_job_failures(sj->job), 1);
    assert_int_equal(braid_slots_held(slots, 1), 0);

    /*  Tasks 0, 1, 2 run again (attempt 2). A cancelled job's tasks keep
        their slots until their workers confirm.                            */
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 7);
    assert_int_equal(braid_slots_held(slots, 1), 3);
    braid_job_cancel(sj->job, BRAID_STATUS_CANCELLED, "cancelled", NULL, NULL);
    assert_int_equal(braid_slots_held(slots, 1), 3);
    m = s_done(sj, 0, 1, BRAID_STATUS_CANCELLED, 0);   /* the old attempt  */
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_STALE);
    for (uint32_t idx = 0; idx < 2; idx++) {
        m = s_done(sj, idx, 2, BRAID_STATUS_CANCELLED, 0);
        assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_CONFIRMED);
        assert_int_equal(braid_slots_held(slots, 1), 2 - idx);
    }
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_STALE);
    /*  The worker of task 2 vanishes instead: nothing to run again, but its
        slot is given back all the same.                                    */
    assert_int_equal(braid_sched_retry(f->sched, sj, 2, 2, true, "worker lost", 0, NULL),
                     BRAID_JOB_NOT_RUNNING);
    assert_int_equal(braid_slots_held(slots, 1), 0);
    assert_false(braid_sched_release(f->sched, braid_task_id(1, 2), 2));
    braid_stats_source_t sources[1];
    braid_stats_t stats = {.sources = sources};
    braid_sched_stats(f->sched, &stats);
    assert_int_equal(stats.tasks_done, 1);
    assert_int_equal(stats.retries, 2);
    assert_int_equal(sources[0].running, 0);
    s_job_free(f, &sj);
}

/*  ---------------------------------------------------------------------
    Preemption for a head of line                                          */

/*  Submit order, window 2, one worker of 1 slot (capacity 2). The head
    (task 0) fails and backs off; tasks 1 and 2 take both slots and fill
    their windows, which only the head's progress would move. When the
    head is ready again, the latest blocked task is cancelled for it; once
    its worker confirms, the head gets the slot, and the victim runs again
    later, resuming where it was.                                           */
static void
test_preempt_for_waiting_head(void **state)
{
    s_fix_t *f = *state;
    braid_policy_t policy = s_policy(2, 500);
    braid_sched_job_t *sj = s_single(f, &policy, 1, 3, BRAID_ORDER_SUBMIT, 2);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 2);            /* tasks 0 and 1          */
    uint32_t delay;
    assert_int_equal(braid_sched_retry(f->sched, sj, 0, 1, true, "flaky", 0, &delay),
                     BRAID_JOB_AGAIN);
    assert_true(delay > 0);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 3);
    assert_int_equal(f->starts[2].idx, 2);
    s_feed(sj, 1, 1, 0, 2);
    s_feed(sj, 2, 1, 0, 2);
    assert_true(braid_job_window_blocked(sj->job, 1));
    assert_true(braid_job_window_blocked(sj->job, 2));
    /*  Nothing to do while the head backs off.                             */
    braid_sched_preempt(f->sched, true, 0, &s_io, f);
    assert_int_equal(f->npreempts, 0);
    braid_sched_fire(f->sched, delay);
    assert_int_equal(braid_job_head_waiting(sj->job), 0);
    braid_sched_dispatch(f->sched, delay, &s_io, f);
    assert_int_equal(f->nstarts, 3);            /* no room                */
    braid_sched_preempt(f->sched, false, delay, &s_io, f);
    assert_int_equal(f->npreempts, 1);
    assert_int_equal(f->victims[0], braid_task_id(1, 2));
    assert_int_equal(f->heads[0], 0);
    /*  One at a time.                                                      */
    braid_sched_preempt(f->sched, true, delay, &s_io, f);
    assert_int_equal(f->npreempts, 1);
    /*  The victim's worker confirms: not counted, resumes at seq 2.       */
    braid_msg_t m = s_done(sj, 2, 1, BRAID_STATUS_CANCELLED, 0);
    assert_int_equal(braid_sched_done(f->sched, sj, &m, delay), BRAID_SCHED_TAKEN_BACK);
    assert_int_equal(braid_job_task_retries(sj->job, 2), 0);
    braid_sched_dispatch(f->sched, delay, &s_io, f);
    assert_int_equal(f->nstarts, 4);
    assert_int_equal(f->starts[3].idx, 0);      /* the head first         */
    assert_int_equal(f->starts[3].attempt, 2);
    /*  The head runs: the next preemption may come.                        */
    assert_int_equal(braid_job_head_waiting(sj->job), -1);
    s_feed(sj, 0, 2, 0, 1);
    m = s_done(sj, 0, 2, BRAID_STATUS_OK, 1);
    assert_int_equal(braid_sched_done(f->sched, sj, &m, delay), BRAID_SCHED_ENDED);
    braid_sched_dispatch(f->sched, delay, &s_io, f);
    assert_int_equal(f->nstarts, 5);
    assert_int_equal(f->starts[4].idx, 2);
    assert_int_equal(f->starts[4].attempt, 2);
    assert_int_equal(f->starts[4].resume, 2);
    s_job_free(f, &sj);
}

/*  A head dispatched but queued at a worker whose every slot runs a
    window-blocked task: found once a tick (queued_heads), not on every
    dispatch. The head itself is never the victim.                          */
static void
test_preempt_for_queued_head(void **state)
{
    s_fix_t *f = *state;
    braid_sched_job_t *sj = s_single(f, NULL, 1, 2, BRAID_ORDER_SUBMIT, 2);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 2);
    /*  The worker ran task 1 first (its one slot); task 0 waits queued.   */
    s_feed(sj, 1, 1, 0, 2);
    braid_sched_preempt(f->sched, false, 0, &s_io, f);
    assert_int_equal(f->npreempts, 0);
    braid_sched_preempt(f->sched, true, 0, &s_io, f);
    assert_int_equal(f->npreempts, 1);
    assert_int_equal(f->victims[0], braid_task_id(1, 1));
    assert_int_equal(f->heads[0], 0);
    /*  Once the victim is back the worker has room; a head that received
        something is running, not queued: no second victim.                 */
    assert_true(braid_sched_release(f->sched, braid_task_id(1, 1), 1));
    s_feed(sj, 0, 1, 0, 1);
    braid_sched_preempt(f->sched, true, 0, &s_io, f);
    assert_int_equal(f->npreempts, 1);
    s_job_free(f, &sj);
}

/*  A head held back by its own job's in-flight limit (-j 2) while later
    tasks of the job hold both of its places, window-blocked: the job's
    latest blocked task is cancelled though a worker has room.              */
static void
test_preempt_for_limited_head(void **state)
{
    s_fix_t *f = *state;
    f->max_inflight = 2;
    braid_policy_t policy = s_policy(2, 500);
    braid_sched_job_t *sj = s_single(f, &policy, 4, 3, BRAID_ORDER_SUBMIT, 2);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 2);
    uint32_t delay;
    assert_int_equal(braid_sched_retry(f->sched, sj, 0, 1, true, "flaky", 0, &delay),
                     BRAID_JOB_AGAIN);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 3);
    assert_int_equal(f->starts[2].idx, 2);
    s_feed(sj, 1, 1, 0, 2);
    s_feed(sj, 2, 1, 0, 2);
    braid_sched_fire(f->sched, delay);
    braid_sched_dispatch(f->sched, delay, &s_io, f);
    assert_int_equal(f->nstarts, 3);            /* the limit holds it      */
    braid_sched_preempt(f->sched, false, delay, &s_io, f);
    assert_int_equal(f->npreempts, 1);
    assert_int_equal(f->victims[0], braid_task_id(1, 2));
    assert_int_equal(f->heads[0], 0);
    braid_msg_t m = s_done(sj, 2, 1, BRAID_STATUS_CANCELLED, 0);
    assert_int_equal(braid_sched_done(f->sched, sj, &m, delay), BRAID_SCHED_TAKEN_BACK);
    braid_sched_dispatch(f->sched, delay, &s_io, f);
    assert_int_equal(f->nstarts, 4);
    assert_int_equal(f->starts[3].idx, 0);
    s_job_free(f, &sj);
}

/*  Order key, two sources on one worker of 1 slot: source a's task fills
    its window while source b's waits queued behind it, and the merge
    waits for b. a's task is cancelled for it (the merge keeps what a
    sent); b is then the head no longer once it has sent something.        */
static void
test_preempt_key_query(void **state)
{
    s_fix_t *f = *state;
    uint16_t g[2] = {s_source(f, "a", NULL), s_source(f, "b", NULL)};
    s_worker(f, 1, g, 2);
    braid_sched_job_t *sj = s_job(f, 1, 2, BRAID_ORDER_KEY, 2, g, 2);
    braid_sched_dispatch(f->sched, 0, &s_io, f);
    assert_int_equal(f->nstarts, 2);            /* tasks 0 and 1, capacity 2 */
    s_feed(sj, 0, 1, 0, 2);
    assert_true(braid_job_window_blocked(sj->job, 0));
    assert_int_equal(braid_job_head(sj->job), 1);
    braid_sched_preempt(f->sched, true, 0, &s_io, f);
    assert_int_equal(f->npreempts, 1);
    assert_int_equal(f->victims[0], braid_task_id(1, 0));
    assert_int_equal(f->heads[0], 1);
    braid_msg_t m = s_done(sj, 0, 1, BRAID_STATUS_CANCELLED, 2);
    assert_int_equal(braid_sched_done(f->sched, sj, &m, 0), BRAID_SCHED_TAKEN_BACK);
    assert_int_equal(braid_job_received_parts(sj->job, 0), 2);
    s_feed(sj, 1, 1, 0, 1);
    assert_int_equal(braid_job_head(sj->job), -1);
    s_job_free(f, &sj);
}

/*  A source is keyed when every worker serving it says so, in one order. */
static void
test_source_keys(void **state)
{
    s_fix_t *f = *state;
    uint16_t a = s_source(f, "a", NULL);
    assert_int_equal(braid_sched_source_keys(f->sched, a), BRAID_SCHED_UNKEYED);
    const uint8_t desc = BRAID_SOURCE_KEYED, asc = BRAID_SOURCE_KEYED | BRAID_SOURCE_SCORE_ASC;
    const uint8_t none = 0;
    int32_t w0 = s_worker(f, 1, &a, 1);
    assert_int_equal(braid_sched_source_keys(f->sched, a), BRAID_SCHED_UNKEYED);
    braid_sched_worker_set_flags(f->sched, w0, &desc);
    assert_int_equal(braid_sched_source_keys(f->sched, a), BRAID_SCHED_KEYED_DESC);
    int32_t w1 = s_worker(f, 1, &a, 1);
    braid_sched_worker_set_flags(f->sched, w1, &asc);
    assert_int_equal(braid_sched_source_keys(f->sched, a), BRAID_SCHED_KEYED_MIXED);
    braid_sched_worker_set_flags(f->sched, w0, &asc);
    assert_int_equal(braid_sched_source_keys(f->sched, a), BRAID_SCHED_KEYED_ASC);
    int32_t w2 = s_worker(f, 1, &a, 1);
    braid_sched_worker_set_flags(f->sched, w2, &none);
    assert_int_equal(braid_sched_source_keys(f->sched, a), BRAID_SCHED_UNKEYED);
    braid_sched_worker_remove(f->sched, w2);
    assert_int_equal(braid_sched_source_keys(f->sched, a), BRAID_SCHED_KEYED_ASC);
}

/*  Workers: numbers reused, sources no longer served once they go.         */
static void
test_workers_come_and_go(void **state)
{
    s_fix_t *f = *state;
    uint16_t a = s_source(f, "a", NULL);
    int tag[3];
    for (int i = 0; i < 3; i++)
        braid_sched_source_ref(f->sched, a);    /* one per worker added */
    assert_int_equal(braid_sched_worker_add(f->sched, 1, &a, 1, &tag[0]), 0);
    assert_int_equal(braid_sched_worker_add(f->sched, 1, &a, 1, &tag[1]), 1);
    assert_ptr_equal(braid_sched_worker(f->sched, 1), &tag[1]);
    braid_sched_worker_remove(f->sched, 0);
    assert_null(braid_sched_worker(f->sched, 0));
    assert_null(braid_sched_worker(f->sched, 7));
    assert_int_equal(braid_sched_nworkers(f->sched), 2);
    assert_int_equal(braid_sched_worker_add(f->sched, 3, &a, 1, &tag[2]), 0);
    assert_int_equal(braid_slots_capacity(braid_sched_slots(f->sched), 0),
                     braid_worker_capacity(3));
    braid_sched_worker_remove(f->sched, 0);
    assert_true(braid_sched_source_served(f->sched, a));
    braid_sched_worker_remove(f->sched, 1);
    assert_false(braid_sched_source_served(f->sched, a));
}

/*  Sources: freed when no worker serves them and no job names them (issue
    9: peers that come and go cannot fill the table); an id in use by an
    open job is never given to another name.                                */
static void
test_sources_freed(void **state)
{
    s_fix_t *f = *state;
    braid_policy_t dflt;
    braid_policy_defaults(&dflt);
    int tag;
    /*  A worker serving the whole table: full.                            */
    uint16_t gids[BRAID_MAX_SOURCES];
    int32_t workers[BRAID_SCHED_MAX_SOURCES / BRAID_MAX_SOURCES];
    char name[32];
    for (int w = 0; w < BRAID_SCHED_MAX_SOURCES / BRAID_MAX_SOURCES; w++) {
        for (int i = 0; i < BRAID_MAX_SOURCES; i++) {
            snprintf(name, sizeof name, "fake-%d-%d", w, i);
            int id = braid_sched_source_add(f->sched, name, &dflt, 0);
            assert_true(id >= 0);
            gids[i] = (uint16_t) id;
        }
        workers[w] = braid_sched_worker_add(f->sched, 1, gids, BRAID_MAX_SOURCES, &tag);
        assert_true(workers[w] >= 0);
    }
    assert_int_equal(braid_sched_source_count(f->sched), BRAID_SCHED_MAX_SOURCES);
    assert_int_equal(braid_sched_source_add(f->sched, "real", &dflt, 0), -1);
    /*  A job names fake-0-0 while its worker goes: the id stays its own.  */
    uint16_t held = (uint16_t) braid_sched_source_id(f->sched, "fake-0-0");
    braid_sched_job_t *sj = s_job(f, 1, 1, BRAID_ORDER_SUBMIT, 0, &held, 1);
    for (int w = 0; w < BRAID_SCHED_MAX_SOURCES / BRAID_MAX_SOURCES; w++)
        braid_sched_worker_remove(f->sched, workers[w]);
    assert_int_equal(braid_sched_source_count(f->sched), 1);
    assert_int_equal(braid_sched_source_id(f->sched, "fake-0-1"), -1);
    assert_string_equal(braid_sched_source_name(f->sched, held), "fake-0-0");
    /*  A new name gets a free id, never the job's.                        */
    int real = braid_sched_source_add(f->sched, "real", &dflt, 0);
    assert_true(real >= 0 && real != held);
    assert_string_equal(braid_sched_source_name(f->sched, (uint16_t) real), "real");
    braid_stats_t stats = {0};
    braid_stats_source_t lines[BRAID_SCHED_MAX_SOURCES];
    stats.sources = lines;
    braid_sched_stats(f->sched, &stats);
    assert_int_equal(stats.nsources, 2);
    /*  The job goes: its source with it.                                   */
    braid_sched_job_remove(f->sched, sj);
    braid_job_destroy(&sj->job);
    free(sj);
    assert_int_equal(braid_sched_source_count(f->sched), 1);
    assert_int_equal(braid_sched_source_id(f->sched, "fake-0-0"), -1);
    braid_sched_source_unref(f->sched, (uint16_t) real);
    assert_int_equal(braid_sched_source_count(f->sched), 0);
    assert_int_equal(braid_sched_nsources(f->sched), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_least_loaded_worker, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_round_robin_across_jobs, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sources_served, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_source_limits, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_unsent_task_goes_again, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_retry_backoff, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_done_outcomes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_preempt_for_waiting_head, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_preempt_for_queued_head, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_preempt_for_limited_head, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_preempt_key_query, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_source_keys, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_sources_freed, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_workers_come_and_go, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
