/*  auth.c - the broker's ZAP handler (see auth.h).                         */

#include "auth.h"

#include "braid_log.h"

#include <stdlib.h>
#include <string.h>

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_ZAP_FRAMES 7          /* version, id, domain, address, identity,
                                   mechanism, the client's key              */

struct braid_auth_t {
    zsock_t *handler;           /* REP on S_ZAP_ENDPOINT                    */
    zcertstore_t *clients;
    zcertstore_t *workers;
    uint64_t refused;
};

braid_auth_t *
braid_auth_new(const char *clients_dir, const char *workers_dir, char *err, size_t errsize)
{
    braid_auth_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    self->clients = zcertstore_new(clients_dir);
    self->workers = zcertstore_new(workers_dir);
    self->handler = zsock_new(ZMQ_REP);
    if (!self->clients || !self->workers || !self->handler) {
        snprintf(err, errsize, "cannot load the key directories");
        braid_auth_destroy(&self);
        return NULL;
    }
    if (zsock_bind(self->handler, S_ZAP_ENDPOINT) != 0) {
        snprintf(err, errsize, "cannot bind the ZAP handler: %s", zmq_strerror(zmq_errno()));
        braid_auth_destroy(&self);
        return NULL;
    }
    return self;
}

void
braid_auth_destroy(braid_auth_t **self_p)
{
    braid_auth_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy(&self->handler);
    zcertstore_destroy(&self->clients);
    zcertstore_destroy(&self->workers);
    free(self);
    *self_p = NULL;
}

zsock_t *
braid_auth_socket(braid_auth_t *self)
{
    return self->handler;
}

uint64_t
braid_auth_refused(const braid_auth_t *self)
{
    return self->refused;
}

/*  The User-Id for request, or NULL to refuse it: a CURVE handshake whose
    key the certificate store of its domain holds. key gets the Z85 text.  */
static const char *
s_decide(braid_auth_t *self, zmsg_t *request, char *key)
{
    if (zmsg_size(request) != S_ZAP_FRAMES)
        return NULL;
    zframe_t *f = zmsg_first(request);
    if (!zframe_streq(f, "1.0"))
        return NULL;
    zmsg_next(request);                             /* request id         */
    zframe_t *domain = zmsg_next(request);
    zmsg_next(request);                             /* address            */
    zmsg_next(request);                             /* routing id         */
    zframe_t *mechanism = zmsg_next(request);
    zframe_t *public_key = zmsg_next(request);
    if (!zframe_streq(mechanism, "CURVE") || zframe_size(public_key) != 32)
        return NULL;
    zmq_z85_encode(key, zframe_data(public_key), 32);
    zcertstore_t *store = zframe_streq(domain, BRAID_AUTH_CLIENTS)   ? self->clients
                          : zframe_streq(domain, BRAID_AUTH_WORKERS) ? self->workers
                                                                     : NULL;
    return store && zcertstore_lookup(store, key) ? key : NULL;
}

void
braid_auth_handle(braid_auth_t *self, int max)
{
    for (int i = 0; i < max && (zsock_events(self->handler) & ZMQ_POLLIN); i++) {
        zmsg_t *request = zmsg_recv(self->handler);
        if (!request)
            return;
        char key[41] = "";
        const char *user = s_decide(self, request, key);
        zframe_t *id = NULL;
        if (zmsg_size(request) > 1 && zmsg_first(request))
            id = zmsg_next(request);
        zmsg_t *reply = zmsg_new();
        if (reply) {
            zmsg_addstr(reply, "1.0");
            if (id)
                zmsg_addmem(reply, zframe_data(id), zframe_size(id));
            else
                zmsg_addstr(reply, "");
            zmsg_addstr(reply, user ? "200" : "400");
            zmsg_addstr(reply, user ? "OK" : "key not allowed here");
            zmsg_addstr(reply, user ? user : "");
            zmsg_addmem(reply, "", 0);
            zmsg_send(&reply, self->handler);
        }
        if (!user) {
            self->refused++;
            braid_debug("auth: handshake refused key=%s", key[0] ? key : "(none)");
        }
        zmsg_destroy(&request);
    }
}
