/*  client.c - braid_client_t, the face of libbraid (see braid.h).

    One DEALER (braid_conn_t) per broker connection, kept across jobs.
    submit() tries each endpoint in turn; the connection of the previous
    job is reused when it is for the same endpoint and that job ended
    cleanly (its last event was returned and nothing went wrong on the
    stream), so a client that runs many small jobs pays the TCP connect
    and ZMTP handshake once. Moving to another endpoint, or any stream
    failure, takes a fresh connection (a fresh routing id), so nothing
    queued for a dead broker ever reaches the next one. Every message
    carries its job id: whatever the old job leaves behind on a reused
    connection is dropped as foreign.

    A job whose queries fit in one QUERIES message sends them right behind
    the SUBMIT, without waiting for ACCEPT (the broker reads them in order
    on the same pipe), so a small job costs one round trip, not two.

    Once a broker accepts, next() is the only place that does I/O: each call
    first hands out what the stream (braid_stream_t) still holds, then
    loops:

      - sending, non-blocking and at most S_SEND_BURST messages per turn:
        a pending CANCEL, a due CREDIT, the next QUERIES batch, a PING;
      - receiving one message (non-blocking first: a queued message costs
        no poll) and putting it into the stream; waiting in zmq_poll only
        when nothing is queued.

    so a job of millions of queries never blocks on a send while the broker
    waits for us to read. Credit is absolute, so it is also resent whenever
    the stream has been quiet for a heartbeat (a lost grant is repaired by
    the next one).
*/

#include "braid.h"
#include "braid_curve.h"
#include "client_impl.h"
#include "conn.h"
#include "request.h"
#include "stream.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#ifndef BRAID_VERSION
#define BRAID_VERSION "0.1.0"
#endif

#define S_SEND_BURST 16         /* messages sent per turn before polling    */
#define S_CANCEL_LINGER 200     /* msec to flush a CANCEL on close          */
#define S_MAX_WINDOW 1000000

_Static_assert(BRAID_CLIENT_ERR_BAD_REQUEST == (int) BRAID_ERR_CODE_BAD_REQUEST &&
                   BRAID_CLIENT_ERR_UNKNOWN_JOB == (int) BRAID_ERR_CODE_UNKNOWN_JOB &&
                   BRAID_CLIENT_ERR_CONFLICT == (int) BRAID_ERR_CODE_CONFLICT &&
                   BRAID_CLIENT_ERR_TOO_MANY == (int) BRAID_ERR_CODE_TOO_MANY &&
                   BRAID_CLIENT_ERR_UNAVAILABLE == (int) BRAID_ERR_CODE_UNAVAILABLE &&
                   BRAID_CLIENT_ERR_FULL == (int) BRAID_ERR_CODE_FULL,
               "the broker's error codes");


/*  How waiting for ACCEPT ended.                                           */
typedef enum {
    S_ACCEPTED = 0,
    S_NO_ANSWER,                /* nothing in time, or the socket failed    */
    S_REFUSED,                  /* the broker answered ERROR                */
    S_INTERRUPTED,
    S_UNREACHABLE,              /* cannot connect (errno EINVAL or ENOMEM)  */
    S_FAILED                    /* out of memory (error text set)           */
} s_accept_t;

void
braid_client_set_error_text(braid_client_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
}

void
braid_client_add_error_text(braid_client_t *self, const char *fmt, ...)
{
    size_t len = strlen(self->error);
    if (len && len + 2 < sizeof self->error) {
        strcpy(self->error + len, "; ");
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error + len, sizeof self->error - len, fmt, ap);
    va_end(ap);
}

/*  True once czmq's signal handler (or the caller) set zsys_interrupted.   */
bool
braid_client_interrupted(void)
{
    return zsys_interrupted != 0;
}

braid_client_t *
braid_client_new(void)
{
    braid_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->connect_timeout_msec = BRAID_CLIENT_CONNECT_TIMEOUT;
    self->heartbeat_msec = BRAID_CLIENT_HEARTBEAT;
    self->idle_timeout_msec = BRAID_CLIENT_IDLE_TIMEOUT;
    self->window = BRAID_CLIENT_WINDOW;
    return self;
}

