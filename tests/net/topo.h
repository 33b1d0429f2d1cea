/*  topo.h - a test network of hosts in Linux network namespaces, for the
    tests that cross machines.

    Every host is a network namespace with one interface, eth0, the end of
    a veth pair whose other end, v-HOST, is a port of the bridge br0 in a
    namespace of its own (never the root namespace):

        braid-P-broker   eth0 198.18.0.1/24  ──┐
        braid-P-broker2  eth0 198.18.0.2/24  ──┤
        braid-P-worker1  eth0 198.18.0.11/24 ──┼── v-HOST in br0, in braid-P-bridge
        braid-P-worker2  eth0 198.18.0.12/24 ──┤
        braid-P-client   eth0 198.18.0.21/24 ──┘

    P is the test process's pid, so parallel runs never share a name (and
    each run has a bridge, an L2 segment, of its own: the same addresses in
    two runs never meet). 198.18.0.0/24 is in the RFC 2544 benchmarking
    range: the hosts have only the connected route, no default route, the
    root namespace gets no address and no route, so nothing sent in the
    test network can leave it. `lo` is up in every namespace; IPv6 is off.

    What a test does with it:
    - run a program on a host: braid_topo_spawn() is braid_proc_spawn()
      (harness.h) with the spawning thread inside the host's namespace for
      the spawn (setns), so the child starts there and logs, waits, signals
      and the killpg backstop work as for any other process; more generally
      braid_topo_call() runs a function with the calling thread inside a
      host (braid_cluster_add_worker, say), and braid_topo_socket() makes a
      socket there;
    - cut a host's link (v-HOST down: the host's eth0 loses its carrier, its
      packets go nowhere, as when the cable is pulled at the switch), and
      restore it;
    - drop a percentage of a host's IPv4 packets at random, both ways, with
      an nft rule in the host's namespace (`numgen random`, the nft form of
      iptables' statistic match; this kernel has no tc netem), and read the
      rule's counter;
    - add latency with a delaying TCP relay: relay.h.

    Teardown removes everything, whatever happened: every process still in
    one of the namespaces is killed (SIGKILL, by pid, found through
    /proc/PID/ns/net), then every namespace's name is removed (umount and
    unlink, as `ip netns del` does); the veth pairs and the bridge go with
    their namespaces. braid_topo_destroy() does it; so do an atexit handler
    and a handler for SIGINT, SIGTERM, SIGHUP, SIGQUIT and SIGABRT (then the
    signal is raised again). A run killed outright (SIGKILL, a ctest
    timeout) leaves its namespaces behind: braid_topo_sweep(), which
    braid_topo_new() calls first, removes any braid-P-* namespace whose
    process P is gone or started after the namespace was made (its pid was
    reused), killing what still runs in it.

    One topology per process at a time. Needs root and `ip` (iproute2);
    the loss helpers need `nft` (nftables). braid_topo_probe() says whether
    this machine can run the tests (the tests skip with BRAID_TOPO_REQUIRE()
    when it cannot).
*/

#ifndef BRAID_TOPO_H_INCLUDED
#define BRAID_TOPO_H_INCLUDED

#include "harness.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BRAID_HOST_BROKER = 0,
    BRAID_HOST_BROKER2,
    BRAID_HOST_WORKER1,
    BRAID_HOST_WORKER2,
    BRAID_HOST_CLIENT,
    BRAID_HOST_COUNT
} braid_host_t;

/*  What a skipped test says, whatever the reason (ctest's
    SKIP_REGULAR_EXPRESSION matches it).                                    */
#define BRAID_TOPO_SKIP_TEXT "needs root and ip netns"

/*  In a cmocka test: skip it, saying why, unless braid_topo_probe() says
    the machine can run it.                                                 */
#define BRAID_TOPO_REQUIRE()                                                                   \
    do {                                                                                       \
        char why_[512];                                                                        \
        if (braid_topo_probe(why_, sizeof why_) != 0) {                                        \
            print_message("skipped: " BRAID_TOPO_SKIP_TEXT " (%s)\n", why_);                   \
            skip();                                                                            \
        }                                                                                      \
    } while (0)

typedef struct braid_topo_t braid_topo_t;

/*  The host's name ("broker", "worker1", ...) and its address
    ("198.18.0.1", ...): static strings.                                    */
const char *
braid_host_name(braid_host_t host);

