/*  fault.h - helpers for the fault tests (issue 3): a broker started with a
    config file (short heartbeats and liveness, small windows, source
    policies), workers started with extra flags, the broker's stats, and
    /proc conditions waited for with a deadline; the fixture most tests
    share (temp dir, script, cluster and workers) and a client run to its
    end with a deadline.

    Built on the integration harness (harness.h, cluster.h): the cluster is
    a braid_cluster_t, so braid_cluster_submit(), braid_cluster_stop() and
    braid_cluster_destroy() work on it as usual.
*/

#ifndef BRAID_FAULT_H_INCLUDED
#define BRAID_FAULT_H_INCLUDED

#include "cluster.h"
#include "jsonl.h"

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
    "    heartbeat_msec = 200\n"                                                               \
    "    worker_liveness_msec = 1200\n"                                                        \
    "    client_liveness_msec = 1500\n"                                                        \
    "    ack_timeout_msec = 1000\n"

/*  Write dir/braidd.conf with conf_text and start braidd -c that file on
    three free loopback ports; wait for its ready line. Owned cluster, or
    NULL (reported).                                                        */
braid_cluster_t *
fault_cluster_new(const char *dir, const char *conf_text);

/*  Start a worker: -b/-k to the cluster, -n slots, -N name,
    --heartbeat FAULT_HEARTBEAT --liveness FAULT_LIVENESS, the
    NULL-terminated extra args (may be NULL), then -s SPEC for each spec.
    Waits for the broker's "worker joined name=NAME" line. 0 / -1.         */
int
fault_add_worker(braid_cluster_t *self, const char *name, int slots, const char *const extra[],
                 const char *const specs[]);

/*  The fixture most fault tests share: a temp dir, maybe a script in it,
    and a cluster.                                                          */
typedef struct {
    char *dir;                /* owned temp dir */
    char *script;             /* owned path of the script, or NULL */
    braid_cluster_t *cluster; /* owned */
} fault_fixture_t;

/*  A temp dir named after name; if script_name is not NULL, the executable
    script dir/script_name with script_text; fault_cluster_new() with
    conf_text; then nworkers workers w1, w2, ... (fault_add_worker, no
    extra args), each with slots and one source spec. With a script,
    spec_fmt is a printf format whose one %s is the script's path (e.g.
    "long=exec:'%s' {query}"); without one, it is the spec as is. Owned
    fixture, or NULL (reported; everything undone).                         */
fault_fixture_t *
fault_fixture_new(const char *name, const char *conf_text, const char *script_name,
                  const char *script_text, int nworkers, int slots, const char *spec_fmt);

/*  Kill what is left of the cluster, remove the temp dir, free. NULL-safe. */
void
fault_fixture_destroy(fault_fixture_t **self_p);

/*  fault_fixture_destroy() as a cmocka teardown (*state is the fixture).  */
int
fault_fixture_teardown(void **state);

/*  Forget a worker the test killed on purpose (so braid_cluster_stop()
    does not expect it to exit 0): the process is reaped and freed.         */
void
fault_drop_worker(braid_cluster_t *self, braid_proc_t *worker);

/*  `braid stats --json -b FRONTEND`. Owned parsed object, or NULL.        */
braid_json_t *
fault_stats(braid_cluster_t *self, char **text_p);

/*  A number from the stats: key, or key in the object obj (obj may be
    NULL). -1 if missing.                                                   */
long long
fault_stat(braid_json_t *stats, const char *obj, const char *key);

/*  Sum of the counters in the stats' "dropped" object; -1 if missing.     */
long long
fault_dropped_total(braid_json_t *stats);

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
fault_wait_stats(braid_cluster_t *self, bool (*pred)(braid_json_t *, void *), void *arg,
                 int timeout_msec, char **text_p);

/*  A fault_wait_stats() predicate: the broker holds no job (stats `jobs`
    0 and `running` 0). arg unused.                                         */
bool
fault_no_job(braid_json_t *stats, void *arg);

/*  Sleep for a short poll interval (a /proc or stats poll inside a loop
    with a deadline; never a synchronisation by itself).                   */
void
fault_poll_pause(void);

/*  The synthetic source's payload for (query, seq) of size bytes into buf
    (size bytes; see docs/SPEC.md).                                         */
void
fault_synthetic_payload(const char *query, unsigned long long seq, size_t size, char *buf);

/*  Count the lines of text that contain needle.                            */
int
fault_count_lines(const char *text, const char *needle);

#ifdef __cplusplus
}
#endif

#endif
