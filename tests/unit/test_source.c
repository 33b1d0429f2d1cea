/*  test_source.c - sources from -s flags and config sections: every
    refusal with its message, and the settings a good spec gives.          */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "source.h"

typedef struct {
    const char *spec;
    const char *why;
} s_bad_t;

static const s_bad_t s_bad_flags[] = {
    {"noequals", "expected NAME=TYPE:SETTINGS"},
    {"=exec:true", "source name must be 1..64 bytes of [A-Za-z0-9_.-]"},
    {"a b=exec:true", "source name must be 1..64 bytes of [A-Za-z0-9_.-]"},
    {"x=exec", "exec needs a command: NAME=exec:TEMPLATE"},
    {"x=exec:", "exec needs a command: NAME=exec:TEMPLATE"},
    {"x=exec:'unterminated", "bad command: unterminated single quote"},
    {"x=exec:{query} a", "bad command: the program name may not contain {query}"},
    {"x=http:http://x", "unknown source type 'http' (exec or synthetic)"},
    {"x=", "unknown source type '' (exec or synthetic)"},
    {"x=synthetic:parts", "expected KEY=VALUE, got 'parts'"},
    {"x=synthetic:parts=3,size", "expected KEY=VALUE, got 'size'"},
    {"x=synthetic:parts=-1", "parts must be an integer in 0..1000000000"},
    {"x=synthetic:parts=", "parts must be an integer in 0..1000000000"},
    {"x=synthetic:parts= 1", "parts must be an integer in 0..1000000000"},
    {"x=synthetic:parts=1000000001", "parts must be an integer in 0..1000000000"},
    {"x=synthetic:size=1", "size must be an integer in 2..16777216"},
    {"x=synthetic:delay_msec=86400001", "delay_msec must be an integer in 0..86400000"},
    {"x=synthetic:fail_first=1001", "fail_first must be an integer in 0..1000"},
    {"x=synthetic:fail_first=99999999999999999999999", "fail_first must be an integer in 0..1000"},
    {"x=synthetic:color=red", "unknown synthetic setting 'color'"},
    {"x=synthetic:,", "expected KEY=VALUE, got ''"},
};

static void
test_flag_refusals(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_bad_flags / sizeof s_bad_flags[0]; i++) {
        char err[256] = "";
        braid_source_t *source = braid_source_from_flag(s_bad_flags[i].spec, err, sizeof err);
        if (source || strcmp(err, s_bad_flags[i].why))
            print_error("case %zu '%s': got '%s'\n", i, s_bad_flags[i].spec, err);
        assert_null(source);
        assert_string_equal(err, s_bad_flags[i].why);
    }
}

/*  Parse text as a config file and make a source of its first section
    under "source". NULL with the reason in err.                           */
static braid_source_t *
s_from_conf(const char *text, char *err, size_t errsize)
{
    braid_conf_t *conf = braid_conf_parse(text, strlen(text), "w.cfg", err, errsize);
    if (!conf)
        print_error("conf: %s\n", err);
    assert_non_null(conf);
    braid_conf_t *node = braid_conf_child(braid_conf_locate(conf, "source"));
    assert_non_null(node);
    braid_source_t *source = braid_source_from_conf(node, err, errsize);
    braid_conf_destroy(&conf);
    return source;
}

static const s_bad_t s_bad_confs[] = {
    {"source\n    a@b\n        type = exec\n",
     "w.cfg:2: source name must be 1..64 bytes of [A-Za-z0-9_.-]"},
    {"source\n    x\n        command = true\n", "w.cfg:2: source 'x' has no type"},
    {"source\n    x\n        type = http\n",
     "w.cfg:3: unknown source type 'http' (exec or synthetic)"},
    {"source\n    x\n        type\n", "w.cfg:3: unknown source type '' (exec or synthetic)"},
    {"source\n    x\n        type = exec\n", "w.cfg:2: exec source 'x' has no command"},
    {"source\n    x\n        type = exec\n        command\n", "w.cfg:4: 'command' needs a value"},
    {"source\n    x\n        type = exec\n        command = \"a 'b\"\n",
     "w.cfg:4: bad command: unterminated single quote"},
    {"source\n    x\n        type = exec\n        command = true\n        output = words\n",
     "w.cfg:5: output must be lines or chunks"},
    {"source\n    x\n        type = exec\n        command = true\n        transient_exit = 0\n",
     "w.cfg:5: transient_exit must be a comma list of exit statuses 1..255, or none"},
    {"source\n    x\n        type = exec\n        command = true\n"
     "        transient_exit = 75,,3\n",
     "w.cfg:5: transient_exit must be a comma list of exit statuses 1..255, or none"},
    {"source\n    x\n        type = exec\n        command = true\n"
     "        transient_exit = 256\n",
     "w.cfg:5: transient_exit must be a comma list of exit statuses 1..255, or none"},
    {"source\n    x\n        type = exec\n        command = true\n        parts = 3\n",
     "w.cfg:5: unknown setting 'parts' for an exec source"},
    {"source\n    x\n        type = exec\n        command = true\n            deep = 1\n",
     "w.cfg:5: 'command' takes no sub-settings"},
    {"source\n    x\n        type = synthetic\n        parts = x\n",
     "w.cfg:4: parts must be an integer in 0..1000000000"},
    {"source\n    x\n        type = synthetic\n        command = true\n",
     "w.cfg:4: unknown synthetic setting 'command'"},
    {"source\n    x\n        type = synthetic\n        size = 1\n",
     "w.cfg:4: size must be an integer in 2..16777216"},
};

static void
test_conf_refusals(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_bad_confs / sizeof s_bad_confs[0]; i++) {
        char err[256] = "";
        braid_source_t *source = s_from_conf(s_bad_confs[i].spec, err, sizeof err);
        if (source || strcmp(err, s_bad_confs[i].why))
            print_error("case %zu: got '%s'\n", i, err);
        assert_null(source);
        assert_string_equal(err, s_bad_confs[i].why);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_refusals),
        cmocka_unit_test(test_conf_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
