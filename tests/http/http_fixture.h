/*  http_fixture.h - the fixture the http process tests share: a temp dir,
    tests/http/server.py on a loopback port, a broker (maybe with a config
    file) and workers whose http sources point at that server.

    The server's port is known only once it runs, so the worker specs and
    the worker config text say @PORT@ where it goes. A test describes its
    fixture once, as a static braid_http_fixture_def_t, and lists it with
    BRAID_HTTP_FIXTURE_TEST(test, def); the test then sees the
    braid_http_fixture_t.
*/

#ifndef BRAID_HTTP_FIXTURE_H_INCLUDED
#define BRAID_HTTP_FIXTURE_H_INCLUDED

#include "cluster.h"
#include "http_server.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BRAID_HTTP_FIXTURE_MAX_SPECS 6
#define BRAID_HTTP_PORT "@PORT@"

typedef struct {
    const char *name;           /* temp dir prefix                          */
    const char *conf;           /* braidd config text, or NULL              */
    int workers;                /* how many, named w1, w2, ...              */
    int slots;                  /* each worker's -n                         */
    /*  A worker config file (-c), @PORT@ replaced, or NULL.                */
    const char *worker_conf;
    /*  Extra worker args, NULL-terminated, or NULL.                        */
    const char *const *worker_args;
    /*  -s specs every worker serves, @PORT@ replaced; NULL-terminated.    */
    const char *specs[BRAID_HTTP_FIXTURE_MAX_SPECS + 1];
} braid_http_fixture_def_t;

typedef struct {
    char *dir;                      /* owned temp dir                       */
    braid_http_server_t *server;    /* owned                                */
    braid_cluster_t *cluster;       /* owned                                */
} braid_http_fixture_t;

/*  Make the temp dir, start the server, then the broker and the workers.
    Owned, or NULL (reported, everything started undone).                  */
braid_http_fixture_t *
braid_http_fixture_new(const braid_http_fixture_def_t *def);

/*  Kill what is left, remove the temp dir, free. NULL-safe.                */
void
braid_http_fixture_destroy(braid_http_fixture_t **self_p);

/*  The graceful end a test asserts on: the cluster (braid_cluster_stop),
    then the server; 0 when all of it exited 0.                            */
int
braid_http_fixture_stop(braid_http_fixture_t *self);

/*  text with every @PORT@ replaced by the server's port. Owned.            */
char *
braid_http_fixture_text(const braid_http_fixture_t *self, const char *text);

/*  cmocka setup and teardown: *state is the def, then the fixture.         */
int
braid_http_fixture_setup(void **state);
int
braid_http_fixture_teardown(void **state);

#define BRAID_HTTP_FIXTURE_TEST(test, def)                                                     \
    cmocka_unit_test_prestate_setup_teardown(test, braid_http_fixture_setup,                   \
                                             braid_http_fixture_teardown, (void *) &(def))

#ifdef __cplusplus
}
#endif

#endif