/*  Drop the job's stream state (not the connection); keep the request for
    the accessors.                                                          */
static void
s_reset_stream(braid_client_t *self)
{
    if (self->stream)
        self->dropped += braid_stream_dropped(self->stream);
    braid_stream_destroy(&self->stream);
    self->endpoint = NULL;
    self->open = false;
    self->cancel_wanted = false;
    self->cancel_sent = false;
    self->pipelined = false;
    self->resubmitted = false;
    self->next_query = 0;
}

/*  Close the connection (a CANCEL just sent gets a moment to leave).       */
static void
s_close_conn(braid_client_t *self)
{
    if (self->conn && self->cancel_sent)
        braid_conn_set_linger(self->conn, S_CANCEL_LINGER);
    braid_conn_destroy(&self->conn);
}

void
braid_client_destroy(braid_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_client_t *self = *self_p;
    s_close_conn(self);
    s_reset_stream(self);
    braid_ledger_destroy(&self->ledger);
    free(self->resume_frame);
    braid_request_destroy(&self->request);
    zcert_destroy(&self->key);
    zcert_destroy(&self->broker_key);
    for (size_t i = 0; i < self->nendpoints; i++)
        free(self->endpoints[i]);
    free(self->endpoints);
    free(self);
    *self_p = NULL;
}

int
braid_client_add_endpoint(braid_client_t *self, const char *endpoint)
{
    if (!endpoint || !*endpoint) {
        errno = EINVAL;
        return -1;
    }
    char **endpoints = realloc(self->endpoints, (self->nendpoints + 1) * sizeof *endpoints);
    if (!endpoints) {
        errno = ENOMEM;
        return -1;
    }
    self->endpoints = endpoints;
    if (!(endpoints[self->nendpoints] = strdup(endpoint))) {
        errno = ENOMEM;
        return -1;
    }
    self->nendpoints++;
    return 0;
}

void
braid_client_set_connect_timeout(braid_client_t *self, int timeout_msec)
{
    if (timeout_msec > 0)
        self->connect_timeout_msec = timeout_msec;
}

void
braid_client_set_window(braid_client_t *self, uint32_t window)
{
    if (window >= 1 && window <= S_MAX_WINDOW)
        self->window = window;
}

int
braid_client_set_curve(braid_client_t *self, const char *key_path, const char *broker_key_path,
                       char *err, size_t errsize)
{
    zcert_t *key, *broker_key;
    if (braid_curve_load_pair(key_path, broker_key_path, &key, &broker_key, err, errsize) != 0) {
        errno = EINVAL;
        return -1;
    }
    zcert_destroy(&self->key);
    zcert_destroy(&self->broker_key);
    self->key = key;
    self->broker_key = broker_key;
    return 0;
}

/*  Make conn speak CURVE when the client was given keys. 0, or -1 with the
    error text added.                                                       */
int
braid_client_apply_curve(braid_client_t *self, braid_conn_t *conn, const char *endpoint)
{
    if (!self->key || braid_conn_set_curve(conn, self->key, self->broker_key) == 0)
        return 0;
    braid_client_add_error_text(self, "%s: cannot set up CURVE: %s", endpoint, zmq_strerror(zmq_errno()));
    return -1;
}

void
braid_client_set_heartbeat(braid_client_t *self, int interval_msec, int idle_timeout_msec)
{
    if (interval_msec > 0)
        self->heartbeat_msec = interval_msec;
    if (idle_timeout_msec > 0)
        self->idle_timeout_msec = idle_timeout_msec;
}

/*  ---------------------------------------------------------------------
    Sending: never blocks, a full pipe is tried again next turn             */

/*  A header with only the job id (CREDIT, CANCEL, SUBMIT are filled on). */
static void
s_msg_job(braid_client_t *self, braid_msg_t *msg, braid_msg_type_t type)
{
    braid_msg_init(msg, type);
    memcpy(msg->job_id, self->job_id, sizeof self->job_id);
}

