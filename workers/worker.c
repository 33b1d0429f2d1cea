/*  worker.c - the braid worker's event loop.

    One thread, one zmq_poll() with an explicit deadline. Each pass: poll;
    handle the signal fd, the DEALER, and whatever the tasks' runs and the
    source kinds' contexts wait on; start queued tasks in free slots; fire
    the kinds' timers; then pump every task (task.h): produce, send what
    the window and the PUSH socket allow, send DONE when the task is over.
    The loop never names a kind of source: tasks reach theirs through
    source_kind.h.

    Faults (PROTOCOL.md, "A worker" 2, 6-9): a TASK is acknowledged by the
    next WHEARTBEAT, which lists the tasks (queued ones too) with the next
    seq each will send and goes out within BRAID_WORKER_ACK_MSEC of a
    TASK; a broker silent for the liveness time gets both sockets made
    anew and HELLO again; that, and RESET, silence every task (killed,
    reaped, never reported) before the HELLO.

    Several brokers: one s_link_t per broker (its DEALER, PUSH, heartbeat
    and liveness), and all of the above per link; a task belongs to the
    link its TASK came on (braid_task_link) and reports there.
*/

#include "worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "braid_curve.h"
#include "braid_log.h"
#include "tasks.h"

#define S_MAX_RECV_PER_PASS 256 /* DEALER messages handled per loop pass  */
#define S_SHORT_MSEC 20         /* a poll set left something out: retry   */


/*  One broker: its sockets and timers.                                    */
typedef struct {
    braid_worker_t *worker;
    uint32_t index;         /* into links[] and sinks[]; the tasks' link   */
    zsock_t *dealer;
    zsock_t *push;
    int64_t heartbeat_at;
    int64_t broker_seen;    /* last message from the broker, or (re)connect */
    uint64_t reconnects;
} s_link_t;

/*  Who a poll item belongs to.                                             */
typedef enum { S_ITEM_DEALER, S_ITEM_PUSH, S_ITEM_SIGNAL, S_ITEM_TASK, S_ITEM_KIND } s_owner_t;

/*  A kind of source the worker's sources use, with its context.           */
typedef struct {
    const braid_source_kind_t *kind;
    void *context;          /* NULL for a kind without one                 */
} s_kind_t;

typedef struct {
    s_owner_t owner;
    void *ptr;              /* S_ITEM_TASK: the task; S_ITEM_KIND: s_kind_t;
                               S_ITEM_DEALER, S_ITEM_PUSH: the s_link_t   */
    int what;               /* given back to the owner's ready hook        */
} s_item_t;

struct _braid_worker_t {
    braid_worker_config_t config;
    char name[BRAID_MAX_NAME + 1];
    s_link_t links[BRAID_WORKER_MAX_BROKERS];
    size_t nlinks;
    braid_task_sink_t sinks[BRAID_WORKER_MAX_BROKERS];
                            /* per link: its PUSH, as the tasks see it     */
    zcert_t *key;           /* CURVE: this worker's keypair, or NULL       */
    zcert_t *broker_key;    /* CURVE: the broker's public key, or NULL     */
    braid_tasks_t *tasks;
    s_kind_t kinds[BRAID_MAX_SOURCES];
    size_t nkinds;
    zmq_pollitem_t *items;
    s_item_t *itemmap;
    size_t max_items;       /* both arrays; they grow if a kind needs it   */
    size_t nitems;          /* in this pass's poll set                     */
    bool items_short;       /* this pass's poll set left something out     */
    bool stopping;
    int64_t stop_deadline;
    int64_t thawed_until;   /* just woke from a freeze: hold nothing back  */
    braid_msg_t hello;
    uint64_t malformed;
    uint64_t tasks_done;
};

/*  ---------------------------------------------------------------------
    Sending                                                                */

/*  The tasks' sink: DATA and DONE on the link's PUSH socket, never
    blocking.                                                              */
