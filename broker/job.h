/*  job.h - one client job: its queries, its tasks, and the ordered merge of
    their streams toward the client.

    A job owns nsources x count tasks, task index = query * nsources +
    source, so index order is the order of a sequential run. Their records
    are made as the queries arrive (amortized doubling), never reserved for
    the count a SUBMIT announces. Results enter
    through braid_job_data() and braid_job_done(); braid_job_pump() emits
    what the ordering mode and the client's credit allow, through a
    caller-supplied emitter, so this module does no I/O and can be tested
    alone.

    A job knows each task's state and attempt, not where it runs: which
    worker holds a task's slot is recorded in slots.h only.

    Order key (merge.h): queries in submit order, each query's sources
    merged by score. A task's fwd then counts its partials decided (sent,
    or dropped as duplicates), so windows, resumes and the END's part count
    work as in the other orders; the END carries the duplicates. The head
    of line is then whichever task of the head query the merge may wait
    for (braid_job_head), and a restart after partials were merged fails
    the task (a merged stream cannot take them back).
*/

#ifndef BRAID_JOB_H_INCLUDED
#define BRAID_JOB_H_INCLUDED

#include "braid_keys.h"
#include "braid_msg.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct braid_job_t braid_job_t;

/*  Emit one message to the job's client. Returns 0 when sent (*payload
    consumed), -1 when the client cannot take it now (*payload untouched;
    the job stops pumping until called again).                              */
typedef int(braid_job_emit_fn)(void *arg, braid_job_t *job, const braid_msg_t *msg,
                               zmsg_t **payload);

/*  Grant the running attempt of task_id the window (absolute seq limit):
    the caller tells the worker that holds it.                              */
typedef void(braid_job_credit_fn)(void *arg, braid_job_t *job, uint64_t task_id, uint32_t attempt,
                                  uint64_t window, uint64_t window_bytes);

/*  Fill in what the job does not know of task idx's END before it goes
    out: the job log fields (W, B, Q, U, X: who ran it last, when, how
    long). msg holds the rest; the callee sets only those.                  */
typedef void(braid_job_describe_fn)(void *arg, braid_job_t *job, uint32_t idx, braid_msg_t *msg);

/*  What a job calls while it pumps.                                        */
typedef struct {
    braid_job_emit_fn *emit;        /* required                            */
    braid_job_credit_fn *credit;    /* may be NULL: windows never move     */
    braid_job_describe_fn *describe;    /* may be NULL: those fields zero  */
} braid_job_io_t;

/*  What to do with a task that must run again (worker lost, transient
    failure), given by the broker from the source's policy.                 */
typedef enum {
    BRAID_ON_RETRY_RESUME = 0,  /* skip the seqs already received          */
    BRAID_ON_RETRY_RESTART,     /* RESTART record, then from seq 0         */
    BRAID_ON_RETRY_FAIL         /* end failed if partials reached the client */
} braid_on_retry_t;

typedef struct {
    uint32_t retries;           /* retry limit for counted failures        */
    braid_on_retry_t on_retry;
} braid_job_policy_t;

/*  What a result did to its task (braid_job_data, braid_job_done).        */
typedef enum {
    BRAID_JOB_ACCEPTED = 0, /* recorded                                     */
    BRAID_JOB_STALE,        /* another attempt, or the task does not run:
                               dropped                                      */
    BRAID_JOB_GAP           /* partials missing, or past the window: the
                               task stays running; the caller runs it again */
} braid_job_result_t;

/*  What braid_job_retry() did with the task.                               */
typedef enum {
    BRAID_JOB_AGAIN = 0,    /* it will run again: make it ready with
                               braid_job_ready(), now or after a backoff    */
    BRAID_JOB_ENDED,        /* it ended failed instead (limit reached, or
                               on_retry fail after partials reached the
                               client), why as its error text              */
    BRAID_JOB_NOT_RUNNING   /* that attempt does not run (stale, or ended
                               already): nothing changed                    */
} braid_job_retry_t;

