/*  joblog.h - a job's log: for each task, the worker that ran its last
    attempt, when that attempt was dispatched, how long the task waited
    for it and how long it ran, and its exit value. That is what END
    carries for a job log (PROTOCOL.md: W, B, Q, U, X).

    The job (job.h) knows each task's state; where and when it ran is
    recorded here, by the broker as it dispatches and hears DONE, and read
    when the task's END goes out (braid_job_describe_fn). A record is 24
    bytes per task, allocated zeroed with the job, so a task that never
    ran costs no page.

    Worker names are shared, counted references (braid_name_t): the END of
    a task may go out long after its worker left.
*/

#ifndef BRAID_JOBLOG_H_INCLUDED
#define BRAID_JOBLOG_H_INCLUDED

#include "braid_msg.h"

#include <stdint.h>

/*  A counted worker name.                                                  */
typedef struct braid_name_t braid_name_t;

/*  A name holding text (at most BRAID_MAX_NAME bytes are kept), one
    reference; NULL on allocation failure.                                  */
braid_name_t *
braid_name_new(const char *text);

/*  One more reference to name (returned).                                  */
braid_name_t *
braid_name_ref(braid_name_t *name);

/*  Drop the reference *name_p (NULL-safe), sets *name_p to NULL; the last
    one frees it.                                                           */
void
braid_name_unref(braid_name_t **name_p);

/*  The text. Borrowed.                                                     */
const char *
braid_name_text(const braid_name_t *name);

typedef struct braid_joblog_t braid_joblog_t;

/*  The log of a job of ntasks tasks accepted at accepted_msec (monotonic)
    and wall_msec (msec since the epoch). NULL on allocation failure. Its
    entries grow as tasks start: nothing is reserved for ntasks.           */
braid_joblog_t *
braid_joblog_new(uint64_t ntasks, int64_t accepted_msec, int64_t wall_msec);

/*  Drop every name held. NULL-safe, sets *self_p to NULL.                  */
void
braid_joblog_destroy(braid_joblog_t **self_p);

/*  Task idx was dispatched at now_msec to worker (a reference is taken;
    NULL: unknown). Whatever an earlier attempt recorded is replaced.
    Returns how long it waited since the job's accept, msec.               */
uint64_t
braid_joblog_start(braid_joblog_t *self, uint64_t idx, braid_name_t *worker, int64_t now_msec);

/*  Task idx's last attempt ended at now_msec with exit_value (the worker's
    DONE X, or 0).                                                          */
void
braid_joblog_end(braid_joblog_t *self, uint64_t idx, uint32_t exit_value, int64_t now_msec);

/*  Set msg's W, B, Q, U and X for task idx: empty and zero for a task that
    never ran; a last attempt with no recorded end (cancelled, or given up
    with its worker) ran until now_msec.                                    */
void
braid_joblog_describe(const braid_joblog_t *self, uint64_t idx, int64_t now_msec,
                      braid_msg_t *msg);

#endif
