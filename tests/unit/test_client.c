/*  test_client.c - libbraid's client (client/client.c, conn.c) against a
    scripted broker on inproc:// in a thread of its own: submit with the
    queries pipelined, the stream to its end, refusal, failover, a gap, a
    silent broker, cancel, connection reuse, stats, and the named results
    of calls that cannot go on.                                             */

#include "braid.h"
#include "braid_msg.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "braid_parts.h"

#define T_TIMEOUT_MSEC 5000     /* any wait in a test, at most              */

/*  What the scripted broker does.                                          */
typedef enum {
    T_STREAM,       /* ACCEPT; once the queries are in, a partial and an END
                       per query, then JOB_END                              */
    T_REFUSE,       /* ERROR 429 to SUBMIT                                  */
    T_GAP,          /* ACCEPT, then a PARTIAL with out_seq 1                */
    T_SILENT,       /* ACCEPT, then nothing at all (not even PONG)          */
    T_CANCEL,       /* ACCEPT; JOB_END cancelled once CANCEL comes          */
    T_NEVER         /* no answer to anything                                */
} t_script_t;

typedef struct {
    char endpoint[64];
    t_script_t script;
    /*  What it saw; read after the actor is destroyed.                     */
    int submits, cancels, pings, credits, stats;
    uint32_t queries;           /* query frames received                    */
    uint32_t count;             /* the SUBMIT's query count                 */
    uint64_t credit;            /* the SUBMIT's credit                      */
    int peers;                  /* routing ids seen sending SUBMIT          */
    char rid[256];              /* the last one, as text                    */
} t_broker_t;

typedef struct {
    t_broker_t broker;
    zactor_t *actor;
} t_fix_t;

/*  Reply msg to the client rid (payload frames consumed). The broker runs
    in its own thread, where cmocka must not assert: what it does is
    checked by what the client sees, and by its counts after it stops.    */
static void
s_reply(zsock_t *router, zframe_t *rid, braid_msg_t *msg, zmsg_t **payload)
{
    braid_msg_send(router, rid, msg, payload, false);
}

static void
s_reply_job(zsock_t *router, zframe_t *rid, braid_msg_type_t type, const uint8_t *job_id,
            uint64_t out_seq)
{
    braid_msg_t msg;
    braid_msg_init(&msg, type);
    memcpy(msg.job_id, job_id, 16);
    msg.out_seq = out_seq;
    if (type == BRAID_MSG_JOB_END)
        msg.nsources = 1;
    s_reply(router, rid, &msg, NULL);
}

/*  The stream of T_STREAM: "r<q>" then END per query, then JOB_END.        */
static void
s_stream(zsock_t *router, zframe_t *rid, const uint8_t *job_id, uint32_t count)
{
    uint64_t out_seq = 0;
    for (uint32_t q = 0; q < count; q++) {
        braid_msg_t msg;
        braid_msg_init(&msg, BRAID_MSG_PARTIAL);
        memcpy(msg.job_id, job_id, 16);
        msg.out_seq = out_seq++;
        msg.query = q;
        zmsg_t *payload = zmsg_new();
        zmsg_addstrf(payload, "r%u", q);
        payload = braid_parts_pack(&payload);   /* one parts frame          */
        s_reply(router, rid, &msg, &payload);
        braid_msg_init(&msg, BRAID_MSG_END);
        memcpy(msg.job_id, job_id, 16);
        msg.out_seq = out_seq++;
        msg.query = q;
        msg.parts = 1;
        msg.attempts = 1;
        s_reply(router, rid, &msg, NULL);
    }
    braid_msg_t end;
    braid_msg_init(&end, BRAID_MSG_JOB_END);
    memcpy(end.job_id, job_id, 16);
    end.out_seq = out_seq;
    end.nsources = 1;
    end.summary[0][BRAID_STATUS_OK] = count;
    s_reply(router, rid, &end, NULL);
}

