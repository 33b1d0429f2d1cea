/*  test_proto.c - tests of the braid wire protocol codec (proto/braid_msg.c).

    proto/PROTOCOL.md is the reference: the golden vectors, the channel and
    frame bounds in s_golden and every expected error below are written from
    it by hand, not derived from braid_msgs.def, so a change to the table that
    the document does not make is caught here.

    Groups:
      codec       names, encoder refusals, msgpack-c seam
      roundtrip   every message type, boundary values, every prefix
      golden      every message type against hand-written bytes
      malformed   one test per malformed header, each with its braid_err_t
      sockets     braid_msg_recv / braid_msg_send over real inproc:// sockets
*/

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braid_msg.h"
#include "braid_parts.h"

/*  ---------------------------------------------------------------------
    The msgpack-c seam. The executable's definition interposes the one
    msgpack-c entry point the decoder uses, counts the calls and forwards to
    the library. A header the pre-scan refuses must never get this far.     */

static int s_unpack_calls;

msgpack_unpack_return
msgpack_unpack(const char *data, size_t len, size_t *off, msgpack_zone *zone,
               msgpack_object *result)
{
    typedef msgpack_unpack_return (*unpack_fn_t)(const char *, size_t, size_t *, msgpack_zone *,
                                                 msgpack_object *);
    static unpack_fn_t real;
    if (!real) {
        void *sym = dlsym(RTLD_NEXT, "msgpack_unpack");
        if (!sym)
            abort();
        memcpy(&real, &sym, sizeof real);
    }
    s_unpack_calls++;
    return real(data, len, off, zone, result);
}

/*  ---------------------------------------------------------------------
    Helpers                                                                */

/*  Parses "92 01 05" into buf; returns the length.                         */
static size_t
s_hex(const char *hex, uint8_t *buf, size_t size)
{
    size_t n = 0;
    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        unsigned v;
        int rc = sscanf(hex, "%2x", &v);
        assert_int_equal(rc, 1);
        assert_true(n < size);
        buf[n++] = (uint8_t) v;
        hex += 2;
    }
    return n;
}

/*  The message table as the code sees it (for iteration only).             */
typedef struct {
    int id;
    const char *name;
    const char *fields;
    size_t min_frames;
    size_t max_frames;
    braid_channel_t channel;
} t_def_t;

static const t_def_t s_defs[] = {
#define BRAID_MSG(ID, NAME, FIELDS, MINF, MAXF, CH) {ID, #NAME, FIELDS, MINF, MAXF, CH},
#include "braid_msgs.def"
#undef BRAID_MSG
};
#define NDEFS (sizeof s_defs / sizeof s_defs[0])

static const braid_channel_t s_channels[] = {BRAID_CH_CLIENT, BRAID_CH_TO_CLIENT, BRAID_CH_WORKER,
                                             BRAID_CH_TO_WORKER, BRAID_CH_SINK};

/*  Fill variants: every field at its minimum, at its maximum, or at the
    hand-picked values the golden vectors encode.                           */
enum { V_MIN, V_MAX, V_GOLD };

static const char s_name_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-";

static void
s_fill_name(char *dst, size_t len, size_t seed)
{
    for (size_t i = 0; i < len; i++)
        dst[i] = s_name_chars[(seed + i) % (sizeof s_name_chars - 1)];
    dst[len] = 0;
}

static void
s_fill_letter(braid_msg_t *m, char letter, int v)
{
    const bool max = v == V_MAX;
    switch (letter) {
    case 'j':
        for (int i = 0; i < 16; i++)
            m->job_id[i] = v == V_GOLD ? (uint8_t) i : max ? 0xff : 0;
        break;
    case 'o': m->order = v == V_GOLD ? 1 : max ? 2 : 0; break;
    case 'm': m->max_inflight = v == V_GOLD ? 1000 : max ? 1000000 : 0; break;
    case 't': m->timeout_msec = v == V_GOLD ? 30000 : max ? 604800000 : 0; break;
    case 'f': m->flags = v == V_GOLD ? 3 : max ? 65535 : 0; break;
    case 'd': m->deadline_msec = v == V_GOLD ? 86400000 : max ? 604800000 : 0; break;
    case 'y': m->retries = v == V_GOLD ? 300 : max ? 1000 : 0; break;
    case 'g': m->transient = v == V_GOLD ? 1 : max ? 1 : 0; break;
    case 'n': m->count = v == V_GOLD ? 200 : max ? 10000000 : 1; break;
    case 'c': m->credit = v == V_GOLD ? 64 : max ? UINT64_MAX : 0; break;
    case 'F': m->first = v == V_GOLD ? 128 : max ? 9999999 : 0; break;
    case 'O': m->out_seq = v == V_GOLD ? 70000 : max ? UINT64_MAX : 0; break;
    case 'q': m->query = v == V_GOLD ? 7 : max ? 9999999 : 0; break;
    case 's': m->source = v == V_GOLD ? 31 : max ? 31 : 0; break;
    case 'e': m->seq = v == V_GOLD ? 1ull << 32 : max ? UINT64_MAX : 0; break;
    case 'x': m->status = v == V_GOLD ? 2 : max ? 3 : 0; break;
    case 'p': m->parts = v == V_GOLD ? 65535 : max ? UINT64_MAX : 0; break;
    case 'a': m->attempts = v == V_GOLD ? 3 : max ? 1000 : 0; break;
    case 'C': m->code = v == V_GOLD ? 503 : max ? 999 : 0; break;
    case 'k': m->task_id = v == V_GOLD ? 0x0102030405060708ull : max ? UINT64_MAX : 0; break;
    case 'l': m->slots = v == V_GOLD ? 8 : max ? 65535 : 1; break;
    case 'w': m->window = v == V_GOLD ? 0 : max ? UINT64_MAX : 0; break;
    case 'r': m->resume = v == V_GOLD ? 255 : max ? UINT64_MAX : 0; break;
    case 'b': m->window_bytes = v == V_GOLD ? 1048576 : max ? UINT64_MAX : 0; break;
    case 'E':
        if (v == V_GOLD)
            strcpy(m->text, "oops");
        else if (max)
            for (int i = 0; i < BRAID_MAX_TEXT; i++)
                m->text[i] = (char) (i % 255 + 1);   /* every byte but NUL   */
        break;
    case 'N':
        if (v == V_GOLD)
            strcpy(m->name, "web-1.x_Y");
        else
            s_fill_name(m->name, max ? BRAID_MAX_NAME : 1, 0);
        break;
    case 'S':
        if (v == V_GOLD) {
            m->nsources = 2;
            strcpy(m->sources[0], "a");
            strcpy(m->sources[1], "b2");
        } else {
            m->nsources = max ? BRAID_MAX_SOURCES : 1;
            for (uint32_t i = 0; i < m->nsources; i++)
                s_fill_name(m->sources[i], max ? BRAID_MAX_NAME : 1, i);
        }
        break;
    case 'R':
        if (v == V_GOLD) {
            static const uint64_t rows[2][4] = {{1, 0, 0, 0}, {0, 1, 2, 3}};
            m->nsources = 2;
            memcpy(m->summary, rows, sizeof rows);
        } else {
            m->nsources = max ? BRAID_MAX_SOURCES : 1;
            for (uint32_t i = 0; i < m->nsources; i++)
                for (int s = 0; s < BRAID_STATUS_COUNT; s++)
                    m->summary[i][s] = max ? UINT64_MAX - (uint64_t) s : 0;
        }
        break;
    case 'h': m->keyed = v == V_GOLD ? 1 : max ? 1 : 0; break;
    case 'z': m->token = v == V_GOLD ? 0x1122334455667788ull : max ? UINT64_MAX : 0; break;
    case 'P': m->pid = v == V_GOLD ? 4242 : max ? UINT32_MAX : 0; break;
    case 'H':
        if (v == V_GOLD)
            strcpy(m->host, "node-7");
        else if (max)
            memset(m->host, 'h', BRAID_MAX_HOST);
        break;
    case 'V':
        if (v == V_GOLD)
            strcpy(m->version, "0.1.0");
        else if (max)
            memset(m->version, 'v', BRAID_MAX_VERSION);
        break;
    case 'K':
        /*  One entry per source of S (filled before K in HELLO's layout).  */
        m->nflags = m->nsources;
        for (uint32_t i = 0; i < m->nflags; i++)
            m->source_flags[i] = v == V_GOLD ? i % 4 : max ? BRAID_SOURCE_FLAGS_MAX : 0;
        break;
    case 'X': m->exit_value = v == V_GOLD ? 143 : max ? 999 : 0; break;
    case 'A': m->retry_after_msec = v == V_GOLD ? 1000 : max ? 604800000 : 0; break;
    case 'B': m->started_msec = v == V_GOLD ? 1764504000000ull : max ? UINT64_MAX : 0; break;
    case 'Q': m->queue_msec = v == V_GOLD ? 12 : max ? UINT64_MAX : 0; break;
    case 'U': m->run_msec = v == V_GOLD ? 300 : max ? UINT64_MAX : 0; break;
    case 'D': m->duplicates = v == V_GOLD ? 5 : max ? UINT64_MAX : 0; break;
    case 'W':
        if (v == V_GOLD)
            strcpy(m->worker, "w1");
        else if (max)
            s_fill_name(m->worker, BRAID_MAX_NAME, 3);
        else
            m->worker[0] = 0;   /* W may be empty: a task that never ran  */
        break;
    default:
        fail_msg("unknown field letter '%c'", letter);
    }
}

static void
s_fill(braid_msg_t *m, const t_def_t *def, int v)
{
    braid_msg_init(m, (braid_msg_type_t) def->id);
    for (const char *l = def->fields; *l; l++)
        s_fill_letter(m, *l, v);
}

/*  Field by field, then the whole struct (decode zeroes what it does not
    fill, and so does braid_msg_init).                                      */
static void
s_assert_msg_equal(const braid_msg_t *a, const braid_msg_t *b, const char *fields)
{
    assert_int_equal(a->type, b->type);
    for (const char *l = fields; *l; l++) {
        switch (*l) {
        case 'j': assert_memory_equal(a->job_id, b->job_id, 16); break;
        case 'o': assert_int_equal(a->order, b->order); break;
        case 'm': assert_int_equal(a->max_inflight, b->max_inflight); break;
        case 't': assert_int_equal(a->timeout_msec, b->timeout_msec); break;
        case 'f': assert_int_equal(a->flags, b->flags); break;
        case 'd': assert_int_equal(a->deadline_msec, b->deadline_msec); break;
        case 'y': assert_int_equal(a->retries, b->retries); break;
        case 'g': assert_int_equal(a->transient, b->transient); break;
        case 'n': assert_int_equal(a->count, b->count); break;
        case 'c': assert_int_equal(a->credit, b->credit); break;
        case 'F': assert_int_equal(a->first, b->first); break;
        case 'O': assert_int_equal(a->out_seq, b->out_seq); break;
        case 'q': assert_int_equal(a->query, b->query); break;
        case 's': assert_int_equal(a->source, b->source); break;
        case 'e': assert_int_equal(a->seq, b->seq); break;
        case 'x': assert_int_equal(a->status, b->status); break;
        case 'p': assert_int_equal(a->parts, b->parts); break;
        case 'a': assert_int_equal(a->attempts, b->attempts); break;
        case 'C': assert_int_equal(a->code, b->code); break;
        case 'k': assert_int_equal(a->task_id, b->task_id); break;
        case 'l': assert_int_equal(a->slots, b->slots); break;
        case 'w': assert_int_equal(a->window, b->window); break;
        case 'r': assert_int_equal(a->resume, b->resume); break;
        case 'b': assert_int_equal(a->window_bytes, b->window_bytes); break;
        case 'E': assert_string_equal(a->text, b->text); break;
        case 'N': assert_string_equal(a->name, b->name); break;
        case 'S':
            assert_int_equal(a->nsources, b->nsources);
            for (uint32_t i = 0; i < a->nsources; i++)
                assert_string_equal(a->sources[i], b->sources[i]);
            break;
        case 'R':
            assert_int_equal(a->nsources, b->nsources);
            for (uint32_t i = 0; i < a->nsources; i++)
                for (int s = 0; s < BRAID_STATUS_COUNT; s++)
                    assert_int_equal(a->summary[i][s], b->summary[i][s]);
            break;
        case 'X': assert_int_equal(a->exit_value, b->exit_value); break;
        case 'A': assert_int_equal(a->retry_after_msec, b->retry_after_msec); break;
        case 'B': assert_int_equal(a->started_msec, b->started_msec); break;
        case 'Q': assert_int_equal(a->queue_msec, b->queue_msec); break;
        case 'U': assert_int_equal(a->run_msec, b->run_msec); break;
        case 'W': assert_string_equal(a->worker, b->worker); break;
        case 'D': assert_int_equal(a->duplicates, b->duplicates); break;
        case 'h': assert_int_equal(a->keyed, b->keyed); break;
        case 'z': assert_int_equal(a->token, b->token); break;
        case 'P': assert_int_equal(a->pid, b->pid); break;
        case 'H': assert_string_equal(a->host, b->host); break;
        case 'V': assert_string_equal(a->version, b->version); break;
        case 'K':
            assert_int_equal(a->nflags, b->nflags);
            for (uint32_t i = 0; i < a->nflags; i++)
                assert_int_equal(a->source_flags[i], b->source_flags[i]);
            break;
        default: fail_msg("unknown field letter '%c'", *l);
        }
    }
    assert_memory_equal(a, b, sizeof *a);
}

static const t_def_t *
s_def(int id)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (s_defs[i].id == id)
            return &s_defs[i];
    fail_msg("no message %d", id);
    return NULL;
}

/*  ---------------------------------------------------------------------
    codec: names, encoder refusals, the seam                               */

static void
test_err_names(void **state)
{
    (void) state;
    static const char *expect[BRAID_ERR_COUNT] = {
        "ok",        "empty",       "too-big",    "msgpack", "depth",
        "not-array", "version",     "unknown-type", "channel", "field-count",
        "field-type", "range",      "frames",     "frame-size", "routing"};
    for (int e = 0; e < BRAID_ERR_COUNT; e++)
        assert_string_equal(braid_err_name((braid_err_t) e), expect[e]);
    assert_string_equal(braid_err_name(BRAID_ERR_COUNT), "unknown");
    assert_string_equal(braid_err_name((braid_err_t) -1), "unknown");
}

