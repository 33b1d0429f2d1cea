/*  test_conf.c - braid_conf: the ZPL subset, lookups, line numbers, and
    every parse error naming the right line.                               */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "braid_conf.h"

#include <czmq.h>

static const char s_good[] =
    "# braid worker config\n"
    "worker\n"
    "    name = w1\n"
    "    slots = 4   # trailing comment\n"
    "    backend = \"tcp://127.0.0.1:5556\"\n"
    "\n"
    "      # a comment at any indentation\n"
    "    sink = 'tcp://127.0.0.1:5557'\n"
    "source\n"
    "    lines\n"
    "        type = exec\n"
    "        command = \"printf '%s\\n' {query}\"\n"
    "        output = lines\n"
    "    load\n"
    "        type = synthetic\n"
    "        parts = 3\n"
    "        fail = \"bad # not a comment\"\n"
    "        empty = \"\"\n"
    "top = value\n"
    "    child = x\n";

static void
test_good(void **state)
{
    (void) state;
    char err[256];
    braid_conf_t *conf = braid_conf_parse(s_good, strlen(s_good), "good.cfg", err, sizeof err);
    assert_non_null(conf);
    assert_string_equal(braid_conf_file(conf), "good.cfg");
    assert_int_equal(braid_conf_line(conf), 0);

    assert_string_equal(braid_conf_get(conf, "worker/name", NULL), "w1");
    assert_string_equal(braid_conf_get(conf, "worker/slots", NULL), "4");
    assert_string_equal(braid_conf_get(conf, "worker/backend", NULL), "tcp://127.0.0.1:5556");
    assert_string_equal(braid_conf_get(conf, "/worker/sink", NULL), "tcp://127.0.0.1:5557");
    assert_string_equal(braid_conf_get(conf, "source/lines/command", NULL),
                        "printf '%s\\n' {query}");
    assert_string_equal(braid_conf_get(conf, "source/load/fail", NULL), "bad # not a comment");
    assert_string_equal(braid_conf_get(conf, "source/load/empty", "dflt"), "");
    assert_string_equal(braid_conf_get(conf, "top", NULL), "value");
    assert_string_equal(braid_conf_get(conf, "top/child", NULL), "x");
    assert_string_equal(braid_conf_get(conf, "worker/missing", "dflt"), "dflt");
    assert_string_equal(braid_conf_get(conf, "worker", "section"), "section");
    assert_null(braid_conf_get(conf, "nope/deeper", NULL));

    braid_conf_t *w = braid_conf_locate(conf, "worker");
    assert_non_null(w);
    assert_null(braid_conf_value(w));
    assert_int_equal(braid_conf_line(w), 2);
    assert_int_equal(braid_conf_line(braid_conf_locate(conf, "worker/sink")), 8);
    assert_int_equal(braid_conf_line(braid_conf_locate(conf, "source/load/parts")), 16);
    assert_int_equal(braid_conf_line(braid_conf_locate(conf, "top/child")), 20);
    assert_string_equal(braid_conf_file(w), "good.cfg");

    /*  Children in file order.                                            */
    const char *want[] = {"lines", "load"};
    int n = 0;
    for (braid_conf_t *c = braid_conf_child(braid_conf_locate(conf, "source")); c;
         c = braid_conf_next(c)) {
        assert_true(n < 2);
        assert_string_equal(braid_conf_name(c), want[n++]);
    }
    assert_int_equal(n, 2);

    uint64_t v = 0;
    assert_int_equal(braid_conf_uint(conf, "worker/slots", 1, 65535, 9, &v, err, sizeof err), 0);
    assert_int_equal(v, 4);
    assert_int_equal(braid_conf_uint(conf, "worker/absent", 1, 65535, 9, &v, err, sizeof err), 0);
    assert_int_equal(v, 9);
    assert_int_equal(braid_conf_uint(conf, "worker/slots", 5, 10, 9, &v, err, sizeof err), -1);
    assert_string_equal(err, "good.cfg:4: slots must be an integer in 5..10");
    assert_int_equal(braid_conf_uint(conf, "worker/name", 0, 10, 9, &v, err, sizeof err), -1);
    assert_string_equal(err, "good.cfg:3: name must be an integer in 0..10");
    assert_int_equal(braid_conf_uint(conf, "worker", 0, 10, 9, &v, err, sizeof err), -1);
    assert_string_equal(err, "good.cfg:2: worker must be an integer in 0..10");

    braid_conf_error(braid_conf_locate(conf, "source/lines/type"), err, sizeof err,
                     "unknown type '%s'", "x");
    assert_string_equal(err, "good.cfg:11: unknown type 'x'");

    braid_conf_destroy(&conf);
    assert_null(conf);
    braid_conf_destroy(&conf);
    braid_conf_destroy(NULL);
}

