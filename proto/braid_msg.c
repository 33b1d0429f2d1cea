/*  braid_msg.c - the braid wire protocol: the header codec (braid_wire.c
    puts messages on sockets).

    Decoding runs in two passes. s_prescan() walks the raw bytes and checks
    that every length and count a msgpack header claims fits in the bytes
    that are actually present, and that nesting stays within
    BRAID_MAX_DEPTH: msgpack-c sizes its allocations from those claims, so
    nothing reaches it unchecked. Then msgpack-c decodes, and only a decode
    that consumes the whole frame is accepted. Fields are then checked
    against the message table and copied out.
*/

#include "braid_msg.h"

#include <assert.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*  ---------------------------------------------------------------------
    The message table                                                      */

typedef struct {
    const char *name;
    const char *fields;
    uint16_t min_frames;
    uint16_t max_frames;
    braid_channel_t channel;
} s_msg_def_t;

static const s_msg_def_t *
s_msg_def(int type)
{
    switch (type) {
#define BRAID_MSG(ID, NAME, FIELDS, MINF, MAXF, CH)                                                \
    case ID: {                                                                                     \
        static const s_msg_def_t def = {#NAME, FIELDS, MINF, MAXF, CH};                            \
        return &def;                                                                               \
    }
#include "braid_msgs.def"
#undef BRAID_MSG
    default:
        return NULL;
    }
}

/*  ---------------------------------------------------------------------
    The field letters                                                      */

typedef enum { K_BIN16, K_U32, K_U64, K_TEXT, K_NAME, K_NAMES, K_SUMMARY, K_FLAGS } s_kind_t;

typedef struct {
    char letter;
    s_kind_t kind;
    size_t offset;
    uint64_t min;
    uint64_t max;
} s_field_t;

#define F_(L, K, MEMBER, MIN, MAX) {L, K, offsetof(braid_msg_t, MEMBER), MIN, MAX}

static const s_field_t s_fields[] = {
    F_('j', K_BIN16, job_id, 0, 0),
    F_('o', K_U32, order, 0, BRAID_ORDER_KEY),
    F_('m', K_U32, max_inflight, 0, BRAID_MAX_INFLIGHT),
    F_('t', K_U32, timeout_msec, 0, BRAID_MAX_MSEC),
    F_('f', K_U32, flags, 0, 0xffff),
    F_('d', K_U32, deadline_msec, 0, BRAID_MAX_MSEC),
    F_('y', K_U32, retries, 0, BRAID_MAX_RETRIES),
    F_('g', K_U32, transient, 0, 1),
    F_('n', K_U32, count, 1, BRAID_MAX_QUERIES),
    F_('c', K_U64, credit, 0, UINT64_MAX),
    F_('F', K_U32, first, 0, BRAID_MAX_QUERIES - 1),
    F_('O', K_U64, out_seq, 0, UINT64_MAX),
    F_('q', K_U32, query, 0, BRAID_MAX_QUERIES - 1),
    F_('s', K_U32, source, 0, BRAID_MAX_SOURCES - 1),
    F_('e', K_U64, seq, 0, UINT64_MAX),
    F_('x', K_U32, status, 0, BRAID_STATUS_COUNT - 1),
    F_('p', K_U64, parts, 0, UINT64_MAX),
    F_('a', K_U32, attempts, 0, BRAID_MAX_ATTEMPTS),
    F_('C', K_U32, code, 0, 999),
    F_('k', K_U64, task_id, 0, UINT64_MAX),
    F_('l', K_U32, slots, 1, BRAID_MAX_SLOTS),
    F_('w', K_U64, window, 0, UINT64_MAX),
    F_('r', K_U64, resume, 0, UINT64_MAX),
    F_('b', K_U64, window_bytes, 0, UINT64_MAX),
    F_('E', K_TEXT, text, 0, BRAID_MAX_TEXT),
    F_('N', K_NAME, name, 1, BRAID_MAX_NAME),
    F_('S', K_NAMES, sources, 1, BRAID_MAX_SOURCES),
    F_('R', K_SUMMARY, summary, 1, BRAID_MAX_SOURCES),
    F_('X', K_U32, exit_value, 0, BRAID_MAX_EXIT_VALUE),
    F_('A', K_U32, retry_after_msec, 0, BRAID_MAX_MSEC),
    F_('B', K_U64, started_msec, 0, UINT64_MAX),
    F_('Q', K_U64, queue_msec, 0, UINT64_MAX),
    F_('U', K_U64, run_msec, 0, UINT64_MAX),
    F_('W', K_NAME, worker, 0, BRAID_MAX_NAME),
    F_('h', K_U32, keyed, 0, 1),
    F_('P', K_U32, pid, 0, UINT32_MAX),
    F_('H', K_TEXT, host, 0, BRAID_MAX_HOST),
    F_('V', K_TEXT, version, 0, BRAID_MAX_VERSION),
    F_('K', K_FLAGS, source_flags, 0, BRAID_MAX_SOURCES),
    F_('z', K_U64, token, 0, UINT64_MAX),
    F_('D', K_U64, duplicates, 0, UINT64_MAX),
};

/*  s_fields by letter: every header field of every message is looked up
    here, so a table rather than a walk.                                    */
static const s_field_t *s_field_by_letter[128];
static pthread_once_t s_field_once = PTHREAD_ONCE_INIT;

static void
s_field_index(void)
{
    for (size_t i = 0; i < sizeof s_fields / sizeof s_fields[0]; i++)
        s_field_by_letter[(unsigned char) s_fields[i].letter & 127] = &s_fields[i];
}

static const s_field_t *
s_field(char letter)
{
    pthread_once(&s_field_once, s_field_index);
    const s_field_t *f = s_field_by_letter[(unsigned char) letter & 127];
    return f && f->letter == letter ? f : NULL;
}

bool
braid_name_valid(const char *name, size_t len)
{
    if (len < 1 || len > BRAID_MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

/*  ---------------------------------------------------------------------
    Pre-scan: bounds and depth before msgpack-c sees a byte                */

uint64_t
braid_be_get(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*  Walks one object at *pos. Returns 0 if it and everything inside it fit
    in [*pos, size) within depth; advances *pos past it.                    */
static int
s_prescan(const uint8_t *p, size_t size, size_t *pos, int depth)
{
    if (depth > BRAID_MAX_DEPTH)
        return BRAID_ERR_DEPTH;
    if (*pos >= size)
        return BRAID_ERR_MSGPACK;
    uint8_t b = p[(*pos)++];
    size_t avail = size - *pos;
    uint64_t skip = 0;      /* raw bytes that follow                       */
    uint64_t children = 0;  /* nested objects that follow                  */
    size_t lenbytes = 0;    /* size of a length field that follows         */
    int kind = 0;           /* 0 raw, 1 array, 2 map                       */

    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if ((b & 0xf0) == 0x80) {
        children = b & 0x0f;
        kind = 2;
    } else if ((b & 0xf0) == 0x90) {
        children = b & 0x0f;
        kind = 1;
    } else if ((b & 0xe0) == 0xa0) {
        skip = b & 0x1f;
    } else {
        switch (b) {
        case 0xc4: case 0xd9: lenbytes = 1; break;  /* bin8, str8           */
        case 0xc5: case 0xda: lenbytes = 2; break;  /* bin16, str16         */
        case 0xc6: case 0xdb: lenbytes = 4; break;  /* bin32, str32         */
        case 0xc7: lenbytes = 1; skip = 1; break;   /* ext8: len, type      */
        case 0xc8: lenbytes = 2; skip = 1; break;   /* ext16                */
        case 0xc9: lenbytes = 4; skip = 1; break;   /* ext32                */
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xd4: skip = 2; break;                 /* fixext1: type+data   */
        case 0xd5: skip = 3; break;
        case 0xd6: skip = 5; break;
        case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        case 0xdc: lenbytes = 2; kind = 1; break;   /* array16              */
        case 0xdd: lenbytes = 4; kind = 1; break;   /* array32              */
        case 0xde: lenbytes = 2; kind = 2; break;   /* map16                */
        case 0xdf: lenbytes = 4; kind = 2; break;   /* map32                */
        default: return BRAID_ERR_MSGPACK;          /* 0xc1: never used     */
        }
        if (lenbytes) {
            if (avail < lenbytes)
                return BRAID_ERR_MSGPACK;
            uint64_t len = braid_be_get(p + *pos, lenbytes);
            *pos += lenbytes;
            avail -= lenbytes;
            if (kind)
                children = len;
            else
                skip += len;
        }
    }
    if (kind == 2)
        children *= 2;
    if (kind) {
        /*  Every child takes at least one byte: a count that exceeds the
            bytes left is a lie, refused before anyone allocates for it.   */
        if (children > avail)
            return BRAID_ERR_MSGPACK;
        for (uint64_t i = 0; i < children; i++) {
            int rc = s_prescan(p, size, pos, depth + 1);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (skip > avail)
        return BRAID_ERR_MSGPACK;
    *pos += (size_t) skip;
    return 0;
}

/*  ---------------------------------------------------------------------
    Decoding                                                               */

static int
s_get_uint(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return BRAID_ERR_FIELD_TYPE;
    *v = o->via.u64;
    return 0;
}

static int
s_get_str(const msgpack_object *o, const char **s, size_t *len)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return BRAID_ERR_FIELD_TYPE;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

/*  A name; the empty string too when the field's minimum is 0 (W).         */
static int
s_decode_name(const msgpack_object *o, char *dst, uint64_t min)
{
    const char *s;
    size_t len;
    int rc = s_get_str(o, &s, &len);
    if (rc)
        return rc;
    if (len == 0 && min == 0) {
        dst[0] = 0;
        return 0;
    }
    if (!braid_name_valid(s, len))
        return BRAID_ERR_RANGE;
    memcpy(dst, s, len);
    dst[len] = 0;
    return 0;
}

static int
s_decode_field(const s_field_t *f, const msgpack_object *o, braid_msg_t *msg)
{
    uint8_t *base = (uint8_t *) msg + f->offset;
    uint64_t v;
    int rc;
    switch (f->kind) {
    case K_BIN16:
        if (o->type != MSGPACK_OBJECT_BIN)
            return BRAID_ERR_FIELD_TYPE;
        if (o->via.bin.size != 16)
            return BRAID_ERR_RANGE;
        memcpy(base, o->via.bin.ptr, 16);
        return 0;
    case K_U32:
    case K_U64:
        if ((rc = s_get_uint(o, &v)))
            return rc;
        if (v < f->min || v > f->max)
            return BRAID_ERR_RANGE;
        if (f->kind == K_U32) {
            uint32_t v32 = (uint32_t) v;
            memcpy(base, &v32, sizeof v32);
        } else
            memcpy(base, &v, sizeof v);
        return 0;
    case K_TEXT: {
        const char *s;
        size_t len;
        if ((rc = s_get_str(o, &s, &len)))
            return rc;
        if (len > f->max)
            return BRAID_ERR_RANGE;
        /*  msgpack-c gives a zero-length str a NULL ptr: memchr and memcpy
            must not see it, even with length 0.                           */
        if (len > 0) {
            if (memchr(s, 0, len))
                return BRAID_ERR_RANGE;
            memcpy(base, s, len);
        }
        base[len] = 0;
        return 0;
    }
    case K_NAME:
        return s_decode_name(o, (char *) base, f->min);
    case K_NAMES:
        if (o->type != MSGPACK_OBJECT_ARRAY)
            return BRAID_ERR_FIELD_TYPE;
        if (o->via.array.size < f->min || o->via.array.size > f->max)
            return BRAID_ERR_RANGE;
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if ((rc = s_decode_name(&o->via.array.ptr[i], msg->sources[i], 1)))
                return rc;
        msg->nsources = o->via.array.size;
        return 0;
    case K_FLAGS:
        if (o->type != MSGPACK_OBJECT_ARRAY)
            return BRAID_ERR_FIELD_TYPE;
        if (o->via.array.size < f->min || o->via.array.size > f->max)
            return BRAID_ERR_RANGE;
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if ((rc = s_get_uint(&o->via.array.ptr[i], &v)))
                return rc;
            if (v > BRAID_SOURCE_FLAGS_MAX)
                return BRAID_ERR_RANGE;
            msg->source_flags[i] = (uint32_t) v;
        }
        msg->nflags = o->via.array.size;
        return 0;
    case K_SUMMARY:
        if (o->type != MSGPACK_OBJECT_ARRAY)
            return BRAID_ERR_FIELD_TYPE;
        if (o->via.array.size < f->min || o->via.array.size > f->max)
            return BRAID_ERR_RANGE;
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            const msgpack_object *row = &o->via.array.ptr[i];
            if (row->type != MSGPACK_OBJECT_ARRAY)
                return BRAID_ERR_FIELD_TYPE;
            if (row->via.array.size != BRAID_STATUS_COUNT)
                return BRAID_ERR_RANGE;
            for (int s = 0; s < BRAID_STATUS_COUNT; s++)
                if ((rc = s_get_uint(&row->via.array.ptr[s], &msg->summary[i][s])))
                    return rc;
        }
        msg->nsources = o->via.array.size;
        return 0;
    }
    return BRAID_ERR_FIELD_TYPE;
}

/*  One zone per thread, cleared after each decode: its first chunk stays,
    so a decode allocates nothing in the steady state (a fresh zone per
    message cost a malloc and free of 8 KiB each time). A thread-specific
    key frees it when its thread ends.                                      */
static pthread_key_t s_zone_key;
static pthread_once_t s_zone_once = PTHREAD_ONCE_INIT;

static void
s_zone_free(void *zone)
{
    msgpack_zone_free(zone);
}

static void
s_zone_key_init(void)
{
    if (pthread_key_create(&s_zone_key, s_zone_free) != 0)
        abort();    /* out of keys at start-up: nothing can work            */
}

static msgpack_zone *
s_zone(void)
{
    static __thread msgpack_zone *zone;
    if (!zone) {
        pthread_once(&s_zone_once, s_zone_key_init);
        zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE);
        if (zone && pthread_setspecific(s_zone_key, zone) != 0) {
            msgpack_zone_free(zone);
            zone = NULL;
        }
    }
    return zone;
}

braid_err_t
braid_msg_decode(const void *data, size_t size, size_t nframes, braid_channel_t channel,
                 braid_msg_t *msg)
{
    assert(msg);
    memset(msg, 0, sizeof *msg);
    if (!data || size == 0)
        return BRAID_ERR_EMPTY;
    if (size > BRAID_MAX_HEADER)
        return BRAID_ERR_TOO_BIG;

    size_t pos = 0;
    int rc = s_prescan(data, size, &pos, 0);
    if (rc)
        return (braid_err_t) rc;
    if (pos != size)
        return BRAID_ERR_MSGPACK;   /* trailing bytes after the object     */

    msgpack_zone *zone = s_zone();
    if (!zone)
        return BRAID_ERR_MSGPACK;
    msgpack_object object;
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack(data, size, &off, zone, &object);
    if (ur != MSGPACK_UNPACK_SUCCESS || off != size) {
        msgpack_zone_clear(zone);
        return BRAID_ERR_MSGPACK;
    }
    const msgpack_object *top = &object;
    braid_err_t err = BRAID_OK;
    const s_msg_def_t *def = NULL;
    uint64_t version, type;

    if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size < 2) {
        err = BRAID_ERR_NOT_ARRAY;
        goto done;
    }
    const msgpack_object *items = top->via.array.ptr;
    if (s_get_uint(&items[0], &version) || version != BRAID_PROTO_VERSION) {
        err = BRAID_ERR_VERSION;
        goto done;
    }
    if (s_get_uint(&items[1], &type) || type > 255 || !(def = s_msg_def((int) type))) {
        err = BRAID_ERR_UNKNOWN_TYPE;
        goto done;
    }
    if (def->channel != channel) {
        err = BRAID_ERR_CHANNEL;
        goto done;
    }
    size_t nfields = strlen(def->fields);
    if (top->via.array.size != nfields + 2) {
        err = BRAID_ERR_FIELD_COUNT;
        goto done;
    }
    msg->type = (uint8_t) type;
    for (size_t i = 0; i < nfields; i++) {
        const s_field_t *f = s_field(def->fields[i]);
        assert(f);
        if ((rc = s_decode_field(f, &items[i + 2], msg))) {
            err = (braid_err_t) rc;
            goto done;
        }
    }
    /*  K describes the sources of S, one entry each.                      */
    if (strchr(def->fields, 'K') && strchr(def->fields, 'S') && msg->nflags != msg->nsources) {
        err = BRAID_ERR_RANGE;
        goto done;
    }
    /*  A keyed DATA or DONE carries its keys frame after the partials.    */
    size_t keys = msg->keyed ? 1 : 0;
    if (nframes < def->min_frames + keys || nframes > def->max_frames + keys)
        err = BRAID_ERR_FRAMES;
done:
    msgpack_zone_clear(zone);
    return err;
}

/*  ---------------------------------------------------------------------
    Encoding                                                               */

typedef struct {
    uint8_t *buf;
    size_t size;
    size_t len;
    bool overflow;
} s_fixbuf_t;

static int
s_fixbuf_write(void *data, const char *src, size_t len)
{
    s_fixbuf_t *fb = data;
    if (fb->overflow || len > fb->size - fb->len) {
        fb->overflow = true;
        return -1;
    }
    memcpy(fb->buf + fb->len, src, len);
    fb->len += len;
    return 0;
}

static void
s_pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static bool
s_encode_field(msgpack_packer *pk, const s_field_t *f, const braid_msg_t *msg)
{
    const uint8_t *base = (const uint8_t *) msg + f->offset;
    switch (f->kind) {
    case K_BIN16:
        msgpack_pack_bin(pk, 16);
        msgpack_pack_bin_body(pk, base, 16);
        return true;
    case K_U32: {
        uint32_t v;
        memcpy(&v, base, sizeof v);
        if (v < f->min || v > f->max)
            return false;
        msgpack_pack_uint32(pk, v);
        return true;
    }
    case K_U64: {
        uint64_t v;
        memcpy(&v, base, sizeof v);
        if (v < f->min || v > f->max)
            return false;
        msgpack_pack_uint64(pk, v);
        return true;
    }
    case K_TEXT:
        if (strnlen((const char *) base, f->max + 1) > f->max)
            return false;
        s_pack_str(pk, (const char *) base);
        return true;
    case K_NAME:
        if (!(f->min == 0 && !base[0]) &&
            !braid_name_valid((const char *) base, strnlen((const char *) base, BRAID_MAX_NAME + 1)))
            return false;
        s_pack_str(pk, (const char *) base);
        return true;
    case K_NAMES:
        if (msg->nsources < 1 || msg->nsources > BRAID_MAX_SOURCES)
            return false;
        msgpack_pack_array(pk, msg->nsources);
        for (uint32_t i = 0; i < msg->nsources; i++) {
            if (!braid_name_valid(msg->sources[i], strnlen(msg->sources[i], BRAID_MAX_NAME + 1)))
                return false;
            s_pack_str(pk, msg->sources[i]);
        }
        return true;
    case K_FLAGS:
        if (msg->nflags > BRAID_MAX_SOURCES)
            return false;
        msgpack_pack_array(pk, msg->nflags);
        for (uint32_t i = 0; i < msg->nflags; i++) {
            if (msg->source_flags[i] > BRAID_SOURCE_FLAGS_MAX)
                return false;
            msgpack_pack_uint32(pk, msg->source_flags[i]);
        }
        return true;
    case K_SUMMARY:
        if (msg->nsources < 1 || msg->nsources > BRAID_MAX_SOURCES)
            return false;
        msgpack_pack_array(pk, msg->nsources);
        for (uint32_t i = 0; i < msg->nsources; i++) {
            msgpack_pack_array(pk, BRAID_STATUS_COUNT);
            for (int s = 0; s < BRAID_STATUS_COUNT; s++)
                msgpack_pack_uint64(pk, msg->summary[i][s]);
        }
        return true;
    }
    return false;
}

size_t
braid_msg_encode_buf(const braid_msg_t *msg, void *buf, size_t bufsize)
{
    const s_msg_def_t *def = s_msg_def(msg->type);
    if (!def)
        return 0;
    s_fixbuf_t fb = {buf, bufsize, 0, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &fb, s_fixbuf_write);
    size_t nfields = strlen(def->fields);
    msgpack_pack_array(&pk, nfields + 2);
    msgpack_pack_uint8(&pk, BRAID_PROTO_VERSION);
    msgpack_pack_uint8(&pk, msg->type);
    for (size_t i = 0; i < nfields; i++) {
        const s_field_t *f = s_field(def->fields[i]);
        assert(f);
        if (!s_encode_field(&pk, f, msg))
            return 0;
    }
    return fb.overflow ? 0 : fb.len;
}

zframe_t *
braid_msg_encode(const braid_msg_t *msg)
{
    uint8_t buf[BRAID_MAX_HEADER];
    size_t len = braid_msg_encode_buf(msg, buf, sizeof buf);
    if (len == 0)
        return NULL;
    return zframe_new(buf, len);
}

void
braid_msg_init(braid_msg_t *msg, braid_msg_type_t type)
{
    memset(msg, 0, sizeof *msg);
    msg->type = (uint8_t) type;
}

/*  ---------------------------------------------------------------------
    Names and sockets                                                      */

const char *
braid_msg_type_name(int type)
{
    const s_msg_def_t *def = s_msg_def(type);
    return def ? def->name : "UNKNOWN";
}

const char *
braid_err_name(braid_err_t err)
{
    static const char *names[BRAID_ERR_COUNT] = {
        "ok",          "empty",      "too-big",     "msgpack", "depth",
        "not-array",   "version",    "unknown-type", "channel", "field-count",
        "field-type",  "range",      "frames",      "frame-size", "routing",
    };
    return (unsigned) err < BRAID_ERR_COUNT ? names[err] : "unknown";
}

static const char *s_status_names[BRAID_STATUS_COUNT] = {"ok", "failed", "timeout", "cancelled"};

const char *
braid_status_name(int status)
{
    return status >= 0 && status < BRAID_STATUS_COUNT ? s_status_names[status] : "unknown";
}

int
braid_status_parse(const char *name)
{
    for (int i = 0; i < BRAID_STATUS_COUNT; i++)
        if (streq(name, s_status_names[i]))
            return i;
    return -1;
}

const char *
braid_order_name(int order)
{
    static const char *names[] = {"submit", "arrival", "key"};
    return order >= 0 && order <= BRAID_ORDER_KEY ? names[order] : "unknown";
}

void
braid_socket_harden(void *sock, int hwm)
{
    zsock_set_maxmsgsize(sock, (int64_t) BRAID_MAX_FRAME);
    zsock_set_sndhwm(sock, hwm);
    zsock_set_rcvhwm(sock, hwm);
    zsock_set_linger(sock, 0);
}

void
braid_socket_heartbeat(void *sock, int ivl_msec, int timeout_msec)
{
    /*  TTL travels in deciseconds, at most 6553.5 s.                       */
    int ttl = timeout_msec < 100 ? 100 : timeout_msec > 6553500 ? 6553500 : timeout_msec;
    zsock_set_heartbeat_ivl(sock, ivl_msec);
    zsock_set_heartbeat_ttl(sock, (ttl + 99) / 100 * 100);
    zsock_set_heartbeat_timeout(sock, timeout_msec);
}
