/*  braid.h - libbraid, the braid client library.

    A client submits a job (queries x sources) to a broker and iterates over
    the job's ordered stream of events: partials, one end per task, and the
    job end. The library never prints and never exits; every call returns
    0 / -1 (errno set, braid_client_error() says more) or an object / NULL.

        braid_job_t *job = braid_job_new ();
        braid_job_add_source (job, "web");
        braid_job_add_query (job, "cats", 4);
        braid_client_t *client = braid_client_new ();
        braid_client_add_endpoint (client, "tcp://127.0.0.1:5555");
        if (braid_client_submit (client, &job) == 0) {
            braid_event_t ev;
            while (braid_client_next (client, &ev, -1) == 1)
                ...;
        }
        braid_client_destroy (&client);

    Interruption: waits return -1 with errno EINTR when a signal interrupts
    them or when czmq's zsys_interrupted is set, so the caller can cancel.
    The library installs no signal handler.
*/

#ifndef BRAID_H_INCLUDED
#define BRAID_H_INCLUDED

#include "braid_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRAID_CLIENT_WINDOW 4096            /* default credit window, messages */
#define BRAID_CLIENT_CONNECT_TIMEOUT 5000   /* default msec to wait for ACCEPT */
#define BRAID_CLIENT_HEARTBEAT 1000         /* default msec between PINGs      */
#define BRAID_CLIENT_IDLE_TIMEOUT 10000     /* default msec of broker silence  */

/*  Local error codes carried by BRAID_EVENT_ERROR; the broker's own codes
    are 0..999 (braid_err_code_t).                                          */
#define BRAID_CLIENT_ERR_GAP 1001           /* out_seq gap: a message lost     */
#define BRAID_CLIENT_ERR_LOST 1002          /* broker silent past idle timeout */
#define BRAID_CLIENT_ERR_PROTOCOL 1003      /* broker broke the job rules      */

typedef struct _braid_job_t braid_job_t;
typedef struct _braid_client_t braid_client_t;

typedef enum {
    BRAID_EVENT_PARTIAL = 1,    /* one partial of a task                     */
    BRAID_EVENT_END,            /* a task ended (exactly one per task)       */
    BRAID_EVENT_JOB_END,        /* the job ended: always the last event      */
    BRAID_EVENT_ERROR,          /* the job failed: the last event            */
    BRAID_EVENT_RESTART         /* a task starts again from seq 0 (its source's
                                   on_retry = restart): the partials that
                                   follow for (query, source) replace the ones
                                   already delivered; attempts = new attempt */
} braid_event_type_t;

/*  One event of the stream. Pointers are borrowed from the client and stay
    valid until the next braid_client_next() or braid_client_destroy().     */
typedef struct {
    braid_event_type_t type;
    uint32_t query;             /* PARTIAL, END, RESTART: query index       */
    uint32_t source;            /* PARTIAL, END, RESTART: source index      */
    const char *source_name;    /* PARTIAL, END, RESTART: its name          */
    uint64_t seq;               /* PARTIAL: seq of this partial in its task */
    const void *data;           /* PARTIAL: payload bytes                   */
    size_t size;                /* PARTIAL: payload length                  */
    int status;                 /* END: braid_status_t; JOB_END: 0 ok,
                                   1 some task not ok, 3 cancelled          */
    uint64_t parts;             /* END: partials the task produced          */
    uint32_t attempts;          /* END: attempts made; RESTART: the attempt
                                   that starts again                        */
    int code;                   /* ERROR: broker code (400, 404, 409, 429,
                                   503) or BRAID_CLIENT_ERR_*               */
    const char *text;           /* END, ERROR: error text ("" if none)      */
    uint32_t nsources;          /* JOB_END: rows in summary                 */
    const uint64_t (*summary)[BRAID_STATUS_COUNT];
                                /* JOB_END: per source, in job order, tasks
                                   ended [ok, failed, timeout, cancelled]   */
} braid_event_t;

/*  ---------------------------------------------------------------------
    braid_job_t: what to ask. Built by the caller, consumed by submit.      */

/*  New empty job: order submit, no in-flight limit, no task timeout.       */
braid_job_t *
braid_job_new(void);
/*  Destroy a job; NULL-safe, sets *self_p to NULL.                         */
void
braid_job_destroy(braid_job_t **self_p);
/*  Add a source (order kept). -1 with EINVAL (not a valid name), EEXIST
    (already in the job) or E2BIG (more than BRAID_MAX_SOURCES).            */
int
braid_job_add_source(braid_job_t *self, const char *name);
/*  Add a query of size bytes (copied). -1 with EMSGSIZE (over
    BRAID_MAX_QUERY_LEN), E2BIG (more than BRAID_MAX_QUERIES) or ENOMEM.    */
int
braid_job_add_query(braid_job_t *self, const void *data, size_t size);
/*  BRAID_ORDER_SUBMIT or BRAID_ORDER_ARRIVAL; -1 EINVAL otherwise.         */
int
braid_job_set_order(braid_job_t *self, braid_order_t order);
/*  At most max_inflight tasks of the job run at once (0 = no limit);
    -1 EINVAL over BRAID_MAX_INFLIGHT.                                      */
int
braid_job_set_max_inflight(braid_job_t *self, uint32_t max_inflight);
/*  Per-task timeout in msec (0 = none); -1 EINVAL over 7 days.             */
int
braid_job_set_timeout(braid_job_t *self, uint32_t timeout_msec);
/*  Job deadline in msec, counted from ACCEPT (0 = none): when it passes,
    every task not yet ended ends timeout. -1 EINVAL over 7 days.           */
