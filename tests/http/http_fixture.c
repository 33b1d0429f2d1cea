/*  http_fixture.c - the http process tests' fixture. See the header.      */

#include "http_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
braid_http_fixture_text(const braid_http_fixture_t *self, const char *text)
{
    char port[16];
    snprintf(port, sizeof port, "%d", braid_http_server_port(self->server));
    size_t mark = strlen(BRAID_HTTP_PORT);
    size_t count = 0;
    for (const char *p = strstr(text, BRAID_HTTP_PORT); p; p = strstr(p + mark, BRAID_HTTP_PORT))
        count++;
    char *out = malloc(strlen(text) + count * strlen(port) + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = text, *at; *p; p = at + mark) {
        if (!(at = strstr(p, BRAID_HTTP_PORT))) {
            strcpy(o, p);
            return out;
        }
        memcpy(o, p, (size_t) (at - p));
        o += at - p;
        o += sprintf(o, "%s", port);
    }
    *o = 0;
    return out;
}

/*  The workers' extra args: -c with the config file (written here) and
    the def's own. 0 / -1.                                                  */
static int
s_worker_args(braid_http_fixture_t *self, const braid_http_fixture_def_t *def, char **conf_path,
              const char *args[], size_t max)
{
    size_t n = 0;
    if (def->worker_conf) {
        char *text = braid_http_fixture_text(self, def->worker_conf);
        *conf_path = braid_path(self->dir, "worker.conf");
        if (!text || !*conf_path ||
            braid_file_write(*conf_path, text, strlen(text), 0644) != 0) {
            free(text);
            return -1;
        }
        free(text);
        args[n++] = "-c";
        args[n++] = *conf_path;
    }
    for (size_t i = 0; def->worker_args && def->worker_args[i] && n + 1 < max; i++)
        args[n++] = def->worker_args[i];
    args[n] = NULL;
    return 0;
}

braid_http_fixture_t *
braid_http_fixture_new(const braid_http_fixture_def_t *def)
{
    braid_http_fixture_t *self = calloc(1, sizeof *self);
    char *specs[BRAID_HTTP_FIXTURE_MAX_SPECS + 1] = {NULL};
    char *conf_path = NULL;
    const char *args[32];
    if (!self || !(self->dir = braid_tmpdir_new(def->name)) ||
        !(self->server = braid_http_server_new(self->dir)) ||
        s_worker_args(self, def, &conf_path, args, sizeof args / sizeof args[0]) != 0) {
        fprintf(stderr, "http fixture: cannot set up %s\n", def->name);
        goto fail;
    }
    for (int i = 0; i < BRAID_HTTP_FIXTURE_MAX_SPECS && def->specs[i]; i++)
        if (!(specs[i] = braid_http_fixture_text(self, def->specs[i])))
            goto fail;
    if (!(self->cluster = braid_cluster_new(self->dir, def->conf)))
        goto fail;
    for (int i = 0; i < def->workers; i++) {
        char name[16];
        snprintf(name, sizeof name, "w%d", i + 1);
        if (braid_cluster_add_worker(self->cluster, name, def->slots, args,
                                     (const char *const *) specs) != 0)
            goto fail;
    }
    for (int i = 0; specs[i]; i++)
        free(specs[i]);
    free(conf_path);
    return self;
fail:
    for (int i = 0; specs[i]; i++)
        free(specs[i]);
    free(conf_path);
    braid_http_fixture_destroy(&self);
    return NULL;
}

void
braid_http_fixture_destroy(braid_http_fixture_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_http_fixture_t *self = *self_p;
    braid_cluster_destroy(&self->cluster);
    braid_http_server_destroy(&self->server);
    braid_tmpdir_destroy(&self->dir);
    free(self);
    *self_p = NULL;
}

int
braid_http_fixture_stop(braid_http_fixture_t *self)
{
    int rc = braid_cluster_stop(self->cluster);
    if (braid_http_server_stop(self->server) != 0)
        rc = -1;
    return rc;
}

int
braid_http_fixture_setup(void **state)
{
    *state = braid_http_fixture_new(*state);
    return *state ? 0 : -1;
}

int
braid_http_fixture_teardown(void **state)
{
    braid_http_fixture_destroy((braid_http_fixture_t **) state);
    return 0;
}
