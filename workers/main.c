/*  main.c - braid-worker: flags, config file, signals, and glue.

    Settings come from the config file (-c) and then from flags, which
    override it: -b, -k, -n, -N replace worker/backend, sink, slots, name;
    a -s source replaces a config source of the same name and adds any
    other; --heartbeat and --liveness replace worker/heartbeat_msec and
    worker/liveness_msec. Exit: 0 after SIGTERM/SIGINT, 1 on a fatal runtime error, 2 on a
    usage or config error.
*/

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "braid_conf.h"
#include "braid_log.h"
#include "braid_msg.h"
#include "braid_num.h"
#include "exec_source.h"
#include "source.h"
#include "worker.h"

#ifndef BRAID_VERSION
#define BRAID_VERSION "unknown"
#endif

#define S_PROG "braid-worker"
#define S_DEFAULT_BACKEND "tcp://127.0.0.1:5556"
#define S_DEFAULT_SINK "tcp://127.0.0.1:5557"
#define S_DEFAULT_SLOTS 4
#define S_EXIT_USAGE 2
/*  Bounds of the timing settings, as the broker's heartbeat_msec.          */
#define S_MIN_MSEC 10
#define S_MAX_HEARTBEAT_MSEC 60000
#define S_MAX_LIVENESS_MSEC 3600000
enum { S_OPT_HEARTBEAT = 256, S_OPT_LIVENESS, S_OPT_CHECK_CONFIG, S_OPT_KEY, S_OPT_BROKER_KEY };

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: " S_PROG " [-c FILE] [-b EP] [-k EP] [-n SLOTS] [-N NAME] [-s SPEC]...\n"
            "                    [--heartbeat MSEC] [--liveness MSEC] [-v]\n"
            "       " S_PROG " -h | -V\n"
            "  -c, --config FILE     config file (ZPL)\n"
            "  -b, --backend EP      broker control endpoint (default " S_DEFAULT_BACKEND ");\n"
            "                        repeat -b and -k to serve several brokers at once\n"
            "                        (the i-th -b with the i-th -k; up to %d)\n"
            "  -k, --sink EP         broker results endpoint (default " S_DEFAULT_SINK ")\n"
            "  -n, --slots N         concurrent tasks, 1..%d (default %d)\n"
            "  -N, --name NAME       worker name (default: hostname-pid)\n"
            "  -s, --source SPEC     a source; repeatable:\n"
            "                          NAME=exec:TEMPLATE\n"
            "                          NAME=synthetic:parts=N,size=B,delay_msec=D,fail=PREFIX,\n"
            "                                         fail_first=N\n"
            "                          NAME=http:URL  ({query} in URL is replaced, URL-escaped)\n"
            "                        (exec exit statuses in the config key transient_exit,\n"
            "                        default %d, and the first fail_first attempts of a\n"
            "                        synthetic task end failed but transient: retried)\n"
            "      --heartbeat MSEC  heartbeat interval, %d..%d (default %d)\n"
            "      --liveness MSEC   broker silent this long: reconnect and HELLO again,\n"
            "                        more than the heartbeat, up to %d (default %d)\n"
            "      --key FILE        CURVE: this worker's keypair (braid keygen; also\n"
            "                        $BRAID_KEY, config key)\n"
            "      --broker-key FILE CURVE: the broker's public key (also\n"
            "                        $BRAID_BROKER_KEY, config broker_key)\n"
            "  -v, --verbose         debug logging\n"
            "      --check-config FILE  check a config file as at start, connect nothing:\n"
            "                        exit 0 if valid, 2 with FILE:LINE: why if not\n"
            "  -h, --help            this help\n"
            "  -V, --version         print the version\n",
            BRAID_WORKER_MAX_BROKERS, BRAID_MAX_SLOTS, S_DEFAULT_SLOTS,
            BRAID_EXEC_DEFAULT_TRANSIENT_EXIT, S_MIN_MSEC,
            S_MAX_HEARTBEAT_MSEC, BRAID_WORKER_HEARTBEAT_MSEC, S_MAX_LIVENESS_MSEC,
            BRAID_WORKER_LIVENESS_MSEC);
}