static void
test_type_and_status_names(void **state)
{
    (void) state;
    for (size_t i = 0; i < NDEFS; i++)
        assert_string_equal(braid_msg_type_name(s_defs[i].id), s_defs[i].name);
    assert_string_equal(braid_msg_type_name(0), "UNKNOWN");
    assert_string_equal(braid_msg_type_name(7), "UNKNOWN");
    assert_string_equal(braid_msg_type_name(256 + 1), "UNKNOWN");
    assert_string_equal(braid_msg_type_name(-1), "UNKNOWN");

    static const char *st[] = {"ok", "failed", "timeout", "cancelled"};
    for (int s = 0; s < BRAID_STATUS_COUNT; s++) {
        assert_string_equal(braid_status_name(s), st[s]);
        assert_int_equal(braid_status_parse(st[s]), s);
    }
    assert_string_equal(braid_status_name(4), "unknown");
    assert_string_equal(braid_status_name(-1), "unknown");
    assert_int_equal(braid_status_parse("OK"), -1);
    assert_int_equal(braid_status_parse(""), -1);
}

static void
test_name_valid(void **state)
{
    (void) state;
    char n65[66];
    s_fill_name(n65, 65, 0);
    assert_true(braid_name_valid("a", 1));
    assert_true(braid_name_valid("web-1.x_Y", 9));
    assert_true(braid_name_valid(n65, 64));
    assert_false(braid_name_valid(n65, 65));
    assert_false(braid_name_valid("", 0));
    assert_false(braid_name_valid("a b", 3));
    assert_false(braid_name_valid("a/b", 3));
    assert_false(braid_name_valid("a\0b", 3));
    assert_false(braid_name_valid("\xc3\xa9", 2));
    assert_true(braid_name_valid("ab c", 2));   /* only len bytes count      */
}

/*  Every encoder refusal: a message that breaks its own bounds is a bug in
    the caller, and encode returns 0 / NULL rather than emit it.            */
typedef struct {
    const char *name;
    int type;
    void (*mutate)(braid_msg_t *m);
} t_enc_bad_t;

static void m_order3(braid_msg_t *m) { m->order = 3; }
static void m_count0(braid_msg_t *m) { m->count = 0; }
static void m_count_big(braid_msg_t *m) { m->count = BRAID_MAX_QUERIES + 1; }
static void m_inflight_big(braid_msg_t *m) { m->max_inflight = BRAID_MAX_INFLIGHT + 1; }
static void m_timeout_big(braid_msg_t *m) { m->timeout_msec = 604800001; }
static void m_flags_big(braid_msg_t *m) { m->flags = 65536; }
static void m_deadline_big(braid_msg_t *m) { m->deadline_msec = 604800001; }
static void m_deadline_u32max(braid_msg_t *m) { m->deadline_msec = UINT32_MAX; }
static void m_retries_big(braid_msg_t *m) { m->retries = 1001; }
static void m_transient2(braid_msg_t *m) { m->transient = 2; }
static void m_transient_u32max(braid_msg_t *m) { m->transient = UINT32_MAX; }
static void m_nsources0(braid_msg_t *m) { m->nsources = 0; }
static void m_nsources33(braid_msg_t *m) { m->nsources = 33; }
static void m_source_bad(braid_msg_t *m) { strcpy(m->sources[0], "a b"); }
static void m_source_empty(braid_msg_t *m) { m->sources[0][0] = 0; }
static void m_first_big(braid_msg_t *m) { m->first = BRAID_MAX_QUERIES; }
static void m_status4(braid_msg_t *m) { m->status = 4; }
static void m_source32(braid_msg_t *m) { m->source = 32; }
static void m_attempts_big(braid_msg_t *m) { m->attempts = 1001; }
static void m_query_big(braid_msg_t *m) { m->query = BRAID_MAX_QUERIES; }
static void m_code_big(braid_msg_t *m) { m->code = 1000; }
static void m_text_unterminated(braid_msg_t *m) { memset(m->text, 'x', sizeof m->text); }
static void m_slots0(braid_msg_t *m) { m->slots = 0; }
static void m_slots_big(braid_msg_t *m) { m->slots = 65536; }
static void m_name_empty(braid_msg_t *m) { m->name[0] = 0; }
static void m_name_space(braid_msg_t *m) { strcpy(m->name, "a b"); }
static void m_name_unterminated(braid_msg_t *m) { memset(m->name, 'a', sizeof m->name); }
static void m_type7(braid_msg_t *m) { m->type = 7; }
static void m_type0(braid_msg_t *m) { m->type = 0; }

static const t_enc_bad_t s_enc_bad[] = {
    {"order 3", BRAID_MSG_SUBMIT, m_order3},
    {"count 0", BRAID_MSG_SUBMIT, m_count0},
    {"count max+1", BRAID_MSG_SUBMIT, m_count_big},
    {"max_inflight max+1", BRAID_MSG_SUBMIT, m_inflight_big},
    {"timeout max+1", BRAID_MSG_SUBMIT, m_timeout_big},
    {"flags 65536", BRAID_MSG_SUBMIT, m_flags_big},
    {"deadline max+1", BRAID_MSG_SUBMIT, m_deadline_big},
    {"deadline 2^32-1", BRAID_MSG_SUBMIT, m_deadline_u32max},
    {"retries 1001", BRAID_MSG_SUBMIT, m_retries_big},
    {"submit 0 sources", BRAID_MSG_SUBMIT, m_nsources0},
    {"submit 33 sources", BRAID_MSG_SUBMIT, m_nsources33},
    {"submit bad source", BRAID_MSG_SUBMIT, m_source_bad},
    {"submit empty source", BRAID_MSG_SUBMIT, m_source_empty},
    {"first max+1", BRAID_MSG_QUERIES, m_first_big},
    {"status 4", BRAID_MSG_END, m_status4},
    {"source 32", BRAID_MSG_END, m_source32},
    {"attempts 1001", BRAID_MSG_END, m_attempts_big},
    {"end text 1025", BRAID_MSG_END, m_text_unterminated},
    {"job_end 0 rows", BRAID_MSG_JOB_END, m_nsources0},
    {"job_end 33 rows", BRAID_MSG_JOB_END, m_nsources33},
    {"job_end status 4", BRAID_MSG_JOB_END, m_status4},
    {"code 1000", BRAID_MSG_ERROR, m_code_big},
    {"slots 0", BRAID_MSG_HELLO, m_slots0},
    {"slots 65536", BRAID_MSG_HELLO, m_slots_big},
    {"hello empty name", BRAID_MSG_HELLO, m_name_empty},
    {"hello name with space", BRAID_MSG_HELLO, m_name_space},
    {"hello name 65", BRAID_MSG_HELLO, m_name_unterminated},
    {"hello 0 sources", BRAID_MSG_HELLO, m_nsources0},
    {"task name with space", BRAID_MSG_TASK, m_name_space},
    {"done text 1025", BRAID_MSG_DONE, m_text_unterminated},
    {"done transient 2", BRAID_MSG_DONE, m_transient2},
    {"done transient 2^32-1", BRAID_MSG_DONE, m_transient_u32max},
    {"done status 4", BRAID_MSG_DONE, m_status4},
    {"restart attempts 1001", BRAID_MSG_RESTART, m_attempts_big},
    {"restart source 32", BRAID_MSG_RESTART, m_source32},
    {"restart query max+1", BRAID_MSG_RESTART, m_query_big},
    {"task_ack attempts 1001", BRAID_MSG_TASK_ACK, m_attempts_big},
    {"type 7", BRAID_MSG_PING, m_type7},
    {"type 0", BRAID_MSG_PING, m_type0},
};

static void
test_encode_refuses_invalid(void **state)
{
    (void) state;
    uint8_t buf[BRAID_MAX_HEADER];
    for (size_t i = 0; i < sizeof s_enc_bad / sizeof s_enc_bad[0]; i++) {
        braid_msg_t m;
        s_fill(&m, s_def(s_enc_bad[i].type), V_GOLD);
        assert_int_not_equal(braid_msg_encode_buf(&m, buf, sizeof buf), 0);
        s_enc_bad[i].mutate(&m);
        size_t len = braid_msg_encode_buf(&m, buf, sizeof buf);
        if (len != 0)
            fail_msg("encoder accepted: %s", s_enc_bad[i].name);
        zframe_t *f = braid_msg_encode(&m);
        assert_null(f);
    }
}

static void
test_encode_buf_too_small(void **state)
{
    (void) state;
    braid_msg_t m;
    s_fill(&m, s_def(BRAID_MSG_SUBMIT), V_MAX);
    uint8_t buf[BRAID_MAX_HEADER];
    size_t len = braid_msg_encode_buf(&m, buf, sizeof buf);
    assert_true(len > 0);
    for (size_t n = 0; n < len; n++)
        assert_int_equal(braid_msg_encode_buf(&m, buf, n), 0);
    assert_int_equal(braid_msg_encode_buf(&m, buf, len), len);
}

static void
test_decode_null_and_empty(void **state)
{
    (void) state;
    braid_msg_t m;
    memset(&m, 0xa5, sizeof m);
    assert_int_equal(braid_msg_decode(NULL, 0, 0, BRAID_CH_CLIENT, &m), BRAID_ERR_EMPTY);
    assert_int_equal(braid_msg_decode(NULL, 5, 0, BRAID_CH_CLIENT, &m), BRAID_ERR_EMPTY);
    assert_int_equal(braid_msg_decode("", 0, 0, BRAID_CH_CLIENT, &m), BRAID_ERR_EMPTY);
    /*  A refused decode leaves no stale data from a previous message.     */
    braid_msg_t zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&m, &zero, sizeof m);
}

/*  The 5-byte array32 claiming 4M elements: msgpack-c would reserve 4M
    objects (96 MiB+) from it. It must be refused by the pre-scan, before
    msgpack-c is called; a valid header does reach msgpack-c once.          */
static void
test_bomb_refused_before_msgpack(void **state)
{
    (void) state;
    static const uint8_t bomb[] = {0xdd, 0x00, 0x40, 0x00, 0x00};
    static const uint8_t ping[] = {0x92, 0x01, 0x05};
    braid_msg_t m;
    int before = s_unpack_calls;
    assert_int_equal(braid_msg_decode(bomb, sizeof bomb, 0, BRAID_CH_CLIENT, &m),
                     BRAID_ERR_MSGPACK);
    assert_int_equal(s_unpack_calls, before);
    assert_int_equal(braid_msg_decode(ping, sizeof ping, 0, BRAID_CH_CLIENT, &m), BRAID_OK);
    assert_int_equal(s_unpack_calls, before + 1);
}

/*  ---------------------------------------------------------------------
    roundtrip: one test per message type                                   */

static void
s_roundtrip_one(const t_def_t *def, int variant)
{
    braid_msg_t in, out;
    s_fill(&in, def, variant);
    uint8_t buf[BRAID_MAX_HEADER + 1];
    size_t len = braid_msg_encode_buf(&in, buf, BRAID_MAX_HEADER);
    assert_true(len > 0);
    assert_true(len <= BRAID_MAX_HEADER);

    zframe_t *frame = braid_msg_encode(&in);
    assert_non_null(frame);
    assert_int_equal(zframe_size(frame), len);
    assert_memory_equal(zframe_data(frame), buf, len);
    zframe_destroy(&frame);

    /*  The right channel, at both ends of the frame count (one more at
        both for a keyed DATA or DONE: its keys frame).                    */
    size_t keys = in.keyed;
    size_t counts[2] = {def->min_frames + keys, def->max_frames + keys};
    for (int i = 0; i < 2; i++) {
        assert_int_equal(braid_msg_decode(buf, len, counts[i], def->channel, &out), BRAID_OK);
        s_assert_msg_equal(&in, &out, def->fields);
    }
    /*  Frame counts just outside the bounds.                              */
    if (counts[0] > 0)
        assert_int_equal(braid_msg_decode(buf, len, counts[0] - 1, def->channel, &out),
                         BRAID_ERR_FRAMES);
    assert_int_equal(braid_msg_decode(buf, len, counts[1] + 1, def->channel, &out),
                     BRAID_ERR_FRAMES);
    assert_int_equal(braid_msg_decode(buf, len, SIZE_MAX, def->channel, &out), BRAID_ERR_FRAMES);

    /*  Every other channel.                                               */
    for (size_t c = 0; c < sizeof s_channels / sizeof s_channels[0]; c++)
        if (s_channels[c] != def->channel)
            assert_int_equal(braid_msg_decode(buf, len, def->min_frames, s_channels[c], &out),
                             BRAID_ERR_CHANNEL);

    /*  Every prefix is refused, by the pre-scan, without reaching msgpack-c. */
    int before = s_unpack_calls;
    assert_int_equal(braid_msg_decode(buf, 0, def->min_frames, def->channel, &out),
                     BRAID_ERR_EMPTY);
    for (size_t n = 1; n < len; n++)
        assert_int_equal(braid_msg_decode(buf, n, def->min_frames, def->channel, &out),
                         BRAID_ERR_MSGPACK);
    assert_int_equal(s_unpack_calls, before);

    /*  One trailing byte.                                                 */
    buf[len] = 0xc0;
    assert_int_equal(braid_msg_decode(buf, len + 1, def->min_frames, def->channel, &out),
                     BRAID_ERR_MSGPACK);
}

static void
test_roundtrip(void **state)
{
    const t_def_t *def = *state;
    s_roundtrip_one(def, V_MIN);
    s_roundtrip_one(def, V_MAX);
    s_roundtrip_one(def, V_GOLD);
}

/*  The letters d, y and g at and around their bounds (PROTOCOL.md: d
    0..604,800,000, y 0..1000, g 0..1), at every msgpack width the encoder
    picks for them: each value in bounds round-trips, and the first value
    past a bound is refused by the encoder.                                 */
typedef struct {
    int type;
    size_t offset;          /* of the uint32_t member                      */
    const uint32_t *ok;
    size_t nok;
    const uint32_t *bad;
    size_t nbad;
} t_bounds_t;

