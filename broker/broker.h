/*  broker.h - the braid broker: sockets, event loop, dispatch.

    One thread, one zmq_poll loop over three sockets: the frontend ROUTER
    (clients), the backend ROUTER (worker control) and the sink PULL
    (results). Jobs are served round robin; a task goes to the least-loaded
    worker that serves its source and has a free slot.
*/

#ifndef BRAID_BROKER_H_INCLUDED
#define BRAID_BROKER_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *frontend;       /* endpoint to bind for clients            */
    const char *backend;        /* endpoint to bind for worker control     */
    const char *sink;           /* endpoint to bind for worker results     */
    uint32_t max_jobs_per_client;   /* open jobs one client may hold       */
    uint64_t max_tasks_per_job;     /* queries x sources in one job        */
} braid_broker_config_t;

typedef struct braid_broker_t braid_broker_t;

/*  Fill cfg with the defaults.                                             */
void
braid_broker_config_defaults(braid_broker_config_t *cfg);

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

/*  Run until interrupted (SIGINT or SIGTERM set zsys_interrupted).
    Returns 0 on a clean stop, -1 if the loop failed.                       */
int
braid_broker_run(braid_broker_t *self);

#endif
