/*  source_kind.h - what a kind of source does, so that the worker's loop
    and its tasks never name one.

    A kind (exec, synthetic, ...) is one const braid_source_kind_t, listed
    in the table in source_kind.c under the type name that -s specs and
    config sections use. A new kind is one file and one table entry. A kind
    has three parts:

      settings  one per source, parsed from the SETTINGS of a -s spec or
                from the keys of a config section; borrowed by its runs.
      runs      one per task that starts: start, the descriptors to poll,
                what to do when one is ready, produce partials, when to
                wake next, how it ended; stop early; destroy. A run is an
                opaque pointer that only its kind reads.
      context   optional, one per worker for each kind its sources use:
                state all runs of the kind share, with descriptors and a
                timer of its own (the http kind's curl multi handle: its
                sockets, its timeout, its connection cache). Kinds without
                one leave these hooks NULL.

    Flow control stays with the task. A run makes only as many partials as
    produce() asks for, and hears through fds()'s want_output whether the
    task wants more output at all: a run that reads a pipe stops reading
    it, one that receives from a socket pauses the transfer (and resumes
    it in produce() once asked for more), so a source is never read ahead
    of the task's credit window.

    Every hook gets the clock (monotonic msec) from the caller; none
    blocks, except destroy() of a run that must reap a killed child.
*/

#ifndef BRAID_SOURCE_KIND_H_INCLUDED
#define BRAID_SOURCE_KIND_H_INCLUDED

#include <czmq.h>

#include "braid_parts.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  How a run stands: still busy, or over and how. start() and stop() use
    it too.                                                                 */
typedef enum {
    BRAID_RUN_BUSY = 0,     /* running: more may come                       */
    BRAID_RUN_OK,           /* over: every partial made, success            */
    BRAID_RUN_FAILED,       /* over: failed for good; the text says why     */
    BRAID_RUN_TRANSIENT,    /* over: failed, may pass on retry (DONE g = 1) */
    BRAID_RUN_STOPPED       /* over after stop(): gone, nothing to report   */
} braid_run_result_t;

/*  What DONE reports of a run beside its status (PROTOCOL.md: X and A).    */
typedef struct {
    uint32_t exit_value;        /* X: an exit status (128+N: signal N), an
                                   HTTP status, or 0                        */
    uint32_t retry_after_msec;  /* A: a transient failure's earliest retry,
                                   0 = no hint                              */
} braid_run_outcome_t;

/*  Ask the worker to poll fd for events (ZMQ_POLLIN, ZMQ_POLLOUT); when
    they come, the kind's ready hook gets what back. Returns 0, or -1 if
    the worker has no room for it this pass (it then wakes again soon).    */
typedef int(braid_fd_add_fn)(void *arg, int fd, short events, int what);

