/*  worker.c - the braid worker's event loop and its tasks.

    One thread, one zmq_poll() with an explicit deadline. Each pass:
    poll; handle the signal fd, the DEALER and every task's descriptors;
    fire due timers; then "pump" every task: produce, send what the window
    and the PUSH socket allow, send DONE when the task is over.

    A task's life:
        QUEUED  it came while every slot was busy: it waits, holding no
              slot, and starts (in the order tasks came) as one frees; at
              most as many wait as there are slots, so the worker never
              waits a round trip for its next task. Its timeout counts
              from its start.
        RUN   the source works (exec: the child runs, or has exited and
              its pipes are drained; synthetic: parts are produced)
        KILL  cancelled or timed out: the child's group got SIGTERM and
              will get SIGKILL after the grace; waiting for it to exit
        END   the outcome is known: send the partials still held, then
              exactly one DONE, which carries the last of them (up to
              BRAID_MAX_BATCH that the window admits); then the task is
              gone. A one-part task costs one message.
    A slot stays busy until the task's DONE is sent, so the worker never
    runs more children than it announced.

    Backpressure: a task makes partials only when it holds none unsent,
    and then only as many as its window (TASK_CREDIT) still admits; an exec
    task splits them off the bytes of its last read() and reads its
    child's stdout again only when those are all taken. Partials wait when
    the PUSH socket is full. So a task holds at most its window's worth of
    partials plus one read() (BRAID_EXEC_READ_BUF) of unsplit bytes, and a
    child whose output is not wanted blocks on its full pipe.

    An exec task holds fresh lines S_EXEC_HOLD_MSEC before sending them,
    unless more output comes: a short command then exits within the hold
    and its lines leave in its DONE.

    Faults (PROTOCOL.md, "A worker" 2, 6-9): a TASK is acknowledged by the
    next WHEARTBEAT, which lists the tasks (queued ones too) with the next
    seq each will send and goes out within BRAID_WORKER_ACK_MSEC of a TASK; a broker
    silent for the liveness time gets both sockets made anew and HELLO
    again; that, and RESET, kill every task without a word about it
    before the HELLO. A task killed that way (or superseded
    by another attempt) is "silent": it is reaped but sends nothing.
*/

#include "worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "braid_log.h"
#include "exec_source.h"
#include "synth_source.h"

#define S_READ_BUF 65536        /* one read() of a child's stderr          */
#define S_MAX_RECV_PER_PASS 256 /* DEALER messages handled per loop pass  */
#define S_EXEC_HOLD_MSEC 2      /* fresh exec output waits for a DONE      */

typedef enum { S_QUEUED, S_RUN, S_KILL, S_END } s_state_t;

typedef struct {
    uint64_t id;
    uint32_t attempt;
    const braid_source_t *source;
    uint64_t resume;        /* first seq to send                           */
    uint64_t window;        /* send seq < window; 0 = no limit             */
    uint32_t timeout_msec;
    int64_t deadline;       /* timeout; 0 = none                           */
    s_state_t state;
    uint32_t status;        /* braid_status_t, once known                  */
    uint32_t transient;     /* DONE g: the failure may pass on retry       */
    char text[BRAID_MAX_TEXT + 1];
    uint64_t produced;      /* partials made: the next seq                 */
    uint64_t sent_next;     /* seqs below were sent or skipped (resume)    */
    zmsg_t *outq;           /* made, not sent; the first is seq sent_next  */
    zframe_t *query;        /* the TASK's payload; synthetic: until the end,
                               exec: until the child is spawned            */
    int64_t hold_until;     /* RUN, exec: fresh partials wait until then   */
    braid_exec_t *exec;
    braid_synth_t *synth;
    int64_t kill_at;        /* KILL: SIGKILL the group at; 0 = done        */
    int64_t drain_at;       /* RUN, exec leader gone: stop waiting for EOF */
    bool slot;              /* holds one of the worker's slots             */
    bool silent;            /* RESET or superseded: reap, send nothing     */
} s_task_t;

/*  What a poll item belongs to.                                            */
typedef enum { S_ITEM_DEALER, S_ITEM_PUSH, S_ITEM_SIGNAL, S_ITEM_OUT, S_ITEM_ERR, S_ITEM_PID } s_kind_t;

typedef struct {
    s_task_t *task;
    s_kind_t kind;
} s_item_t;

struct _braid_worker_t {
    braid_worker_config_t config;
    char name[BRAID_MAX_NAME + 1];
    zsock_t *dealer;
    zsock_t *push;
    s_task_t **tasks;
    size_t ntasks;
    size_t max_tasks;       /* see braid_worker_new()                      */
    size_t busy;            /* tasks holding a slot                        */
    zmq_pollitem_t *items;
    s_item_t *itemmap;
    char *buf;
    bool push_blocked;      /* the PUSH socket refused a message           */
    bool stopping;
    int64_t stop_deadline;
    int64_t heartbeat_at;
    int64_t thawed_until;   /* just woke from a freeze: hold nothing back  */
    int64_t broker_seen;    /* last message from the broker, or (re)connect */
    braid_msg_t hello;
    uint64_t malformed;
    uint64_t tasks_done;
    uint64_t reconnects;
};

/*  ---------------------------------------------------------------------
    Tasks                                                                  */

static void
s_task_destroy(s_task_t **task_p)
{
    if (!task_p || !*task_p)
        return;
    s_task_t *task = *task_p;
    braid_exec_destroy(&task->exec);
    braid_synth_destroy(&task->synth);
    zframe_destroy(&task->query);
    zmsg_destroy(&task->outq);
    free(task);
    *task_p = NULL;
}

