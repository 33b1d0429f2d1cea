/*  braid_curve.h - CURVE for braid's sockets, shared by the three programs.

    Keys are czmq certificates (zcert): `braid keygen NAME` writes NAME, the
    public certificate, and NAME_secret, which holds both keys. The broker
    loads its own keypair and two directories of public certificates
    (clients, workers); a worker or a client loads its own keypair and the
    broker's public certificate and makes its sockets CURVE clients.

    Without CURVE, a broker binds only loopback endpoints unless its config
    says insecure = yes (braid_endpoint_loopback decides what that means).
*/

#ifndef BRAID_CURVE_H_INCLUDED
#define BRAID_CURVE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  The certificate at path (czmq format: path_secret holds both keys, path
    the public one; either name may be given). With need_secret the secret
    key must be there. Owned, or NULL with the reason in err.              */
zcert_t *
braid_curve_load(const char *path, bool need_secret, char *err, size_t errsize);

/*  Write a new keypair: path (public) and path_secret (both keys, mode
    0600). 0, or -1 with the reason in err.                                 */
int
braid_curve_keygen(const char *path, char *err, size_t errsize);

/*  Make sock (not yet connected) a CURVE client with own's keypair, of the
    server whose public key server holds. 0, or -1 with errno.             */
int
braid_curve_client(zsock_t *sock, zcert_t *own, zcert_t *server);

/*  The keys a client program uses: own (the program's keypair) and server
    (the broker's public certificate), loaded from the two paths; both
    NULL when both paths are NULL or empty (no CURVE). 0, or -1 with the
    reason in err (one path without the other, or a bad file).             */
int
braid_curve_load_pair(const char *own_path, const char *server_path, zcert_t **own,
                      zcert_t **server, char *err, size_t errsize);

/*  True if endpoint can be reached from this host only: ipc://, inproc://,
    or tcp:// on 127.0.0.0/8, [::1] or localhost.                           */
bool
braid_endpoint_loopback(const char *endpoint);

#ifdef __cplusplus
}
#endif

#endif
