/*  braid.h - libbraid, the braid client library.

    A client submits a request (queries x sources) to a broker, which runs
    it as a job, and iterates over the job's ordered stream of events:
    partials, one end per task, and the job end. The library never prints
    and never exits; calls return a named result (braid_reply_t,
    braid_next_t, braid_add_t), 0 / -1 (errno set), or an object / NULL;
    braid_client_error() says more.

        braid_request_t *request = braid_request_new ();
        braid_request_add_source (request, "web");
        braid_request_add_query (request, "cats", 4);
        braid_client_t *client = braid_client_new ();
        braid_client_add_endpoint (client, "tcp://127.0.0.1:5555");
        if (braid_client_submit (client, &request) == BRAID_REPLY_OK) {
            braid_event_t ev;
            while (braid_client_next (client, &ev, -1) == BRAID_NEXT_EVENT)
                ...;
        }
        braid_client_destroy (&client);

    This header stands alone: it needs no ZeroMQ, czmq or msgpack headers.
    The library is libbraid.so.0; only the functions below are exported.

    Interruption: waits return BRAID_REPLY_INTERRUPTED or
    BRAID_NEXT_INTERRUPTED (errno EINTR) when a signal interrupts them or
    when czmq's zsys_interrupted is set, so the caller can cancel. The
    library installs no signal handler of its own (czmq's may: see
    zsys_handler_set).
*/

#ifndef BRAID_H_INCLUDED
#define BRAID_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  What libbraid exports; everything else in it is hidden.                 */
#if defined(__GNUC__)
#define BRAID_EXPORT __attribute__((visibility("default")))
#else
#define BRAID_EXPORT
#endif

#define BRAID_CLIENT_WINDOW 4096            /* default credit window, messages */
#define BRAID_CLIENT_CONNECT_TIMEOUT 5000   /* default msec to wait for ACCEPT */
#define BRAID_CLIENT_HEARTBEAT 1000         /* default msec between PINGs      */
#define BRAID_CLIENT_IDLE_TIMEOUT 10000     /* default msec of broker silence  */
#define BRAID_CLIENT_MAX_FAILOVERS 8        /* brokers lost per job, at most   */

typedef struct _braid_request_t braid_request_t;
typedef struct _braid_client_t braid_client_t;

/*  How the job's partials are ordered (the wire's order field).            */
typedef enum {
    BRAID_ORDERING_SUBMIT = 0,  /* exactly what a sequential run prints:
                                   query 0's sources in the order asked,
                                   each in seq order, then query 1, ...     */
    BRAID_ORDERING_ARRIVAL = 1, /* as they arrive, seq order per task       */
    BRAID_ORDERING_KEY = 2      /* queries in order, each query's sources
                                   merged by score (every source must have
                                   one: its workers' score setting); a
                                   partial whose dedup value was sent for
                                   the query is dropped and counted in its
                                   END's duplicates                         */
} braid_ordering_t;

/*  How a task ended (END), or a job (JOB_END: OK, FAILED when some task
    did not end ok, CANCELLED). The values are the wire's.                  */
typedef enum {
    BRAID_END_OK = 0,
    BRAID_END_FAILED = 1,
    BRAID_END_TIMEOUT = 2,
    BRAID_END_CANCELLED = 3
} braid_end_status_t;
#define BRAID_END_STATUS_COUNT 4

/*  Why a job failed (BRAID_EVENT_ERROR): the broker's codes (below 1000,
    PROTOCOL.md) or the library's own (1000 and up).                        */
