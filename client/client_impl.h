/*  client_impl.h - braid_client_t's insides, shared by the files of the
    class and by nothing else:

    - client.c: submit, the stream, failover (a job that lost its broker
      resubmitted elsewhere and resumed: PROTOCOL.md, "A job" 10), cancel,
      accessors;
    - client_stats.c: braid_client_stats().
*/

#ifndef BRAID_CLIENT_IMPL_H_INCLUDED
#define BRAID_CLIENT_IMPL_H_INCLUDED

#include "braid.h"
#include "braid_msg.h"
#include "conn.h"
#include "ledger.h"
#include "stream.h"

#include <czmq.h>

#define BRAID_CLIENT_RESUBMIT_MSEC 1000 /* resend SUBMIT while waiting for ACCEPT */

struct _braid_client_t {
    char **endpoints;
    size_t nendpoints;
    int connect_timeout_msec;
    int heartbeat_msec;
    int idle_timeout_msec;
    uint32_t window;
    zcert_t *key;               /* CURVE: own keypair, or NULL             */
    zcert_t *broker_key;        /* CURVE: the broker's public key, or NULL */

    braid_request_t *request;   /* the submitted request, owned             */
    uint8_t job_id[16];
    braid_conn_t *conn;         /* to the endpoint tried or accepting       */
    braid_stream_t *stream;     /* the job's stream, from its SUBMIT on     */
    braid_msg_t msg;            /* the message received last: the stream's
                                   events point into it                     */
    const char *endpoint;       /* the accepting endpoint (in endpoints)    */

    bool open;                  /* accepted                                 */
    bool cancel_wanted;         /* CANCEL to send (or sent)                 */
    bool cancel_sent;
    bool pipelined;             /* the queries went out with the SUBMIT     */
    bool resubmitted;           /* the SUBMIT was sent more than once       */
    uint32_t next_query;        /* queries sent so far                      */
    int64_t last_recv;          /* zclock_mono() of the last message in     */
    int64_t last_ping;          /* ... of the last PING out                 */
    int64_t last_credit;        /* ... of the last CREDIT out               */

    /*  Failover (PROTOCOL.md, "A job" 10)                                  */
    braid_ledger_t *ledger;     /* what the caller has of the job, owned    */
    size_t endpoint_index;      /* of the endpoint that accepted            */
    bool resuming;              /* SUBMIT carries BRAID_FLAG_RESUME and a
                                   RESUME follows it                        */
    uint8_t *resume_frame;      /* its ended ranges, owned (or NULL)        */
    size_t resume_size;
    uint32_t resume_query, resume_source;
    uint64_t resume_seq;
    uint32_t failovers;         /* brokers lost and resumed from, this job  */

    uint64_t dropped;           /* so far, but the current stream's         */
    char error[2048];
    char refusal[2048];         /* submit: the endpoints' ERROR answers     */
};

/*  Set the error text that braid_client_error() returns (printf style).   */
void
braid_client_set_error_text(braid_client_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*  Append "; text" to it (used to list every endpoint's failure).         */
void
braid_client_add_error_text(braid_client_t *self, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*  Make conn speak CURVE when the client was given keys. 0, or -1 with the
    error text added.                                                       */
int
braid_client_apply_curve(braid_client_t *self, braid_conn_t *conn, const char *endpoint);
/*  True once czmq's signal handler (or the caller) set zsys_interrupted.   */
bool
braid_client_interrupted(void);

#endif
