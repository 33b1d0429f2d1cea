/*  stream.c - braid_stream_t: one job's stream, no I/O (see stream.h).     */

#include "stream.h"
#include "braid_parts.h"
#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  The public status values and summary rows are the wire's.              */
_Static_assert(BRAID_END_STATUS_COUNT == BRAID_STATUS_COUNT, "status count");
_Static_assert(BRAID_END_OK == (int) BRAID_STATUS_OK &&
                   BRAID_END_FAILED == (int) BRAID_STATUS_FAILED &&
                   BRAID_END_TIMEOUT == (int) BRAID_STATUS_TIMEOUT &&
                   BRAID_END_CANCELLED == (int) BRAID_STATUS_CANCELLED,
               "status values");

/*  What the broker may send ahead, in bytes (the broker counts the same
    way, and lets a grant run at most its credit_bytes ahead), and the
    first grant before the size of a message is known (messages).          */
#define S_WINDOW_BYTES BRAID_CLIENT_WINDOW_BYTES
#define S_INITIAL_CREDIT 64
#define S_MSG_OVERHEAD BRAID_MSG_OVERHEAD   /* a message beyond its payload */

/*  The event a message is, handed out after the partials it carries.       */
typedef enum {
    S_NONE = 0,
    S_END,                      /* the END in msg                           */
    S_JOB_END,                  /* the JOB_END in msg                       */
    S_RESTART,                  /* the RESTART in msg                       */
    S_ERROR,                    /* the broker's ERROR in msg                */
    S_FAIL                      /* the stream broke: fail_code, fail_text   */
} s_pending_t;

struct _braid_stream_t {
    const braid_request_t *request;
    uint8_t job_id[16];
    uint32_t window;            /* the most credit ahead, messages          */
    bool finished;              /* the last event has been taken            */

    uint64_t expected_out_seq;  /* = messages consumed                      */
    uint64_t granted;           /* credit limit granted                     */
    uint64_t avg_bytes;         /* running average size of a message in     */
    uint64_t consumed_bytes;    /* bytes of the messages consumed (as the
                                   broker counts them against credit)       */
    uint64_t bytes_at_grant;    /* consumed_bytes at the last grant         */
    bool credit_due;

    const braid_msg_t *msg;     /* the message being handed out (borrowed)  */
    braid_parts_iter_t parts;   /* its partials not handed out yet          */
    uint64_t frame_seq;         /* seq of the next of them                  */
    s_pending_t pending;

    braid_ledger_t *ledger;     /* borrowed, or NULL                        */
    bool resumed;               /* JOB_END from the ledger                  */

    bool broken;
    braid_client_err_t fail_code;
    char fail_text[BRAID_MAX_TEXT + 1];
    uint64_t dropped;
};

braid_stream_t *
braid_stream_new(const braid_request_t *request, const uint8_t *job_id, uint32_t window)
{
    braid_stream_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->request = request;
    memcpy(self->job_id, job_id, sizeof self->job_id);
    self->window = window ? window : 1;
    self->granted = self->window < S_INITIAL_CREDIT ? self->window : S_INITIAL_CREDIT;
    return self;
}

void
braid_stream_set_ledger(braid_stream_t *self, braid_ledger_t *ledger, bool resumed)
{
    self->ledger = ledger;
    self->resumed = resumed;
}