static void
s_broker(zsock_t *pipe, void *arg)
{
    t_broker_t *b = arg;
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    if (!router || zsock_bind(router, "%s", b->endpoint) != 0) {
        zsock_destroy(&router);
        zsock_signal(pipe, 0);
        return;     /* the client's submit finds nobody there              */
    }
    zsock_signal(pipe, 0);
    /*  The router first: what the client sent before it stopped the broker
        (inproc: already in the pipe) is counted before $TERM is read.     */
    zpoller_t *poller = zpoller_new(router, pipe, NULL);
    uint8_t job_id[16] = {0};
    uint64_t out_seq_after = 0;     /* T_CANCEL: the JOB_END's out_seq     */
    while (true) {
        void *which = zpoller_wait(poller, T_TIMEOUT_MSEC);
        if (which != router)
            break;      /* $TERM, or nothing for too long                   */
        braid_msg_t msg;
        zframe_t *rid = NULL;
        zmsg_t *payload = NULL;
        braid_err_t err;
        if (braid_msg_recv(zsock_resolve(router), true, BRAID_CH_CLIENT, &msg, &rid, &payload,
                           &err) != 0) {
            zframe_destroy(&rid);
            zmsg_destroy(&payload);
            continue;
        }
        switch (msg.type) {
        case BRAID_MSG_SUBMIT: {
            b->submits++;
            b->count = msg.count;
            b->credit = msg.credit;
            memcpy(job_id, msg.job_id, 16);
            char *text = zframe_strhex(rid);
            if (strcmp(text, b->rid) != 0)
                b->peers++;
            snprintf(b->rid, sizeof b->rid, "%s", text);
            free(text);
            b->queries = 0;
            if (b->script == T_REFUSE) {
                braid_msg_t error;
                braid_msg_init(&error, BRAID_MSG_ERROR);
                memcpy(error.job_id, job_id, 16);
                error.code = BRAID_ERR_CODE_TOO_MANY;
                strcpy(error.text, "too many jobs");
                s_reply(router, rid, &error, NULL);
            } else if (b->script != T_NEVER) {
                s_reply_job(router, rid, BRAID_MSG_ACCEPT, job_id, 0);
                if (b->script == T_GAP)
                    s_reply_job(router, rid, BRAID_MSG_RESTART, job_id, 1);
            }
            break;
        }
        case BRAID_MSG_QUERIES:
            b->queries += (uint32_t) braid_parts_frame_count(zmsg_first(payload));
            if (b->script == T_STREAM && b->queries == b->count)
                s_stream(router, rid, job_id, b->count);
            break;
        case BRAID_MSG_CANCEL:
            b->cancels++;
            if (b->script == T_CANCEL) {
                braid_msg_t end;
                braid_msg_init(&end, BRAID_MSG_JOB_END);
                memcpy(end.job_id, job_id, 16);
                end.out_seq = out_seq_after;
                end.status = BRAID_STATUS_CANCELLED;
                end.nsources = 1;   /* R has at least one row            */
                s_reply(router, rid, &end, NULL);
            }
            break;
        case BRAID_MSG_PING:
            b->pings++;
            if (b->script != T_SILENT && b->script != T_NEVER) {
                braid_msg_t pong;
                braid_msg_init(&pong, BRAID_MSG_PONG);
                s_reply(router, rid, &pong, NULL);
            }
            break;
        case BRAID_MSG_CREDIT:
            b->credits++;
            break;
        case BRAID_MSG_STATS:
            b->stats++;
            if (b->script != T_NEVER) {
                braid_msg_t reply;
                braid_msg_init(&reply, BRAID_MSG_STATS_REPLY);
                zmsg_t *json = zmsg_new();
                zmsg_addstr(json, "{\"workers\":0}");
                s_reply(router, rid, &reply, &json);
            }
            break;
        default:
            break;
        }
        zframe_destroy(&rid);
        zmsg_destroy(&payload);
    }
    zpoller_destroy(&poller);
    zsock_destroy(&router);
}

static t_fix_t *
s_fix_new(t_script_t script)
{
    static int seq;
    t_fix_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->broker.endpoint, sizeof f->broker.endpoint, "inproc://test-client-%d", ++seq);
    f->broker.script = script;
    f->actor = zactor_new(s_broker, &f->broker);
    assert_non_null(f->actor);
    return f;
}

/*  Stop the broker: what it saw is final after this.                       */
static void
s_fix_stop(t_fix_t *f)
{
    zactor_destroy(&f->actor);
}

static void
s_fix_destroy(t_fix_t **f_p)
{
    s_fix_stop(*f_p);
    free(*f_p);
    *f_p = NULL;
}

/*  A request of n queries "q<i>" to source "web".                         */
static braid_request_t *
s_request(int n)
{
    braid_request_t *request = braid_request_new();
    assert_non_null(request);
    assert_int_equal(braid_request_add_source(request, "web"), BRAID_ADD_OK);
    for (int i = 0; i < n; i++) {
        char q[16];
        int len = snprintf(q, sizeof q, "q%d", i);
        assert_int_equal(braid_request_add_query(request, q, (size_t) len), BRAID_ADD_OK);
    }
    return request;
}

