/*  ops.h - helpers of the ops tests: a plain HTTP/1.0 GET to a
    loopback port (the broker's /metrics, Prometheus's API), a broker's
    address from its ready line, and systemd's notification socket played
    by the test.

    Everything has a deadline; nothing here sleeps.
*/

#ifndef BRAID_OPS_H_INCLUDED
#define BRAID_OPS_H_INCLUDED

#include "fault.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  GET path from 127.0.0.1:port within timeout_msec. The body (owned,
    NUL-terminated, length in *len_p if not NULL) and the status in
    *status_p; NULL when the connection or the deadline failed.             */
char *
ops_http_get(int port, const char *path, int timeout_msec, int *status_p, size_t *len_p);

/*  The port after "key=HOST:" in the broker's ready line (its stderr), or
    -1.                                                                     */
int
ops_ready_port(braid_proc_t *broker, const char *key);

/*  systemd's side of sd_notify: a datagram socket at dir/notify, and
    $NOTIFY_SOCKET naming it (so processes spawned after this tell it).
    Returns the socket, or -1.                                              */
int
ops_notify_open(const char *dir);

/*  Read the notifications that come on sock until one line of one of them
    starts with prefix, or timeout_msec passes. Every line read is appended
    to seen (seensize bytes, cut to fit). 0 found / -1.                     */
int
ops_notify_wait(int sock, const char *prefix, int timeout_msec, char *seen, size_t seensize);

#ifdef __cplusplus
}
#endif

#endif
