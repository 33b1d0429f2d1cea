/*  config.c - the broker's settings: defaults, bounds, the config file.    */

#include "config.h"

#include "braid_num.h"

#include "braid_curve.h"
#include "braid_log.h"
#include "broker.h"
#include "metrics.h"

#include <czmq.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/*  An unsigned key: its name, where it goes (a uint32_t, or a uint64_t
    when wide), its bounds.                                                 */
typedef struct {
    const char *name;
    size_t offset;
    bool wide;
    uint64_t min, max;
} s_uint_key_t;

#define CFG_(NAME, MIN, MAX)                                                                       \
    {#NAME, offsetof(braid_broker_config_t, NAME),                                                 \
     sizeof(((braid_broker_config_t *) 0)->NAME) == sizeof(uint64_t), MIN, MAX}
static const s_uint_key_t s_broker_keys[] = {
    CFG_(max_jobs_per_client, 1, 100000),
    CFG_(max_jobs, 1, 1000000),
    CFG_(max_tasks, 1, 1000000000),
    CFG_(max_buffered_bytes, 1u << 20, 1ull << 40),
    CFG_(max_job_buffered_bytes, 1u << 20, 1ull << 40),
    CFG_(credit_bytes, 1u << 16, 1ull << 32),
    CFG_(max_tasks_per_job, 1, BRAID_MAX_QUERIES),
    CFG_(max_queries_per_job, 1, BRAID_MAX_QUERIES),
    CFG_(heartbeat_msec, 10, 60000),
    CFG_(worker_liveness_msec, 20, 600000),
    CFG_(client_liveness_msec, 20, 600000),
    CFG_(ack_timeout_msec, 10, 600000),
    CFG_(drain_msec, 0, BRAID_BROKER_MAX_DRAIN_MSEC),
    CFG_(window, 1, 1000000),
    CFG_(window_bytes, 0, 1ull << 32),
    CFG_(max_slots_per_worker, 1, BRAID_MAX_SLOTS),
    CFG_(max_workers, 1, 1000000),
    CFG_(orphan_msec, 0, BRAID_MAX_MSEC),
};

#define POL_(NAME, MIN, MAX) {#NAME, offsetof(braid_policy_t, NAME), false, MIN, MAX}
static const s_uint_key_t s_policy_keys[] = {
    POL_(max_concurrent, 0, 1000000), POL_(burst, 1, 1000000),
    POL_(retries, 0, BRAID_MAX_RETRIES), POL_(backoff_msec, 0, 3600000),
    POL_(backoff_max_msec, 0, 3600000),  POL_(timeout_msec, 0, BRAID_MAX_MSEC),
    POL_(orphan_msec, 0, BRAID_MAX_MSEC),
};

void
braid_broker_config_defaults(braid_broker_config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->frontend = "tcp://127.0.0.1:5555";
    cfg->backend = "tcp://127.0.0.1:5556";
    cfg->sink = "tcp://127.0.0.1:5557";
    cfg->max_jobs_per_client = 64;
    cfg->max_jobs = BRAID_BROKER_MAX_JOBS;
    cfg->max_tasks = BRAID_BROKER_MAX_TASKS;
    cfg->max_buffered_bytes = BRAID_BROKER_MAX_BUFFERED_BYTES;
    cfg->max_job_buffered_bytes = BRAID_BROKER_MAX_JOB_BUFFERED_BYTES;
    cfg->credit_bytes = BRAID_BROKER_CREDIT_BYTES;
    cfg->max_tasks_per_job = BRAID_MAX_QUERIES;
    cfg->max_queries_per_job = BRAID_MAX_QUERIES;
    cfg->heartbeat_msec = 1000;
    cfg->worker_liveness_msec = 3000;
    cfg->client_liveness_msec = 5000;
    cfg->ack_timeout_msec = 2000;
    cfg->drain_msec = 30000;
    /*  Chosen by measurement (bench/run --only stream): the byte window
        bounds memory; the count bound only caps tiny partials.          */
    cfg->window = BRAID_BROKER_WINDOW;
    cfg->window_bytes = BRAID_BROKER_WINDOW_BYTES;
    cfg->max_slots_per_worker = 1024;
    cfg->max_workers = 4096;
    cfg->orphan_msec = 30000;
    braid_policy_defaults(&cfg->default_policy);
}

