/*  auth.h - the broker's ZAP handler: who may connect to which socket.

    With CURVE, libzmq asks the ZAP handler (inproc://zeromq.zap.01) about
    every handshake, naming the socket's ZAP domain and the peer's public
    key. The frontend's domain is BRAID_AUTH_CLIENTS, the backend's and the
    sink's BRAID_AUTH_WORKERS; a key is accepted only when a certificate in
    that domain's directory holds it (zcertstore: files added or removed
    later are seen at the next handshake). The accepted key, in Z85, is the
    connection's User-Id, which every message then carries (braid_msg_t
    peer). czmq's zauth keeps one key list for all sockets; roles need one
    per domain, so braid answers ZAP itself, on the broker's loop.
*/

#ifndef BRAID_AUTH_H_INCLUDED
#define BRAID_AUTH_H_INCLUDED

#include <czmq.h>
#include <stddef.h>
#include <stdint.h>

#define BRAID_AUTH_CLIENTS "braid-clients"
#define BRAID_AUTH_WORKERS "braid-workers"

typedef struct braid_auth_t braid_auth_t;

/*  Bind the ZAP handler, with the public certificates of clients_dir and
    workers_dir. NULL with the reason in err.                               */
braid_auth_t *
braid_auth_new(const char *clients_dir, const char *workers_dir, char *err, size_t errsize);

/*  Unbind and free. NULL-safe, sets *self_p to NULL.                       */
void
braid_auth_destroy(braid_auth_t **self_p);

/*  The socket to poll for requests. Borrowed.                              */
zsock_t *
braid_auth_socket(braid_auth_t *self);

/*  Answer the requests waiting, at most max of them.                       */
void
braid_auth_handle(braid_auth_t *self, int max);

/*  Handshakes refused so far.                                              */
uint64_t
braid_auth_refused(const braid_auth_t *self);

#endif