/*  Task states.                                                            */
typedef enum {
    BRAID_TASK_PENDING = 0, /* not dispatched (or waiting to be again)      */
    BRAID_TASK_RUNNING,     /* on a worker                                  */
    BRAID_TASK_DONE,        /* end recorded, END not yet emitted            */
    BRAID_TASK_EMITTED      /* END emitted: nothing more will happen        */
} braid_task_state_t;

/*  Create a job from a decoded SUBMIT. serial is the broker's unique number
    for it (high half of every task id); window is the per-task credit
    window in partials (0: none). Returns NULL on allocation failure or if
    the job would exceed max_tasks tasks.                                   */
braid_job_t *
braid_job_new(const braid_msg_t *submit, uint32_t serial, uint64_t max_tasks, uint32_t window);

/*  Destroy the job and everything it buffers. NULL-safe, sets *self_p.     */
void
braid_job_destroy(braid_job_t **self_p);

/*  Order key: lower scores first (the sources' score_order). Before any
    result arrives; no effect in other orders.                              */
void
braid_job_set_ascending(braid_job_t *self, bool ascending);

/*  Accept QUERIES: frames are queries first, first+1, ... (consumed).
    Returns 0 (also for a duplicate that is ignored), -1 on a violation:
    first beyond the queries received, more than count, or more than the
    job's byte budget.                                                      */
int
braid_job_add_queries(braid_job_t *self, uint32_t first, zmsg_t **frames);

/*  Pick the next task to dispatch among the sources whose bit is set in
    avail (bit s = some worker serving source s has a free slot), lowest
    task index first, honouring the per-job in-flight limit. Returns the
    task index, or -1 if none.                                              */
int64_t
braid_job_next_task(braid_job_t *self, uint32_t avail);

/*  Bit mask of the sources that have tasks waiting for dispatch now (0
    when the in-flight limit is reached).                                   */
uint32_t
braid_job_wants(braid_job_t *self);

/*  Mark task idx (as chosen by braid_job_next_task) as dispatched: the
    attempt number is returned, and the resume seq and credit window for the
    TASK message are stored in *resume and *window.                         */
uint32_t
braid_job_start(braid_job_t *self, uint32_t idx, uint64_t *resume, uint64_t *window);

/*  Take task idx (attempt) back from its worker to run it again. counted:
    a failure (worker lost, transient error) that counts toward the retry
    limit; false for a hand-back. See braid_job_retry_t for the result; the
    caller frees the attempt's slot whatever it is.                         */
braid_job_retry_t
braid_job_retry(braid_job_t *self, uint32_t idx, uint32_t attempt, bool counted, const char *why,
                const braid_job_policy_t *policy);

/*  Counted retries of task idx so far (for the backoff).                   */
uint32_t
braid_job_task_retries(braid_job_t *self, uint32_t idx);

/*  Task idx, taken back by braid_job_retry(), may be dispatched now.       */
void
braid_job_ready(braid_job_t *self, uint32_t idx);

/*  The head-of-line task (braid_job_head), when it is waiting for a slot
    (new, or taken back and ready); -1 otherwise.                           */
int64_t
braid_job_head_waiting(braid_job_t *self);

/*  The head-of-line task index: in submit order the next task to emit; in
    order key the head query's task the merge may be waiting for that
    cannot move by itself (waiting for a slot first, else running with
    nothing buffered). -1 in arrival order, when every task is out, or when
    no task of the head query is such.                                     */
int64_t
braid_job_head(braid_job_t *self);

/*  The window last granted to task idx's worker (0: none).                 */
uint64_t
braid_job_granted(braid_job_t *self, uint32_t idx);

/*  Also bound each task's window in payload bytes (0: no byte bound, the
    default): an attempt may send while the bytes it sent are below its
    grant, which starts at bytes and is raised to forwarded + bytes once
    half of it has gone to the client. Set before the first start.         */
void
braid_job_set_window_bytes(braid_job_t *self, uint64_t bytes);

/*  The byte window last granted to task idx's running attempt (0: none).  */
uint64_t
braid_job_granted_bytes(braid_job_t *self, uint32_t idx);

/*  True when task idx runs but may send nothing more until the client
    takes what is buffered: its window is used up.                          */
