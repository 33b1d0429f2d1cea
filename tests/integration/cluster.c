/*  cluster.c - a broker and its workers on loopback, for end-to-end tests. */

#include "cluster.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BRAIDD_PATH
#error "BRAIDD_PATH must be defined by the build"
#endif
#ifndef BRAID_WORKER_PATH
#error "BRAID_WORKER_PATH must be defined by the build"
#endif
#ifndef BRAID_CLI_PATH
#error "BRAID_CLI_PATH must be defined by the build"
#endif

braid_cluster_t *
braid_cluster_new(const char *dir, const char *conf_text)
{
    braid_cluster_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->dir = dir;
    int ports[3];
    for (int i = 0; i < 3; i++) {
        ports[i] = braid_free_port();
        /*  The kernel hands out ephemeral ports in turn; make sure the
            three differ anyway.                                            */
        if (ports[i] < 0 || (i > 0 && ports[i] == ports[i - 1]) || (i > 1 && ports[i] == ports[0])) {
            fprintf(stderr, "cluster: no free ports\n");
            free(self);
            return NULL;
        }
    }
    snprintf(self->frontend, sizeof self->frontend, "tcp://127.0.0.1:%d", ports[0]);
    snprintf(self->backend, sizeof self->backend, "tcp://127.0.0.1:%d", ports[1]);
    snprintf(self->sink, sizeof self->sink, "tcp://127.0.0.1:%d", ports[2]);
    char *conf = NULL;
    if (conf_text
        && (!(conf = braid_path(dir, "braidd.conf"))
            || braid_file_write(conf, conf_text, strlen(conf_text), 0644) != 0)) {
        fprintf(stderr, "cluster: cannot write the broker config\n");
        free(conf);
        free(self);
        return NULL;
    }
    const char *argv[16];
    int argc = 0;
    argv[argc++] = BRAIDD_PATH;
    if (conf) {
        argv[argc++] = "-c";
        argv[argc++] = conf;
    }
    argv[argc++] = "-f";
    argv[argc++] = self->frontend;
    argv[argc++] = "-w";
    argv[argc++] = self->backend;
    argv[argc++] = "-k";
    argv[argc++] = self->sink;
    argv[argc] = NULL;
    self->broker = braid_proc_spawn(dir, "braidd", argv, NULL);
    free(conf);
    if (!self->broker
        || braid_proc_wait_line(self->broker, BRAID_STDERR, "<5>braidd: ready", BRAID_START_MSEC)
               != 0) {
        fprintf(stderr, "cluster: broker not ready within %d ms\n", BRAID_START_MSEC);
        if (conf_text)
            fprintf(stderr, "cluster: (broker config:\n%s)\n", conf_text);
        braid_proc_dump(self->broker, 4000);
        braid_cluster_destroy(&self);
        return NULL;
    }
    return self;
}

int
braid_cluster_add_worker(braid_cluster_t *self, const char *name, int slots,
                         const char *const extra[], const char *const specs[])
{
    if (self->worker_count >= BRAID_CLUSTER_MAX_WORKERS)
        return -1;
    const char *argv[96];
    char slots_text[16];
    snprintf(slots_text, sizeof slots_text, "%d", slots);
    int argc = 0;
    argv[argc++] = BRAID_WORKER_PATH;
    argv[argc++] = "-b";
    argv[argc++] = self->backend;
    argv[argc++] = "-k";
    argv[argc++] = self->sink;
    argv[argc++] = "-n";
    argv[argc++] = slots_text;
    argv[argc++] = "-N";
    argv[argc++] = name;
    for (int i = 0; extra && extra[i] && argc < 48; i++)
        argv[argc++] = extra[i];
    for (int i = 0; specs[i] && argc < 92; i++) {
        argv[argc++] = "-s";
        argv[argc++] = specs[i];
    }
    argv[argc] = NULL;
    braid_proc_t *worker = braid_proc_spawn(self->dir, name, argv, NULL);
    if (!worker)
        return -1;
    self->workers[self->worker_count++] = worker;
    /*  "name=NAME slots=": the space keeps w1 from matching w10.          */
    char text[128];
    snprintf(text, sizeof text, "<6>braidd: worker joined name=%s slots=", name);
    if (braid_proc_wait_line(self->broker, BRAID_STDERR, text, BRAID_START_MSEC) != 0) {
        fprintf(stderr, "cluster: no '%s' from the broker within %d ms\n", text,
                BRAID_START_MSEC);
        braid_proc_dump(worker, 4000);
        braid_proc_dump(self->broker, 4000);
        return -1;
    }
    return 0;
}