typedef enum {
    BRAID_CLIENT_ERR_BAD_REQUEST = 400, /* broker: malformed or out of bounds */
    BRAID_CLIENT_ERR_UNKNOWN_JOB = 404, /* broker: job not open for us        */
    BRAID_CLIENT_ERR_CONFLICT = 409,    /* broker: job id reused              */
    BRAID_CLIENT_ERR_TOO_MANY = 429,    /* broker: too many open jobs         */
    BRAID_CLIENT_ERR_UNAVAILABLE = 503, /* broker: stopping                   */
    BRAID_CLIENT_ERR_FULL = 507,        /* broker: at a global cap (jobs, tasks,
                                           buffered bytes)                    */
    BRAID_CLIENT_ERR_GAP = 1001,        /* out_seq gap: a message lost        */
    BRAID_CLIENT_ERR_LOST = 1002,       /* broker silent past idle timeout    */
    BRAID_CLIENT_ERR_PROTOCOL = 1003    /* broker broke the job rules         */
} braid_client_err_t;

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
    const char *source_name;    /* PARTIAL, END, RESTART: its name; else "" */
    const void *query_data;     /* PARTIAL, END, RESTART: the query's bytes */
    size_t query_size;          /* PARTIAL, END, RESTART: their length      */
    uint64_t seq;               /* PARTIAL: seq of this partial in its task */
    const void *data;           /* PARTIAL: payload bytes                   */
    size_t size;                /* PARTIAL: payload length                  */
    braid_end_status_t status;  /* END: the task's; JOB_END: the job's      */
    uint64_t parts;             /* END: partials the task produced          */
    uint64_t duplicates;        /* END: of them, dropped as duplicates (order
                                   key): their seqs never came              */
    uint32_t attempts;          /* END: attempts made; RESTART: the attempt
                                   that starts again                        */
    const char *worker;         /* END: the worker that ran its last
                                   attempt, "" if none did; else ""         */
    uint64_t started_msec;      /* END: when that attempt was dispatched,
                                   msec since the Unix epoch; 0 = never ran */
    uint64_t queue_msec;        /* END: from the job's acceptance to that
                                   dispatch                                 */
    uint64_t run_msec;          /* END: how long that attempt ran           */
    uint32_t exit_value;        /* END: a command's exit status (128+N when
                                   signal N ended it), an HTTP status, or 0 */
    braid_client_err_t code;    /* ERROR: why                               */
    const char *text;           /* END, ERROR: error text; else ""          */
    uint32_t nsources;          /* JOB_END: the job's sources               */
    const char *const *source_names;
                                /* JOB_END: their names, in request order   */
    const uint64_t (*summary)[BRAID_END_STATUS_COUNT];
                                /* JOB_END: per source, tasks ended
                                   [ok, failed, timeout, cancelled]         */
} braid_event_t;

/*  What adding to a request came to. errno is set as well (in brackets).   */
typedef enum {
    BRAID_ADD_OK = 0,
    BRAID_ADD_INVALID,          /* not a valid source name [EINVAL]          */
    BRAID_ADD_DUPLICATE,        /* the source is in the request [EEXIST]     */
    BRAID_ADD_TOO_MANY,         /* over the protocol's count [E2BIG]         */
    BRAID_ADD_TOO_LONG,         /* a query over the protocol's length
                                   [EMSGSIZE]                                */
    BRAID_ADD_NO_MEMORY         /* [ENOMEM]                                  */
} braid_add_t;

/*  What asking the brokers came to (submit, stats).                        */
typedef enum {
    BRAID_REPLY_OK = 0,         /* an endpoint answered                      */
    BRAID_REPLY_UNAVAILABLE,    /* none did: every endpoint timed out
                                   [ETIMEDOUT] or could not be connected
                                   [EINVAL]; errno is the last one's,
                                   braid_client_error() lists each           */
    BRAID_REPLY_INVALID,        /* nothing to ask: no request, source, query
                                   or endpoint [EINVAL]                      */
    BRAID_REPLY_INTERRUPTED,    /* [EINTR]                                   */
    BRAID_REPLY_FAILED,         /* a local failure (memory, randomness)      */
    BRAID_REPLY_REFUSED         /* submit: no endpoint accepted and at least
                                   one answered ERROR [ECONNREFUSED]:
                                   braid_client_error() is its answer,
                                   "ENDPOINT: CODE TEXT" (each refusal, in
                                   the order tried, joined by "; ")          */
} braid_reply_t;

/*  What braid_client_next() came to.                                       */
typedef enum {
    BRAID_NEXT_EVENT = 0,       /* *event filled                             */
    BRAID_NEXT_OVER,            /* the job's last event (JOB_END or ERROR)
                                   was returned before                       */
    BRAID_NEXT_TIMEOUT,         /* nothing within timeout_msec [EAGAIN]      */
    BRAID_NEXT_INTERRUPTED,     /* [EINTR]                                   */
    BRAID_NEXT_FAILED           /* no job open [EINVAL], or the socket
                                   failed (braid_client_error() says how)    */
} braid_next_t;

/*  ---------------------------------------------------------------------
    braid_request_t: what to ask. Built by the caller, consumed by submit. */

/*  New empty request: order submit, no in-flight limit, no task timeout.   */
BRAID_EXPORT braid_request_t *
braid_request_new(void);
/*  New empty request with the options of other (order, in-flight limit,
    timeout, deadline, retries, fail-fast): no source, no query. NULL on
    allocation failure.                                                     */
