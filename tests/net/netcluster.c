/*  netcluster.c - braid across the test network's hosts. See
    netcluster.h.                                                           */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "netcluster.h"

#include "braid_curve.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_STATS_MSEC 15000

/*  Every setting the broker gets in these tests, in one place: the config
    file it is started with (it takes no flags but -c). It binds the broker
    host's address, beyond loopback: when braidd requires `insecure = yes`
    (or CURVE) for that, the line goes here.                                */
static char *
s_broker_conf(const braid_net_opts_t *opts, const char *dir)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return NULL;
    char endpoint[64];
    fprintf(f, "broker\n");
    if (opts->curve) {
        /*  The keys braid_net_cluster_new made (s_make_keys).            */
        fprintf(f, "    secret_key = \"%s/broker_secret\"\n", dir);
        fprintf(f, "    client_keys = \"%s/clients\"\n", dir);
        fprintf(f, "    worker_keys = \"%s/workers\"\n", dir);
    } else
        fprintf(f, "    insecure = yes\n"); /* namespaces, not loopback, no CURVE */
    fprintf(f, "    frontend = \"%s\"\n",
            braid_host_endpoint(opts->broker_host, BRAID_NET_FRONTEND_PORT, endpoint,
                                sizeof endpoint));
    fprintf(f, "    backend = \"%s\"\n",
            braid_host_endpoint(opts->broker_host, BRAID_NET_BACKEND_PORT, endpoint,
                                sizeof endpoint));
    fprintf(f, "    sink = \"%s\"\n",
            braid_host_endpoint(opts->broker_host, BRAID_NET_SINK_PORT, endpoint,
                                sizeof endpoint));
    if (opts->heartbeat_msec)
        fprintf(f, "    heartbeat_msec = %d\n", opts->heartbeat_msec);
    if (opts->liveness_msec)
        fprintf(f, "    worker_liveness_msec = %d\n", opts->liveness_msec);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/*  The keys of a CURVE cluster, as `braid keygen` makes them: the broker's
    keypair in dir, the client's in dir/clients, the workers' (one key for
    all of them) in dir/workers, the directories the broker allows. 0 / -1
    (reported).                                                             */
static int
s_make_keys(braid_net_cluster_t *self, const char *dir)
{
    char clients[256], workers[256], err[256];
    if (strlen(dir) > 200) {
        fprintf(stderr, "netcluster: temp dir path too long for the keys\n");
        return -1;
    }
    snprintf(clients, sizeof clients, "%s/clients", dir);
    snprintf(workers, sizeof workers, "%s/workers", dir);
    snprintf(self->broker_key, sizeof self->broker_key, "%s/broker", dir);
    snprintf(self->client_key, sizeof self->client_key, "%s/client_secret", clients);
    snprintf(self->worker_key, sizeof self->worker_key, "%s/worker_secret", workers);
    char client_pub[300], worker_pub[300];
    snprintf(client_pub, sizeof client_pub, "%s/client", clients);
    snprintf(worker_pub, sizeof worker_pub, "%s/worker", workers);
    if ((mkdir(clients, 0700) != 0 && errno != EEXIST)
        || (mkdir(workers, 0700) != 0 && errno != EEXIST)) {
        fprintf(stderr, "netcluster: mkdir %s: %s\n", clients, strerror(errno));
        return -1;
    }
    if (braid_curve_keygen(self->broker_key, err, sizeof err) != 0
        || braid_curve_keygen(client_pub, err, sizeof err) != 0
        || braid_curve_keygen(worker_pub, err, sizeof err) != 0) {
        fprintf(stderr, "netcluster: keygen: %s\n", err);
        return -1;
    }
    return 0;
}

