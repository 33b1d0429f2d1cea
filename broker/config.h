/*  config.h - the broker's settings: their defaults, their bounds, and the
    config file (ZPL, see braid_conf.h) that sets them.

        broker
            frontend = "tcp://127.0.0.1:5555"
            max_jobs_per_client = 64
        source
            web
                max_concurrent = 8
                rate = 2.5

    Each key has its bounds in one table in config.c; a value out of them
    is an error with FILE:LINE. A SIGHUP reads the file again and applies
    its source policies (braid_broker_config_reload).
*/

#ifndef BRAID_BROKER_CONFIG_H_INCLUDED
#define BRAID_BROKER_CONFIG_H_INCLUDED

#include "braid_conf.h"
#include "braid_msg.h"
#include "policy.h"

#include <stdint.h>

#define BRAID_BROKER_MAX_POLICIES 256
/*  The longest drain on SIGTERM (drain_msec, --drain): a day.              */
#define BRAID_BROKER_MAX_DRAIN_MSEC 86400000u

/*  Per-task credit windows (broker/window, broker/window_bytes): the bytes
    bound memory (a task holds at most this much plus one batch in the
    broker); the count only bounds tiny partials. Chosen by measurement,
    see the README (Flow control).                                         */
#define BRAID_BROKER_WINDOW 65536
#define BRAID_BROKER_WINDOW_BYTES (1u << 20)

/*  Global caps (broker/max_jobs, max_tasks, max_buffered_bytes): a SUBMIT
    over one is refused (ERROR 507). A task record costs about 100 bytes,
    so the default max_tasks holds about 1 GB of them at worst.            */
#define BRAID_BROKER_MAX_JOBS 4096
#define BRAID_BROKER_MAX_TASKS 10000000ull
#define BRAID_BROKER_MAX_BUFFERED_BYTES (1ull << 30)
/*  A grant lets twice the client's own byte window run ahead: an honest
    client never waits on it, one that does not read holds 32 MiB.        */
/*  A job's buffered partials (max_job_buffered_bytes): 64 tasks' byte
    windows.                                                                */
#define BRAID_BROKER_MAX_JOB_BUFFERED_BYTES (64ull << 20)
#define BRAID_BROKER_CREDIT_BYTES (2ull * BRAID_CLIENT_WINDOW_BYTES)

/*  A named source policy from the config file.                             */
typedef struct {
    char name[BRAID_MAX_NAME + 1];
    braid_policy_t policy;
} braid_source_policy_t;

typedef struct {
    const char *frontend;       /* endpoint to bind for clients            */
    const char *backend;        /* endpoint to bind for worker control     */
    const char *sink;           /* endpoint to bind for worker results     */
    const char *metrics;        /* HOST:PORT of the Prometheus endpoint
                                   (metrics.h), NULL for none              */
    uint32_t max_jobs_per_client;   /* open jobs one client may hold: a
                                       client is its CURVE key, else its
                                       IP address (tcp), else its local
                                       user (ipc)                          */
    uint32_t max_jobs;              /* open jobs, all clients              */
    uint64_t max_tasks;             /* tasks of the open jobs (queries x
                                       sources announced), all clients     */
    uint64_t max_buffered_bytes;    /* queries, records and partials the
                                       open jobs hold, all clients         */
    uint64_t max_job_buffered_bytes;    /* partials one job buffers for its
                                       client before only its head of
                                       line is dispatched                  */
    uint64_t credit_bytes;          /* what one client grant lets run
                                       ahead of what was sent, bytes       */
    uint64_t max_tasks_per_job;     /* queries x sources in one job        */
    uint32_t max_queries_per_job;   /* queries in one job                  */
    uint32_t heartbeat_msec;        /* heartbeat interval, both ways       */
    uint32_t worker_liveness_msec;  /* a worker silent this long is gone   */
    uint32_t client_liveness_msec;  /* a client silent this long is gone   */
    uint32_t ack_timeout_msec;      /* TASK not acknowledged: again        */
    uint32_t drain_msec;            /* SIGTERM: drain this long at most    */
    uint32_t window;                /* per-task credit window, partials    */
    uint64_t window_bytes;          /* ... and in payload bytes, 0 = none  */
    uint32_t max_slots_per_worker;  /* slots a HELLO may announce, at most */
    uint32_t max_workers;           /* workers registered at once          */
    uint32_t orphan_msec;           /* a source no worker serves: its jobs'
                                       waiting tasks fail after this long
                                       (a source's own orphan_msec wins)   */
    const char *secret_key;         /* CURVE: the broker's keypair, or NULL */
    const char *client_keys;        /* CURVE: dir of clients' public certs */
    const char *worker_keys;        /* CURVE: dir of workers' public certs */
    bool insecure;                  /* bind beyond loopback without CURVE  */
    braid_policy_t default_policy;  /* sources the config does not name    */
    braid_source_policy_t policies[BRAID_BROKER_MAX_POLICIES];
    uint32_t npolicies;
} braid_broker_config_t;

/*  Fill cfg with the defaults.                                             */
void
braid_broker_config_defaults(braid_broker_config_t *cfg);

/*  Read the config file at path into cfg (which holds the defaults, or
    what was set before). The strings cfg points to are owned by *conf_p,
    which is set whenever the file parsed, also on failure: the caller
    destroys it after cfg. Returns 0, or -1 with "FILE:LINE: what" in err. */
int
braid_broker_config_load(const char *path, braid_broker_config_t *cfg, braid_conf_t **conf_p,
                         char *err, size_t errsize);

/*  0 if endpoint names a transport ZeroMQ binds (tcp://, ipc://,
    inproc://) and an address after it; -1 with the reason in err.          */
int
braid_broker_endpoint_check(const char *endpoint, char *err, size_t errsize);

/*  The security rule, once flags and file are merged: with any of
    secret_key, client_keys and worker_keys, all three (the files and
    directories readable); without, every endpoint on loopback unless
    insecure. 0, or -1 with the reason in err.                              */
int
braid_broker_config_check_security(const braid_broker_config_t *cfg, char *err, size_t errsize);

/*  SIGHUP: read the file at path (arg, a const char *; NULL when braidd
    has no config file) again and give its source policies to the broker.
    A file that does not parse now is logged and changes nothing. It is a
    braid_broker_reload_fn (broker.h).                                      */
typedef struct braid_broker_t braid_broker_t;
void
braid_broker_config_reload(void *arg, braid_broker_t *broker);

/*  The policy of the source called name: its own, or the default one.
    Borrowed from cfg.                                                      */
const braid_policy_t *
braid_broker_config_policy(const braid_broker_config_t *cfg, const char *name);

#endif