static s_task_t *
s_task_find(braid_worker_t *self, uint64_t id, uint32_t attempt)
{
    for (size_t i = 0; i < self->ntasks; i++)
        if (self->tasks[i]->id == id && self->tasks[i]->attempt == attempt &&
            !self->tasks[i]->silent)
            return self->tasks[i];
    return NULL;
}

/*  The outcome is known: from now on only held partials and DONE leave.   */
static void
s_task_end(s_task_t *task, uint32_t status, bool transient, const char *text)
{
    task->state = S_END;
    task->status = status;
    task->transient = transient;
    snprintf(task->text, sizeof task->text, "%s", text ? text : "");
    if (status == BRAID_STATUS_CANCELLED || status == BRAID_STATUS_TIMEOUT) {
        /*  Nothing more of it is sent: DONE counts what left.              */
        zmsg_destroy(&task->outq);
        task->outq = zmsg_new();
    }
    braid_exec_destroy(&task->exec);
    braid_synth_destroy(&task->synth);  /* before the query it borrows   */
    zframe_destroy(&task->query);
}

/*  Stop a task early (cancel, timeout, worker stopping).                  */
static void
s_task_abort(s_task_t *task, uint32_t status, bool transient, const char *text, int64_t now)
{
    if (task->state == S_KILL)
        return;             /* already on its way out; first reason wins   */
    if (task->state == S_END && zmsg_size(task->outq) == 0)
        return;             /* over; only its DONE is still to leave       */
    if (task->state == S_END || !task->exec || braid_exec_exited(task->exec)) {
        s_task_end(task, status, transient, text);  /* kills, reaps a child */
        return;
    }
    /*  Closing the pipes first makes a child that still writes die of
        SIGPIPE even if it ignores SIGTERM.                                 */
    braid_exec_close_pipes(task->exec);
    braid_exec_kill(task->exec, SIGTERM);
    zmsg_destroy(&task->outq);
    task->outq = zmsg_new();
    task->state = S_KILL;
    task->status = status;
    task->transient = transient;
    snprintf(task->text, sizeof task->text, "%s", text);
    task->kill_at = now + BRAID_WORKER_KILL_GRACE_MSEC;
}

/*  Number the new partials in frames (consumed): those below resume are
    counted and dropped, the rest wait in outq.                            */
static void
s_task_accept(s_task_t *task, zmsg_t **frames_p)
{
    zmsg_t *frames = *frames_p;
    zframe_t *frame;
    while ((frame = zmsg_pop(frames))) {
        uint64_t seq = task->produced++;
        if (seq < task->resume) {
            zframe_destroy(&frame);
            task->sent_next = task->produced;
        } else
            zmsg_append(task->outq, &frame);
    }
    zmsg_destroy(frames_p);
}

/*  How many partials the task may make now: none while it holds some, else
    what its window admits (the seqs below resume are dropped as they are
    made, so they never wait), at most BRAID_MAX_BATCH.                   */
static size_t
s_task_room(const s_task_t *task)
{
    if (zmsg_size(task->outq) > 0)
        return 0;
    if (task->window == 0)
        return BRAID_MAX_BATCH;
    uint64_t limit = task->window > task->resume ? task->window : task->resume;
    uint64_t room = limit > task->produced ? limit - task->produced : 0;
    return room > BRAID_MAX_BATCH ? BRAID_MAX_BATCH : (size_t) room;
}

/*  Kill a task and forget it: nothing more of it is sent, not even DONE,
    and its slot is free at once (RESET, or another attempt replaced it). */
static void
s_task_silence(braid_worker_t *self, s_task_t *task, int64_t now)
{
    task->silent = true;
    if (task->slot) {
        task->slot = false;
        self->busy--;
    }
    s_task_abort(task, BRAID_STATUS_CANCELLED, false, "", now);
}

static s_task_t *
s_task_new(braid_worker_t *self, const braid_msg_t *msg)
{
    s_task_t *task = calloc(1, sizeof *task);
    if (!task || !(task->outq = zmsg_new())) {
        free(task);
        return NULL;
    }
    task->id = msg->task_id;
    task->attempt = msg->attempts;
    task->resume = msg->resume;
    task->window = msg->window;
    task->timeout_msec = msg->timeout_msec;
    task->state = S_QUEUED;
    self->tasks[self->ntasks++] = task;
    return task;
}

static const braid_source_t *
s_source_find(braid_worker_t *self, const char *name)
{
    for (size_t i = 0; i < self->config.nsources; i++)
        if (streq(self->config.sources[i]->name, name))
            return self->config.sources[i];
    return NULL;
}

/*  A TASK is acknowledged by the next heartbeat that lists it (or by its
    DATA or DONE): make that heartbeat come within BRAID_WORKER_ACK_MSEC,
    well inside the broker's ack timeout whatever our interval is.        */
static void
s_ack_soon(braid_worker_t *self, int64_t now)
{
    if (self->heartbeat_at > now + BRAID_WORKER_ACK_MSEC)
        self->heartbeat_at = now + BRAID_WORKER_ACK_MSEC;
}