static braid_client_t *
s_client(const char *endpoint)
{
    braid_client_t *client = braid_client_new();
    assert_non_null(client);
    if (endpoint)
        assert_int_equal(braid_client_add_endpoint(client, endpoint), 0);
    braid_client_set_connect_timeout(client, 1000);
    return client;
}

/*  Run the job to its end; returns the number of events, the last in *last.*/
static int
s_drain(braid_client_t *client, braid_event_t *last)
{
    int n = 0;
    braid_event_t ev;
    braid_next_t next;
    while ((next = braid_client_next(client, &ev, T_TIMEOUT_MSEC)) == BRAID_NEXT_EVENT) {
        *last = ev;
        n++;
    }
    assert_int_equal(next, BRAID_NEXT_OVER);
    return n;
}

static void
test_stream(void **state)
{
    (void) state;
    t_fix_t *f = s_fix_new(T_STREAM);
    braid_client_t *client = s_client(f->broker.endpoint);
    braid_request_t *request = s_request(3);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_OK);
    assert_null(request);
    assert_string_equal(braid_client_endpoint(client), f->broker.endpoint);
    assert_int_equal(braid_client_query_count(client), 3);
    assert_int_equal(braid_client_source_count(client), 1);
    assert_string_equal(braid_client_source(client, 0), "web");
    size_t size;
    assert_memory_equal(braid_client_query(client, 2, &size), "q2", 2);
    for (uint32_t q = 0; q < 3; q++) {
        braid_event_t ev;
        assert_int_equal(braid_client_next(client, &ev, T_TIMEOUT_MSEC), BRAID_NEXT_EVENT);
        assert_int_equal(ev.type, BRAID_EVENT_PARTIAL);
        assert_int_equal(ev.query, q);
        assert_string_equal(ev.source_name, "web");
        char want[8];
        snprintf(want, sizeof want, "r%u", q);
        assert_int_equal(ev.size, strlen(want));
        assert_memory_equal(ev.data, want, ev.size);
        assert_int_equal(ev.query_size, 2);
        assert_int_equal(braid_client_next(client, &ev, T_TIMEOUT_MSEC), BRAID_NEXT_EVENT);
        assert_int_equal(ev.type, BRAID_EVENT_END);
        assert_int_equal(ev.status, BRAID_END_OK);
    }
    braid_event_t ev;
    assert_int_equal(braid_client_next(client, &ev, T_TIMEOUT_MSEC), BRAID_NEXT_EVENT);
    assert_int_equal(ev.type, BRAID_EVENT_JOB_END);
    assert_int_equal(ev.nsources, 1);
    assert_string_equal(ev.source_names[0], "web");
    assert_int_equal(ev.summary[0][BRAID_END_OK], 3);
    assert_int_equal(braid_client_next(client, &ev, 0), BRAID_NEXT_OVER);
    assert_int_equal(braid_client_dropped(client), 0);
    assert_string_equal(braid_client_error(client), "");
    braid_client_destroy(&client);
    assert_null(client);
    s_fix_stop(f);
    assert_int_equal(f->broker.submits, 1);
    assert_int_equal(f->broker.count, 3);
    assert_int_equal(f->broker.queries, 3);         /* pipelined           */
    assert_int_equal(f->broker.credit, 64);         /* the first grant     */
    assert_int_equal(f->broker.cancels, 0);
    s_fix_destroy(&f);
}

/*  A job that ended cleanly leaves its connection to the next job.        */
static void
test_reuse(void **state)
{
    (void) state;
    t_fix_t *f = s_fix_new(T_STREAM);
    braid_client_t *client = s_client(f->broker.endpoint);
    for (int job = 0; job < 3; job++) {
        braid_request_t *request = s_request(2);
        assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_OK);
        braid_event_t last;
        assert_int_equal(s_drain(client, &last), 5);
        assert_int_equal(last.type, BRAID_EVENT_JOB_END);
    }
    braid_client_destroy(&client);
    s_fix_stop(f);
    assert_int_equal(f->broker.submits, 3);
    assert_int_equal(f->broker.peers, 1);
    s_fix_destroy(&f);
}

