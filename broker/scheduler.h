/*  scheduler.h - scheduling: which task runs on which worker, and when.

    The scheduler holds what those decisions need: the sources (by a small
    id: each one's policy and limiter), the workers (their size and the
    sources they serve), the open jobs oldest first, and the slots
    (slots.h) that record which worker holds which task. With them it
    - dispatches: one task per job per round, starting after the job served
      last, so a freed slot goes to the jobs in turn; each task to the
      least-loaded worker that serves its source and has room, within the
      source's concurrency and rate limits;
    - takes tasks back to run again, counted failures after the source's
      backoff with jitter;
    - preempts for a head of line (submit order): a window-blocked task in
      the head's way is cancelled, to resume later, so that ordering never
      deadlocks (see braid_sched_preempt).
    It does no I/O: TASKs and cancels go out through braid_sched_io_t, so
    it is tested without sockets (tests/unit/test_sched.c).

    (The file is not sched.h: broker/ is on the include path, where it
    would hide the system's <sched.h> from pthread.h.)
*/

#ifndef BRAID_SCHEDULER_H_INCLUDED
#define BRAID_SCHEDULER_H_INCLUDED

#include "braid_msg.h"
#include "job.h"
#include "policy.h"
#include "slots.h"
#include "stats.h"

#include <stdbool.h>
#include <stdint.h>

/*  Distinct source names registered at once (workers name them). A source
    no worker serves and no open job names is freed, and its id given to
    the next new name: peers that come and go cannot fill the table.       */
#define BRAID_SCHED_MAX_SOURCES 1024

typedef struct braid_sched_t braid_sched_t;

/*  A job as the scheduler sees it. The caller embeds it in its own record,
    sets job and gid, and keeps it alive from braid_sched_job_add() until
    braid_sched_job_remove(), which it may call once the job is finished
    and braid_slots_held() is 0 for its serial: a job outlives its slots.   */
typedef struct braid_sched_job_t braid_sched_job_t;
struct braid_sched_job_t {
    braid_job_t *job;                   /* borrowed                        */
    uint16_t gid[BRAID_MAX_SOURCES];    /* source id of each job source    */
    braid_sched_job_t *prev, *next;     /* the scheduler's list: read only */
};

/*  A TASK to send, as the scheduler started it.                            */
typedef struct {
    uint64_t task_id;
    uint32_t attempt;
    uint64_t resume;            /* first seq the worker must send          */
    uint64_t window;            /* credit: seq < window; 0 = none          */
    uint64_t window_bytes;      /* credit in payload bytes; 0 = none       */
    uint32_t timeout_msec;      /* the job's, else its source's; 0 = none  */
} braid_sched_task_t;

/*  What the scheduler calls. The callee may call back into the scheduler
    (take the task back, remove the worker): the scheduler holds no
    pointer across a call.                                                  */
typedef struct {
    /*  Send TASK for task idx of sj to worker. When it cannot be queued,
        the callee takes the task back at once (braid_sched_retry, not
        counted: it reached nobody).                                        */
    void (*start)(void *arg, braid_sched_job_t *sj, uint32_t idx, int32_t worker,
                  const braid_sched_task_t *task);
    /*  Cancel victim (already marked preempted) on its worker, to make
        room for task head of sj.                                           */
    void (*preempt)(void *arg, const braid_slot_t *victim, braid_sched_job_t *sj, uint32_t head);
} braid_sched_io_t;

/*  What a DONE did (braid_sched_done).                                     */
typedef enum {
    BRAID_SCHED_ENDED = 0,      /* the task ended as its worker says        */
    BRAID_SCHED_CONFIRMED,      /* a task that had ended (cancelled) is
                                   over on its worker too: slot freed       */
    BRAID_SCHED_STALE,          /* for an attempt that does not run: dropped */
    BRAID_SCHED_TAKEN_BACK,     /* preempted, or a transient failure: taken
                                   back (braid_sched_retry) to run again    */
    BRAID_SCHED_GAP             /* fewer partials came than it says: taken
                                   back, counted, to resume after them      */
} braid_sched_done_t;

/*  Create a scheduler; seed drives the retry jitter. NULL on allocation
    failure.                                                                */
braid_sched_t *
braid_sched_new(unsigned int seed);

