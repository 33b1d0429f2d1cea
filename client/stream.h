/*  stream.h - braid_stream_t: one job's stream inside libbraid. No I/O.

    It turns what the broker sends for the job into the events that
    braid_client_next() hands out, in order, and keeps the client's side of
    flow control. The caller receives a message, puts it here, takes the
    events it gave, and only then receives again: events point into the
    message and its frames, which the caller keeps until the next put.

    Order: the partials a message carries (a PARTIAL's, or the last ones of
    a task riding on its END), then the END, JOB_END, RESTART or ERROR that
    the message is. Every message carries an out_seq: one already seen is
    dropped, a gap breaks the stream. A broken stream (a gap, a rule of the
    job broken, a broker gone silent) ends with one ERROR event.

    Credit: the SUBMIT grants out_seq < braid_stream_granted(); each message
    put counts as consumed, and when half the window is consumed a new
    grant is due (consumed + window). The window shrinks so that what the
    broker may send ahead stays near 16 MiB, judged by the average size of
    the messages so far; the first grant is small until that is known.
    Credit is absolute, so a grant may be repeated at will.
*/

#ifndef BRAID_STREAM_H_INCLUDED
#define BRAID_STREAM_H_INCLUDED

#include "braid.h"
#include "braid_msg.h"
#include "ledger.h"

typedef struct _braid_stream_t braid_stream_t;

/*  What a message put came to.                                             */
typedef enum {
    BRAID_STREAM_DROPPED = 0,   /* nothing for this job: a PONG, another
                                   job's leftovers, a duplicate, a repeated
                                   ACCEPT (counted, but PONG)               */
    BRAID_STREAM_EVENTS,        /* events to take                           */
    BRAID_STREAM_BROKEN         /* the stream broke: its ERROR event is to
                                   take; the broker must be sent CANCEL     */
} braid_stream_put_t;

/*  A stream for the job id (16 bytes) of request (borrowed; it must
    outlive the stream), with a credit window of window messages (>= 1).
    NULL on allocation failure.                                             */
braid_stream_t *
braid_stream_new(const braid_request_t *request, const uint8_t *job_id, uint32_t window);

/*  Hand out only what ledger (borrowed; it must outlive the stream) says
    is new, and record it there: a partial below the seq handed out for its
    task and an END of a task that ended are dropped (counted). resumed:
    the job ran on another broker before, so JOB_END carries the ledger's
    summary and status instead of the broker's, which counts only its own. */
void
braid_stream_set_ledger(braid_stream_t *self, braid_ledger_t *ledger, bool resumed);

/*  Destroy a stream; NULL-safe, sets *self_p to NULL.                      */
void
braid_stream_destroy(braid_stream_t **self_p);

/*  Put a message decoded from the broker, with its payload frames
    (borrowed until the next put). Call only when no event is left to take.*/
braid_stream_put_t
braid_stream_put(braid_stream_t *self, const braid_msg_t *msg, zmq_msg_t *frames, size_t nframes);

/*  Take the next event, if there is one: true with *ev filled. After the
    last event (JOB_END or ERROR) the stream is finished.                   */
bool
braid_stream_take(braid_stream_t *self, braid_event_t *ev);

/*  True once the last event has been taken.                                */
bool
braid_stream_finished(braid_stream_t *self);

/*  Break the stream from outside (the broker went silent): code is a
    library code, text says why. Its ERROR event is the next to take.
    Ignored once the stream is finished or broken.                          */
void
braid_stream_fail(braid_stream_t *self, braid_client_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*  Why the stream broke ("" if it did not).                                */
const char *
braid_stream_error(braid_stream_t *self);

/*  The credit limit granted so far: the broker may send out_seq below it. */
uint64_t
braid_stream_granted(braid_stream_t *self);

/*  True if a CREDIT carrying braid_stream_granted() is due.                */
bool
braid_stream_credit_due(braid_stream_t *self);

/*  The CREDIT went out: nothing is due until more is consumed.             */
void
braid_stream_credit_sent(braid_stream_t *self);

/*  Make a CREDIT due again (a quiet stream may be a lost grant).           */
void
braid_stream_repeat_credit(braid_stream_t *self);

/*  Messages dropped as foreign, duplicate or out of place.                 */
uint64_t
braid_stream_dropped(braid_stream_t *self);

#endif