/*  Everything main decides before the worker starts.                       */
typedef struct {
    char name[BRAID_MAX_NAME + 1];
    uint64_t slots;
    const char *backends[BRAID_WORKER_MAX_BROKERS]; /* per broker, in order */
    size_t nbackends;
    const char *sinks[BRAID_WORKER_MAX_BROKERS];
    size_t nsinks;
    char *lists[2];             /* the config's backend and sink, split    */
    braid_source_t *sources[BRAID_MAX_SOURCES];
    size_t nsources;
    uint64_t heartbeat_msec;
    uint64_t liveness_msec;
    const char *key;            /* CURVE: own keypair, broker's public key  */
    const char *broker_key;
} s_settings_t;

/*  The settings before the config file and the flags.                      */
#define S_SETTINGS_DEFAULTS                                                                        \
    {.slots = S_DEFAULT_SLOTS,                                                                     \
     .heartbeat_msec = BRAID_WORKER_HEARTBEAT_MSEC,                                                \
     .liveness_msec = BRAID_WORKER_LIVENESS_MSEC}

static void
s_settings_free(s_settings_t *s)
{
    for (size_t i = 0; i < s->nsources; i++)
        braid_source_destroy(&s->sources[i]);
    s->nsources = 0;
    free(s->lists[0]);
    free(s->lists[1]);
    s->lists[0] = s->lists[1] = NULL;
}

/*  A config value listing endpoints, separated by spaces or commas, into
    eps (at most BRAID_WORKER_MAX_BROKERS); *copy_p holds the split copy.
    0, or -1 with the reason in err.                                       */
static int
s_split_endpoints(braid_conf_t *c, const char *value, char **copy_p, const char **eps,
                  size_t *n_p, char *err, size_t errsize)
{
    free(*copy_p);
    *n_p = 0;
    if (!(*copy_p = strdup(value))) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    char *save = NULL;
    for (char *ep = strtok_r(*copy_p, " ,", &save); ep; ep = strtok_r(NULL, " ,", &save)) {
        if (*n_p >= BRAID_WORKER_MAX_BROKERS) {
            braid_conf_error(c, err, errsize, "more than %d brokers", BRAID_WORKER_MAX_BROKERS);
            return -1;
        }
        eps[(*n_p)++] = ep;
    }
    if (*n_p == 0) {
        braid_conf_error(c, err, errsize, "'%s' needs an endpoint", braid_conf_name(c));
        return -1;
    }
    return 0;
}

/*  Add source (consumed), replacing one of the same name. -1 if full.     */
static int
s_settings_add(s_settings_t *s, braid_source_t **source_p)
{
    braid_source_t *source = *source_p;
    *source_p = NULL;
    for (size_t i = 0; i < s->nsources; i++)
        if (streq(s->sources[i]->name, source->name)) {
            braid_source_destroy(&s->sources[i]);
            s->sources[i] = source;
            return 0;
        }
    if (s->nsources >= BRAID_MAX_SOURCES) {
        braid_source_destroy(&source);
        return -1;
    }
    s->sources[s->nsources++] = source;
    return 0;
}

/*  The default name, hostname-pid, with bytes a name may not hold made
    '-' and the hostname shortened so that the whole fits.                 */
static void
s_default_name(char *name, size_t size)
{
    char host[256] = "worker";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = 0;
    char pid[24];
    int plen = snprintf(pid, sizeof pid, "-%ld", (long) getpid());
    size_t hmax = size - 1 - (size_t) plen;
    if (strlen(host) > hmax)
        host[hmax] = 0;
    for (char *p = host; *p; p++)
        if (!braid_name_valid(p, 1))
            *p = '-';
    snprintf(name, size, "%s%s", host, pid);
}