braid_net_cluster_t *
braid_net_cluster_new(braid_topo_t *topo, const char *dir, const braid_net_opts_t *opts)
{
    braid_net_cluster_t *self = calloc(1, sizeof *self);
    char *conf_text = NULL, *conf = NULL;
    if (!self || (opts->curve && s_make_keys(self, dir) != 0))
        goto fail;
    conf_text = s_broker_conf(opts, dir);
    conf = braid_path(dir, "braidd.conf");
    if (!conf_text || !conf
        || braid_file_write(conf, conf_text, strlen(conf_text), 0644) != 0) {
        fprintf(stderr, "netcluster: cannot write the broker config\n");
        goto fail;
    }
    self->topo = topo;
    self->opts = *opts;
    /*  The cluster as braid_cluster_new() makes it, but with the broker on
        its host and the endpoints as the peers dial them.                 */
    self->cluster = calloc(1, sizeof *self->cluster);
    if (!self->cluster)
        goto fail;
    braid_cluster_t *cluster = self->cluster;
    cluster->dir = dir;
    static const int ports[3] = {BRAID_NET_FRONTEND_PORT, BRAID_NET_BACKEND_PORT,
                                 BRAID_NET_SINK_PORT};
    char *endpoints[3] = {cluster->frontend, cluster->backend, cluster->sink};
    for (int i = 0; i < 3; i++) {
        int port = ports[i];
        if (opts->delay_msec > 0) {
            self->relays[i] = braid_relay_new(topo, opts->broker_host,
                                              port + BRAID_NET_RELAY_PORT_OFFSET, opts->broker_host,
                                              braid_host_addr(opts->broker_host), port,
                                              opts->delay_msec);
            if (!self->relays[i])
                goto fail;
            port = braid_relay_port(self->relays[i]);
        }
        braid_host_endpoint(opts->broker_host, port, endpoints[i], sizeof cluster->frontend);
    }
    const char *argv[] = {BRAIDD_PATH, "-c", conf, NULL};
    cluster->broker = braid_topo_spawn(topo, opts->broker_host, dir, "braidd", argv, NULL);
    if (!cluster->broker
        || braid_proc_wait_line(cluster->broker, BRAID_STDERR, "<5>braidd: ready",
                                BRAID_START_MSEC)
               != 0) {
        fprintf(stderr, "netcluster: broker not ready within %d ms; config:\n%s", BRAID_START_MSEC,
                conf_text);
        braid_proc_dump(cluster->broker, 4000);
        goto fail;
    }
    free(conf);
    free(conf_text);
    return self;

fail:
    free(conf);
    free(conf_text);
    braid_net_cluster_destroy(&self);
    return NULL;
}

typedef struct {
    braid_cluster_t *cluster;
    const char *name;
    int slots;
    const char *const *extra;
    const char *const *specs;
} s_add_worker_t;

static int
s_add_worker_fn(void *arg)
{
    s_add_worker_t *a = arg;
    return braid_cluster_add_worker(a->cluster, a->name, a->slots, a->extra, a->specs);
}

int
braid_net_cluster_add_worker(braid_net_cluster_t *self, braid_host_t host, const char *name,
                             int slots, const char *const specs[])
{
    char heartbeat[16], liveness[16];
    const char *extra[9];
    int n = 0;
    if (self->opts.curve) {
        extra[n++] = "--key";
        extra[n++] = self->worker_key;
        extra[n++] = "--broker-key";
        extra[n++] = self->broker_key;
    }
    if (self->opts.heartbeat_msec) {
        snprintf(heartbeat, sizeof heartbeat, "%d", self->opts.heartbeat_msec);
        extra[n++] = "--heartbeat";
        extra[n++] = heartbeat;
    }
    if (self->opts.liveness_msec) {
        snprintf(liveness, sizeof liveness, "%d", self->opts.liveness_msec);
        extra[n++] = "--liveness";
        extra[n++] = liveness;
    }
    extra[n] = NULL;
    /*  braid_cluster_add_worker() spawns in the calling thread's namespace:
        call it on the worker's host.                                      */
    s_add_worker_t a = {self->cluster, name, slots, extra, specs};
    return braid_topo_call(self->topo, host, s_add_worker_fn, &a);
}

typedef struct {
    braid_cluster_t *cluster;
    const char *name;
    const char *const *args;
    const char *stdin_path;
    braid_proc_t *proc;
} s_submit_t;

static int
s_submit_fn(void *arg)
{
    s_submit_t *s = arg;
    s->proc = braid_cluster_submit(s->cluster, s->name, s->args, s->stdin_path);
    return s->proc ? 0 : -1;
}

