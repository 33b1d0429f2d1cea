/*  cluster.h - a broker and its workers on loopback, for end-to-end tests.

    braid_cluster_new() starts braidd on three free loopback ports and waits
    for its ready line (the fixture the tests share, fixture.h, is built on
    these); braid_cluster_add_worker() starts a braid-worker and
    waits for the broker's "worker joined" line for it (the broker refuses a
    job for a source no registered worker serves, so joins come first);
    braid_cluster_submit() spawns `braid submit -b FRONTEND ARGS...`.
    braid_cluster_stop() is the graceful end the tests assert on: SIGTERM to
    the workers, then to the broker, each must exit 0, and nothing may be
    left running. braid_cluster_destroy() is the backstop: it kills whatever
    is left.

    The binaries' paths come from CMake as BRAIDD_PATH, BRAID_WORKER_PATH and
    BRAID_CLI_PATH.
*/

#ifndef BRAID_CLUSTER_H_INCLUDED
#define BRAID_CLUSTER_H_INCLUDED

#include "harness.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BRAID_CLUSTER_MAX_WORKERS 8

/*  Upper bounds for lifecycle steps. Generous: the suite also runs under
    ASan on two cores, and a passing run never waits them out.              */
#define BRAID_START_MSEC 15000
#define BRAID_STOP_MSEC 15000

typedef struct {
    const char *dir; /* borrowed temp dir */
    char frontend[64];
    char backend[64];
    char sink[64];
    braid_proc_t *broker;
    braid_proc_t *workers[BRAID_CLUSTER_MAX_WORKERS];
    int worker_count;
} braid_cluster_t;

/*  Start the broker, logs in dir. With conf_text (not NULL), write it to
    dir/braidd.conf first and start braidd -c that file. Owned cluster, or
    NULL (reported).                                                        */
braid_cluster_t *
braid_cluster_new(const char *dir, const char *conf_text);

/*  Start a worker: -b/-k to the cluster, -n slots, -N name, then the
    NULL-terminated extra args (may be NULL), then -s SPEC for each of the
    NULL-terminated specs; and wait until the broker reports it joined.
    0 / -1 (reported).                                                      */
int
braid_cluster_add_worker(braid_cluster_t *self, const char *name, int slots,
                         const char *const extra[], const char *const specs[]);

/*  Spawn `braid submit -b FRONTEND` followed by the NULL-terminated args,
    stdin from stdin_path (or /dev/null). name labels the logs.             */
braid_proc_t *
braid_cluster_submit(braid_cluster_t *self, const char *name, const char *const args[],
                     const char *stdin_path);

/*  Wait up to timeout_msec for the client to exit and its output to end;
    its exit code in *code_p. On a timeout the client's and the cluster's
    stderr tails are printed and the client is killed and freed (*client_p
    NULL): -1, the caller fails. When it exits with a code other than
    want_code the same tails are printed (the caller asserts on the code):
    0.                                                                      */
int
braid_cluster_finish(braid_cluster_t *self, braid_proc_t **client_p, int timeout_msec,
                    int want_code, int *code_p);

/*  `braid submit -b FRONTEND ARGS...` (braid_cluster_submit, name labels
    the logs) run to its end with braid_cluster_finish(). The client (owned,
    for its output) in *client_p; NULL after a -1 (reported).               */
int
braid_cluster_run(braid_cluster_t *self, const char *name, const char *const args[],
                 int timeout_msec, int want_code, braid_proc_t **client_p, int *code_p);

/*  Graceful stop, see above. 0 when every process exited 0 and nothing is
    left running; -1 otherwise (each problem reported on stderr).           */
int
braid_cluster_stop(braid_cluster_t *self);

/*  Kill what is left, free. NULL-safe.                                     */
void
braid_cluster_destroy(braid_cluster_t **self_p);

/*  Print the stderr tails of the broker and workers (failure reports).    */
void
braid_cluster_dump(braid_cluster_t *self);

#ifdef __cplusplus
}
#endif

#endif
