/*  client_stats.c - braid_client_stats(): STATS to the endpoints in turn,
    each on a fresh socket (see braid.h).                                   */

#include "client_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*  Ask one endpoint for its stats: BRAID_REPLY_OK with *json_p (owned) and
    *len_p, else _UNAVAILABLE (error text added, errno set), _INTERRUPTED
    or _FAILED.                                                             */
static braid_reply_t
s_stats_one(braid_client_t *self, const char *endpoint, char **json_p, size_t *len_p)
{
    braid_conn_t *conn = braid_conn_new(0);
    if (!conn) {
        braid_client_add_error_text(self, "%s: cannot create socket", endpoint);
        errno = ENOMEM;
        return BRAID_REPLY_UNAVAILABLE;
    }
    braid_conn_set_linger(conn, 0);
    braid_conn_set_heartbeat(conn, self->heartbeat_msec, self->idle_timeout_msec);
    if (braid_client_apply_curve(self, conn, endpoint) != 0) {
        braid_conn_destroy(&conn);
        errno = EINVAL;
        return BRAID_REPLY_UNAVAILABLE;
    }
    if (braid_conn_connect(conn, endpoint) == -1) {
        braid_client_add_error_text(self, "%s: cannot connect: %s", endpoint, zmq_strerror(zmq_errno()));
        braid_conn_destroy(&conn);
        errno = EINVAL;
        return BRAID_REPLY_UNAVAILABLE;
    }
    braid_msg_t msg;
    int64_t deadline = zclock_mono() + self->connect_timeout_msec;
    int64_t last_sent = INT64_MIN / 2;
    braid_reply_t reply = BRAID_REPLY_UNAVAILABLE;
    while (!*json_p) {
        int64_t now = zclock_mono();
        if (braid_client_interrupted()) {
            reply = BRAID_REPLY_INTERRUPTED;
            break;
        }
        if (now >= deadline) {
            braid_client_add_error_text(self, "%s: no answer within %d msec", endpoint,
                        self->connect_timeout_msec);
            errno = ETIMEDOUT;
            break;
        }
        if (now - last_sent >= BRAID_CLIENT_RESUBMIT_MSEC) {
            braid_msg_init(&msg, BRAID_MSG_STATS);  /* idempotent: repeat it */
            braid_conn_send(conn, &msg, NULL);
            last_sent = now;
        }
        int64_t wait = deadline - now;
        if (wait > last_sent + BRAID_CLIENT_RESUBMIT_MSEC - now)
            wait = last_sent + BRAID_CLIENT_RESUBMIT_MSEC - now;
        short revents;
        braid_conn_io_t io = braid_conn_poll(conn, ZMQ_POLLIN, wait, &revents);
        if (io == BRAID_CONN_INTERRUPTED) {
            reply = BRAID_REPLY_INTERRUPTED;
            break;
        }
        if (io == BRAID_CONN_FAILED) {
            braid_client_add_error_text(self, "%s: poll: %s", endpoint, zmq_strerror(errno));
            break;
        }
        while (!*json_p && (io = braid_conn_recv(conn, &msg)) != BRAID_CONN_AGAIN &&
               io != BRAID_CONN_FAILED && io != BRAID_CONN_INTERRUPTED) {
            if (io == BRAID_CONN_OK && msg.type == BRAID_MSG_STATS_REPLY &&
                braid_conn_nframes(conn) == 1) {
                zmq_msg_t *frame = braid_conn_frames(conn);
                size_t len = zmq_msg_size(frame);
                char *json = malloc(len + 1);
                if (!json) {
                    braid_client_set_error_text(self, "out of memory");
                    braid_conn_destroy(&conn);
                    return BRAID_REPLY_FAILED;
                }
                memcpy(json, zmq_msg_data(frame), len);
                json[len] = 0;
                *json_p = json;
                *len_p = len;
                reply = BRAID_REPLY_OK;
            } else
                self->dropped++;
        }
    }
    int err = reply == BRAID_REPLY_INTERRUPTED ? EINTR : errno;
    braid_conn_destroy(&conn);
    errno = err;
    return reply;
}

braid_reply_t
braid_client_stats(braid_client_t *self, char **json_p, size_t *len_p)
{
    size_t len = 0;
    self->error[0] = 0;
    if (!json_p || self->nendpoints == 0) {
        braid_client_set_error_text(self, "%s", json_p ? "no broker endpoint" : "nowhere to put the stats");
        errno = EINVAL;
        return BRAID_REPLY_INVALID;
    }
    *json_p = NULL;
    int last_errno = ETIMEDOUT;
    for (size_t i = 0; i < self->nendpoints; i++) {
        braid_reply_t reply = s_stats_one(self, self->endpoints[i], json_p, &len);
        if (reply == BRAID_REPLY_OK) {
            self->error[0] = 0;
            if (len_p)
                *len_p = len;
            return reply;
        }
        if (reply == BRAID_REPLY_INTERRUPTED)
            braid_client_set_error_text(self, "interrupted");
        if (reply != BRAID_REPLY_UNAVAILABLE)
            return reply;
        last_errno = errno;
    }
    errno = last_errno;
    return BRAID_REPLY_UNAVAILABLE;
}