void
braid_stream_destroy(braid_stream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/*  Count a message as consumed; a grant is due when half the window is.  */
static void
s_consume(braid_stream_t *self, uint64_t payload_bytes)
{
    self->expected_out_seq++;
    uint64_t bytes = S_MSG_OVERHEAD + payload_bytes;
    self->consumed_bytes += bytes;
    self->avg_bytes = self->avg_bytes ? (self->avg_bytes * 7 + bytes) / 8 : bytes;
    uint64_t window = S_WINDOW_BYTES / (self->avg_bytes ? self->avg_bytes : 1);
    if (window > self->window)
        window = self->window;
    if (window < 2)
        window = 2;
    /*  A grant is due at half the window in messages, or once half the
        window's bytes were consumed since the last one: the broker lets
        each grant run a window of bytes ahead of what it had sent, so a
        stream of big messages (batches of lines, chunks) never waits for
        a count that the bytes will not reach. A grant never goes down.   */
    bool count_due = self->expected_out_seq + (window - window / 2) >= self->granted;
    bool bytes_due = self->consumed_bytes - self->bytes_at_grant >= S_WINDOW_BYTES / 2;
    if (count_due || bytes_due) {
        if (self->expected_out_seq + window > self->granted)
            self->granted = self->expected_out_seq + window;
        self->bytes_at_grant = self->consumed_bytes;
        self->credit_due = true;
    }
}

/*  Break the stream (see braid_stream_fail).                              */
static void
s_vfail(braid_stream_t *self, braid_client_err_t code, const char *fmt, va_list ap)
{
    self->broken = true;
    self->fail_code = code;
    vsnprintf(self->fail_text, sizeof self->fail_text, fmt, ap);
    self->parts.left = 0;
    self->pending = S_FAIL;
}

static braid_stream_put_t
s_fail(braid_stream_t *self, braid_client_err_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static braid_stream_put_t
s_fail(braid_stream_t *self, braid_client_err_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(self, code, fmt, ap);
    va_end(ap);
    return BRAID_STREAM_BROKEN;
}

void
braid_stream_fail(braid_stream_t *self, braid_client_err_t code, const char *fmt, ...)
{
    if (self->finished || self->broken)
        return;
    va_list ap;
    va_start(ap, fmt);
    s_vfail(self, code, fmt, ap);
    va_end(ap);
}

braid_stream_put_t
braid_stream_put(braid_stream_t *self, const braid_msg_t *msg, zmq_msg_t *frames, size_t nframes)
{
    self->msg = msg;
    self->parts.left = 0;           /* nothing to hand out unless said so  */
    self->pending = S_NONE;
    if (self->finished || self->broken || msg->type == BRAID_MSG_PONG)
        return BRAID_STREAM_DROPPED;
    if (memcmp(msg->job_id, self->job_id, sizeof self->job_id) != 0) {
        self->dropped++;    /* another job's leftovers on a reused socket  */
        return BRAID_STREAM_DROPPED;
    }
    if (msg->type == BRAID_MSG_ERROR) {
        self->pending = S_ERROR;
        return BRAID_STREAM_EVENTS;
    }
    if (msg->type != BRAID_MSG_PARTIAL && msg->type != BRAID_MSG_END &&
        msg->type != BRAID_MSG_JOB_END && msg->type != BRAID_MSG_RESTART) {
        self->dropped++;    /* a repeated ACCEPT                           */
        return BRAID_STREAM_DROPPED;
    }
    if (msg->out_seq < self->expected_out_seq) {
        self->dropped++;    /* a duplicate                                 */
        return BRAID_STREAM_DROPPED;
    }
    if (msg->out_seq > self->expected_out_seq)
        return s_fail(self, BRAID_CLIENT_ERR_GAP,
                      "lost messages: out_seq %llu expected, %llu received",
                      (unsigned long long) self->expected_out_seq,
                      (unsigned long long) msg->out_seq);
    uint64_t payload_bytes = 0;
    for (size_t i = 0; i < nframes; i++)
        payload_bytes += zmq_msg_size(&frames[i]);
    s_consume(self, payload_bytes);
    if (msg->type != BRAID_MSG_JOB_END &&
        (msg->query >= braid_request_query_count(self->request) ||
         msg->source >= braid_request_source_count(self->request)))
        return s_fail(self, BRAID_CLIENT_ERR_PROTOCOL, "%s for query %u source %u: out of range",
                      braid_msg_type_name(msg->type), msg->query, msg->source);
    /*  The partials come in one parts frame (checked on receive).         */
    braid_parts_iter_t parts = {0};
    if (nframes > 0 && msg->type != BRAID_MSG_JOB_END && msg->type != BRAID_MSG_RESTART)
        braid_parts_iter(&parts, zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]));
    size_t n = parts.left;
    switch (msg->type) {
    case BRAID_MSG_PARTIAL:
        self->parts = parts;
        self->frame_seq = msg->seq;
        break;
    case BRAID_MSG_RESTART:
        self->pending = S_RESTART;
        break;
    case BRAID_MSG_END:
        /*  The task's last partials ride on its END: seqs p-n .. p-1.      */
        if (n > msg->parts)
            return s_fail(self, BRAID_CLIENT_ERR_PROTOCOL,
                          "END for query %u source %u: %zu partials carried, %llu produced",
                          msg->query, msg->source, n, (unsigned long long) msg->parts);
        self->parts = parts;
        self->frame_seq = msg->parts - n;
        self->pending = S_END;
        break;
    default:    /* JOB_END */
        self->pending = S_JOB_END;
        break;
    }
    return BRAID_STREAM_EVENTS;
}

