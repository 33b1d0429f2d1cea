/*  test_worker.c - the worker's loop against a fake broker over inproc://
    sockets: HELLO, TASK to DONE, the heartbeat that acknowledges a TASK,
    refusals (unknown source, no free slot), duplicates, cancel, RESET,
    a source kind with a context of its own (descriptors and a timer, as
    an http kind on curl multi will have), and the stop on a signal.

    The worker runs in a thread of its own; its "signalfd" is a pipe the
    test writes a signalfd_siginfo into.                                   */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "braid_parts.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "source.h"
#include "worker.h"

#define S_RECV_MSEC 5000        /* the longest the test waits for anything */

/*  ---------------------------------------------------------------------
    A kind with a context: one pipe for all its runs, and a timer. A byte
    on the pipe is a partial for every run; the timer, set by the first
    byte, ends them all.                                                   */

typedef struct {
    int rd, wr;
    uint64_t bytes;         /* read from the pipe so far                   */
    int64_t due;            /* the timer; 0 = not set                      */
    bool fired;
} s_context_t;

static s_context_t *s_ctx;  /* for the test to write to; one worker at a time */

typedef struct {
    s_context_t *context;
    uint64_t made;
} s_run_t;

static void *
s_ctx_open(uint32_t slots, char *err, size_t errsize)
{
    (void) slots;
    s_context_t *self = calloc(1, sizeof *self);
    int fds[2];
    if (!self || pipe2(fds, O_NONBLOCK | O_CLOEXEC)) {
        free(self);
        snprintf(err, errsize, "no pipe");
        return NULL;
    }
    self->rd = fds[0];
    self->wr = fds[1];
    s_ctx = self;
    return self;
}

static void
s_ctx_close(void **self_p)
{
    s_context_t *self = *self_p;
    if (!self)
        return;
    close(self->rd);
    close(self->wr);
    free(self);
    s_ctx = NULL;
    *self_p = NULL;
}

static void
s_ctx_fds(void *context, braid_fd_add_fn *add, void *arg)
{
    s_context_t *self = context;
    add(arg, self->rd, ZMQ_POLLIN, 7);
}

static void
s_ctx_ready(void *context, int what, short revents, int64_t now)
{
    s_context_t *self = context;
    assert_int_equal(what, 7);
    assert_true(revents & ZMQ_POLLIN);
    char buf[16];
    ssize_t n;
    while ((n = read(self->rd, buf, sizeof buf)) > 0) {
        self->bytes += (uint64_t) n;
        if (!self->due)
            self->due = now + 20;
    }
}

static void
s_ctx_pump(void *context, int64_t now)
{
    s_context_t *self = context;
    if (self->due && now >= self->due)
        self->fired = true;
}

static int64_t
s_ctx_wake(void *context, int64_t now)
{
    (void) now;
    s_context_t *self = context;
    return self->due && !self->fired ? self->due : INT64_MAX;
}

static void *
s_ctx_settings_new(void)
{
    return calloc(1, 1);
}

static void
s_ctx_settings_destroy(void **settings_p)
{
    free(*settings_p);
    *settings_p = NULL;
}

static braid_run_result_t
s_ctx_start(void *context, const void *settings, zframe_t **query_p, uint32_t attempt,
            int64_t now, void **run_p, char *text, size_t textsize)
{
    (void) settings, (void) attempt, (void) now, (void) text, (void) textsize;
    assert_ptr_equal(context, s_ctx);   /* the worker's context of the kind */
    zframe_destroy(query_p);
    s_run_t *self = calloc(1, sizeof *self);
    assert_non_null(self);
    self->context = context;
    *run_p = self;
    return BRAID_RUN_BUSY;
}

static void
s_ctx_destroy(void **run_p)
{
    free(*run_p);
    *run_p = NULL;
}

static size_t
s_ctx_produce(void *run, int64_t now, braid_parts_t *out, size_t max)
{
    (void) now;
    s_run_t *self = run;
    size_t n = 0;
    while (n < max && self->made < self->context->bytes) {
        braid_parts_add(out, "byte", 4);
        self->made++;
        n++;
    }
    return n;
}

static braid_run_result_t
s_ctx_advance(void *run, int64_t now, size_t room, char *text, size_t textsize)
{
    (void) now, (void) room, (void) text, (void) textsize;
    s_run_t *self = run;
    return self->context->fired ? BRAID_RUN_OK : BRAID_RUN_BUSY;
}

static braid_run_result_t
s_ctx_stop(void *run, int64_t now)
{
    (void) run, (void) now;
    return BRAID_RUN_STOPPED;
}

