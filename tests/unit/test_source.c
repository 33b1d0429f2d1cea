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
    {"x=gopher:gopher://x", "unknown source type 'gopher' (exec, synthetic or http)"},
    {"x=", "unknown source type '' (exec, synthetic or http)"},
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
    {"x=http", "http needs a URL: NAME=http:URL"},
    {"x=http:", "http needs a URL: NAME=http:URL"},
    {"x=http:ftp://h/{query}", "url must start with http:// or https://"},
    {"x=http:http://", "url must start with http:// or https://"},
    {"x=http:http://h/a b", "url may not hold spaces or control characters"},
    {"x=http:http://{query}/", "url may hold {query} only after its host"},
    {"x=http:https://api.{query}.example.com", "url may hold {query} only after its host"},
    {"x=http:http://h:{query}/x", "url may hold {query} only after its host"},
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
    {"source\n    x\n        type = gopher\n",
     "w.cfg:3: unknown source type 'gopher' (exec, synthetic or http)"},
    {"source\n    x\n        type\n",
     "w.cfg:3: unknown source type '' (exec, synthetic or http)"},
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
    {"source\n    x\n        type = exec\n        command = true\n        env\n"
     "            A = 1\n",
     "w.cfg:6: unknown setting 'env/A' for an exec source"},
    /*  http: each refusal names the line of its key (or the section).     */
    {"source\n    x\n        type = http\n", "w.cfg:2: http source 'x' has no url"},
    {"source\n    x\n        type = http\n        url = https://h\n        color = red\n",
     "w.cfg:5: unknown setting 'color' for an http source"},
    {"source\n    x\n        type = http\n        url = https://h\n        output = words\n",
     "w.cfg:5: output must be lines, chunks or sse"},
    {"source\n    x\n        type = http\n        url = https://h\n        method = PUT\n",
     "w.cfg:5: method must be GET or POST"},
    {"source\n    x\n        type = http\n        url = https://h\n        method = GET\n"
     "        body = x\n",
     "w.cfg:2: http source 'x': a GET request has no body"},
    {"source\n    x\n        type = http\n        url = https://h\n        sse_done = x\n",
     "w.cfg:2: http source 'x': sse_done needs output = sse"},
    {"source\n    x\n        type = http\n        url = https://h\n"
     "        insecure_skip_tls_verify = 1\n",
     "w.cfg:5: insecure_skip_tls_verify must be yes or no"},
    {"source\n    x\n        type = http\n        url = https://h\n"
     "        connect_timeout_msec = 0\n",
     "w.cfg:5: connect_timeout_msec must be an integer in 1..604800000"},
    {"source\n    x\n        type = http\n        url = https://h\n"
     "        max_response_bytes = -1\n",
     "w.cfg:5: max_response_bytes must be an integer, 0 for no limit"},
    {"source\n    x\n        type = http\n        url = https://h\n        header = nocolon\n",
     "w.cfg:5: header must be \"Name: value\""},
    {"source\n    x\n        type = http\n        url = https://h\n        header = \"a b: c\"\n",
     "w.cfg:5: header name 'a b' is not an HTTP token"},
    {"source\n    x\n        type = http\n        url = https://h\n        header\n"
     "            X-Key = \"${BRAID_TEST_SOURCE_UNSET}\"\n",
     "w.cfg:6: header X-Key: environment variable BRAID_TEST_SOURCE_UNSET is not set"},
    {"source\n    x\n        type = http\n        url = https://h\n        header\n"
     "            X-Key = \"${1X}\"\n",
     "w.cfg:6: header X-Key: bad ${NAME} at '${1X}'"},
    {"source\n    x\n        type = http\n        url = https://h\n        header\n"
     "            X-Key = \"${BRAID_TEST_SOURCE_CRLF}\"\n",
     "w.cfg:6: header X-Key: the value holds a line break"},
    {"source\n    x\n        type = http\n        url = https://h\n        header = \"a: b\"\n"
     "            X-Key = 1\n",
     "w.cfg:6: 'header' takes no sub-settings"},
    {"source\n    x\n        type = http\n        url = https://h\n        header\n"
     "            X-Key\n",
     "w.cfg:6: 'header/X-Key' needs a value"},
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
    unsetenv("BRAID_TEST_SOURCE_UNSET");
    setenv("BRAID_TEST_SOURCE_CRLF", "a\r\nInjected: 1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_refusals),
        cmocka_unit_test(test_conf_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
