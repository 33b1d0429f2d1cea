/*  test_keyer.c - a keyed source on the worker (workers/keys.c): the
    settings score, dedup and score_order; each partial's score and dedup
    value read with jansson; and a keyed task (workers/task.c) whose DATA
    and DONE carry the keys frame (h = 1): with resume, a sink that
    refuses, and a cancel.                                                 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "braid_parts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braid_keys.h"
#include "keys.h"
#include "source.h"
#include "task.h"

/*  ---------------------------------------------------------------------
    Settings                                                               */

static braid_keyer_set_t
s_set(braid_keyer_t *k, const char *key, const char *val, char *err)
{
    return braid_keyer_set(k, key, strlen(key), val, strlen(val), err, 256);
}

static void
test_settings(void **state)
{
    (void) state;
    char err[256];
    braid_keyer_t *k = braid_keyer_new("web");
    assert_non_null(k);
    assert_false(braid_keyer_keyed(k));
    assert_int_equal(braid_keyer_flags(k), 0);
    assert_int_equal(s_set(k, "command", "x", err), BRAID_KEYER_NOT_MINE);
    assert_int_equal(s_set(k, "dedup", "url", err), BRAID_KEYER_SET);
    assert_int_equal(braid_keyer_check(k, err, sizeof err), -1);
    assert_non_null(strstr(err, "dedup needs score"));
    assert_int_equal(s_set(k, "score", "meta.rank", err), BRAID_KEYER_SET);
    assert_int_equal(braid_keyer_check(k, err, sizeof err), 0);
    assert_int_equal(braid_keyer_flags(k), BRAID_SOURCE_KEYED);
    assert_int_equal(s_set(k, "score_order", "asc", err), BRAID_KEYER_SET);
    assert_int_equal(braid_keyer_flags(k), BRAID_SOURCE_KEYED | BRAID_SOURCE_SCORE_ASC);
    assert_int_equal(s_set(k, "score_order", "desc", err), BRAID_KEYER_SET);
    assert_int_equal(braid_keyer_flags(k), BRAID_SOURCE_KEYED);
    static const char *bad[][2] = {
        {"score_order", "up"}, {"score", ""}, {"score", "a..b"}, {"score", ".a"}, {"dedup", "a."},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        assert_int_equal(s_set(k, bad[i][0], bad[i][1], err), BRAID_KEYER_BAD);
        assert_non_null(strstr(err, bad[i][0]));
    }
    char longest[BRAID_KEYS_MAX_FIELD + 2];
    memset(longest, 'f', sizeof longest - 1);
    longest[sizeof longest - 1] = 0;
    assert_int_equal(s_set(k, "score", longest, err), BRAID_KEYER_BAD);
    longest[BRAID_KEYS_MAX_FIELD] = 0;
    assert_int_equal(s_set(k, "score", longest, err), BRAID_KEYER_SET);
    braid_keyer_destroy(&k);
    assert_null(k);

    k = braid_keyer_new("web");
    assert_int_equal(s_set(k, "score_order", "asc", err), BRAID_KEYER_SET);
    assert_int_equal(braid_keyer_check(k, err, sizeof err), -1);
    assert_non_null(strstr(err, "score_order needs score"));
    braid_keyer_destroy(&k);
}

/*  Sources: the generic settings in a config section and in the flag's
    brackets; a score needs partials that are lines.                       */