static int64_t
s_ctx_run_wake(void *run, int64_t now, size_t room)
{
    (void) run, (void) now, (void) room;
    return INT64_MAX;
}

static const braid_source_kind_t s_ctx_kind = {
    .name = "ctx",
    .settings_new = s_ctx_settings_new,
    .settings_destroy = s_ctx_settings_destroy,
    .open = s_ctx_open,
    .close = s_ctx_close,
    .context_fds = s_ctx_fds,
    .context_ready = s_ctx_ready,
    .context_pump = s_ctx_pump,
    .context_wake = s_ctx_wake,
    .start = s_ctx_start,
    .destroy = s_ctx_destroy,
    .produce = s_ctx_produce,
    .advance = s_ctx_advance,
    .stop = s_ctx_stop,
    .wake = s_ctx_run_wake,
};

/*  ---------------------------------------------------------------------
    The fixture: a fake broker and a worker in a thread                    */

typedef struct {
    zsock_t *backend;       /* ROUTER, the broker's control socket         */
    zsock_t *sink;          /* PULL, the broker's results socket           */
    zframe_t *worker_id;    /* the worker's routing id, from its HELLO     */
    int sig[2];             /* the worker's "signalfd"                     */
    braid_source_t *sources[3];
    braid_worker_config_t config;
    pthread_t thread;
    bool running;           /* the thread is not joined yet                */
    int rc;                 /* braid_worker_run's                          */
} s_fixture_t;

static void *
s_worker_thread(void *arg)
{
    s_fixture_t *f = arg;
    char err[256];
    braid_worker_t *worker = braid_worker_new(&f->config, err, sizeof err);
    if (!worker) {
        fprintf(stderr, "worker: %s\n", err);
        f->rc = -2;
        return NULL;
    }
    f->rc = braid_worker_run(worker, f->sig[0]);
    braid_worker_destroy(&worker);
    return NULL;
}

/*  Receive from the backend, skipping heartbeats unless one is wanted.
    Returns the payload (caller destroys).                                  */
static zmsg_t *
s_recv_control(s_fixture_t *f, braid_msg_t *msg, int want)
{
    for (;;) {
        zframe_t *rid = NULL;
        zmsg_t *payload = NULL;
        braid_err_t err;
        int rc = braid_msg_recv(f->backend, true, BRAID_CH_WORKER, msg, &rid, &payload, &err);
        assert_int_equal(rc, 0);
        zframe_destroy(&f->worker_id);
        f->worker_id = rid;
        if (msg->type == BRAID_MSG_WHEARTBEAT && want != BRAID_MSG_WHEARTBEAT) {
            zmsg_destroy(&payload);
            continue;
        }
        assert_int_equal(msg->type, want);
        return payload;
    }
}

static zmsg_t *
s_recv_result(s_fixture_t *f, braid_msg_t *msg)
{
    zmsg_t *payload = NULL;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(f->sink, false, BRAID_CH_SINK, msg, NULL, &payload, &err), 0);
    return payload;
}

/*  Receive results until task id's DONE; returns it, with the partials of
    its DATA and DONE counted in *nparts.                                   */
static void
s_recv_done(s_fixture_t *f, uint64_t id, braid_msg_t *done, size_t *nparts)
{
    *nparts = 0;
    for (;;) {
        zmsg_t *payload = s_recv_result(f, done);
        assert_int_equal(done->task_id, id);
        *nparts += payload ? braid_parts_frame_count(zmsg_first(payload)) : 0;
        zmsg_destroy(&payload);
        if (done->type == BRAID_MSG_DONE)
            return;
    }
}

static void
s_send(s_fixture_t *f, const braid_msg_t *msg, const char *query)
{
    zmsg_t *payload = NULL;
    if (query) {
        payload = zmsg_new();
        zmsg_addstr(payload, query);
    }
    assert_int_equal(braid_msg_send(f->backend, f->worker_id, msg, &payload, false), 0);
}

static void
s_send_task(s_fixture_t *f, uint64_t id, uint32_t attempt, const char *source, const char *query)
{
    braid_msg_t msg;
    braid_msg_init(&msg, BRAID_MSG_TASK);
    msg.task_id = id;
    msg.attempts = attempt;
    snprintf(msg.name, sizeof msg.name, "%s", source);
    s_send(f, &msg, query);
}

static void
s_send_control(s_fixture_t *f, braid_msg_type_t type, uint64_t id, uint32_t attempt)
{
    braid_msg_t msg;
    braid_msg_init(&msg, type);
    msg.task_id = id;
    msg.attempts = attempt;
    s_send(f, &msg, NULL);
}

