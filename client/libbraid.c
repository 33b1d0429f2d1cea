/*  libbraid.c - the braid client library (see braid.h).

    One DEALER per broker connection, kept across jobs. submit() tries each
    endpoint in turn; the socket of the previous job is reused when it is
    for the same endpoint and that job ended cleanly (its last event was
    returned and nothing went wrong on the stream), so a client that runs
    many small jobs pays the TCP connect and ZMTP handshake once. Moving to
    another endpoint, or any stream failure, takes a fresh socket (a fresh
    routing id), so nothing queued for a dead broker ever reaches the next
    one. Every message carries its job id: whatever the old job leaves
    behind on a reused socket is dropped as foreign.

    A job whose queries fit in one QUERIES message sends them right behind
    the SUBMIT, without waiting for ACCEPT (the broker reads them in order
    on the same pipe), so a small job costs one round trip, not two.

    Once a broker accepts, next() is the only place that does I/O: each call
    first hands out what it already holds (the frames of the last PARTIAL,
    or of an END that carries its task's last partials), then loops:

      - sending, non-blocking and at most S_SEND_BURST messages per turn:
        a pending CANCEL, a pending CREDIT, the next QUERIES batch, a PING;
      - receiving one message (non-blocking first: a queued message costs
        no poll) and turning it into events; waiting in zmq_poll only when
        nothing is queued.

    so a job of millions of queries never blocks on a send while the broker
    waits for us to read. A message is received into a fixed array of
    zmq_msg_t owned by the client: no allocation per message or per frame;
    events point into those frames. Flow control: the SUBMIT grants out_seq
    < window; each message received counts as consumed (the caller takes
    its events before we receive again), and when half the window is
    consumed a CREDIT grants consumed + window. Credit is absolute, so it is
    also resent whenever the stream has been quiet for a heartbeat (a lost
    grant is repaired by the next one).
*/

#include "braid.h"

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
#define S_SNDHWM 1000           /* messages queued toward the broker        */
#define S_RESUBMIT_MSEC 1000    /* resend SUBMIT while waiting for ACCEPT   */
#define S_CANCEL_LINGER 200     /* msec to flush a CANCEL on close          */
#define S_MAX_WINDOW 1000000
/*  Credit is counted in messages, but a message may carry up to 1024
    partials: the window also shrinks so that what the broker may send
    ahead stays near S_WINDOW_BYTES, judged by the average size of the
    messages so far; the first grant is small until that is known.        */
#define S_WINDOW_BYTES (16u << 20)
#define S_INITIAL_CREDIT 64
/*  Frames of one message the client holds: header + BRAID_MAX_BATCH.      */
#define S_MAX_IN (1 + BRAID_MAX_BATCH)

/*  ---------------------------------------------------------------------
    braid_job_t                                                            */

struct _braid_job_t {
    uint32_t order;
    uint32_t max_inflight;
    uint32_t timeout_msec;
    uint32_t deadline_msec;
    uint32_t retries;
    uint32_t flags;
    uint32_t nsources;
    char sources[BRAID_MAX_SOURCES][BRAID_MAX_NAME + 1];
    char *bytes;            /* all queries back to back                     */
    size_t bytes_len;
    size_t bytes_cap;
    size_t *offsets;        /* query i is bytes[offsets[i] .. offsets[i+1]) */
    size_t nqueries;
    size_t offsets_cap;     /* entries allocated, >= nqueries + 1           */
};

braid_job_t *
braid_job_new(void)
{
    braid_job_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->offsets_cap = 64;
    self->offsets = calloc(self->offsets_cap, sizeof *self->offsets);
    if (!self->offsets) {
        free(self);
        return NULL;
    }
    return self;
}

void
braid_job_destroy(braid_job_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_job_t *self = *self_p;
    free(self->bytes);
    free(self->offsets);
    free(self);
    *self_p = NULL;
}

int
braid_job_add_source(braid_job_t *self, const char *name)
{
    if (!name || !braid_name_valid(name, strlen(name))) {
        errno = EINVAL;
        return -1;
    }
    for (uint32_t i = 0; i < self->nsources; i++)
        if (strcmp(self->sources[i], name) == 0) {
            errno = EEXIST;
            return -1;
        }
    if (self->nsources >= BRAID_MAX_SOURCES) {
        errno = E2BIG;
        return -1;
    }
    strcpy(self->sources[self->nsources++], name);
    return 0;
}

