/*  test_cli_shell.c - issue 11: the rest of the CLI from the shell.

    echo.sh SOURCE QUERY prints "SOURCE:QUERY 1" and "SOURCE:QUERY 2".

      - --tag: each output line starts with its query and a tab, and with
        the source and a tab when the job asks two sources; the output is
        otherwise the sequential run's.
      - durations: -t 2s and -d 1.5m are taken; -t 5x is a usage error.
      - usage errors: exit 2 and exactly one line on stderr, pointing to
        --help.
      - a source nobody serves: "braid: job refused by EP: 400 ..." naming
        the source, exit 3; a broker nobody answers for: "braid: broker
        unreachable: ...", exit 3.
      - braid workers and braid jobs against the real broker: the lists
        when its stats carry them (the h-ops branch), else a clear "does
        not list" and exit 3.
      - braid workers and braid jobs against a scripted broker (a ROUTER
        in this test answering STATS): the table and the --json array of
        what it sends, and the clear message when the lists are missing.
*/

#include "fault.h"
#include "braid_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_RUN_MSEC 30000

static const char s_script[] = "#!/bin/sh\n"
                               "# echo.sh SOURCE QUERY: two lines\n"
                               "echo \"$1:$2 1\"\n"
                               "echo \"$1:$2 2\"\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-cli-shell",
    .script_name = "echo.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 2,
    .specs = {"a=exec:'%s' a {query}", "b=exec:'%s' b {query}"},
};

/*  What a command came to.                                                 */
typedef struct {
    int code;
    char *out;
    char *err;
} t_result_t;

static void
s_result_free(t_result_t *r)
{
    free(r->out);
    free(r->err);
}

/*  Run argv (argv[0] the CLI) to its end, its logs in dir.                 */
static t_result_t
s_run(const char *dir, const char *name, const char *const argv[])
{
    braid_proc_t *p = braid_proc_spawn(dir, name, argv, NULL);
    assert_non_null(p);
    t_result_t r = {.code = -1};
    if (braid_proc_finish(p, S_RUN_MSEC, &r.code) != 0) {
        braid_proc_dump(p, 2000);
        braid_proc_destroy(&p);
        fail_msg("%s: not done within %d ms", name, S_RUN_MSEC);
    }
    r.out = braid_proc_output(p, BRAID_STDOUT, NULL);
    r.err = braid_proc_output(p, BRAID_STDERR, NULL);
    braid_proc_destroy(&p);
    assert_non_null(r.out);
    assert_non_null(r.err);
    return r;
}

/*  braid submit -b FRONTEND args...                                        */
static t_result_t
s_submit(braid_fixture_t *f, const char *name, const char *const args[])
{
    const char *argv[32] = {BRAID_CLI_PATH, "submit", "-b", f->cluster->frontend};
    size_t n = 4;
    for (size_t i = 0; args[i]; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return s_run(f->dir, name, argv);
}

static void
test_tag(void **state)
{
    braid_fixture_t *f = *state;
    const char *one[] = {"-s", "a", "--tag", "x", "y z", NULL};
    t_result_t r = s_submit(f, "tag1", one);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "x\ta:x 1\nx\ta:x 2\ny z\ta:y z 1\ny z\ta:y z 2\n");
    s_result_free(&r);
    const char *two[] = {"-s", "a", "-s", "b", "--tag", "x", "y", NULL};
    r = s_submit(f, "tag2", two);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "x\ta\ta:x 1\nx\ta\ta:x 2\nx\tb\tb:x 1\nx\tb\tb:x 2\n"
                               "y\ta\ta:y 1\ny\ta\ta:y 2\ny\tb\tb:y 1\ny\tb\tb:y 2\n");
    s_result_free(&r);
    /*  Without --tag, the plain sequential output.                         */
    const char *plain[] = {"-s", "a", "-s", "b", "x", NULL};
    r = s_submit(f, "plain", plain);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "a:x 1\na:x 2\nb:x 1\nb:x 2\n");
    s_result_free(&r);
}

static void
test_durations(void **state)
{
    braid_fixture_t *f = *state;
    const char *units[] = {"-s", "a", "-t", "2s", "-d", "1.5m", "-T", "5s", "x", NULL};
    t_result_t r = s_submit(f, "units", units);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "a:x 1\na:x 2\n");
    s_result_free(&r);
}