/*  Send the SUBMIT: the request's fields, the job id, the first credit.    */
static int
s_send_submit(braid_client_t *self)
{
    braid_msg_t msg;
    s_msg_job(self, &msg, BRAID_MSG_SUBMIT);
    braid_request_put_header(self->request, &msg);
    msg.credit = braid_stream_granted(self->stream);
    if (self->resuming)
        msg.flags |= BRAID_FLAG_RESUME;
    int rc = braid_conn_send(self->conn, &msg, NULL);
    if (rc != 0 || !self->resuming)
        return rc;
    /*  RESUME right behind it, on the same pipe: what the caller has.     */
    s_msg_job(self, &msg, BRAID_MSG_RESUME);
    msg.query = self->resume_query;
    msg.source = self->resume_source;
    msg.seq = self->resume_seq;
    zmsg_t *payload = zmsg_new();
    if (!payload || zmsg_addmem(payload, self->resume_frame, self->resume_size) != 0) {
        zmsg_destroy(&payload);
        return -1;
    }
    rc = braid_conn_send(self->conn, &msg, &payload);
    zmsg_destroy(&payload);
    return rc;
}

/*  Send the QUERIES message that starts at query first. 0 (*next_p set to
    the query after the batch) or -1 (EAGAIN: the batch is rebuilt next
    time).                                                                  */
static int
s_send_queries(braid_client_t *self, uint32_t first, uint32_t *next_p)
{
    uint32_t next;
    zmsg_t *payload = braid_request_batch(self->request, first, &next);
    if (!payload)
        return -1;
    braid_msg_t msg;
    s_msg_job(self, &msg, BRAID_MSG_QUERIES);
    msg.first = first;
    if (braid_conn_send(self->conn, &msg, &payload) != 0)
        return -1;
    *next_p = next;
    return 0;
}

/*  SUBMIT, and the queries right behind it when they fit in one message.   */
static void
s_send_submit_queries(braid_client_t *self)
{
    s_send_submit(self);
    /*  Only when one QUERIES holds them all.                               */
    uint32_t next = 0;
    zmsg_t *all = braid_request_batch(self->request, 0, &next);
    zmsg_destroy(&all);
    if (next == braid_request_query_count(self->request) && s_send_queries(self, 0, &next) == 0)
        self->pipelined = true;
}

/*  Send CANCEL for the job; 0 once it went (cancel_sent), else -1.         */
static int
s_send_cancel(braid_client_t *self)
{
    braid_msg_t msg;
    s_msg_job(self, &msg, BRAID_MSG_CANCEL);
    int rc = braid_conn_send(self->conn, &msg, NULL);
    if (rc == 0)
        self->cancel_sent = true;
    return rc;
}

/*  Send what is due: cancel, credit, queries, ping.                        */
static void
s_pump(braid_client_t *self, int64_t now)
{
    int sent = 0;
    if (self->cancel_wanted && !self->cancel_sent && s_send_cancel(self) == 0)
        sent++;
    if (braid_stream_credit_due(self->stream)) {
        braid_msg_t msg;
        s_msg_job(self, &msg, BRAID_MSG_CREDIT);
        msg.credit = braid_stream_granted(self->stream);
        if (braid_conn_send(self->conn, &msg, NULL) == 0) {
            braid_stream_credit_sent(self->stream);
            self->last_credit = now;
            sent++;
        }
    }
    size_t nqueries = braid_request_query_count(self->request);
    while (!self->cancel_wanted && self->next_query < nqueries && sent < S_SEND_BURST) {
        if (!braid_conn_writable(self->conn))
            break;
        if (s_send_queries(self, self->next_query, &self->next_query) != 0)
            break;      /* EAGAIN: the batch is rebuilt next turn          */
        sent++;
    }
    if (now - self->last_ping >= self->heartbeat_msec) {
        braid_msg_t msg;
        braid_msg_init(&msg, BRAID_MSG_PING);
        braid_conn_send(self->conn, &msg, NULL);
        self->last_ping = now;
        /*  A quiet stream may be a lost grant: repeat it, it is absolute.  */
        if (now - self->last_recv >= self->heartbeat_msec &&
            now - self->last_credit >= self->heartbeat_msec)
            braid_stream_repeat_credit(self->stream);
    }
}