/*  Start a queued task in a free slot: its timeout counts from now.      */
static void
s_task_start(braid_worker_t *self, s_task_t *task, int64_t now)
{
    const braid_source_t *source = task->source;
    const char *query = task->query ? (const char *) zframe_data(task->query) : "";
    size_t qlen = task->query ? zframe_size(task->query) : 0;
    char err[BRAID_MAX_TEXT + 1];

    task->state = S_RUN;
    task->slot = true;
    self->busy++;
    if (task->timeout_msec)
        task->deadline = now + task->timeout_msec;
    braid_debug("task start id=%llu attempt=%u source=%s resume=%llu window=%llu",
                (unsigned long long) task->id, task->attempt, source->name,
                (unsigned long long) task->resume, (unsigned long long) task->window);
    if (source->type == BRAID_SOURCE_EXEC) {
        if (!(task->exec = braid_exec_new(source, query, qlen, err, sizeof err))) {
            braid_info("task id=%llu source=%s: %s", (unsigned long long) task->id,
                       source->name, err);
            s_task_end(task, BRAID_STATUS_FAILED, false, err);
        }
        zframe_destroy(&task->query);   /* the child has it in its argv    */
    } else {
        if (!(task->synth = braid_synth_new(source, query, qlen, task->attempt, now)))
            s_task_end(task, BRAID_STATUS_FAILED, true, "out of memory");
        else if (braid_synth_failed(task->synth))
            s_task_end(task, BRAID_STATUS_FAILED, false, "synthetic failure");
    }
}

static void
s_on_task(braid_worker_t *self, const braid_msg_t *msg, zmsg_t *payload, int64_t now)
{
    /*  One pass over the table: the same attempt (a duplicate: the next
        heartbeat lists it), another attempt, and the queue's length.
        Another attempt of a task we hold makes the old one moot: the
        broker's latest TASK wins (one connection keeps order, so an older
        TASK never overtakes a newer one). The old attempt is killed and
        sends nothing; its slot is free.                                   */
    size_t queued = 0;
    for (size_t i = 0; i < self->ntasks; i++) {
        s_task_t *held = self->tasks[i];
        if (held->silent)
            continue;
        if (held->id == msg->task_id) {
            if (held->attempt == msg->attempts) {
                braid_debug("duplicate task id=%llu attempt=%u ignored",
                            (unsigned long long) msg->task_id, msg->attempts);
                s_ack_soon(self, now);
                return;
            }
            braid_debug("task id=%llu attempt=%u superseded by attempt %u",
                        (unsigned long long) msg->task_id, held->attempt, msg->attempts);
            s_task_silence(self, held, now);
            continue;
        }
        queued += held->state == S_QUEUED;
    }
    if (self->ntasks >= self->max_tasks) {
        /*  Not listed in a heartbeat: the broker dispatches it again after
            its ack timeout.                                               */
        braid_warning("task id=%llu dropped: %zu tasks held, broker ignores slots",
                      (unsigned long long) msg->task_id, self->ntasks);
        return;
    }
    s_task_t *task = s_task_new(self, msg);
    if (!task) {
        braid_error("out of memory for task id=%llu", (unsigned long long) msg->task_id);
        return;
    }
    s_ack_soon(self, now);
    const braid_source_t *source = s_source_find(self, msg->name);
    char err[BRAID_MAX_TEXT + 1];

    if (self->stopping) {
        s_task_end(task, BRAID_STATUS_CANCELLED, true, "worker stopping");    /* handed back */
        return;
    }
    if (!source) {
        snprintf(err, sizeof err, "unknown source %s", msg->name);
        s_task_end(task, BRAID_STATUS_FAILED, false, err);
        return;
    }
    if (self->busy + queued >= 2 * (size_t) self->config.slots) {
        /*  The broker counted our slots differently (e.g. tasks from
            before a reconnect still run): another worker may take it.     */
        snprintf(err, sizeof err, "no free slot (%zu running, %zu queued)", self->busy, queued);
        s_task_end(task, BRAID_STATUS_FAILED, true, err);
        return;
    }
    /*  Queued: the pump starts it, in the order tasks came, once a slot is
        free (at once if one is).                                          */
    task->source = source;
    task->query = zmsg_pop(payload);
    task->state = S_QUEUED;
}

static void
s_on_credit(braid_worker_t *self, const braid_msg_t *msg)
{
    s_task_t *task = s_task_find(self, msg->task_id, msg->attempts);
    if (!task) {
        braid_debug("credit for unknown task id=%llu attempt=%u",
                    (unsigned long long) msg->task_id, msg->attempts);
        return;
    }
    /*  Credit is cumulative: a grant below the current one is stale.
        0 lifts the limit, as it does in TASK.                             */
    if (msg->window == 0)
        task->window = 0;
    else if (task->window != 0 && msg->window > task->window)
        task->window = msg->window;
}

static void
s_on_cancel(braid_worker_t *self, const braid_msg_t *msg, int64_t now)
{
    s_task_t *task = s_task_find(self, msg->task_id, msg->attempts);
    if (!task) {
        braid_debug("cancel for unknown task id=%llu attempt=%u",
                    (unsigned long long) msg->task_id, msg->attempts);
        return;
    }
    s_task_abort(task, BRAID_STATUS_CANCELLED, false, "cancelled", now);
}

static void s_send_hello(braid_worker_t *self);

/*  RESET: the broker does not know us. Whatever we run it has given up on
    (or never knew), so kill it all quietly and introduce ourselves again. */
static void
s_on_reset(braid_worker_t *self, int64_t now)
{
    size_t killed = 0;
    for (size_t i = 0; i < self->ntasks; i++)
        if (!self->tasks[i]->silent) {
            s_task_silence(self, self->tasks[i], now);
            killed++;
        }
    braid_info("broker reset name=%s tasks_killed=%zu", self->name, killed);
    if (!self->stopping)
        s_send_hello(self);
}