static const uint32_t s_d_ok[] = {0, 1, 127, 128, 255, 256, 65535, 65536, 604799999, 604800000};
static const uint32_t s_d_bad[] = {604800001, 0x7fffffff, UINT32_MAX};
static const uint32_t s_y_ok[] = {0, 1, 127, 128, 255, 256, 999, 1000};
static const uint32_t s_y_bad[] = {1001, 65535, UINT32_MAX};
static const uint32_t s_g_ok[] = {0, 1};
static const uint32_t s_g_bad[] = {2, 255, UINT32_MAX};

#define BOUNDS(T, M, OK, BAD)                                                                      \
    {T, offsetof(braid_msg_t, M), OK, sizeof OK / sizeof OK[0], BAD, sizeof BAD / sizeof BAD[0]}

static void
test_new_letters_bounds(void **state)
{
    (void) state;
    static const t_bounds_t cases[] = {
        BOUNDS(BRAID_MSG_SUBMIT, deadline_msec, s_d_ok, s_d_bad),
        BOUNDS(BRAID_MSG_SUBMIT, retries, s_y_ok, s_y_bad),
        BOUNDS(BRAID_MSG_DONE, transient, s_g_ok, s_g_bad),
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const t_def_t *def = s_def(cases[c].type);
        for (int v = V_MIN; v <= V_GOLD; v++) {
            for (size_t i = 0; i < cases[c].nok; i++) {
                braid_msg_t in, out;
                s_fill(&in, def, v);
                memcpy((uint8_t *) &in + cases[c].offset, &cases[c].ok[i], sizeof(uint32_t));
                uint8_t buf[BRAID_MAX_HEADER];
                size_t len = braid_msg_encode_buf(&in, buf, sizeof buf);
                assert_true(len > 0);
                /*  A keyed DONE (h = 1) carries its keys frame.       */
                assert_int_equal(braid_msg_decode(buf, len, in.keyed, def->channel, &out),
                                 BRAID_OK);
                s_assert_msg_equal(&in, &out, def->fields);
            }
            for (size_t i = 0; i < cases[c].nbad; i++) {
                braid_msg_t in;
                s_fill(&in, def, v);
                memcpy((uint8_t *) &in + cases[c].offset, &cases[c].bad[i], sizeof(uint32_t));
                uint8_t buf[BRAID_MAX_HEADER];
                if (braid_msg_encode_buf(&in, buf, sizeof buf) != 0)
                    fail_msg("%s: encoder accepted %u", def->name, cases[c].bad[i]);
            }
        }
    }
}

/*  The decoder's side of the same bounds, for values the encoder cannot
    produce: every width of the first value out of range, packed by
    msgpack-c, is refused as range; every width of the bound itself is
    accepted. SUBMIT d (field 7), SUBMIT y (field 8), DONE g (field 6).     */
static void
s_pack_u64_width(msgpack_packer *pk, uint64_t v, int width);

static size_t
s_new_letter_header(uint8_t *buf, size_t size, int type, int which, uint64_t v, int width);

static void
test_new_letters_decode_widths(void **state)
{
    (void) state;
    static const struct {
        int type;
        int which;              /* index of the field among the fields     */
        uint64_t max;
        braid_channel_t ch;
    } cases[] = {
        {BRAID_MSG_SUBMIT, 5, 604800000, BRAID_CH_CLIENT},
        {BRAID_MSG_SUBMIT, 6, 1000, BRAID_CH_CLIENT},
        {BRAID_MSG_DONE, 4, 1, BRAID_CH_SINK},
    };
    static const int widths[] = {0, 8, 16, 32, 64};     /* 0: fixint      */
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t w = 0; w < sizeof widths / sizeof widths[0]; w++) {
            const uint64_t vals[2] = {cases[c].max, cases[c].max + 1};
            for (int k = 0; k < 2; k++) {
                uint64_t v = vals[k];
                if ((widths[w] == 0 && v > 127) || (widths[w] == 8 && v > 255) ||
                    (widths[w] == 16 && v > 65535) || (widths[w] == 32 && v > UINT32_MAX))
                    continue;
                uint8_t buf[256];
                size_t len = s_new_letter_header(buf, sizeof buf, cases[c].type, cases[c].which,
                                                 v, widths[w]);
                braid_msg_t m;
                braid_err_t err = braid_msg_decode(buf, len, 0, cases[c].ch, &m);
                braid_err_t want = k == 0 ? BRAID_OK : BRAID_ERR_RANGE;
                if (err != want)
                    fail_msg("%s field %d value %llu width %d: got %s, want %s",
                             braid_msg_type_name(cases[c].type), cases[c].which,
                             (unsigned long long) v, widths[w], braid_err_name(err),
                             braid_err_name(want));
            }
        }
}

/*  ---------------------------------------------------------------------
    golden: hand-written bytes for every message type, with the channel and
    frame bounds PROTOCOL.md gives it. Values are those of V_GOLD.          */

#define J "c4 10 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f "
#define K "cf 01 02 03 04 05 06 07 08 "
#define O_ "ce 00 01 11 70 "
#define E_ "a4 6f 6f 70 73 "
#define N_ "a9 77 65 62 2d 31 2e 78 5f 59 "
#define S_ "92 a1 61 a2 62 32 "
#define Z_ "cf 11 22 33 44 55 66 77 88"

typedef struct {
    int type;
    braid_channel_t channel;
    size_t min_frames;
    size_t max_frames;
    const char *hex;
} t_golden_t;

static const t_golden_t s_golden[] = {
    /*  SUBMIT jomtfdyncS: f 3 (fail-fast, y set), d 86400000 (uint32),
        y 300 (uint16).                                                    */
    {1, BRAID_CH_CLIENT, 0, 0,
     "9c 01 01 " J "01 cd 03 e8 cd 75 30 03 ce 05 26 5c 00 cd 01 2c cc c8 40 " S_},
    {2, BRAID_CH_CLIENT, 1, 1, "94 01 02 " J "cc 80"},
    {3, BRAID_CH_CLIENT, 0, 0, "94 01 03 " J "40"},
    {4, BRAID_CH_CLIENT, 0, 0, "93 01 04 " J},
    {5, BRAID_CH_CLIENT, 0, 0, "92 01 05"},
    {6, BRAID_CH_CLIENT, 0, 0, "92 01 06"},
    /*  RESUME jqse: the head task (q 7, s 31) and its seqs written (2^32);
        1 frame: the ended ranges.                                         */
    {8, BRAID_CH_CLIENT, 1, 1, "96 01 08 " J "07 1f cf 00 00 00 01 00 00 00 00"},
    {10, BRAID_CH_TO_CLIENT, 0, 0, "93 01 0a " J},
    {11, BRAID_CH_TO_CLIENT, 1, 1, "97 01 0b " J O_ "07 1f cf 00 00 00 01 00 00 00 00"},
    /*  END jOqsxpaEWBQUXD: 16 items (array16), W "w1", B 1764504000000
        (uint64), Q 12, U 300 (uint16), X 143 (uint8: 128 + SIGTERM), D 5.  */
    {12, BRAID_CH_TO_CLIENT, 0, 1,
     "dc 00 10 01 0c " J O_ "07 1f 02 cd ff ff 03 " E_
     "a2 77 31 cf 00 00 01 9a d4 a2 56 00 0c cd 01 2c cc 8f 05"},
    {13, BRAID_CH_TO_CLIENT, 0, 0, "96 01 0d " J O_ "02 92 94 01 00 00 00 94 00 01 02 03"},
    {14, BRAID_CH_TO_CLIENT, 0, 0, "95 01 0e " J "cd 01 f7 " E_},
    {15, BRAID_CH_TO_CLIENT, 0, 0, "92 01 0f"},
    {16, BRAID_CH_TO_CLIENT, 1, 1, "92 01 10"},
    {17, BRAID_CH_TO_CLIENT, 0, 0, "97 01 11 " J O_ "07 1f 03"},
    /*  HELLO NlSKHPV: K one flag per source, H "node-7", P 4242, V "0.1.0".  */
    {20, BRAID_CH_WORKER, 0, 0,
     "99 01 14 " N_ "08 " S_ "92 00 01 a6 6e 6f 64 65 2d 37 cd 10 92 a5 30 2e 31 2e 30"},
    {21, BRAID_CH_WORKER, 1, 1, "92 01 15"},    /* 1 frame: the task list */
    {22, BRAID_CH_WORKER, 0, 0, "92 01 16"},
    {23, BRAID_CH_WORKER, 0, 0, "94 01 17 " K "03"},
    /*  TASK kaNrwtbz, DATA kaehz, DONE kaxpgEXAhz: b the byte window
        (1 MiB), z the attempt's token.                                     */
    {30, BRAID_CH_TO_WORKER, 1, 1,
     "9a 01 1e " K "03 " N_ "cc ff 00 cd 75 30 ce 00 10 00 00 " Z_},
    {31, BRAID_CH_TO_WORKER, 0, 0, "96 01 1f " K "03 00 ce 00 10 00 00"},
    {32, BRAID_CH_TO_WORKER, 0, 0, "94 01 20 " K "03"},
    {33, BRAID_CH_TO_WORKER, 0, 0, "92 01 21"},
    {34, BRAID_CH_TO_WORKER, 0, 0, "92 01 22"},
    {40, BRAID_CH_SINK, 1, 1, "97 01 28 " K "03 cf 00 00 00 01 00 00 00 00 01 " Z_},
    /*  DONE kaxpgEXAhz: g 1 before the text, X 143, A 1000 (uint16), h 1.  */
    {41, BRAID_CH_SINK, 0, 1, "9c 01 29 " K "03 02 cd ff ff 01 " E_ "cc 8f cd 03 e8 01 " Z_},
};
#define NGOLDEN (sizeof s_golden / sizeof s_golden[0])

static void
test_golden(void **state)
{
    const t_golden_t *g = *state;
    const t_def_t *def = s_def(g->type);
    /*  The table agrees with PROTOCOL.md.                                 */
    assert_int_equal(def->channel, g->channel);
    assert_int_equal(def->min_frames, g->min_frames);
    assert_int_equal(def->max_frames, g->max_frames);

    uint8_t want[256];
    size_t want_len = s_hex(g->hex, want, sizeof want);
    braid_msg_t expect, got;
    s_fill(&expect, def, V_GOLD);

    uint8_t buf[BRAID_MAX_HEADER];
    size_t len = braid_msg_encode_buf(&expect, buf, sizeof buf);
    assert_int_equal(len, want_len);
    assert_memory_equal(buf, want, len);

    /*  A keyed DATA or DONE (h = 1) carries its keys frame too.          */
    assert_int_equal(braid_msg_decode(want, want_len, g->min_frames + expect.keyed, g->channel,
                                      &got),
                     BRAID_OK);
    s_assert_msg_equal(&expect, &got, def->fields);
}

static void
test_golden_covers_table(void **state)
{
    (void) state;
    assert_int_equal(NGOLDEN, NDEFS);
    for (size_t i = 0; i < NDEFS; i++) {
        bool found = false;
        for (size_t g = 0; g < NGOLDEN; g++)
            found |= s_golden[g].type == s_defs[i].id;
        if (!found)
            fail_msg("no golden vector for %s", s_defs[i].name);
    }
}

/*  ---------------------------------------------------------------------
    malformed: one test per header                                         */

typedef struct {
    const char *name;
    const char *hex;                          /* the header, or NULL: build */
    size_t (*build)(uint8_t *buf, size_t size);
    size_t nframes;
    braid_channel_t channel;
    braid_err_t err;
} t_bad_t;

#define CL BRAID_CH_CLIENT
#define TC BRAID_CH_TO_CLIENT
#define WK BRAID_CH_WORKER
#define TW BRAID_CH_TO_WORKER
#define SK BRAID_CH_SINK

/*  Builders for headers too long to write out: msgpack via msgpack-c's own
    packer into a fixed buffer.                                             */
typedef struct {
    uint8_t *buf;
    size_t size;
    size_t len;
} t_out_t;

static int
s_out_write(void *data, const char *src, size_t len)
{
    t_out_t *o = data;
    assert_true(len <= o->size - o->len);
    memcpy(o->buf + o->len, src, len);
    o->len += len;
    return 0;
}

#define PACKER(buf, size)                                                                          \
    t_out_t out_ = {buf, size, 0};                                                                 \
    msgpack_packer pk_;                                                                            \
    msgpack_packer_init(&pk_, &out_, s_out_write);                                                 \
    msgpack_packer *pk = &pk_

static void
s_pack_job(msgpack_packer *pk)
{
    static const char job[16] = {0};
    msgpack_pack_bin(pk, 16);
    msgpack_pack_bin_body(pk, job, 16);
}

static void
s_pack_strn(msgpack_packer *pk, char c, size_t n)
{
    char s[9000];
    assert_true(n <= sizeof s);
    memset(s, c, n);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/*  v packed at a fixed width: 0 positive fixint, else uint8..uint64.       */
static void
s_pack_u64_width(msgpack_packer *pk, uint64_t v, int width)
{
    switch (width) {
    case 0: assert_true(v <= 127); msgpack_pack_uint8(pk, (uint8_t) v); break;
    case 8: msgpack_pack_fix_uint8(pk, (uint8_t) v); break;
    case 16: msgpack_pack_fix_uint16(pk, (uint16_t) v); break;
    case 32: msgpack_pack_fix_uint32(pk, (uint32_t) v); break;
    default: msgpack_pack_fix_uint64(pk, v); break;
    }
}

/*  A SUBMIT or DONE, otherwise minimal and valid, whose field number which
    (0 = the first after the type) is v at the given width.                 */
static size_t
s_new_letter_header(uint8_t *buf, size_t size, int type, int which, uint64_t v, int width)
{
    PACKER(buf, size);
    const char *fields = type == BRAID_MSG_SUBMIT ? "jomtfdyncS" : "kaxpgEXAhz";
    size_t n = strlen(fields);
    msgpack_pack_array(pk, n + 2);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, (uint8_t) type);
    for (size_t i = 0; i < n; i++) {
        if ((int) i == which)
            s_pack_u64_width(pk, v, width);
        else if (fields[i] == 'j')
            s_pack_job(pk);
        else if (fields[i] == 'n')
            msgpack_pack_uint8(pk, 1);
        else if (fields[i] == 'S') {
            msgpack_pack_array(pk, 1);
            s_pack_strn(pk, 's', 1);
        } else if (fields[i] == 'E')
            s_pack_strn(pk, 'e', 0);
        else
            msgpack_pack_uint8(pk, 0);
    }
    return out_.len;
}

