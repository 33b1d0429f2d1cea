/*  relay.h - a delaying TCP relay between hosts of the test network, for
    latency (this kernel has no tc netem).

    The relay listens on a host's address (inside that host's namespace);
    for each connection it accepts there it connects to a target address
    from inside the target host's namespace, and forwards the bytes both
    ways, each chunk written delay_msec after it was read: every direction
    of every connection gets delay_msec of one-way latency, so a round
    trip through it takes at least twice that. A relay in the broker's
    host in front of the broker's ports delays the clients' and workers'
    traffic as if the broker were far away; the peers see the relay's
    address as the broker's.

    Bounded: at most BRAID_RELAY_MAX_CONNS connections at once (another is
    closed at once), at most BRAID_RELAY_QUEUE_BYTES queued in each
    direction of a connection (then the relay stops reading that side
    until the queue drains: the peer feels TCP backpressure). A half-close
    is passed on once what came before it is written; an error on either
    side closes both.

    One thread per relay, inside the test process: it ends at
    braid_relay_destroy(), at the latest BRAID_RELAY_LIFETIME_MSEC after it
    started (then it closes everything by itself), and in any case with
    the test process, so it never outlives the test.
*/

#ifndef BRAID_RELAY_H_INCLUDED
#define BRAID_RELAY_H_INCLUDED

#include "topo.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRAID_RELAY_MAX_CONNS 64
#define BRAID_RELAY_QUEUE_BYTES (256 * 1024)
#define BRAID_RELAY_LIFETIME_MSEC (15 * 60 * 1000)

typedef struct braid_relay_t braid_relay_t;

/*  Start a relay listening on listen_host's address at listen_port (0: a
    free port), forwarding to target_addr:target_port from target_host,
    delay_msec (>= 0) each way. Owned, or NULL (reported).                  */
braid_relay_t *
braid_relay_new(braid_topo_t *topo, braid_host_t listen_host, int listen_port,
                braid_host_t target_host, const char *target_addr, int target_port,
                int delay_msec);

/*  Stop the thread, close every connection, free. NULL-safe.               */
void
braid_relay_destroy(braid_relay_t **self_p);

/*  The port it listens on.                                                 */
int
braid_relay_port(braid_relay_t *self);

/*  Connections accepted, and bytes forwarded (both ways), so far.         */
uint64_t
braid_relay_accepted(braid_relay_t *self);

uint64_t
braid_relay_bytes(braid_relay_t *self);

#ifdef __cplusplus
}
#endif

#endif