static void
test_refused(void **state)
{
    (void) state;
    t_fix_t *f = s_fix_new(T_REFUSE);
    braid_client_t *client = s_client(f->broker.endpoint);
    braid_request_t *request = s_request(1);
    errno = 0;
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_REFUSED);
    assert_int_equal(errno, ECONNREFUSED);
    /*  The answer itself, naming who gave it.                              */
    char want[256];
    snprintf(want, sizeof want, "%s: 429 too many jobs", f->broker.endpoint);
    assert_string_equal(braid_client_error(client), want);
    assert_null(braid_client_endpoint(client));
    braid_event_t ev;
    assert_int_equal(braid_client_next(client, &ev, 0), BRAID_NEXT_FAILED);
    braid_client_destroy(&client);

    /*  One refuses, the next is silent: the refusal is what is reported.  */
    t_fix_t *silent = s_fix_new(T_NEVER);
    client = s_client(f->broker.endpoint);
    assert_int_equal(braid_client_add_endpoint(client, silent->broker.endpoint), 0);
    braid_client_set_connect_timeout(client, 100);
    request = s_request(1);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_REFUSED);
    assert_int_equal(errno, ECONNREFUSED);
    assert_string_equal(braid_client_error(client), want);
    braid_client_destroy(&client);
    s_fix_destroy(&silent);
    s_fix_destroy(&f);
}

/*  An endpoint that does not answer is left for the next one.             */
static void
test_failover(void **state)
{
    (void) state;
    t_fix_t *silent = s_fix_new(T_NEVER);
    t_fix_t *f = s_fix_new(T_STREAM);
    braid_client_t *client = s_client(silent->broker.endpoint);
    assert_int_equal(braid_client_add_endpoint(client, f->broker.endpoint), 0);
    braid_client_set_connect_timeout(client, 200);
    braid_request_t *request = s_request(1);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_OK);
    assert_string_equal(braid_client_endpoint(client), f->broker.endpoint);
    braid_event_t last;
    assert_int_equal(s_drain(client, &last), 3);
    braid_client_destroy(&client);
    s_fix_stop(silent);
    assert_true(silent->broker.submits >= 1);
    s_fix_destroy(&silent);
    s_fix_destroy(&f);

    /*  None answers: each one's failure is listed.                         */
    silent = s_fix_new(T_NEVER);
    client = s_client(silent->broker.endpoint);
    assert_int_equal(braid_client_add_endpoint(client, silent->broker.endpoint), 0);
    braid_client_set_connect_timeout(client, 100);
    request = s_request(1);
    errno = 0;
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_UNAVAILABLE);
    assert_int_equal(errno, ETIMEDOUT);
    char want[256];
    snprintf(want, sizeof want, "%s: no answer within 100 msec; %s: no answer within 100 msec",
             silent->broker.endpoint, silent->broker.endpoint);
    assert_string_equal(braid_client_error(client), want);
    braid_client_destroy(&client);
    s_fix_destroy(&silent);
}

/*  A lost message breaks the stream: one ERROR, and the broker is told to
    cancel.                                                                 */
static void
test_gap(void **state)
{
    (void) state;
    t_fix_t *f = s_fix_new(T_GAP);
    braid_client_t *client = s_client(f->broker.endpoint);
    braid_request_t *request = s_request(1);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_OK);
    braid_event_t last;
    assert_int_equal(s_drain(client, &last), 1);
    assert_int_equal(last.type, BRAID_EVENT_ERROR);
    assert_int_equal(last.code, BRAID_CLIENT_ERR_GAP);
    assert_string_equal(braid_client_error(client),
                        "lost messages: out_seq 0 expected, 1 received");
    /*  The broken connection is not reused: the next job is a new peer.   */
    request = s_request(1);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_OK);
    assert_int_equal(s_drain(client, &last), 1);
    braid_client_destroy(&client);
    s_fix_stop(f);
    assert_int_equal(f->broker.cancels, 2);
    assert_int_equal(f->broker.peers, 2);
    s_fix_destroy(&f);
}

/*  A broker that says nothing past the idle timeout is lost: the job is
    submitted again (failover; here to the same endpoint, which accepts
    and goes silent again), each lost broker told to cancel, until the
    failovers run out.                                                     */