/*  Read what the DEALER holds, a bounded number of messages per pass.     */
static int
s_on_dealer(braid_worker_t *self, int64_t now)
{
    for (int i = 0; i < S_MAX_RECV_PER_PASS; i++) {
        if (!(zsock_events(self->dealer) & ZMQ_POLLIN))
            return 0;
        braid_msg_t msg;
        zmsg_t *payload = NULL;
        braid_err_t err;
        int rc = braid_msg_recv(self->dealer, false, BRAID_CH_TO_WORKER, &msg, NULL, &payload,
                                &err);
        if (rc == -1)
            return errno == EINTR ? 0 : -1;
        self->broker_seen = now;    /* anything at all is a sign of life   */
        if (rc == -2) {
            self->malformed++;
            braid_debug("malformed message from broker reason=%s count=%llu",
                        braid_err_name(err), (unsigned long long) self->malformed);
            continue;
        }
        switch (msg.type) {
        case BRAID_MSG_TASK:
            s_on_task(self, &msg, payload, now);
            break;
        case BRAID_MSG_TASK_CREDIT:
            s_on_credit(self, &msg);
            break;
        case BRAID_MSG_TASK_CANCEL:
            s_on_cancel(self, &msg, now);
            break;
        case BRAID_MSG_RESET:
            s_on_reset(self, now);
            break;
        default:    /* BHEARTBEAT: nothing to do, traffic is what counts   */
            break;
        }
        zmsg_destroy(&payload);
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    Sending                                                                */

/*  How many held partials the window lets leave now, at most
    BRAID_MAX_BATCH.                                                       */
static size_t
s_task_sendable(const s_task_t *task)
{
    uint64_t n = zmsg_size(task->outq);
    if (task->window) {
        uint64_t allowed = task->window > task->sent_next ? task->window - task->sent_next : 0;
        if (n > allowed)
            n = allowed;
    }
    return n > BRAID_MAX_BATCH ? BRAID_MAX_BATCH : (size_t) n;
}

/*  Send held partials in DATA as far as the window allows; an ended task
    keeps the last ones that the window admits, up to BRAID_MAX_BATCH, for
    its DONE. Returns -1 if the PUSH socket is full.                       */
static int
s_task_flush(braid_worker_t *self, s_task_t *task)
{
    while (zmsg_size(task->outq) > 0) {
        size_t n = s_task_sendable(task);
        if (n == 0)
            return 0;       /* waiting for credit                          */
        if (task->state == S_END && n == zmsg_size(task->outq))
            return 0;       /* the last ones: DONE carries them            */
        if (self->push_blocked)
            return -1;
        zmsg_t *batch = task->outq;
        if (n < zmsg_size(batch)) {
            /*  Split: the first n frames leave, the rest stay held.       */
            zmsg_t *rest = zmsg_new();
            zmsg_t *head = zmsg_new();
            for (size_t i = 0; i < n; i++) {
                zframe_t *f = zmsg_pop(batch);
                zmsg_append(head, &f);
            }
            zframe_t *f;
            while ((f = zmsg_pop(batch)))
                zmsg_append(rest, &f);
            zmsg_destroy(&batch);
            batch = head;
            task->outq = rest;
        } else
            task->outq = zmsg_new();
        braid_msg_t msg;
        braid_msg_init(&msg, BRAID_MSG_DATA);
        msg.task_id = task->id;
        msg.attempts = task->attempt;
        msg.seq = task->sent_next;
        if (braid_msg_try_send(self->push, NULL, &msg, &batch) == 0) {
            task->sent_next += n;
            continue;
        }
        if (!batch) {
            task->sent_next += n;   /* lost while the context terminates   */
            continue;
        }
        /*  Not sent: put the batch back in front of what is held.         */
        zframe_t *f;
        while ((f = zmsg_pop(task->outq)))
            zmsg_append(batch, &f);
        zmsg_destroy(&task->outq);
        task->outq = batch;
        if (errno != EAGAIN)
            braid_warning("cannot send DATA id=%llu: %s", (unsigned long long) task->id,
                          strerror(errno));
        self->push_blocked = true;
        return -1;
    }
    return 0;
}

/*  Send DONE for an ended task, carrying the partials it still holds (the
    caller made sure the window admits them all, and that they are at most
    BRAID_MAX_BATCH): seqs p - n .. p - 1. Returns 0 if sent.              */
static int
s_task_send_done(braid_worker_t *self, s_task_t *task)
{
    if (self->push_blocked)
        return -1;
    size_t n = zmsg_size(task->outq);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_DONE);
    msg.task_id = task->id;
    msg.attempts = task->attempt;
    msg.status = task->status;
    msg.parts = task->sent_next + n;
    msg.transient = task->transient;
    snprintf(msg.text, sizeof msg.text, "%s", task->text);
    /*  On success (or loss while the context terminates) outq is gone.   */
    if (braid_msg_try_send(self->push, NULL, &msg, n ? &task->outq : NULL) && task->outq) {
        if (errno != EAGAIN)
            braid_warning("cannot send DONE id=%llu: %s", (unsigned long long) task->id,
                          strerror(errno));
        self->push_blocked = true;
        return -1;
    }
    task->sent_next += n;
    braid_debug("task done id=%llu attempt=%u status=%s parts=%llu carried=%zu transient=%u",
                (unsigned long long) task->id, task->attempt, braid_status_name((int) task->status),
                (unsigned long long) task->sent_next, n, task->transient);
    self->tasks_done++;
    return 0;
}

static void
s_send_control(braid_worker_t *self, braid_msg_type_t type)
{
    braid_msg_t msg;
    braid_msg_init(&msg, type);
    if (braid_msg_try_send(self->dealer, NULL, &msg, NULL) && errno != EAGAIN)
        braid_warning("cannot send %s: %s", braid_msg_type_name(type), strerror(errno));
}

static void
s_send_hello(braid_worker_t *self)
{
    if (braid_msg_try_send(self->dealer, NULL, &self->hello, NULL))
        braid_warning("cannot send HELLO: %s", strerror(errno));  /* liveness retries */
}

static void
s_put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}

