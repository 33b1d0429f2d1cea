/*  braid_wire.c - the braid wire protocol: messages on sockets.

    Receiving with the frame cap (never more than a message may hold, the
    rest drained and refused), payload size rules, sending without losing
    a payload the peer cannot take now, batches taken off a queue of frames
    and put back, and WHEARTBEAT's entries. The header codec itself is in
    braid_msg.c.
*/

#include "braid_msg.h"
#include "braid_keys.h"
#include "braid_parts.h"

#include <stdio.h>
#include <errno.h>
#include <string.h>

/*  ---------------------------------------------------------------------
    Framing                                                                */

/*  Largest payload frame a message type may carry.                         */
static size_t
s_max_frame_size(int type)
{
    switch (type) {
    case BRAID_MSG_TASK:
        return BRAID_MAX_QUERY_LEN;
    case BRAID_MSG_QUERIES:
        return BRAID_MAX_QUERIES_FRAME;
    case BRAID_MSG_WHEARTBEAT:
        return (size_t) BRAID_MAX_SLOTS * BRAID_HEARTBEAT_ENTRY;
    case BRAID_MSG_RESUME:
        return (size_t) BRAID_MAX_RESUME_RANGES * BRAID_RESUME_RANGE;
    default:
        return BRAID_MAX_FRAME;
    }
}

bool
braid_msg_payload_fits(int type, size_t size)
{
    if (size > s_max_frame_size(type))
        return false;
    if (type == BRAID_MSG_RESUME)
        return size % BRAID_RESUME_RANGE == 0;
    return type != BRAID_MSG_WHEARTBEAT || size % BRAID_HEARTBEAT_ENTRY == 0;
}

bool
braid_msg_has_parts(int type)
{
    return type == BRAID_MSG_QUERIES || type == BRAID_MSG_PARTIAL || type == BRAID_MSG_END ||
           type == BRAID_MSG_DATA || type == BRAID_MSG_DONE;
}

braid_err_t
braid_msg_check_payload(const braid_msg_t *msg, size_t nframes, const void *const *data,
                        const size_t *sizes)
{
    for (size_t i = 0; i < nframes; i++)
        if (!braid_msg_payload_fits(msg->type, sizes[i]))
            return BRAID_ERR_FRAME_SIZE;
    size_t keys = msg->keyed ? 1 : 0, count = 0;
    if (braid_msg_has_parts(msg->type) && nframes > keys) {
        bool query = msg->type == BRAID_MSG_QUERIES;
        size_t max_count = query || msg->keyed ? BRAID_MAX_BATCH : BRAID_MAX_PARTS;
        braid_err_t e = braid_parts_check(data[0], sizes[0], max_count,
                                          query ? BRAID_MAX_QUERY_LEN : BRAID_MAX_FRAME, &count);
        if (e != BRAID_OK)
            return e;
    }
    /*  The keys frame is the last; it holds one entry per partial.       */
    if (keys)
        return braid_keys_decode(data[nframes - 1], sizes[nframes - 1], count, NULL);
    return BRAID_OK;
}

/*  Drop the rest of a message whose first frames were received: the next
    receive then starts at a message boundary. Bounded: a message still
    arriving is left to the next receive to refuse.                         */
static void
s_drain_rest(void *handle)
{
    int rcvmore = 1;
    size_t optlen = sizeof rcvmore;
    zmq_msg_t rest;
    zmq_msg_init(&rest);
    for (int i = 0; i < 100000 && zmq_getsockopt(handle, ZMQ_RCVMORE, &rcvmore, &optlen) == 0 &&
                    rcvmore && zmq_msg_recv(&rest, handle, ZMQ_DONTWAIT) >= 0;
         i++)
        optlen = sizeof rcvmore;
    zmq_msg_close(&rest);
}