/*  Read the config file into s. 0, or -1 with "FILE:LINE: why" in err.    */
static int
s_load_config(s_settings_t *s, const char *path, braid_conf_t **conf_p, char *err, size_t errsize)
{
    braid_conf_t *conf = braid_conf_load(path, err, errsize);
    if (!conf)
        return -1;
    *conf_p = conf;     /* the caller keeps it: backend and sink point in */
    braid_conf_t *worker = braid_conf_locate(conf, "worker");
    for (braid_conf_t *c = braid_conf_child(worker); c; c = braid_conf_next(c)) {
        const char *key = braid_conf_name(c);
        const char *val = braid_conf_value(c);
        if (braid_conf_child(c)) {
            braid_conf_error(braid_conf_child(c), err, errsize, "'%s' takes no sub-settings",
                             key);
            return -1;
        }
        if (streq(key, "slots")) {
            if (braid_conf_uint(worker, "slots", 1, BRAID_MAX_SLOTS, S_DEFAULT_SLOTS, &s->slots,
                                err, errsize))
                return -1;
            continue;
        }
        if (streq(key, "heartbeat_msec")) {
            if (braid_conf_uint(worker, "heartbeat_msec", S_MIN_MSEC, S_MAX_HEARTBEAT_MSEC,
                                BRAID_WORKER_HEARTBEAT_MSEC, &s->heartbeat_msec, err, errsize))
                return -1;
            continue;
        }
        if (streq(key, "liveness_msec")) {
            if (braid_conf_uint(worker, "liveness_msec", S_MIN_MSEC, S_MAX_LIVENESS_MSEC,
                                BRAID_WORKER_LIVENESS_MSEC, &s->liveness_msec, err, errsize))
                return -1;
            continue;
        }
        if (!val || !*val) {
            braid_conf_error(c, err, errsize, "'%s' needs a value", key);
            return -1;
        }
        if (streq(key, "name")) {
            if (!braid_name_valid(val, strlen(val))) {
                braid_conf_error(c, err, errsize,
                                 "name must be 1..%d bytes of [A-Za-z0-9_.-]", BRAID_MAX_NAME);
                return -1;
            }
            snprintf(s->name, sizeof s->name, "%s", val);
        } else if (streq(key, "backend")) {
            if (s_split_endpoints(c, val, &s->lists[0], s->backends, &s->nbackends, err,
                                  errsize))
                return -1;
        } else if (streq(key, "sink")) {
            if (s_split_endpoints(c, val, &s->lists[1], s->sinks, &s->nsinks, err, errsize))
                return -1;
        } else if (streq(key, "key"))
            s->key = val;
        else if (streq(key, "broker_key"))
            s->broker_key = val;
        else {
            braid_conf_error(c, err, errsize, "unknown worker setting '%s'", key);
            return -1;
        }
    }
    braid_conf_t *sources = braid_conf_locate(conf, "source");
    for (braid_conf_t *c = braid_conf_child(sources); c; c = braid_conf_next(c)) {
        braid_source_t *source = braid_source_from_conf(c, err, errsize);
        if (!source)
            return -1;
        if (s_settings_add(s, &source)) {
            braid_conf_error(c, err, errsize, "more than %d sources", BRAID_MAX_SOURCES);
            return -1;
        }
    }
    return 0;
}

/*  --check-config FILE: load it as at start and check what main checks of
    it (a source at least; the liveness over the heartbeat). 0, or 2 with
    the reason (FILE:LINE when it has a line) on stderr.                    */
static int
s_check_config(const char *path)
{
    s_settings_t settings = S_SETTINGS_DEFAULTS;
    braid_conf_t *conf = NULL;
    char err[1024];
    int rc = S_EXIT_USAGE;
    if (s_load_config(&settings, path, &conf, err, sizeof err))
        fprintf(stderr, S_PROG ": %s\n", err);
    else if (settings.nsources == 0)
        fprintf(stderr, S_PROG ": %s: no source: a worker needs a source section\n", path);
    else if (settings.liveness_msec <= settings.heartbeat_msec)
        fprintf(stderr, S_PROG ": %s: liveness_msec must be more than heartbeat_msec\n", path);
    else if (settings.nbackends > 1 && settings.nsinks != settings.nbackends)
        fprintf(stderr, S_PROG ": %s: %zu backends need as many sinks, not %zu\n", path,
                settings.nbackends, settings.nsinks);
    else {
        printf(S_PROG ": %s: ok\n", path);
        rc = 0;
    }
    s_settings_free(&settings);
    braid_conf_destroy(&conf);
    return rc;
}

/*  Report a usage error (printf style), then the usage. Returns the exit
    code for it.                                                            */
static int
s_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
s_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, S_PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    s_usage(stderr);
    return S_EXIT_USAGE;
}