static void
test_sources(void **state)
{
    (void) state;
    char err[512];
    braid_source_t *s =
        braid_source_from_flag("web=exec[score=rank,dedup=url,score_order=asc]:echo {query}", err,
                               sizeof err);
    assert_non_null(s);
    assert_int_equal(braid_keyer_flags(s->keyer), BRAID_SOURCE_KEYED | BRAID_SOURCE_SCORE_ASC);
    braid_source_destroy(&s);
    /*  http: lines and SSE events are whole records, chunks are not.      */
    s = braid_source_from_flag("api=http[score=rank,output=sse]:http://127.0.0.1:1/s?q={query}",
                               err, sizeof err);
    assert_non_null(s);
    assert_int_equal(braid_keyer_flags(s->keyer), BRAID_SOURCE_KEYED);
    braid_source_destroy(&s);
    s = braid_source_from_flag("api=http[score=rank,output=chunks]:http://127.0.0.1:1/{query}",
                               err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "score needs partials that are lines"));
    /*  The brackets take the kind's settings too.                         */
    s = braid_source_from_flag("raw=exec[output=chunks]:echo", err, sizeof err);
    assert_non_null(s);
    assert_false(braid_keyer_keyed(s->keyer));
    braid_source_destroy(&s);
    static const struct {
        const char *spec;
        const char *why;
    } bad[] = {
        {"web=exec[score=r,output=chunks]:echo", "score needs partials that are lines"},
        {"load=synthetic[score=r]:parts=2", "score needs partials that are lines"},
        {"web=exec[dedup=url]:echo", "dedup needs score"},
        {"web=exec[score=r:echo", "NAME=TYPE[KEY=VALUE,...]:SETTINGS"},
        {"web=exec[score=r]x:echo", "NAME=TYPE[KEY=VALUE,...]:SETTINGS"},
        {"web=exec[score]:echo", "expected KEY=VALUE"},
        {"web=exec[score_order=up,score=r]:echo", "score_order must be"},
        {"web=exec[colour=red]:echo", "unknown setting 'colour'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        s = braid_source_from_flag(bad[i].spec, err, sizeof err);
        if (s || !strstr(err, bad[i].why))
            fail_msg("%s: got '%s', want '%s'", bad[i].spec, err, bad[i].why);
    }
    const char *text = "source\n"
                       "    web\n"
                       "        type = exec\n"
                       "        command = \"echo {query}\"\n"
                       "        score = meta.rank\n"
                       "        dedup = url\n"
                       "    raw\n"
                       "        type = exec\n"
                       "        command = echo\n"
                       "        output = chunks\n"
                       "        score = rank\n";
    braid_conf_t *conf = braid_conf_parse(text, strlen(text), "test.conf", err, sizeof err);
    assert_non_null(conf);
    braid_conf_t *web = braid_conf_locate(conf, "source/web");
    s = braid_source_from_conf(web, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(braid_keyer_flags(s->keyer), BRAID_SOURCE_KEYED);
    braid_source_destroy(&s);
    s = braid_source_from_conf(braid_conf_locate(conf, "source/raw"), err, sizeof err);
    assert_null(s);
    assert_non_null(strstr(err, "test.conf:7:"));
    assert_non_null(strstr(err, "score needs partials that are lines"));
    braid_conf_destroy(&conf);
}

/*  ---------------------------------------------------------------------
    Reading partials                                                       */

/*  The keys of lines[0..n) read by a fresh queue of k (all held).         */
static void
s_read(braid_keyer_t *k, const char *const *lines, size_t n, braid_key_t *out, zframe_t **frame_p)
{
    braid_keyq_t *q = braid_keyq_new(k);
    assert_non_null(q);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(braid_keyq_add(q, lines[i], strlen(lines[i]), true), 0);
    assert_int_equal(braid_keyq_held(q), n);
    *frame_p = braid_keyq_frame(q, n);
    assert_non_null(*frame_p);
    assert_int_equal(braid_keyq_held(q), n);    /* held until dropped      */
    assert_int_equal(braid_keys_decode(zframe_data(*frame_p), zframe_size(*frame_p), n, out),
                     BRAID_OK);
    braid_keyq_drop(q, 1);
    assert_int_equal(braid_keyq_held(q), n - 1);
    braid_keyq_destroy(&q);
}

static void
s_assert_score(const braid_key_t *key, bool real, double value)
{
    assert_int_equal(key->score.real, real);
    if (real)
        assert_true(key->score.f == value);
    else
        assert_int_equal(key->score.i, (int64_t) value);
}

static void
s_assert_dedup(const braid_key_t *key, const char *want)
{
    assert_int_equal(key->dedup_len, strlen(want));
    if (key->dedup_len)
        assert_memory_equal(key->dedup, want, key->dedup_len);
}

static void
test_reading(void **state)
{
    (void) state;
    char err[256];
    braid_keyer_t *k = braid_keyer_new("web");
    s_set(k, "score", "meta.rank", err);
    s_set(k, "dedup", "url", err);
    static const char *const lines[] = {
        "not json\n",                                               /* first: best */
        "{\"meta\":{\"rank\":7},\"url\":\"https://a/\"}\n",
        "{\"meta\":{\"rank\":6.5},\"url\":42}\n",
        "{\"meta\":{\"rank\":\"6\"},\"url\":{\"b\":1,\"a\":[true,null]}}\n",   /* no number */
        "{\"meta\":{\"rank\":-3},\"url\":null}",
        "[1,2]\n",                                                  /* not an object */
        "{\"meta\":5,\"url\":\"x\\u0000y\"}\n",                     /* meta not an object */
        "{\"meta\":{\"rank\":true}}\n",
        "{\"meta\":{\"rank\":8}}\n",                                /* unsorted: kept as is */
    };
    const size_t n = sizeof lines / sizeof lines[0];
    braid_key_t keys[sizeof lines / sizeof lines[0]];
    zframe_t *frame = NULL;
    s_read(k, lines, n, keys, &frame);
    s_assert_score(&keys[0], true, INFINITY);
    s_assert_dedup(&keys[0], "");
    s_assert_score(&keys[1], false, 7);
    s_assert_dedup(&keys[1], "https://a/");
    s_assert_score(&keys[2], true, 6.5);
    s_assert_dedup(&keys[2], "42");
    s_assert_score(&keys[3], true, 6.5);        /* the one before it       */
    s_assert_dedup(&keys[3], "{\"a\":[true,null],\"b\":1}");
    s_assert_score(&keys[4], false, -3);
    s_assert_dedup(&keys[4], "");
    s_assert_score(&keys[5], false, -3);
    s_assert_score(&keys[6], false, -3);
    assert_int_equal(keys[6].dedup_len, 3);     /* a NUL inside is kept    */
    assert_memory_equal(keys[6].dedup, "x\0y", 3);
    s_assert_score(&keys[7], false, -3);
    s_assert_score(&keys[8], false, 8);
    zframe_destroy(&frame);
    braid_keyer_destroy(&k);

    /*  Ascending: a first line without a score is the lowest.             */
    k = braid_keyer_new("asc");
    s_set(k, "score", "s", err);
    s_set(k, "score_order", "asc", err);
    static const char *const asc[] = {"{}", "{\"s\":2}"};
    braid_key_t two[2];
    s_read(k, asc, 2, two, &frame);
    s_assert_score(&two[0], true, -INFINITY);
    s_assert_dedup(&two[0], "");                /* no dedup field set      */
    zframe_destroy(&frame);
    braid_keyer_destroy(&k);
}

/*  A dedup value over BRAID_MAX_DEDUP bytes: its head and its SHA-1, so
    two long values that share the head still differ.                      */
static void
test_long_dedup(void **state)
{
    (void) state;
    char err[256];
    braid_keyer_t *k = braid_keyer_new("web");
    s_set(k, "score", "s", err);
    s_set(k, "dedup", "u", err);
    size_t ulen = BRAID_MAX_DEDUP + 100;
    char *u = malloc(ulen + 1);
    memset(u, 'u', ulen);
    u[ulen] = 0;
    char *lines[3];
    for (int i = 0; i < 3; i++) {
        lines[i] = malloc(ulen + 64);
        if (i == 1)
            u[ulen - 1] = 'v';
        if (i == 2)
            u[BRAID_MAX_DEDUP] = 0;     /* exactly the bound: kept whole   */
        snprintf(lines[i], ulen + 64, "{\"s\":1,\"u\":\"%s\"}", u);
    }
    braid_key_t keys[3];
    zframe_t *frame = NULL;
    s_read(k, (const char *const *) lines, 3, keys, &frame);
    assert_int_equal(keys[0].dedup_len, BRAID_MAX_DEDUP);
    assert_int_equal(keys[1].dedup_len, BRAID_MAX_DEDUP);
    assert_memory_equal(keys[0].dedup, keys[1].dedup, BRAID_MAX_DEDUP - 20);
    assert_memory_not_equal(keys[0].dedup, keys[1].dedup, BRAID_MAX_DEDUP);
    u[BRAID_MAX_DEDUP] = 'u';
    u[ulen - 1] = 'u';
    zdigest_t *digest = zdigest_new();
    zdigest_update(digest, (const byte *) u, ulen);
    assert_memory_equal(keys[0].dedup + BRAID_MAX_DEDUP - 20, zdigest_data(digest), 20);
    zdigest_destroy(&digest);
    assert_int_equal(keys[2].dedup_len, BRAID_MAX_DEDUP);
    assert_memory_equal(keys[2].dedup, u, BRAID_MAX_DEDUP);
    zframe_destroy(&frame);
    for (int i = 0; i < 3; i++)
        free(lines[i]);
    free(u);
    braid_keyer_destroy(&k);
}

/*  ---------------------------------------------------------------------
    A keyed task: a kind that makes the lines the test gives it             */

static const char *const *s_lines;
static size_t s_nlines, s_next;

static braid_run_result_t
s_fake_start(void *context, const void *settings, zframe_t **query_p, uint32_t attempt,
             int64_t now, void **run_p, char *text, size_t textsize)
{
    (void) context, (void) settings, (void) attempt, (void) now, (void) text, (void) textsize;
    zframe_destroy(query_p);
    s_next = 0;
    *run_p = &s_next;
    return BRAID_RUN_BUSY;
}

static void
s_fake_destroy(void **run_p)
{
    *run_p = NULL;
}

static size_t
s_fake_produce(void *run, int64_t now, braid_parts_t *out, size_t max)
{
    (void) run, (void) now;
    size_t n = 0;
    for (; n < max && s_next < s_nlines; n++, s_next++)
        braid_parts_add(out, s_lines[s_next], strlen(s_lines[s_next]));
    return n;
}

static braid_run_result_t
s_fake_advance(void *run, int64_t now, size_t room, char *text, size_t textsize)
{
    (void) run, (void) now, (void) room, (void) text, (void) textsize;
    return s_next == s_nlines ? BRAID_RUN_OK : BRAID_RUN_BUSY;
}

static braid_run_result_t
s_fake_stop(void *run, int64_t now)
{
    (void) run, (void) now;
    return BRAID_RUN_STOPPED;
}

static int64_t
s_fake_wake(void *run, int64_t now, size_t room)
{
    (void) run, (void) room;
    return now;
}

static bool
s_fake_lines(const void *settings)
{
    (void) settings;
    return true;
}

static const braid_source_kind_t s_lines_kind = {
    .name = "lines",
    .lines = s_fake_lines,
    .start = s_fake_start,
    .destroy = s_fake_destroy,
    .produce = s_fake_produce,
    .advance = s_fake_advance,
    .stop = s_fake_stop,
    .wake = s_fake_wake,
};

#define S_MAX_SENT 16

typedef struct {
    braid_msg_t msg[S_MAX_SENT];
    braid_key_t keys[S_MAX_SENT][4];
    uint8_t dedups[S_MAX_SENT][4][16];
    size_t npartials[S_MAX_SENT];
    size_t n;
    int refuse;
} t_sink_t;

static int
s_send(void *arg, const braid_msg_t *msg, zmsg_t **frames_p)
{
    t_sink_t *sink = arg;
    if (sink->refuse > 0) {
        sink->refuse--;
        return -1;
    }
    assert_true(sink->n < S_MAX_SENT);
    size_t i = sink->n++;
    sink->msg[i] = *msg;
    size_t nframes = frames_p && *frames_p ? zmsg_size(*frames_p) : 0;
    /*  The partials come in one parts frame, the keys frame after it.     */
    sink->npartials[i] = nframes > (msg->keyed ? 1u : 0u)
                             ? braid_parts_frame_count(zmsg_first(*frames_p))
                             : 0;
    if (msg->keyed) {
        zframe_t *kf = zmsg_last(*frames_p);
        assert_true(sink->npartials[i] <= 4);
        assert_int_equal(braid_keys_decode(zframe_data(kf), zframe_size(kf), sink->npartials[i],
                                           sink->keys[i]),
                         BRAID_OK);
        for (size_t k = 0; k < sink->npartials[i]; k++) {
            if (sink->keys[i][k].dedup_len)
                memcpy(sink->dedups[i][k], sink->keys[i][k].dedup, sink->keys[i][k].dedup_len);
            sink->keys[i][k].dedup = sink->dedups[i][k];
        }
    }
    if (frames_p)
        zmsg_destroy(frames_p);
    return 0;
}

/*  A keyed task: DATA and DONE carry the keys of exactly their partials;
    a refused send goes again with the same keys; the partials below
    resume are not sent, but the one after them that has no score still
    takes the score before it.                                              */
static void
test_keyed_task(void **state)
{
    (void) state;
    char err[256];
    braid_source_t source = {.name = "k", .kind = &s_lines_kind};
    source.keyer = braid_keyer_new(source.name);
    s_set(source.keyer, "score", "s", err);
    s_set(source.keyer, "dedup", "u", err);
    static const char *const lines[] = {"{\"s\":9,\"u\":\"a\"}", "{\"s\":8,\"u\":\"b\"}",
                                        "{\"s\":7}", "-- no score --", "{\"s\":5,\"u\":\"e\"}"};
    s_lines = lines;
    s_nlines = 5;
    for (int resume = 0; resume <= 3; resume += 3) {
        braid_msg_t tm;
        braid_msg_init(&tm, BRAID_MSG_TASK);
        tm.task_id = 1;
        tm.attempts = 1;
        tm.resume = (uint64_t) resume;
        tm.window = (uint64_t) resume + 2;
        zframe_t *query = zframe_new("q", 1);
        braid_task_t *task = braid_task_new(&tm, &source, &query);
        assert_non_null(task);
        static t_sink_t fake;
        memset(&fake, 0, sizeof fake);
        fake.refuse = 1;
        braid_task_sink_t sink = {.send = s_send, .arg = &fake};
        braid_task_start(task, NULL, 0);
        for (int i = 0; i < 20 && braid_task_pump(task, 100, true, &sink) == BRAID_TASK_BUSY;
             i++) {
            sink.blocked = false;
            braid_task_credit(task, (uint64_t) resume + 2 + (uint64_t) i + 1, 0);
        }
        assert_true(fake.n >= (resume ? 1u : 2u));
        assert_int_equal(fake.refuse, 0);
        size_t seen = (size_t) resume;
        for (size_t m = 0; m < fake.n; m++) {
            assert_int_equal(fake.msg[m].keyed, fake.npartials[m] > 0);
            for (size_t k = 0; k < fake.npartials[m]; k++, seen++) {
                static const int64_t want[] = {9, 8, 7, 7, 5};
                static const char *const dedup[] = {"a", "b", "", "", "e"};
                s_assert_score(&fake.keys[m][k], false, (double) want[seen]);
                s_assert_dedup(&fake.keys[m][k], dedup[seen]);
            }
        }
        assert_int_equal(seen, 5);
        assert_int_equal(fake.msg[fake.n - 1].type, BRAID_MSG_DONE);
        assert_int_equal(fake.msg[fake.n - 1].parts, 5);
        braid_task_destroy(&task);
    }
    braid_keyer_destroy(&source.keyer);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_sources),
        cmocka_unit_test(test_reading),
        cmocka_unit_test(test_long_dedup),
        cmocka_unit_test(test_keyed_task),
    };
    return cmocka_run_group_tests_name("keyer", tests, NULL, NULL);
}
