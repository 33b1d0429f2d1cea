/*  worker.h - the braid worker: one event loop, many concurrent tasks.

    Per broker (a link): a DEALER connected to the broker's backend carries
    HELLO, WHEARTBEAT and BYE out and TASK, TASK_CREDIT, TASK_CANCEL,
    BHEARTBEAT and RESET in; a PUSH connected to its sink carries DATA and
    DONE out. See proto/PROTOCOL.md, "A worker".

    Several brokers: each link registers, heartbeats, reconnects and is
    reset on its own, and lists only its own tasks; every link announces
    the worker's slots, and the slots are shared: at most `slots` tasks run
    at once whatever the links bring (the rest wait queued, each broker at
    most its slots' worth), queued tasks start fairly across the links.
*/

#ifndef BRAID_WORKER_H_INCLUDED
#define BRAID_WORKER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#include "braid_msg.h"
#include "source.h"
#include "tasks.h"

typedef struct _braid_worker_t braid_worker_t;

/*  Timing, in one place (a source kind's own timing is in its header).    */
#define BRAID_WORKER_HEARTBEAT_MSEC 1000 /* default WHEARTBEAT interval */
#define BRAID_WORKER_LIVENESS_MSEC 3000  /* default: broker silent, reconnect */
#define BRAID_WORKER_STOP_MSEC 5000     /* SIGTERM: most time to deliver DONEs */
#define BRAID_WORKER_LINGER_MSEC 1000   /* then to flush sockets on close  */
#define BRAID_WORKER_HWM 1000           /* messages queued per socket      */
/*  A TASK is acknowledged by the first heartbeat that lists it: one goes
    out at most this long after a TASK came, whatever the interval.        */
#define BRAID_WORKER_ACK_MSEC 250
#define BRAID_WORKER_MAX_BROKERS BRAID_TASKS_MAX_LINKS /* brokers one worker serves */

typedef struct {
    const char *name;               /* valid per braid_name_valid()        */
    uint32_t slots;                 /* 1..BRAID_MAX_SLOTS tasks run at once,
                                       as many more wait in a queue        */
    const char *backends[BRAID_WORKER_MAX_BROKERS];
                                    /* per broker: the DEALER's endpoint   */
    const char *sinks[BRAID_WORKER_MAX_BROKERS];
                                    /* per broker: the PUSH's endpoint     */
    size_t nbrokers;                /* 1..BRAID_WORKER_MAX_BROKERS         */
    braid_source_t **sources;       /* borrowed; must outlive the worker   */
    size_t nsources;                /* 1..BRAID_MAX_SOURCES                */
    uint32_t heartbeat_msec;        /* WHEARTBEAT interval; 0 = default    */
    uint32_t liveness_msec;         /* broker silent this long: reconnect;
                                       0 = default                         */
    const char *key;                /* CURVE: this worker's keypair file   */
    const char *broker_key;         /* CURVE: the brokers' public cert (one
                                       key for all of them); both or
                                       neither                             */
} braid_worker_config_t;

/*  Open the contexts of the source kinds the sources use, create the
    sockets and connect them. NULL with the reason in err.                 */
braid_worker_t *
braid_worker_new(const braid_worker_config_t *config, char *err, size_t errsize);

/*  Stop every task's run (killing and reaping any child still running),
    close the kinds' contexts and the sockets (lingering briefly so DONE
    and BYE leave). NULL-safe; sets *self_p to NULL.                        */
void
braid_worker_destroy(braid_worker_t **self_p);

/*  Send HELLO, log the ready line, and serve until signal_fd (a signalfd
    for SIGTERM and SIGINT) fires; then kill running tasks, hand them back
    (DONE cancelled, transient) and send BYE. Returns 0 after such a stop,
    -1 on a fatal error.                                                    */
int
braid_worker_run(braid_worker_t *self, int signal_fd);

#endif