/*  8193 bytes: refused on size alone.                                      */
static size_t
b_header_8193(uint8_t *buf, size_t size)
{
    PACKER(buf, size);
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, BRAID_MSG_ERROR);
    s_pack_strn(pk, 'x', 8193 - 6);             /* 93 01 0e da xx xx       */
    assert_int_equal(out_.len, 8193);
    return out_.len;
}

/*  Exactly 8192 bytes is not too big: an ERROR whose text is too long.   */
static size_t
b_header_8192(uint8_t *buf, size_t size)
{
    PACKER(buf, size);
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, BRAID_MSG_ERROR);
    s_pack_job(pk);
    msgpack_pack_uint16(pk, 404);
    s_pack_strn(pk, 'x', 8192 - 27);
    assert_int_equal(out_.len, 8192);
    return out_.len;
}

static size_t
s_error_text(uint8_t *buf, size_t size, size_t n)
{
    PACKER(buf, size);
    msgpack_pack_array(pk, 5);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, BRAID_MSG_ERROR);
    s_pack_job(pk);
    msgpack_pack_uint16(pk, 404);
    s_pack_strn(pk, 'x', n);
    return out_.len;
}

static size_t b_text_1024(uint8_t *buf, size_t size) { return s_error_text(buf, size, 1024); }
static size_t b_text_1025(uint8_t *buf, size_t size) { return s_error_text(buf, size, 1025); }

/*  HELLO's fields after S: K (one 0 per source), H "", P 0, V "".          */
static void
s_pack_hello_khpv(msgpack_packer *pk, size_t nsources)
{
    msgpack_pack_array(pk, nsources);
    for (size_t i = 0; i < nsources; i++)
        msgpack_pack_uint8(pk, 0);
    s_pack_strn(pk, 'h', 0);
    msgpack_pack_uint8(pk, 0);
    s_pack_strn(pk, 'v', 0);
}

static size_t
s_hello(uint8_t *buf, size_t size, size_t namelen, size_t nsources)
{
    PACKER(buf, size);
    msgpack_pack_array(pk, 9);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, BRAID_MSG_HELLO);
    s_pack_strn(pk, 'w', namelen);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_array(pk, nsources);
    for (size_t i = 0; i < nsources; i++)
        s_pack_strn(pk, 's', 1);
    s_pack_hello_khpv(pk, nsources);
    return out_.len;
}

static size_t b_name_65(uint8_t *buf, size_t size) { return s_hello(buf, size, 65, 1); }
static size_t b_sources_33(uint8_t *buf, size_t size) { return s_hello(buf, size, 1, 33); }
static size_t b_sources_32(uint8_t *buf, size_t size) { return s_hello(buf, size, 64, 32); }

static size_t
s_source_name(uint8_t *buf, size_t size, size_t namelen)
{
    PACKER(buf, size);
    msgpack_pack_array(pk, 9);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, BRAID_MSG_HELLO);
    s_pack_strn(pk, 'w', 1);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_array(pk, 1);
    s_pack_strn(pk, 's', namelen);
    s_pack_hello_khpv(pk, 1);
    return out_.len;
}

static size_t b_source_name_65(uint8_t *buf, size_t size) { return s_source_name(buf, size, 65); }

/*  A HELLO whose host name is one byte over BRAID_MAX_HOST.                */
static size_t
b_host_256(uint8_t *buf, size_t size)
{
    PACKER(buf, size);
    msgpack_pack_array(pk, 9);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, BRAID_MSG_HELLO);
    s_pack_strn(pk, 'w', 1);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_array(pk, 1);
    s_pack_strn(pk, 's', 1);
    msgpack_pack_array(pk, 1);
    msgpack_pack_uint8(pk, 0);
    s_pack_strn(pk, 'h', BRAID_MAX_HOST + 1);
    msgpack_pack_uint8(pk, 0);
    s_pack_strn(pk, 'v', 0);
    return out_.len;
}

static size_t
s_job_end_rows(uint8_t *buf, size_t size, size_t rows)
{
    PACKER(buf, size);
    msgpack_pack_array(pk, 6);
    msgpack_pack_uint8(pk, 1);
    msgpack_pack_uint8(pk, BRAID_MSG_JOB_END);
    s_pack_job(pk);
    msgpack_pack_uint8(pk, 0);
    msgpack_pack_uint8(pk, 0);
    msgpack_pack_array(pk, rows);
    for (size_t i = 0; i < rows; i++) {
        msgpack_pack_array(pk, 4);
        for (int s = 0; s < 4; s++)
            msgpack_pack_uint8(pk, 0);
    }
    return out_.len;
}

static size_t b_rows_33(uint8_t *buf, size_t size) { return s_job_end_rows(buf, size, 33); }

/*  100 nested arrays: refused at depth 4 without recursing further.       */
static size_t
b_deep_100(uint8_t *buf, size_t size)
{
    assert_true(size >= 101);
    memset(buf, 0x91, 100);
    buf[100] = 0x01;
    return 101;
}

/*  A valid array of 8000 nils: msgpack-c decodes it (bounded: 8000 objects),
    then the version check refuses it.                                      */
static size_t
b_wide_8000(uint8_t *buf, size_t size)
{
    assert_true(size >= 8003);
    buf[0] = 0xdc;
    buf[1] = 8000 >> 8;
    buf[2] = 8000 & 0xff;
    memset(buf + 3, 0xc0, 8000);
    return 8003;
}

/*  A map32 whose claimed 2^32-1 pairs are followed by 8187 bytes: still far
    too few.                                                                */
static size_t
b_map32_padded(uint8_t *buf, size_t size)
{
    assert_true(size >= 8192);
    static const uint8_t head[] = {0x93, 0x01, 0x04, 0xdf, 0xff, 0xff, 0xff, 0xff};
    memcpy(buf, head, sizeof head);
    memset(buf + sizeof head, 0x00, 8192 - sizeof head);
    return 8192;
}

#define SUBMIT_HEAD "9c 01 01 " J
/*  SUBMIT's fields after j, all valid: o m t f | d y | n c S.              */
#define SUBMIT_BASE "00 00 00 00 00 00 01 00 91 a1 61"
#define SUBMIT_OMTF "00 00 00 00 "
#define SUBMIT_NCS "01 00 91 a1 61"
/*  DONE k a x p | g | E.                                                   */
#define DONE_HEAD "9c 01 29 "
#define DONE_KAXP "00 00 00 00 "
#define DONE_XA " 00 00 00 00"
/*  END: 16 items (array16) j O q s x p a E W B Q U X | D.                 */
#define END_HEAD "dc 00 10 01 0c "
#define END_D " 00"
/*  DONE's X A h z with h = 1: a keyed DONE, its keys frame last.           */
#define DONE_XA_KEYED " 00 00 01 00"
#define DATA_KEYED "97 01 28 00 00 00 01 00"
#define HELLO_HEAD "99 01 14 "
/*  K [0], H "", P 0, V "": after a one-source S.                            */
#define HELLO_KHPV " 91 00 a0 00 a0"