/*  WHEARTBEAT with one frame: per task the broker should believe running
    (silent ones are not), task id, attempt and the next seq it will send
    (seqs below that were sent, or skipped because they are below resume). */
static void
s_send_heartbeat(braid_worker_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->ntasks; i++)
        n += !self->tasks[i]->silent;
    if (n > BRAID_MAX_SLOTS)
        n = BRAID_MAX_SLOTS;    /* the frame's bound; cannot happen        */
    zframe_t *frame = zframe_new(NULL, n * BRAID_HEARTBEAT_ENTRY);
    zmsg_t *payload = zmsg_new();
    if (!frame || !payload) {
        zframe_destroy(&frame);
        zmsg_destroy(&payload);
        return;
    }
    uint8_t *p = zframe_data(frame);
    for (size_t i = 0, k = 0; i < self->ntasks && k < n; i++) {
        const s_task_t *task = self->tasks[i];
        if (task->silent)
            continue;
        uint64_t next = task->sent_next > task->resume ? task->sent_next : task->resume;
        s_put_be(p, task->id, 8);
        s_put_be(p + 8, task->attempt, 4);
        s_put_be(p + 12, next, 8);
        p += BRAID_HEARTBEAT_ENTRY;
        k++;
    }
    zmsg_append(payload, &frame);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_WHEARTBEAT);
    if (braid_msg_try_send(self->dealer, NULL, &msg, &payload)) {
        if (errno != EAGAIN)
            braid_warning("cannot send WHEARTBEAT: %s", strerror(errno));
        zmsg_destroy(&payload);
    }
}

/*  ---------------------------------------------------------------------
    The loop                                                               */

/*  Split as many partials off an exec task's output as its window admits. */
static void
s_exec_produce(s_task_t *task)
{
    size_t room = s_task_room(task);
    if (room == 0 || !braid_exec_pending(task->exec))
        return;
    zmsg_t *frames = zmsg_new();
    if (!frames)
        return;
    braid_exec_take(task->exec, frames, room);
    s_task_accept(task, &frames);
}

/*  True while an exec task cannot take in more of its child's output: it
    holds partials, or bytes not split yet, or its window is shut.         */
static bool
s_exec_blocked(s_task_t *task)
{
    return s_task_room(task) == 0 || braid_exec_pending(task->exec);
}

/*  Move an exec task on: read its pipes, note its exit, end it.           */
static void
s_exec_event(braid_worker_t *self, s_task_t *task, s_kind_t kind, int64_t now)
{
    braid_exec_t *exec = task->exec;
    if (!exec)
        return;
    if (kind == S_ITEM_OUT && task->state == S_RUN) {
        int rc = braid_exec_read_stdout(exec);
        if (rc == 1 && task->hold_until)
            task->hold_until = now;     /* more output: the held ones go   */
        s_exec_produce(task);
        if (rc >= 0 && braid_exec_exited(exec))
            task->drain_at = now + BRAID_WORKER_KILL_GRACE_MSEC;
    } else if (kind == S_ITEM_ERR)
        braid_exec_read_stderr(exec, self->buf, S_READ_BUF);
    else if (kind == S_ITEM_PID && braid_exec_check_exit(exec))
        task->drain_at = now + BRAID_WORKER_KILL_GRACE_MSEC;
}

/*  Fill free slots from the queue, lowest task id first: task ids grow
    with the broker's job order and, within a job, with the order of a
    sequential run, so a job's head of line never waits behind its own
    later tasks (which, in submit order, cannot finish before it).         */
static void
s_start_queued(braid_worker_t *self, int64_t now)
{
    while (!self->stopping && self->busy < self->config.slots) {
        s_task_t *first = NULL;
        for (size_t i = 0; i < self->ntasks; i++) {
            s_task_t *task = self->tasks[i];
            if (task->state == S_QUEUED && (!first || task->id < first->id))
                first = task;
        }
        if (!first)
            return;
        s_task_start(self, first, now);
    }
}

/*  Timers and state changes that need no descriptor, then sending.
    Returns true if the task is finished (its DONE left).                  */