/*  The entry of keys called name, or NULL.                                 */
static const s_uint_key_t *
s_uint_key_find(const s_uint_key_t *keys, size_t nkeys, const char *name)
{
    for (size_t i = 0; i < nkeys; i++)
        if (streq(name, keys[i].name))
            return &keys[i];
    return NULL;
}

/*  Store the value of key, an unsigned one described by entry, into base.
    0, or -1 when it is not an integer within the bounds (err filled).      */
static int
s_uint_key_store(braid_conf_t *key, const s_uint_key_t *entry, void *base, char *err,
                 size_t errsize)
{
    void *dst = (char *) base + entry->offset;
    uint64_t v, dflt = entry->wide ? *(uint64_t *) dst : *(uint32_t *) dst;
    if (braid_conf_uint(key, "", entry->min, entry->max, dflt, &v, err, errsize) != 0)
        return -1;
    if (entry->wide)
        *(uint64_t *) dst = v;
    else
        *(uint32_t *) dst = (uint32_t) v;
    return 0;
}

/*  A key of a section that its table of unsigned keys does not name, with
    its value (may be NULL): stored into base, 0, or -1 (err filled).       */
typedef int(s_key_fn)(braid_conf_t *key, const char *name, const char *value, void *base,
                      char *err, size_t errsize);

/*  Every key of section sec: the unsigned ones from keys, the rest through
    other. 0, or -1 at the first bad one (err filled).                      */