static int
s_sink_send(void *arg, const braid_msg_t *msg, zmsg_t **frames_p)
{
    s_link_t *link = arg;
    if (braid_msg_try_send(link->push, NULL, msg, frames_p) == 0)
        return 0;
    if (frames_p && !*frames_p)
        return 0;           /* lost while the context terminates           */
    if (errno != EAGAIN)
        braid_warning("cannot send %s id=%llu: %s", braid_msg_type_name(msg->type),
                      (unsigned long long) msg->task_id, strerror(errno));
    return -1;
}

static void
s_send_control(s_link_t *link, braid_msg_type_t type)
{
    braid_msg_t msg;
    braid_msg_init(&msg, type);
    if (braid_msg_try_send(link->dealer, NULL, &msg, NULL) && errno != EAGAIN)
        braid_warning("cannot send %s: %s", braid_msg_type_name(type), strerror(errno));
}

static void
s_send_hello(s_link_t *link)
{
    if (braid_msg_try_send(link->dealer, NULL, &link->worker->hello, NULL))
        braid_warning("cannot send HELLO: %s", strerror(errno));  /* liveness retries */
}

/*  WHEARTBEAT with one frame: an entry per task of the link the broker
    should believe running (silent ones are not).                          */
static void
s_send_heartbeat(s_link_t *link)
{
    braid_worker_t *self = link->worker;
    size_t n = 0;
    for (size_t i = 0; i < braid_tasks_size(self->tasks); i++) {
        const braid_task_t *task = braid_tasks_at(self->tasks, i);
        n += !braid_task_silent(task) && braid_task_link(task) == link->index;
    }
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
    for (size_t i = 0, k = 0; i < braid_tasks_size(self->tasks) && k < n; i++) {
        const braid_task_t *task = braid_tasks_at(self->tasks, i);
        if (braid_task_silent(task) || braid_task_link(task) != link->index)
            continue;
        braid_hb_entry_t entry;
        braid_task_hb_entry(task, &entry);
        braid_hb_entry_put(p, &entry);
        p += BRAID_HEARTBEAT_ENTRY;
        k++;
    }
    zmsg_append(payload, &frame);
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_WHEARTBEAT);
    if (braid_msg_try_send(link->dealer, NULL, &msg, &payload)) {
        if (errno != EAGAIN)
            braid_warning("cannot send WHEARTBEAT: %s", strerror(errno));
        zmsg_destroy(&payload);
    }
}

/*  ---------------------------------------------------------------------
    The broker's messages                                                  */

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
s_ack_soon(s_link_t *link, int64_t now)
{
    if (link->heartbeat_at > now + BRAID_WORKER_ACK_MSEC)
        link->heartbeat_at = now + BRAID_WORKER_ACK_MSEC;
}

/*  TASK: hold it, queued; the loop starts it, in task id order, once a
    slot is free (at once if one is). A TASK the worker cannot run is held
    too, ended at once: its DONE says why.                                 */