int
braid_job_add_query(braid_job_t *self, const void *data, size_t size)
{
    if (size > BRAID_MAX_QUERY_LEN) {
        errno = EMSGSIZE;
        return -1;
    }
    if (self->nqueries >= BRAID_MAX_QUERIES) {
        errno = E2BIG;
        return -1;
    }
    if (self->nqueries + 2 > self->offsets_cap) {
        size_t cap = self->offsets_cap * 2;
        size_t *offsets = realloc(self->offsets, cap * sizeof *offsets);
        if (!offsets) {
            errno = ENOMEM;
            return -1;
        }
        self->offsets = offsets;
        self->offsets_cap = cap;
    }
    if (size > self->bytes_cap - self->bytes_len) {
        size_t cap = self->bytes_cap ? self->bytes_cap : 4096;
        while (size > cap - self->bytes_len)
            cap *= 2;
        char *bytes = realloc(self->bytes, cap);
        if (!bytes) {
            errno = ENOMEM;
            return -1;
        }
        self->bytes = bytes;
        self->bytes_cap = cap;
    }
    if (size)
        memcpy(self->bytes + self->bytes_len, data, size);
    self->bytes_len += size;
    self->nqueries++;
    self->offsets[self->nqueries] = self->bytes_len;
    return 0;
}

int
braid_job_set_order(braid_job_t *self, braid_order_t order)
{
    if (order != BRAID_ORDER_SUBMIT && order != BRAID_ORDER_ARRIVAL) {
        errno = EINVAL;
        return -1;
    }
    self->order = order;
    return 0;
}

int
braid_job_set_max_inflight(braid_job_t *self, uint32_t max_inflight)
{
    if (max_inflight > BRAID_MAX_INFLIGHT) {
        errno = EINVAL;
        return -1;
    }
    self->max_inflight = max_inflight;
    return 0;
}

int
braid_job_set_timeout(braid_job_t *self, uint32_t timeout_msec)
{
    if (timeout_msec > 7u * 24 * 3600 * 1000) {
        errno = EINVAL;
        return -1;
    }
    self->timeout_msec = timeout_msec;
    return 0;
}

int
braid_job_set_deadline(braid_job_t *self, uint32_t deadline_msec)
{
    if (deadline_msec > 7u * 24 * 3600 * 1000) {
        errno = EINVAL;
        return -1;
    }
    self->deadline_msec = deadline_msec;
    return 0;
}

int
braid_job_set_retries(braid_job_t *self, int retries)
{
    if (retries > BRAID_MAX_RETRIES) {
        errno = EINVAL;
        return -1;
    }
    if (retries < 0) {
        self->retries = 0;
        self->flags &= ~BRAID_FLAG_RETRIES;
    } else {
        self->retries = (uint32_t) retries;
        self->flags |= BRAID_FLAG_RETRIES;
    }
    return 0;
}

void
braid_job_set_fail_fast(braid_job_t *self, bool on)
{
    if (on)
        self->flags |= BRAID_FLAG_FAIL_FAST;
    else
        self->flags &= ~BRAID_FLAG_FAIL_FAST;
}

size_t
braid_job_query_count(const braid_job_t *self)
{
    return self->nqueries;
}

size_t
braid_job_source_count(const braid_job_t *self)
{
    return self->nsources;
}

const char *
braid_job_source(const braid_job_t *self, size_t index)
{
    return index < self->nsources ? self->sources[index] : NULL;
}

/*  ---------------------------------------------------------------------
    braid_client_t                                                         */

struct _braid_client_t {
    char **endpoints;
    size_t nendpoints;
    int connect_timeout_msec;
    int heartbeat_msec;
    int idle_timeout_msec;
    uint32_t window;

    braid_job_t *job;           /* the submitted job, owned                 */
    uint8_t job_id[16];
    zsock_t *sock;              /* DEALER to sock_endpoint                  */
    const char *sock_endpoint;  /* what sock is connected to (in endpoints) */
    uint32_t sock_window;       /* the window its receive HWM was sized for */
    bool sock_broken;           /* a stream failure: never reuse sock       */
    const char *endpoint;       /* the accepting endpoint (in endpoints)    */

    bool open;                  /* accepted, last event not yet returned    */
    bool finished;              /* the last event has been returned         */
    bool cancel_wanted;         /* CANCEL to send (or sent)                 */
    bool cancel_sent;
    bool credit_wanted;         /* CREDIT to send                           */
    bool pipelined;             /* the queries went out with the SUBMIT     */
    bool resubmitted;           /* the SUBMIT was sent more than once       */
    uint32_t next_query;        /* queries sent so far                      */
    uint64_t expected_out_seq;  /* = messages consumed                      */
    uint64_t granted;           /* credit limit last granted                */
    uint64_t avg_bytes;         /* running average size of a message in     */
    int64_t last_recv;          /* zclock_mono() of the last message in     */
    int64_t last_ping;          /* ... of the last PING out                 */
    int64_t last_credit;        /* ... of the last CREDIT out               */

    braid_msg_t msg;            /* the message being handed out             */
    zmq_msg_t *in;              /* its frames: header, payload (S_MAX_IN)   */
    size_t nin;                 /* frames held in in[]                      */
    size_t in_next;             /* next payload frame to hand out           */
    size_t in_bytes;            /* payload bytes of the message             */
    uint64_t frame_seq;         /* seq of in[in_next]                       */
    bool end_pending;           /* an END to hand out after its frames      */
    braid_msg_t fail;           /* a local ERROR event waiting to go out    */
    bool fail_pending;