BRAID_EXPORT braid_request_t *
braid_request_new_like(const braid_request_t *other);
/*  Destroy a request; NULL-safe, sets *self_p to NULL.                     */
BRAID_EXPORT void
braid_request_destroy(braid_request_t **self_p);
/*  Add a source (order kept): BRAID_ADD_OK, _INVALID, _DUPLICATE or
    _TOO_MANY.                                                              */
BRAID_EXPORT braid_add_t
braid_request_add_source(braid_request_t *self, const char *name);
/*  Add a query of size bytes (copied): BRAID_ADD_OK, _TOO_LONG, _TOO_MANY
    or _NO_MEMORY.                                                          */
BRAID_EXPORT braid_add_t
braid_request_add_query(braid_request_t *self, const void *data, size_t size);
/*  BRAID_ORDERING_SUBMIT, _ARRIVAL or _KEY; -1 EINVAL otherwise.          */
BRAID_EXPORT int
braid_request_set_order(braid_request_t *self, braid_ordering_t order);
/*  At most max_inflight tasks of the job run at once (0 = no limit);
    -1 EINVAL over the protocol's bound.                                    */
BRAID_EXPORT int
braid_request_set_max_inflight(braid_request_t *self, uint32_t max_inflight);
/*  Per-task timeout in msec (0 = none); -1 EINVAL over 7 days.             */
BRAID_EXPORT int
braid_request_set_timeout(braid_request_t *self, uint32_t timeout_msec);
/*  Job deadline in msec, counted from ACCEPT (0 = none): when it passes,
    every task not yet ended ends timeout. -1 EINVAL over 7 days.           */
BRAID_EXPORT int
braid_request_set_deadline(braid_request_t *self, uint32_t deadline_msec);
/*  Retry limit for this job's tasks, overriding the sources' policies; a
    negative value goes back to the sources' limits. -1 EINVAL over the
    protocol's bound.                                                       */
BRAID_EXPORT int
braid_request_set_retries(braid_request_t *self, int retries);
/*  Fail fast: the broker stops the job at the first task that fails.       */
BRAID_EXPORT void
braid_request_set_fail_fast(braid_request_t *self, bool on);
/*  Number of queries / sources added so far.                               */
BRAID_EXPORT size_t
braid_request_query_count(const braid_request_t *self);
BRAID_EXPORT size_t
braid_request_source_count(const braid_request_t *self);
/*  The source name at index (borrowed; NULL if out of range).              */
BRAID_EXPORT const char *
braid_request_source(const braid_request_t *self, size_t index);
/*  The query at index (borrowed; "" for an empty one; NULL if out of
    range), its length in *size_p if size_p is not NULL.                    */
BRAID_EXPORT const void *
braid_request_query(const braid_request_t *self, size_t index, size_t *size_p);

/*  ---------------------------------------------------------------------
    braid_client_t: one connection to a broker, kept across its jobs, one
    job at a time.                                                         */

/*  New client with no endpoints and the default settings.                  */
BRAID_EXPORT braid_client_t *
braid_client_new(void);
/*  Destroy a client; NULL-safe, sets *self_p to NULL. An open job is not
    cancelled: call braid_client_cancel() and drain it first (the broker
    also cancels the jobs of a client that goes silent).                    */
BRAID_EXPORT void
braid_client_destroy(braid_client_t **self_p);
/*  Add a broker frontend endpoint; submit tries them in the order added.
    0, or -1 with EINVAL (empty) or ENOMEM.                                 */
BRAID_EXPORT int
braid_client_add_endpoint(braid_client_t *self, const char *endpoint);
/*  How long submit waits for each endpoint to ACCEPT (msec, > 0).          */
BRAID_EXPORT void
braid_client_set_connect_timeout(braid_client_t *self, int timeout_msec);
/*  Credit window in messages (1..1,000,000): the broker may run at most
    this far ahead of what the caller has consumed.                         */
BRAID_EXPORT void
braid_client_set_window(braid_client_t *self, uint32_t window);
/*  PING every interval_msec; the broker is lost when nothing arrives for
    idle_timeout_msec (both > 0).                                           */
BRAID_EXPORT void
braid_client_set_heartbeat(braid_client_t *self, int interval_msec, int idle_timeout_msec);
/*  Speak CURVE to the brokers: key_path is this client's keypair (the
    NAME_secret file `braid keygen NAME` wrote), broker_key_path the
    broker's public certificate. Both NULL: no CURVE. 0, or -1 with the
    reason in err (errsize bytes) and errno EINVAL.                         */
