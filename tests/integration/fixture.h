/*  fixture.h - the fixture the end-to-end and fault tests share: a temp dir,
    maybe a script in it, a broker (maybe with a config file) and workers.

    A test describes its fixture once, as a static braid_fixture_def_t, and
    either hands it to cmocka as the test's initial state,
    BRAID_FIXTURE_TEST(test_x, s_def) in its test table, or calls
    braid_fixture_new(&s_def) from its own setup (a group fixture, or one
    with more state around it). Either way the test sees the
    braid_fixture_t; the cluster in it is an ordinary braid_cluster_t.
*/

#ifndef BRAID_FIXTURE_H_INCLUDED
#define BRAID_FIXTURE_H_INCLUDED

#include "cluster.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BRAID_FIXTURE_MAX_SPECS 4

/*  What to start. Everything but name may be left zero.                    */
typedef struct {
    const char *name;        /* temp dir prefix, e.g. "braid-e2e-order" */
    const char *conf;        /* braidd config text (braid_cluster_new), or NULL */
    const char *script_name; /* an executable script written into the temp dir, */
    const char *script_text; /* or NULL: no script */
    int workers;             /* how many, named w1, w2, ... */
    int slots;               /* each worker's -n */
    /*  Extra worker args, NULL-terminated (braid_cluster_add_worker), or
        NULL.                                                               */
    const char *const *worker_args;
    /*  The source specs every worker serves, NULL-terminated. With a
        script, each is a printf format whose one %s is the script's path,
        e.g. "gen=exec:'%s' {query}"; without one, each is taken as is.     */
    const char *specs[BRAID_FIXTURE_MAX_SPECS + 1];
} braid_fixture_def_t;

typedef struct {
    char *dir;                /* owned temp dir */
    char *script;             /* owned path of the script, or NULL */
    braid_cluster_t *cluster; /* owned */
} braid_fixture_t;

/*  Make the temp dir and the script, start the broker and the workers (each
    waited for: see cluster.h). Owned fixture, or NULL (reported, and
    everything started is undone).                                          */
braid_fixture_t *
braid_fixture_new(const braid_fixture_def_t *def);

/*  Kill what is left of the cluster, remove the temp dir, free. NULL-safe. */
void
braid_fixture_destroy(braid_fixture_t **self_p);

/*  cmocka setup: *state is the test's braid_fixture_def_t (its initial
    state, see above); on return it is the fixture (NULL on failure, when
    cmocka calls no teardown: nothing is left behind). 0 / -1.             */
int
braid_fixture_setup(void **state);

/*  braid_fixture_destroy() as a cmocka teardown (*state is the fixture).  */
int
braid_fixture_teardown(void **state);

/*  A cmocka test table entry: test with the fixture that def (a
    braid_fixture_def_t) describes.                                         */
#define BRAID_FIXTURE_TEST(test, def)                                                          \
    cmocka_unit_test_prestate_setup_teardown(test, braid_fixture_setup, braid_fixture_teardown, \
                                             (void *) &(def))

#ifdef __cplusplus
}
#endif

#endif