int
braid_msg_recv_frames(void *handle, zmq_msg_t *frames, size_t max, size_t *nframes_p, int flags)
{
    size_t n = 0;
    bool too_many = false;
    int more = 1;
    *nframes_p = 0;
    for (size_t i = 0; more; i++) {
        zmq_msg_t drain;
        zmq_msg_t *m = n < max ? &frames[n] : &drain;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, handle, i ? 0 : flags) < 0) {
            int err = errno;
            zmq_msg_close(m);
            if (i)
                s_drain_rest(handle);
            for (size_t k = 0; k < n; k++)
                zmq_msg_close(&frames[k]);
            errno = err;
            return -1;
        }
        more = zmq_msg_more(m);
        if (m == &drain) {
            zmq_msg_close(&drain);  /* never hold more than max            */
            too_many = true;
        } else
            n++;
    }
    if (too_many) {
        for (size_t k = 0; k < n; k++)
            zmq_msg_close(&frames[k]);
        return -2;
    }
    *nframes_p = n;
    return 0;
}

braid_err_t
braid_msg_decode_frames(zmq_msg_t *frames, size_t nframes, braid_channel_t channel,
                        braid_msg_t *msg)
{
    if (nframes == 0)
        return BRAID_ERR_EMPTY;
    braid_err_t e = braid_msg_decode(zmq_msg_data(&frames[0]), zmq_msg_size(&frames[0]),
                                     nframes - 1, channel, msg);
    if (e != BRAID_OK)
        return e;
    const void *data[BRAID_MAX_FRAMES];
    size_t sizes[BRAID_MAX_FRAMES];
    for (size_t i = 1; i < nframes && i <= BRAID_MAX_FRAMES; i++) {
        data[i - 1] = zmq_msg_data(&frames[i]);
        sizes[i - 1] = zmq_msg_size(&frames[i]);
    }
    return braid_msg_check_payload(msg, nframes - 1, data, sizes);
}

zmsg_t *
braid_msg_take_frames(zmsg_t **queue_p, size_t n)
{
    zmsg_t *queue = *queue_p;
    size_t size = queue ? zmsg_size(queue) : 0;
    if (n == 0 || size == 0)
        return NULL;
    if (n >= size) {
        *queue_p = NULL;
        return queue;
    }
    zmsg_t *batch = zmsg_new();
    if (!batch)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        zframe_t *f = zmsg_pop(queue);
        zmsg_append(batch, &f);
    }
    return batch;
}

void
braid_msg_put_back(zmsg_t **queue_p, zmsg_t **batch_p)
{
    zmsg_t *batch = *batch_p;
    *batch_p = NULL;
    if (!batch)
        return;
    if (*queue_p) {
        zframe_t *f;
        while ((f = zmsg_pop(*queue_p)))
            zmsg_append(batch, &f);
        zmsg_destroy(queue_p);
    }
    *queue_p = batch;
}

static void
s_put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        p[i] = (uint8_t) v;
        v >>= 8;
    }
}

void
braid_hb_entry_put(uint8_t *p, const braid_hb_entry_t *entry)
{
    s_put_be(p, entry->task_id, 8);
    s_put_be(p + 8, entry->attempt, 4);
    s_put_be(p + 12, entry->next_seq, 8);
}

void
braid_hb_entry_get(const uint8_t *p, braid_hb_entry_t *entry)
{
    entry->task_id = braid_be_get(p, 8);
    entry->attempt = (uint32_t) braid_be_get(p + 8, 4);
    entry->next_seq = braid_be_get(p + 12, 8);
}

/*  Who sent header: the authenticated User-Id of its connection (the ZAP
    handler's answer; the CURVE key in Z85 under braid's), or "", and the
    connection's Peer-Address (tcp: the peer's IP), or "".                 */
static void
s_peer(zmq_msg_t *header, braid_msg_t *msg)
{
    const char *user = zmq_msg_gets(header, "User-Id");
    msg->peer[0] = '\0';
    if (user && strlen(user) <= BRAID_MAX_PEER)
        snprintf(msg->peer, sizeof msg->peer, "%s", user);
    const char *address = zmq_msg_gets(header, "Peer-Address");
    msg->address[0] = '\0';
    if (address && strlen(address) <= BRAID_MAX_ADDRESS)
        snprintf(msg->address, sizeof msg->address, "%s", address);
}