    uint64_t dropped;
    char error[2048];
};

static void
s_set_error(braid_client_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_set_error(braid_client_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->error, sizeof self->error, fmt, ap);
    va_end(ap);
}

/*  Append "; text" to the error (used to list every endpoint's failure).  */
static void
s_add_error(braid_client_t *self, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
s_add_error(braid_client_t *self, const char *fmt, ...)
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

braid_client_t *
braid_client_new(void)
{
    braid_client_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->in = calloc(S_MAX_IN, sizeof *self->in);
    if (!self->in) {
        free(self);
        return NULL;
    }
    for (size_t i = 0; i < S_MAX_IN; i++)
        zmq_msg_init(&self->in[i]);
    self->connect_timeout_msec = BRAID_CLIENT_CONNECT_TIMEOUT;
    self->heartbeat_msec = BRAID_CLIENT_HEARTBEAT;
    self->idle_timeout_msec = BRAID_CLIENT_IDLE_TIMEOUT;
    self->window = BRAID_CLIENT_WINDOW;
    return self;
}

/*  Let go of the frames of the last message received.                      */
static void
s_in_release(braid_client_t *self)
{
    for (size_t i = 0; i < self->nin; i++) {
        zmq_msg_close(&self->in[i]);
        zmq_msg_init(&self->in[i]);
    }
    self->nin = 0;
    self->in_next = 0;
    self->in_bytes = 0;
}

/*  Drop the stream state (not the socket); keep the job for the accessors. */
static void
s_reset_stream(braid_client_t *self)
{
    s_in_release(self);
    self->endpoint = NULL;
    self->open = false;
    self->finished = false;
    self->cancel_wanted = false;
    self->cancel_sent = false;
    self->credit_wanted = false;
    self->pipelined = false;
    self->resubmitted = false;
    self->end_pending = false;
    self->fail_pending = false;
    self->next_query = 0;
    self->expected_out_seq = 0;
    self->granted = 0;
}

/*  Close the socket (a CANCEL just sent gets a moment to leave).           */
static void
s_close_socket(braid_client_t *self)
{
    if (self->sock && self->cancel_sent)
        zsock_set_linger(self->sock, S_CANCEL_LINGER);
    zsock_destroy(&self->sock);
    self->sock_endpoint = NULL;
    self->sock_broken = false;
}

void
braid_client_destroy(braid_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_client_t *self = *self_p;
    s_close_socket(self);
    s_reset_stream(self);
    free(self->in);
    braid_job_destroy(&self->job);
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

void
braid_client_set_heartbeat(braid_client_t *self, int interval_msec, int idle_timeout_msec)
{
    if (interval_msec > 0)
        self->heartbeat_msec = interval_msec;
    if (idle_timeout_msec > 0)
        self->idle_timeout_msec = idle_timeout_msec;
}

/*  A header with only the job id (CREDIT, CANCEL, SUBMIT are filled on). */
static void
s_msg_job(braid_client_t *self, braid_msg_t *msg, braid_msg_type_t type)
{
    braid_msg_init(msg, type);
    memcpy(msg->job_id, self->job_id, sizeof self->job_id);
}

static int
s_send_submit(braid_client_t *self)
{
    braid_msg_t msg;
    s_msg_job(self, &msg, BRAID_MSG_SUBMIT);
    msg.order = self->job->order;
    msg.max_inflight = self->job->max_inflight;
    msg.timeout_msec = self->job->timeout_msec;
    msg.flags = self->job->flags;
    msg.deadline_msec = self->job->deadline_msec;
    msg.retries = self->job->retries;
    msg.count = (uint32_t) self->job->nqueries;
    msg.credit = self->granted;
    msg.nsources = self->job->nsources;
    memcpy(msg.sources, self->job->sources, sizeof msg.sources);
    return braid_msg_send(self->sock, NULL, &msg, NULL, true);
}

/*  Send the QUERIES message that starts at query first, without blocking.
    0 (*next_p set to the query after the batch) or -1 (EAGAIN: the batch
    is rebuilt next time).                                                 */
static int
s_send_queries(braid_client_t *self, uint32_t first, uint32_t *next_p)
{
    braid_job_t *job = self->job;
    zmsg_t *payload = zmsg_new();
    if (!payload)
        return -1;
    uint32_t n = (uint32_t) job->nqueries - first;
    if (n > BRAID_MAX_BATCH)
        n = BRAID_MAX_BATCH;
    for (uint32_t i = first; i < first + n; i++) {
        size_t size = job->offsets[i + 1] - job->offsets[i];
        zmsg_addmem(payload, size ? job->bytes + job->offsets[i] : "", size);
    }
    braid_msg_t msg;
    s_msg_job(self, &msg, BRAID_MSG_QUERIES);
    msg.first = first;
    if (braid_msg_send(self->sock, NULL, &msg, &payload, true) != 0)
        return -1;
    *next_p = first + n;
    return 0;
}

/*  SUBMIT, and the queries right behind it when they fit in one message.   */
static void
s_send_submit_queries(braid_client_t *self)
{
    s_send_submit(self);
    uint32_t next;
    if (self->job->nqueries <= BRAID_MAX_BATCH && s_send_queries(self, 0, &next) == 0)
        self->pipelined = true;
}

static int
s_send_cancel(braid_client_t *self)
{
    braid_msg_t msg;
    s_msg_job(self, &msg, BRAID_MSG_CANCEL);
    int rc = braid_msg_send(self->sock, NULL, &msg, NULL, true);
    if (rc == 0)
        self->cancel_sent = true;
    return rc;
}

static bool
s_interrupted(void)
{
    return zsys_interrupted != 0;
}

static int
s_poll(zsock_t *sock, short events, int64_t wait_msec, short *revents)
{
    zmq_pollitem_t item = {zsock_resolve(sock), 0, events, 0};
    if (wait_msec < 0)
        wait_msec = 0;
    int rc = zmq_poll(&item, 1, (long) wait_msec);
    *revents = rc > 0 ? item.revents : 0;
    return rc;
}

/*  Receive one message into self->msg and self->in, never holding more
    than S_MAX_IN frames (a longer message is drained and refused), as
    braid_msg_recv() does but without allocating: the frames are received
    into the client's zmq_msg_t array and stay valid until the next call.
    0, -1 (errno: EAGAIN with ZMQ_DONTWAIT, EINTR, or the socket failed) or
    -2 (malformed).                                                         */
static int
s_recv(braid_client_t *self, int flags)
{
    s_in_release(self);
    void *handle = zsock_resolve(self->sock);
    size_t nframes = 0;
    bool too_many = false;
    while (true) {
        zmq_msg_t drain;
        zmq_msg_t *m = &self->in[nframes];
        if (nframes >= S_MAX_IN) {
            zmq_msg_init(&drain);
            m = &drain;
        }
        int rc = zmq_msg_recv(m, handle, nframes ? 0 : flags);
        if (rc < 0) {
            int err = errno;
            if (m == &drain)
                zmq_msg_close(&drain);
            s_in_release(self);
            errno = err;
            return -1;
        }
        int more = zmq_msg_more(m);
        if (m == &drain) {
            zmq_msg_close(&drain);
            too_many = true;
        } else {
            self->nin = ++nframes;
            if (nframes > 1)
                self->in_bytes += zmq_msg_size(m);
        }
        if (!more)
            break;
    }
    self->in_next = self->nin;  /* nothing to hand out unless s_handle says */
    braid_err_t e = too_many ? BRAID_ERR_FRAMES
                             : braid_msg_decode(zmq_msg_data(&self->in[0]),
                                                zmq_msg_size(&self->in[0]), nframes - 1,
                                                BRAID_CH_TO_CLIENT, &self->msg);
    /*  No TO_CLIENT payload is bounded below ZMQ_MAXMSGSIZE.               */
    for (size_t i = 1; e == BRAID_OK && i < nframes; i++)
        if (zmq_msg_size(&self->in[i]) > BRAID_MAX_FRAME)
            e = BRAID_ERR_FRAME_SIZE;
    if (e != BRAID_OK) {
        s_in_release(self);
        return -2;
    }
    return 0;
}

/*  Wait for the accepting endpoint's answer to SUBMIT. 0 accepted, -1
    with errno ETIMEDOUT, ECONNREFUSED or EINTR (error text added).         */
static int
s_await_accept(braid_client_t *self, const char *endpoint)
{
    int64_t start = zclock_mono();
    int64_t deadline = start + self->connect_timeout_msec;
    int64_t last_submit = start;
    while (true) {
        int64_t now = zclock_mono();
        if (s_interrupted()) {
            errno = EINTR;
            return -1;
        }
        if (now >= deadline) {
            s_add_error(self, "%s: no answer within %d msec", endpoint,
                        self->connect_timeout_msec);
            errno = ETIMEDOUT;
            return -1;
        }
        if (now - last_submit >= S_RESUBMIT_MSEC) {
            /*  Idempotent; repairs a lost SUBMIT (and its queries: the
                broker ignores a QUERIES it already has).                   */
            s_send_submit(self);
            uint32_t next;
            if (self->pipelined)
                s_send_queries(self, 0, &next);
            self->resubmitted = true;
            last_submit = now;
        }
        int64_t wait = deadline - now;
        if (wait > last_submit + S_RESUBMIT_MSEC - now)
            wait = last_submit + S_RESUBMIT_MSEC - now;
        short revents;
        int rc = s_poll(self->sock, ZMQ_POLLIN, wait, &revents);
        if (rc < 0) {
            if (errno == EINTR)
                return -1;
            s_add_error(self, "%s: poll: %s", endpoint, zmq_strerror(errno));
            errno = ETIMEDOUT;
            return -1;
        }
        while (revents & ZMQ_POLLIN) {
            rc = s_recv(self, ZMQ_DONTWAIT);
            if (rc == -1) {
                if (errno == EINTR)
                    return -1;
                break;
            }
            if (rc == -2)
                self->dropped++;
            else if (memcmp(self->msg.job_id, self->job_id, 16) != 0)
                self->dropped++;    /* PONG, or another job's leftovers */
            else if (self->msg.type == BRAID_MSG_ACCEPT)
                return 0;
            else if (self->msg.type == BRAID_MSG_ERROR) {
                s_add_error(self, "%s: refused: %u %s", endpoint, self->msg.code,
                            self->msg.text);
                errno = ECONNREFUSED;
                return -1;
            } else
                self->dropped++;
        }
    }
}

int
braid_client_submit(braid_client_t *self, braid_job_t **job_p)
{
    braid_job_t *job = job_p ? *job_p : NULL;
    if (job_p)
        *job_p = NULL;
    /*  The socket may serve the next job if the last one ended cleanly; one
        still streaming, or one that failed, leaves with its socket.        */
    bool keep = self->sock && self->finished && !self->sock_broken &&
                self->sock_window == self->window;
    if (!keep)
        s_close_socket(self);
    s_reset_stream(self);
    braid_job_destroy(&self->job);
    self->error[0] = 0;
    if (!job || job->nsources == 0 || job->nqueries == 0 || self->nendpoints == 0) {
        s_set_error(self, "%s", !job                  ? "no job"
                                : job->nsources == 0  ? "no source"
                                : job->nqueries == 0  ? "no query"
                                                      : "no broker endpoint");
        braid_job_destroy(&job);
        errno = EINVAL;
        return -1;
    }
    self->job = job;
    if (getrandom(self->job_id, sizeof self->job_id, 0) != (ssize_t) sizeof self->job_id) {
        s_set_error(self, "getrandom: %s", strerror(errno));
        return -1;
    }
    int last_errno = ETIMEDOUT;
    for (size_t i = 0; i < self->nendpoints; i++) {
        const char *endpoint = self->endpoints[i];
        s_reset_stream(self);
        if (self->sock && self->sock_endpoint != endpoint)
            s_close_socket(self);
        self->granted = self->window < S_INITIAL_CREDIT ? self->window : S_INITIAL_CREDIT;
        self->avg_bytes = 0;
        if (!self->sock) {
            self->sock = zsock_new(ZMQ_DEALER);
            if (!self->sock) {
                s_add_error(self, "%s: cannot create socket", endpoint);
                continue;
            }
            braid_socket_harden(self->sock, S_SNDHWM);
            /*  Let credit, not the HWM, be what holds the broker back.     */
            zsock_set_rcvhwm(self->sock, (int) self->window + 64);
            if (zsock_connect(self->sock, "%s", endpoint) == -1) {
                s_add_error(self, "%s: cannot connect: %s", endpoint,
                            zmq_strerror(zmq_errno()));
                zsock_destroy(&self->sock);
                last_errno = EINVAL;
                continue;
            }
            self->sock_endpoint = endpoint;
            self->sock_window = self->window;
        }
        s_send_submit_queries(self);
        if (s_await_accept(self, endpoint) == 0) {
            self->endpoint = endpoint;
            self->open = true;
            self->next_query = self->pipelined ? (uint32_t) job->nqueries : 0;
            self->error[0] = 0;
            int64_t now = zclock_mono();
            self->last_recv = now;
            self->last_ping = now;
            self->last_credit = now;
            return 0;
        }
        if (errno == EINTR) {
            /*  It may have accepted after all: tell it to let go.          */
            s_send_cancel(self);
            s_close_socket(self);
            s_set_error(self, "interrupted");
            errno = EINTR;
            return -1;
        }
        last_errno = errno;
        s_close_socket(self);
    }
    errno = last_errno;
    return -1;
}

int
braid_client_cancel(braid_client_t *self)
{
    if (!self->job || !self->sock) {
        errno = EINVAL;
        return -1;
    }
    if (self->open)
        self->cancel_wanted = true;
    return 0;
}

/*  ---------------------------------------------------------------------
    The stream                                                              */

/*  Turn the stream into a local error: the ERROR event goes out next and
    ends the stream; the broker is asked to cancel the job.                 */
static void
s_fail(braid_client_t *self, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
s_fail(braid_client_t *self, int code, const char *fmt, ...)
{
    s_msg_job(self, &self->fail, BRAID_MSG_ERROR);
    self->fail.code = (uint32_t) code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(self->fail.text, sizeof self->fail.text, fmt, ap);
    va_end(ap);
    snprintf(self->error, sizeof self->error, "%s", self->fail.text);
    self->fail_pending = true;
    self->sock_broken = true;   /* the next job takes a fresh socket       */
    if (!self->cancel_sent)
        s_send_cancel(self);
}

/*  Send what is due without blocking: cancel, credit, queries, ping.      */
static void
s_pump(braid_client_t *self, int64_t now)
{
    int sent = 0;
    if (self->cancel_wanted && !self->cancel_sent && s_send_cancel(self) == 0)
        sent++;
    if (self->credit_wanted) {
        braid_msg_t msg;
        s_msg_job(self, &msg, BRAID_MSG_CREDIT);
        msg.credit = self->granted;
        if (braid_msg_send(self->sock, NULL, &msg, NULL, true) == 0) {
            self->credit_wanted = false;
            self->last_credit = now;
            sent++;
        }
    }
    braid_job_t *job = self->job;
    while (!self->cancel_wanted && self->next_query < job->nqueries && sent < S_SEND_BURST) {
        if (!(zsock_events(self->sock) & ZMQ_POLLOUT))
            break;
        if (s_send_queries(self, self->next_query, &self->next_query) != 0)
            break;      /* EAGAIN: the batch is rebuilt next turn          */
        sent++;
    }
    if (now - self->last_ping >= self->heartbeat_msec) {
        braid_msg_t msg;
        braid_msg_init(&msg, BRAID_MSG_PING);
        braid_msg_send(self->sock, NULL, &msg, NULL, true);
        self->last_ping = now;
        /*  A quiet stream may be a lost grant: repeat it, it is absolute.  */
        if (now - self->last_recv >= self->heartbeat_msec &&
            now - self->last_credit >= self->heartbeat_msec)
            self->credit_wanted = true;
    }
}

/*  Fill *ev from the next payload frame held (of a PARTIAL, or of an END
    that carries its task's last partials).                                 */
static void
s_next_partial(braid_client_t *self, braid_event_t *ev)
{
    zmq_msg_t *frame = &self->in[self->in_next++];
    memset(ev, 0, sizeof *ev);
    ev->type = BRAID_EVENT_PARTIAL;
    ev->query = self->msg.query;
    ev->source = self->msg.source;
    ev->source_name = self->job->sources[self->msg.source];
    ev->seq = self->frame_seq++;
    ev->data = zmq_msg_data(frame);
    ev->size = zmq_msg_size(frame);
    ev->text = "";
}

/*  Fill *ev from the END in self->msg.                                     */
static void
s_end_event(braid_client_t *self, braid_event_t *ev)
{
    const braid_msg_t *msg = &self->msg;
    memset(ev, 0, sizeof *ev);
    ev->type = BRAID_EVENT_END;
    ev->query = msg->query;
    ev->source = msg->source;
    ev->source_name = self->job->sources[msg->source];
    ev->status = (int) msg->status;
    ev->parts = msg->parts;
    ev->attempts = msg->attempts;
    ev->text = msg->text;
}

static void
s_error_event(braid_client_t *self, const braid_msg_t *msg, braid_event_t *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->type = BRAID_EVENT_ERROR;
    ev->code = (int) msg->code;
    ev->text = msg->text;
    ev->source_name = "";
    self->open = false;
    self->finished = true;
}

/*  Handle the well-formed message in self->msg and self->in. Returns 1 if
    *ev was filled.                                                         */
static int
s_handle(braid_client_t *self, braid_event_t *ev)
{
    braid_msg_t *msg = &self->msg;
    if (msg->type == BRAID_MSG_PONG)
        return 0;
    if (memcmp(msg->job_id, self->job_id, 16) != 0) {
        self->dropped++;    /* another job's leftovers on a reused socket  */
        return 0;
    }
    if (msg->type == BRAID_MSG_ERROR) {
        s_error_event(self, msg, ev);
        return 1;
    }
    if (msg->type != BRAID_MSG_PARTIAL && msg->type != BRAID_MSG_END &&
        msg->type != BRAID_MSG_JOB_END && msg->type != BRAID_MSG_RESTART) {
        self->dropped++;    /* a repeated ACCEPT                           */
        return 0;
    }
    if (msg->out_seq < self->expected_out_seq) {
        self->dropped++;    /* a duplicate                                 */
        return 0;
    }
    if (msg->out_seq > self->expected_out_seq) {
        s_fail(self, BRAID_CLIENT_ERR_GAP, "lost messages: out_seq %llu expected, %llu received",
               (unsigned long long) self->expected_out_seq, (unsigned long long) msg->out_seq);
        return 0;
    }
    self->expected_out_seq++;
    uint64_t bytes = 64 + self->in_bytes;
    self->avg_bytes = self->avg_bytes ? (self->avg_bytes * 7 + bytes) / 8 : bytes;
    uint64_t window = S_WINDOW_BYTES / (self->avg_bytes ? self->avg_bytes : 1);
    if (window > self->window)
        window = self->window;
    if (window < 2)
        window = 2;
    if (self->expected_out_seq + (window - window / 2) >= self->granted) {
        self->granted = self->expected_out_seq + window;
        self->credit_wanted = true;
    }
    if (msg->type != BRAID_MSG_JOB_END &&
        (msg->query >= self->job->nqueries || msg->source >= self->job->nsources)) {
        s_fail(self, BRAID_CLIENT_ERR_PROTOCOL, "%s for query %u source %u: out of range",
               braid_msg_type_name(msg->type), msg->query, msg->source);
        return 0;
    }
    size_t nframes = self->nin - 1;
    memset(ev, 0, sizeof *ev);
    ev->text = "";
    ev->source_name = "";
    switch (msg->type) {
    case BRAID_MSG_PARTIAL:
        self->in_next = 1;
        self->frame_seq = msg->seq;
        s_next_partial(self, ev);
        return 1;
    case BRAID_MSG_RESTART:
        ev->type = BRAID_EVENT_RESTART;
        ev->query = msg->query;
        ev->source = msg->source;
        ev->source_name = self->job->sources[msg->source];
        ev->attempts = msg->attempts;
        return 1;
    case BRAID_MSG_END:
        if (nframes == 0) {
            s_end_event(self, ev);
            return 1;
        }
        /*  The task's last partials ride on its END: seqs p-n .. p-1.      */
        if (nframes > msg->parts) {
            s_fail(self, BRAID_CLIENT_ERR_PROTOCOL,
                   "END for query %u source %u: %zu partials carried, %llu produced", msg->query,
                   msg->source, nframes, (unsigned long long) msg->parts);
            return 0;
        }
        self->in_next = 1;
        self->frame_seq = msg->parts - nframes;
        self->end_pending = true;
        s_next_partial(self, ev);
        return 1;
    default:    /* JOB_END */
        ev->type = BRAID_EVENT_JOB_END;
        ev->status = (int) msg->status;
        ev->nsources = msg->nsources < self->job->nsources ? msg->nsources : self->job->nsources;
        ev->summary = (const uint64_t(*)[BRAID_STATUS_COUNT]) msg->summary;
        self->open = false;
        self->finished = true;
        /*  A SUBMIT repeated behind queries may have reached the broker
            after the job ended and opened it again: close that one.        */
        if (self->pipelined && self->resubmitted && !self->cancel_sent)
            s_send_cancel(self);
        return 1;
    }
}

int
braid_client_next(braid_client_t *self, braid_event_t *ev, int timeout_msec)
{
    if (self->finished)
        return 0;
    if (!self->open || !self->sock) {
        errno = EINVAL;
        return -1;
    }
    if (self->in_next < self->nin) {
        s_next_partial(self, ev);
        return 1;
    }
    if (self->end_pending) {
        self->end_pending = false;
        s_end_event(self, ev);
        return 1;
    }
    int64_t deadline = timeout_msec < 0 ? INT64_MAX : zclock_mono() + timeout_msec;
    while (true) {
        if (self->fail_pending) {
            self->fail_pending = false;
            s_error_event(self, &self->fail, ev);
            return 1;
        }
        if (s_interrupted()) {
            errno = EINTR;
            return -1;
        }
        int64_t now = zclock_mono();
        s_pump(self, now);
        /*  What is queued already is taken without a poll; that includes
            what arrived while the caller was away (blocked writing its
            output): signs of life, not silence.                           */
        int rc = s_recv(self, ZMQ_DONTWAIT);
        if (rc == 0 || rc == -2) {
            self->last_recv = now;
            if (rc == -2) {
                self->dropped++;
                continue;
            }
            if (s_handle(self, ev) == 1)
                return 1;
            continue;
        }
        if (errno != EAGAIN) {
            if (errno != EINTR) {
                s_set_error(self, "recv: %s", zmq_strerror(errno));
                self->sock_broken = true;
            }
            return -1;
        }
        if (now - self->last_recv >= self->idle_timeout_msec) {
            s_fail(self, BRAID_CLIENT_ERR_LOST, "broker %s: nothing received for %d msec",
                   self->endpoint, self->idle_timeout_msec);
            continue;
        }
        int64_t wait = self->last_ping + self->heartbeat_msec - now;
        if (wait > self->last_recv + self->idle_timeout_msec - now)
            wait = self->last_recv + self->idle_timeout_msec - now;
        if (wait > deadline - now)
            wait = deadline - now;
        bool want_out = !self->cancel_wanted && self->next_query < self->job->nqueries;
        want_out = want_out || self->credit_wanted || (self->cancel_wanted && !self->cancel_sent);
        short revents;
        rc = s_poll(self->sock, (short) (ZMQ_POLLIN | (want_out ? ZMQ_POLLOUT : 0)), wait,
                    &revents);
        if (rc < 0) {
            if (errno != EINTR) {
                s_set_error(self, "poll: %s", zmq_strerror(errno));
                self->sock_broken = true;
            }
            return -1;
        }
        if (revents & (ZMQ_POLLIN | ZMQ_POLLOUT))
            continue;
        if (zclock_mono() >= deadline) {
            errno = EAGAIN;
            return -1;
        }
    }
}

/*  ---------------------------------------------------------------------
    Stats                                                                   */

/*  Ask one endpoint for its stats. Owned JSON text, or NULL with errno
    ETIMEDOUT, EINTR or EINVAL (error text added).                          */
static char *
s_stats_one(braid_client_t *self, const char *endpoint, size_t *len_p)
{
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock) {
        s_add_error(self, "%s: cannot create socket", endpoint);
        errno = ENOMEM;
        return NULL;
    }
    braid_socket_harden(sock, S_SNDHWM);
    zsock_set_linger(sock, 0);
    if (zsock_connect(sock, "%s", endpoint) == -1) {
        s_add_error(self, "%s: cannot connect: %s", endpoint, zmq_strerror(zmq_errno()));
        zsock_destroy(&sock);
        errno = EINVAL;
        return NULL;
    }
    braid_msg_t msg;
    int64_t start = zclock_mono();
    int64_t deadline = start + self->connect_timeout_msec;
    int64_t last_sent = INT64_MIN / 2;
    char *json = NULL;
    while (!json) {
        int64_t now = zclock_mono();
        if (s_interrupted()) {
            errno = EINTR;
            break;
        }
        if (now >= deadline) {
            s_add_error(self, "%s: no answer within %d msec", endpoint,
                        self->connect_timeout_msec);
            errno = ETIMEDOUT;
            break;
        }
        if (now - last_sent >= S_RESUBMIT_MSEC) {
            braid_msg_init(&msg, BRAID_MSG_STATS);  /* idempotent: repeat it */
            braid_msg_send(sock, NULL, &msg, NULL, true);
            last_sent = now;
        }
        int64_t wait = deadline - now;
        if (wait > last_sent + S_RESUBMIT_MSEC - now)
            wait = last_sent + S_RESUBMIT_MSEC - now;
        short revents;
        if (s_poll(sock, ZMQ_POLLIN, wait, &revents) < 0) {
            if (errno != EINTR)
                s_add_error(self, "%s: poll: %s", endpoint, zmq_strerror(errno));
            break;
        }
        while (!json && (revents & ZMQ_POLLIN)) {
            zmsg_t *payload = NULL;
            braid_err_t err;
            int rc = braid_msg_recv(zsock_resolve(sock), false, BRAID_CH_TO_CLIENT, &msg, NULL,
                                    &payload, &err);
            if (rc == -1) {
                zmsg_destroy(&payload);
                break;
            }
            if (rc == 0 && msg.type == BRAID_MSG_STATS_REPLY && zmsg_size(payload) == 1) {
                zframe_t *frame = zmsg_first(payload);
                size_t len = zframe_size(frame);
                json = malloc(len + 1);
                if (json) {
                    memcpy(json, zframe_data(frame), len);
                    json[len] = 0;
                    *len_p = len;
                }
            } else
                self->dropped++;
            zmsg_destroy(&payload);
            revents = (short) (zsock_events(sock) & ZMQ_POLLIN);
        }
    }
    zsock_destroy(&sock);
    return json;
}

char *
braid_client_stats(braid_client_t *self, size_t *len_p)
{
    size_t len = 0;
    self->error[0] = 0;
    if (self->nendpoints == 0) {
        s_set_error(self, "no broker endpoint");
        errno = EINVAL;
        return NULL;
    }
    int last_errno = ETIMEDOUT;
    for (size_t i = 0; i < self->nendpoints; i++) {
        char *json = s_stats_one(self, self->endpoints[i], &len);
        if (json) {
            self->error[0] = 0;
            if (len_p)
                *len_p = len;
            return json;
        }
        last_errno = errno;
        if (errno == EINTR) {
            s_set_error(self, "interrupted");
            break;
        }
    }
    errno = last_errno;
    return NULL;
}

/*  ---------------------------------------------------------------------
    Accessors                                                               */

const void *
braid_client_query(braid_client_t *self, uint32_t index, size_t *size)
{
    if (!self->job || index >= self->job->nqueries)
        return NULL;
    if (size)
        *size = self->job->offsets[index + 1] - self->job->offsets[index];
    return self->job->bytes ? self->job->bytes + self->job->offsets[index] : "";
}

const char *
braid_client_source(braid_client_t *self, uint32_t index)
{
    if (!self->job || index >= self->job->nsources)
        return NULL;
    return self->job->sources[index];
}

uint32_t
braid_client_query_count(braid_client_t *self)
{
    return self->job ? (uint32_t) self->job->nqueries : 0;
}

uint32_t
braid_client_source_count(braid_client_t *self)
{
    return self->job ? self->job->nsources : 0;
}

const char *
braid_client_endpoint(braid_client_t *self)
{
    return self->endpoint;
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
    return self->dropped;
}

const char *
braid_version(void)
{
    return BRAID_VERSION;
}