static const t_bad_t s_bad[] = {
    /* empty, too big */
    {"empty frame", "", NULL, 0, CL, BRAID_ERR_EMPTY},
    {"header 8193 bytes", NULL, b_header_8193, 0, TC, BRAID_ERR_TOO_BIG},
    {"header 8192 bytes is not too big", NULL, b_header_8192, 0, TC, BRAID_ERR_RANGE},

    /* msgpack framing */
    {"trailing nil", "92 01 05 c0", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"trailing zero byte", "92 01 05 00", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"two headers in one frame", "92 01 05 92 01 05", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"reserved byte c1", "c1", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"reserved byte c1 in field", "93 01 04 c1", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"truncated array", "92 01", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"truncated uint64", "92 01 cf 00 00 00", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"truncated bin16 length", "93 01 04 c5 00", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"truncated bin body", "93 01 04 c4 10 00 01 02", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"truncated ext8", "93 01 04 c7 05 01 00", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"truncated fixext4", "93 01 04 d6 01 00", NULL, 0, CL, BRAID_ERR_MSGPACK},

    /* not an array */
    {"top uint", "01", NULL, 0, CL, BRAID_ERR_NOT_ARRAY},
    {"top nil", "c0", NULL, 0, CL, BRAID_ERR_NOT_ARRAY},
    {"top str", "a1 61", NULL, 0, CL, BRAID_ERR_NOT_ARRAY},
    {"top bin", "c4 01 61", NULL, 0, CL, BRAID_ERR_NOT_ARRAY},
    {"top map", "81 01 05", NULL, 0, CL, BRAID_ERR_NOT_ARRAY},
    {"top fixext", "d4 01 00", NULL, 0, CL, BRAID_ERR_NOT_ARRAY},
    {"array of 0", "90", NULL, 0, CL, BRAID_ERR_NOT_ARRAY},
    {"array of 1", "91 01", NULL, 0, CL, BRAID_ERR_NOT_ARRAY},

    /* version */
    {"version 0", "92 00 05", NULL, 0, CL, BRAID_ERR_VERSION},
    {"version 2", "92 02 05", NULL, 0, CL, BRAID_ERR_VERSION},
    {"version 2^32+1", "92 cf 00 00 00 01 00 00 00 01 05", NULL, 0, CL, BRAID_ERR_VERSION},
    {"version str", "92 a1 31 05", NULL, 0, CL, BRAID_ERR_VERSION},
    {"version -1", "92 ff 05", NULL, 0, CL, BRAID_ERR_VERSION},
    {"version float 1.0", "92 ca 3f 80 00 00 05", NULL, 0, CL, BRAID_ERR_VERSION},
    {"version nil", "92 c0 05", NULL, 0, CL, BRAID_ERR_VERSION},
    {"version true", "92 c3 05", NULL, 0, CL, BRAID_ERR_VERSION},
    /*  "Integers are msgpack positive integers (any width)": a wide or
        signed encoding of a non-negative value is that value.             */
    {"version as uint64 is fine", "92 cf 00 00 00 00 00 00 00 01 05", NULL, 0, CL, BRAID_OK},
    {"version as int8 is fine", "92 d0 01 05", NULL, 0, CL, BRAID_OK},

    /* type */
    {"type 0", "92 01 00", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    {"type 7", "92 01 07", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    {"type 42", "92 01 2a", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    {"type 255", "92 01 cc ff", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    {"type 256+5", "92 01 cd 01 05", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    {"type 2^32+5", "92 01 cf 00 00 00 01 00 00 00 05", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    {"type str", "92 01 a1 05", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    {"type -5", "92 01 fb", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    {"type nil", "92 01 c0", NULL, 0, CL, BRAID_ERR_UNKNOWN_TYPE},
    /*  Gaps next to the new ids 17, 23 and 34.                             */
    {"type 18", "92 01 12", NULL, 0, TC, BRAID_ERR_UNKNOWN_TYPE},
    {"type 24", "92 01 18", NULL, 0, WK, BRAID_ERR_UNKNOWN_TYPE},
    {"type 35", "92 01 23", NULL, 0, TW, BRAID_ERR_UNKNOWN_TYPE},

    /* channel */
    {"PING on TO_CLIENT", "92 01 05", NULL, 0, TC, BRAID_ERR_CHANNEL},
    {"PONG on CLIENT", "92 01 0f", NULL, 0, CL, BRAID_ERR_CHANNEL},
    {"HELLO on TO_WORKER", HELLO_HEAD "a1 77 01 91 a1 61" HELLO_KHPV, NULL, 0, TW, BRAID_ERR_CHANNEL},
    {"DATA on WORKER", "97 01 28 00 00 00 00 00", NULL, 1, WK, BRAID_ERR_CHANNEL},
    {"TASK on SINK", "9a 01 1e 00 00 a1 61 00 00 00 00 00", NULL, 1, SK, BRAID_ERR_CHANNEL},
    {"channel 0", "92 01 05", NULL, 0, (braid_channel_t) 0, BRAID_ERR_CHANNEL},
    {"RESTART on CLIENT", "97 01 11 " J "00 00 00 00", NULL, 0, CL, BRAID_ERR_CHANNEL},
    {"TASK_ACK on SINK", "94 01 17 00 00", NULL, 0, SK, BRAID_ERR_CHANNEL},
    {"TASK_ACK on TO_WORKER", "94 01 17 00 00", NULL, 0, TW, BRAID_ERR_CHANNEL},
    {"RESET on WORKER", "92 01 22", NULL, 0, WK, BRAID_ERR_CHANNEL},
    {"WHEARTBEAT on TO_WORKER", "92 01 15", NULL, 1, TW, BRAID_ERR_CHANNEL},
    {"DONE on WORKER", DONE_HEAD DONE_KAXP "00 a0" DONE_XA, NULL, 0, WK, BRAID_ERR_CHANNEL},

    /* field count */
    {"CANCEL with no field", "92 01 04", NULL, 0, CL, BRAID_ERR_FIELD_COUNT},
    {"CANCEL with two fields", "94 01 04 " J J, NULL, 0, CL, BRAID_ERR_FIELD_COUNT},
    {"PING with one field", "93 01 05 00", NULL, 0, CL, BRAID_ERR_FIELD_COUNT},
    {"SUBMIT one short", "9b 01 01 " J "00 00 00 00 00 00 01 00", NULL, 0, CL,
     BRAID_ERR_FIELD_COUNT},
    {"SUBMIT one extra", "9d 01 01 " J SUBMIT_BASE " 00", NULL, 0, CL, BRAID_ERR_FIELD_COUNT},
    /*  The layouts before d, y and g: a peer that speaks the old table.   */
    {"SUBMIT old layout jomtfncS", "9a 01 01 " J "00 00 00 00 01 00 91 a1 61", NULL, 0, CL,
     BRAID_ERR_FIELD_COUNT},
    {"DONE old layout kaxpE", "97 01 29 00 00 00 00 a0", NULL, 0, SK, BRAID_ERR_FIELD_COUNT},
    {"DONE one extra", "9d 01 29 " DONE_KAXP "00 a0" DONE_XA " 00", NULL, 0, SK,
     BRAID_ERR_FIELD_COUNT},
    {"DONE old layout kaxpgE", "98 01 29 " DONE_KAXP "00 a0", NULL, 0, SK, BRAID_ERR_FIELD_COUNT},
    {"RESTART one short", "96 01 11 " J "00 00 00", NULL, 0, TC, BRAID_ERR_FIELD_COUNT},
    {"RESTART one extra", "98 01 11 " J "00 00 00 00 00", NULL, 0, TC, BRAID_ERR_FIELD_COUNT},
    {"TASK_ACK one short", "93 01 17 00", NULL, 0, WK, BRAID_ERR_FIELD_COUNT},
    {"TASK_ACK one extra", "95 01 17 00 00 00", NULL, 0, WK, BRAID_ERR_FIELD_COUNT},
    {"RESET with one field", "93 01 22 00", NULL, 0, TW, BRAID_ERR_FIELD_COUNT},
    {"WHEARTBEAT with one field", "93 01 15 00", NULL, 1, WK, BRAID_ERR_FIELD_COUNT},

    /* field types */
    {"job id uint", "93 01 04 05", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"job id str16", "93 01 04 b0 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61", NULL, 0, CL,
     BRAID_ERR_FIELD_TYPE},
    {"job id nil", "93 01 04 c0", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"job id array", "93 01 04 90", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"job id ext", "93 01 04 d8 01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f", NULL, 0, CL,
     BRAID_ERR_FIELD_TYPE},
    {"job id bin of 15", "93 01 04 c4 0f 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e", NULL, 0,
     CL, BRAID_ERR_RANGE},
    {"job id bin of 17", "93 01 04 c4 11 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10",
     NULL, 0, CL, BRAID_ERR_RANGE},
    {"job id bin of 0", "93 01 04 c4 00", NULL, 0, CL, BRAID_ERR_RANGE},
    {"credit str", "94 01 03 " J "a1 31", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit -1", "94 01 03 " J "ff", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit int64 min", "94 01 03 " J "d3 80 00 00 00 00 00 00 00", NULL, 0, CL,
     BRAID_ERR_FIELD_TYPE},
    {"credit float32", "94 01 03 " J "ca 00 00 00 00", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit float64", "94 01 03 " J "cb 3f f0 00 00 00 00 00 00", NULL, 0, CL,
     BRAID_ERR_FIELD_TYPE},
    {"credit nil", "94 01 03 " J "c0", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit false", "94 01 03 " J "c2", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit bin", "94 01 03 " J "c4 01 01", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit array", "94 01 03 " J "91 01", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit map", "94 01 03 " J "81 01 01", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit fixext1", "94 01 03 " J "d4 01 00", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit ext8", "94 01 03 " J "c7 01 05 00", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit timestamp ext", "94 01 03 " J "d6 ff 00 00 00 00", NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"credit uint64 max is fine", "94 01 03 " J "cf ff ff ff ff ff ff ff ff", NULL, 0, CL,
     BRAID_OK},
    {"text bin", "95 01 0e " J "cd 01 94 c4 01 61", NULL, 0, TC, BRAID_ERR_FIELD_TYPE},
    {"text uint", "95 01 0e " J "cd 01 94 00", NULL, 0, TC, BRAID_ERR_FIELD_TYPE},
    {"code str", "95 01 0e " J "a3 34 30 34 a0", NULL, 0, TC, BRAID_ERR_FIELD_TYPE},
    {"name uint", HELLO_HEAD "05 01 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"name bin", HELLO_HEAD "c4 01 61 01 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"slots -1", HELLO_HEAD "a1 77 ff 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"sources str", HELLO_HEAD "a1 77 01 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"sources map", HELLO_HEAD "a1 77 01 81 a1 61 a1 62" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"source uint", HELLO_HEAD "a1 77 01 91 05" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"source bin", HELLO_HEAD "a1 77 01 92 a1 61 c4 01 62" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"summary uint", "96 01 0d " J "00 00 05", NULL, 0, TC, BRAID_ERR_FIELD_TYPE},
    {"summary row uint", "96 01 0d " J "00 00 91 05", NULL, 0, TC, BRAID_ERR_FIELD_TYPE},
    {"summary row map", "96 01 0d " J "00 00 91 82 00 00 00 00", NULL, 0, TC,
     BRAID_ERR_FIELD_TYPE},
    {"summary cell -1", "96 01 0d " J "00 00 91 94 00 00 00 ff", NULL, 0, TC,
     BRAID_ERR_FIELD_TYPE},
    {"summary cell str", "96 01 0d " J "00 00 91 94 00 a0 00 00", NULL, 0, TC,
     BRAID_ERR_FIELD_TYPE},

    /* ranges */
    {"SUBMIT valid base", SUBMIT_HEAD SUBMIT_BASE, NULL, 0, CL, BRAID_OK},
    {"order 3", SUBMIT_HEAD "03 00 00 00 00 00 " SUBMIT_NCS, NULL, 0, CL, BRAID_ERR_RANGE},
    {"max_inflight 1000001", SUBMIT_HEAD "00 ce 00 0f 42 41 00 00 00 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"timeout 604800001", SUBMIT_HEAD "00 00 ce 24 0c 84 01 00 00 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"flags 65536", SUBMIT_HEAD "00 00 00 ce 00 01 00 00 00 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"flags 65535 is fine", SUBMIT_HEAD "00 00 00 cd ff ff 00 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_OK},
    /*  d deadline_msec: 0..604,800,000.                                   */
    {"deadline 604800000 is fine", SUBMIT_HEAD SUBMIT_OMTF "ce 24 0c 84 00 00 " SUBMIT_NCS, NULL,
     0, CL, BRAID_OK},
    {"deadline 604800001", SUBMIT_HEAD SUBMIT_OMTF "ce 24 0c 84 01 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"deadline 2^32-1", SUBMIT_HEAD SUBMIT_OMTF "ce ff ff ff ff 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"deadline 2^32 is not 0", SUBMIT_HEAD SUBMIT_OMTF "cf 00 00 00 01 00 00 00 00 00 " SUBMIT_NCS,
     NULL, 0, CL, BRAID_ERR_RANGE},
    {"deadline as uint64 is fine", SUBMIT_HEAD SUBMIT_OMTF "cf 00 00 00 00 24 0c 84 00 00 "
     SUBMIT_NCS, NULL, 0, CL, BRAID_OK},
    {"deadline -1", SUBMIT_HEAD SUBMIT_OMTF "ff 00 " SUBMIT_NCS, NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"deadline str", SUBMIT_HEAD SUBMIT_OMTF "a1 30 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_FIELD_TYPE},
    {"deadline nil", SUBMIT_HEAD SUBMIT_OMTF "c0 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_FIELD_TYPE},
    /*  y retries: 0..1000.                                                */
    {"retries 1000 is fine", SUBMIT_HEAD SUBMIT_OMTF "00 cd 03 e8 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_OK},
    {"retries 1001", SUBMIT_HEAD SUBMIT_OMTF "00 cd 03 e9 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"retries 65535", SUBMIT_HEAD SUBMIT_OMTF "00 cd ff ff " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"retries 2^32+1 is not 1", SUBMIT_HEAD SUBMIT_OMTF "00 cf 00 00 00 01 00 00 00 01 "
     SUBMIT_NCS, NULL, 0, CL, BRAID_ERR_RANGE},
    {"retries -1", SUBMIT_HEAD SUBMIT_OMTF "00 ff " SUBMIT_NCS, NULL, 0, CL, BRAID_ERR_FIELD_TYPE},
    {"retries false", SUBMIT_HEAD SUBMIT_OMTF "00 c2 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_FIELD_TYPE},
    {"retries float 1.0", SUBMIT_HEAD SUBMIT_OMTF "00 ca 3f 80 00 00 " SUBMIT_NCS, NULL, 0, CL,
     BRAID_ERR_FIELD_TYPE},
    /*  A count in y's place (the old table's offsets) is out of y's range. */
    {"count where retries was", SUBMIT_HEAD SUBMIT_OMTF "00 ce 00 98 96 80 " SUBMIT_NCS, NULL, 0,
     CL, BRAID_ERR_RANGE},
    {"count 0", SUBMIT_HEAD "00 00 00 00 00 00 00 00 91 a1 61", NULL, 0, CL, BRAID_ERR_RANGE},
    {"count 10000001", SUBMIT_HEAD SUBMIT_OMTF "00 00 ce 00 98 96 81 00 91 a1 61", NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"count 2^32+1 is not 1",
     SUBMIT_HEAD SUBMIT_OMTF "00 00 cf 00 00 00 01 00 00 00 01 00 91 a1 61", NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"submit sources 0", SUBMIT_HEAD SUBMIT_OMTF "00 00 01 00 90", NULL, 0, CL, BRAID_ERR_RANGE},
    {"submit source with space", SUBMIT_HEAD SUBMIT_OMTF "00 00 01 00 91 a3 61 20 62", NULL, 0, CL,
     BRAID_ERR_RANGE},
    {"first 10000000", "94 01 02 " J "ce 00 98 96 80", NULL, 1, CL, BRAID_ERR_RANGE},
    {"query 10000000", "97 01 0b " J "00 ce 00 98 96 80 00 00", NULL, 1, TC, BRAID_ERR_RANGE},
    {"source 32", "97 01 0b " J "00 00 20 00", NULL, 1, TC, BRAID_ERR_RANGE},
    {"status 4", END_HEAD J "00 00 00 04 00 00 a0 a0 00 00 00 00" END_D, NULL, 0, TC,
     BRAID_ERR_RANGE},
    {"end worker of 65", END_HEAD J "00 00 00 00 00 00 a0 d9 41 "
     "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
     "61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 "
     "61 00 00 00 00" END_D, NULL, 0, TC, BRAID_ERR_RANGE},
    {"end worker with a space",
     END_HEAD J "00 00 00 00 00 00 a0 a3 77 20 31 00 00 00 00" END_D, NULL, 0, TC,
     BRAID_ERR_RANGE},
    {"end worker empty is fine", END_HEAD J "00 00 00 00 00 00 a0 a0 00 00 00 00" END_D, NULL, 0,
     TC, BRAID_OK},
    {"end exit value 999 is fine",
     END_HEAD J "00 00 00 00 00 00 a0 a0 00 00 00 cd 03 e7" END_D, NULL, 0, TC, BRAID_OK},
    {"end duplicates 2^64-1 is fine",
     END_HEAD J "00 00 00 00 00 00 a0 a0 00 00 00 00 cf ff ff ff ff ff ff ff ff", NULL, 0, TC,
     BRAID_OK},
    {"end duplicates -1", END_HEAD J "00 00 00 00 00 00 a0 a0 00 00 00 00 ff", NULL, 0, TC,
     BRAID_ERR_FIELD_TYPE},
    {"end without duplicates", "9f 01 0c " J "00 00 00 00 00 00 a0 a0 00 00 00 00", NULL, 0, TC,
     BRAID_ERR_FIELD_COUNT},
    {"end exit value 1000", END_HEAD J "00 00 00 00 00 00 a0 a0 00 00 00 cd 03 e8" END_D, NULL,
     0, TC, BRAID_ERR_RANGE},
    {"done retry-after 604800001", DONE_HEAD DONE_KAXP "00 a0 00 ce 24 0c 84 01 00 00", NULL, 0, SK,
     BRAID_ERR_RANGE},
    {"job status 4", "96 01 0d " J "00 04 91 94 00 00 00 00", NULL, 0, TC, BRAID_ERR_RANGE},
    {"attempts 1001", "94 01 20 00 cd 03 e9", NULL, 0, TW, BRAID_ERR_RANGE},
    {"code 1000", "95 01 0e " J "cd 03 e8 a0", NULL, 0, TC, BRAID_ERR_RANGE},
    {"slots 0", HELLO_HEAD "a1 77 00 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_RANGE},
    {"slots 65536", HELLO_HEAD "a1 77 ce 00 01 00 00 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_RANGE},
    {"name with space", HELLO_HEAD "a3 61 20 62 01 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_RANGE},
    {"name empty", HELLO_HEAD "a0 01 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_RANGE},
    {"name with NUL", HELLO_HEAD "a3 61 00 62 01 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_RANGE},
    {"name with slash", HELLO_HEAD "a3 61 2f 62 01 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_RANGE},
    {"name utf-8", HELLO_HEAD "a2 c3 a9 01 91 a1 61" HELLO_KHPV, NULL, 0, WK, BRAID_ERR_RANGE},
    {"name of 65 bytes", NULL, b_name_65, 0, WK, BRAID_ERR_RANGE},
    {"source name of 65 bytes", NULL, b_source_name_65, 0, WK, BRAID_ERR_RANGE},
    {"hello sources 0", HELLO_HEAD "a1 77 01 90 90 a0 00 a0", NULL, 0, WK, BRAID_ERR_RANGE},
    {"hello sources 33", NULL, b_sources_33, 0, WK, BRAID_ERR_RANGE},
    {"hello sources 32 of 64 bytes is fine", NULL, b_sources_32, 0, WK, BRAID_OK},
    {"hello flags for 2 of 1 sources", HELLO_HEAD "a1 77 01 91 a1 61 92 00 00 a0 00 a0", NULL, 0,
     WK, BRAID_ERR_RANGE},
    {"hello flag 4", HELLO_HEAD "a1 77 01 91 a1 61 91 04 a0 00 a0", NULL, 0, WK, BRAID_ERR_RANGE},
    {"hello flag 3 is fine", HELLO_HEAD "a1 77 01 91 a1 61 91 03 a0 00 a0", NULL, 0, WK, BRAID_OK},
    {"hello host of 256", NULL, b_host_256, 0, WK, BRAID_ERR_RANGE},
    {"data keyed 2", "97 01 28 00 00 00 02 00", NULL, 1, SK, BRAID_ERR_RANGE},
    {"task name with space", "9a 01 1e 00 00 a3 61 20 62 00 00 00 00 00", NULL, 1, TW, BRAID_ERR_RANGE},
    {"task timeout 604800001", "9a 01 1e 00 00 a1 61 00 00 ce 24 0c 84 01 00 00", NULL, 1, TW,
     BRAID_ERR_RANGE},
    {"text of 1024 bytes is fine", NULL, b_text_1024, 0, TC, BRAID_OK},
    {"text of 1025 bytes", NULL, b_text_1025, 0, TC, BRAID_ERR_RANGE},
    {"text with NUL", "95 01 0e " J "cd 01 94 a3 61 00 62", NULL, 0, TC, BRAID_ERR_RANGE},
    {"done text with NUL", DONE_HEAD DONE_KAXP "00 a1 00" DONE_XA, NULL, 0, SK, BRAID_ERR_RANGE},
    /*  g transient: 0 or 1.                                               */
    {"done transient 0 is fine", DONE_HEAD DONE_KAXP "00 a0" DONE_XA, NULL, 0, SK, BRAID_OK},
    {"done transient 1 is fine", DONE_HEAD DONE_KAXP "01 a0" DONE_XA, NULL, 0, SK, BRAID_OK},
    {"done transient 1 as uint32 is fine", DONE_HEAD DONE_KAXP "ce 00 00 00 01 a0" DONE_XA, NULL,
     0, SK,
     BRAID_OK},
    {"done transient 2", DONE_HEAD DONE_KAXP "02 a0" DONE_XA, NULL, 0, SK, BRAID_ERR_RANGE},
    {"done transient 255", DONE_HEAD DONE_KAXP "cc ff a0" DONE_XA, NULL, 0, SK, BRAID_ERR_RANGE},
    {"done transient 2^32+1 is not 1",
     DONE_HEAD DONE_KAXP "cf 00 00 00 01 00 00 00 01 a0" DONE_XA, NULL,
     0, SK, BRAID_ERR_RANGE},
    {"done transient true", DONE_HEAD DONE_KAXP "c3 a0" DONE_XA, NULL, 0, SK, BRAID_ERR_FIELD_TYPE},
    {"done transient -1", DONE_HEAD DONE_KAXP "ff a0" DONE_XA, NULL, 0, SK, BRAID_ERR_FIELD_TYPE},
    {"done transient nil", DONE_HEAD DONE_KAXP "c0 a0" DONE_XA, NULL, 0, SK, BRAID_ERR_FIELD_TYPE},
    {"done text where transient was", DONE_HEAD DONE_KAXP "a0 00" DONE_XA, NULL, 0, SK,
     BRAID_ERR_FIELD_TYPE},
    {"done status 4", DONE_HEAD "00 00 04 00 00 a0" DONE_XA, NULL, 0, SK, BRAID_ERR_RANGE},
    /*  RESTART jOqsa and TASK_ACK ka.                                     */
    {"restart valid", "97 01 11 " J "00 00 00 00", NULL, 0, TC, BRAID_OK},
    {"restart attempts 1000 is fine", "97 01 11 " J "00 00 00 cd 03 e8", NULL, 0, TC, BRAID_OK},
    {"restart attempts 1001", "97 01 11 " J "00 00 00 cd 03 e9", NULL, 0, TC, BRAID_ERR_RANGE},
    {"restart source 32", "97 01 11 " J "00 00 20 00", NULL, 0, TC, BRAID_ERR_RANGE},
    {"restart query 10000000", "97 01 11 " J "00 ce 00 98 96 80 00 00", NULL, 0, TC,
     BRAID_ERR_RANGE},
    {"restart job id uint", "97 01 11 00 00 00 00 00", NULL, 0, TC, BRAID_ERR_FIELD_TYPE},
    {"restart out_seq -1", "97 01 11 " J "ff 00 00 00", NULL, 0, TC, BRAID_ERR_FIELD_TYPE},
    {"task_ack valid", "94 01 17 00 00", NULL, 0, WK, BRAID_OK},
    {"task_ack task id uint64 max is fine", "94 01 17 cf ff ff ff ff ff ff ff ff 00", NULL, 0, WK,
     BRAID_OK},
    {"task_ack attempts 1001", "94 01 17 00 cd 03 e9", NULL, 0, WK, BRAID_ERR_RANGE},
    {"task_ack task id bin", "94 01 17 c4 01 00 00", NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"task_ack task id -1", "94 01 17 ff 00", NULL, 0, WK, BRAID_ERR_FIELD_TYPE},
    {"summary 0 rows", "96 01 0d " J "00 00 90", NULL, 0, TC, BRAID_ERR_RANGE},
    {"summary 33 rows", NULL, b_rows_33, 0, TC, BRAID_ERR_RANGE},
    {"summary row of 3", "96 01 0d " J "00 00 91 93 00 00 00", NULL, 0, TC, BRAID_ERR_RANGE},
    {"summary row of 5", "96 01 0d " J "00 00 91 95 00 00 00 00 00", NULL, 0, TC,
     BRAID_ERR_RANGE},

    /* frames */
    {"QUERIES with 0 frames", "94 01 02 " J "00", NULL, 0, CL, BRAID_ERR_FRAMES},
    {"QUERIES with 2 frames", "94 01 02 " J "00", NULL, 2, CL, BRAID_ERR_FRAMES},
    {"QUERIES with 1 frame is fine", "94 01 02 " J "00", NULL, 1, CL, BRAID_OK},
    {"PARTIAL with 2 frames", "97 01 0b " J "00 00 00 00", NULL, 2, TC, BRAID_ERR_FRAMES},
    {"PARTIAL with 0 frames", "97 01 0b " J "00 00 00 00", NULL, 0, TC, BRAID_ERR_FRAMES},
    {"TASK with 0 frames", "9a 01 1e 00 00 a1 61 00 00 00 00 00", NULL, 0, TW, BRAID_ERR_FRAMES},
    {"TASK with 2 frames", "9a 01 1e 00 00 a1 61 00 00 00 00 00", NULL, 2, TW, BRAID_ERR_FRAMES},
    {"DATA with 0 frames", "97 01 28 00 00 00 00 00", NULL, 0, SK, BRAID_ERR_FRAMES},
    {"DATA with 2 frames", "97 01 28 00 00 00 00 00", NULL, 2, SK, BRAID_ERR_FRAMES},
    {"PING with 1 frame", "92 01 05", NULL, 1, CL, BRAID_ERR_FRAMES},
    {"STATS_REPLY with 0 frames", "92 01 10", NULL, 0, TC, BRAID_ERR_FRAMES},
    {"STATS_REPLY with 2 frames", "92 01 10", NULL, 2, TC, BRAID_ERR_FRAMES},
    {"SUBMIT with 1 frame", SUBMIT_HEAD SUBMIT_BASE, NULL, 1, CL, BRAID_ERR_FRAMES},
    {"DONE with 2 frames", DONE_HEAD DONE_KAXP "00 a0" DONE_XA, NULL, 2, SK, BRAID_ERR_FRAMES},
    /*  h = 1: the keys frame after the partials, one more at both bounds. */
    {"DATA keyed with 1 frame", DATA_KEYED, NULL, 1, SK, BRAID_ERR_FRAMES},
    {"DATA keyed with 2 frames is fine", DATA_KEYED, NULL, 2, SK, BRAID_OK},
    {"DATA keyed with 3 frames", DATA_KEYED, NULL, 3, SK, BRAID_ERR_FRAMES},
    {"DONE keyed with 0 frames", DONE_HEAD DONE_KAXP "00 a0" DONE_XA_KEYED, NULL, 0, SK,
     BRAID_ERR_FRAMES},
    {"DONE keyed with 1 frame is fine", DONE_HEAD DONE_KAXP "00 a0" DONE_XA_KEYED, NULL, 1, SK,
     BRAID_OK},
    {"DONE keyed with 2 frames is fine", DONE_HEAD DONE_KAXP "00 a0" DONE_XA_KEYED, NULL, 2, SK,
     BRAID_OK},
    {"DONE keyed with 3 frames", DONE_HEAD DONE_KAXP "00 a0" DONE_XA_KEYED, NULL, 3, SK,
     BRAID_ERR_FRAMES},
    {"RESTART with 1 frame", "97 01 11 " J "00 00 00 00", NULL, 1, TC, BRAID_ERR_FRAMES},
    {"TASK_ACK with 1 frame", "94 01 17 00 00", NULL, 1, WK, BRAID_ERR_FRAMES},
    {"RESET with 1 frame", "92 01 22", NULL, 1, TW, BRAID_ERR_FRAMES},
    {"WHEARTBEAT with 0 frames", "92 01 15", NULL, 0, WK, BRAID_ERR_FRAMES},
    {"WHEARTBEAT with 1 frame is fine", "92 01 15", NULL, 1, WK, BRAID_OK},
    {"WHEARTBEAT with 2 frames", "92 01 15", NULL, 2, WK, BRAID_ERR_FRAMES},
    {"RESUME with 0 frames", "96 01 08 " J "07 1f 00", NULL, 0, CL, BRAID_ERR_FRAMES},
    {"RESUME with 2 frames", "96 01 08 " J "07 1f 00", NULL, 2, CL, BRAID_ERR_FRAMES},
    {"WHEARTBEAT with 1025 frames", "92 01 15", NULL, 1025, WK, BRAID_ERR_FRAMES},
    {"BHEARTBEAT with 1 frame", "92 01 21", NULL, 1, TW, BRAID_ERR_FRAMES},

    /* bombs: claimed lengths and counts the bytes cannot hold */
    {"array32 claiming 4M", "dd 00 40 00 00", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"array32 claiming 2^32-1", "dd ff ff ff ff", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"map32 claiming 2^32-1", "df ff ff ff ff", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"map32 claiming 2^32-1, 8 KiB", NULL, b_map32_padded, 0, CL, BRAID_ERR_MSGPACK},
    {"map16 claiming 65535", "de ff ff 01 01", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"array16 claiming 65535", "dc ff ff 01 01 01", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"fixarray claiming 15", "9f 01 05", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"fixmap pairs, half present", "93 01 04 82 01 01 01", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"str32 claiming 4 GiB", "db ff ff ff ff", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"str32 claiming 4 GiB in field", "95 01 0e " J "00 db ff ff ff ff 61", NULL, 0, TC,
     BRAID_ERR_MSGPACK},
    {"str8 claiming 255", "93 01 04 d9 ff 61", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"bin32 claiming 4 GiB", "93 01 04 c6 ff ff ff ff", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"ext32 claiming 4 GiB", "c9 ff ff ff ff 01", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"ext16 claiming 65535", "93 01 04 c8 ff ff 01 00", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"array32 4M in a field", "93 01 04 dd 00 40 00 00", NULL, 0, CL, BRAID_ERR_MSGPACK},
    {"array32 4M in sources", HELLO_HEAD "a1 77 01 dd 00 40 00 00" HELLO_KHPV, NULL, 0, WK,
     BRAID_ERR_MSGPACK},
    {"wide array of 8000 nils", NULL, b_wide_8000, 0, CL, BRAID_ERR_VERSION},

    /* depth */
    {"depth 3 is fine", "93 01 01 91 91 90", NULL, 0, CL, BRAID_ERR_FIELD_COUNT},
    {"depth 4 scalar", "93 01 01 91 91 91 01", NULL, 0, CL, BRAID_ERR_DEPTH},
    {"depth 4 empty array", "93 01 01 91 91 91 90", NULL, 0, CL, BRAID_ERR_DEPTH},
    {"depth 4 in maps", "93 01 01 81 01 81 01 81 01 01", NULL, 0, CL, BRAID_ERR_DEPTH},
    {"depth 4 in summary row", "96 01 0d " J "00 00 91 94 91 00 00 00 00", NULL, 0, TC,
     BRAID_ERR_DEPTH},
    {"depth 100", NULL, b_deep_100, 0, CL, BRAID_ERR_DEPTH},
};
#define NBAD (sizeof s_bad / sizeof s_bad[0])

static void
test_malformed(void **state)
{
    const t_bad_t *c = *state;
    static uint8_t buf[16384];
    size_t len = c->hex ? s_hex(c->hex, buf, sizeof buf) : c->build(buf, sizeof buf);
    braid_msg_t m;
    int before = s_unpack_calls;
    braid_err_t err = braid_msg_decode(buf, len, c->nframes, c->channel, &m);
    if (err != c->err)
        fail_msg("%s: got %s, want %s", c->name, braid_err_name(err), braid_err_name(c->err));
    /*  What the pre-scan refuses never reaches msgpack-c; the rest is
        decoded exactly once.                                              */
    bool prescan = c->err == BRAID_ERR_EMPTY || c->err == BRAID_ERR_TOO_BIG ||
                   c->err == BRAID_ERR_MSGPACK || c->err == BRAID_ERR_DEPTH;
    assert_int_equal(s_unpack_calls - before, prescan ? 0 : 1);
}

/*  ---------------------------------------------------------------------
    sockets: braid_msg_recv and braid_msg_send over inproc://              */

#define RECV_TIMEOUT_MSEC 5000

typedef struct {
    zsock_t *a;     /* ROUTER or PAIR, bound                               */
    zsock_t *b;     /* DEALER or PAIR, connected                           */
} t_pair_t;

static int s_endpoint_seq;

static int
s_setup_router_dealer(void **state)
{
    t_pair_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://test-proto-%d", ++s_endpoint_seq);
    p->a = zsock_new(ZMQ_ROUTER);
    p->b = zsock_new(ZMQ_DEALER);
    assert_non_null(p->a);
    assert_non_null(p->b);
    zsock_set_router_mandatory(p->a, 1);
    zsock_set_identity(p->b, "client-1");
    assert_int_equal(zsock_bind(p->a, "%s", ep), 0);
    assert_int_equal(zsock_connect(p->b, "%s", ep), 0);
    zsock_set_rcvtimeo(p->a, RECV_TIMEOUT_MSEC);
    zsock_set_rcvtimeo(p->b, RECV_TIMEOUT_MSEC);
    *state = p;
    return 0;
}

static int
s_setup_pair(void **state)
{
    t_pair_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://test-proto-%d", ++s_endpoint_seq);
    p->a = zsock_new(ZMQ_PAIR);
    p->b = zsock_new(ZMQ_PAIR);
    assert_int_equal(zsock_bind(p->a, "%s", ep), 0);
    assert_int_equal(zsock_connect(p->b, "%s", ep), 0);
    zsock_set_rcvtimeo(p->a, RECV_TIMEOUT_MSEC);
    zsock_set_rcvtimeo(p->b, RECV_TIMEOUT_MSEC);
    *state = p;
    return 0;
}

static int
s_teardown_pair(void **state)
{
    t_pair_t *p = *state;
    zsock_destroy(&p->b);
    zsock_destroy(&p->a);
    free(p);
    return 0;
}

static zmsg_t *
s_payload(size_t n, size_t size)
{
    zmsg_t *msg = zmsg_new();
    uint8_t *data = malloc(size ? size : 1);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++) {
        memset(data, (int) (i & 0xff), size);
        zmsg_addmem(msg, data, size);
    }
    free(data);
    return msg;
}

/*  n partials or queries of size bytes (the i-th filled with i) in one
    parts frame.                                                            */
static zmsg_t *
s_packed(size_t n, size_t size)
{
    zmsg_t *msg = s_payload(n, size);
    return braid_parts_pack(&msg);
}

/*  Check payload is one parts frame of n entries of size bytes, the i-th
    filled with i.                                                          */
static void
s_assert_packed(zmsg_t *payload, size_t n, size_t size)
{
    assert_int_equal(zmsg_size(payload), 1);
    zframe_t *f = zmsg_first(payload);
    assert_int_equal(braid_parts_frame_count(f), n);
    braid_parts_iter_t it;
    braid_parts_iter(&it, zframe_data(f), zframe_size(f));
    const void *data;
    size_t len, i = 0;
    for (; braid_parts_next(&it, &data, &len); i++) {
        assert_int_equal(len, size);
        if (size)
            assert_int_equal(((const uint8_t *) data)[0], (uint8_t) (i & 0xff));
    }
    assert_int_equal(i, n);
}

static void
s_queries(braid_msg_t *m, uint32_t first)
{
    braid_msg_init(m, BRAID_MSG_QUERIES);
    memset(m->job_id, 0x42, 16);
    m->first = first;
}

/*  A raw message frame by frame, bypassing the codec.                      */
static void
s_send_raw(zsock_t *sock, const void *header, size_t len, size_t npayload)
{
    assert_int_equal(zmq_send(zsock_resolve(sock), header, len, npayload ? ZMQ_SNDMORE : 0),
                     (int) len);
    for (size_t i = 0; i < npayload; i++)
        assert_int_equal(
            zmq_send(zsock_resolve(sock), "q", 1, i + 1 < npayload ? ZMQ_SNDMORE : 0), 1);
}

static void
test_recv_valid_with_payload(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t out, in;
    s_queries(&out, 17);
    zmsg_t *payload = s_packed(3, 10);
    assert_int_equal(braid_msg_send(p->b, NULL, &out, &payload, false), 0);
    assert_null(payload);

    zframe_t *rid = NULL;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err), 0);
    assert_int_equal(err, BRAID_OK);
    assert_non_null(rid);
    assert_true(zframe_streq(rid, "client-1"));
    s_assert_msg_equal(&out, &in, "jF");
    assert_non_null(payload);
    s_assert_packed(payload, 3, 10);
    zmsg_destroy(&payload);
    zframe_destroy(&rid);
}

/*  BRAID_MAX_BATCH queries in one parts frame: fine; one more: refused
    (the parts frame's count is over the bound), and the next decodes.     */
static void
test_recv_at_frame_cap(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t out, in;
    s_queries(&out, 0);
    zmsg_t *payload = s_packed(BRAID_MAX_BATCH, 1);
    assert_int_equal(braid_msg_send(p->b, NULL, &out, &payload, false), 0);
    payload = s_packed(BRAID_MAX_BATCH + 1, 1);
    assert_int_equal(braid_msg_send(p->b, NULL, &out, &payload, false), 0);
    zframe_t *rid = NULL;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err), 0);
    s_assert_packed(payload, BRAID_MAX_BATCH, 1);
    zmsg_destroy(&payload);
    zframe_destroy(&rid);
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_FRAMES);
    zframe_destroy(&rid);
}

/*  routing id + header + 1025 payload frames: refused as frames; the rest
    of the message is drained so the next message decodes.                  */
static void
test_recv_too_many_frames_stays_in_sync(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t out, in;
    s_queries(&out, 0);
    zmsg_t *payload = s_payload(BRAID_MAX_FRAMES + 1, 1);  /* over the cap  */
    assert_int_equal(braid_msg_send(p->b, NULL, &out, &payload, false), 0);
    s_queries(&out, 1025);
    payload = s_packed(2, 5);
    assert_int_equal(braid_msg_send(p->b, NULL, &out, &payload, false), 0);

    zframe_t *rid = NULL;
    braid_err_t err = BRAID_OK;
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_FRAMES);
    assert_null(payload);
    assert_non_null(rid);     /* still returned, so the caller may reply   */
    assert_true(zframe_streq(rid, "client-1"));
    zframe_destroy(&rid);

    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err), 0);
    assert_int_equal(err, BRAID_OK);
    assert_int_equal(in.first, 1025);
    s_assert_packed(payload, 2, 5);
    zmsg_destroy(&payload);
    zframe_destroy(&rid);
}

/*  The same without a routing id: header + 1025 frames on a PAIR.          */
static void
test_recv_unrouted_too_many_frames(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_DATA);
    m.task_id = 9;
    uint8_t hdr[64];
    size_t len = braid_msg_encode_buf(&m, hdr, sizeof hdr);
    s_send_raw(p->b, hdr, len, 100000);     /* a long message, drained     */
    zmsg_t *payload = s_packed(BRAID_MAX_BATCH, 1);
    assert_int_equal(braid_msg_send(p->b, NULL, &m, &payload, false), 0);

    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, false, BRAID_CH_SINK, &m, NULL, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_FRAMES);
    assert_int_equal(braid_msg_recv(p->a, false, BRAID_CH_SINK, &m, NULL, &payload, &err), 0);
    assert_int_equal(m.task_id, 9);
    s_assert_packed(payload, BRAID_MAX_BATCH, 1);
    zmsg_destroy(&payload);
}

/*  A routed message with nothing after the routing id (PROTOCOL.md:
    "routing: nothing after the routing id").                              */
static void
test_recv_routing_id_only(void **state)
{
    t_pair_t *p = *state;
    assert_int_equal(zmq_send(zsock_resolve(p->b), "peer", 4, 0), 4);
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    braid_msg_t m;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &m, &rid, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_ROUTING);
    assert_null(payload);
    assert_non_null(rid);
    assert_true(zframe_streq(rid, "peer"));
    zframe_destroy(&rid);
    /*  Without a routing id out-parameter: same verdict, nothing leaks.    */
    assert_int_equal(zmq_send(zsock_resolve(p->b), "peer", 4, 0), 4);
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &m, NULL, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_ROUTING);
}

/*  A routing id then an empty header frame.                                */
static void
test_recv_empty_header(void **state)
{
    t_pair_t *p = *state;
    assert_int_equal(zmq_send(zsock_resolve(p->b), "", 0, 0), 0);
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    braid_msg_t m;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &m, &rid, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_EMPTY);
    assert_non_null(rid);
    zframe_destroy(&rid);
}

static void
test_recv_malformed_header(void **state)
{
    t_pair_t *p = *state;
    static const uint8_t bomb[] = {0xdd, 0x00, 0x40, 0x00, 0x00};
    s_send_raw(p->b, bomb, sizeof bomb, 1);
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    braid_msg_t m;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &m, &rid, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_MSGPACK);
    assert_null(payload);
    zframe_destroy(&rid);
}

static void
test_recv_query_frame_size(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t out, in;
    zframe_t *rid = NULL;
    braid_err_t err;

    s_queries(&out, 0);
    zmsg_t *payload = s_payload(1, BRAID_MAX_QUERY_LEN);
    zmsg_append(payload, &(zframe_t *){zframe_new(NULL, BRAID_MAX_QUERY_LEN + 1)});
    payload = braid_parts_pack(&payload);   /* the second query too long   */
    assert_int_equal(braid_msg_send(p->b, NULL, &out, &payload, false), 0);
    s_queries(&out, 2);
    payload = s_packed(2, BRAID_MAX_QUERY_LEN);
    assert_int_equal(braid_msg_send(p->b, NULL, &out, &payload, false), 0);

    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_FRAME_SIZE);
    assert_null(payload);
    zframe_destroy(&rid);
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err), 0);
    assert_int_equal(in.first, 2);
    s_assert_packed(payload, 2, BRAID_MAX_QUERY_LEN);
    zmsg_destroy(&payload);
    zframe_destroy(&rid);
}