BRAID_EXPORT int
braid_client_set_curve(braid_client_t *self, const char *key_path, const char *broker_key_path,
                       char *err, size_t errsize);

/*  Submit a request; consumes *request_p (also on failure). Tries each
    endpoint in turn: SUBMIT (with the queries, when they fit in one
    message), wait up to the connect timeout for ACCEPT. The connection of
    the previous job is reused for the same endpoint when that job ended
    cleanly (its last event returned, no stream failure); otherwise a fresh
    DEALER is opened. BRAID_REPLY_OK when one accepted; on
    BRAID_REPLY_INTERRUPTED a CANCEL has been sent to the endpoint being
    tried, as it may have accepted.                                        */
BRAID_EXPORT braid_reply_t
braid_client_submit(braid_client_t *self, braid_request_t **request_p);

/*  Next event of the job, waiting at most timeout_msec (-1: until an event
    comes or the broker is lost; 0: only what is already there). Sends the
    queries, credit, pings and a pending cancel while it waits.
    Failover: a broker that says nothing for the idle timeout (PINGs are
    answered, so a busy broker is not silent) or that no longer knows the
    job (it restarted) is lost: the job is submitted again, same id, to the
    next endpoints in turn (the lost one last: it may be back), each waited
    for up to the connect timeout, telling the broker what the caller has
    (the tasks whose END it got; the partials of the task in progress), and
    the stream goes on: no event is handed out twice, none is missed
    (sources assumed deterministic). At most BRAID_CLIENT_MAX_FAILOVERS
    per job; braid_client_failovers() counts them. The JOB_END of a job
    that failed over carries the summary of every END handed out.
    Losing the stream (an out_seq gap, no broker left, a broken job rule)
    is reported as one BRAID_EVENT_ERROR with a library code, after which
    the library has sent CANCEL and the stream is over.                     */
BRAID_EXPORT braid_next_t
braid_client_next(braid_client_t *self, braid_event_t *event, int timeout_msec);

/*  Cancel the job: stop sending queries, send CANCEL. Keep calling
    braid_client_next() (with a deadline) to receive the ENDs and the
    JOB_END (status cancelled) that follow. 0, or -1 EINVAL if no job was
    submitted.                                                              */
BRAID_EXPORT int
braid_client_cancel(braid_client_t *self);

/*  Ask the broker for its stats (STATS -> STATS_REPLY), trying each
    endpoint in turn with a fresh socket and waiting up to the connect
    timeout for each. Independent of any open job. On BRAID_REPLY_OK
    *json_p is the JSON text (owned, NUL-terminated), its length in *len_p
    if len_p is not NULL; otherwise *json_p is NULL.                       */
BRAID_EXPORT braid_reply_t
braid_client_stats(braid_client_t *self, char **json_p, size_t *len_p);

/*  The submitted request's query at index (borrowed; NULL if out of range).*/
BRAID_EXPORT const void *
braid_client_query(braid_client_t *self, uint32_t index, size_t *size);
/*  The submitted request's source name at index (borrowed; NULL if none).  */
BRAID_EXPORT const char *
braid_client_source(braid_client_t *self, uint32_t index);
/*  Number of queries / sources of the submitted request.                   */
BRAID_EXPORT uint32_t
braid_client_query_count(braid_client_t *self);
BRAID_EXPORT uint32_t
braid_client_source_count(braid_client_t *self);
/*  The endpoint that accepted the job (borrowed; NULL before).             */
BRAID_EXPORT const char *
braid_client_endpoint(braid_client_t *self);
/*  How many times the open job lost its broker and was resumed on
    another (or the same one, restarted): see braid_client_next().         */
BRAID_EXPORT uint32_t
braid_client_failovers(braid_client_t *self);
/*  The job id (16 bytes, borrowed).                                        */
BRAID_EXPORT const uint8_t *
braid_client_job_id(braid_client_t *self);
/*  Why the last call failed (borrowed; "" if nothing failed).              */
BRAID_EXPORT const char *
braid_client_error(braid_client_t *self);
/*  Messages received and dropped as malformed or foreign so far.           */
BRAID_EXPORT uint64_t
braid_client_dropped(braid_client_t *self);

/*  "ok", "failed", "timeout", "cancelled"; "unknown" for another value.  */
BRAID_EXPORT const char *
braid_end_status_name(braid_end_status_t status);

/*  Library version, "MAJOR.MINOR.PATCH".                                   */
BRAID_EXPORT const char *
braid_version(void);

#ifdef __cplusplus
}
#endif

#endif
