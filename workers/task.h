/*  task.h - one task on the worker: from its TASK to its DONE.

    A task's life:
        QUEUED  it came while every slot was busy: it waits, holding no
                slot and no run, and starts (braid_task_start) when the
                worker gives it one. Its timeout counts from its start.
        RUN     its source's run works (source_kind.h).
        KILL    cancelled or timed out, and the run needs time to stop
                (an exec child between SIGTERM and its exit).
        END     the outcome is known, the run is gone: the partials still
                held leave, then exactly one DONE, which carries the last
                of them (one message's worth that the window admits); a
                one-part task costs one message.

    Partials travel in parts frames (braid_parts.h): the task holds what
    it made in one list and sends a prefix of it per DATA, as many lines
    as the windows and BRAID_TASK_MAX_DATA admit.
    A task that holds a slot keeps it until its DONE left (or it is
    silenced), so the worker never runs more than it announced.

    Backpressure: a task makes partials only when it holds none unsent,
    and then only as many as its window (TASK_CREDIT) still admits (seqs
    below resume are counted and dropped as they are made). Partials wait
    while the sink refuses them.

    "Silent": a task killed by RESET, a reconnect, or another attempt of
    the same task is reaped but sends nothing, not even DONE.

    No I/O of its own: DATA and DONE leave through the caller's send
    function, so the module can be tested alone.
*/

#ifndef BRAID_TASK_H_INCLUDED
#define BRAID_TASK_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#include "braid_msg.h"
#include "source.h"

typedef struct _braid_task_t braid_task_t;

/*  Bytes of partials one DATA or DONE carries at most (a single longer
    partial goes alone): far below the frame bound, so that a parts frame
    always fits ZMQ_MAXMSGSIZE.                                             */
#define BRAID_TASK_MAX_DATA (4u << 20)

typedef enum {
    BRAID_TASK_QUEUED = 0,
    BRAID_TASK_RUN,
    BRAID_TASK_KILL,
    BRAID_TASK_END
} braid_task_phase_t;

/*  What one braid_task_pump() came to.                                    */
typedef enum {
    BRAID_TASK_BUSY = 0,    /* still the worker's                           */
    BRAID_TASK_DONE,        /* its DONE left: destroy it                    */
    BRAID_TASK_GONE         /* silent and reaped: destroy it, nothing sent  */
} braid_task_pumped_t;

/*  Send one message on the sink: msg with the frames in *frames_p (NULL:
    none). Returns 0 when the message is gone (sent, or lost for good while
    the context terminates), *frames_p consumed; -1 when the sink refuses it
    now, *frames_p untouched.                                               */
typedef int(braid_task_send_fn)(void *arg, const braid_msg_t *msg, zmsg_t **frames_p);

/*  Where DATA and DONE go.                                                 */
typedef struct {
    braid_task_send_fn *send;
    void *arg;
    bool blocked;           /* the sink refused a message: no task sends
                               until the owner clears this (it polls the
                               sink for room meanwhile)                    */
} braid_task_sink_t;

/*  A task from a TASK message (id, attempt, resume, window, timeout), of
    source (NULL: unknown, end it) for the query (*query_p, consumed; may
    be NULL). QUEUED. NULL if out of memory.                               */
braid_task_t *
braid_task_new(const braid_msg_t *msg, const braid_source_t *source, zframe_t **query_p);

/*  Kill and reap its run if any. NULL-safe; sets *self_p to NULL.          */
void
braid_task_destroy(braid_task_t **self_p);

/*  The broker link the task came on (0 with one broker): task ids are the
    broker's, so a task is named by (link, id); its DATA and DONE go to its
    link's sink.                                                            */
void
braid_task_set_link(braid_task_t *self, uint32_t link);
uint32_t
braid_task_link(const braid_task_t *self);

uint64_t
braid_task_id(const braid_task_t *self);
uint32_t
braid_task_attempt(const braid_task_t *self);
braid_task_phase_t
braid_task_phase(const braid_task_t *self);
/*  NULL for a task of an unknown source.                                   */
const braid_source_t *
braid_task_source(const braid_task_t *self);
bool
braid_task_silent(const braid_task_t *self);
/*  True while the task holds one of the worker's slots.                    */
bool
braid_task_has_slot(const braid_task_t *self);

/*  Start a QUEUED task in a free slot (it holds the slot from now on):
    its run starts with the kind's context (NULL without one), its timeout
    counts from now. If the run cannot start, the task ends so.            */
void
braid_task_start(braid_task_t *self, void *context, int64_t now);

/*  The outcome is known: from now on only held partials and DONE leave.
    CANCELLED and TIMEOUT drop the held partials (DONE counts what left).
    The run is destroyed.                                                   */
void
braid_task_end(braid_task_t *self, braid_status_t status, bool transient, const char *text);

/*  Stop the task early (cancel, timeout, worker stopping): it ends with
    status, at once or once its run is gone (KILL). The first reason wins;
    a task whose DONE is all that is left to send keeps its outcome.       */
void
braid_task_abort(braid_task_t *self, braid_status_t status, bool transient, const char *text,
                 int64_t now);

/*  Kill the task and forget it: nothing more of it is sent, not even
    DONE. Returns true if it gave up a slot (free at once).                */
bool
braid_task_silence(braid_task_t *self, int64_t now);

/*  TASK_CREDIT: new absolute windows, in partials and in payload bytes of
    this attempt (0 lifts a limit; a grant below the current one is stale
    and ignored).                                                          */
void
braid_task_credit(braid_task_t *self, uint64_t window, uint64_t window_bytes);

/*  Add the descriptors its run waits on (source_kind.h's fds hook).       */
void
braid_task_fds(braid_task_t *self, braid_fd_add_fn *add, void *arg);

/*  One of them is ready.                                                   */
void
braid_task_ready(braid_task_t *self, int what, short revents, int64_t now);

/*  The earliest of wake and the time the task next needs the loop without
    a descriptor (a QUEUED task waits for braid_task_start instead).       */
int64_t
braid_task_wake(braid_task_t *self, int64_t now, int64_t wake);

/*  Timers, the run's progress, then sending: DATA as far as the window
    and the sink allow, then DONE. thawed: the worker just woke from a
    freeze, so nothing is held back for a DONE that might carry it.        */
braid_task_pumped_t
braid_task_pump(braid_task_t *self, int64_t now, bool thawed, braid_task_sink_t *sink);

/*  The task's entry in a WHEARTBEAT: the next seq it will send (seqs below
    were sent, or skipped because they are below resume).                  */
void
braid_task_hb_entry(const braid_task_t *self, braid_hb_entry_t *entry);

#endif