static void
test_silent(void **state)
{
    (void) state;
    t_fix_t *f = s_fix_new(T_SILENT);
    braid_client_t *client = s_client(f->broker.endpoint);
    braid_client_set_heartbeat(client, 20, 150);
    braid_request_t *request = s_request(1);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_OK);
    braid_event_t ev;
    assert_int_equal(braid_client_next(client, &ev, 0), BRAID_NEXT_TIMEOUT);
    assert_int_equal(errno, EAGAIN);
    braid_event_t last;
    assert_int_equal(s_drain(client, &last), 1);
    assert_int_equal(last.type, BRAID_EVENT_ERROR);
    assert_int_equal(last.code, BRAID_CLIENT_ERR_LOST);
    assert_int_equal(braid_client_failovers(client), BRAID_CLIENT_MAX_FAILOVERS);
    char want[256];
    snprintf(want, sizeof want, "broker %s: nothing received for 150 msec", f->broker.endpoint);
    assert_string_equal(last.text, want);
    braid_client_destroy(&client);
    s_fix_stop(f);
    assert_true(f->broker.pings >= 2);
    assert_int_equal(f->broker.cancels, BRAID_CLIENT_MAX_FAILOVERS + 1);
    s_fix_destroy(&f);
}

static void
test_cancel(void **state)
{
    (void) state;
    t_fix_t *f = s_fix_new(T_CANCEL);
    braid_client_t *client = s_client(f->broker.endpoint);
    braid_request_t *request = s_request(2);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_OK);
    assert_int_equal(braid_client_cancel(client), 0);
    braid_event_t last;
    assert_int_equal(s_drain(client, &last), 1);
    assert_int_equal(last.type, BRAID_EVENT_JOB_END);
    assert_int_equal(last.status, BRAID_END_CANCELLED);
    assert_int_equal(braid_client_cancel(client), 0);   /* over: nothing    */
    braid_client_destroy(&client);
    s_fix_stop(f);
    assert_int_equal(f->broker.cancels, 1);
    s_fix_destroy(&f);
}

static void
test_stats(void **state)
{
    (void) state;
    t_fix_t *f = s_fix_new(T_STREAM);
    braid_client_t *client = s_client(f->broker.endpoint);
    char *json = NULL;
    size_t len = 0;
    assert_int_equal(braid_client_stats(client, &json, &len), BRAID_REPLY_OK);
    assert_string_equal(json, "{\"workers\":0}");
    assert_int_equal(len, strlen(json));
    free(json);
    braid_client_destroy(&client);
    s_fix_destroy(&f);

    f = s_fix_new(T_NEVER);
    client = s_client(f->broker.endpoint);
    braid_client_set_connect_timeout(client, 100);
    json = (char *) "untouched";
    assert_int_equal(braid_client_stats(client, &json, NULL), BRAID_REPLY_UNAVAILABLE);
    assert_null(json);
    assert_int_equal(errno, ETIMEDOUT);
    braid_client_destroy(&client);
    s_fix_destroy(&f);
}

/*  Calls that cannot go on say why, without I/O.                           */
static void
test_invalid(void **state)
{
    (void) state;
    braid_client_t *client = s_client(NULL);
    braid_event_t ev;
    errno = 0;
    assert_int_equal(braid_client_next(client, &ev, 0), BRAID_NEXT_FAILED);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(braid_client_cancel(client), -1);
    assert_int_equal(braid_client_submit(client, NULL), BRAID_REPLY_INVALID);
    assert_string_equal(braid_client_error(client), "no job");
    braid_request_t *request = s_request(1);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_INVALID);
    assert_null(request);       /* consumed all the same                    */
    assert_string_equal(braid_client_error(client), "no broker endpoint");
    assert_int_equal(braid_client_add_endpoint(client, ""), -1);
    assert_int_equal(braid_client_add_endpoint(client, "inproc://nobody"), 0);
    request = s_request(0);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_INVALID);
    assert_string_equal(braid_client_error(client), "no query");
    request = braid_request_new();
    assert_int_equal(braid_request_add_query(request, "q", 1), BRAID_ADD_OK);
    assert_int_equal(braid_client_submit(client, &request), BRAID_REPLY_INVALID);
    assert_string_equal(braid_client_error(client), "no source");
    assert_int_equal(braid_client_stats(client, NULL, NULL), BRAID_REPLY_INVALID);
    braid_client_destroy(&client);
    braid_client_destroy(&client);
    braid_client_destroy(NULL);
    assert_string_equal(braid_end_status_name(BRAID_END_TIMEOUT), "timeout");
    assert_string_equal(braid_end_status_name((braid_end_status_t) 9), "unknown");
    assert_non_null(braid_version());
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream),   cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_refused),  cmocka_unit_test(test_failover),
        cmocka_unit_test(test_gap),      cmocka_unit_test(test_silent),
        cmocka_unit_test(test_cancel),   cmocka_unit_test(test_stats),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
