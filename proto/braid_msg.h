/*  braid_msg.h - the braid wire protocol: header codec and framing.

    Every message is a multipart ZeroMQ message: the routing id where the
    socket adds one, then one header frame (a msgpack array: version, type,
    fields...), then zero or more raw payload frames. proto/PROTOCOL.md is
    normative; proto/braid_msgs.def is the message table.

    braid_msg_decode() is pure and total: any byte string either fills a
    braid_msg_t or returns a braid_err_t. Nothing it decodes is allocated:
    strings are copied into fixed buffers whose sizes are the protocol's
    bounds.
*/

#ifndef BRAID_MSG_H_INCLUDED
#define BRAID_MSG_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRAID_PROTO_VERSION 1

/*  Bounds. Each one is a promise to the receiver, checked on decode.       */
#define BRAID_MAX_BATCH 1024          /* queries in one QUERIES; partials in
                                         a keyed DATA, DONE (its keys)     */
#define BRAID_MAX_PARTS 65536         /* partials in one DATA, DONE,
                                         PARTIAL or END (one parts frame)  */
#define BRAID_MAX_QUERIES_FRAME 65536 /* bytes of a QUERIES' parts frame:
                                         the frontend's ZMQ_MAXMSGSIZE     */
#define BRAID_MAX_SOURCES 32          /* sources in a job or on a worker    */
#define BRAID_MAX_NAME 64             /* source or worker name, bytes       */
#define BRAID_MAX_TEXT 1024           /* error or status text, bytes        */
#define BRAID_MAX_QUERIES 10000000    /* queries in one job                 */
#define BRAID_MAX_QUERY_LEN 8192      /* bytes in one query                 */
#define BRAID_MAX_INFLIGHT 1000000    /* per-job in-flight limit            */
#define BRAID_MAX_SLOTS 65535         /* slots one worker announces         */
#define BRAID_MAX_ATTEMPTS 1000       /* attempts of one task               */
#define BRAID_MAX_HEADER 8192         /* bytes in one header frame          */
#define BRAID_MAX_FRAME (16u << 20)   /* ZMQ_MAXMSGSIZE on bound sockets    */
#define BRAID_MAX_DEPTH 3             /* msgpack nesting in a header        */
#define BRAID_MAX_RETRIES 1000        /* retries of one task                */
#define BRAID_MAX_EXIT_VALUE 999      /* X: exit status, 128+signal, HTTP   */
#define BRAID_MAX_HOST 255            /* H: a worker's host name, bytes     */
#define BRAID_MAX_VERSION 64          /* V: a program's version, bytes      */
#define BRAID_MAX_PEER 64             /* an authenticated User-Id, bytes    */
#define BRAID_MAX_DEDUP 1024          /* a partial's dedup value, bytes     */
#define BRAID_MAX_ADDRESS 64          /* a connection's Peer-Address, bytes */
/*  Client credit in bytes (PROTOCOL.md, "A job" 4): each message counts
    BRAID_MSG_OVERHEAD bytes beyond its payload; the client keeps about
    BRAID_CLIENT_WINDOW_BYTES of messages granted ahead of what it read,
    and the broker lets one grant run at most its credit_bytes (by default
    twice that) ahead of what it had sent.                                  */
#define BRAID_MSG_OVERHEAD 64
#define BRAID_CLIENT_WINDOW_BYTES (16u << 20)
/*  Payload frames one message may carry: its parts frame (braid_parts.h),
    and a keyed DATA or DONE its keys frame after it (PROTOCOL.md, "Keys").
    A receiver never holds more: the rest of a longer message is drained. */
#define BRAID_MAX_FRAMES 2

/*  HELLO K: per source the worker serves, what its partials carry.         */
#define BRAID_SOURCE_KEYED 0x1u       /* a score and a dedup key each (h)   */
#define BRAID_SOURCE_SCORE_ASC 0x2u   /* lower scores first (else higher)   */
#define BRAID_SOURCE_FLAGS_MAX 0x3u
#define BRAID_MAX_MSEC 604800000u     /* 7 days: any timeout or deadline    */
/*  WHEARTBEAT's payload frame: one entry per running task, big-endian
    task_id (8 bytes), attempt (4), next seq to send (8).                   */