/*  braid_msg_recv(), the first frame received with first_flags (0, or
    ZMQ_DONTWAIT: -1 with errno EAGAIN when no message waits).             */
static int
s_recv(void *sock, bool routed, braid_channel_t channel, braid_msg_t *msg, zframe_t **routing_id,
       zmsg_t **payload, braid_err_t *err, int first_flags)
{
    const size_t max_frames = (routed ? 1 : 0) + 1 + BRAID_MAX_FRAMES;
    *err = BRAID_OK;
    if (routing_id)
        *routing_id = NULL;
    *payload = NULL;
    void *handle = zsock_resolve(sock);
    zmsg_t *body = zmsg_new();
    if (!body)
        return -1;
    /*  The header is decoded in place and dropped: it never needs a frame
        object of its own.                                                  */
    zmq_msg_t header;
    zmq_msg_init(&header);
    bool have_header = false;

    size_t nframes = 0;
    bool too_many = false;
    int more = 1;
    while (more) {
        nframes++;
        if (nframes > max_frames) {
            /*  Drain: never hold more than the cap, and spend no allocation
                on what is dropped (a flood of millions of empty frames
                must not stall the loop).                                  */
            zmq_msg_t drop;
            zmq_msg_init(&drop);
            int rc = zmq_msg_recv(&drop, handle, 0);
            more = rc < 0 || zmq_msg_more(&drop);
            zmq_msg_close(&drop);
            if (rc < 0)
                goto failed;
            too_many = true;
            continue;
        }
        if ((routed && nframes == 1) || have_header) {
            zframe_t *frame = NULL;
            if (nframes == 1 && first_flags) {
                zmq_msg_t first;
                zmq_msg_init(&first);
                if (zmq_msg_recv(&first, handle, first_flags) < 0) {
                    int saved = errno;
                    zmq_msg_close(&first);
                    zmsg_destroy(&body);
                    zmq_msg_close(&header);
                    errno = saved;
                    return -1;      /* nothing waits (EAGAIN), or failed   */
                }
                frame = zframe_new(zmq_msg_data(&first), zmq_msg_size(&first));
                more = zmq_msg_more(&first);
                zmq_msg_close(&first);
                if (!frame)
                    goto failed;    /* out of memory: the rest is drained */
            } else if (!(frame = zframe_recv(handle)))
                goto failed;
            else
                more = zframe_more(frame);
            if (routed && nframes == 1) {
                if (routing_id)
                    *routing_id = frame;
                else
                    zframe_destroy(&frame);
            } else
                zmsg_append(body, &frame);
        } else {
            if (zmq_msg_recv(&header, handle, nframes == 1 ? first_flags : 0) < 0) {
                if (nframes == 1) {
                    int saved = errno;
                    zmq_msg_close(&header);
                    zmsg_destroy(&body);
                    errno = saved;
                    return -1;      /* nothing waits (EAGAIN), or failed   */
                }
                goto failed;
            }
            have_header = true;
            more = zmq_msg_more(&header);
        }
    }
    braid_err_t e = BRAID_OK;
    if (too_many)
        e = BRAID_ERR_FRAMES;
    else if (routed && nframes < 2)
        e = BRAID_ERR_ROUTING;      /* nothing after the routing id        */
    else if (!have_header)
        e = BRAID_ERR_EMPTY;
    else
        e = braid_msg_decode(zmq_msg_data(&header), zmq_msg_size(&header), zmsg_size(body),
                             channel, msg);
    if (e == BRAID_OK) {
        const void *data[BRAID_MAX_FRAMES];
        size_t sizes[BRAID_MAX_FRAMES], n = 0;
        for (zframe_t *f = zmsg_first(body); f && n < BRAID_MAX_FRAMES; f = zmsg_next(body)) {
            data[n] = zframe_data(f);
            sizes[n++] = zframe_size(f);
        }
        e = braid_msg_check_payload(msg, n, data, sizes);
    }
    if (e == BRAID_OK)
        s_peer(&header, msg);
    zmq_msg_close(&header);
    if (e != BRAID_OK) {
        zmsg_destroy(&body);
        *err = e;
        return -2;
    }
    *payload = body;
    return 0;

failed:
    /*  Interrupted inside a message: drop the rest of it, so the next
        receive starts at a message boundary.                               */
    if (more)
        s_drain_rest(handle);
    zmq_msg_close(&header);
    zmsg_destroy(&body);
    if (routing_id)
        zframe_destroy(routing_id);
    return -1;
}