bool
braid_job_window_blocked(braid_job_t *self, uint32_t idx);

/*  Tasks that ended failed or timeout so far.                              */
uint64_t
braid_job_failures(braid_job_t *self);

/*  The task's current attempt (0 before its first dispatch).              */
uint32_t
braid_job_attempt(braid_job_t *self, uint32_t idx);
/*  Partials of task idx received so far (the seq a worker resumes at).    */
uint64_t
braid_job_received_parts(braid_job_t *self, uint32_t idx);
/*  True while task idx runs under attempt.                                 */
bool
braid_job_running(braid_job_t *self, uint32_t idx, uint32_t attempt);

/*  Result stream of task idx, attempt: partials seq, seq+1, ... (frames
    consumed). ACCEPTED; STALE; GAP if the seqs leave a gap or pass the
    window.                                                                 */
braid_job_result_t
braid_job_data(braid_job_t *self, uint32_t idx, uint32_t attempt, uint64_t seq, zmsg_t **frames);

/*  The same with the partials' keys (keys[i] for the i-th frame; NULL:
    none came), which order key merges by; other orders ignore them.       */
braid_job_result_t
braid_job_data_keyed(braid_job_t *self, uint32_t idx, uint32_t attempt, uint64_t seq,
                     zmsg_t **frames, const braid_key_t *keys);

/*  End of task idx, attempt. ACCEPTED: the task ended; STALE (also for the
    DONE of a task that ended meanwhile, cancelled); GAP if the part count
    does not match what arrived. Only ACCEPTED ends the task; the caller
    frees the attempt's slot unless it is a GAP.                            */
braid_job_result_t
braid_job_done(braid_job_t *self, uint32_t idx, uint32_t attempt, uint32_t status,
               uint64_t parts, const char *text);

/*  Source s of the job has no worker any more (job_orphan.c): every task
    of it that waits for a slot (never dispatched, or taken back for a
    retry) ends failed with text; its partials forwarded before stay, the
    END follows them. Tasks of queries that arrive later are not touched.
    Returns how many ended.                                                 */
uint64_t
braid_job_orphan(braid_job_t *self, uint32_t s, const char *text);

/*  Failover with resume (job_resume.c, PROTOCOL.md "A job" 10). Hold the
    job: nothing of it is dispatched (a SUBMIT with BRAID_FLAG_RESUME).    */
void
braid_job_hold(braid_job_t *self);
/*  True while held.                                                        */
bool
braid_job_held(braid_job_t *self);
/*  True once every query announced has arrived.                            */
bool
braid_job_queries_complete(braid_job_t *self);
/*  Apply a RESUME to the held job whose queries are complete, and release
    it: the tasks in ranges (size bytes of BRAID_RESUME_RANGE entries)
    count as ended with no END of their own; task (q, s) resumes after the
    seq partials the client has (seq > 0; not in order key), as a lost
    worker's task would under its source's on_retry (on_retry[s]): skip
    them, or RESTART from 0, or end failed. 0, or -1 when the ranges are
    out of order, empty or past the job's tasks (nothing changed, the job
    stays held).                                                            */
int
braid_job_resume(braid_job_t *self, const uint8_t *ranges, size_t size, uint32_t q, uint32_t s,
                 uint64_t seq, const braid_on_retry_t *on_retry);

/*  Raise the client's credit (absolute out_seq limit; lower is ignored).
    With a byte window (braid_job_set_credit_bytes), a grant that is not
    lower also lets that many bytes more go out beyond what was sent, and
    never more: however far a grant says, the broker holds at most one
    window of a client that does not read.                                  */
void
braid_job_credit(braid_job_t *self, uint64_t credit);

/*  Bound what the job buffers for its client: once its tasks' buffers hold
    bytes or more, only the head of line is dispatched (it is what lets
    them go), so tasks that end ahead of a slow head cannot pile up their
    partials without end. 0: no bound (the default).                        */
void
braid_job_set_buffer_limit(braid_job_t *self, uint64_t bytes);

/*  True while the job's buffers are past that bound.                       */
bool
braid_job_over_buffer(braid_job_t *self);

