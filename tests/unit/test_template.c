/*  test_template.c - exec command templates: splitting, quoting, {query}
    substitution, and refusals.                                            */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "template.h"

typedef struct {
    const char *text;
    const char *query;
    const char *argv[8];    /* expected, NULL-terminated                   */
} s_case_t;

static const s_case_t s_cases[] = {
    {"echo", "hi", {"echo", "hi"}},
    {"printf '%s\\n' {query}", "a b", {"printf", "%s\\n", "a b"}},
    {"  grep   -n  --  {query}  ", "x", {"grep", "-n", "--", "x"}},
    {"cmd --q={query}.txt", "a;b", {"cmd", "--q=a;b.txt"}},
    {"cmd {query}{query}", "ab", {"cmd", "abab"}},
    {"cmd '{query}'", "$(rm -rf /)", {"cmd", "$(rm -rf /)"}},
    {"cmd \"x {query} y\"", "q", {"cmd", "x q y"}},
    {"cmd \"a\\\"b\\\\c\\n\"", "q", {"cmd", "a\"b\\c\\n", "q"}},
    {"cmd a\\ b \\'c", "q", {"cmd", "a b", "'c", "q"}},
    {"cmd '' \"\" x''y", "q", {"cmd", "", "", "xy", "q"}},
    {"cmd 'a'\"b\"c", "", {"cmd", "abc", ""}},
    {"cmd\ta\nb", "q", {"cmd", "a", "b", "q"}},
    {"cmd '$HOME' `x` *", "q", {"cmd", "$HOME", "`x`", "*", "q"}},
    {"cmd {query", "q", {"cmd", "{query", "q"}},
    {"cmd {query}", "", {"cmd", ""}},
};

static void
test_split_and_fill(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_cases / sizeof s_cases[0]; i++) {
        const s_case_t *c = &s_cases[i];
        char err[128] = "";
        braid_template_t *t = braid_template_new(c->text, err, sizeof err);
        if (!t)
            print_error("case %zu: %s\n", i, err);
        assert_non_null(t);
        char **argv = braid_template_argv(t, c->query, strlen(c->query));
        assert_non_null(argv);
        size_t n = 0;
        while (c->argv[n]) {
            if (!argv[n] || strcmp(argv[n], c->argv[n]))
                print_error("case %zu word %zu: got '%s' want '%s'\n", i, n,
                            argv[n] ? argv[n] : "(null)", c->argv[n]);
            assert_non_null(argv[n]);
            assert_string_equal(argv[n], c->argv[n]);
            n++;
        }
        assert_null(argv[n]);
        braid_template_argv_free(&argv);
        assert_null(argv);
        braid_template_destroy(&t);
        assert_null(t);
    }
}

static void
test_accessors(void **state)
{
    (void) state;
    braid_template_t *t = braid_template_new("a 'b c' {query}", NULL, 0);
    assert_non_null(t);
    assert_int_equal(braid_template_words(t), 3);
    assert_string_equal(braid_template_word(t, 1), "b c");
    assert_string_equal(braid_template_word(t, 2), "{query}");
    assert_null(braid_template_word(t, 3));
    assert_true(braid_template_has_query(t));
    braid_template_destroy(&t);

    t = braid_template_new("a b", NULL, 0);
    assert_false(braid_template_has_query(t));
    /*  A query with a NUL byte cannot be an argv element.                 */
    assert_null(braid_template_argv(t, "x\0y", 3));
    /*  Binary but NUL-free bytes pass through untouched.                  */
    char **argv = braid_template_argv(t, "\xff\x01 ;|", 5);
    assert_non_null(argv);
    assert_memory_equal(argv[2], "\xff\x01 ;|", 6);
    braid_template_argv_free(&argv);
    braid_template_destroy(&t);

    braid_template_destroy(&t);
    braid_template_destroy(NULL);
    braid_template_argv_free(NULL);
    assert_int_equal(braid_template_words(NULL), 0);
    assert_null(braid_template_argv(NULL, "q", 1));
}

static void
test_errors(void **state)
{
    (void) state;
    const struct {
        const char *text;
        const char *why;
    } bad[] = {
        {"", "empty command"},
        {"   \t\n", "empty command"},
        {"cmd 'abc", "unterminated single quote"},
        {"cmd \"abc", "unterminated double quote"},
        {"cmd \"abc\\\"", "unterminated double quote"},
        {"cmd abc\\", "trailing backslash"},
        {"{query}", "the program name may not contain {query}"},
        {"x{query}y a", "the program name may not contain {query}"},
        {"'' a", "empty program name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[128] = "";
        braid_template_t *t = braid_template_new(bad[i].text, err, sizeof err);
        assert_null(t);
        assert_string_equal(err, bad[i].why);
    }
    assert_null(braid_template_new(NULL, NULL, 0));
}

/*  Where a query starting with '-' could be an option: a word that begins
    with {query}, or the appended query, with no "--" word before it.      */
static void
test_takes_options(void **state)
{
    (void) state;
    static const struct {
        const char *text;
        bool takes;
    } cases[] = {
        {"wc -l {query}", true},
        {"wc -l '{query}'", true},
        {"wc -l {query}.txt", true},
        {"sort", true},                     /* appended                     */
        {"wc -l -- {query}", false},
        {"sort --", false},                 /* appended after --            */
        {"grep --regexp={query} /dev/null", false},
        {"cmd -x{query}", false},
        {"cmd x{query}", false},
        {"cmd '--' {query}", false},        /* -- after unquoting           */
        {"cmd --x {query}", true},
        {"cmd {query} -- {query}", true},   /* the first one is before --   */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[128];
        braid_template_t *t = braid_template_new(cases[i].text, err, sizeof err);
        assert_non_null(t);
        if (braid_template_takes_options(t) != cases[i].takes)
            fail_msg("'%s': takes options %d, want %d", cases[i].text,
                     braid_template_takes_options(t), cases[i].takes);
        braid_template_destroy(&t);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_and_fill),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_takes_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