#define BRAID_HEARTBEAT_ENTRY 20
/*  RESUME's payload frame: ranges of task indices (query * sources +
    source) the client has seen end, big-endian first (8 bytes) and end,
    exclusive (8); at most BRAID_MAX_RESUME_RANGES of them.                 */
#define BRAID_RESUME_RANGE 16
#define BRAID_MAX_RESUME_RANGES 65536

/*  A worker with n slots runs n tasks and holds n more queued, so it never
    waits a round trip for its next task (PROTOCOL.md, "A worker" 2): the
    broker sends it at most this many tasks at once.                        */
static inline uint32_t
braid_worker_capacity(uint32_t slots)
{
    return 2 * slots;
}

/*  Channels. A message type is valid on exactly one.                      */
typedef enum {
    BRAID_CH_CLIENT = 1,    /* client DEALER -> broker frontend ROUTER      */
    BRAID_CH_TO_CLIENT,     /* broker frontend ROUTER -> client DEALER      */
    BRAID_CH_WORKER,        /* worker DEALER -> broker backend ROUTER       */
    BRAID_CH_TO_WORKER,     /* broker backend ROUTER -> worker DEALER       */
    BRAID_CH_SINK           /* worker PUSH -> broker sink PULL              */
} braid_channel_t;

/*  Message types, from braid_msgs.def.                                     */
typedef enum {
#define BRAID_MSG(ID, NAME, FIELDS, MINF, MAXF, CH) BRAID_MSG_##NAME = ID,
#include "braid_msgs.def"
#undef BRAID_MSG
} braid_msg_type_t;

/*  Task end status.                                                        */
typedef enum {
    BRAID_STATUS_OK = 0,
    BRAID_STATUS_FAILED = 1,
    BRAID_STATUS_TIMEOUT = 2,
    BRAID_STATUS_CANCELLED = 3
} braid_status_t;
#define BRAID_STATUS_COUNT 4

/*  Job ordering modes.                                                     */
typedef enum {
    BRAID_ORDER_SUBMIT = 0,     /* exactly a sequential run's output        */
    BRAID_ORDER_ARRIVAL = 1,    /* as partials arrive, seq order per task   */
    BRAID_ORDER_KEY = 2         /* one query's sources merged by score      */
} braid_order_t;

/*  SUBMIT flags.                                                           */
#define BRAID_FLAG_FAIL_FAST 0x1u  /* first failure cancels the rest      */
#define BRAID_FLAG_RETRIES 0x2u    /* retries (y) overrides the source's  */
#define BRAID_FLAG_RESUME 0x4u     /* a RESUME follows: hold the job      */

/*  ERROR codes (broker -> client).                                         */
typedef enum {
    BRAID_ERR_CODE_BAD_REQUEST = 400,   /* malformed or out of bounds       */
    BRAID_ERR_CODE_UNKNOWN_JOB = 404,   /* job id not open for this client  */
    BRAID_ERR_CODE_CONFLICT = 409,      /* job id reused with other params  */
    BRAID_ERR_CODE_TOO_MANY = 429,      /* too many open jobs               */
    BRAID_ERR_CODE_UNAVAILABLE = 503,   /* broker is stopping               */
    BRAID_ERR_CODE_FULL = 507           /* a global cap of the broker's: open
                                           jobs, tasks or buffered bytes    */
} braid_err_code_t;

/*  Decode errors: why a header was refused. 0 is success.                  */
typedef enum {
    BRAID_OK = 0,
    BRAID_ERR_EMPTY,        /* no header frame, or a zero-length one        */
    BRAID_ERR_TOO_BIG,      /* header longer than BRAID_MAX_HEADER          */
    BRAID_ERR_MSGPACK,      /* not one complete msgpack object, or trailing */
    BRAID_ERR_DEPTH,        /* nested deeper than BRAID_MAX_DEPTH           */
    BRAID_ERR_NOT_ARRAY,    /* top level is not an array of >= 2            */
    BRAID_ERR_VERSION,      /* version is not BRAID_PROTO_VERSION           */
    BRAID_ERR_UNKNOWN_TYPE, /* type not in the message table                */
    BRAID_ERR_CHANNEL,      /* type not valid on this channel               */
    BRAID_ERR_FIELD_COUNT,  /* wrong number of fields for the type          */
    BRAID_ERR_FIELD_TYPE,   /* a field has the wrong msgpack type           */
    BRAID_ERR_RANGE,        /* a field is out of its bounds                 */
    BRAID_ERR_FRAMES,       /* payload frame count wrong for the type       */
    BRAID_ERR_FRAME_SIZE,   /* a payload frame is too large for the type    */
    BRAID_ERR_ROUTING,      /* routed message with nothing after its id     */
    BRAID_ERR_COUNT
} braid_err_t;