int
braid_job_set_deadline(braid_job_t *self, uint32_t deadline_msec);
/*  Retry limit for this job's tasks, overriding the sources' policies
    (SUBMIT y with flag BRAID_FLAG_RETRIES); a negative value goes back to
    the sources' limits. -1 EINVAL over BRAID_MAX_RETRIES.                  */
int
braid_job_set_retries(braid_job_t *self, int retries);
/*  Fail fast: the broker stops the job at the first task that fails.       */
void
braid_job_set_fail_fast(braid_job_t *self, bool on);
/*  Number of queries / sources added so far.                               */
size_t
braid_job_query_count(const braid_job_t *self);
size_t
braid_job_source_count(const braid_job_t *self);
/*  The source name at index (borrowed; NULL if out of range).              */
const char *
braid_job_source(const braid_job_t *self, size_t index);

/*  ---------------------------------------------------------------------
    braid_client_t: one connection to a broker, kept across its jobs, one
    job at a time.                                                         */

/*  New client with no endpoints and the default settings.                  */
braid_client_t *
braid_client_new(void);
/*  Destroy a client; NULL-safe, sets *self_p to NULL. An open job is not
    cancelled: call braid_client_cancel() and drain it first (the broker
    also cancels the jobs of a client that goes silent).                    */
void
braid_client_destroy(braid_client_t **self_p);
/*  Add a broker frontend endpoint; submit tries them in the order added.   */
int
braid_client_add_endpoint(braid_client_t *self, const char *endpoint);
/*  How long submit waits for each endpoint to ACCEPT (msec, > 0).          */
void
braid_client_set_connect_timeout(braid_client_t *self, int timeout_msec);
/*  Credit window in messages (1..1,000,000): the broker may run at most
    this far ahead of what the caller has consumed.                         */
void
braid_client_set_window(braid_client_t *self, uint32_t window);
/*  PING every interval_msec; the broker is lost when nothing arrives for
    idle_timeout_msec (both > 0).                                           */
void
braid_client_set_heartbeat(braid_client_t *self, int interval_msec, int idle_timeout_msec);

/*  Submit a job; consumes *job_p (also on failure). Tries each endpoint in
    turn: SUBMIT (with the queries, when they fit in one message), wait up
    to the connect timeout for ACCEPT. The connection of the previous job is
    reused for the same endpoint when that job ended cleanly (its last event
    returned, no stream failure); otherwise a fresh DEALER is opened.
    Returns 0 when one accepted, else -1 with errno ETIMEDOUT (no answer),
    ECONNREFUSED (every answer was an ERROR), EINVAL (no endpoint, no
    source or no query), EINTR (interrupted; a CANCEL is sent to the
    endpoint being tried, as it may have accepted).                        */
int
braid_client_submit(braid_client_t *self, braid_job_t **job_p);

/*  Next event of the job, waiting at most timeout_msec (-1: until an event
    comes or the broker is lost; 0: only what is already there). Sends the
    queries, credit, pings and a pending cancel while it waits.
    Returns 1 with *event filled, 0 once the job's last event (JOB_END or
    ERROR) has been returned, -1 with errno: EAGAIN (timeout), EINTR
    (interrupted), EINVAL (no job). Losing the stream (an out_seq gap, a
    broker that went silent, a broken job rule) is reported as one
    BRAID_EVENT_ERROR with a BRAID_CLIENT_ERR_* code, after which the
    library has sent CANCEL and the stream is over.                         */
int
braid_client_next(braid_client_t *self, braid_event_t *event, int timeout_msec);

/*  Cancel the job: stop sending queries, send CANCEL. Keep calling
    braid_client_next() (with a deadline) to receive the ENDs and the
    JOB_END (status 3) that follow. 0, or -1 EINVAL if no job is open.      */
int
braid_client_cancel(braid_client_t *self);

/*  Ask the broker for its stats (STATS -> STATS_REPLY), trying each
    endpoint in turn with a fresh socket and waiting up to the connect
    timeout for each. Independent of any open job. Returns the JSON text
    (owned, NUL-terminated, length in *len_p if not NULL), or NULL with
    errno ETIMEDOUT (no answer), EINVAL (no endpoint) or EINTR.             */
char *
braid_client_stats(braid_client_t *self, size_t *len_p);

/*  The submitted job's query index (borrowed; NULL if out of range).       */
const void *
braid_client_query(braid_client_t *self, uint32_t index, size_t *size);
/*  The submitted job's source name at index (borrowed; NULL if none).      */
const char *
braid_client_source(braid_client_t *self, uint32_t index);
/*  Number of queries / sources of the submitted job.                       */
uint32_t
braid_client_query_count(braid_client_t *self);
uint32_t
braid_client_source_count(braid_client_t *self);
/*  The endpoint that accepted the job (borrowed; NULL before).             */
const char *
braid_client_endpoint(braid_client_t *self);
/*  The job id (16 bytes, borrowed).                                        */
const uint8_t *
braid_client_job_id(braid_client_t *self);
/*  Why the last call failed (borrowed; "" if nothing failed).              */
const char *
braid_client_error(braid_client_t *self);
/*  Messages received and dropped as malformed or foreign so far.           */
uint64_t
braid_client_dropped(braid_client_t *self);

/*  Library version, "MAJOR.MINOR.PATCH".                                   */
const char *
braid_version(void);

#ifdef __cplusplus
}
#endif

#endif