static void
test_recv_task_frame_size(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_TASK);
    strcpy(m.name, "src");
    zmsg_t *payload = s_payload(1, BRAID_MAX_QUERY_LEN + 1);
    assert_int_equal(braid_msg_send(p->b, NULL, &m, &payload, false), 0);
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, false, BRAID_CH_TO_WORKER, &m, NULL, &payload, &err),
                     -2);
    assert_int_equal(err, BRAID_ERR_FRAME_SIZE);
    /*  Partials are not queries: a 1 MiB DATA frame is fine.               */
    braid_msg_init(&m, BRAID_MSG_DATA);
    payload = s_packed(1, 1 << 20);
    assert_int_equal(braid_msg_send(p->b, NULL, &m, &payload, false), 0);
    assert_int_equal(braid_msg_recv(p->a, false, BRAID_CH_SINK, &m, NULL, &payload, &err), 0);
    s_assert_packed(payload, 1, 1 << 20);
    zmsg_destroy(&payload);
}

/*  WHEARTBEAT (PROTOCOL.md, "A worker" 6): exactly one payload frame, a
    list of 20-byte entries (big-endian task id 8, attempt 4, next seq 8),
    at most 65535 of them. Anything else is refused by braid_msg_recv as
    frame-size (a bad frame) or frames (a wrong number of frames). Worker
    DEALER -> backend ROUTER, as in braidd.                                 */