/*  One line on stderr, ending in "see braid COMMAND --help", exit 2.       */
static void
test_usage_errors(void **state)
{
    const char *dir = *state;
    static const struct {
        const char *argv[8];
        const char *says;
    } cases[] = {
        {{"submit", "-s", "a", "-t", "5x", "q", NULL}, "bad --timeout '5x'"},
        {{"submit", "-s", "a", "-d", "1.5", "q", NULL}, "bad --deadline '1.5'"},
        {{"submit", "-s", "a", "--bogus", "q", NULL}, "unknown option '--bogus'"},
        {{"submit", "-s", "a", "-x", "q", NULL}, "unknown option '-x'"},
        {{"submit", "-s", NULL}, "option '-s' needs a value"},
        {{"submit", "--json=1", "-s", "a", "q", NULL}, "bad option '--json=1'"},
        {{"submit", "q", NULL}, "at least one source"},
        {{"submit", "-s", "a", "--resume", "q", NULL}, "--joblog"},
        {{"submit", "-s", "a", "--tag", "--json", "q", NULL}, "--tag"},
        {{"submit", "-s", "a", "-o", "sideways", "q", NULL}, "bad order"},
        {{"workers", "extra", NULL}, "unexpected argument 'extra'"},
        {{"jobs", "-T", "0", NULL}, "bad --connect-timeout '0'"},
        {{"frob", NULL}, "unknown command 'frob'"},
        {{NULL}, "a command is required"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[10] = {BRAID_CLI_PATH};
        size_t n = 1;
        for (size_t j = 0; cases[i].argv[j]; j++)
            argv[n++] = cases[i].argv[j];
        argv[n] = NULL;
        char name[32];
        snprintf(name, sizeof name, "usage%zu", i);
        t_result_t r = s_run(dir, name, argv);
        char want_help[64];
        snprintf(want_help, sizeof want_help, "; see braid %s%s--help\n",
                 cases[i].argv[0] && strcmp(cases[i].argv[0], "frob") != 0 ? cases[i].argv[0]
                                                                           : "",
                 cases[i].argv[0] && strcmp(cases[i].argv[0], "frob") != 0 ? " " : "");
        size_t len = strlen(r.err), hlen = strlen(want_help);
        if (r.code != 2 || !strstr(r.err, cases[i].says) ||
            strchr(r.err, '\n') != r.err + len - 1 || len < hlen ||
            strcmp(r.err + len - hlen, want_help) != 0)
            fail_msg("case %zu: exit %d, stderr [%s]: want exit 2, one line saying '%s' and "
                     "ending '%s'",
                     i, r.code, r.err, cases[i].says, want_help);
        s_result_free(&r);
    }
}

static void
test_refused_and_unreachable(void **state)
{
    braid_fixture_t *f = *state;
    const char *nobody[] = {"-s", "nosuch", "q", NULL};
    t_result_t r = s_submit(f, "refused", nobody);
    print_message("refused: %s", r.err);
    assert_int_equal(r.code, 3);
    char want[128];
    snprintf(want, sizeof want, "braid: job refused by %s: 400 ", f->cluster->frontend);
    assert_non_null(strstr(r.err, want));
    assert_non_null(strstr(r.err, "'nosuch'"));
    s_result_free(&r);

    int port = braid_free_port();
    assert_true(port > 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    const char *argv[] = {BRAID_CLI_PATH, "submit", "-b", ep, "-T", "300ms", "-s", "a", "q", NULL};
    r = s_run(f->dir, "unreachable", argv);
    print_message("unreachable: %s", r.err);
    assert_int_equal(r.code, 3);
    snprintf(want, sizeof want, "braid: broker unreachable: %s: no answer within 300 msec", ep);
    assert_non_null(strstr(r.err, want));
    s_result_free(&r);
}

/*  braid workers / jobs against the cluster's broker: the lists if its
    stats carry them, else the clear message.                              */
static void
test_real_broker_lists(void **state)
{
    braid_fixture_t *f = *state;
    json_t *stats = fault_stats(f->cluster, NULL);
    assert_non_null(stats);
    bool listed = json_is_array(json_object_get(stats, "worker_list"));
    json_decref(stats);
    const char *workers[] = {BRAID_CLI_PATH, "workers", "-b", f->cluster->frontend, NULL};
    t_result_t r = s_run(f->dir, "workers", workers);
    print_message("braid workers: exit %d\n%s%s", r.code, r.out, r.err);
    if (listed) {
        assert_int_equal(r.code, 0);
        assert_non_null(strstr(r.out, "NAME"));
        assert_non_null(strstr(r.out, "\nw1 "));
        assert_non_null(strstr(r.out, "\nw2 "));
    } else {
        assert_int_equal(r.code, 3);
        assert_non_null(strstr(r.err, "does not list its workers"));
    }
    s_result_free(&r);
    const char *jobs[] = {BRAID_CLI_PATH, "jobs", "--json", "-b", f->cluster->frontend, NULL};
    r = s_run(f->dir, "jobs", jobs);
    if (listed) {
        assert_int_equal(r.code, 0);
        assert_string_equal(r.out, "[]\n");     /* no job open              */
    } else {
        assert_int_equal(r.code, 3);
        assert_non_null(strstr(r.err, "does not list its jobs"));
    }
    s_result_free(&r);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

/*  ---------------------------------------------------------------------
    A scripted broker: answers STATS with a given text                      */

/*  Run argv (whose -b is the scripted broker) while answering each STATS
    with json, until it ends.                                               */
static t_result_t
s_run_scripted(const char *dir, zsock_t *router, const char *const argv[], const char *json)
{
    braid_proc_t *p = braid_proc_spawn(dir, "scripted", argv, NULL);
    assert_non_null(p);
    zpoller_t *poller = zpoller_new(router, NULL);
    assert_non_null(poller);
    int64_t deadline = braid_now_msec() + S_RUN_MSEC;
    while (!braid_proc_exited(p) && braid_now_msec() < deadline) {
        if (!zpoller_wait(poller, 100))
            continue;       /* the client may be done: look again          */
        braid_msg_t msg;
        zframe_t *routing = NULL;
        zmsg_t *payload = NULL;
        braid_err_t err;
        int rc = braid_msg_recv(zsock_resolve(router), true, BRAID_CH_CLIENT, &msg, &routing,
                                &payload, &err);
        zmsg_destroy(&payload);
        if (rc == 0 && msg.type == BRAID_MSG_STATS) {
            braid_msg_t reply;
            braid_msg_init(&reply, BRAID_MSG_STATS_REPLY);
            zmsg_t *text = zmsg_new();
            zmsg_addmem(text, json, strlen(json));
            assert_int_equal(
                braid_msg_send(zsock_resolve(router), routing, &reply, &text, false), 0);
        }
        zframe_destroy(&routing);
    }
    zpoller_destroy(&poller);
    t_result_t r = {.code = -1};
    if (braid_proc_finish(p, S_RUN_MSEC, &r.code) != 0) {
        braid_proc_destroy(&p);
        fail_msg("the client is not done within %d ms", S_RUN_MSEC);
    }
    r.out = braid_proc_output(p, BRAID_STDOUT, NULL);
    r.err = braid_proc_output(p, BRAID_STDERR, NULL);
    braid_proc_destroy(&p);
    return r;
}

static void
test_scripted_lists(void **state)
{
    const char *dir = *state;
    int port = braid_free_port();
    assert_true(port > 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    zsock_t *router = zsock_new_router(ep);
    assert_non_null(router);
    static const char lists[] =
        "{\"workers\":1,\"worker_list\":[{\"name\":\"w-far\",\"host\":\"box9\",\"pid\":77,"
        "\"version\":\"0.1.0\",\"slots\":4,\"running\":3,\"queued\":1,\"sources\":[\"web\"],"
        "\"last_heartbeat_msec\":450}],"
        "\"job_list\":[{\"id\":\"0123456789abcdef0123456789abcdef\",\"client\":\"c7\","
        "\"order\":\"arrival\",\"queries\":50,\"queries_done\":20,\"tasks\":50,"
        "\"tasks_done\":21,\"in_flight\":3,\"age_msec\":65000}]}";
    const char *workers[] = {BRAID_CLI_PATH, "workers", "-b", ep, NULL};
    t_result_t r = s_run_scripted(dir, router, workers, lists);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out,
                        "NAME   HOST  PID  SLOTS  RUNNING  QUEUED  SOURCES  HEARTBEAT  VERSION\n"
                        "w-far  box9   77      4        3       1  web      0.4s ago   0.1.0\n");
    s_result_free(&r);
    const char *workers_json[] = {BRAID_CLI_PATH, "workers", "--json", "-b", ep, NULL};
    r = s_run_scripted(dir, router, workers_json, lists);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "[{\"name\":\"w-far\",\"host\":\"box9\",\"pid\":77,\"version\":"
                               "\"0.1.0\",\"slots\":4,\"running\":3,\"queued\":1,\"sources\":"
                               "[\"web\"],\"last_heartbeat_msec\":450}]\n");
    s_result_free(&r);
    const char *jobs[] = {BRAID_CLI_PATH, "jobs", "-b", ep, NULL};
    r = s_run_scripted(dir, router, jobs, lists);
    assert_int_equal(r.code, 0);
    assert_string_equal(r.out, "ID                                CLIENT  QUERIES  TASKS  IN FLIGHT"
                               "  AGE    ORDER\n"
                               "0123456789abcdef0123456789abcdef  c7      20/50    21/50          3"
                               "  1m05s  arrival\n");
    s_result_free(&r);
    /*  An older broker: no lists.                                          */
    r = s_run_scripted(dir, router, jobs, "{\"workers\":1}");
    assert_int_equal(r.code, 3);
    assert_string_equal(r.out, "");
    assert_non_null(strstr(r.err, "does not list its jobs (no \"job_list\""));
    s_result_free(&r);
    zsock_destroy(&router);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_FIXTURE_TEST(test_tag, s_def),
        BRAID_FIXTURE_TEST(test_durations, s_def),
        BRAID_TMPDIR_TEST(test_usage_errors, "braid-cli-usage"),
        BRAID_FIXTURE_TEST(test_refused_and_unreachable, s_def),
        BRAID_FIXTURE_TEST(test_real_broker_lists, s_def),
        BRAID_TMPDIR_TEST(test_scripted_lists, "braid-cli-scripted"),
    };
    return cmocka_run_group_tests_name("cli_shell", tests, NULL, NULL);
}
