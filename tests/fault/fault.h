/*  fault.h - helpers for the fault tests (issue 3): the broker and worker
    settings they share (short heartbeats and liveness), the broker's
    stats, and /proc conditions waited for with a deadline.

    Built on the integration harness (harness.h, cluster.h, fixture.h): a
    fault test's fixture is the shared braid_fixture_t, started with the
    fault settings (fault_fixture_new, FAULT_FIXTURE_TEST), and its cluster
    a braid_cluster_t as usual.
*/

#ifndef BRAID_FAULT_H_INCLUDED
#define BRAID_FAULT_H_INCLUDED

#include "fixture.h"
#include "jsonl.h"

#include <czmq.h>

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  The broker settings the fault tests share: liveness in about a second,
    so that a test waits out a dead peer in well under its time budget
    (also under ASan on two cores).                                         */
#define FAULT_HEARTBEAT "200"
#define FAULT_LIVENESS "1200"
#define FAULT_BROKER_CONF                                                                      \
    "broker\n"                                                                                 \
    "    heartbeat_msec = " FAULT_HEARTBEAT "\n"                                               \
    "    worker_liveness_msec = " FAULT_LIVENESS "\n"                                          \
    "    client_liveness_msec = 1500\n"                                                        \
    "    ack_timeout_msec = 1000\n"

/*  The workers' side of the same settings.                                */
#define FAULT_WORKER_ARGS                                                                      \
    ((const char *const[]){"--heartbeat", FAULT_HEARTBEAT, "--liveness", FAULT_LIVENESS, NULL})

/*  braid_fixture_new() with the fault settings: the broker gets def's conf,
    or FAULT_BROKER_CONF when it has none; the workers FAULT_WORKER_ARGS
    (def has no worker_args). Owned fixture, or NULL (reported).            */
braid_fixture_t *
fault_fixture_new(const braid_fixture_def_t *def);

/*  braid_fixture_setup() with fault_fixture_new().                         */
int
fault_fixture_setup(void **state);

/*  BRAID_FIXTURE_TEST() with the fault settings.                           */
#define FAULT_FIXTURE_TEST(test, def)                                                          \
    cmocka_unit_test_prestate_setup_teardown(test, fault_fixture_setup, braid_fixture_teardown, \
                                             (void *) &(def))

/*  Forget a worker the test killed on purpose (so braid_cluster_stop()
    does not expect it to exit 0): the process is reaped and freed.         */
void
fault_drop_worker(braid_cluster_t *self, braid_proc_t *worker);

/*  `braid stats --json -b FRONTEND`, parsed (braid_json_parse); the text
    in *text_p (owned) if text_p is not NULL. Owned (json_decref), or NULL. */
json_t *
fault_stats(braid_cluster_t *self, char **text_p);

/*  A number from the stats: key, or key in the object obj (obj may be
    NULL). -1 if missing.                                                   */
long long
fault_stat(json_t *stats, const char *obj, const char *key);

/*  Sum of the counters in the stats' "dropped" object; -1 if missing.     */
long long
fault_dropped_total(json_t *stats);

/*  Live (non-zombie) processes whose command line contains marker, not
    counting braid-worker processes (their -s specs name the scripts).     */
int
fault_marker_count(const char *marker);

/*  Wait until fault_marker_count(marker) satisfies count >= min (if
    at_least) or count == 0 (if not), polling /proc until the deadline.
    0 / -1.                                                                 */
int
fault_wait_marker(const char *marker, bool at_least, int min, int timeout_msec);

/*  Live children of pid (from /proc).                                      */
int
fault_child_count(pid_t pid);

/*  VmRSS of pid in bytes, or -1.                                           */
long long
fault_rss_bytes(pid_t pid);

/*  Poll the broker's stats until pred(stats, arg) holds or the deadline
    passes; 0 / -1. The last stats text is left in *text_p (owned) if
    text_p is not NULL.                                                     */
int
fault_wait_stats(braid_cluster_t *self, bool (*pred)(json_t *, void *), void *arg,
                 int timeout_msec, char **text_p);

/*  fault_wait_stats() until the broker holds no job (stats `jobs` 0 and
    `running` 0); the last stats are printed on stdout. 0 / -1.           */
int
fault_wait_no_job(braid_cluster_t *self, int timeout_msec);

/*  Sleep for a short poll interval (a /proc or stats poll inside a loop
    with a deadline; never a synchronisation by itself).                   */
void
fault_poll_pause(void);

/*  The synthetic source's payload for (query, seq) of size bytes into buf
    (size bytes; see the README).                                           */
void
fault_synthetic_payload(const char *query, unsigned long long seq, size_t size, char *buf);

/*  A client whose stdout goes into a pipe the test holds and reads (or
    does not read) itself: the backpressure tests' slow reader.           */
typedef struct {
    pid_t pid;              /* its own process group; 0: none              */
    int fd;                 /* the pipe's read end; -1: none               */
} fault_piped_t;

/*  Spawn argv (argv[0] a path) in a process group of its own, stdin from
    /dev/null, stdout into a new pipe (p->fd), stderr into err_path. 0 /
    -1 (p untouched).                                                       */
int
fault_piped_spawn(fault_piped_t *p, const char *const argv[], const char *err_path);

/*  Wait until the pipe is full (the client blocks writing). 0 / -1 when
    the deadline passed; the bytes queued in *queued_p.                    */
int
fault_piped_wait_full(fault_piped_t *p, int timeout_msec, int *queued_p);

/*  Wait for the client to exit (after it was read to its end); its
    waitpid() status in *status_p, p->pid 0. 0 / -1 (deadline).            */
int
fault_piped_wait_exit(fault_piped_t *p, int timeout_msec, int *status_p);

/*  The backstop: kill the client's group and reap it, close the pipe.     */
void
fault_piped_destroy(fault_piped_t *p);

/*  A DEALER connected to endpoint (tcp://HOST:PORT) from the loopback
    address source (e.g. "127.0.0.2": another host, as the broker's
    per-client limits see it), or from the default one when source is
    NULL. Receives time out after 5 s. Owned, or NULL.                      */
zsock_t *
fault_dealer_from(const char *endpoint, const char *source);

/*  Count the lines of text that contain needle.                            */
int
fault_count_lines(const char *text, const char *needle);

#ifdef __cplusplus
}
#endif

#endif