static int
s_load_keys(braid_conf_t *sec, const s_uint_key_t *keys, size_t nkeys, s_key_fn *other,
            void *base, char *err, size_t errsize)
{
    for (braid_conf_t *key = braid_conf_child(sec); key; key = braid_conf_next(key)) {
        const char *name = braid_conf_name(key);
        const s_uint_key_t *entry = s_uint_key_find(keys, nkeys, name);
        int rc = entry ? s_uint_key_store(key, entry, base, err, errsize)
                       : other(key, name, braid_conf_value(key), base, err, errsize);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/*  A source policy's keys besides the unsigned ones.                       */
static int
s_policy_key(braid_conf_t *key, const char *name, const char *value, void *base, char *err,
             size_t errsize)
{
    braid_policy_t *policy = base;
    if (streq(name, "rate")) {
        double rate;
        if (braid_parse_decimal(value, 0, BRAID_POLICY_MAX_RATE, &rate) != 0 ||
            (rate > 0 && rate < BRAID_POLICY_MIN_RATE)) {
            braid_conf_error(key, err, errsize,
                             "rate must be 0 (no limit) or a number of tasks per second in "
                             "%g..%g",
                             BRAID_POLICY_MIN_RATE, BRAID_POLICY_MAX_RATE);
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
    return 0;
}

int
braid_broker_endpoint_check(const char *endpoint, char *err, size_t errsize)
{
    static const char *transports[] = {"tcp://", "ipc://", "inproc://"};
    for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++) {
        size_t n = strlen(transports[i]);
        if (strncmp(endpoint, transports[i], n) == 0 && endpoint[n])
            return 0;
    }
    snprintf(err, errsize, "'%s' is not an endpoint (tcp://HOST:PORT, ipc://PATH)", endpoint);
    return -1;
}

/*  Section broker's keys besides the unsigned ones: the endpoints, and the
    metrics address.                                                        */
static int
s_broker_key(braid_conf_t *key, const char *name, const char *value, void *base, char *err,
             size_t errsize)
{
    braid_broker_config_t *cfg = base;
    char why[256];
    if (streq(name, "metrics")) {
        struct sockaddr_storage addr;
        socklen_t addrlen;
        if (!value || braid_metrics_parse(value, &addr, &addrlen, why, sizeof why) != 0) {
            braid_conf_error(key, err, errsize, "%s", value ? why : "metrics needs HOST:PORT");
            return -1;
        }
        cfg->metrics = value;
        return 0;
    }
    if (streq(name, "insecure")) {
        if (!value || (!streq(value, "yes") && !streq(value, "no"))) {
            braid_conf_error(key, err, errsize, "insecure must be yes or no");
            return -1;
        }
        cfg->insecure = streq(value, "yes");
        return 0;
    }
    const char **path = streq(name, "secret_key")    ? &cfg->secret_key
                        : streq(name, "client_keys") ? &cfg->client_keys
                        : streq(name, "worker_keys") ? &cfg->worker_keys
                                                     : NULL;
    if (path) {
        bool dir = path != &cfg->secret_key;
        struct stat st;
        if (!value || !*value || stat(value, &st) != 0 ||
            (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
            braid_conf_error(key, err, errsize, "%s needs an existing %s", name,
                             dir ? "directory of public certificates" : "key file");
            return -1;
        }
        *path = value;
        return 0;
    }
    const char **endpoint = streq(name, "frontend")  ? &cfg->frontend
                            : streq(name, "backend") ? &cfg->backend
                            : streq(name, "sink")    ? &cfg->sink
                                                     : NULL;
    if (!endpoint) {
        braid_conf_error(key, err, errsize, "unknown key '%s' in section broker", name);
        return -1;
    }
    if (!value || !*value) {
        braid_conf_error(key, err, errsize, "%s needs an endpoint", name);
        return -1;
    }
    if (braid_broker_endpoint_check(value, why, sizeof why) != 0) {
        braid_conf_error(key, err, errsize, "%s: %s", name, why);
        return -1;
    }
    *endpoint = value;
    return 0;
}

int
braid_broker_config_check_security(const braid_broker_config_t *cfg, char *err, size_t errsize)
{
    int curve = !!cfg->secret_key + !!cfg->client_keys + !!cfg->worker_keys;
    if (curve == 3)
        return 0;
    if (curve > 0) {
        snprintf(err, errsize, "CURVE needs all of secret_key, client_keys and worker_keys");
        return -1;
    }
    const char *endpoints[] = {cfg->frontend, cfg->backend, cfg->sink};
    for (int i = 0; i < 3 && !cfg->insecure; i++)
        if (!braid_endpoint_loopback(endpoints[i])) {
            snprintf(err, errsize,
                     "refusing to bind %s without CURVE: set secret_key, client_keys and "
                     "worker_keys, or insecure = yes",
                     endpoints[i]);
            return -1;
        }
    return 0;
}

/*  The section "source": one policy per named source.                      */
static int
s_load_sources(braid_conf_t *sec, braid_broker_config_t *cfg, char *err, size_t errsize)
{
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
        if (s_load_keys(src, s_policy_keys, sizeof s_policy_keys / sizeof s_policy_keys[0],
                        s_policy_key, &sp->policy, err, errsize) != 0)
            return -1;
    }
    return 0;
}

int
braid_broker_config_load(const char *path, braid_broker_config_t *cfg, braid_conf_t **conf_p,
                         char *err, size_t errsize)
{
    braid_conf_t *conf = braid_conf_load(path, err, errsize);
    if (!conf)
        return -1;
    *conf_p = conf;
    for (braid_conf_t *sec = braid_conf_child(conf); sec; sec = braid_conf_next(sec)) {
        const char *name = braid_conf_name(sec);
        int rc;
        if (streq(name, "source"))
            rc = s_load_sources(sec, cfg, err, errsize);
        else if (streq(name, "broker"))
            rc = s_load_keys(sec, s_broker_keys, sizeof s_broker_keys / sizeof s_broker_keys[0],
                             s_broker_key, cfg, err, errsize);
        else {
            braid_conf_error(sec, err, errsize, "unknown section '%s' (expected broker or source)",
                             name);
            rc = -1;
        }
        if (rc != 0)
            return -1;
    }
    return 0;
}

void
braid_broker_config_reload(void *arg, braid_broker_t *broker)
{
    const char *path = arg;
    if (!path) {
        braid_notice("SIGHUP: no config file to reload");
        return;
    }
    braid_broker_config_t *cfg = malloc(sizeof *cfg);
    if (!cfg) {
        braid_error("reload failed, policies unchanged: out of memory");
        return;
    }
    braid_broker_config_defaults(cfg);
    braid_conf_t *conf = NULL;
    char err[512];
    if (braid_broker_config_load(path, cfg, &conf, err, sizeof err) != 0)
        braid_error("reload failed, policies unchanged: %s", err);
    else
        braid_broker_set_policies(broker, cfg);
    braid_conf_destroy(&conf);
    free(cfg);
}

const braid_policy_t *
braid_broker_config_policy(const braid_broker_config_t *cfg, const char *name)
{
    for (uint32_t i = 0; i < cfg->npolicies; i++)
        if (streq(cfg->policies[i].name, name))
            return &cfg->policies[i].policy;
    return &cfg->default_policy;
}
