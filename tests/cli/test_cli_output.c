/*  test_cli_output.c - issue 9, acceptance 4: the client's output cannot be
    corrupted or forged by what a task prints.

      - `braid submit --json`: a partial holding 0xFF, NUL and an ESC byte,
        one holding NUL and ESC in otherwise valid UTF-8 (é), and a plain
        line; Python's json module (the real /usr/bin/python3, reading the
        client's stdout from a file) decodes each, with data_b64 where the
        line has it, back to exactly the bytes the task printed.
      - text mode: a task whose stderr holds a newline and a forged line
        `braid: query 7 (x) source sh: ok` fails with exactly one line on
        the client's stderr, and no line of it starts with the forgery.
*/

#include "fault.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RUN_MSEC 30000

static const braid_fixture_def_t s_def = {
    .name = "braid-cli-output",
    .workers = 1,
    .slots = 2,
    .specs = {"sh=exec:sh -c {query}"},
};

/*  Each partial line of the --json output in argv[1] as "QUERY:HEX" (its
    bytes), one a line; data_b64 when the line has it, else data.          */
static const char s_decode[] =
    "import base64, json, sys\n"
    "for line in open(sys.argv[1], encoding='utf-8'):\n"
    "    j = json.loads(line)\n"
    "    if j['type'] != 'partial':\n"
    "        continue\n"
    "    if 'data_b64' in j:\n"
    "        assert 'data' not in j\n"
    "        b = base64.b64decode(j['data_b64'], validate=True)\n"
    "    else:\n"
    "        b = j['data'].encode('utf-8')\n"
    "    print('%d:%s' % (j['query'], b.hex()))\n";

static void
test_json_lossless(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"--json", "-s", "sh",
                          "printf 'x\\377\\000\\033y'",
                          "printf 'a\\000\\033b\\303\\251'",
                          "echo plain", NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, S_RUN_MSEC, 0, &client, &code) != 0)
        fail_msg("client not done within %d ms", S_RUN_MSEC);
    size_t len = 0;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    braid_proc_destroy(&client);
    assert_non_null(out);
    print_message("client exit %d:\n%s", code, out);
    assert_int_equal(code, 0);
    assert_non_null(strstr(out, "\"data_b64\":"));     /* the 0xFF partial  */
    char *path = braid_path(f->dir, "out.jsonl");
    assert_int_equal(braid_file_write(path, out, len, 0644), 0);
    free(out);

    const char *py[] = {"/usr/bin/python3", "-c", s_decode, path, NULL};
    braid_proc_t *proc = braid_proc_spawn(f->dir, "decode", py, NULL);
    assert_non_null(proc);
    assert_int_equal(braid_proc_finish(proc, S_RUN_MSEC, &code), 0);
    char *decoded = braid_proc_output(proc, BRAID_STDOUT, NULL);
    char *err = braid_proc_output(proc, BRAID_STDERR, NULL);
    braid_proc_destroy(&proc);
    assert_non_null(decoded);
    assert_non_null(err);
    print_message("python3 (exit %d):\n%s%s", code, decoded, err);
    assert_int_equal(code, 0);
    /*  One partial each (a chunk of printf's one write); 'x' ff 00 1b 'y'. */
    assert_int_equal(fault_count_lines(decoded, ":"), 3);
    assert_int_equal(fault_count_lines(decoded, "0:78ff001b79"), 1);
    assert_int_equal(fault_count_lines(decoded, "1:61001b62c3a9"), 1);
    assert_int_equal(fault_count_lines(decoded, "2:706c61696e0a"), 1);
    free(decoded);
    free(err);
    free(path);
}

static void
test_error_one_line(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"-s", "sh",
                          "printf 'bad\\nbraid: query 7 (x) source sh: ok\\n\\033[2J' >&2; exit 3",
                          NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, S_RUN_MSEC, 1, &client, &code) != 0)
        fail_msg("client not done within %d ms", S_RUN_MSEC);
    char *err = braid_proc_output(client, BRAID_STDERR, NULL);
    braid_proc_destroy(&client);
    assert_non_null(err);
    print_message("client exit %d, stderr:\n%s", code, err);
    assert_int_equal(code, 1);
    /*  One line, ending in a newline, and it is the report of query 0.     */
    assert_int_equal(fault_count_lines(err, ""), 1);
    size_t len = strlen(err);
    assert_true(len > 0 && err[len - 1] == '\n');
    assert_int_equal(strncmp(err, "braid: query 0 (", 16), 0);
    assert_non_null(strstr(err, "failed: exit status 3: bad"));
    assert_null(strchr(err, '\033'));
    free(err);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_json_lossless, s_def),
        FAULT_FIXTURE_TEST(test_error_one_line, s_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