static void
test_edge_cases(void **state)
{
    (void) state;
    char err[256];
    /*  Empty and comment-only files are valid and empty.                  */
    const char *empties[] = {"", "\n\n", "# only\n   # comments\n", "    \n"};
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        braid_conf_t *c = braid_conf_parse(empties[i], strlen(empties[i]), "e", err, sizeof err);
        assert_non_null(c);
        assert_null(braid_conf_child(c));
        braid_conf_destroy(&c);
    }
    /*  CRLF, no final newline, a dedent of two levels, tabs after names.  */
    const char *text = "a\r\n    b\r\n        c = 1\r\nd\t=\t'2'\t# x\r\ne = 3";
    braid_conf_t *c = braid_conf_parse(text, strlen(text), "crlf", err, sizeof err);
    assert_non_null(c);
    assert_string_equal(braid_conf_get(c, "a/b/c", NULL), "1");
    assert_string_equal(braid_conf_get(c, "d", NULL), "2");
    assert_string_equal(braid_conf_get(c, "e", NULL), "3");
    assert_int_equal(braid_conf_line(braid_conf_locate(c, "e")), 5);
    braid_conf_destroy(&c);

    /*  A bare value stops at '#'; same names in different sections.       */
    text = "x = a#b\ns1\n    k = 1\ns2\n    k = 2\n";
    c = braid_conf_parse(text, strlen(text), "t", err, sizeof err);
    assert_non_null(c);
    assert_string_equal(braid_conf_get(c, "x", NULL), "a");
    assert_string_equal(braid_conf_get(c, "s1/k", NULL), "1");
    assert_string_equal(braid_conf_get(c, "s2/k", NULL), "2");
    braid_conf_destroy(&c);
}

/*  Every malformed case names the line it is on.                          */
typedef struct {
    const char *text;
    const char *expect;     /* the whole error message                     */
} s_bad_t;

static const s_bad_t s_bad[] = {
    {"a\n   b = 1\n", "bad.cfg:2: indentation of 3 spaces is not a multiple of 4"},
    {"a\n\tb = 1\n", "bad.cfg:2: tab in indentation"},
    {"a\n  \tb = 1\n", "bad.cfg:2: tab in indentation"},
    {"a\n        b = 1\n", "bad.cfg:2: indented more than one level deeper"},
    {"    a = 1\n", "bad.cfg:1: indented more than one level deeper"},
    {"a = 1\nb =\n", "bad.cfg:2: missing value after '='"},
    {"a = 1\n\nb =   # comment\n", "bad.cfg:3: missing value after '='"},
    {"a\n    b = \"tcp://x\n", "bad.cfg:2: unterminated double quote"},
    {"a = 'x\n", "bad.cfg:1: unterminated single quote"},
    {"a = \"x\ny\"\n", "bad.cfg:1: unterminated double quote"},
    {"a = b c\n", "bad.cfg:1: unexpected text after value: 'c'"},
    {"a = \"b\"c\n", "bad.cfg:1: unexpected text after value: 'c'"},
    {"a b\n", "bad.cfg:1: unexpected text after name: 'b'"},
    {"x = 1\n= 1\n", "bad.cfg:2: expected a name, found '='"},
    {"x = 1\n'a' = 1\n", "bad.cfg:2: expected a name, found '''"},
    {"a/b = 1\n", "bad.cfg:1: bad character '/' in name 'a'"},
    {"a:b = 1\n", "bad.cfg:1: bad character ':' in name 'a'"},
    {"a = 1\nb = 2\na = 3\n", "bad.cfg:3: duplicate 'a' (first at line 1)"},
    {"s\n    k = 1\n    k = 2\n", "bad.cfg:3: duplicate 'k' (first at line 2)"},
    {"a\n    b\n        c\n    d = 1\nx = 1\n    y\n        z = 1\n    y = 2\n",
     "bad.cfg:8: duplicate 'y' (first at line 6)"},
    {"a\n    b\n        c = 1\n            d = 1\n                e = 1\n"
     "                    f = 1\n                        g = 1\n",
     NULL /* valid: 7 levels */},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = 1\n",
     "bad.cfg:1: name longer than 64 bytes"},
};

static void
test_errors(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        char err[256] = "";
        braid_conf_t *c =
            braid_conf_parse(s_bad[i].text, strlen(s_bad[i].text), "bad.cfg", err, sizeof err);
        if (!s_bad[i].expect) {
            assert_non_null(c);
            braid_conf_destroy(&c);
            continue;
        }
        if (c || strcmp(err, s_bad[i].expect) != 0)
            print_error("case %zu: got '%s', want '%s'\n", i, err, s_bad[i].expect);
        assert_null(c);
        assert_string_equal(err, s_bad[i].expect);
    }
}