static int
s_setup(void **state)
{
    static int seq;
    s_fixture_t *f = calloc(1, sizeof *f);
    char backend[64], sink[64], err[256];
    snprintf(backend, sizeof backend, "inproc://test-worker-backend-%d", ++seq);
    snprintf(sink, sizeof sink, "inproc://test-worker-sink-%d", seq);
    f->backend = zsock_new_router(backend);
    f->sink = zsock_new_pull(sink);
    if (!f->backend || !f->sink || pipe2(f->sig, O_NONBLOCK | O_CLOEXEC))
        return -1;
    zsock_set_rcvtimeo(f->backend, S_RECV_MSEC);
    zsock_set_rcvtimeo(f->sink, S_RECV_MSEC);
    zsock_set_router_mandatory(f->backend, 1);
    f->sources[0] = braid_source_from_flag("syn=synthetic:parts=2,size=8", err, sizeof err);
    f->sources[1] = braid_source_from_flag("slow=synthetic:parts=3,delay_msec=60000", err,
                                           sizeof err);
    f->sources[2] = calloc(1, sizeof *f->sources[2]);
    snprintf(f->sources[2]->name, sizeof f->sources[2]->name, "ctx");
    f->sources[2]->kind = &s_ctx_kind;
    f->sources[2]->settings = s_ctx_kind.settings_new();
    f->config = (braid_worker_config_t){
        .name = "tw",
        .slots = 1,
        .backends = {strdup(backend)},
        .sinks = {strdup(sink)},
        .nbrokers = 1,
        .sources = f->sources,
        .nsources = 3,
        .heartbeat_msec = 10000,    /* only the TASK acknowledgement       */
        .liveness_msec = 60000,
    };
    if (pthread_create(&f->thread, NULL, s_worker_thread, f))
        return -1;
    f->running = true;
    *state = f;

    /*  HELLO: the name, the slots, the sources.                            */
    braid_msg_t hello;
    zmsg_t *payload = s_recv_control(f, &hello, BRAID_MSG_HELLO);
    zmsg_destroy(&payload);
    assert_string_equal(hello.name, "tw");
    assert_int_equal(hello.slots, 1);
    assert_int_equal(hello.nsources, 3);
    assert_string_equal(hello.sources[0], "syn");
    assert_string_equal(hello.sources[2], "ctx");
    return 0;
}

/*  Stop the worker as SIGTERM would; it must say BYE and return 0.        */
static void
s_stop(s_fixture_t *f)
{
    struct signalfd_siginfo info = {.ssi_signo = 15};
    assert_int_equal(write(f->sig[1], &info, sizeof info), (ssize_t) sizeof info);
    braid_msg_t msg;
    zmsg_t *payload = s_recv_control(f, &msg, BRAID_MSG_BYE);
    zmsg_destroy(&payload);
    pthread_join(f->thread, NULL);
    f->running = false;
    assert_int_equal(f->rc, 0);
}

static int
s_teardown(void **state)
{
    s_fixture_t *f = *state;
    if (f->running)
        s_stop(f);
    zframe_destroy(&f->worker_id);
    zsock_destroy(&f->backend);
    zsock_destroy(&f->sink);
    close(f->sig[0]);
    close(f->sig[1]);
    for (size_t i = 0; i < 3; i++)
        braid_source_destroy(&f->sources[i]);
    free((char *) f->config.backends[0]);
    free((char *) f->config.sinks[0]);
    free(f);
    return 0;
}

/*  ---------------------------------------------------------------------
    Tests                                                                  */

static void
test_task_to_done(void **state)
{
    s_fixture_t *f = *state;
    s_send_task(f, 100, 1, "syn", "hi");
    braid_msg_t done;
    zmsg_t *payload = s_recv_result(f, &done);
    assert_int_equal(done.type, BRAID_MSG_DONE);    /* one message: DONE   */
    assert_int_equal(done.task_id, 100);
    assert_int_equal(done.attempts, 1);
    assert_int_equal(done.status, BRAID_STATUS_OK);
    assert_int_equal(done.parts, 2);
    assert_int_equal(zmsg_size(payload), 1);       /* one parts frame     */
    assert_int_equal(braid_parts_frame_count(zmsg_first(payload)), 2);
    braid_parts_iter_t it;
    braid_parts_iter(&it, zframe_data(zmsg_first(payload)), zframe_size(zmsg_first(payload)));
    const void *first;
    size_t len;
    assert_true(braid_parts_next(&it, &first, &len));
    assert_int_equal(len, 8);
    assert_memory_equal(first, "hi 0...\n", 8);
    zmsg_destroy(&payload);
}

