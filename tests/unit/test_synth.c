/*  test_synth.c - the synthetic kind of source through the source-kind
    interface: payloads, pacing, bursts, fail=PREFIX, fail_first.          */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "source.h"
#include "synth_source.h"

/*  A source from a -s spec; the test fails if it does not parse.          */
static braid_source_t *
s_source(const char *spec)
{
    char err[256] = "";
    braid_source_t *source = braid_source_from_flag(spec, err, sizeof err);
    if (!source)
        print_error("%s: %s\n", spec, err);
    assert_non_null(source);
    assert_ptr_equal(source->kind, &braid_synth_kind);
    return source;
}

/*  Start attempt of source for query at now; the run must start.          */
static void *
s_start(braid_source_t *source, const char *query, uint32_t attempt, int64_t now)
{
    zframe_t *q = zframe_new(query, strlen(query));
    void *run = NULL;
    char text[128] = "";
    assert_int_equal(source->kind->start(NULL, source->settings, &q, attempt, now, &run, text,
                                         sizeof text),
                     BRAID_RUN_BUSY);
    assert_null(q);
    assert_non_null(run);
    return run;
}

static void
test_parts(void **state)
{
    (void) state;
    braid_source_t *source = s_source("x=synthetic:parts=3,size=10");
    const braid_source_kind_t *kind = source->kind;
    void *run = s_start(source, "q", 1, 1000);
    char text[128] = "?";
    assert_int_equal(kind->advance(run, 1000, 5, text, sizeof text), BRAID_RUN_BUSY);
    assert_int_equal(kind->wake(run, 1000, 5), 1000);
    assert_int_equal(kind->wake(run, 1000, 0), INT64_MAX);  /* no room: none */
    braid_parts_t *out = braid_parts_new();
    assert_int_equal(kind->produce(run, 1000, out, 2), 2);
    assert_int_equal(kind->produce(run, 1000, out, 2), 1);
    assert_int_equal(kind->produce(run, 1000, out, 2), 0);
    const char *want[] = {"q 0......\n", "q 1......\n", "q 2......\n"};
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        const void *data = braid_parts_at(out, i, &len);
        assert_int_equal(len, 10);
        assert_memory_equal(data, want[i], 10);
    }
    assert_int_equal(kind->advance(run, 1000, 5, text, sizeof text), BRAID_RUN_OK);
    assert_string_equal(text, "");
    assert_int_equal(kind->wake(run, 1000, 5), INT64_MAX);
    assert_int_equal(kind->stop(run, 1000), BRAID_RUN_STOPPED);
    braid_parts_destroy(&out);
    kind->destroy(&run);
    assert_null(run);
    braid_source_destroy(&source);
}

static void
test_defaults_and_cut(void **state)
{
    (void) state;
    braid_source_t *source = s_source("x=synthetic");
    void *run = s_start(source, "a query longer than the part itself, which is cut", 1, 0);
    braid_parts_t *out = braid_parts_new();
    assert_int_equal(source->kind->produce(run, 0, out, 10), 1);    /* parts = 1 */
    size_t len;
    const char *f = braid_parts_at(out, 0, &len);
    assert_int_equal(len, 64);                                      /* size = 64 */
    assert_int_equal(f[63], '\n');
    assert_memory_equal(f, "a query longer", 14);
    braid_parts_destroy(&out);
    source->kind->destroy(&run);
    braid_source_destroy(&source);
}

static void
test_delay(void **state)
{
    (void) state;
    braid_source_t *source = s_source("x=synthetic:parts=3,delay_msec=10,size=4");
    const braid_source_kind_t *kind = source->kind;
    void *run = s_start(source, "q", 1, 100);
    braid_parts_t *out = braid_parts_new();
    assert_int_equal(kind->wake(run, 100, 8), 110);
    assert_int_equal(kind->produce(run, 109, out, 8), 0);
    assert_int_equal(kind->produce(run, 110, out, 8), 1);
    assert_int_equal(kind->wake(run, 110, 8), 120);
    assert_int_equal(kind->produce(run, 135, out, 8), 2);   /* both due      */
    char text[64];
    assert_int_equal(kind->advance(run, 135, 8, text, sizeof text), BRAID_RUN_OK);
    braid_parts_destroy(&out);
    kind->destroy(&run);
    braid_source_destroy(&source);
}