/*  A decoded header. Which members are meaningful depends on type; see the
    FIELDS column of braid_msgs.def and the letters in PROTOCOL.md.          */
typedef struct {
    uint8_t type;                   /* braid_msg_type_t                     */
    uint8_t job_id[16];             /* j: client-chosen job id              */
    uint32_t order;                 /* o: braid_order_t                     */
    uint32_t max_inflight;          /* m: per-job in-flight limit, 0 = none */
    uint32_t timeout_msec;          /* t: per-task timeout, 0 = none        */
    uint32_t flags;                 /* f: BRAID_FLAG_*                      */
    uint32_t deadline_msec;         /* d: job deadline from accept, 0 = none*/
    uint32_t retries;               /* y: retry limit (BRAID_FLAG_RETRIES)  */
    uint32_t transient;             /* g: 1 = the failure may pass on retry */
    uint32_t count;                 /* n: number of queries in the job      */
    uint64_t credit;                /* c: client credit, absolute out_seq   */
    uint32_t first;                 /* F: index of the first query carried  */
    uint64_t out_seq;               /* O: per-job broker->client sequence   */
    uint32_t query;                 /* q: query index                       */
    uint32_t source;                /* s: source index in the job's list    */
    uint64_t seq;                   /* e: seq of the first partial carried  */
    uint32_t status;                /* x: braid_status_t (or job status)    */
    uint64_t parts;                 /* p: number of partials of a task      */
    uint32_t attempts;              /* a: attempt number / attempts made    */
    uint32_t code;                  /* C: braid_err_code_t                  */
    uint64_t task_id;               /* k: broker-chosen task id             */
    uint32_t slots;                 /* l: worker's concurrent slots         */
    uint64_t window;                /* w: task credit, seq < window; 0=none */
    uint64_t resume;                /* r: first seq the worker must send    */
    uint64_t window_bytes;          /* b: task credit in payload bytes of the
                                           attempt, absolute; 0 = none         */
    uint32_t exit_value;            /* X: exit status (128+N: signal N), the
                                           HTTP status, or 0                   */
    uint32_t retry_after_msec;      /* A: retry no sooner than this, 0=any  */
    uint64_t started_msec;          /* B: wall clock at first dispatch, msec
                                           since the epoch; 0 = never ran      */
    uint64_t queue_msec;            /* Q: from the job's accept to dispatch */
    uint64_t run_msec;              /* U: from dispatch to the end          */
    char worker[BRAID_MAX_NAME + 1];    /* W: who ran it last; "" = nobody  */
    uint32_t keyed;                 /* h: 1 = the last payload frame is the
                                           partials' keys frame (braid_keys.h) */
    uint64_t duplicates;            /* D: partials dropped as duplicates    */
    uint32_t pid;                   /* P: a worker's process id             */
    char host[BRAID_MAX_HOST + 1];  /* H: a worker's host name              */
    char version[BRAID_MAX_VERSION + 1];    /* V: a worker's version        */
    uint32_t nflags;                /* K: entries, as many as S             */
    uint32_t source_flags[BRAID_MAX_SOURCES];   /* K: BRAID_SOURCE_*        */
    uint64_t token;                 /* z: the attempt's random token, echoed
                                           in its DATA and DONE            */
    char peer[BRAID_MAX_PEER + 1];  /* not a field: set by braid_msg_recv,
                                       the sender's authenticated User-Id
                                       (its CURVE key, Z85), "" without    */
    char address[BRAID_MAX_ADDRESS + 1];    /* not a field: set by
                                       braid_msg_recv, the connection's
                                       Peer-Address (tcp: the IP), "" when
                                       the transport has none              */
    char text[BRAID_MAX_TEXT + 1];  /* E: error or status text              */
    char name[BRAID_MAX_NAME + 1];  /* N: source name / worker name         */
    uint32_t nsources;              /* S or R: number of entries            */
    char sources[BRAID_MAX_SOURCES][BRAID_MAX_NAME + 1];            /* S   */
    uint64_t summary[BRAID_MAX_SOURCES][BRAID_STATUS_COUNT];        /* R   */
} braid_msg_t;

