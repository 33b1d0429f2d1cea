/*  braid_msg_try.c - nonblocking send that never loses the payload.        */

#include "braid_msg.h"

#include <errno.h>

int
braid_msg_try_send(void *sock, const zframe_t *routing_id, const braid_msg_t *msg,
                   zmsg_t **payload)
{
    uint8_t buf[BRAID_MAX_HEADER];
    size_t len = braid_msg_encode_buf(msg, buf, sizeof buf);
    if (len == 0) {
        errno = EINVAL;
        return -1;
    }
    void *handle = zsock_resolve(sock);
    zmsg_t *body = payload ? *payload : NULL;
    size_t nbody = body ? zmsg_size(body) : 0;
    if (routing_id) {
        if (zmq_send(handle, zframe_data((zframe_t *) routing_id),
                     zframe_size((zframe_t *) routing_id), ZMQ_DONTWAIT | ZMQ_SNDMORE) < 0)
            return -1;
        /*  The routing id is queued: the rest of the message goes too.    */
        if (zmq_send(handle, buf, len, nbody ? ZMQ_SNDMORE : 0) < 0)
            return -1;
    } else if (zmq_send(handle, buf, len, ZMQ_DONTWAIT | (nbody ? ZMQ_SNDMORE : 0)) < 0)
        return -1;
    /*  Only the first frame can be refused; a later one fails only when
        the context is terminating. Then the message is lost: the payload
        is destroyed and -1 returned with *payload NULL.                    */
    int rc = 0;
    for (size_t i = 0; i < nbody; i++) {
        zframe_t *frame = zmsg_pop(body);
        if (zframe_send(&frame, handle, i + 1 < nbody ? ZFRAME_MORE : 0) < 0) {
            zframe_destroy(&frame);
            rc = -1;
            break;
        }
    }
    if (payload)
        zmsg_destroy(payload);
    return rc;
}