static zframe_t *
s_heartbeat_frame(size_t size)
{
    zframe_t *f = zframe_new(NULL, size);
    assert_non_null(f);
    uint8_t *d = zframe_data(f);
    for (size_t i = 0; i < size; i++)
        d[i] = (uint8_t) (i * 7 + 1);
    return f;
}

static void
s_send_heartbeat(zsock_t *sock, const size_t *sizes, size_t nframes)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_WHEARTBEAT);
    zmsg_t *payload = zmsg_new();
    for (size_t i = 0; i < nframes; i++) {
        zframe_t *f = s_heartbeat_frame(sizes[i]);
        assert_int_equal(zmsg_append(payload, &f), 0);
    }
    assert_int_equal(braid_msg_send(sock, NULL, &m, &payload, false), 0);
    assert_null(payload);
}

/*  Receives one WHEARTBEAT on the backend; returns braid_msg_recv's rc.
    On success checks the frame and returns its size in *size.              */
static int
s_recv_heartbeat(zsock_t *sock, braid_err_t *err, size_t *size)
{
    braid_msg_t in;
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    int rc = braid_msg_recv(sock, true, BRAID_CH_WORKER, &in, &rid, &payload, err);
    assert_non_null(rid);   /* returned on a refusal too                   */
    assert_true(zframe_streq(rid, "client-1"));
    zframe_destroy(&rid);
    if (rc == 0) {
        assert_int_equal(in.type, BRAID_MSG_WHEARTBEAT);
        assert_int_equal(zmsg_size(payload), 1);
        zframe_t *f = zmsg_first(payload);
        const uint8_t *d = zframe_data(f);
        for (size_t i = 0; i < zframe_size(f); i++)
            if (d[i] != (uint8_t) (i * 7 + 1))
                fail_msg("heartbeat byte %zu changed", i);
        *size = zframe_size(f);
        zmsg_destroy(&payload);
    } else
        assert_null(payload);
    return rc;
}

static void
test_recv_heartbeat_sizes(void **state)
{
    t_pair_t *p = *state;
    static const struct {
        size_t size;
        braid_err_t err;
    } cases[] = {
        {0, BRAID_OK},                      /* a worker running nothing    */
        {20, BRAID_OK},
        {60, BRAID_OK},
        {1, BRAID_ERR_FRAME_SIZE},
        {19, BRAID_ERR_FRAME_SIZE},
        {21, BRAID_ERR_FRAME_SIZE},
        {39, BRAID_ERR_FRAME_SIZE},
        {41, BRAID_ERR_FRAME_SIZE},
        {20 * 1000 + 10, BRAID_ERR_FRAME_SIZE},
        {40, BRAID_OK},                     /* in sync after refusals      */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_send_heartbeat(p->b, &cases[i].size, 1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        braid_err_t err = BRAID_ERR_COUNT;
        size_t size = SIZE_MAX;
        int rc = s_recv_heartbeat(p->a, &err, &size);
        if (err != cases[i].err)
            fail_msg("heartbeat frame of %zu bytes: got %s, want %s", cases[i].size,
                     braid_err_name(err), braid_err_name(cases[i].err));
        assert_int_equal(rc, cases[i].err == BRAID_OK ? 0 : -2);
        if (rc == 0)
            assert_int_equal(size, cases[i].size);
    }
}

/*  65535 entries is the most a worker can run (slots 1..65535); one entry
    more is refused, and the message after it still decodes.                */
static void
test_recv_heartbeat_max(void **state)
{
    t_pair_t *p = *state;
    const size_t max = (size_t) 65535 * 20;
    const size_t sizes[] = {max, (size_t) 65536 * 20, max + 1, max - 1, 20};
    const braid_err_t want[] = {BRAID_OK, BRAID_ERR_FRAME_SIZE, BRAID_ERR_FRAME_SIZE,
                                BRAID_ERR_FRAME_SIZE, BRAID_OK};
    assert_int_equal(max, (size_t) BRAID_MAX_SLOTS * BRAID_HEARTBEAT_ENTRY);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        s_send_heartbeat(p->b, &sizes[i], 1);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        braid_err_t err = BRAID_ERR_COUNT;
        size_t size = SIZE_MAX;
        int rc = s_recv_heartbeat(p->a, &err, &size);
        if (err != want[i])
            fail_msg("heartbeat frame of %zu bytes: got %s, want %s", sizes[i],
                     braid_err_name(err), braid_err_name(want[i]));
        assert_int_equal(rc, want[i] == BRAID_OK ? 0 : -2);
        if (rc == 0)
            assert_int_equal(size, sizes[i]);
    }
}

/*  Exactly one frame: none, two, or two valid ones are refused (frames),
    before any frame's size is looked at.                                   */
