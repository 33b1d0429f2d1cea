/*  main.c - braidd: flags, config, signals, exit codes. Thin glue.         */

#include "braid_log.h"
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
    (void) config_file;
    if (frontend)
        cfg.frontend = frontend;
    if (backend)
        cfg.backend = backend;
    if (sink)
        cfg.sink = sink;

    zsys_init();
    braid_broker_t *broker = braid_broker_new(&cfg);
    if (!broker)
        return 1;
    braid_notice("ready frontend=%s backend=%s sink=%s",
                 braid_broker_endpoint(broker, "frontend"),
                 braid_broker_endpoint(broker, "backend"), braid_broker_endpoint(broker, "sink"));
    int rc = braid_broker_run(broker);
    braid_notice("stopping");
    braid_broker_destroy(&broker);
    return rc == 0 ? 0 : 1;
}