/*  ---------------------------------------------------------------------
    Submit                                                                  */

/*  Wait for the endpoint's answer to SUBMIT, repeating it (it is
    idempotent) while none comes (error text added but on S_ACCEPTED).
    Resuming, a refusal does not end the wait: a broker that has just
    restarted refuses a source until its workers are back, so the SUBMIT
    is repeated until the connect timeout, and the last refusal stands.    */
static s_accept_t
s_await_accept(braid_client_t *self, const char *endpoint)
{
    int64_t start = zclock_mono();
    int64_t deadline = start + self->connect_timeout_msec;
    int64_t last_submit = start;
    bool refused = false;
    while (true) {
        int64_t now = zclock_mono();
        if (braid_client_interrupted())
            return S_INTERRUPTED;
        if (now >= deadline && refused)
            return S_REFUSED;
        if (now >= deadline) {
            braid_client_add_error_text(self, "%s: no answer within %d msec", endpoint,
                        self->connect_timeout_msec);
            return S_NO_ANSWER;
        }
        if (now - last_submit >= BRAID_CLIENT_RESUBMIT_MSEC) {
            /*  Repairs a lost SUBMIT (and its queries: the broker ignores
                a QUERIES it already has).                                  */
            s_send_submit(self);
            uint32_t next;
            if (self->pipelined)
                s_send_queries(self, 0, &next);
            self->resubmitted = true;
            last_submit = now;
        }
        int64_t wait = deadline - now;
        if (wait > last_submit + BRAID_CLIENT_RESUBMIT_MSEC - now)
            wait = last_submit + BRAID_CLIENT_RESUBMIT_MSEC - now;
        short revents;
        braid_conn_io_t io = braid_conn_poll(self->conn, ZMQ_POLLIN, wait, &revents);
        if (io == BRAID_CONN_INTERRUPTED)
            return S_INTERRUPTED;
        if (io == BRAID_CONN_FAILED) {
            braid_client_add_error_text(self, "%s: poll: %s", endpoint, zmq_strerror(errno));
            return S_NO_ANSWER;
        }
        while (revents & ZMQ_POLLIN) {
            io = braid_conn_recv(self->conn, &self->msg);
            if (io == BRAID_CONN_INTERRUPTED)
                return S_INTERRUPTED;
            if (io == BRAID_CONN_AGAIN || io == BRAID_CONN_FAILED)
                break;
            if (io == BRAID_CONN_MALFORMED)
                self->dropped++;
            else if (memcmp(self->msg.job_id, self->job_id, sizeof self->job_id) != 0)
                self->dropped++;    /* PONG, or another job's leftovers */
            else if (self->msg.type == BRAID_MSG_ACCEPT)
                return S_ACCEPTED;
            else if (self->msg.type == BRAID_MSG_ERROR && self->resuming) {
                if (!refused)
                    braid_client_add_error_text(self, "%s: refused: %u %s", endpoint,
                                                self->msg.code, self->msg.text);
                refused = true;     /* ask again until the deadline        */
            } else if (self->msg.type == BRAID_MSG_ERROR) {
                braid_client_add_error_text(self, "%s: refused: %u %s", endpoint, self->msg.code,
                            self->msg.text);
                size_t len = strlen(self->refusal);     /* the answers, too */
                snprintf(self->refusal + len, sizeof self->refusal - len, "%s%s: %u %s",
                         len ? "; " : "", endpoint, self->msg.code, self->msg.text);
                return S_REFUSED;
            } else
                self->dropped++;
        }
    }
}