const char *
braid_host_addr(braid_host_t host);

/*  "tcp://ADDR:PORT" for the host into buf. buf.                           */
char *
braid_host_endpoint(braid_host_t host, int port, char *buf, size_t size);

/*  Can this machine run the network tests? Root, `ip` found, and a
    namespace can be made and removed (tried once per process, the answer
    kept). 0 yes; -1 no, the reason in why.                                 */
int
braid_topo_probe(char *why, size_t why_size);

/*  The path of `ip` or `nft` (PATH, then the sbin directories a non-login
    root shell may lack); NULL if not found. Static.                        */
const char *
braid_topo_tool(const char *name);

/*  Sweep stale namespaces (see above), then make the topology. Owned, or
    NULL (reported on stderr; whatever was made is removed).                */
braid_topo_t *
braid_topo_new(void);

/*  Kill every process left in the topology's namespaces and remove them.
    NULL-safe. Processes spawned on its hosts should be destroyed first
    (braid_proc_destroy); whatever is left is killed here.                 */
void
braid_topo_destroy(braid_topo_t **self_p);

/*  Remove stale braid-P-* namespaces (see above). Returns how many were
    removed.                                                                */
int
braid_topo_sweep(void);

/*  The namespace's name of a host, e.g. "braid-4242-worker1"; of the
    bridge with host BRAID_HOST_COUNT. Borrowed.                            */
const char *
braid_topo_ns(braid_topo_t *self, braid_host_t host);

/*  The inode of a host's namespace (as in /proc/PID/ns/net: "net:[INO]"),
    of the bridge's with BRAID_HOST_COUNT.                                 */
unsigned long
braid_topo_ns_ino(braid_topo_t *self, braid_host_t host);

/*  Call fn(arg) with the calling thread inside the host's namespace, and
    return its result; -1 (reported) if the thread cannot enter. Sockets
    made and processes spawned by fn belong to the host. fn must return
    (no longjmp: no cmocka assertion inside).                               */
int
braid_topo_call(braid_topo_t *self, braid_host_t host, int (*fn)(void *), void *arg);

/*  braid_proc_spawn() on the host (see above). Owned, or NULL.             */
braid_proc_t *
braid_topo_spawn(braid_topo_t *self, braid_host_t host, const char *dir, const char *name,
                 const char *const argv[], const char *stdin_path);

/*  An AF_INET socket of type (SOCK_STREAM, SOCK_DGRAM; SOCK_NONBLOCK may
    be or-ed in) on the host, close-on-exec. fd, or -1.                     */
int
braid_topo_socket(braid_topo_t *self, braid_host_t host, int type);

/*  A TCP socket listening on the host's address, port (0: a free one), its
    port in *port_p if port_p is not NULL. fd, or -1.                       */
int
braid_topo_listen(braid_topo_t *self, braid_host_t host, int port, int *port_p);

/*  Connect from the host to addr:port within timeout_msec. A connected,
    blocking socket, or -1 with errno (ETIMEDOUT when the deadline passed). */
int
braid_topo_connect(braid_topo_t *self, braid_host_t from, const char *addr, int port,
                   int timeout_msec);

/*  Bring the host's link down (up = false: cut) or up again. 0 / -1.      */
int
braid_topo_link(braid_topo_t *self, braid_host_t host, bool up);

/*  Drop percent (0..100) of the host's IPv4 packets at random, incoming
    and outgoing on eth0 (0 removes the rule). Replaces an earlier setting
    and resets the counter. 0 / -1 (reported).                             */
int
braid_topo_loss(braid_topo_t *self, braid_host_t host, int percent);

/*  Packets the host's loss rule has dropped, both ways; -1 without a rule
    or on error.                                                            */
long long
braid_topo_loss_dropped(braid_topo_t *self, braid_host_t host);

/*  True if a namespace named braid-PID-* exists (PID: this process when
    pid is 0). For checks that teardown removed everything.                */
bool
braid_topo_ns_exists(int pid);

/*  The inode of pid's network namespace; 0 if pid is gone.                */
unsigned long
braid_pid_netns(pid_t pid);

/*  How many processes are in the namespace with this inode (see
    braid_topo_ns_ino).                                                     */
int
braid_topo_ns_procs(unsigned long ino);

#ifdef __cplusplus
}
#endif

#endif