static bool
s_task_pump(braid_worker_t *self, s_task_t *task, int64_t now)
{
    if (task->state == S_QUEUED)
        return false;   /* s_start_queued() decides when it runs */
    if (task->deadline && now >= task->deadline) {
        /*  Too late only if the outcome was not already on its way out.   */
        char text[64];
        snprintf(text, sizeof text, "timeout after %u msec", task->timeout_msec);
        s_task_abort(task, BRAID_STATUS_TIMEOUT, false, text, now);
        task->deadline = 0;
    }
    if (task->exec && braid_exec_needs_polling(task->exec) && braid_exec_check_exit(task->exec))
        task->drain_at = now + BRAID_WORKER_KILL_GRACE_MSEC;
    if (task->state == S_KILL) {
        if (task->kill_at && now >= task->kill_at) {
            braid_exec_kill(task->exec, SIGKILL);
            task->kill_at = 0;
        }
        if (braid_exec_exited(task->exec)) {
            char text[BRAID_MAX_TEXT + 1];
            snprintf(text, sizeof text, "%s", task->text);
            s_task_end(task, task->status, task->transient, text);
        }
    }
    if (task->silent)
        return task->state == S_END;    /* reaped: gone without a word     */
    if (task->state == S_RUN && task->synth) {
        size_t room = s_task_room(task);
        if (room) {
            zmsg_t *frames = zmsg_new();
            braid_synth_produce(task->synth, now, frames, room);
            s_task_accept(task, &frames);
        }
        if (braid_synth_done(task->synth)) {
            if (braid_synth_transient(task->synth)) {
                char text[64];
                snprintf(text, sizeof text, "synthetic transient failure (attempt %u)",
                         task->attempt);
                s_task_end(task, BRAID_STATUS_FAILED, true, text);
            } else
                s_task_end(task, BRAID_STATUS_OK, false, NULL);
        }
    }
    if (task->state == S_RUN && task->exec)
        s_exec_produce(task);
    if (task->state == S_RUN && task->exec && braid_exec_exited(task->exec)) {
        bool blocked = s_exec_blocked(task);
        if ((braid_exec_pipes_closed(task->exec) && !braid_exec_pending(task->exec)) ||
            (!blocked && now >= task->drain_at)) {
            /*  Both pipes at EOF and all output taken, or something
                outside our reach holds them: kill what is left of the
                group and reap.                                            */
            char text[BRAID_MAX_TEXT + 1];
            braid_exec_finish(task->exec);
            bool ok = braid_exec_result(task->exec, text, sizeof text);
            int code = braid_exec_exit_status(task->exec);
            bool transient = !ok && code > 0 && code < 256 && task->source->transient_exit[code];
            s_task_end(task, ok ? BRAID_STATUS_OK : BRAID_STATUS_FAILED, transient, text);
        } else if (blocked && now >= task->drain_at)
            task->drain_at = now + BRAID_WORKER_KILL_GRACE_MSEC;
    }
    if (task->state == S_KILL)
        return false;
    if (task->state == S_RUN && task->exec && zmsg_size(task->outq) > 0) {
        /*  Hold fresh lines a moment: a child about to exit then sends
            them in its DONE, one message instead of two. More output, or
            the moment passing, lets them go.                              */
        if (!task->hold_until)
            task->hold_until = now + S_EXEC_HOLD_MSEC;
        if (now < task->hold_until && now >= self->thawed_until)
            return false;
    }
    if (s_task_flush(self, task))
        return false;
    if (zmsg_size(task->outq) == 0)
        task->hold_until = 0;
    if (task->state != S_END || s_task_sendable(task) < zmsg_size(task->outq))
        return false;
    return s_task_send_done(self, task) == 0;
}

/*  The earliest time anything of this task needs the loop.                */
static int64_t
s_task_wake(braid_worker_t *self, s_task_t *task, int64_t now, int64_t wake)
{
    if (task->state == S_QUEUED && self->busy < self->config.slots)
        wake = now;
    if (task->state == S_RUN && task->hold_until && task->hold_until < wake)
        wake = task->hold_until;
    if (task->deadline && task->deadline < wake)
        wake = task->deadline;
    if (task->state == S_KILL && task->kill_at && task->kill_at < wake)
        wake = task->kill_at;
    if (task->state == S_RUN && task->exec && braid_exec_exited(task->exec) &&
        task->drain_at < wake)
        wake = task->drain_at;
    if (task->exec && braid_exec_needs_polling(task->exec) &&
        now + BRAID_EXEC_POLL_MSEC < wake)
        wake = now + BRAID_EXEC_POLL_MSEC;
    if (task->state == S_RUN && task->synth && s_task_room(task) > 0) {
        int64_t at = braid_synth_next_at(task->synth);
        if (at >= 0 && at < wake)
            wake = at;
    }
    /*  Output already read, and the window open again: split more now.   */
    if (task->state == S_RUN && task->exec && s_task_room(task) > 0 &&
        braid_exec_pending(task->exec))
        wake = now;
    return wake;
}

static int
s_add_item(braid_worker_t *self, int n, void *socket, int fd, short events, s_task_t *task,
           s_kind_t kind)
{
    self->items[n] = (zmq_pollitem_t){.socket = socket, .fd = fd, .events = events};
    self->itemmap[n] = (s_item_t){task, kind};
    return n + 1;
}

/*  Build the poll set: sockets, signal fd, and what each task waits on.   */
static int
s_build_items(braid_worker_t *self, int signal_fd)
{
    int n = 0;
    n = s_add_item(self, n, zsock_resolve(self->dealer), 0, ZMQ_POLLIN, NULL, S_ITEM_DEALER);
    n = s_add_item(self, n, NULL, signal_fd, ZMQ_POLLIN, NULL, S_ITEM_SIGNAL);
    if (self->push_blocked)
        n = s_add_item(self, n, zsock_resolve(self->push), 0, ZMQ_POLLOUT, NULL, S_ITEM_PUSH);
    for (size_t i = 0; i < self->ntasks; i++) {
        s_task_t *task = self->tasks[i];
        braid_exec_t *exec = task->exec;
        if (!exec || task->state == S_END)
            continue;
        int fd;
        /*  stdout only while nothing is held or waiting to be split and
            the window admits more: that is the backpressure.              */
        if (task->state == S_RUN &&
            (!s_exec_blocked(task) || (task->hold_until && !braid_exec_pending(exec))) &&
            (fd = braid_exec_stdout_fd(exec)) >= 0)
            n = s_add_item(self, n, NULL, fd, ZMQ_POLLIN, task, S_ITEM_OUT);
        if ((fd = braid_exec_stderr_fd(exec)) >= 0)
            n = s_add_item(self, n, NULL, fd, ZMQ_POLLIN, task, S_ITEM_ERR);
        if ((fd = braid_exec_pid_fd(exec)) >= 0)
            n = s_add_item(self, n, NULL, fd, ZMQ_POLLIN, task, S_ITEM_PID);
    }
    return n;
}

