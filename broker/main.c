/*  main.c - braidd: flags, config, signals, exit codes. Thin glue.         */

#include "braid_conf.h"
#include "braid_log.h"
#include "braid_msg.h"
#include "broker.h"

#include <czmq.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

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
            "  -v, --verbose         debug logging\n"
            "  -h, --help            this help\n"
            "  -V, --version         print the version\n");
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
        if (!streq(braid_conf_name(sec), "broker")) {
            braid_conf_error(sec, err, errsize, "unknown section '%s' (expected broker)",
                             braid_conf_name(sec));
            return -1;
        }
        for (braid_conf_t *key = braid_conf_child(sec); key; key = braid_conf_next(key)) {
            const char *name = braid_conf_name(key);
            const char *value = braid_conf_value(key);
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
            } else if (streq(name, "max_jobs_per_client")) {
                uint64_t v;
                if (braid_conf_uint(sec, name, 1, 100000, cfg->max_jobs_per_client, &v, err,
                                    errsize))
                    return -1;
                cfg->max_jobs_per_client = (uint32_t) v;
            } else if (streq(name, "max_tasks_per_job")) {
                if (braid_conf_uint(sec, name, 1, BRAID_MAX_QUERIES, cfg->max_tasks_per_job,
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

int
main(int argc, char **argv)
{
    braid_log_init("braidd");
    braid_broker_config_t cfg;
    braid_broker_config_defaults(&cfg);
    const char *config_file = NULL;
    const char *frontend = NULL, *backend = NULL, *sink = NULL;
    bool verbose = false;

    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},   {"frontend", required_argument, NULL, 'f'},
        {"backend", required_argument, NULL, 'w'},  {"sink", required_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:f:w:k:vhV", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_file = optarg; break;
        case 'f': frontend = optarg; break;
        case 'w': backend = optarg; break;
        case 'k': sink = optarg; break;
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
    if (config_file) {
        char err[512];
        if (s_load_config(config_file, &cfg, &conf, err, sizeof err) != 0) {
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

    zsys_init();
    braid_broker_t *broker = braid_broker_new(&cfg);
    if (!broker) {
        braid_conf_destroy(&conf);
        return 1;
    }
    braid_notice("ready frontend=%s backend=%s sink=%s",
                 braid_broker_endpoint(broker, "frontend"),
                 braid_broker_endpoint(broker, "backend"), braid_broker_endpoint(broker, "sink"));
    int rc = braid_broker_run(broker);
    braid_notice("stopping");
    braid_broker_destroy(&broker);
    braid_conf_destroy(&conf);
    return rc == 0 ? 0 : 1;
}