static void
test_ack_and_refusals(void **state)
{
    s_fixture_t *f = *state;
    /*  The heartbeat after a TASK lists it: attempt and next seq.         */
    s_send_task(f, 200, 2, "slow", "q");
    braid_msg_t msg;
    zmsg_t *payload = s_recv_control(f, &msg, BRAID_MSG_WHEARTBEAT);
    zframe_t *frame = zmsg_first(payload);
    assert_int_equal(zframe_size(frame), BRAID_HEARTBEAT_ENTRY);
    braid_hb_entry_t entry;
    braid_hb_entry_get(zframe_data(frame), &entry);
    assert_int_equal(entry.task_id, 200);
    assert_int_equal(entry.attempt, 2);
    assert_int_equal(entry.next_seq, 0);
    zmsg_destroy(&payload);

    /*  One slot: one more may wait, the next is refused (transient).      */
    s_send_task(f, 201, 1, "slow", "q");
    s_send_task(f, 202, 1, "slow", "q");
    size_t nparts;
    s_recv_done(f, 202, &msg, &nparts);
    assert_int_equal(msg.status, BRAID_STATUS_FAILED);
    assert_int_equal(msg.transient, 1);
    assert_string_equal(msg.text, "no free slot (1 running, 1 queued)");

    /*  An unknown source fails for good; a duplicate TASK is ignored.     */
    s_send_task(f, 200, 2, "slow", "q");
    s_send_task(f, 203, 1, "nope", "q");
    s_recv_done(f, 203, &msg, &nparts);
    assert_int_equal(msg.status, BRAID_STATUS_FAILED);
    assert_int_equal(msg.transient, 0);
    assert_string_equal(msg.text, "unknown source nope");

    /*  Cancel the running one: the queued one starts in its slot.         */
    s_send_control(f, BRAID_MSG_TASK_CANCEL, 200, 2);
    s_recv_done(f, 200, &msg, &nparts);
    assert_int_equal(msg.status, BRAID_STATUS_CANCELLED);
    assert_string_equal(msg.text, "cancelled");

    /*  SIGTERM: the running task is handed back (cancelled, transient).   */
    struct signalfd_siginfo info = {.ssi_signo = 15};
    assert_int_equal(write(f->sig[1], &info, sizeof info), (ssize_t) sizeof info);
    s_recv_done(f, 201, &msg, &nparts);
    assert_int_equal(msg.status, BRAID_STATUS_CANCELLED);
    assert_int_equal(msg.transient, 1);
    assert_string_equal(msg.text, "worker stopping");
    payload = s_recv_control(f, &msg, BRAID_MSG_BYE);
    zmsg_destroy(&payload);
    pthread_join(f->thread, NULL);
    f->running = false;
    assert_int_equal(f->rc, 0);
}

static void
test_reset(void **state)
{
    s_fixture_t *f = *state;
    s_send_task(f, 300, 1, "slow", "q");
    braid_msg_t msg;
    zmsg_t *payload = s_recv_control(f, &msg, BRAID_MSG_WHEARTBEAT);
    zmsg_destroy(&payload);
    /*  RESET: the task dies without a word, and HELLO comes again.        */
    s_send_control(f, BRAID_MSG_RESET, 0, 0);
    payload = s_recv_control(f, &msg, BRAID_MSG_HELLO);
    zmsg_destroy(&payload);
    /*  Its slot is free: a new task runs at once.                         */
    s_send_task(f, 301, 1, "syn", "x");
    size_t nparts;
    s_recv_done(f, 301, &msg, &nparts);     /* 300 never reports           */
    assert_int_equal(msg.status, BRAID_STATUS_OK);
    assert_int_equal(nparts, 2);
}

static void
test_kind_context(void **state)
{
    s_fixture_t *f = *state;
    s_send_task(f, 400, 1, "ctx", "q");
    braid_msg_t msg;
    zmsg_t *payload = s_recv_control(f, &msg, BRAID_MSG_WHEARTBEAT);   /* it runs */
    zmsg_destroy(&payload);
    /*  Two bytes on the context's descriptor: two partials; its timer
        then ends the run.                                                 */
    assert_non_null(s_ctx);
    assert_int_equal(write(s_ctx->wr, "ab", 2), 2);
    size_t nparts;
    s_recv_done(f, 400, &msg, &nparts);
    assert_int_equal(msg.status, BRAID_STATUS_OK);
    assert_int_equal(msg.parts, 2);
    assert_int_equal(nparts, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_task_to_done, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_ack_and_refusals, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reset, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_kind_context, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