static void
s_begin_stop(braid_worker_t *self, int64_t now)
{
    if (self->stopping) {
        /*  A second signal: no more waiting.                              */
        self->stop_deadline = now;
        return;
    }
    braid_notice("stopping name=%s tasks=%zu", self->name, self->ntasks);
    self->stopping = true;
    self->stop_deadline = now + BRAID_WORKER_STOP_MSEC;
    /*  Handed back (g = 1): the broker runs them elsewhere and does not
        count a retry.                                                      */
    for (size_t i = 0; i < self->ntasks; i++)
        s_task_abort(self->tasks[i], BRAID_STATUS_CANCELLED, true, "worker stopping", now);
}

static void
s_on_signal(braid_worker_t *self, int signal_fd, int64_t now)
{
    struct signalfd_siginfo info;
    ssize_t n;
    while ((n = read(signal_fd, &info, sizeof info)) == (ssize_t) sizeof info) {
        braid_info("signal %u", info.ssi_signo);
        s_begin_stop(self, now);
    }
}

static int s_connect(braid_worker_t *self, char *err, size_t errsize);

/*  The broker said nothing for the liveness time: its end of our
    connections may be gone (a restart, a flap that lost what was queued).
    Make both sockets anew, dropping whatever they still queue, and say
    HELLO again. The new connection is a new worker to the broker, which
    runs what the old one had elsewhere once it expires it: so the tasks
    running here are killed quietly, and every slot the HELLO announces is
    really free.                                                           */
static int
s_reconnect(braid_worker_t *self, int64_t now)
{
    braid_warning("broker silent, reconnecting idle_msec=%lld",
                  (long long) (now - self->broker_seen));
    for (size_t i = 0; i < self->ntasks; i++)
        if (!self->tasks[i]->silent)
            s_task_silence(self, self->tasks[i], now);
    zsock_set_linger(self->dealer, 0);
    zsock_set_linger(self->push, 0);
    zsock_destroy(&self->dealer);
    zsock_destroy(&self->push);
    self->push_blocked = false;
    self->broker_seen = now;
    self->reconnects++;
    char err[256];
    if (s_connect(self, err, sizeof err)) {
        braid_error("%s", err);
        return -1;
    }
    s_send_hello(self);
    return 0;
}

int
braid_worker_run(braid_worker_t *self, int signal_fd)
{
    braid_msg_t hello;
    braid_msg_init(&hello, BRAID_MSG_HELLO);
    snprintf(hello.name, sizeof hello.name, "%s", self->name);
    hello.slots = self->config.slots;
    hello.nsources = (uint32_t) self->config.nsources;
    char list[BRAID_MAX_SOURCES * (BRAID_MAX_NAME + 1) + 1] = "";
    size_t len = 0;
    for (size_t i = 0; i < self->config.nsources; i++) {
        snprintf(hello.sources[i], sizeof hello.sources[i], "%s", self->config.sources[i]->name);
        len += (size_t) snprintf(list + len, sizeof list - len, "%s%s", i ? "," : "",
                                 self->config.sources[i]->name);
    }
    self->hello = hello;
    if (braid_msg_try_send(self->dealer, NULL, &hello, NULL)) {
        braid_error("cannot send HELLO: %s", strerror(errno));
        return -1;
    }
    braid_notice("ready name=%s slots=%u sources=%s", self->name, self->config.slots, list);

    int64_t now = zclock_mono();
    self->heartbeat_at = now + self->config.heartbeat_msec;
    self->broker_seen = now;
    int rc = 0;
    while (!self->stopping || (self->ntasks > 0 && now < self->stop_deadline)) {
        int nitems = s_build_items(self, signal_fd);
        int64_t wake = self->heartbeat_at;
        for (size_t i = 0; i < self->ntasks; i++)
            wake = s_task_wake(self, self->tasks[i], now, wake);
        if (self->stopping && self->stop_deadline < wake)
            wake = self->stop_deadline;
        if (!self->stopping && self->broker_seen + self->config.liveness_msec < wake)
            wake = self->broker_seen + self->config.liveness_msec;
        long timeout = wake > now ? (long) (wake - now) : 0;
        if (zmq_poll(self->items, nitems, timeout) < 0 && errno != EINTR) {
            braid_error("poll failed: %s", strerror(errno));
            rc = -1;
            break;
        }
        int64_t before = now;
        now = zclock_mono();
        /*  A gap far longer than any wait here means this process was
            frozen (SIGSTOP, a starved machine): the broker is not to blame
            for it. Count silence from now, so that what the tasks have goes
            out first; the broker fences it, and RESETs us if it gave up.  */
        if (now - before > (int64_t) self->config.liveness_msec / 2 &&
            now - before > (int64_t) self->config.heartbeat_msec * 2) {
            self->broker_seen = now;
            self->thawed_until = now + self->config.heartbeat_msec;
        }
        /*  The PUSH socket is polled only while it refused something; try
            again either way, a reconnect may have freed it.               */
        self->push_blocked = false;
        for (int i = 0; i < nitems; i++) {
            if (!(self->items[i].revents & (ZMQ_POLLIN | ZMQ_POLLOUT | ZMQ_POLLERR)))
                continue;
            s_item_t *item = &self->itemmap[i];
            if (item->kind == S_ITEM_SIGNAL)
                s_on_signal(self, signal_fd, now);
            else if (item->kind == S_ITEM_DEALER) {
                if (s_on_dealer(self, now)) {
                    braid_error("backend socket failed: %s", strerror(errno));
                    rc = -1;
                    break;
                }
            } else if (item->task)
                s_exec_event(self, item->task, item->kind, now);
        }
        if (rc)
            break;
        s_start_queued(self, now);
        /*  Pump every task; drop those whose DONE left.                   */
        size_t kept = 0;
        for (size_t i = 0; i < self->ntasks; i++) {
            s_task_t *task = self->tasks[i];
            if (s_task_pump(self, task, now)) {
                if (task->slot)
                    self->busy--;
                s_task_destroy(&task);
            } else
                self->tasks[kept++] = task;
        }
        self->ntasks = kept;
        /*  While stopping too: the tasks being killed are still ours
            until their DONE leaves.                                       */
        if (now >= self->heartbeat_at) {
            s_send_heartbeat(self);
            self->heartbeat_at = now + self->config.heartbeat_msec;
        }
        if (!self->stopping && now - self->broker_seen >= self->config.liveness_msec &&
            s_reconnect(self, now)) {
            rc = -1;
            break;
        }
    }
    if (self->ntasks)
        braid_warning("%zu tasks not reported to the broker", self->ntasks);
    s_send_control(self, BRAID_MSG_BYE);
    braid_notice("stopped name=%s tasks_done=%llu malformed=%llu reconnects=%llu", self->name,
                 (unsigned long long) self->tasks_done, (unsigned long long) self->malformed,
                 (unsigned long long) self->reconnects);
    return rc;
}