/*  Destroy it (not the jobs: they are the caller's). NULL-safe.           */
void
braid_sched_destroy(braid_sched_t **self_p);

/*  The slots. Borrowed; the caller reads and updates slot records (acks,
    heartbeats) but takes and frees slots only through the scheduler.      */
braid_slots_t *
braid_sched_slots(braid_sched_t *self);

/*  ---------------------------------------------------------------------
    Sources                                                                 */

/*  The id of source name, or -1 when it was never registered.              */
int
braid_sched_source_id(braid_sched_t *self, const char *name);

/*  The id of source name, registered with policy if new (its limiter
    starts full at now_msec), with a reference the caller owns: it hands
    it to braid_sched_worker_add() or lets go of it with
    braid_sched_source_unref(). -1 when the table is full or on allocation
    failure.                                                                */
int
braid_sched_source_add(braid_sched_t *self, const char *name, const braid_policy_t *policy,
                       int64_t now_msec);

/*  Take and drop a reference to source gid (workers serving it and open
    jobs naming it hold one each, taken by braid_sched_worker_add and
    braid_sched_job_add). At the last unref the source is freed, its
    figures with it, and its id may go to a new name: an id never changes
    owner while anything holds it.                                          */
void
braid_sched_source_ref(braid_sched_t *self, uint16_t gid);
void
braid_sched_source_unref(braid_sched_t *self, uint16_t gid);

/*  Sources registered now (braid_sched_nsources less the free ids).       */
uint32_t
braid_sched_source_count(braid_sched_t *self);

/*  Give source gid a new policy (SIGHUP): its limiter starts again, full,
    and keeps counting the tasks that run.                                  */
void
braid_sched_source_set_policy(braid_sched_t *self, uint16_t gid, const braid_policy_t *policy,
                              int64_t now_msec);

/*  Ids in use are below braid_sched_nsources() (some below it may be free:
    no name); a source's name (borrowed; NULL for a free id), and its
    policy (borrowed).                                                      */
uint32_t
braid_sched_nsources(braid_sched_t *self);
const char *
braid_sched_source_name(braid_sched_t *self, uint16_t gid);
const braid_policy_t *
braid_sched_policy(braid_sched_t *self, uint16_t gid);

/*  What the broker measures of source gid (borrowed; the handlers record
    into it), or NULL when there is no such source.                         */
braid_source_figures_t *
braid_sched_source_figures(braid_sched_t *self, uint16_t gid);

/*  True if some worker serves source gid.                                  */
bool
braid_sched_source_served(braid_sched_t *self, uint16_t gid);

/*  How the workers serving a source rank its partials (their HELLO's K).  */
typedef enum {
    BRAID_SCHED_UNKEYED = 0,    /* none serves it, or one without a score   */
    BRAID_SCHED_KEYED_DESC,     /* every one scores it, higher first        */
    BRAID_SCHED_KEYED_ASC,      /* every one scores it, lower first         */
    BRAID_SCHED_KEYED_MIXED     /* every one scores it, in different orders */
} braid_sched_keys_t;

braid_sched_keys_t
braid_sched_source_keys(braid_sched_t *self, uint16_t gid);

/*  ---------------------------------------------------------------------
    Workers                                                                 */

/*  Register a worker with slots slots (it holds braid_worker_capacity() of
    tasks) serving the sources gids[0..ngids), whose references (from
    braid_sched_source_add) it takes over on success: its removal lets go
    of them. user is the caller's record of it (borrowed). Returns the
    worker's number, the lowest free one, or -1 on allocation failure (the
    references stay the caller's).                                          */
int32_t
braid_sched_worker_add(braid_sched_t *self, uint32_t slots, const uint16_t *gids, uint32_t ngids,
                       void *user);

/*  The HELLO flags (BRAID_SOURCE_*) of the sources worker serves, flags[i]
    for the gids[i] it was added with; a worker added without them scores
    nothing.                                                                */
void
braid_sched_worker_set_flags(braid_sched_t *self, int32_t worker, const uint8_t *flags);

/*  The source ids worker serves (borrowed; *n of them), or NULL (*n 0)
    when there is no such worker.                                           */
const uint16_t *
braid_sched_worker_sources(braid_sched_t *self, int32_t worker, uint32_t *n);

/*  Forget worker, whose tasks must all be taken back or released first.    */
void
braid_sched_worker_remove(braid_sched_t *self, int32_t worker);