braid_proc_t *
braid_cluster_submit(braid_cluster_t *self, const char *name, const char *const args[],
                     const char *stdin_path)
{
    const char *argv[64];
    int argc = 0;
    argv[argc++] = BRAID_CLI_PATH;
    argv[argc++] = "submit";
    argv[argc++] = "-b";
    argv[argc++] = self->frontend;
    for (int i = 0; args[i] && argc < 63; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    return braid_proc_spawn(self->dir, name, argv, stdin_path);
}

/*  (SIGTERM and) wait for one process, expect exit 0 and an empty process group.        */
static int
s_stop_one(braid_proc_t *proc, bool send_term)
{
    if (!proc)
        return 0;
    int code = -1;
    int rc = 0;
    if (send_term)
        braid_proc_signal(proc, SIGTERM);
    int64_t start = braid_now_msec();
    if (braid_proc_wait_exit(proc, BRAID_STOP_MSEC, &code) != 0) {
        fprintf(stderr, "cluster: %s did not exit within %d ms of SIGTERM\n",
                braid_proc_name(proc), BRAID_STOP_MSEC);
        rc = -1;
    } else if (code != 0) {
        fprintf(stderr, "cluster: %s exited %d after SIGTERM (want 0)\n", braid_proc_name(proc),
                code);
        rc = -1;
    }
    int live = braid_pgrp_live_count(braid_proc_pid(proc));
    if (live > 0) {
        fprintf(stderr, "cluster: %d process(es) left in %s's group after it exited\n", live,
                braid_proc_name(proc));
        rc = -1;
    }
    if (rc != 0)
        braid_proc_dump(proc, 4000);
    else if (braid_now_msec() - start > 5000)
        fprintf(stderr, "cluster: note: %s took %lld ms to stop\n", braid_proc_name(proc),
                (long long) (braid_now_msec() - start));
    return rc;
}

int
braid_cluster_stop(braid_cluster_t *self)
{
    int rc = 0;
    /*  Workers first: each leaves its broker cleanly (BYE).               */
    for (int i = 0; i < self->worker_count; i++)
        braid_proc_signal(self->workers[i], SIGTERM);
    for (int i = 0; i < self->worker_count; i++)
        if (s_stop_one(self->workers[i], false) != 0)
            rc = -1;
    if (s_stop_one(self->broker, true) != 0)
        rc = -1;
    for (int i = 0; i < self->worker_count; i++)
        braid_proc_destroy(&self->workers[i]);
    braid_proc_destroy(&self->broker);
    /*  An exec source's child is in its own process group; if a worker
        left one behind it was re-parented to us (child subreaper).        */
    int orphans = braid_harness_reap_orphans();
    if (orphans > 0) {
        fprintf(stderr, "cluster: %d process(es) outlived the workers\n", orphans);
        rc = -1;
    }
    return rc;
}

void
braid_cluster_dump(braid_cluster_t *self)
{
    if (!self)
        return;
    braid_proc_dump(self->broker, 3000);
    for (int i = 0; i < self->worker_count; i++)
        braid_proc_dump(self->workers[i], 3000);
}

void
braid_cluster_destroy(braid_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_cluster_t *self = *self_p;
    for (int i = 0; i < self->worker_count; i++)
        braid_proc_destroy(&self->workers[i]);
    braid_proc_destroy(&self->broker);
    braid_harness_reap_orphans();
    free(self);
    *self_p = NULL;
}

int
braid_cluster_finish(braid_cluster_t *self, braid_proc_t **client_p, int timeout_msec,
                    int want_code, int *code_p)
{
    *code_p = -1;
    if (braid_proc_finish(*client_p, timeout_msec, code_p) != 0) {
        fprintf(stderr, "cluster: %s still running after %d ms\n", braid_proc_name(*client_p),
                timeout_msec);
        braid_proc_dump(*client_p, 2000);
        braid_cluster_dump(self);
        braid_proc_destroy(client_p);
        return -1;
    }
    if (*code_p != want_code) {
        fprintf(stderr, "cluster: %s exited %d (want %d)\n", braid_proc_name(*client_p), *code_p,
                want_code);
        braid_proc_dump(*client_p, 2000);
        braid_cluster_dump(self);
    }
    return 0;
}

int
braid_cluster_run(braid_cluster_t *self, const char *name, const char *const args[],
                 int timeout_msec, int want_code, braid_proc_t **client_p, int *code_p)
{
    *code_p = -1;
    *client_p = braid_cluster_submit(self, name, args, NULL);
    if (!*client_p) {
        fprintf(stderr, "cluster: cannot spawn %s\n", name);
        return -1;
    }
    return braid_cluster_finish(self, client_p, timeout_msec, want_code, code_p);
}