static void
test_burst(void **state)
{
    (void) state;
    braid_source_t *source = s_source("x=synthetic:parts=10,size=100000");
    void *run = s_start(source, "q", 1, 0);
    braid_parts_t *out = braid_parts_new();
    /*  At most BRAID_SYNTH_MAX_BURST bytes a call, and at least one part. */
    size_t n = source->kind->produce(run, 0, out, 10);
    assert_int_equal(n, BRAID_SYNTH_MAX_BURST / 100000);
    braid_parts_destroy(&out);
    source->kind->destroy(&run);
    braid_source_destroy(&source);

    source = s_source("x=synthetic:parts=2,size=16777216");
    run = s_start(source, "q", 1, 0);
    out = braid_parts_new();
    assert_int_equal(source->kind->produce(run, 0, out, 10), 1);
    braid_parts_destroy(&out);
    source->kind->destroy(&run);
    braid_source_destroy(&source);
}

static void
test_failures(void **state)
{
    (void) state;
    braid_source_t *source = s_source("x=synthetic:parts=2,fail=bad,fail_first=2");
    const braid_source_kind_t *kind = source->kind;
    char text[128];
    braid_parts_t *out = braid_parts_new();

    /*  fail=PREFIX: no parts, failed for good.                           */
    void *run = s_start(source, "bad query", 1, 0);
    assert_int_equal(kind->produce(run, 0, out, 10), 0);
    assert_int_equal(kind->advance(run, 0, 10, text, sizeof text), BRAID_RUN_FAILED);
    assert_string_equal(text, "synthetic failure");
    kind->destroy(&run);

    /*  fail_first=2: attempts 1 and 2 make every part, then fail
        transiently; attempt 3 succeeds.                                   */
    for (uint32_t attempt = 1; attempt <= 3; attempt++) {
        run = s_start(source, "good", attempt, 0);
        assert_int_equal(kind->produce(run, 0, out, 10), 2);
        braid_run_result_t r = kind->advance(run, 0, 10, text, sizeof text);
        if (attempt <= 2) {
            char want[64];
            snprintf(want, sizeof want, "synthetic transient failure (attempt %u)", attempt);
            assert_int_equal(r, BRAID_RUN_TRANSIENT);
            assert_string_equal(text, want);
        } else
            assert_int_equal(r, BRAID_RUN_OK);
        kind->destroy(&run);
    }
    braid_parts_destroy(&out);
    braid_source_destroy(&source);
}

static void
test_conf(void **state)
{
    (void) state;
    const char *text = "source\n"
                       "    load\n"
                       "        type = synthetic\n"
                       "        parts = 0\n"
                       "        size = 2\n";
    char err[256];
    braid_conf_t *conf = braid_conf_parse(text, strlen(text), "w.cfg", err, sizeof err);
    assert_non_null(conf);
    braid_source_t *source =
        braid_source_from_conf(braid_conf_locate(conf, "source/load"), err, sizeof err);
    braid_conf_destroy(&conf);
    assert_non_null(source);
    assert_string_equal(source->name, "load");
    void *run = s_start(source, "q", 1, 0);
    char why[64];
    assert_int_equal(source->kind->advance(run, 0, 1, why, sizeof why), BRAID_RUN_OK);
    source->kind->destroy(&run);
    braid_source_destroy(&source);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),   cmocka_unit_test(test_defaults_and_cut),
        cmocka_unit_test(test_delay),   cmocka_unit_test(test_burst),
        cmocka_unit_test(test_failures), cmocka_unit_test(test_conf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