braid_proc_t *
braid_net_cluster_submit(braid_net_cluster_t *self, const char *name, const char *const args[],
                         const char *stdin_path)
{
    /*  Under CURVE the client's keys go first (braid_cluster_submit puts
        -b FRONTEND before the args).                                      */
    const char *keyed[64];
    int n = 0;
    if (self->opts.curve) {
        keyed[n++] = "--key";
        keyed[n++] = self->client_key;
        keyed[n++] = "--broker-key";
        keyed[n++] = self->broker_key;
    }
    for (int i = 0; args[i] && n < 63; i++)
        keyed[n++] = args[i];
    keyed[n] = NULL;
    s_submit_t s = {self->cluster, name, keyed, stdin_path, NULL};
    braid_topo_call(self->topo, BRAID_HOST_CLIENT, s_submit_fn, &s);
    return s.proc;
}

json_t *
braid_net_cluster_stats(braid_net_cluster_t *self, char **text_p)
{
    const char *argv[] = {BRAID_CLI_PATH, "stats", "--json", "-T", "5000", "-b",
                          self->cluster->frontend, NULL, NULL, NULL, NULL, NULL};
    if (self->opts.curve) {
        argv[7] = "--key";
        argv[8] = self->client_key;
        argv[9] = "--broker-key";
        argv[10] = self->broker_key;
    }
    braid_proc_t *proc =
        braid_topo_spawn(self->topo, BRAID_HOST_CLIENT, NULL, "braid-stats", argv, NULL);
    json_t *json = NULL;
    char *out = NULL;
    int code = -1;
    if (proc && braid_proc_finish(proc, S_STATS_MSEC, &code) == 0 && code == 0) {
        size_t len = 0;
        out = braid_proc_output(proc, BRAID_STDOUT, &len);
        if (out)
            json = braid_json_parse(out, len);
    } else if (proc) {
        fprintf(stderr, "netcluster: braid stats exited %d\n", code);
        braid_proc_dump(proc, 2000);
    }
    braid_proc_destroy(&proc);
    if (text_p) {
        free(*text_p);
        *text_p = out;
    } else
        free(out);
    return json;
}

int
braid_net_cluster_stop(braid_net_cluster_t *self)
{
    int rc = braid_cluster_stop(self->cluster);
    for (int i = 0; i < 3; i++)
        braid_relay_destroy(&self->relays[i]);
    return rc;
}

void
braid_net_cluster_destroy(braid_net_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_net_cluster_t *self = *self_p;
    braid_cluster_destroy(&self->cluster);
    for (int i = 0; i < 3; i++)
        braid_relay_destroy(&self->relays[i]);
    free(self);
    *self_p = NULL;
}

/*  --------------------------------------------------------------------
    The fixture                                                             */

int
braid_net_setup(void **state)
{
    const char *prefix = *state;
    braid_net_fixture_t *f = calloc(1, sizeof *f);
    *state = f;
    if (!f)
        return -1;
    if (braid_topo_probe(NULL, 0) != 0)
        return 0; /* the test skips */
    f->dir = braid_tmpdir_new(prefix);
    f->topo = braid_topo_new();
    return f->dir && f->topo ? 0 : -1;
}

int
braid_net_teardown(void **state)
{
    braid_net_fixture_t *f = *state;
    if (!f)
        return 0;
    braid_net_cluster_destroy(&f->net);
    braid_net_cluster_destroy(&f->net2);
    braid_tmpdir_destroy(&f->dir2);
    braid_topo_destroy(&f->topo);
    int orphans = braid_harness_reap_orphans();
    braid_tmpdir_destroy(&f->dir);
    free(f);
    *state = NULL;
    return orphans == 0 ? 0 : -1;
}

/*  --------------------------------------------------------------------
    Checks                                                                  */

int
braid_net_count_lines(const char *text, const char *needle)
{
    int count = 0;
    size_t needle_len = strlen(needle);
    for (const char *line = text; line && *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t) (nl - line) : strlen(line);
        if (memmem(line, len, needle, needle_len))
            count++;
        line = nl ? nl + 1 : NULL;
    }
    return count;
}