static void
test_limits(void **state)
{
    (void) state;
    char err[256];
    /*  A NUL byte inside a line.                                          */
    const char nul[] = "a = 1\nb = x\0y\n";
    braid_conf_t *c = braid_conf_parse(nul, sizeof nul - 1, "n", err, sizeof err);
    assert_null(c);
    assert_string_equal(err, "n:2: NUL byte in line");

    /*  Nesting beyond the cap.                                            */
    char deep[4096] = "";
    size_t len = 0;
    for (int level = 0; level <= BRAID_CONF_MAX_DEPTH; level++) {
        for (int s = 0; s < level * 4; s++)
            deep[len++] = ' ';
        len += (size_t) sprintf(deep + len, "l%d\n", level);
    }
    c = braid_conf_parse(deep, len, "d", err, sizeof err);
    assert_null(c);
    char want[64];
    snprintf(want, sizeof want, "d:%d: nested deeper than %d levels", BRAID_CONF_MAX_DEPTH + 1,
             BRAID_CONF_MAX_DEPTH);
    assert_string_equal(err, want);

    /*  A line over the cap.                                               */
    size_t big = BRAID_CONF_MAX_LINE + 10;
    char *longline = malloc(big + 16);
    assert_non_null(longline);
    memcpy(longline, "ok = 1\nv = ", 11);
    memset(longline + 11, 'x', big);
    c = braid_conf_parse(longline, big + 11, "long", err, sizeof err);
    assert_null(c);
    assert_string_equal(err, "long:2: line longer than 65536 bytes");
    free(longline);

    /*  A tiny error buffer is never overrun and stays terminated.         */
    char tiny[8];
    c = braid_conf_parse("a =\n", 4, "file.cfg", tiny, sizeof tiny);
    assert_null(c);
    assert_int_equal(strlen(tiny), sizeof tiny - 1);
    c = braid_conf_parse("a =\n", 4, "file.cfg", NULL, 0);
    assert_null(c);
}

static void
test_load(void **state)
{
    (void) state;
    char err[512];
    char path[] = "/tmp/test_conf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs("worker\n    slots = 8\n    name = \"w 2\n", f);
    fclose(f);

    braid_conf_t *c = braid_conf_load(path, err, sizeof err);
    assert_null(c);
    char want[512];
    snprintf(want, sizeof want, "%s:3: unterminated double quote", path);
    assert_string_equal(err, want);

    f = fopen(path, "w");
    assert_non_null(f);
    /*  Larger than the 4096-byte first read, to cover growing the buffer. */
    for (int i = 0; i < 500; i++)
        fprintf(f, "# padding line %d\n", i);
    fputs("worker\n    slots = 8\n", f);
    fclose(f);
    c = braid_conf_load(path, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(braid_conf_get(c, "worker/slots", NULL), "8");
    assert_int_equal(braid_conf_line(braid_conf_locate(c, "worker/slots")), 502);
    assert_string_equal(braid_conf_file(c), path);
    braid_conf_destroy(&c);
    unlink(path);

    c = braid_conf_load(path, err, sizeof err);
    assert_null(c);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    assert_string_equal(err, want);

    c = braid_conf_load("/", err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, "/: cannot read"));
}

/*  BRAID_CONF_MAX_LINES siblings parse in linear time: each duplicate check
    is a hash lookup, not a walk over the siblings before it (that walk
    took 27.6 s for a 100k-line file). The figure is printed; the bound
    asserted is ten times a second, so only a quadratic parser fails it.   */
static void
test_many_siblings(void **state)
{
    (void) state;
    const int n = BRAID_CONF_MAX_LINES - 1;
    size_t cap = (size_t) n * 24 + 16;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t len = (size_t) snprintf(text, cap, "source\n");
    for (int i = 0; i < n; i++)
        len += (size_t) snprintf(text + len, cap - len, "    s%d = %d\n", i, i);
    char err[256];
    int64_t start = zclock_mono();
    braid_conf_t *conf = braid_conf_parse(text, len, "big.conf", err, sizeof err);
    int64_t msec = zclock_mono() - start;
    print_message("%d-line config parsed in %lld ms\n", n + 1, (long long) msec);
    assert_non_null(conf);
    assert_string_equal(braid_conf_get(conf, "source/s99997", NULL), "99997");
    braid_conf_destroy(&conf);
    assert_true(msec < 10000);

    /*  Among as many siblings, a repeated name is still found, with the
        line of its first use (s7 is on line 9).                           */
    len = (size_t) snprintf(text, cap, "source\n");
    for (int i = 0; i < n - 1; i++)
        len += (size_t) snprintf(text + len, cap - len, "    s%d = %d\n", i, i);
    len += (size_t) snprintf(text + len, cap - len, "    s7 = again\n");
    assert_null(braid_conf_parse(text, len, "big.conf", err, sizeof err));
    assert_non_null(strstr(err, "big.conf:100000: duplicate 's7' (first at line 9)"));
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_many_siblings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