int
braid_msg_recv(void *sock, bool routed, braid_channel_t channel, braid_msg_t *msg,
               zframe_t **routing_id, zmsg_t **payload, braid_err_t *err)
{
    return s_recv(sock, routed, channel, msg, routing_id, payload, err, 0);
}

int
braid_msg_try_recv(void *sock, bool routed, braid_channel_t channel, braid_msg_t *msg,
                   zframe_t **routing_id, zmsg_t **payload, braid_err_t *err)
{
    return s_recv(sock, routed, channel, msg, routing_id, payload, err, ZMQ_DONTWAIT);
}

/*  Send msg and the payload frames. The first frame goes with first_flags
    (ZMQ_DONTWAIT or 0); if it is refused nothing is consumed and -1 is
    returned. Once it is queued ZeroMQ takes the whole message, so a later
    frame fails only while the context terminates: -1 with *payload gone.  */
static int
s_send(void *sock, const zframe_t *routing_id, const braid_msg_t *msg, zmsg_t **payload,
       int first_flags)
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
    int header_flags = nbody ? ZMQ_SNDMORE : 0;
    if (routing_id) {
        if (zmq_send(handle, zframe_data((zframe_t *) routing_id),
                     zframe_size((zframe_t *) routing_id), first_flags | ZMQ_SNDMORE) < 0)
            return -1;
    } else
        header_flags |= first_flags;
    if (zmq_send(handle, buf, len, header_flags) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < nbody; i++) {
        zframe_t *frame = zmsg_pop(body);
        if (zframe_send(&frame, handle, i + 1 < nbody ? ZFRAME_MORE : 0) < 0) {
            zframe_destroy(&frame);
            rc = -1;
            break;
        }
    }
    int saved = errno;
    if (payload)
        zmsg_destroy(payload);
    errno = saved;
    return rc;
}

int
braid_msg_send(void *sock, const zframe_t *routing_id, const braid_msg_t *msg, zmsg_t **payload,
               bool dontwait)
{
    int rc = s_send(sock, routing_id, msg, payload, dontwait ? ZMQ_DONTWAIT : 0);
    int saved = errno;
    if (payload)
        zmsg_destroy(payload);  /* consumed on failure too */
    errno = saved;
    return rc;
}

int
braid_msg_send_mem(void *sock, const zframe_t *routing_id, const braid_msg_t *msg,
                   const void *data, size_t size, bool dontwait)
{
    uint8_t buf[BRAID_MAX_HEADER];
    size_t len = braid_msg_encode_buf(msg, buf, sizeof buf);
    if (len == 0) {
        errno = EINVAL;
        return -1;
    }
    void *handle = zsock_resolve(sock);
    int flags = dontwait ? ZMQ_DONTWAIT : 0;
    if (routing_id) {
        if (zmq_send(handle, zframe_data((zframe_t *) routing_id),
                     zframe_size((zframe_t *) routing_id), flags | ZMQ_SNDMORE) < 0)
            return -1;
        flags = 0;      /* the message is queued whole from here           */
    }
    if (zmq_send(handle, buf, len, flags | ZMQ_SNDMORE) < 0)
        return -1;
    return zmq_send(handle, data, size, 0) < 0 ? -1 : 0;
}

int
braid_msg_try_send(void *sock, const zframe_t *routing_id, const braid_msg_t *msg,
                   zmsg_t **payload)
{
    return s_send(sock, routing_id, msg, payload, ZMQ_DONTWAIT);
}
