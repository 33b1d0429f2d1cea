/*  broker.h - the braid broker: sockets, event loop, dispatch.

    One thread, one zmq_poll loop over three sockets: the frontend ROUTER
    (clients), the backend ROUTER (worker control) and the sink PULL
    (results). Jobs are served round robin; a task goes to the least-loaded
    worker that serves its source and has a free slot.
*/

#ifndef BRAID_BROKER_H_INCLUDED
#define BRAID_BROKER_H_INCLUDED

#include "braid_msg.h"
#include "config.h"
#include "policy.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct braid_broker_t braid_broker_t;

/*  Create the broker and bind its sockets. Returns NULL (and logs why) if a
    socket cannot be created or bound.                                      */
braid_broker_t *
braid_broker_new(const braid_broker_config_t *cfg);

/*  Destroy the broker. NULL-safe, sets *self_p to NULL.                    */
void
braid_broker_destroy(braid_broker_t **self_p);

/*  The endpoint actually bound (ephemeral ports resolved): which is one of
    "frontend", "backend", "sink". Borrowed.                                */
const char *
braid_broker_endpoint(braid_broker_t *self, const char *which);

/*  Replace the source policies (SIGHUP): running tasks keep going, limits
    apply from now on.                                                      */
void
braid_broker_set_policies(braid_broker_t *self, const braid_broker_config_t *cfg);

/*  Run until stopped. The first SIGINT or SIGTERM (zsys_interrupted)
    starts a drain: new jobs are refused, open jobs run on for at most
    drain_msec, then are cancelled; the loop returns when no job is left.
    A second signal returns at once. While *reload is set, reload_fn(arg)
    is called (and *reload cleared) between events. Returns 0 on a clean
    stop, -1 if the loop failed.                                            */
typedef void(braid_broker_reload_fn)(void *arg, braid_broker_t *broker);
int
braid_broker_run(braid_broker_t *self, volatile int *reload, braid_broker_reload_fn *reload_fn,
                 void *arg);

#endif