/*  Fill the members of *ev that name the task of the message.             */
static void
s_task_event(braid_stream_t *self, braid_event_type_t type, braid_event_t *ev)
{
    const braid_msg_t *msg = self->msg;
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->query = msg->query;
    ev->source = msg->source;
    ev->source_name = braid_request_source(self->request, msg->source);
    ev->query_data = braid_request_query(self->request, msg->query, &ev->query_size);
    ev->text = "";
    ev->worker = "";
}

bool
braid_stream_take(braid_stream_t *self, braid_event_t *ev)
{
    if (self->finished)
        return false;
    const braid_msg_t *msg = self->msg;
    const void *data;
    size_t size;
    while (braid_parts_next(&self->parts, &data, &size)) {
        uint64_t seq = self->frame_seq++;
        if (self->ledger && !braid_ledger_partial(self->ledger, msg->query, msg->source, seq)) {
            self->dropped++;    /* the caller has it: a broker before sent it */
            continue;
        }
        s_task_event(self, BRAID_EVENT_PARTIAL, ev);
        ev->seq = seq;
        ev->data = data;
        ev->size = size;
        return true;
    }
    s_pending_t pending = self->pending;
    self->pending = S_NONE;
    switch (pending) {
    case S_NONE:
        return false;
    case S_END:
        if (self->ledger &&
            !braid_ledger_end(self->ledger, msg->query, msg->source,
                              (braid_end_status_t) msg->status)) {
            self->dropped++;    /* ended on a broker before                */
            return false;
        }
        s_task_event(self, BRAID_EVENT_END, ev);
        ev->status = (braid_end_status_t) msg->status;
        ev->parts = msg->parts;
        ev->duplicates = msg->duplicates;
        ev->attempts = msg->attempts;
        ev->text = msg->text;
        ev->worker = msg->worker;
        ev->started_msec = msg->started_msec;
        ev->queue_msec = msg->queue_msec;
        ev->run_msec = msg->run_msec;
        ev->exit_value = msg->exit_value;
        return true;
    case S_RESTART:
        if (self->ledger)
            braid_ledger_restart(self->ledger, msg->query, msg->source);
        s_task_event(self, BRAID_EVENT_RESTART, ev);
        ev->attempts = msg->attempts;
        return true;
    case S_JOB_END:
        memset(ev, 0, sizeof *ev);
        ev->type = BRAID_EVENT_JOB_END;
        ev->status = (braid_end_status_t) msg->status;
        ev->text = "";
        ev->source_name = "";
        ev->worker = "";
        /*  The broker's rows beyond its count decode as zeros.             */
        ev->nsources = (uint32_t) braid_request_source_count(self->request);
        ev->source_names = braid_request_source_names(self->request);
        ev->summary = (const uint64_t(*)[BRAID_END_STATUS_COUNT]) msg->summary;
        if (self->ledger && self->resumed) {
            /*  The broker counts only what it ended; the caller got all.  */
            ev->summary = braid_ledger_summary(self->ledger);
            if (msg->status != BRAID_STATUS_CANCELLED ||
                braid_ledger_status(self->ledger) == BRAID_END_FAILED)
                ev->status = braid_ledger_status(self->ledger);
        }
        self->finished = true;
        return true;
    case S_ERROR:
    case S_FAIL:
        memset(ev, 0, sizeof *ev);
        ev->type = BRAID_EVENT_ERROR;
        ev->code = pending == S_ERROR ? (braid_client_err_t) msg->code : self->fail_code;
        ev->text = pending == S_ERROR ? msg->text : self->fail_text;
        ev->source_name = "";
        ev->worker = "";
        self->finished = true;
        return true;
    }
    return false;
}

bool
braid_stream_finished(braid_stream_t *self)
{
    return self->finished;
}

const char *
braid_stream_error(braid_stream_t *self)
{
    return self->fail_text;
}

uint64_t
braid_stream_granted(braid_stream_t *self)
{
    return self->granted;
}

bool
braid_stream_credit_due(braid_stream_t *self)
{
    return self->credit_due;
}

void
braid_stream_credit_sent(braid_stream_t *self)
{
    self->credit_due = false;
}

void
braid_stream_repeat_credit(braid_stream_t *self)
{
    self->credit_due = true;
}

uint64_t
braid_stream_dropped(braid_stream_t *self)
{
    return self->dropped;
}
