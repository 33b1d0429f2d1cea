/*  netcluster.h - braid across the test network's hosts (topo.h): braidd
    on the broker host, workers on the worker hosts, clients on the client
    host, each talking to the others over the veth links.

    It is built on the integration harness (harness.h, cluster.h): the
    processes are braid_proc_t spawned on their hosts (braid_topo_spawn),
    and the cluster is an ordinary braid_cluster_t, so braid_cluster_finish,
    _dump, _stop and _destroy work as in the loopback tests. Its
    frontend, backend and sink are the endpoints as the peers dial them:
    the broker's own ports, or with opts.delay_msec the ports of delaying
    relays (relay.h) on the broker host in front of them.

    The broker's settings are written in one place, s_broker_conf() in
    netcluster.c (binding beyond loopback: see there).

    The fixture (braid_net_setup/teardown, BRAID_NET_TEST) gives a test a
    temp dir and a topology, and removes both, with whatever cluster the
    test left in it, whatever happened. A test starts with
    BRAID_TOPO_REQUIRE(): when the machine cannot run it (not root, no
    namespaces) the fixture holds no topology and the test is skipped.
*/

#ifndef BRAID_NETCLUSTER_H_INCLUDED
#define BRAID_NETCLUSTER_H_INCLUDED

#include "cluster.h"
#include "jsonl.h"
#include "relay.h"
#include "topo.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  The broker's ports on its host (a namespace of its own: always free),
    and the relays' when there are relays.                                  */
#define BRAID_NET_FRONTEND_PORT 5555
#define BRAID_NET_BACKEND_PORT 5556
#define BRAID_NET_SINK_PORT 5557
#define BRAID_NET_RELAY_PORT_OFFSET 1000

typedef struct {
    int heartbeat_msec; /* broker and workers; 0: the programs' defaults */
    int liveness_msec;  /* worker liveness, both sides; 0: the defaults */
    int delay_msec;     /* > 0: clients and workers reach the broker through relays */
    bool curve;         /* CURVE on: keys made in the test dir, every peer uses them */
    braid_host_t broker_host; /* where braidd runs: BRAID_HOST_BROKER (0, the
                                 default) or BRAID_HOST_BROKER2 */
} braid_net_opts_t;

typedef struct {
    braid_topo_t *topo; /* borrowed */
    braid_net_opts_t opts;
    braid_cluster_t *cluster; /* owned */
    braid_relay_t *relays[3]; /* frontend, backend, sink; owned, or NULL */
    /*  With opts.curve: the broker's public certificate, the client's and
        the workers' keypairs (paths in the test dir), else empty.         */
    char broker_key[512];
    char client_key[512];
    char worker_key[512];
} braid_net_cluster_t;

/*  Start braidd on the broker host (opts->broker_host; logs in dir, one
    cluster a dir), and the relays if
    opts->delay_msec > 0. With opts->curve the keys are made first
    (`braid keygen`'s braid_curve_keygen: dir/broker, dir/clients/client,
    dir/workers/worker): the broker binds with CURVE and the client and
    worker allowlists, and every worker, client and stats call below
    presents its key. Owned, or NULL (reported).                            */
braid_net_cluster_t *
braid_net_cluster_new(braid_topo_t *topo, const char *dir, const braid_net_opts_t *opts);

/*  Start a worker on host, named name, with slots and the NULL-terminated
    source specs (and the opts' heartbeat and liveness); wait until the
    broker reports it joined. 0 / -1 (reported).                            */
int
braid_net_cluster_add_worker(braid_net_cluster_t *self, braid_host_t host, const char *name,
                             int slots, const char *const specs[]);

/*  `braid submit -b FRONTEND ARGS...` on the client host (with the client
    key under CURVE); stdin from stdin_path or /dev/null. Owned, or NULL.   */
braid_proc_t *
braid_net_cluster_submit(braid_net_cluster_t *self, const char *name, const char *const args[],
                         const char *stdin_path);

/*  `braid stats --json` on the client host, parsed; the text in *text_p
    (owned) if text_p is not NULL. Owned (json_decref), or NULL.           */
json_t *
braid_net_cluster_stats(braid_net_cluster_t *self, char **text_p);

/*  braid_cluster_stop() (every process exits 0 on SIGTERM, nothing left),
    then the relays stop. 0 / -1 (reported).                                */
int
braid_net_cluster_stop(braid_net_cluster_t *self);

/*  Kill what is left, stop the relays, free. NULL-safe.                    */
void
braid_net_cluster_destroy(braid_net_cluster_t **self_p);

/*  --------------------------------------------------------------------
    The fixture                                                             */

typedef struct {
    char *dir;                 /* owned temp dir, or NULL when skipped */
    braid_topo_t *topo;        /* owned, or NULL when skipped */
    braid_net_cluster_t *net;  /* owned once the test starts one, or NULL */
    braid_net_cluster_t *net2; /* a second one (another broker host), or NULL */
    char *dir2;                /* its temp dir, owned, or NULL */
} braid_net_fixture_t;

/*  cmocka setup: the initial state is the temp dir's prefix. When the
    machine cannot run network tests the fixture is empty (the test skips
    through BRAID_TOPO_REQUIRE); when it can but the topology cannot be
    made, the setup fails. 0 / -1.                                          */
int
braid_net_setup(void **state);

/*  cmocka teardown: the cluster (killed), the topology, orphans, the temp
    dir. -1 when an orphan was still running.                               */
int
braid_net_teardown(void **state);

#define BRAID_NET_TEST(test, prefix)                                                           \
    cmocka_unit_test_prestate_setup_teardown(test, braid_net_setup, braid_net_teardown,         \
                                             (void *) (prefix))

/*  --------------------------------------------------------------------
    Checks                                                                  */

/*  Lines of text that contain needle.                                      */
int
braid_net_count_lines(const char *text, const char *needle);

/*  Wait until at least count lines of the stream contain text; on the
    harness's condition variable (each wait for more output), no sleeping.
    0 / -1 (the deadline passed or the stream ended).                      */
int
braid_net_wait_count(braid_proc_t *proc, braid_stream_t stream, const char *text, int count,
                     int timeout_msec);

/*  Write n queries, one per line, to dir/queries.txt: "q0000-" and a
    varied tail, now and then quotes, a backslash, shell syntax and spaces
    (each must reach the source as one argument). Owned path, or NULL.     */
char *
braid_net_queries_file(const char *dir, int n);

/*  The sequential reference, run here: for each line q of queries_path,
    argv... q (the query appended as the last argument, as an exec
    template whose last word is {query}), one after another. The output
    (owned, length in *len_p), or NULL (reported).                          */
char *
braid_net_reference(const char *const argv[], const char *queries_path, size_t *len_p);

/*  A `braid submit --json` output (submit order) of a job of queries
    queries on one source: the partials' data, in line order, must equal
    want; every query has exactly one end record, status ok, after its
    partials; the job line comes last and counts queries ok. Fails the test
    (cmocka) otherwise, saying what differs.                                */
void
braid_net_check_json(const char *out, int queries, const char *source, const char *want,
                     size_t want_len);

#ifdef __cplusplus
}
#endif

#endif
