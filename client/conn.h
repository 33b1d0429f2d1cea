/*  conn.h - braid_conn_t: one DEALER to one broker frontend, and the frames
    of the last message received on it.

    A message is received whole into a fixed array of zmq_msg_t owned by
    the connection (braid_msg_recv_frames: no allocation per message or per
    frame, never more than 1 + BRAID_MAX_BATCH frames held) and decoded
    with braid_msg_decode_frames (the header, then each payload frame's
    size). Its payload frames stay valid until the next receive, so events
    can point into them. Sends never block: a full pipe is the caller's to
    retry.
*/

#ifndef BRAID_CONN_H_INCLUDED
#define BRAID_CONN_H_INCLUDED

#include "braid_msg.h"

typedef struct _braid_conn_t braid_conn_t;

/*  What a receive or a wait came to.                                       */
typedef enum {
    BRAID_CONN_OK = 0,          /* a message (recv), something ready (poll) */
    BRAID_CONN_AGAIN,           /* nothing queued (recv), timed out (poll)  */
    BRAID_CONN_MALFORMED,       /* recv: a message was refused and dropped  */
    BRAID_CONN_INTERRUPTED,     /* a signal (errno EINTR)                   */
    BRAID_CONN_FAILED           /* the socket failed (errno says how)       */
} braid_conn_io_t;

/*  A new DEALER (not connected yet), hardened for a peer we do not trust;
    with window > 0 its receive HWM lets window messages in, so credit, not
    the HWM, is what holds the broker back. NULL if no socket.              */
braid_conn_t *
braid_conn_new(uint32_t window);

/*  Close the socket and let go of the frames held; NULL-safe, sets *self_p
    to NULL.                                                                */
void
braid_conn_destroy(braid_conn_t **self_p);

/*  Connect to endpoint (borrowed: it must outlive the connection). 0, or
    -1 with zmq_errno() set.                                                */
int
braid_conn_connect(braid_conn_t *self, const char *endpoint);

/*  The endpoint given to braid_conn_connect() (borrowed; NULL before).     */
const char *
braid_conn_endpoint(braid_conn_t *self);

/*  The window the connection was made for.                                 */
uint32_t
braid_conn_window(braid_conn_t *self);

/*  How long messages still queued may take to leave on destroy (msec).     */
void
braid_conn_set_linger(braid_conn_t *self, int linger_msec);

/*  Before connecting: ZMTP heartbeats (braid_socket_heartbeat), so that a
    broker that vanished is noticed by the transport as well.              */
void
braid_conn_set_heartbeat(braid_conn_t *self, int ivl_msec, int timeout_msec);

/*  Before connecting: speak CURVE with own's keypair to the broker whose
    public key server holds (both borrowed). 0, or -1 with errno.           */
int
braid_conn_set_curve(braid_conn_t *self, zcert_t *own, zcert_t *server);

/*  A stream over this connection broke: it must not serve another job.    */
void
braid_conn_set_broken(braid_conn_t *self);
bool
braid_conn_broken(braid_conn_t *self);

/*  Send msg and payload (consumed, may be NULL) without blocking. 0, or -1
    with errno set (EAGAIN: the pipe is full).                              */
int
braid_conn_send(braid_conn_t *self, const braid_msg_t *msg, zmsg_t **payload);

/*  True if a message can be sent now without blocking.                     */
bool
braid_conn_writable(braid_conn_t *self);

/*  Receive one queued message (never waits) and decode it into *msg: its
    payload frames replace the ones held. BRAID_CONN_OK, _AGAIN,
    _MALFORMED, _INTERRUPTED or _FAILED.                                    */
braid_conn_io_t
braid_conn_recv(braid_conn_t *self, braid_msg_t *msg);

/*  The payload frames of the last message received (braid_conn_nframes()
    of them; borrowed until the next receive).                              */
zmq_msg_t *
braid_conn_frames(braid_conn_t *self);
size_t
braid_conn_nframes(braid_conn_t *self);

/*  Wait at most wait_msec (< 0 counts as 0) for events (ZMQ_POLLIN,
    ZMQ_POLLOUT); *revents says which came. BRAID_CONN_OK (something
    ready), _AGAIN (timed out), _INTERRUPTED or _FAILED.                    */
braid_conn_io_t
braid_conn_poll(braid_conn_t *self, short events, int64_t wait_msec, short *revents);

#endif
