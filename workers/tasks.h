/*  tasks.h - the worker's task table: every task from its TASK until its
    DONE left (or, silenced, until it is reaped).

    Bounded: it holds at most max tasks; the worker sizes it so that a
    broker that respects the worker's slots never fills it. It counts the
    slots its tasks hold, starts queued tasks in task id order, and drops
    a task once its DONE left.
*/

#ifndef BRAID_TASKS_H_INCLUDED
#define BRAID_TASKS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "task.h"

typedef struct _braid_tasks_t braid_tasks_t;

/*  Links (brokers, braid_task_link) the table shares slots between.       */
#define BRAID_TASKS_MAX_LINKS 8

/*  What a TASK for (id, attempt) meets in the table.                       */
typedef enum {
    BRAID_TASKS_NEW = 0,    /* not held (another attempt of it, if any, was
                               silenced): add it                            */
    BRAID_TASKS_DUPLICATE   /* this very attempt is held: ignore the TASK   */
} braid_tasks_claim_t;

/*  An empty table for at most max tasks. NULL if out of memory.           */
braid_tasks_t *
braid_tasks_new(size_t max);

/*  Destroy every task (killing and reaping their runs). NULL-safe; sets
    *self_p to NULL.                                                        */
void
braid_tasks_destroy(braid_tasks_t **self_p);

/*  Number of tasks held, and the i-th (0 <= i < size), in the order they
    came.                                                                   */
size_t
braid_tasks_size(const braid_tasks_t *self);
braid_task_t *
braid_tasks_at(const braid_tasks_t *self, size_t i);

/*  True if no task can be added.                                           */
bool
braid_tasks_full(const braid_tasks_t *self);

/*  Slots held (tasks started, not yet done or silenced).                  */
size_t
braid_tasks_busy(const braid_tasks_t *self);

/*  Tasks waiting for a slot.                                               */
size_t
braid_tasks_queued(const braid_tasks_t *self);

/*  Tasks the broker should believe we run: all but the silent ones.      */
size_t
braid_tasks_live(const braid_tasks_t *self);

/*  Add task (consumed). Returns it (borrowed), or NULL if the table is
    full or the task's link is not below BRAID_TASKS_MAX_LINKS (the task is
    destroyed).                                                             */
braid_task_t *
braid_tasks_add(braid_tasks_t *self, braid_task_t **task_p);

/*  Tasks of link (braid_task_link) held for its broker, running or queued:
    what that broker may count against the slots it was told.              */
size_t
braid_tasks_held(const braid_tasks_t *self, uint32_t link);

/*  The task (link, id, attempt) that is not silent, or NULL.               */
braid_task_t *
braid_tasks_find(const braid_tasks_t *self, uint32_t link, uint64_t id, uint32_t attempt);

/*  A TASK for (id, attempt) came on link. Another attempt of the same task
    (same link) makes
    the one held moot: the broker's latest TASK wins (one connection keeps
    order, so an older TASK never overtakes a newer one), and the old
    attempt is silenced, its slot free.                                     */
braid_tasks_claim_t
braid_tasks_claim(braid_tasks_t *self, uint32_t link, uint64_t id, uint32_t attempt, int64_t now);

/*  The queued task to start next: of the links with a queued task, the
    one whose tasks hold the fewest slots (the slots are shared fairly
    between brokers; ties to the lower link), and its lowest task id. Task
    ids grow with the broker's job order and, within a job, with the order
    of a sequential run, so a job's head of line never waits behind its
    own later tasks. NULL if none is queued.                               */
braid_task_t *
braid_tasks_next_queued(const braid_tasks_t *self);

/*  True if a task is queued (what braid_tasks_next_queued() would find). */
bool
braid_tasks_any_queued(const braid_tasks_t *self);

/*  Start task (queued, in this table) in a free slot; see
    braid_task_start().                                                     */
void
braid_tasks_start(braid_tasks_t *self, braid_task_t *task, void *context, int64_t now);

/*  The context a queued task's run starts in (its source kind's).          */
typedef void *(braid_tasks_context_fn) (void *arg, const braid_task_t *task);

/*  Start the queued tasks, lowest task id first, in at most max free
    slots: what calling braid_tasks_next_queued() and braid_tasks_start()
    max times does, in one walk over the table while one link's tasks wait
    (a walk per start when several do). Returns how many started.         */
size_t
braid_tasks_start_queued(braid_tasks_t *self, size_t max, braid_tasks_context_fn *context_of,
                         void *arg, int64_t now);

/*  Silence task (in this table); see braid_task_silence().                 */
void
braid_tasks_silence(braid_tasks_t *self, braid_task_t *task, int64_t now);

/*  Silence every task that is not silent yet. Returns how many.           */
size_t
braid_tasks_silence_all(braid_tasks_t *self, int64_t now);

/*  The same for the tasks of one link (its broker reset or went silent). */
size_t
braid_tasks_silence_link(braid_tasks_t *self, uint32_t link, int64_t now);

/*  Pump every task (braid_task_pump, on sinks[its link]) and drop those
    that are over. Returns how many sent their DONE.                        */
size_t
braid_tasks_pump(braid_tasks_t *self, int64_t now, bool thawed, braid_task_sink_t *sinks);

/*  braid_tasks_pump() of the tasks started since the last pump only.     */
size_t
braid_tasks_pump_fresh(braid_tasks_t *self, int64_t now, bool thawed, braid_task_sink_t *sinks);

#endif
