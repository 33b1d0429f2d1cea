/*  braid_curve.c - CURVE for braid's sockets (see braid_curve.h).         */

#include "braid_curve.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

zcert_t *
braid_curve_load(const char *path, bool need_secret, char *err, size_t errsize)
{
    /*  zcert_load tries path_secret first, then path; a name that already
        ends in _secret is the secret file itself.                          */
    char base[1024];
    size_t len = strlen(path);
    const char *suffix = "_secret";
    size_t slen = strlen(suffix);
    if (len >= sizeof base) {
        snprintf(err, errsize, "%s: path too long", path);
        return NULL;
    }
    snprintf(base, sizeof base, "%s", path);
    if (len > slen && streq(base + len - slen, suffix))
        base[len - slen] = '\0';
    if (!zsys_file_exists(path)) {
        snprintf(err, errsize, "%s: no such key file", path);
        return NULL;
    }
    zcert_t *cert = zcert_load(base);
    if (!cert) {
        snprintf(err, errsize, "%s: not a czmq certificate (make one with braid keygen)", path);
        return NULL;
    }
    if (need_secret && streq(zcert_secret_txt(cert), "0000000000000000000000000000000000000000")) {
        snprintf(err, errsize, "%s: no secret key (give the NAME_secret file)", path);
        zcert_destroy(&cert);
        return NULL;
    }
    return cert;
}

int
braid_curve_keygen(const char *path, char *err, size_t errsize)
{
    zcert_t *cert = zcert_new();
    if (!cert) {
        snprintf(err, errsize, "cannot make a keypair");
        return -1;
    }
    zcert_set_meta(cert, "name", "%s", path);
    char secret[1024];
    snprintf(secret, sizeof secret, "%s_secret", path);
    int rc = zcert_save(cert, path);
    if (rc == 0 && chmod(secret, 0600) != 0)
        rc = -1;
    if (rc != 0)
        snprintf(err, errsize, "%s: cannot write the keypair: %s", path, strerror(errno));
    zcert_destroy(&cert);
    return rc;
}

int
braid_curve_client(zsock_t *sock, zcert_t *own, zcert_t *server)
{
    zcert_apply(own, sock);
    zsock_set_curve_serverkey(sock, zcert_public_txt(server));
    if (zsock_mechanism(sock) != ZMQ_CURVE) {
        errno = EPROTONOSUPPORT;
        return -1;
    }
    return 0;
}

int
braid_curve_load_pair(const char *own_path, const char *server_path, zcert_t **own,
                      zcert_t **server, char *err, size_t errsize)
{
    *own = *server = NULL;
    bool have_own = own_path && *own_path, have_server = server_path && *server_path;
    if (!have_own && !have_server)
        return 0;
    if (!have_own || !have_server) {
        snprintf(err, errsize, "CURVE needs both a keypair (key) and the broker's public key "
                               "(broker_key)");
        return -1;
    }
    *own = braid_curve_load(own_path, true, err, errsize);
    *server = *own ? braid_curve_load(server_path, false, err, errsize) : NULL;
    if (!*server) {
        zcert_destroy(own);
        return -1;
    }
    return 0;
}

bool
braid_endpoint_loopback(const char *endpoint)
{
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    /*  A source address (tcp://SRC;HOST:PORT) is for connects only.        */
    if (strchr(host, ';'))
        return false;
    if (strncmp(host, "127.", 4) == 0) {
        unsigned a, b, c, d;
        char colon;
        return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &colon) == 5 && a == 127 &&
               b < 256 && c < 256 && d < 256 && colon == ':';
    }
    return strncmp(host, "[::1]:", 6) == 0 || strncmp(host, "localhost:", 10) == 0;
}
