/*  metrics.h - the broker's Prometheus endpoint: an HTTP server
    (libmicrohttpd) on an address of its own, answering GET /metrics.

    It runs in the broker's one thread. MHD works in its "external
    polling" mode with epoll: the broker polls one more descriptor
    (braid_metrics_fd) in its zmq_poll and calls braid_metrics_run() when
    that is readable or when braid_metrics_timeout_msec() has passed. A
    request is answered at once with render(arg), on the loop's thread: the
    text is the broker's state at that moment, read without a lock or a
    copy, and no other thread ever touches broker state. The server's
    sockets are nonblocking, a response is written as fast as the peer
    takes it, connections are capped (BRAID_METRICS_MAX_CONNECTIONS) and
    time out (BRAID_METRICS_TIMEOUT_SEC), so a slow or stuck scraper costs
    the loop a descriptor, never a wait. (A thread of MHD's own would need
    a snapshot published under a lock for every scrape; rendering here
    costs the loop less than that copy would.)

    Address: "HOST:PORT" with a numeric IPv4 host, or "[HOST]:PORT" with a
    numeric IPv6 one; PORT 0 picks a free port (braid_metrics_address()
    tells which).
*/

#ifndef BRAID_METRICS_H_INCLUDED
#define BRAID_METRICS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define BRAID_METRICS_MAX_CONNECTIONS 16
#define BRAID_METRICS_TIMEOUT_SEC 10

/*  The text to serve, NUL-terminated, its length in *len_p; owned by the
    caller of the function (freed with free()). NULL on allocation failure
    (answered 500).                                                         */
typedef char *(braid_metrics_render_fn)(void *arg, size_t *len_p);

typedef struct braid_metrics_t braid_metrics_t;

/*  Parse address (see above) into *addr and *addrlen. 0, or -1 with the
    reason in err.                                                          */
int
braid_metrics_parse(const char *address, struct sockaddr_storage *addr, socklen_t *addrlen,
                    char *err, size_t errsize);

/*  Listen on address and serve render(arg) at /metrics. NULL with the
    reason in err (a bad address, the port taken).                          */
braid_metrics_t *
braid_metrics_new(const char *address, braid_metrics_render_fn *render, void *arg, char *err,
                  size_t errsize);

/*  Close every connection and the listening socket. NULL-safe, sets
    *self_p to NULL.                                                        */
void
braid_metrics_destroy(braid_metrics_t **self_p);

/*  The descriptor to poll for reading.                                     */
int
braid_metrics_fd(braid_metrics_t *self);

/*  How long the loop may wait before braid_metrics_run() is due whatever
    the descriptor says (a connection's timeout), msec; -1 for no limit.   */
long
braid_metrics_timeout_msec(braid_metrics_t *self);

/*  Accept, read, answer and close what is ready; never blocks.             */
void
braid_metrics_run(braid_metrics_t *self);

/*  The address actually bound, "HOST:PORT" (a port 0 resolved). Borrowed. */
const char *
braid_metrics_address(braid_metrics_t *self);

/*  Requests for /metrics answered so far.                                  */
uint64_t
braid_metrics_scrapes(braid_metrics_t *self);

#endif