typedef struct {
    /*  The type in "NAME=TYPE:SETTINGS" and in "type = TYPE".              */
    const char *name;
    /*  Fresh partials of a running task wait this long before they are
        sent, unless more output comes (fresh()): a short run then ends
        within the wait and its partials leave in its DONE, one message
        instead of two. 0: never wait.                                      */
    uint32_t hold_msec;

    /*  Settings --------------------------------------------------------- */

    /*  New settings with the kind's defaults; NULL if out of memory.       */
    void *(*settings_new)(void);
    /*  NULL-safe; sets *settings_p to NULL.                                */
    void (*settings_destroy)(void **settings_p);
    /*  One setting: key (keylen bytes) = value (vallen bytes). 0, or -1
        with the reason in err (an unknown key, a bad value).               */
    int (*set)(void *settings, const char *key, size_t keylen, const char *value, size_t vallen,
               char *err, size_t errsize);
    /*  The SETTINGS of a -s spec (NULL when the spec has no ':'). NULL
        hook: SETTINGS is a list KEY=VALUE,KEY=VALUE,... given to set().
        0, or -1 with the reason in err.                                    */
    int (*flag)(void *settings, const char *text, char *err, size_t errsize);
    /*  After the last setting: is the source complete? NULL hook: always.
        0, or -1 with the reason in err; name is the source's.              */
    int (*check)(void *settings, const char *name, char *err, size_t errsize);
    /*  True when every partial of the settings' runs is one line of text,
        so a score and a dedup value can be read from it (keys.h: score =
        FIELD). NULL hook: never.                                           */
    bool (*lines)(const void *settings);

    /*  Context (optional) ------------------------------------------------ */

    /*  One per worker, before any run starts; slots is the worker's. NULL
        with the reason in err.                                             */
    void *(*open)(uint32_t slots, char *err, size_t errsize);
    /*  After the last run is destroyed. NULL-safe; sets *context_p NULL.   */
    void (*close)(void **context_p);
    /*  Add the context's own descriptors to this pass's poll set.          */
    void (*context_fds)(void *context, braid_fd_add_fn *add, void *arg);
    /*  One of them is ready (revents as zmq_poll reports them).            */
    void (*context_ready)(void *context, int what, short revents, int64_t now);
    /*  Once a pass, after the descriptors and after queued tasks started
        (a new run may have set a timer due at once): fire the context's
        timers.                                                             */
    void (*context_pump)(void *context, int64_t now);
    /*  When the context's next timer is due; INT64_MAX if none.            */
    int64_t (*context_wake)(void *context, int64_t now);

    /*  Runs -------------------------------------------------------------- */

    /*  Start a run of settings for the query (*query_p, consumed: the run
        keeps it as long as it needs it). attempt counts from 1; context
        is the kind's (NULL without one). BRAID_RUN_BUSY with the run in
        *run_p, or BRAID_RUN_FAILED / BRAID_RUN_TRANSIENT with *run_p NULL
        and the reason in text: the task ends so.                           */
    braid_run_result_t (*start)(void *context, const void *settings, zframe_t **query_p,
                                uint32_t attempt, int64_t now, void **run_p, char *text,
                                size_t textsize);
    /*  Stop it (if it still works), release everything. NULL-safe; sets
        *run_p to NULL.                                                     */
    void (*destroy)(void **run_p);
    /*  Add the run's descriptors to this pass's poll set. want_output:
        the task would take more output now; when false, poll nothing
        that brings output (that is the backpressure). NULL hook: none.    */
    void (*fds)(void *run, bool want_output, braid_fd_add_fn *add, void *arg);
    /*  One of them is ready.                                               */
    void (*ready)(void *run, int what, short revents, int64_t now);
    /*  Append at most max partials (max > 0) to out. Returns how many.     */
    size_t (*produce)(void *run, int64_t now, braid_parts_t *out, size_t max);
    /*  True when output arrived since the last call, or is read and not yet
        taken, that produce() will give: held partials need not wait for
        more. Called after each produce() that gave partials, so that their
        own output does not count. NULL hook: never.                        */
    bool (*fresh)(void *run);
    /*  Timers and state changes that need no descriptor; then how the run
        stands. room is how many partials the task would take now. After
        stop() said BRAID_RUN_BUSY: BRAID_RUN_BUSY until the run is gone,
        then BRAID_RUN_STOPPED. Otherwise BRAID_RUN_BUSY, or how it ended,
        with the reason (or "") in text.                                    */
    braid_run_result_t (*advance)(void *run, int64_t now, size_t room, char *text,
                                  size_t textsize);
    /*  Stop early (cancel, timeout, the worker stopping): BRAID_RUN_STOPPED
        if the run is over at once, BRAID_RUN_BUSY if advance() will say
        when. Nothing it makes after this is wanted.                        */
    braid_run_result_t (*stop)(void *run, int64_t now);
    /*  When advance() next needs calling without a descriptor being
        ready; INT64_MAX if only a descriptor can move the run. room as in
        advance().                                                          */
    int64_t (*wake)(void *run, int64_t now, size_t room);
    /*  Once the run is over (advance() said how, or stop() said STOPPED),
        before destroy: what DONE reports beside the status, into *outcome,
        which the caller zeroed. NULL hook: zeros.                          */
    void (*outcome)(void *run, braid_run_outcome_t *outcome);
} braid_source_kind_t;

/*  The kind with this type name (len bytes), or NULL.                      */
const braid_source_kind_t *
braid_source_kind_find(const char *name, size_t len);

/*  The type names for a message, "exec or synthetic", into buf.           */
void
braid_source_kind_names(char *buf, size_t size);

#endif
