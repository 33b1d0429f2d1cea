/*  conn.c - braid_conn_t: one DEALER to a broker (see conn.h).             */

#include "conn.h"

#include "braid_curve.h"

#include <errno.h>
#include <stdlib.h>

#define S_SNDHWM 1000           /* messages queued toward the broker        */
#define S_RCVHWM_SLACK 64       /* above the window: pongs, a late ERROR    */
/*  Frames of one message the connection holds: header + BRAID_MAX_BATCH.  */
#define S_MAX_IN (1 + BRAID_MAX_BATCH)

struct _braid_conn_t {
    zsock_t *sock;
    const char *endpoint;       /* borrowed, see braid_conn_connect()       */
    uint32_t window;            /* what the receive HWM was sized for       */
    bool broken;                /* a stream failure: never reuse            */
    zmq_msg_t *in;              /* the frames held: header, payload         */
    size_t nin;                 /* frames held in in[]                      */
};

braid_conn_t *
braid_conn_new(uint32_t window)
{
    braid_conn_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->in = calloc(S_MAX_IN, sizeof *self->in);
    self->sock = self->in ? zsock_new(ZMQ_DEALER) : NULL;
    if (!self->sock) {
        free(self->in);
        free(self);
        return NULL;
    }
    braid_socket_harden(self->sock, S_SNDHWM);
    if (window > 0)
        zsock_set_rcvhwm(self->sock, (int) window + S_RCVHWM_SLACK);
    self->window = window;
    return self;
}

/*  Let go of the frames of the last message received.                      */
static void
s_release(braid_conn_t *self)
{
    for (size_t i = 0; i < self->nin; i++)
        zmq_msg_close(&self->in[i]);
    self->nin = 0;
}

void
braid_conn_destroy(braid_conn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_conn_t *self = *self_p;
    s_release(self);
    zsock_destroy(&self->sock);
    free(self->in);
    free(self);
    *self_p = NULL;
}

int
braid_conn_connect(braid_conn_t *self, const char *endpoint)
{
    if (zsock_connect(self->sock, "%s", endpoint) == -1)
        return -1;
    self->endpoint = endpoint;
    return 0;
}

const char *
braid_conn_endpoint(braid_conn_t *self)
{
    return self->endpoint;
}

uint32_t
braid_conn_window(braid_conn_t *self)
{
    return self->window;
}

void
braid_conn_set_linger(braid_conn_t *self, int linger_msec)
{
    zsock_set_linger(self->sock, linger_msec);
}

void
braid_conn_set_heartbeat(braid_conn_t *self, int ivl_msec, int timeout_msec)
{
    braid_socket_heartbeat(self->sock, ivl_msec, timeout_msec);
}

int
braid_conn_set_curve(braid_conn_t *self, zcert_t *own, zcert_t *server)
{
    return braid_curve_client(self->sock, own, server);
}

void
braid_conn_set_broken(braid_conn_t *self)
{
    self->broken = true;
}

bool
braid_conn_broken(braid_conn_t *self)
{
    return self->broken;
}

int
braid_conn_send(braid_conn_t *self, const braid_msg_t *msg, zmsg_t **payload)
{
    return braid_msg_send(self->sock, NULL, msg, payload, true);
}

bool
braid_conn_writable(braid_conn_t *self)
{
    return (zsock_events(self->sock) & ZMQ_POLLOUT) != 0;
}

/*  The result for errno after a failed receive or wait.                    */
static braid_conn_io_t
s_io_error(void)
{
    return errno == EAGAIN ? BRAID_CONN_AGAIN
           : errno == EINTR ? BRAID_CONN_INTERRUPTED
                            : BRAID_CONN_FAILED;
}

braid_conn_io_t
braid_conn_recv(braid_conn_t *self, braid_msg_t *msg)
{
    s_release(self);
    int rc = braid_msg_recv_frames(zsock_resolve(self->sock), self->in, S_MAX_IN, &self->nin,
                                   ZMQ_DONTWAIT);
    if (rc == -1)
        return s_io_error();
    if (rc == -2)
        return BRAID_CONN_MALFORMED;
    if (braid_msg_decode_frames(self->in, self->nin, BRAID_CH_TO_CLIENT, msg) != BRAID_OK) {
        s_release(self);
        return BRAID_CONN_MALFORMED;
    }
    return BRAID_CONN_OK;
}

zmq_msg_t *
braid_conn_frames(braid_conn_t *self)
{
    return self->in + 1;
}

size_t
braid_conn_nframes(braid_conn_t *self)
{
    return self->nin ? self->nin - 1 : 0;
}

braid_conn_io_t
braid_conn_poll(braid_conn_t *self, short events, int64_t wait_msec, short *revents)
{
    zmq_pollitem_t item = {zsock_resolve(self->sock), 0, events, 0};
    if (wait_msec < 0)
        wait_msec = 0;
    int rc = zmq_poll(&item, 1, (long) wait_msec);
    *revents = rc > 0 ? item.revents : 0;
    if (rc < 0)
        return s_io_error() == BRAID_CONN_INTERRUPTED ? BRAID_CONN_INTERRUPTED
                                                      : BRAID_CONN_FAILED;
    return rc > 0 ? BRAID_CONN_OK : BRAID_CONN_AGAIN;
}