/*  The caller's record of worker, or NULL when there is no such worker.
    Workers are numbered 0 .. braid_sched_nworkers() - 1, with holes.       */
void *
braid_sched_worker(braid_sched_t *self, int32_t worker);
uint32_t
braid_sched_nworkers(braid_sched_t *self);

/*  ---------------------------------------------------------------------
    Jobs                                                                    */

/*  Add job sj (job and gid set; its serial not in use), last in the list.  */
int
braid_sched_job_add(braid_sched_t *self, braid_sched_job_t *sj);

/*  Remove job sj from the list (see braid_sched_job_t).                    */
void
braid_sched_job_remove(braid_sched_t *self, braid_sched_job_t *sj);

/*  The jobs, oldest first (follow ->next), and how many.                   */
braid_sched_job_t *
braid_sched_jobs(braid_sched_t *self);
size_t
braid_sched_njobs(braid_sched_t *self);

/*  The job task_id belongs to (by the serial in its high half), or NULL.   */
braid_sched_job_t *
braid_sched_job_of(braid_sched_t *self, uint64_t task_id);

/*  ---------------------------------------------------------------------
    Running tasks                                                           */

/*  Something changed that dispatch should look at (a slot, a job, a
    worker, a policy); braid_sched_due() says so until the next dispatch.   */
void
braid_sched_wake(braid_sched_t *self);
bool
braid_sched_due(braid_sched_t *self);

/*  Hand out tasks while workers have room (see the top of this file).      */
void
braid_sched_dispatch(braid_sched_t *self, int64_t now_msec, const braid_sched_io_t *io,
                     void *arg);

/*  Take task idx (attempt) of sj back, and free its slot: see
    braid_job_retry(). A counted retry waits the source's backoff (jitter
    from the seed), which braid_sched_fire() ends; a hand-back is ready
    now. *delay_msec_p (may be NULL) gets the backoff.                      */
braid_job_retry_t
braid_sched_retry(braid_sched_t *self, braid_sched_job_t *sj, uint32_t idx, uint32_t attempt,
                  bool counted, const char *why, int64_t now_msec, uint32_t *delay_msec_p);

/*  A DONE for task (uint32_t) done->task_id of sj: record the end, or take
    the task back (a preempted task's cancel; a transient failure, retried
    no sooner than its retry_after_msec, DONE A; a part count that says
    partials were lost), and free the slot.                                 */
braid_sched_done_t
braid_sched_done(braid_sched_t *self, braid_sched_job_t *sj, const braid_msg_t *done,
                 int64_t now_msec);

/*  Free the slot task_id holds for attempt, if it does (its job is gone or
    ended). True if it did.                                                 */
bool
braid_sched_release(braid_sched_t *self, uint64_t task_id, uint32_t attempt);

/*  Preempt for heads of line (braid_job_head: submit order and order key),
    one at a time: when a head waits for a slot and its job is at its
    in-flight limit, the job's own latest window-blocked task is cancelled;
    when it waits and no worker serving its source has room, or when
    queued_heads and a head sits queued (nothing received yet) at a worker
    whose every slot runs a window-blocked task, the latest window-blocked
    task in its way that is not its job's own head is cancelled through
    io->preempt. It keeps what it sent and, once its worker confirms, runs
    again later (not counted) resuming there; its slot goes to the head.
    queued_heads walks a worker's slots: once a tick is enough.            */
void
braid_sched_preempt(braid_sched_t *self, bool queued_heads, int64_t now_msec,
                    const braid_sched_io_t *io, void *arg);

/*  Make ready the tasks whose backoff is over at now_msec.                 */
void
braid_sched_fire(braid_sched_t *self, int64_t now_msec);

/*  When the scheduler next has something to do by itself: a backoff ends,
    or a rate-limited source gets a token (whoever waits on one is served
    when the caller wakes: dispatch is made due). INT64_MAX for never.      */
int64_t
braid_sched_next_msec(braid_sched_t *self, int64_t now_msec);

/*  Fill the scheduler's part of stats: workers, slots, running, jobs,
    queued, task counters, and stats->sources (which the caller gives room
    for braid_sched_nsources() entries; NULL: the totals only).             */
void
braid_sched_stats(braid_sched_t *self, braid_stats_t *stats);

#endif