int
main(int argc, char *argv[])
{
    braid_log_init(S_PROG);
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},  {"backend", required_argument, NULL, 'b'},
        {"sink", required_argument, NULL, 'k'},    {"slots", required_argument, NULL, 'n'},
        {"name", required_argument, NULL, 'N'},    {"source", required_argument, NULL, 's'},
        {"verbose", no_argument, NULL, 'v'},       {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"heartbeat", required_argument, NULL, S_OPT_HEARTBEAT},
        {"liveness", required_argument, NULL, S_OPT_LIVENESS},
        {"check-config", required_argument, NULL, S_OPT_CHECK_CONFIG},
        {"key", required_argument, NULL, S_OPT_KEY},
        {"broker-key", required_argument, NULL, S_OPT_BROKER_KEY},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *slots = NULL, *name = NULL;
    const char *backends[BRAID_WORKER_MAX_BROKERS], *sinks[BRAID_WORKER_MAX_BROKERS];
    size_t nbackends = 0, nsinks = 0;
    const char *heartbeat = NULL, *liveness = NULL, *check = NULL;
    const char *key = getenv("BRAID_KEY"), *broker_key = getenv("BRAID_BROKER_KEY");
    const char **specs = calloc((size_t) argc + 1, sizeof *specs);
    size_t nspecs = 0;
    bool verbose = false;
    int opt;
    if (!specs) {
        fprintf(stderr, S_PROG ": out of memory\n");
        return 1;
    }
    opterr = 0;             /* our messages, with our name             */
    while ((opt = getopt_long(argc, argv, ":c:b:k:n:N:s:vhV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'b':
        case 'k':
            if ((opt == 'b' ? nbackends : nsinks) >= BRAID_WORKER_MAX_BROKERS) {
                free(specs);
                return s_usage_error("more than %d brokers", BRAID_WORKER_MAX_BROKERS);
            }
            if (opt == 'b')
                backends[nbackends++] = optarg;
            else
                sinks[nsinks++] = optarg;
            break;
        case 'n': slots = optarg; break;
        case 'N': name = optarg; break;
        case 's': specs[nspecs++] = optarg; break;
        case 'v': verbose = true; break;
        case S_OPT_HEARTBEAT: heartbeat = optarg; break;
        case S_OPT_LIVENESS: liveness = optarg; break;
        case S_OPT_CHECK_CONFIG: check = optarg; break;
        case S_OPT_KEY: key = optarg; break;
        case S_OPT_BROKER_KEY: broker_key = optarg; break;
        case 'h':
            free(specs);
            s_usage(stdout);
            return 0;
        case 'V':
            free(specs);
            printf(S_PROG " %s\n", BRAID_VERSION);
            return 0;
        case ':':
        default: {
            /*  A short option is named by optopt (it may sit in a cluster
                like -vx); a long one only by its argv element.            */
            char shortopt[3] = {'-', (char) optopt, 0};
            const char *arg = argv[optind - 1];
            const char *what = strncmp(arg, "--", 2) == 0 || !optopt ? arg : shortopt;
            free(specs);
            return opt == ':' ? s_usage_error("option '%s' needs an argument", what)
                              : s_usage_error("unknown option '%s'", what);
        }
        }
    }
    if (optind < argc) {
        free(specs);
        return s_usage_error("unexpected argument '%s'", argv[optind]);
    }
    if (check) {
        free(specs);
        return s_check_config(check);
    }
    braid_log_verbose(verbose);

    s_settings_t settings = S_SETTINGS_DEFAULTS;
    braid_conf_t *conf = NULL;
    char err[1024];
    int rc = S_EXIT_USAGE;
    if (config && s_load_config(&settings, config, &conf, err, sizeof err)) {
        fprintf(stderr, S_PROG ": %s\n", err);
        goto done;
    }
    /*  Flags override the config.                                          */
    for (size_t i = 0; i < nspecs; i++) {
        char why[256];
        braid_source_t *source = braid_source_from_flag(specs[i], why, sizeof why);
        if (!source) {
            fprintf(stderr, S_PROG ": bad source '%s': %s\n", specs[i], why);
            s_usage(stderr);
            goto done;
        }
        if (s_settings_add(&settings, &source)) {
            rc = s_usage_error("more than %d sources ('%s')", BRAID_MAX_SOURCES, specs[i]);
            goto done;
        }
    }
    if (slots && braid_parse_u64(slots, 1, BRAID_MAX_SLOTS, &settings.slots)) {
        rc = s_usage_error("slots must be 1..%d, not '%s'", BRAID_MAX_SLOTS, slots);
        goto done;
    }
    if (heartbeat &&
        braid_parse_u64(heartbeat, S_MIN_MSEC, S_MAX_HEARTBEAT_MSEC, &settings.heartbeat_msec)) {
        rc = s_usage_error("heartbeat must be %d..%d msec, not '%s'", S_MIN_MSEC,
                           S_MAX_HEARTBEAT_MSEC, heartbeat);
        goto done;
    }
    if (liveness &&
        braid_parse_u64(liveness, S_MIN_MSEC, S_MAX_LIVENESS_MSEC, &settings.liveness_msec)) {
        rc = s_usage_error("liveness must be %d..%d msec, not '%s'", S_MIN_MSEC,
                           S_MAX_LIVENESS_MSEC, liveness);
        goto done;
    }
    if (settings.liveness_msec <= settings.heartbeat_msec) {
        fprintf(stderr,
                S_PROG ": liveness (%llu msec) must be more than the heartbeat (%llu msec)\n",
                (unsigned long long) settings.liveness_msec,
                (unsigned long long) settings.heartbeat_msec);
        s_usage(stderr);
        goto done;
    }
    if (name) {
        if (!braid_name_valid(name, strlen(name))) {
            rc = s_usage_error("name must be 1..%d bytes of [A-Za-z0-9_.-], not '%s'",
                               BRAID_MAX_NAME, name);
            goto done;
        }
        snprintf(settings.name, sizeof settings.name, "%s", name);
    }
    if (key && *key)
        settings.key = key;
    if (broker_key && *broker_key)
        settings.broker_key = broker_key;
    /*  Brokers: the flags' if any, else the config's, else the default;
        the i-th backend pairs with the i-th sink.                         */
    if (nbackends) {
        memcpy(settings.backends, backends, nbackends * sizeof *backends);
        settings.nbackends = nbackends;
    }
    if (nsinks) {
        memcpy(settings.sinks, sinks, nsinks * sizeof *sinks);
        settings.nsinks = nsinks;
    }
    if (!settings.nbackends)
        settings.backends[settings.nbackends++] = S_DEFAULT_BACKEND;
    if (!settings.nsinks && settings.nbackends == 1)
        settings.sinks[settings.nsinks++] = S_DEFAULT_SINK;
    if (settings.nsinks != settings.nbackends) {
        rc = s_usage_error("%zu backends need as many sinks (-k), not %zu", settings.nbackends,
                           settings.nsinks);
        goto done;
    }
    if (!settings.name[0])
        s_default_name(settings.name, sizeof settings.name);
    if (settings.nsources == 0) {
        rc = s_usage_error("%s", "no source: give -s NAME=TYPE:... or a config source section");
        goto done;
    }

    /*  SIGTERM and SIGINT arrive on a signalfd the loop polls: no handler
        races with zmq_poll(). Blocked before the first zsock_new, so
        ZeroMQ's threads inherit the mask; children get a clean mask.      */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL)) {
        fprintf(stderr, S_PROG ": sigprocmask: %s\n", strerror(errno));
        rc = 1;
        goto done;
    }
    int sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) {
        fprintf(stderr, S_PROG ": signalfd: %s\n", strerror(errno));
        rc = 1;
        goto done;
    }
    zsys_handler_set(NULL);

    braid_worker_config_t wc = {
        .name = settings.name,
        .slots = (uint32_t) settings.slots,
        .nbrokers = settings.nbackends,
        .sources = settings.sources,
        .nsources = settings.nsources,
        .heartbeat_msec = (uint32_t) settings.heartbeat_msec,
        .liveness_msec = (uint32_t) settings.liveness_msec,
        .key = settings.key,
        .broker_key = settings.broker_key,
    };
    memcpy(wc.backends, settings.backends, settings.nbackends * sizeof *settings.backends);
    memcpy(wc.sinks, settings.sinks, settings.nsinks * sizeof *settings.sinks);
    braid_worker_t *worker = braid_worker_new(&wc, err, sizeof err);
    if (!worker) {
        fprintf(stderr, S_PROG ": %s\n", err);
        close(sigfd);
        goto done;
    }
    rc = braid_worker_run(worker, sigfd) == 0 ? 0 : 1;
    braid_worker_destroy(&worker);
    close(sigfd);

done:
    s_settings_free(&settings);
    braid_conf_destroy(&conf);
    free(specs);
    return rc;
}