static void
test_recv_heartbeat_frame_count(void **state)
{
    t_pair_t *p = *state;
    const size_t two_ok[] = {20, 20};
    const size_t two_bad[] = {21, 21};
    const size_t one[] = {20};
    s_send_heartbeat(p->b, NULL, 0);
    s_send_heartbeat(p->b, two_ok, 2);
    s_send_heartbeat(p->b, two_bad, 2);
    s_send_heartbeat(p->b, one, 1);
    braid_err_t err;
    size_t size = 0;
    for (int i = 0; i < 3; i++) {
        err = BRAID_OK;
        assert_int_equal(s_recv_heartbeat(p->a, &err, &size), -2);
        assert_int_equal(err, BRAID_ERR_FRAMES);
    }
    assert_int_equal(s_recv_heartbeat(p->a, &err, &size), 0);
    assert_int_equal(err, BRAID_OK);
    assert_int_equal(size, 20);
}

/*  The multiple-of-20 rule is WHEARTBEAT's alone: a 21-byte frame of
    another single-frame type passes.                                       */
static void
test_recv_frame_size_rule_is_heartbeat_only(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_STATS_REPLY);
    zmsg_t *payload = s_payload(1, 21);
    assert_int_equal(braid_msg_send(p->a, NULL, &m, &payload, false), 0);
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_TO_CLIENT, &m, NULL, &payload, &err), 0);
    assert_int_equal(zframe_size(zmsg_first(payload)), 21);
    zmsg_destroy(&payload);
    braid_msg_init(&m, BRAID_MSG_TASK);
    strcpy(m.name, "src");
    payload = s_payload(1, 21);
    assert_int_equal(braid_msg_send(p->a, NULL, &m, &payload, false), 0);
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_TO_WORKER, &m, NULL, &payload, &err), 0);
    assert_int_equal(zframe_size(zmsg_first(payload)), 21);
    zmsg_destroy(&payload);
}

/*  RESUME's frame holds whole ranges of 16 bytes: 32 pass, 33 are refused
    (frame-size), as is an empty RESUME without its frame (frames).       */
static void
test_recv_resume_ranges(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_RESUME);
    zmsg_t *payload = s_payload(1, 2 * BRAID_RESUME_RANGE);
    assert_int_equal(braid_msg_send(p->a, NULL, &m, &payload, false), 0);
    braid_err_t err = BRAID_OK;
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_CLIENT, &m, NULL, &payload, &err), 0);
    assert_int_equal(zframe_size(zmsg_first(payload)), 32);
    zmsg_destroy(&payload);
    braid_msg_init(&m, BRAID_MSG_RESUME);
    payload = s_payload(1, 2 * BRAID_RESUME_RANGE + 1);
    assert_int_equal(braid_msg_send(p->a, NULL, &m, &payload, false), 0);
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_CLIENT, &m, NULL, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_FRAME_SIZE);
    assert_null(payload);
}

/*  The other new messages over a socket: TASK_ACK (worker -> backend),
    RESET (backend -> worker), RESTART (frontend -> client), DONE with g.   */
static void
test_new_messages_over_sockets(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t out, in;
    zmsg_t *payload = NULL;
    braid_err_t err;

    s_fill(&out, s_def(BRAID_MSG_TASK_ACK), V_MAX);
    assert_int_equal(braid_msg_send(p->b, NULL, &out, NULL, false), 0);
    assert_int_equal(braid_msg_recv(p->a, false, BRAID_CH_WORKER, &in, NULL, &payload, &err), 0);
    s_assert_msg_equal(&out, &in, "ka");
    assert_int_equal(zmsg_size(payload), 0);
    zmsg_destroy(&payload);

    braid_msg_init(&out, BRAID_MSG_RESET);
    assert_int_equal(braid_msg_send(p->a, NULL, &out, NULL, false), 0);
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_TO_WORKER, &in, NULL, &payload, &err),
                     0);
    assert_int_equal(in.type, BRAID_MSG_RESET);
    zmsg_destroy(&payload);

    s_fill(&out, s_def(BRAID_MSG_RESTART), V_GOLD);
    assert_int_equal(braid_msg_send(p->a, NULL, &out, NULL, false), 0);
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_TO_CLIENT, &in, NULL, &payload, &err),
                     0);
    s_assert_msg_equal(&out, &in, "jOqsa");
    zmsg_destroy(&payload);

    s_fill(&out, s_def(BRAID_MSG_DONE), V_GOLD);
    assert_int_equal(out.transient, 1);
    out.keyed = 0;      /* a keyed one carries its keys frame: test_keys.c */
    assert_int_equal(braid_msg_send(p->b, NULL, &out, NULL, false), 0);
    assert_int_equal(braid_msg_recv(p->a, false, BRAID_CH_SINK, &in, NULL, &payload, &err), 0);
    s_assert_msg_equal(&out, &in, "kaxpgE");
    zmsg_destroy(&payload);

    /*  A RESET with a payload frame is refused, and says why.             */
    braid_msg_init(&out, BRAID_MSG_RESET);
    payload = s_payload(1, 1);
    assert_int_equal(braid_msg_send(p->a, NULL, &out, &payload, false), 0);
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_TO_WORKER, &in, NULL, &payload, &err),
                     -2);
    assert_int_equal(err, BRAID_ERR_FRAMES);
}

static void
test_recv_wrong_channel(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_PING);
    assert_int_equal(braid_msg_send(p->b, NULL, &m, NULL, false), 0);
    zmsg_t *payload = NULL;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, false, BRAID_CH_WORKER, &m, NULL, &payload, &err), -2);
    assert_int_equal(err, BRAID_ERR_CHANNEL);
}

static void
test_recv_timeout(void **state)
{
    t_pair_t *p = *state;
    zsock_set_rcvtimeo(p->a, 10);
    zframe_t *rid = (zframe_t *) &rid;     /* must be reset to NULL        */
    zmsg_t *payload = (zmsg_t *) &payload;
    braid_msg_t m;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &m, &rid, &payload, &err), -1);
    assert_null(rid);
    assert_null(payload);
}

/*  ROUTER -> DEALER with a routing id, a header and payload frames.        */
static void
test_send_routed(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m, in;
    braid_msg_init(&m, BRAID_MSG_PING);
    assert_int_equal(braid_msg_send(p->b, NULL, &m, NULL, false), 0);
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err), 0);
    assert_int_equal(in.type, BRAID_MSG_PING);
    assert_int_equal(zmsg_size(payload), 0);
    zmsg_destroy(&payload);

    s_fill(&m, s_def(BRAID_MSG_PARTIAL), V_MAX);
    payload = s_packed(2, 100);
    assert_int_equal(braid_msg_send(p->a, rid, &m, &payload, true), 0);
    assert_null(payload);
    braid_msg_init(&in, BRAID_MSG_PONG);
    assert_int_equal(braid_msg_send(p->a, rid, &in, NULL, true), 0);

    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_TO_CLIENT, &in, NULL, &payload, &err),
                     0);
    s_assert_msg_equal(&m, &in, "jOqse");
    s_assert_packed(payload, 2, 100);
    zmsg_destroy(&payload);
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_TO_CLIENT, &in, NULL, &payload, &err),
                     0);
    assert_int_equal(in.type, BRAID_MSG_PONG);
    zmsg_destroy(&payload);
    zframe_destroy(&rid);
}

static void
test_send_unknown_peer(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_PONG);
    zframe_t *rid = zframe_new("nobody", 6);
    zmsg_t *payload = s_payload(1, 1);
    errno = 0;
    assert_int_equal(braid_msg_send(p->a, rid, &m, &payload, true), -1);
    assert_int_equal(errno, EHOSTUNREACH);
    assert_null(payload);     /* consumed on failure too                   */
    zframe_destroy(&rid);
}

static void
test_send_invalid_msg(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_HELLO);  /* no name, 0 slots: invalid     */
    zmsg_t *payload = s_payload(1, 1);
    errno = 0;
    assert_int_equal(braid_msg_send(p->b, NULL, &m, &payload, true), -1);
    assert_int_equal(errno, EINVAL);
    assert_null(payload);
}

static void
test_send_no_peer_eagain(void **state)
{
    (void) state;
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    assert_non_null(dealer);
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_PING);
    zmsg_t *payload = s_payload(1, 1);
    errno = 0;
    assert_int_equal(braid_msg_send(dealer, NULL, &m, &payload, true), -1);
    assert_int_equal(errno, EAGAIN);
    assert_null(payload);
    zsock_destroy(&dealer);
}

/*  try_recv: EAGAIN when nothing waits (nothing is left allocated), then
    each message as braid_msg_recv gives it, routed and not; send_mem: one
    payload frame copied from memory, routed, and EHOSTUNREACH for a peer
    that is not there.                                                      */
static void
test_try_recv_and_send_mem(void **state)
{
    t_pair_t *p = *state;
    braid_msg_t m, in;
    zframe_t *rid = NULL;
    zmsg_t *payload = NULL;
    braid_err_t err;
    errno = 0;
    assert_int_equal(braid_msg_try_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err),
                     -1);
    assert_int_equal(errno, EAGAIN);
    assert_null(rid);
    assert_null(payload);

    braid_msg_init(&m, BRAID_MSG_PING);
    assert_int_equal(braid_msg_send(p->b, NULL, &m, NULL, false), 0);
    /*  inproc delivers at once; bounded wait all the same.                 */
    int rc = -1;
    for (int i = 0; i < 1000 && rc != 0; i++) {
        rc = braid_msg_try_recv(p->a, true, BRAID_CH_CLIENT, &in, &rid, &payload, &err);
        if (rc != 0) {
            assert_int_equal(errno, EAGAIN);
            zclock_sleep(1);
        }
    }
    assert_int_equal(rc, 0);
    assert_int_equal(in.type, BRAID_MSG_PING);
    assert_non_null(rid);
    assert_int_equal(zmsg_size(payload), 0);
    zmsg_destroy(&payload);

    s_fill(&m, s_def(BRAID_MSG_TASK), V_MAX);
    const char query[] = "a query";
    assert_int_equal(braid_msg_send_mem(p->a, rid, &m, query, sizeof query - 1, true), 0);
    assert_int_equal(braid_msg_recv(p->b, false, BRAID_CH_TO_WORKER, &in, NULL, &payload, &err),
                     0);
    s_assert_msg_equal(&m, &in, "kaNrwtbz");
    assert_int_equal(zmsg_size(payload), 1);
    assert_int_equal(zframe_size(zmsg_first(payload)), sizeof query - 1);
    assert_memory_equal(zframe_data(zmsg_first(payload)), query, sizeof query - 1);
    zmsg_destroy(&payload);
    errno = 0;
    assert_int_equal(braid_msg_try_recv(p->b, false, BRAID_CH_TO_WORKER, &in, NULL, &payload,
                                        &err),
                     -1);
    assert_int_equal(errno, EAGAIN);
    assert_null(payload);

    zframe_t *nobody = zframe_new("nobody", 6);
    errno = 0;
    assert_int_equal(braid_msg_send_mem(p->a, nobody, &m, query, sizeof query - 1, true), -1);
    assert_int_equal(errno, EHOSTUNREACH);
    zframe_destroy(&nobody);
    zframe_destroy(&rid);
}

/*  ---------------------------------------------------------------------   */

int
main(void)
{
    zsys_init();
    zsys_set_logstream(NULL);
    int failed = 0;

    const struct CMUnitTest codec[] = {
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_type_and_status_names),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_encode_refuses_invalid),
        cmocka_unit_test(test_encode_buf_too_small),
        cmocka_unit_test(test_decode_null_and_empty),
        cmocka_unit_test(test_bomb_refused_before_msgpack),
        cmocka_unit_test(test_golden_covers_table),
        cmocka_unit_test(test_new_letters_bounds),
        cmocka_unit_test(test_new_letters_decode_widths),
    };
    failed += cmocka_run_group_tests_name("codec", codec, NULL, NULL);

    static char rt_names[NDEFS][48];
    struct CMUnitTest roundtrip[NDEFS];
    for (size_t i = 0; i < NDEFS; i++) {
        snprintf(rt_names[i], sizeof rt_names[i], "roundtrip %s", s_defs[i].name);
        roundtrip[i] = (struct CMUnitTest){rt_names[i], test_roundtrip, NULL, NULL,
                                           (void *) &s_defs[i]};
    }
    failed += _cmocka_run_group_tests("roundtrip", roundtrip, NDEFS, NULL, NULL);

    static char gold_names[NGOLDEN][48];
    struct CMUnitTest golden[NGOLDEN];
    for (size_t i = 0; i < NGOLDEN; i++) {
        snprintf(gold_names[i], sizeof gold_names[i], "golden %s",
                 braid_msg_type_name(s_golden[i].type));
        golden[i] = (struct CMUnitTest){gold_names[i], test_golden, NULL, NULL,
                                        (void *) &s_golden[i]};
    }
    failed += _cmocka_run_group_tests("golden", golden, NGOLDEN, NULL, NULL);

    struct CMUnitTest malformed[NBAD];
    for (size_t i = 0; i < NBAD; i++)
        malformed[i] = (struct CMUnitTest){s_bad[i].name, test_malformed, NULL, NULL,
                                           (void *) &s_bad[i]};
    failed += _cmocka_run_group_tests("malformed", malformed, NBAD, NULL, NULL);

#define RD(f) cmocka_unit_test_setup_teardown(f, s_setup_router_dealer, s_teardown_pair)
#define PR(f) cmocka_unit_test_setup_teardown(f, s_setup_pair, s_teardown_pair)
    const struct CMUnitTest sockets[] = {
        RD(test_recv_valid_with_payload),
        RD(test_recv_at_frame_cap),
        RD(test_recv_too_many_frames_stays_in_sync),
        PR(test_recv_unrouted_too_many_frames),
        PR(test_recv_routing_id_only),
        RD(test_recv_empty_header),
        RD(test_recv_malformed_header),
        RD(test_recv_query_frame_size),
        PR(test_recv_task_frame_size),
        RD(test_recv_heartbeat_sizes),
        RD(test_recv_heartbeat_max),
        RD(test_recv_heartbeat_frame_count),
        PR(test_recv_frame_size_rule_is_heartbeat_only),
        PR(test_recv_resume_ranges),
        PR(test_new_messages_over_sockets),
        PR(test_recv_wrong_channel),
        RD(test_recv_timeout),
        RD(test_send_routed),
        RD(test_send_unknown_peer),
        RD(test_send_invalid_msg),
        cmocka_unit_test(test_send_no_peer_eagain),
        RD(test_try_recv_and_send_mem),
    };
    failed += cmocka_run_group_tests_name("sockets", sockets, NULL, NULL);

    zsys_shutdown();
    return failed ? 1 : 0;
}
