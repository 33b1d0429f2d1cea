/*  fixture.c - the fixture the end-to-end and fault tests share, see
    fixture.h.                                                              */

#include "fixture.h"

#include <stdio.h>
#include <stdlib.h>

braid_fixture_t *
braid_fixture_new(const braid_fixture_def_t *def)
{
    braid_fixture_t *self = calloc(1, sizeof *self);
    if (!self || !(self->dir = braid_tmpdir_new(def->name))
        || (def->script_name
            && !(self->script =
                     braid_script_write(self->dir, def->script_name, def->script_text)))) {
        fprintf(stderr, "fixture: cannot make the temp dir or the script for %s\n", def->name);
        braid_fixture_destroy(&self);
        return NULL;
    }
    char text[BRAID_FIXTURE_MAX_SPECS][1024];
    const char *specs[BRAID_FIXTURE_MAX_SPECS + 1] = {NULL};
    for (int i = 0; i < BRAID_FIXTURE_MAX_SPECS && def->specs[i]; i++) {
        if (self->script) {
            snprintf(text[i], sizeof text[i], def->specs[i], self->script);
            specs[i] = text[i];
        } else
            specs[i] = def->specs[i];
    }
    self->cluster = braid_cluster_new(self->dir, def->conf);
    for (int i = 0; self->cluster && i < def->workers; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i + 1);
        if (braid_cluster_add_worker(self->cluster, name, def->slots, def->worker_args, specs) != 0)
            braid_cluster_destroy(&self->cluster);
    }
    if (!self->cluster)
        braid_fixture_destroy(&self);
    return self;
}

void
braid_fixture_destroy(braid_fixture_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_fixture_t *self = *self_p;
    braid_cluster_destroy(&self->cluster);
    free(self->script);
    braid_tmpdir_destroy(&self->dir);
    free(self);
    *self_p = NULL;
}

int
braid_fixture_setup(void **state)
{
    const braid_fixture_def_t *def = *state;
    *state = braid_fixture_new(def);
    return *state ? 0 : -1;
}

int
braid_fixture_teardown(void **state)
{
    braid_fixture_destroy((braid_fixture_t **) state);
    return 0;
}
