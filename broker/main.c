/*  main.c - braidd: flags, config, signals, exit codes. Thin glue.         */

#include "braid_conf.h"
#include "braid_log.h"
#include "braid_msg.h"
#include "broker.h"

#include <czmq.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#ifndef BRAID_VERSION
#define BRAID_VERSION "0.0.0"
#endif

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: braidd [options]\n"
            "  -c, --config FILE     config file (ZPL)\n"
            "  -f, --frontend EP     client endpoint to bind (default tcp://127.0.0.1:5555)\n"
            "  -w, --backend EP      worker control endpoint to bind (default "
            "tcp://127.0.0.1:5556)\n"
            "  -k, --sink EP         worker results endpoint to bind (default "
            "tcp://127.0.0.1:5557)\n"
            "  -D, --drain MSEC      on SIGTERM, let jobs drain this long (default 30000)\n"
            "  -v, --verbose         debug logging\n"
            "  -h, --help            this help\n"
            "  -V, --version         print the version\n");
}

/*  An unsigned config key: its name, where it goes, its bounds.            */
typedef struct {
    const char *name;
    size_t offset;
    uint64_t min, max;
} s_uint_key_t;

#define CFG_(NAME, MIN, MAX) {#NAME, offsetof(braid_broker_config_t, NAME), MIN, MAX}
static const s_uint_key_t s_broker_keys[] = {
    CFG_(max_jobs_per_client, 1, 100000),
    CFG_(max_queries_per_job, 1, BRAID_MAX_QUERIES),
    CFG_(heartbeat_msec, 10, 60000),
    CFG_(worker_liveness_msec, 20, 600000),
    CFG_(client_liveness_msec, 20, 600000),
    CFG_(ack_timeout_msec, 10, 600000),
    CFG_(drain_msec, 0, 86400000),
    CFG_(window, 1, 65536),
};

#define POL_(NAME, MIN, MAX) {#NAME, offsetof(braid_policy_t, NAME), MIN, MAX}
static const s_uint_key_t s_policy_keys[] = {
    POL_(max_concurrent, 0, 1000000), POL_(burst, 1, 1000000),
    POL_(retries, 0, BRAID_MAX_RETRIES), POL_(backoff_msec, 0, 3600000),
    POL_(backoff_max_msec, 0, 3600000),  POL_(timeout_msec, 0, 604800000),
};

/*  If key names one of keys, store its value into base. 1 stored, 0 not
    one of them, -1 bad value (err filled).                                 */
static int
s_uint_key(braid_conf_t *key, const s_uint_key_t *keys, size_t nkeys, void *base, char *err,
           size_t errsize)
{
    const char *name = braid_conf_name(key);
    for (size_t i = 0; i < nkeys; i++) {
        if (!streq(name, keys[i].name))
            continue;
        uint64_t v;
        uint32_t *dst = (uint32_t *) ((char *) base + keys[i].offset);
        if (braid_conf_uint(key, "", keys[i].min, keys[i].max, *dst, &v, err, errsize) != 0)
            return -1;
        *dst = (uint32_t) v;
        return 1;
    }
    return 0;
}

static int
s_load_policy(braid_conf_t *sec, braid_policy_t *policy, char *err, size_t errsize)
{
    for (braid_conf_t *key = braid_conf_child(sec); key; key = braid_conf_next(key)) {
        const char *name = braid_conf_name(key);
        const char *value = braid_conf_value(key);
        int rc = s_uint_key(key, s_policy_keys, sizeof s_policy_keys / sizeof s_policy_keys[0],
                            policy, err, errsize);
        if (rc < 0)
            return -1;
        if (rc > 0)
            continue;
        if (streq(name, "rate")) {
            char *end = NULL;
            double rate = value ? strtod(value, &end) : -1;
            if (!value || !*value || *end || rate < 0 || rate > 1e9) {
                braid_conf_error(key, err, errsize, "rate must be a number of tasks per second");
                return -1;
            }
            policy->rate = rate;
        } else if (streq(name, "on_retry")) {
            int v = value ? braid_on_retry_parse(value) : -1;
            if (v < 0) {
                braid_conf_error(key, err, errsize, "on_retry must be resume, restart or fail");
                return -1;
            }
            policy->on_retry = (braid_on_retry_t) v;
        } else {
            braid_conf_error(key, err, errsize, "unknown key '%s' in a source policy", name);
            return -1;
        }
    }
    return 0;
}

/*  Read the config file into cfg. The strings stay owned by *conf_p.
    Returns 0, or -1 with "FILE:LINE: what" in err.                         */