/*  No credit bound any more, in messages or bytes: the job's output is
    dropped (its client is gone), and must not wait for grants to end.     */
void
braid_job_credit_unbounded(braid_job_t *self);

/*  Bound the client's credit in bytes too: each message counts
    BRAID_MSG_OVERHEAD plus its payload; the SUBMIT's credit and every grant
    let at most bytes go out beyond what was sent when it came (0: no
    byte bound, the default). Set right after braid_job_new().              */
void
braid_job_set_credit_bytes(braid_job_t *self, uint64_t bytes);

/*  End the job early: tasks not yet ended end with status (cancelled, or
    timeout for a deadline) and text. For each running task,
    cancel_fn(arg, task_id, attempt) is called so the caller tells its
    worker (which still runs it, and holds its slot, until it says DONE).  */
typedef void(braid_job_cancel_fn)(void *arg, uint64_t task_id, uint32_t attempt);
void
braid_job_cancel(braid_job_t *self, uint32_t status, const char *text,
                 braid_job_cancel_fn *cancel_fn, void *arg);

/*  Emit what ordering and credit allow, and grant windows as partials
    leave. Returns true once JOB_END has been emitted.                      */
bool
braid_job_pump(braid_job_t *self, const braid_job_io_t *io, void *arg);

/*  True once JOB_END has been emitted: nothing more comes out of the job.
    Its tasks may still hold worker slots (slots.h) until their workers
    confirm a cancel; the broker keeps the job until then.                  */
bool
braid_job_finished(braid_job_t *self);

/*  Accessors.                                                              */
const uint8_t *
braid_job_id(braid_job_t *self);
uint32_t
braid_job_serial(braid_job_t *self);
uint32_t
braid_job_nsources(braid_job_t *self);
const char *
braid_job_source_name(braid_job_t *self, uint32_t source);
uint32_t
braid_job_count(braid_job_t *self);
uint32_t
braid_job_received(braid_job_t *self);
/*  The query of task idx (borrowed) and its length.                        */
const char *
braid_job_query(braid_job_t *self, uint32_t idx, size_t *len);
/*  Tasks running now (what max_inflight limits).                          */
uint32_t
braid_job_inflight(braid_job_t *self);
uint32_t
braid_job_timeout_msec(braid_job_t *self);
uint32_t
braid_job_flags(braid_job_t *self);
uint32_t
braid_job_deadline_msec(braid_job_t *self);
/*  The job's own retry limit, or -1 when the sources' policies decide.     */
int64_t
braid_job_retries(braid_job_t *self);
/*  Tasks waiting for dispatch (new and retries), and tasks running.        */
uint64_t
braid_job_queued(braid_job_t *self);
/*  Tasks of source (index in the job) waiting for dispatch.               */
uint64_t
braid_job_queued_source(braid_job_t *self, uint32_t source);
/*  The ordering mode (braid_order_t).                                      */
uint32_t
braid_job_order(braid_job_t *self);
/*  Tasks whose end is recorded (emitted or not), and queries whose every
    task's is.                                                              */
uint64_t
braid_job_tasks_done(braid_job_t *self);
uint32_t
braid_job_queries_done(braid_job_t *self);
/*  True if submit has the same parameters as the job's SUBMIT.             */
bool
braid_job_same(braid_job_t *self, const braid_msg_t *submit);
/*  Bytes the job holds in buffered partials and queries (O(1)).           */
size_t
braid_job_buffered_bytes(braid_job_t *self);
/*  Bytes of the job's per-query and per-task records: they grow with the
    queries that arrived, not with the count announced.                    */
size_t
braid_job_record_bytes(braid_job_t *self);

/*  A task id: the broker's serial of its job (never 0) in the high half,
    the task's index in the job in the low half.                            */
static inline uint64_t
braid_task_id(uint32_t serial, uint32_t idx)
{
    return ((uint64_t) serial << 32) | idx;
}

static inline uint32_t
braid_task_serial(uint64_t task_id)
{
    return (uint32_t) (task_id >> 32);
}

static inline uint32_t
braid_task_index(uint64_t task_id)
{
    return (uint32_t) task_id;
}

#endif