/*  The request is fit to submit: else its error text set, errno EINVAL.   */
static bool
s_submittable(braid_client_t *self, const braid_request_t *request)
{
    const char *why = !request                                     ? "no job"
                      : braid_request_source_count(request) == 0  ? "no source"
                      : braid_request_query_count(request) == 0   ? "no query"
                      : self->nendpoints == 0                     ? "no broker endpoint"
                                                                  : NULL;
    if (!why)
        return true;
    braid_client_set_error_text(self, "%s", why);
    errno = EINVAL;
    return false;
}

/*  A connection to endpoint: the one held, or a new one. 0, or -1 with the
    error text added and errno EINVAL when it cannot connect.               */
static int
s_connect(braid_client_t *self, const char *endpoint)
{
    if (self->conn)
        return 0;
    if (!(self->conn = braid_conn_new(self->window))) {
        braid_client_add_error_text(self, "%s: cannot create socket", endpoint);
        errno = ENOMEM;
        return -1;
    }
    braid_conn_set_heartbeat(self->conn, self->heartbeat_msec, self->idle_timeout_msec);
    if (braid_client_apply_curve(self, self->conn, endpoint) != 0) {
        braid_conn_destroy(&self->conn);
        errno = EINVAL;
        return -1;
    }
    if (braid_conn_connect(self->conn, endpoint) == -1) {
        braid_client_add_error_text(self, "%s: cannot connect: %s", endpoint, zmq_strerror(zmq_errno()));
        braid_conn_destroy(&self->conn);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

/*  Open the job on endpoints[i] with a fresh stream: SUBMIT (with RESUME
    when resuming), wait for ACCEPT. S_ACCEPTED: open; S_NO_ANSWER and
    S_REFUSED: the connection closed again; S_UNREACHABLE (errno set);
    S_INTERRUPTED: CANCEL sent, errno EINTR; S_FAILED: out of memory.      */
static s_accept_t
s_open_on(braid_client_t *self, size_t i)
{
    const char *endpoint = self->endpoints[i];
    s_reset_stream(self);
    if (self->conn && braid_conn_endpoint(self->conn) != endpoint)
        s_close_conn(self);
    if (!(self->stream = braid_stream_new(self->request, self->job_id, self->window))) {
        braid_client_set_error_text(self, "out of memory");
        errno = ENOMEM;
        return S_FAILED;
    }
    braid_stream_set_ledger(self->stream, self->ledger, self->resuming);
    if (s_connect(self, endpoint) != 0)
        return S_UNREACHABLE;
    s_send_submit_queries(self);
    s_accept_t accept = s_await_accept(self, endpoint);
    if (accept == S_ACCEPTED) {
        self->endpoint = endpoint;
        self->endpoint_index = i;
        self->open = true;
        self->next_query =
            self->pipelined ? (uint32_t) braid_request_query_count(self->request) : 0;
        self->error[0] = 0;
        int64_t now = zclock_mono();
        self->last_recv = now;
        self->last_ping = now;
        self->last_credit = now;
        return S_ACCEPTED;
    }
    if (accept == S_INTERRUPTED) {
        /*  It may have accepted after all: tell it to let go.              */
        s_send_cancel(self);
        s_close_conn(self);
        braid_client_set_error_text(self, "interrupted");
        errno = EINTR;
        return S_INTERRUPTED;
    }
    s_close_conn(self);
    return accept;
}

/*  The broker is lost mid-job (silent past the idle timeout, or it no
    longer knows the job: restarted): resubmit the job, same id, to the
    next endpoints in turn, the lost one last (it may be back), each with
    a fresh connection, holding what the caller has (PROTOCOL.md, "A job"
    10). 0: open again; -1: none accepted (error text says why); -2:
    interrupted.                                                           */
static int
s_failover(braid_client_t *self, const char *why)
{
    braid_client_set_error_text(self, "%s", why);
    if (self->cancel_wanted || !self->ledger || self->failovers >= BRAID_CLIENT_MAX_FAILOVERS)
        return -1;
    /*  The lost broker may only be unreachable: let it go of the job.     */
    if (self->conn && !self->cancel_sent)
        s_send_cancel(self);
    free(self->resume_frame);
    self->resume_frame = NULL;
    bool whole = braid_request_order(self->request) == BRAID_ORDERING_KEY;
    if (braid_ledger_resume(self->ledger, whole, &self->resume_frame, &self->resume_size,
                            &self->resume_query, &self->resume_source, &self->resume_seq) != 0) {
        braid_client_set_error_text(self, "%s; out of memory", why);
        return -1;
    }
    self->resuming = true;
    braid_client_set_error_text(self, "%s", why);
    self->refusal[0] = 0;
    size_t from = self->endpoint_index;
    for (size_t k = 1; k <= self->nendpoints; k++) {
        s_close_conn(self);     /* a fresh routing id, whatever the endpoint */
        s_accept_t accept = s_open_on(self, (from + k) % self->nendpoints);
        if (accept == S_ACCEPTED) {
            self->failovers++;
            return 0;
        }
        if (accept == S_INTERRUPTED)
            return -2;
        if (accept == S_FAILED)
            return -1;
    }
    return -1;
}

braid_reply_t
braid_client_submit(braid_client_t *self, braid_request_t **request_p)
{
    braid_request_t *request = request_p ? *request_p : NULL;
    if (request_p)
        *request_p = NULL;
    /*  The connection may serve the next job if the last one ended cleanly;
        one still streaming, or one that failed, leaves with it.            */
    bool keep = self->conn && self->stream && braid_stream_finished(self->stream) &&
                !braid_conn_broken(self->conn) && braid_conn_window(self->conn) == self->window;
    if (!keep)
        s_close_conn(self);
    s_reset_stream(self);
    braid_request_destroy(&self->request);
    self->error[0] = 0;
    self->refusal[0] = 0;
    if (!s_submittable(self, request)) {
        braid_request_destroy(&request);
        return BRAID_REPLY_INVALID;
    }
    self->request = request;
    braid_ledger_destroy(&self->ledger);
    self->resuming = false;
    self->failovers = 0;
    self->ledger = braid_ledger_new((uint32_t) braid_request_query_count(request),
                                    (uint32_t) braid_request_source_count(request));
    if (!self->ledger) {
        braid_client_set_error_text(self, "out of memory");
        errno = ENOMEM;
        return BRAID_REPLY_FAILED;
    }
    if (getrandom(self->job_id, sizeof self->job_id, 0) != (ssize_t) sizeof self->job_id) {
        braid_client_set_error_text(self, "getrandom: %s", strerror(errno));
        return BRAID_REPLY_FAILED;
    }
    int last_errno = ETIMEDOUT;
    for (size_t i = 0; i < self->nendpoints; i++) {
        s_accept_t accept = s_open_on(self, i);
        if (accept == S_ACCEPTED)
            return BRAID_REPLY_OK;
        if (accept == S_FAILED)
            return BRAID_REPLY_FAILED;
        if (accept == S_INTERRUPTED)
            return BRAID_REPLY_INTERRUPTED;
        if (accept == S_UNREACHABLE && errno == EINVAL)
            last_errno = EINVAL;
        else if (accept != S_UNREACHABLE)
            last_errno = ETIMEDOUT;
    }
    if (self->refusal[0]) {
        /*  A broker's answer says more than the silence of the others.    */
        braid_client_set_error_text(self, "%s", self->refusal);
        errno = ECONNREFUSED;
        return BRAID_REPLY_REFUSED;
    }
    errno = last_errno;
    return BRAID_REPLY_UNAVAILABLE;
}

int
braid_client_cancel(braid_client_t *self)
{
    if (!self->request || !self->conn) {
        errno = EINVAL;
        return -1;
    }
    if (self->open && !braid_stream_finished(self->stream))
        self->cancel_wanted = true;
    return 0;
}

/*  ---------------------------------------------------------------------
    The stream                                                              */

/*  The stream broke: the connection serves no other job, the error text
    says why, and the broker is asked to cancel the job.                    */
static void
s_broken(braid_client_t *self)
{
    braid_client_set_error_text(self, "%s", braid_stream_error(self->stream));
    braid_conn_set_broken(self->conn);
    if (!self->cancel_sent)
        s_send_cancel(self);
}

/*  An event taken from the stream goes out.                                */
static braid_next_t
s_took(braid_client_t *self, const braid_event_t *ev)
{
    /*  A SUBMIT repeated behind queries may have reached the broker after
        the job ended and opened it again: close that one.                  */
    if (ev->type == BRAID_EVENT_JOB_END && self->pipelined && self->resubmitted &&
        !self->cancel_sent)
        s_send_cancel(self);
    return BRAID_NEXT_EVENT;
}

/*  How long to wait for the broker: until the next PING is due, the
    broker counts as lost, or the caller's deadline, whichever is first.   */
static int64_t
s_wait_msec(braid_client_t *self, int64_t now, int64_t deadline)
{
    int64_t wait = self->last_ping + self->heartbeat_msec - now;
    if (wait > self->last_recv + self->idle_timeout_msec - now)
        wait = self->last_recv + self->idle_timeout_msec - now;
    if (wait > deadline - now)
        wait = deadline - now;
    return wait;
}

/*  True while something is waiting to be sent.                             */
static bool
s_want_out(braid_client_t *self)
{
    if (!self->cancel_wanted && self->next_query < braid_request_query_count(self->request))
        return true;
    return braid_stream_credit_due(self->stream) || (self->cancel_wanted && !self->cancel_sent);
}

/*  The message received is ERROR 404 for our open job, not after a cancel:
    the broker no longer knows it.                                         */
static bool
s_job_unknown(braid_client_t *self)
{
    return self->msg.type == BRAID_MSG_ERROR && self->msg.code == BRAID_ERR_CODE_UNKNOWN_JOB &&
           !self->cancel_sent && memcmp(self->msg.job_id, self->job_id, 16) == 0;
}

/*  The broker is lost (why): fail over. BRAID_NEXT_TIMEOUT when the job is
    open again elsewhere (the caller loops on), else what next() returns:
    the stream's ERROR event (LOST) when no broker took it, or
    BRAID_NEXT_INTERRUPTED.                                                 */
static braid_next_t
s_lost(braid_client_t *self, const char *why, braid_event_t *ev)
{
    int rc = s_failover(self, why);
    if (rc == 0)
        return BRAID_NEXT_TIMEOUT;
    if (rc == -2) {
        errno = EINTR;
        return BRAID_NEXT_INTERRUPTED;
    }
    /*  No broker took it: the stream ends with LOST; the one held, if any,
        is told to cancel and closed.                                      */
    if (self->conn && !self->cancel_sent)
        s_send_cancel(self);
    s_close_conn(self);
    braid_stream_fail(self->stream, BRAID_CLIENT_ERR_LOST, "%s", self->error);
    self->open = false;
    if (braid_stream_take(self->stream, ev))
        return BRAID_NEXT_EVENT;
    errno = EINVAL;
    return BRAID_NEXT_FAILED;
}

braid_next_t
braid_client_next(braid_client_t *self, braid_event_t *ev, int timeout_msec)
{
    if (self->stream && braid_stream_finished(self->stream))
        return BRAID_NEXT_OVER;
    if (!self->open || !self->conn) {
        errno = EINVAL;
        return BRAID_NEXT_FAILED;
    }
    int64_t deadline = timeout_msec < 0 ? INT64_MAX : zclock_mono() + timeout_msec;
    while (true) {
        if (braid_stream_take(self->stream, ev))
            return s_took(self, ev);
        if (braid_client_interrupted()) {
            errno = EINTR;
            return BRAID_NEXT_INTERRUPTED;
        }
        int64_t now = zclock_mono();
        s_pump(self, now);
        /*  What is queued already is taken without a poll; that includes
            what arrived while the caller was away (blocked writing its
            output): signs of life, not silence.                           */
        braid_conn_io_t io = braid_conn_recv(self->conn, &self->msg);
        if (io == BRAID_CONN_OK && s_job_unknown(self)) {
            /*  The broker restarted under us: the job is gone there.      */
            char why[512];
            snprintf(why, sizeof why, "broker %s: job unknown (restarted?)", self->endpoint);
            braid_next_t next = s_lost(self, why, ev);
            if (next == BRAID_NEXT_TIMEOUT)
                continue;
            return next;
        }
        if (io == BRAID_CONN_OK || io == BRAID_CONN_MALFORMED) {
            self->last_recv = now;
            if (io == BRAID_CONN_MALFORMED)
                self->dropped++;
            else if (braid_stream_put(self->stream, &self->msg, braid_conn_frames(self->conn),
                                      braid_conn_nframes(self->conn)) == BRAID_STREAM_BROKEN)
                s_broken(self);
            continue;
        }
        if (io == BRAID_CONN_INTERRUPTED)
            return BRAID_NEXT_INTERRUPTED;
        if (io == BRAID_CONN_FAILED) {
            braid_client_set_error_text(self, "recv: %s", zmq_strerror(errno));
            braid_conn_set_broken(self->conn);
            return BRAID_NEXT_FAILED;
        }
        if (now - self->last_recv >= self->idle_timeout_msec) {
            char why[512];
            snprintf(why, sizeof why, "broker %s: nothing received for %d msec", self->endpoint,
                     self->idle_timeout_msec);
            braid_next_t next = s_lost(self, why, ev);
            if (next == BRAID_NEXT_TIMEOUT)
                continue;   /* open again elsewhere                        */
            return next;
        }
        short events = (short) (ZMQ_POLLIN | (s_want_out(self) ? ZMQ_POLLOUT : 0));
        short revents;
        io = braid_conn_poll(self->conn, events, s_wait_msec(self, now, deadline), &revents);
        if (io == BRAID_CONN_INTERRUPTED)
            return BRAID_NEXT_INTERRUPTED;
        if (io == BRAID_CONN_FAILED) {
            braid_client_set_error_text(self, "poll: %s", zmq_strerror(errno));
            braid_conn_set_broken(self->conn);
            return BRAID_NEXT_FAILED;
        }
        if (revents & (ZMQ_POLLIN | ZMQ_POLLOUT))
            continue;
        if (zclock_mono() >= deadline) {
            errno = EAGAIN;
            return BRAID_NEXT_TIMEOUT;
        }
    }
}

/*  ---------------------------------------------------------------------
    Accessors                                                               */

const void *
braid_client_query(braid_client_t *self, uint32_t index, size_t *size)
{
    return self->request ? braid_request_query(self->request, index, size) : NULL;
}

const char *
braid_client_source(braid_client_t *self, uint32_t index)
{
    return self->request ? braid_request_source(self->request, index) : NULL;
}

uint32_t
braid_client_query_count(braid_client_t *self)
{
    return self->request ? (uint32_t) braid_request_query_count(self->request) : 0;
}

uint32_t
braid_client_source_count(braid_client_t *self)
{
    return self->request ? (uint32_t) braid_request_source_count(self->request) : 0;
}

const char *
braid_client_endpoint(braid_client_t *self)
{
    return self->endpoint;
}

uint32_t
braid_client_failovers(braid_client_t *self)
{
    return self->failovers;
}

const uint8_t *
braid_client_job_id(braid_client_t *self)
{
    return self->job_id;
}

const char *
braid_client_error(braid_client_t *self)
{
    return self->error;
}

uint64_t
braid_client_dropped(braid_client_t *self)
{
    return self->dropped + (self->stream ? braid_stream_dropped(self->stream) : 0);
}

const char *
braid_end_status_name(braid_end_status_t status)
{
    return braid_status_name((int) status);
}

const char *
braid_version(void)
{
    return BRAID_VERSION;
}