static int
s_load_config(const char *path, braid_broker_config_t *cfg, braid_conf_t **conf_p, char *err,
              size_t errsize)
{
    braid_conf_t *conf = braid_conf_load(path, err, errsize);
    if (!conf)
        return -1;
    *conf_p = conf;
    for (braid_conf_t *sec = braid_conf_child(conf); sec; sec = braid_conf_next(sec)) {
        if (streq(braid_conf_name(sec), "source")) {
            for (braid_conf_t *src = braid_conf_child(sec); src; src = braid_conf_next(src)) {
                const char *name = braid_conf_name(src);
                if (!braid_name_valid(name, strlen(name))) {
                    braid_conf_error(src, err, errsize, "bad source name '%s'", name);
                    return -1;
                }
                if (cfg->npolicies >= BRAID_BROKER_MAX_POLICIES) {
                    braid_conf_error(src, err, errsize, "too many sources (at most %d)",
                                     BRAID_BROKER_MAX_POLICIES);
                    return -1;
                }
                braid_source_policy_t *sp = &cfg->policies[cfg->npolicies++];
                snprintf(sp->name, sizeof sp->name, "%s", name);
                sp->policy = cfg->default_policy;
                if (s_load_policy(src, &sp->policy, err, errsize) != 0)
                    return -1;
            }
            continue;
        }
        if (!streq(braid_conf_name(sec), "broker")) {
            braid_conf_error(sec, err, errsize, "unknown section '%s' (expected broker or source)",
                             braid_conf_name(sec));
            return -1;
        }
        for (braid_conf_t *key = braid_conf_child(sec); key; key = braid_conf_next(key)) {
            const char *name = braid_conf_name(key);
            const char *value = braid_conf_value(key);
            int rc = s_uint_key(key, s_broker_keys, sizeof s_broker_keys / sizeof s_broker_keys[0],
                                cfg, err, errsize);
            if (rc < 0)
                return -1;
            if (rc > 0)
                continue;
            if (streq(name, "frontend") || streq(name, "backend") || streq(name, "sink")) {
                if (!value || !*value) {
                    braid_conf_error(key, err, errsize, "%s needs an endpoint", name);
                    return -1;
                }
                if (streq(name, "frontend"))
                    cfg->frontend = value;
                else if (streq(name, "backend"))
                    cfg->backend = value;
                else
                    cfg->sink = value;
            } else if (streq(name, "max_tasks_per_job")) {
                if (braid_conf_uint(key, "", 1, BRAID_MAX_QUERIES, cfg->max_tasks_per_job,
                                    &cfg->max_tasks_per_job, err, errsize))
                    return -1;
            } else {
                braid_conf_error(key, err, errsize, "unknown key '%s' in section broker", name);
                return -1;
            }
        }
    }
    return 0;
}

static volatile int s_reload = 0;
static const char *s_config_file = NULL;

static void
s_on_sighup(int sig)
{
    (void) sig;
    s_reload = 1;
}

/*  SIGHUP: read the config again and apply its source policies. A file
    that does not parse now is logged and changes nothing.                  */
static void
s_reload_config(void *arg, braid_broker_t *broker)
{
    (void) arg;
    if (!s_config_file) {
        braid_notice("SIGHUP: no config file to reload");
        return;
    }
    braid_broker_config_t *cfg = malloc(sizeof *cfg);
    if (!cfg)
        return;
    braid_broker_config_defaults(cfg);
    braid_conf_t *conf = NULL;
    char err[512];
    if (s_load_config(s_config_file, cfg, &conf, err, sizeof err) != 0)
        braid_error("reload failed, policies unchanged: %s", err);
    else
        braid_broker_set_policies(broker, cfg);
    braid_conf_destroy(&conf);
    free(cfg);
}

int
main(int argc, char **argv)
{
    braid_log_init("braidd");
    static braid_broker_config_t cfg;
    braid_broker_config_defaults(&cfg);
    const char *frontend = NULL, *backend = NULL, *sink = NULL;
    long drain = -1;
    bool verbose = false;

    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},  {"frontend", required_argument, NULL, 'f'},
        {"backend", required_argument, NULL, 'w'}, {"sink", required_argument, NULL, 'k'},
        {"drain", required_argument, NULL, 'D'},   {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    char *end;
    while ((opt = getopt_long(argc, argv, "c:f:w:k:D:vhV", options, NULL)) != -1) {
        switch (opt) {
        case 'c': s_config_file = optarg; break;
        case 'f': frontend = optarg; break;
        case 'w': backend = optarg; break;
        case 'k': sink = optarg; break;
        case 'D':
            drain = strtol(optarg, &end, 10);
            if (*end || drain < 0 || drain > 86400000) {
                fprintf(stderr, "braidd: bad --drain '%s' (0..86400000 msec)\n", optarg);
                s_usage(stderr);
                return 2;
            }
            break;
        case 'v': verbose = true; break;
        case 'h': s_usage(stdout); return 0;
        case 'V': printf("braidd %s\n", BRAID_VERSION); return 0;
        default: s_usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "braidd: unexpected argument '%s'\n", argv[optind]);
        s_usage(stderr);
        return 2;
    }
    braid_log_verbose(verbose);
    braid_conf_t *conf = NULL;
    if (s_config_file) {
        char err[512];
        if (s_load_config(s_config_file, &cfg, &conf, err, sizeof err) != 0) {
            fprintf(stderr, "braidd: %s\n", err);
            braid_conf_destroy(&conf);
            return 2;
        }
    }
    if (frontend)
        cfg.frontend = frontend;
    if (backend)
        cfg.backend = backend;
    if (sink)
        cfg.sink = sink;
    if (drain >= 0)
        cfg.drain_msec = (uint32_t) drain;

    zsys_init();
    struct sigaction sa = {0};
    sa.sa_handler = s_on_sighup;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    braid_broker_t *broker = braid_broker_new(&cfg);
    if (!broker) {
        braid_conf_destroy(&conf);
        return 1;
    }
    /*  Under systemd (Type=notify): ready once the sockets are bound.      */
    sd_notify(0, "READY=1");
    braid_notice("ready frontend=%s backend=%s sink=%s",
                 braid_broker_endpoint(broker, "frontend"),
                 braid_broker_endpoint(broker, "backend"), braid_broker_endpoint(broker, "sink"));
    int rc = braid_broker_run(broker, &s_reload, s_reload_config, NULL);
    sd_notify(0, "STOPPING=1");
    braid_notice("stopping");
    braid_broker_destroy(&broker);
    braid_conf_destroy(&conf);
    return rc == 0 ? 0 : 1;
}