/*  Decode one header frame of a message that travelled on channel, with
    nframes payload frames after it. Pure; returns BRAID_OK or the reason.  */
braid_err_t
braid_msg_decode(const void *data, size_t size, size_t nframes, braid_channel_t channel,
                 braid_msg_t *msg);

/*  Encode the header of msg into a new frame. Returns NULL if msg is not
    valid for its type (a bug in the caller) or on allocation failure.      */
zframe_t *
braid_msg_encode(const braid_msg_t *msg);

/*  Encode the header into buf (at most bufsize bytes); returns the length,
    or 0 if it does not fit or msg is invalid.                              */
size_t
braid_msg_encode_buf(const braid_msg_t *msg, void *buf, size_t bufsize);

/*  Start a message: zero msg and set its type.                             */
void
braid_msg_init(braid_msg_t *msg, braid_msg_type_t type);

/*  Receive one message from sock without ever holding more than
    2 + BRAID_MAX_FRAMES frames: a longer message is drained and refused.
    A keyed DATA or DONE's keys frame is checked too (braid_keys_decode).
    If routed, the first frame is the routing id and is returned in
    *routing_id (caller owns it; it is also returned on a decode error, so
    the caller may reply). Payload frames are returned in *payload (caller
    owns; may be empty). Returns 0 on success, -1 if interrupted or the
    socket failed, -2 if the message was malformed (*err says why).         */
int
braid_msg_recv(void *sock, bool routed, braid_channel_t channel, braid_msg_t *msg,
               zframe_t **routing_id, zmsg_t **payload, braid_err_t *err);

/*  braid_msg_recv() without waiting: -1 with errno EAGAIN when no message
    waits on sock. A loop draining a socket calls it until EAGAIN instead
    of asking ZMQ_EVENTS before each message (each ask costs ZeroMQ two
    system calls; a receive that finds a message costs none).             */
int
braid_msg_try_recv(void *sock, bool routed, braid_channel_t channel, braid_msg_t *msg,
                   zframe_t **routing_id, zmsg_t **payload, braid_err_t *err);

/*  Send msg's header and then the payload frames (consumed, may be NULL) on
    sock, after a copy of routing_id if it is not NULL. Nonblocking when
    dontwait is true. Returns 0, or -1 with errno set (EAGAIN, EHOSTUNREACH).
    On -1 the payload is destroyed all the same.                            */
int
braid_msg_send(void *sock, const zframe_t *routing_id, const braid_msg_t *msg,
               zmsg_t **payload, bool dontwait);

/*  braid_msg_send() of a message with one payload frame, copied from
    data (size bytes): no frame objects are made for it (the broker's
    TASK).                                                                  */
int
braid_msg_send_mem(void *sock, const zframe_t *routing_id, const braid_msg_t *msg,
                   const void *data, size_t size, bool dontwait);

/*  Send without blocking, and without losing anything when the peer cannot
    take the message now: returns 0 when the message was queued (*payload
    consumed), or -1 with errno set (EAGAIN: the pipe is full;
    EHOSTUNREACH: no such peer) and *payload left untouched, still owned by
    the caller, so it can be retried or destroyed. ZeroMQ queues a multipart
    message whole or not at all, so only the first frame can fail; a later
    one fails only while the context terminates, and then -1 is returned
    with *payload destroyed (NULL).                                         */
int
braid_msg_try_send(void *sock, const zframe_t *routing_id, const braid_msg_t *msg,
                   zmsg_t **payload);

/*  True if a payload frame of size bytes fits a message of this type
    (frame size caps, and WHEARTBEAT's and RESUME's whole entries). The
    receivers check
    every payload frame with it.                                            */
bool
braid_msg_payload_fits(int type, size_t size);

/*  True if messages of type carry their partials or queries in a parts
    frame (braid_parts.h): QUERIES, PARTIAL, END, DATA, DONE.               */