int
braid_net_wait_count(braid_proc_t *proc, braid_stream_t stream, const char *text, int count,
                     int timeout_msec)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    for (;;) {
        size_t len = 0;
        char *out = braid_proc_output(proc, stream, &len);
        if (!out)
            return -1;
        int n = braid_net_count_lines(out, text);
        free(out);
        if (n >= count)
            return 0;
        int64_t left = deadline - braid_now_msec();
        /*  Wait for more output: at least one more byte.                  */
        if (left <= 0 || braid_proc_wait_bytes(proc, stream, len + 1, (int) left) != 0)
            return -1;
    }
}

char *
braid_net_queries_file(const char *dir, int n)
{
    char *path = braid_path(dir, "queries.txt");
    FILE *f = path ? fopen(path, "we") : NULL;
    if (!f) {
        free(path);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        int pad = (i * 7) % 11;
        fprintf(f, "q%04d-%.*s%s\n", i, pad, "xxxxxxxxxxx",
                i % 97 == 0 ? " it's \"quoted\" \\ $HOME `x` ;|&" : "");
    }
    if (fclose(f) != 0) {
        free(path);
        return NULL;
    }
    return path;
}

char *
braid_net_reference(const char *const argv[], const char *queries_path, size_t *len_p)
{
    const char *loop[32] = {"/bin/sh", "-c",
                            "while IFS= read -r q; do \"$@\" \"$q\" || exit 1; done",
                            "reference"};
    int n = 4;
    for (int i = 0; argv[i] && n < 31; i++)
        loop[n++] = argv[i];
    loop[n] = NULL;
    int code = -1;
    char *out = braid_run(loop, queries_path, 60000, len_p, &code);
    if (!out || code != 0) {
        fprintf(stderr, "netcluster: the reference run failed (exit %d)\n", code);
        free(out);
        return NULL;
    }
    return out;
}

void
braid_net_check_json(const char *out, int queries, const char *source, const char *want,
                     size_t want_len)
{
    int *ends = calloc((size_t) queries, sizeof *ends);
    char *got = malloc(want_len + 1);
    assert_non_null(ends);
    assert_non_null(got);
    size_t got_len = 0;
    bool job_seen = false;
    const char *cursor = out;
    json_t *j;
    int line = 0;
    while ((j = braid_json_next(&cursor))) {
        line++;
        if (job_seen)
            fail_msg("line %d after the job line", line);
        const char *type = json_string_value(json_object_get(j, "type"));
        long long q = -1;
        if (!type)
            fail_msg("line %d has no type", line);
        if (strcmp(type, "partial") == 0 || strcmp(type, "end") == 0) {
            if (json_unpack(j, "{s:I}", "query", &q) != 0 || q < 0 || q >= queries)
                fail_msg("line %d: query %lld out of range", line, q);
            if (ends[q])
                fail_msg("line %d: query %lld has a %s after its end record", line, q, type);
        }
        if (strcmp(type, "partial") == 0) {
            size_t len = 0;
            char *data = braid_json_data(j, &len);
            assert_non_null(data);
            if (got_len + len > want_len)
                fail_msg("line %d: more output than the reference (%zu bytes)", line, want_len);
            memcpy(got + got_len, data, len);
            got_len += len;
            free(data);
        } else if (strcmp(type, "end") == 0) {
            const char *status = json_string_value(json_object_get(j, "status"));
            ends[q]++;
            if (!status || strcmp(status, "ok") != 0)
                fail_msg("query %lld ended %s: %s", q, status ? status : "(none)",
                         json_string_value(json_object_get(j, "error")));
        } else if (strcmp(type, "job") == 0) {
            job_seen = true;
            braid_json_check_job(j, source, queries, 0, 0, 0);
        } else
            fail_msg("line %d: unexpected type %s", line, type);
        json_decref(j);
    }
    if (!job_seen)
        fail_msg("no job line");
    for (int q = 0; q < queries; q++)
        if (ends[q] != 1)
            fail_msg("query %d has %d end records", q, ends[q]);
    if (braid_compare("output (partials in order)", got, got_len, want, want_len) != 0)
        fail_msg("the output differs from the reference");
    free(ends);
    free(got);
}