static void
s_on_task(s_link_t *link, const braid_msg_t *msg, zmsg_t *payload, int64_t now)
{
    braid_worker_t *self = link->worker;
    if (braid_tasks_claim(self->tasks, link->index, msg->task_id, msg->attempts, now) ==
        BRAID_TASKS_DUPLICATE) {
        braid_debug("duplicate task id=%llu attempt=%u ignored", (unsigned long long) msg->task_id,
                    msg->attempts);
        s_ack_soon(link, now);  /* the next heartbeat lists it             */
        return;
    }
    if (braid_tasks_full(self->tasks)) {
        /*  Not listed in a heartbeat: the broker dispatches it again after
            its ack timeout.                                               */
        braid_warning("task id=%llu dropped: %zu tasks held, broker ignores slots",
                      (unsigned long long) msg->task_id, braid_tasks_size(self->tasks));
        return;
    }
    /*  What this broker holds here, against the slots it was told (the
        running ones may be fewer: the slots are shared between brokers).
        It is at most the table's size: only a table that holds as many
        tasks as one broker may send needs the walk.                       */
    size_t capacity = braid_worker_capacity(self->config.slots);
    size_t held =
        braid_tasks_size(self->tasks) < capacity ? 0 : braid_tasks_held(self->tasks, link->index);
    size_t running = 0, queued = 0;     /* for the refusal's text          */
    if (held >= capacity) {
        running = braid_tasks_busy(self->tasks);
        queued = braid_tasks_queued(self->tasks);
    }
    const braid_source_t *source = s_source_find(self, msg->name);
    zframe_t *query = zmsg_pop(payload);
    braid_task_t *task = braid_task_new(msg, source, &query);
    if (task)
        braid_task_set_link(task, link->index);
    if (!task || !(task = braid_tasks_add(self->tasks, &task))) {
        braid_error("out of memory for task id=%llu", (unsigned long long) msg->task_id);
        return;
    }
    s_ack_soon(link, now);
    char err[BRAID_MAX_TEXT + 1];
    if (self->stopping)
        braid_task_end(task, BRAID_STATUS_CANCELLED, true, "worker stopping");  /* handed back */
    else if (!source) {
        snprintf(err, sizeof err, "unknown source %s", msg->name);
        braid_task_end(task, BRAID_STATUS_FAILED, false, err);
    } else if (held >= capacity) {
        /*  The broker counted our slots differently (e.g. tasks from
            before a reconnect still run): another worker may take it.     */
        snprintf(err, sizeof err, "no free slot (%zu running, %zu queued)", running, queued);
        braid_task_end(task, BRAID_STATUS_FAILED, true, err);
    }
}

static void
s_on_credit(s_link_t *link, const braid_msg_t *msg)
{
    braid_task_t *task =
        braid_tasks_find(link->worker->tasks, link->index, msg->task_id, msg->attempts);
    if (task)
        braid_task_credit(task, msg->window, msg->window_bytes);
    else
        braid_debug("credit for unknown task id=%llu attempt=%u",
                    (unsigned long long) msg->task_id, msg->attempts);
}

static void
s_on_cancel(s_link_t *link, const braid_msg_t *msg, int64_t now)
{
    braid_task_t *task =
        braid_tasks_find(link->worker->tasks, link->index, msg->task_id, msg->attempts);
    if (task)
        braid_task_abort(task, BRAID_STATUS_CANCELLED, false, "cancelled", now);
    else
        braid_debug("cancel for unknown task id=%llu attempt=%u",
                    (unsigned long long) msg->task_id, msg->attempts);
}

/*  RESET: the broker does not know us. Whatever we run it has given up on
    (or never knew), so kill it all quietly and introduce ourselves again. */
static void
s_on_reset(s_link_t *link, int64_t now)
{
    braid_worker_t *self = link->worker;
    size_t killed = braid_tasks_silence_link(self->tasks, link->index, now);
    braid_info("broker reset name=%s tasks_killed=%zu backend=%s", self->name, killed,
               self->config.backends[link->index]);
    if (!self->stopping)
        s_send_hello(link);
}

/*  Read what the link's DEALER holds, a bounded number of messages per
    pass.                                                                  */
