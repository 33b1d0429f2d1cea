/*  main.c - braidd: flags, config, signals, exit codes. Thin glue.         */

#include "braid_conf.h"
#include "braid_log.h"
#include "braid_msg.h"
#include "braid_num.h"
#include "broker.h"
#include "config.h"
#include "metrics.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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
            "      --metrics HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics\n"
            "                        (e.g. 127.0.0.1:9464; port 0 picks one; default none)\n"
            "      --check-config FILE  check a config file as at start, bind nothing:\n"
            "                        exit 0 if valid, 2 with FILE:LINE: why if not\n"
            "  -v, --verbose         debug logging\n"
            "  -h, --help            this help\n"
            "  -V, --version         print the version\n");
}

enum { S_OPT_METRICS = 256, S_OPT_CHECK_CONFIG };

static volatile int s_reload = 0;

/*  --check-config FILE: 0 if it loads as at start, else 2 with FILE:LINE.   */
static int
s_check_config(const char *path)
{
    static braid_broker_config_t cfg;
    braid_broker_config_defaults(&cfg);
    braid_conf_t *conf = NULL;
    char err[512];
    int rc = braid_broker_config_load(path, &cfg, &conf, err, sizeof err);
    if (rc == 0)
        rc = braid_broker_config_check_security(&cfg, err, sizeof err);
    braid_conf_destroy(&conf);
    if (rc != 0) {
        fprintf(stderr, "braidd: %s\n", err);
        return 2;
    }
    printf("braidd: %s: ok\n", path);
    return 0;
}

/*  A bad flag value: the reason, the usage, 2.                             */
static int
s_bad_flag(const char *what)
{
    fprintf(stderr, "braidd: %s\n", what);
    s_usage(stderr);
    return 2;
}

static void
s_on_sighup(int sig)
{
    (void) sig;
    s_reload = 1;
}

/*  Every client and worker connection costs a file descriptor: the soft
    limit goes up to the hard one (systemd's LimitNOFILE, or the shell's
    ulimit -Hn), so the broker is not the first to run out. Idle peers are
    reaped by the ZMTP heartbeats; max_jobs and the other caps bound the
    rest.                                                                   */
static void
s_raise_nofile(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= lim.rlim_max)
        return;
    rlim_t was = lim.rlim_cur;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        braid_warning("cannot raise the file descriptor limit from %llu: %s",
                      (unsigned long long) was, strerror(errno));
    else
        braid_info("file descriptor limit raised from %llu to %llu", (unsigned long long) was,
                   (unsigned long long) lim.rlim_cur);
}

int
main(int argc, char **argv)
{
    braid_log_init("braidd");
    static braid_broker_config_t cfg;
    braid_broker_config_defaults(&cfg);
    const char *config_file = NULL, *frontend = NULL, *backend = NULL, *sink = NULL;
    const char *metrics = NULL, *check = NULL;
    uint32_t drain = 0;
    bool have_drain = false;
    bool verbose = false;

    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},  {"frontend", required_argument, NULL, 'f'},
        {"backend", required_argument, NULL, 'w'}, {"sink", required_argument, NULL, 'k'},
        {"drain", required_argument, NULL, 'D'},   {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'V'},
        {"metrics", required_argument, NULL, S_OPT_METRICS},
        {"check-config", required_argument, NULL, S_OPT_CHECK_CONFIG},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:f:w:k:D:vhV", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_file = optarg; break;
        case 'f': frontend = optarg; break;
        case 'w': backend = optarg; break;
        case 'k': sink = optarg; break;
        case 'D':
            if (braid_parse_u32(optarg, 0, BRAID_BROKER_MAX_DRAIN_MSEC, &drain) != 0) {
                fprintf(stderr, "braidd: bad --drain '%s' (0..%u msec)\n", optarg,
                        BRAID_BROKER_MAX_DRAIN_MSEC);
                s_usage(stderr);
                return 2;
            }
            have_drain = true;
            break;
        case 'v': verbose = true; break;
        case S_OPT_METRICS: metrics = optarg; break;
        case S_OPT_CHECK_CONFIG: check = optarg; break;
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
    if (check)
        return s_check_config(check);
    char why[256];
    const char *endpoints[] = {frontend, backend, sink};
    for (int i = 0; i < 3; i++)
        if (endpoints[i] && braid_broker_endpoint_check(endpoints[i], why, sizeof why) != 0)
            return s_bad_flag(why);
    if (metrics) {
        struct sockaddr_storage addr;
        socklen_t addrlen;
        if (braid_metrics_parse(metrics, &addr, &addrlen, why, sizeof why) != 0)
            return s_bad_flag(why);
    }
    braid_log_verbose(verbose);
    braid_conf_t *conf = NULL;
    if (config_file) {
        char err[512];
        if (braid_broker_config_load(config_file, &cfg, &conf, err, sizeof err) != 0) {
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
    if (have_drain)
        cfg.drain_msec = drain;
    if (metrics)
        cfg.metrics = metrics;
    char unsafe[512];
    if (braid_broker_config_check_security(&cfg, unsafe, sizeof unsafe) != 0) {
        fprintf(stderr, "braidd: %s\n", unsafe);
        braid_conf_destroy(&conf);
        return 2;
    }

    s_raise_nofile();
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
    const char *metrics_at = braid_broker_endpoint(broker, "metrics");
    braid_notice("ready frontend=%s backend=%s sink=%s%s%s",
                 braid_broker_endpoint(broker, "frontend"),
                 braid_broker_endpoint(broker, "backend"), braid_broker_endpoint(broker, "sink"),
                 metrics_at ? " metrics=" : "", metrics_at ? metrics_at : "");
    int rc = braid_broker_run(broker, &s_reload, braid_broker_config_reload, (void *) config_file);
    sd_notify(0, "STOPPING=1");
    braid_notice("stopping");
    braid_broker_destroy(&broker);
    braid_conf_destroy(&conf);
    return rc == 0 ? 0 : 1;
}