/*  ---------------------------------------------------------------------
    Construction                                                           */

/*  Make the DEALER and the PUSH and connect them (they must not exist). On
    -1 whichever was made is destroyed again.                              */
static int
s_connect(braid_worker_t *self, char *err, size_t errsize)
{
    self->dealer = zsock_new(ZMQ_DEALER);
    self->push = zsock_new(ZMQ_PUSH);
    if (!self->dealer || !self->push) {
        snprintf(err, errsize, "cannot create sockets: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    braid_socket_harden(self->dealer, BRAID_WORKER_HWM);
    braid_socket_harden(self->push, BRAID_WORKER_HWM);
    if (zsock_connect(self->dealer, "%s", self->config.backend)) {
        snprintf(err, errsize, "cannot connect to backend %s: %s", self->config.backend,
                 zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zsock_connect(self->push, "%s", self->config.sink)) {
        snprintf(err, errsize, "cannot connect to sink %s: %s", self->config.sink,
                 zmq_strerror(zmq_errno()));
        goto fail;
    }
    return 0;
fail:
    zsock_destroy(&self->dealer);
    zsock_destroy(&self->push);
    return -1;
}

braid_worker_t *
braid_worker_new(const braid_worker_config_t *config, char *err, size_t errsize)
{
    braid_worker_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    self->config = *config;
    snprintf(self->name, sizeof self->name, "%s", config->name);
    self->config.name = self->name;
    /*  Room for 2 x slots live tasks (running and queued), slots more
        still dying silently after a RESET or a new attempt (only running
        children take time to die), and a few refusals waiting for their
        DONE: beyond that a broker is ignoring our slot count and TASKs
        drop (never listed, so the broker sends them again).               */
    self->max_tasks = 3 * (size_t) config->slots + 16;
    size_t max_items = 3 + 3 * self->max_tasks;
    self->tasks = calloc(self->max_tasks, sizeof *self->tasks);
    self->items = calloc(max_items, sizeof *self->items);
    self->itemmap = calloc(max_items, sizeof *self->itemmap);
    self->buf = malloc(S_READ_BUF);
    if (!self->tasks || !self->items || !self->itemmap || !self->buf) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (!self->config.heartbeat_msec)
        self->config.heartbeat_msec = BRAID_WORKER_HEARTBEAT_MSEC;
    if (!self->config.liveness_msec)
        self->config.liveness_msec = BRAID_WORKER_LIVENESS_MSEC;
    if (s_connect(self, err, errsize))
        goto fail;
    return self;
fail:
    braid_worker_destroy(&self);
    return NULL;
}

void
braid_worker_destroy(braid_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_worker_t *self = *self_p;
    for (size_t i = 0; i < self->ntasks; i++)
        s_task_destroy(&self->tasks[i]);    /* kills and reaps children    */
    /*  Linger a little so the last DONEs and BYE leave.                   */
    if (self->dealer)
        zsock_set_linger(self->dealer, BRAID_WORKER_LINGER_MSEC);
    if (self->push)
        zsock_set_linger(self->push, BRAID_WORKER_LINGER_MSEC);
    zsock_destroy(&self->dealer);
    zsock_destroy(&self->push);
    free(self->tasks);
    free(self->items);
    free(self->itemmap);
    free(self->buf);
    free(self);
    *self_p = NULL;
}
