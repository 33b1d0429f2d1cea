/*  test_config.c - the broker's config file (config.c): defaults, every
    kind of key, the bounds, and one error per malformed case with its
    FILE:LINE.                                                              */

#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/*  Write text to a temp file; returns its path (owned).                    */
static char *
s_file(const char *text)
{
    char *path = strdup("/tmp/braid-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
    close(fd);
    return path;
}

/*  Load text over the defaults into *cfg; 0 / -1 with err.                 */
static int
s_load(const char *text, braid_broker_config_t *cfg, braid_conf_t **conf_p, char *err,
       size_t errsize)
{
    char *path = s_file(text);
    braid_broker_config_defaults(cfg);
    int rc = braid_broker_config_load(path, cfg, conf_p, err, errsize);
    unlink(path);
    free(path);
    return rc;
}

static void
test_defaults(void **state)
{
    (void) state;
    braid_broker_config_t cfg;
    braid_broker_config_defaults(&cfg);
    assert_string_equal(cfg.frontend, "tcp://127.0.0.1:5555");
    assert_int_equal(cfg.max_jobs_per_client, 64);
    assert_int_equal(cfg.max_tasks_per_job, BRAID_MAX_QUERIES);
    assert_int_equal(cfg.heartbeat_msec, 1000);
    assert_int_equal(cfg.drain_msec, 30000);
    assert_int_equal(cfg.window, BRAID_BROKER_WINDOW);
    assert_int_equal(cfg.window_bytes, BRAID_BROKER_WINDOW_BYTES);
    assert_int_equal(cfg.max_jobs, BRAID_BROKER_MAX_JOBS);
    assert_int_equal(cfg.max_tasks, BRAID_BROKER_MAX_TASKS);
    assert_int_equal(cfg.max_buffered_bytes, BRAID_BROKER_MAX_BUFFERED_BYTES);
    assert_int_equal(cfg.credit_bytes, 2ull * BRAID_CLIENT_WINDOW_BYTES);
    assert_int_equal(cfg.max_job_buffered_bytes, BRAID_BROKER_MAX_JOB_BUFFERED_BYTES);
    assert_int_equal(cfg.max_workers, 4096);
    assert_int_equal(cfg.npolicies, 0);
    assert_null(cfg.metrics);                   /* no endpoint unless asked */
    assert_int_equal(cfg.default_policy.retries, 2);
    assert_ptr_equal(braid_broker_config_policy(&cfg, "web"), &cfg.default_policy);
    assert_int_equal(cfg.orphan_msec, 30000);
    assert_int_equal(cfg.default_policy.orphan_msec, BRAID_POLICY_ORPHAN_BROKER);
}

static void
test_every_kind_of_key(void **state)
{
    (void) state;
    static braid_broker_config_t cfg;
    braid_conf_t *conf = NULL;
    char err[256] = "";
    const char *text = "broker\n"
                       "    frontend = \"ipc:///tmp/f\"\n"
                       "    sink = ipc:///tmp/s\n"
                       "    max_tasks_per_job = 12345\n"
                       "    drain_msec = 86400000\n"
                       "    window = 16\n"
                       "    max_jobs = 3\n"
                       "    max_tasks = 1000000000\n"
                       "    max_buffered_bytes = 1048576\n"
                       "    credit_bytes = 65536\n"
                       "    metrics = \"127.0.0.1:9464\"\n"
                       "    orphan_msec = 2000\n"
                       "source\n"
                       "    web\n"
                       "        max_concurrent = 8\n"
                       "        rate = 2.5\n"
                       "        on_retry = restart\n"
                       "        timeout_msec = 604800000\n"
                       "        orphan_msec = 0\n"
                       "    grep\n"
                       "        retries = 0\n";
    assert_int_equal(s_load(text, &cfg, &conf, err, sizeof err), 0);
    assert_string_equal(cfg.frontend, "ipc:///tmp/f");
    assert_string_equal(cfg.backend, "tcp://127.0.0.1:5556");      /* kept    */
    assert_string_equal(cfg.sink, "ipc:///tmp/s");
    assert_int_equal(cfg.max_tasks_per_job, 12345);
    assert_int_equal(cfg.drain_msec, BRAID_BROKER_MAX_DRAIN_MSEC);
    assert_int_equal(cfg.window, 16);
    assert_int_equal(cfg.max_jobs, 3);
    assert_int_equal(cfg.max_tasks, 1000000000);
    assert_int_equal(cfg.max_buffered_bytes, 1048576);
    assert_int_equal(cfg.credit_bytes, 65536);
    assert_string_equal(cfg.metrics, "127.0.0.1:9464");
    assert_int_equal(cfg.max_jobs_per_client, 64);                  /* default */
    assert_int_equal(cfg.npolicies, 2);
    const braid_policy_t *web = braid_broker_config_policy(&cfg, "web");
    assert_string_equal(cfg.policies[0].name, "web");
    assert_int_equal(web->max_concurrent, 8);
    assert_true(web->rate == 2.5);
    assert_int_equal(web->on_retry, BRAID_ON_RETRY_RESTART);
    assert_int_equal(web->timeout_msec, BRAID_MAX_MSEC);
    assert_int_equal(web->retries, 2);          /* from the default policy */
    assert_int_equal(cfg.orphan_msec, 2000);
    assert_int_equal(web->orphan_msec, 0);      /* its own: fail at once   */
    const braid_policy_t *grep = braid_broker_config_policy(&cfg, "grep");
    assert_int_equal(grep->retries, 0);
    assert_int_equal(grep->max_concurrent, 0);
    assert_int_equal(grep->orphan_msec, BRAID_POLICY_ORPHAN_BROKER);    /* the broker's */
    assert_ptr_equal(braid_broker_config_policy(&cfg, "docs"), &cfg.default_policy);
    braid_conf_destroy(&conf);
}

/*  One malformed case a row: the file, and the error it must give.         */
static const struct {
    const char *text;
    const char *error;
} s_bad[] = {
    {"broker\n    window = 0\n", ":2: window must be an integer in 1..1000000"},
    {"broker\n    window = \"\"\n", ":2: window must be an integer in 1..1000000"},
    {"broker\n    window_bytes = 4294967297\n", ":2: window_bytes must be an integer in 0..4294967296"},
    {"broker\n    window = -1\n", ":2: window must be an integer in 1..1000000"},
    {"broker\n    max_jobs = 0\n", ":2: max_jobs must be an integer in 1..1000000"},
    {"broker\n    max_tasks = 0\n", ":2: max_tasks must be an integer in 1..1000000000"},
    {"broker\n    max_buffered_bytes = 1048575\n",
     ":2: max_buffered_bytes must be an integer in 1048576..1099511627776"},
    {"broker\n    credit_bytes = 65535\n", ":2: credit_bytes must be an integer in 65536..4294967296"},
    {"broker\n    drain_msec = 86400001\n", ":2: drain_msec must be an integer in 0..86400000"},
    {"broker\n    max_tasks_per_job = 10000001\n",
     ":2: max_tasks_per_job must be an integer in 1..10000000"},
    {"broker\n    heartbeat_msec = 1e3\n", ":2: heartbeat_msec must be an integer in 10..60000"},
    {"broker\n    frontend = \"\"\n", ":2: frontend needs an endpoint"},
    {"broker\n    backend\n", ":2: backend needs an endpoint"},
    {"broker\n    bogus = 1\n", ":2: unknown key 'bogus' in section broker"},
    {"broker\n    sink = 127.0.0.1:5557\n", ":2: sink: '127.0.0.1:5557' is not an endpoint"},
    {"broker\n    frontend = \"tcp://\"\n", ":2: frontend: 'tcp://' is not an endpoint"},
    {"broker\n    metrics = 9464\n", ":2: metrics address '9464': want HOST:PORT"},
    {"broker\n    metrics = localhost:9464\n", ":2: metrics address: 'localhost' is not a numeric"},
    {"broker\n    metrics = 127.0.0.1:65536\n", ":2: metrics address: bad port '65536'"},
    {"broker\n    metrics = \"[::1:9464\"\n", ":2: metrics address '[::1:9464': want [IPV6]:PORT"},
    {"broker\n    metrics\n", ":2: metrics needs HOST:PORT"},
    {"worker\n    slots = 1\n", ":1: unknown section 'worker' (expected broker or source)"},
    {"source\n    w@b\n        retries = 1\n", ":2: bad source name 'w@b'"},
    {"source\n    web\n        timeout_msec = 604800001\n",
     ":3: timeout_msec must be an integer in 0..604800000"},
    {"source\n    web\n        rate = fast\n", ":3: rate must be 0 (no limit) or a number"},
    {"source\n    web\n        rate = -1\n", ":3: rate must be 0 (no limit) or a number"},
    /*  Finite and bounded (a NaN passed every comparison and hung the
        source; 1e-300 overflowed the token wait and spun the broker).    */
    {"source\n    web\n        rate = nan\n", ":3: rate must be 0 (no limit) or a number"},
    {"source\n    web\n        rate = inf\n", ":3: rate must be 0 (no limit) or a number"},
    {"source\n    web\n        rate = 1e-300\n", ":3: rate must be 0 (no limit) or a number"},
    {"source\n    web\n        rate = 0x10\n", ":3: rate must be 0 (no limit) or a number"},
    {"source\n    web\n        rate = 2e9\n", ":3: rate must be 0 (no limit) or a number"},
    {"source\n    web\n        on_retry = never\n", ":3: on_retry must be resume, restart or fail"},
    {"broker\n    orphan_msec = 604800001\n", ":2: orphan_msec must be an integer in 0..604800000"},
    {"source\n    web\n        burst = 0\n", ":3: burst must be an integer in 1..1000000"},
    {"source\n    web\n        zz = 1\n", ":3: unknown key 'zz' in a source policy"},
};

static void
test_bad_files(void **state)
{
    (void) state;
    static braid_broker_config_t cfg;
    for (size_t i = 0; i < sizeof s_bad / sizeof s_bad[0]; i++) {
        braid_conf_t *conf = NULL;
        char err[256] = "";
        assert_int_equal(s_load(s_bad[i].text, &cfg, &conf, err, sizeof err), -1);
        if (!strstr(err, s_bad[i].error))
            fail_msg("case %zu: got '%s', want '...%s'", i, err, s_bad[i].error);
        assert_non_null(strstr(err, "/tmp/braid-test-config-"));
        braid_conf_destroy(&conf);
    }
}

static void
test_too_many_sources(void **state)
{
    (void) state;
    static braid_broker_config_t cfg;
    size_t size = 16 + (BRAID_BROKER_MAX_POLICIES + 1) * 32;
    char *text = malloc(size);
    size_t len = (size_t) snprintf(text, size, "source\n");
    for (int i = 0; i <= BRAID_BROKER_MAX_POLICIES; i++)
        len += (size_t) snprintf(text + len, size - len, "    s%d\n        retries = 1\n", i);
    braid_conf_t *conf = NULL;
    char err[256] = "";
    assert_int_equal(s_load(text, &cfg, &conf, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many sources (at most 256)"));
    braid_conf_destroy(&conf);
    free(text);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_kind_of_key),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_too_many_sources),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