bool
braid_msg_has_parts(int type);

/*  Check the payload of a decoded message (its nframes frames, within the
    table's count): every frame's size, the parts frame (its entries within
    the type's bounds: BRAID_MAX_BATCH queries of BRAID_MAX_QUERY_LEN, or
    BRAID_MAX_PARTS partials, BRAID_MAX_BATCH when keyed), and a keyed
    message's keys frame (one entry per partial). BRAID_OK or the reason.  */
braid_err_t
braid_msg_check_payload(const braid_msg_t *msg, size_t nframes, const void *const *data,
                        const size_t *sizes);

/*  Receive one whole message into frames[0..max) without allocating and
    without ever holding more than max frames: a longer message is drained
    and refused. Each frames[i] is initialised here; on 0 the caller owns
    frames[0..*nframes_p) and closes them; on -1 and -2 nothing is held.
    flags apply to the first frame (ZMQ_DONTWAIT). Returns 0, -1 (errno:
    EAGAIN, EINTR, or the socket failed) or -2 (too many frames).           */
int
braid_msg_recv_frames(void *handle, zmq_msg_t *frames, size_t max, size_t *nframes_p, int flags);

/*  Decode a message received with braid_msg_recv_frames (frames[0] is the
    header, the rest payload): the header, then every payload frame's size,
    and a keyed DATA or DONE's keys frame. Pure; BRAID_OK or the reason.    */
braid_err_t
braid_msg_decode_frames(zmq_msg_t *frames, size_t nframes, braid_channel_t channel,
                        braid_msg_t *msg);

/*  Take the first n frames of the queue *queue_p as a message of their
    own, to send as one batch. When n covers the whole queue the queue
    itself is returned and *queue_p set to NULL. NULL (queue untouched) on
    allocation failure or when the queue is empty or n is 0.                */
zmsg_t *
braid_msg_take_frames(zmsg_t **queue_p, size_t n);

/*  Put a batch that could not be sent back in front of the queue *queue_p
    (which may be NULL): afterwards *queue_p holds the batch's frames, then
    the queue's. *batch_p is consumed.                                      */
void
braid_msg_put_back(zmsg_t **queue_p, zmsg_t **batch_p);

/*  One entry of WHEARTBEAT's payload frame.                                */
typedef struct {
    uint64_t task_id;
    uint32_t attempt;
    uint64_t next_seq;          /* next seq the worker will send            */
} braid_hb_entry_t;

/*  Write entry at p (BRAID_HEARTBEAT_ENTRY bytes).                         */
void
braid_hb_entry_put(uint8_t *p, const braid_hb_entry_t *entry);

/*  Read the entry at p (BRAID_HEARTBEAT_ENTRY bytes).                      */
void
braid_hb_entry_get(const uint8_t *p, braid_hb_entry_t *entry);

/*  The big-endian unsigned integer of the n (at most 8) bytes at p: the
    lengths msgpack claims, the keys frame's, the heartbeat entries.        */
uint64_t
braid_be_get(const uint8_t *p, size_t n);

/*  Names, for logs and the CLI.                                            */
const char *
braid_msg_type_name(int type);
const char *
braid_err_name(braid_err_t err);
const char *
braid_status_name(int status);
/*  Parse a status name; -1 if unknown.                                     */
int
braid_status_parse(const char *name);
/*  An order's name: "submit", "arrival", "key" (braid_order_t).            */
const char *
braid_order_name(int order);

/*  Set ZMQ_MAXMSGSIZE and HWMs on a socket a peer can reach.               */
void
braid_socket_harden(void *sock, int hwm);

/*  ZMTP heartbeats on sock (before it connects or binds): a PING every
    ivl_msec; a connection silent for timeout_msec is closed, and the peer
    is told to close its end after as long (TTL): a peer that vanished, or
    that connects and says nothing, is reaped by libzmq and gives its file
    descriptor back.                                                        */
void
braid_socket_heartbeat(void *sock, int ivl_msec, int timeout_msec);

/*  True if name is a valid source or worker name: 1..BRAID_MAX_NAME bytes
    of [A-Za-z0-9_.-].                                                      */
bool
braid_name_valid(const char *name, size_t len);

#ifdef __cplusplus
}
#endif

#endif
