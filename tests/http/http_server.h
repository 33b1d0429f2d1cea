/*  http_server.h - tests/http/server.py for the C tests: start it on a
    loopback port of its own choosing (its "READY port=N" line), ask it
    things over HTTP (libcurl, JSON through jansson), stop it.

    The server runs under Debian's interpreter (BRAID_PYTHON3, set by
    CMake) as a harness process (harness.h): its own process group, its
    output drained into dir/NAME.out and .err, a killpg backstop.
*/

#ifndef BRAID_HTTP_SERVER_H_INCLUDED
#define BRAID_HTTP_SERVER_H_INCLUDED

#include <jansson.h>
#include <stddef.h>

#include "harness.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct braid_http_server_t braid_http_server_t;

/*  Start the server, logs in dir, and wait for its ready line. Owned, or
    NULL (reported on stderr).                                              */
braid_http_server_t *
braid_http_server_new(const char *dir);

/*  Kill it if it still runs, free. NULL-safe; sets *self_p to NULL.        */
void
braid_http_server_destroy(braid_http_server_t **self_p);

/*  The port it listens on (127.0.0.1).                                     */
int
braid_http_server_port(const braid_http_server_t *self);

/*  Graceful stop: SIGTERM, and it must exit 0. 0 / -1 (reported).          */
int
braid_http_server_stop(braid_http_server_t *self);

/*  GET path (it starts with '/'; the caller escapes it). The body (owned,
    NUL-terminated, its length in *len_p if not NULL) when the answer came
    with status 200; NULL otherwise (reported).                             */
char *
braid_http_server_get(braid_http_server_t *self, const char *path, size_t *len_p);

/*  GET /_stats, parsed. Owned (json_decref), or NULL (reported).          */
json_t *
braid_http_server_stats(braid_http_server_t *self);

/*  GET /_reset: every count and record starts again. 0 / -1.               */
int
braid_http_server_reset(braid_http_server_t *self);

/*  GET /_release?q=QUERY&n=N (QUERY escaped here): item N of the gated
    stream of QUERY may now be sent. 0 / -1.                                */
int
braid_http_server_release(braid_http_server_t *self, const char *query, int n);

/*  A number in the stats: stats.key, or -1 when it is missing.             */
long long
braid_http_server_stat(json_t *stats, const char *key);

/*  The array stats.obj[key] (borrowed), or NULL when missing.              */
json_t *
braid_http_server_list(json_t *stats, const char *obj, const char *key);

#ifdef __cplusplus
}
#endif

#endif