static int
s_on_dealer(s_link_t *link, int64_t now)
{
    braid_worker_t *self = link->worker;
    for (int i = 0; i < S_MAX_RECV_PER_PASS; i++) {
        braid_msg_t msg;
        zmsg_t *payload = NULL;
        braid_err_t err;
        /*  Until nothing waits: asking ZMQ_EVENTS first would cost two
            system calls a message.                                        */
        int rc = braid_msg_try_recv(link->dealer, false, BRAID_CH_TO_WORKER, &msg, NULL,
                                    &payload, &err);
        if (rc == -1)
            return errno == EINTR || errno == EAGAIN ? 0 : -1;
        link->broker_seen = now;    /* anything at all is a sign of life   */
        if (rc == -2) {
            self->malformed++;
            braid_debug("malformed message from broker reason=%s count=%llu",
                        braid_err_name(err), (unsigned long long) self->malformed);
            continue;
        }
        switch (msg.type) {
        case BRAID_MSG_TASK:
            s_on_task(link, &msg, payload, now);
            break;
        case BRAID_MSG_TASK_CREDIT:
            s_on_credit(link, &msg);
            break;
        case BRAID_MSG_TASK_CANCEL:
            s_on_cancel(link, &msg, now);
            break;
        case BRAID_MSG_RESET:
            s_on_reset(link, now);
            break;
        default:    /* BHEARTBEAT: nothing to do, traffic is what counts   */
            break;
        }
        zmsg_destroy(&payload);
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    The poll set                                                           */

/*  Append an item to this pass's poll set, growing it if need be. 0, or -1
    (noted in items_short) if out of memory.                               */
static int
s_add_item(braid_worker_t *self, void *socket, int fd, short events, s_owner_t owner, void *ptr,
           int what)
{
    if (self->nitems == self->max_items) {
        size_t max = self->max_items * 2;
        zmq_pollitem_t *items = realloc(self->items, max * sizeof *items);
        if (items)
            self->items = items;
        s_item_t *itemmap = items ? realloc(self->itemmap, max * sizeof *itemmap) : NULL;
        if (!itemmap) {
            self->items_short = true;
            return -1;
        }
        self->itemmap = itemmap;
        self->max_items = max;
    }
    self->items[self->nitems] = (zmq_pollitem_t){.socket = socket, .fd = fd, .events = events};
    self->itemmap[self->nitems] = (s_item_t){owner, ptr, what};
    self->nitems++;
    return 0;
}

/*  Who the descriptors a task's run or a kind's context adds belong to.   */
typedef struct {
    braid_worker_t *self;
    s_owner_t owner;
    void *ptr;
} s_adder_t;

static int
s_add_fd(void *arg, int fd, short events, int what)
{
    s_adder_t *adder = arg;
    return s_add_item(adder->self, NULL, fd, events, adder->owner, adder->ptr, what);
}

/*  Build the poll set: sockets, signal fd, and what the kinds' contexts
    and the tasks' runs wait on.                                            */
static void
s_build_items(braid_worker_t *self, int signal_fd)
{
    self->nitems = 0;
    self->items_short = false;
    s_add_item(self, NULL, signal_fd, ZMQ_POLLIN, S_ITEM_SIGNAL, NULL, 0);
    for (size_t i = 0; i < self->nlinks; i++) {
        s_link_t *link = &self->links[i];
        s_add_item(self, zsock_resolve(link->dealer), 0, ZMQ_POLLIN, S_ITEM_DEALER, link, 0);
        if (self->sinks[i].blocked)
            s_add_item(self, zsock_resolve(link->push), 0, ZMQ_POLLOUT, S_ITEM_PUSH, link, 0);
    }
    for (size_t i = 0; i < self->nkinds; i++) {
        s_kind_t *k = &self->kinds[i];
        s_adder_t adder = {self, S_ITEM_KIND, k};
        if (k->context && k->kind->context_fds)
            k->kind->context_fds(k->context, s_add_fd, &adder);
    }
    for (size_t i = 0; i < braid_tasks_size(self->tasks); i++) {
        braid_task_t *task = braid_tasks_at(self->tasks, i);
        s_adder_t adder = {self, S_ITEM_TASK, task};
        braid_task_fds(task, s_add_fd, &adder);
    }
}

/*  The void * a kind's hooks get for its context (NULL without one).      */
static void *
s_context(braid_worker_t *self, const braid_source_kind_t *kind)
{
    for (size_t i = 0; i < self->nkinds; i++)
        if (self->kinds[i].kind == kind)
            return self->kinds[i].context;
    return NULL;
}

/*  ---------------------------------------------------------------------
    The loop                                                               */

/*  The context a task's run starts in (a braid_tasks_context_fn).         */
static void *
s_task_context(void *arg, const braid_task_t *task)
{
    return s_context(arg, braid_task_source(task)->kind);
}

/*  Fill free slots from the queue, lowest task id first (tasks.h).
    Returns how many started.                                              */
static size_t
s_start_queued(braid_worker_t *self, int64_t now)
{
    size_t busy = braid_tasks_busy(self->tasks);
    if (self->stopping || busy >= self->config.slots)
        return 0;
    return braid_tasks_start_queued(self->tasks, self->config.slots - busy, s_task_context, self,
                                    now);
}

/*  Let each kind's context do its work (timers due, transfers).           */
static void
s_pump_kinds(braid_worker_t *self, int64_t now)
{
    for (size_t i = 0; i < self->nkinds; i++)
        if (self->kinds[i].context && self->kinds[i].kind->context_pump)
            self->kinds[i].kind->context_pump(self->kinds[i].context, now);
}

/*  When the loop must wake at the latest: a timer of the worker, a task or
    a kind's context.                                                      */
static int64_t
s_wake(braid_worker_t *self, int64_t now)
{
    int64_t wake = INT64_MAX;
    for (size_t i = 0; i < self->nlinks; i++) {
        const s_link_t *link = &self->links[i];
        if (link->heartbeat_at < wake)
            wake = link->heartbeat_at;
        if (!self->stopping && link->broker_seen + self->config.liveness_msec < wake)
            wake = link->broker_seen + self->config.liveness_msec;
    }
    if (braid_tasks_busy(self->tasks) < self->config.slots && braid_tasks_any_queued(self->tasks))
        wake = now;
    for (size_t i = 0; i < braid_tasks_size(self->tasks); i++)
        wake = braid_task_wake(braid_tasks_at(self->tasks, i), now, wake);
    for (size_t i = 0; i < self->nkinds; i++) {
        s_kind_t *k = &self->kinds[i];
        if (k->context && k->kind->context_wake) {
            int64_t at = k->kind->context_wake(k->context, now);
            if (at < wake)
                wake = at;
        }
    }
    if (self->items_short && now + S_SHORT_MSEC < wake)
        wake = now + S_SHORT_MSEC;
    if (self->stopping && self->stop_deadline < wake)
        wake = self->stop_deadline;
    return wake;
}

static void
s_begin_stop(braid_worker_t *self, int64_t now)
{
    if (self->stopping) {
        /*  A second signal: no more waiting.                              */
        self->stop_deadline = now;
        return;
    }
    braid_notice("stopping name=%s tasks=%zu", self->name, braid_tasks_size(self->tasks));
    self->stopping = true;
    self->stop_deadline = now + BRAID_WORKER_STOP_MSEC;
    /*  Handed back (g = 1): the broker runs them elsewhere and does not
        count a retry.                                                      */
    for (size_t i = 0; i < braid_tasks_size(self->tasks); i++)
        braid_task_abort(braid_tasks_at(self->tasks, i), BRAID_STATUS_CANCELLED, true,
                         "worker stopping", now);
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

/*  Handle what this pass's poll found ready. -1 if the DEALER failed.     */
static int
s_dispatch(braid_worker_t *self, int signal_fd, int64_t now)
{
    for (size_t i = 0; i < self->nitems; i++) {
        short revents = self->items[i].revents;
        if (!(revents & (ZMQ_POLLIN | ZMQ_POLLOUT | ZMQ_POLLERR)))
            continue;
        s_item_t *item = &self->itemmap[i];
        switch (item->owner) {
        case S_ITEM_SIGNAL:
            s_on_signal(self, signal_fd, now);
            break;
        case S_ITEM_DEALER:
            if (s_on_dealer(item->ptr, now)) {
                braid_error("backend socket failed: %s", strerror(errno));
                return -1;
            }
            break;
        case S_ITEM_TASK:
            braid_task_ready(item->ptr, item->what, revents, now);
            break;
        case S_ITEM_KIND: {
            s_kind_t *k = item->ptr;
            k->kind->context_ready(k->context, item->what, revents, now);
            break;
        }
        case S_ITEM_PUSH:   /* room again: the pump tries                  */
            break;
        }
    }
    return 0;
}

static int s_connect(s_link_t *link, char *err, size_t errsize);

/*  The broker said nothing for the liveness time: its end of our
    connections may be gone (a restart, a flap that lost what was queued).
    Make both sockets anew, dropping whatever they still queue, and say
    HELLO again. The new connection is a new worker to the broker, which
    runs what the old one had elsewhere once it expires it: so the tasks
    running here are killed quietly, and every slot the HELLO announces is
    really free.                                                           */
static int
s_reconnect(s_link_t *link, int64_t now)
{
    braid_worker_t *self = link->worker;
    braid_warning("broker silent, reconnecting idle_msec=%lld backend=%s",
                  (long long) (now - link->broker_seen), self->config.backends[link->index]);
    braid_tasks_silence_link(self->tasks, link->index, now);
    zsock_set_linger(link->dealer, 0);
    zsock_set_linger(link->push, 0);
    zsock_destroy(&link->dealer);
    zsock_destroy(&link->push);
    self->sinks[link->index].blocked = false;
    link->broker_seen = now;
    link->reconnects++;
    char err[256];
    if (s_connect(link, err, sizeof err)) {
        braid_error("%s", err);
        return -1;
    }
    s_send_hello(link);
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
    hello.nflags = hello.nsources;
    hello.pid = (uint32_t) getpid();
    if (gethostname(hello.host, sizeof hello.host) != 0)
        hello.host[0] = 0;
    hello.host[sizeof hello.host - 1] = 0;
    snprintf(hello.version, sizeof hello.version, "%s", BRAID_WORKER_VERSION);
    char list[BRAID_MAX_SOURCES * (BRAID_MAX_NAME + 1) + 1] = "";
    size_t len = 0;
    for (size_t i = 0; i < self->config.nsources; i++) {
        snprintf(hello.sources[i], sizeof hello.sources[i], "%s", self->config.sources[i]->name);
        hello.source_flags[i] = braid_keyer_flags(self->config.sources[i]->keyer);
        len += (size_t) snprintf(list + len, sizeof list - len, "%s%s", i ? "," : "",
                                 self->config.sources[i]->name);
    }
    self->hello = hello;
    for (size_t i = 0; i < self->nlinks; i++)
        if (braid_msg_try_send(self->links[i].dealer, NULL, &hello, NULL)) {
            braid_error("cannot send HELLO: %s", strerror(errno));
            return -1;
        }
    braid_notice("ready name=%s slots=%u sources=%s brokers=%zu", self->name, self->config.slots,
                 list, self->nlinks);

    int64_t now = zclock_mono();
    for (size_t i = 0; i < self->nlinks; i++) {
        self->links[i].heartbeat_at = now + self->config.heartbeat_msec;
        self->links[i].broker_seen = now;
    }
    int rc = 0;
    while (!self->stopping || (braid_tasks_size(self->tasks) > 0 && now < self->stop_deadline)) {
        s_build_items(self, signal_fd);
        int64_t wake = s_wake(self, now);
        long timeout = wake > now ? (long) (wake - now) : 0;
        if (zmq_poll(self->items, (int) self->nitems, timeout) < 0 && errno != EINTR) {
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
            for (size_t i = 0; i < self->nlinks; i++)
                self->links[i].broker_seen = now;
            self->thawed_until = now + self->config.heartbeat_msec;
        }
        /*  The PUSH socket is polled only while it refused something; try
            again either way, a reconnect may have freed it.               */
        for (size_t i = 0; i < self->nlinks; i++)
            self->sinks[i].blocked = false;
        if (s_dispatch(self, signal_fd, now)) {
            rc = -1;
            break;
        }
        /*  The kinds' timers first, then every task pumped (those whose
            DONE left are dropped). Ended tasks send their DONE before
            queued ones start: starting a command takes a while, and the
            broker waits on that DONE to send what follows.                */
        bool thawed = now < self->thawed_until;
        s_pump_kinds(self, now);
        self->tasks_done += braid_tasks_pump(self->tasks, now, thawed, self->sinks);
        /*  Runs started now may set a context timer due at once (curl's
            first step of a new transfer): fire the timers after them, so
            a request leaves in the pass its TASK came in; and a run that
            is over at once sends its DONE in this pass too.               */
        if (s_start_queued(self, now) > 0) {
            s_pump_kinds(self, now);
            self->tasks_done += braid_tasks_pump_fresh(self->tasks, now, thawed, self->sinks);
        }
        for (size_t i = 0; i < self->nlinks && rc == 0; i++) {
            s_link_t *link = &self->links[i];
            /*  While stopping too: the tasks being killed are still ours
                until their DONE leaves.                                   */
            if (now >= link->heartbeat_at) {
                s_send_heartbeat(link);
                link->heartbeat_at = now + self->config.heartbeat_msec;
            }
            if (!self->stopping && now - link->broker_seen >= self->config.liveness_msec &&
                s_reconnect(link, now))
                rc = -1;
        }
        if (rc)
            break;
    }
    if (braid_tasks_size(self->tasks))
        braid_warning("%zu tasks not reported to the broker", braid_tasks_size(self->tasks));
    uint64_t reconnects = 0;
    for (size_t i = 0; i < self->nlinks; i++) {
        s_send_control(&self->links[i], BRAID_MSG_BYE);
        reconnects += self->links[i].reconnects;
    }
    braid_notice("stopped name=%s tasks_done=%llu malformed=%llu reconnects=%llu", self->name,
                 (unsigned long long) self->tasks_done, (unsigned long long) self->malformed,
                 (unsigned long long) reconnects);
    return rc;
}

/*  ---------------------------------------------------------------------
    Construction                                                           */

/*  Make the link's DEALER and PUSH and connect them (they must not exist).
    On -1 whichever was made is destroyed again.                           */
static int
s_connect(s_link_t *link, char *err, size_t errsize)
{
    braid_worker_t *self = link->worker;
    const char *backend = self->config.backends[link->index];
    const char *sink = self->config.sinks[link->index];
    link->dealer = zsock_new(ZMQ_DEALER);
    link->push = zsock_new(ZMQ_PUSH);
    if (!link->dealer || !link->push) {
        snprintf(err, errsize, "cannot create sockets: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    braid_socket_harden(link->dealer, BRAID_WORKER_HWM);
    braid_socket_harden(link->push, BRAID_WORKER_HWM);
    /*  Never wait in a read: a message ZMQ_EVENTS reported may be gone
        with its connection by the time it is read (broker.c, s_bind).     */
    zsock_set_rcvtimeo(link->dealer, 0);
    /*  The transport reaps a dead broker connection too (libzmq reconnects);
        the worker's own liveness check decides what the tasks do.         */
    braid_socket_heartbeat(link->dealer, (int) self->config.heartbeat_msec,
                           (int) self->config.liveness_msec);
    braid_socket_heartbeat(link->push, (int) self->config.heartbeat_msec,
                           (int) self->config.liveness_msec);
    if (self->key && (braid_curve_client(link->dealer, self->key, self->broker_key) ||
                      braid_curve_client(link->push, self->key, self->broker_key))) {
        snprintf(err, errsize, "cannot set up CURVE: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zsock_connect(link->dealer, "%s", backend)) {
        snprintf(err, errsize, "cannot connect to backend %s: %s", backend,
                 zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (zsock_connect(link->push, "%s", sink)) {
        snprintf(err, errsize, "cannot connect to sink %s: %s", sink, zmq_strerror(zmq_errno()));
        goto fail;
    }
    return 0;
fail:
    zsock_destroy(&link->dealer);
    zsock_destroy(&link->push);
    return -1;
}

/*  Open the context of every kind the sources use, once per kind.         */
static int
s_open_kinds(braid_worker_t *self, char *err, size_t errsize)
{
    for (size_t i = 0; i < self->config.nsources; i++) {
        const braid_source_kind_t *kind = self->config.sources[i]->kind;
        size_t k = 0;
        while (k < self->nkinds && self->kinds[k].kind != kind)
            k++;
        if (k < self->nkinds)
            continue;
        self->kinds[self->nkinds].kind = kind;
        if (kind->open) {
            char why[256];
            if (!(self->kinds[self->nkinds].context = kind->open(self->config.slots, why,
                                                                 sizeof why))) {
                snprintf(err, errsize, "cannot start %s sources: %s", kind->name, why);
                return -1;
            }
        }
        self->nkinds++;
    }
    return 0;
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
    if (config->nbrokers < 1 || config->nbrokers > BRAID_WORKER_MAX_BROKERS) {
        snprintf(err, errsize, "1..%d brokers, not %zu", BRAID_WORKER_MAX_BROKERS,
                 config->nbrokers);
        goto fail;
    }
    self->nlinks = config->nbrokers;
    for (size_t i = 0; i < self->nlinks; i++) {
        self->links[i] = (s_link_t){.worker = self, .index = (uint32_t) i};
        self->sinks[i] = (braid_task_sink_t){.send = s_sink_send, .arg = &self->links[i]};
    }
    /*  Room for every live task (running and queued) of every broker,
        slots more still dying silently after a RESET or a new attempt
        (only running children take time to die), and a few refusals
        waiting for their DONE: beyond that a broker is ignoring our slot
        count and TASKs drop (never listed, so the broker sends them
        again).                                                            */
    size_t max_tasks =
        braid_worker_capacity(config->slots) * self->nlinks + (size_t) config->slots + 16;
    self->tasks = braid_tasks_new(max_tasks);
    self->max_items = 3 + 3 * max_tasks;
    self->items = calloc(self->max_items, sizeof *self->items);
    self->itemmap = calloc(self->max_items, sizeof *self->itemmap);
    if (!self->tasks || !self->items || !self->itemmap) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (!self->config.heartbeat_msec)
        self->config.heartbeat_msec = BRAID_WORKER_HEARTBEAT_MSEC;
    if (!self->config.liveness_msec)
        self->config.liveness_msec = BRAID_WORKER_LIVENESS_MSEC;
    if (braid_curve_load_pair(config->key, config->broker_key, &self->key, &self->broker_key, err,
                              errsize) ||
        s_open_kinds(self, err, errsize))
        goto fail;
    for (size_t i = 0; i < self->nlinks; i++)
        if (s_connect(&self->links[i], err, errsize))
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
    braid_tasks_destroy(&self->tasks);     /* kills and reaps children    */
    for (size_t i = 0; i < self->nkinds; i++)
        if (self->kinds[i].kind->close)
            self->kinds[i].kind->close(&self->kinds[i].context);
    /*  Linger a little so the last DONEs and BYE leave.                   */
    for (size_t i = 0; i < self->nlinks; i++) {
        s_link_t *link = &self->links[i];
        if (link->dealer)
            zsock_set_linger(link->dealer, BRAID_WORKER_LINGER_MSEC);
        if (link->push)
            zsock_set_linger(link->push, BRAID_WORKER_LINGER_MSEC);
        zsock_destroy(&link->dealer);
        zsock_destroy(&link->push);
    }
    zcert_destroy(&self->key);
    zcert_destroy(&self->broker_key);
    free(self->items);
    free(self->itemmap);
    free(self);
    *self_p = NULL;
}
