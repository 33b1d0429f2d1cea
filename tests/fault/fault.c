/*  fault.c - helpers for the fault tests, see fault.h.                    */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "fault.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define S_POLL_MSEC 20

braid_fixture_t *
fault_fixture_new(const braid_fixture_def_t *def)
{
    assert(!def->worker_args);
    braid_fixture_def_t fault_def = *def;
    if (!fault_def.conf)
        fault_def.conf = FAULT_BROKER_CONF;
    fault_def.worker_args = FAULT_WORKER_ARGS;
    return braid_fixture_new(&fault_def);
}

int
fault_fixture_setup(void **state)
{
    const braid_fixture_def_t *def = *state;
    *state = fault_fixture_new(def);
    return *state ? 0 : -1;
}

void
fault_drop_worker(braid_cluster_t *self, braid_proc_t *worker)
{
    for (int i = 0; i < self->worker_count; i++)
        if (self->workers[i] == worker) {
            braid_proc_destroy(&self->workers[i]);
            for (int j = i; j + 1 < self->worker_count; j++)
                self->workers[j] = self->workers[j + 1];
            self->workers[--self->worker_count] = NULL;
            return;
        }
}

json_t *
fault_stats(braid_cluster_t *self, char **text_p)
{
    const char *argv[] = {BRAID_CLI_PATH, "stats", "--json", "-T", "3000", "-b", self->frontend,
                          NULL};
    size_t len = 0;
    int code = -1;
    char *out = braid_run(argv, NULL, 10000, &len, &code);
    json_t *json = NULL;
    if (out && code == 0)
        json = braid_json_parse(out, len);
    if (text_p) {
        free(*text_p);
        *text_p = out;
    } else
        free(out);
    return json;
}

long long
fault_stat(json_t *stats, const char *obj, const char *key)
{
    json_t *o = obj ? json_object_get(stats, obj) : stats;
    long long value = -1;
    if (!o || json_unpack(o, "{s:I}", key, &value) != 0)
        return -1;
    return value;
}

long long
fault_dropped_total(json_t *stats)
{
    static const char *keys[] = {"empty",      "too-big",   "msgpack",      "depth",
                                 "not-array",  "version",   "unknown-type", "channel",
                                 "field-count", "field-type", "range",      "frames",
                                 "frame-size", "routing",   "stale",        "unknown", "forged",
                                 "gaps",       NULL};
    json_t *dropped = json_object_get(stats, "dropped");
    if (!dropped)
        return -1;
    long long total = 0;
    for (int i = 0; keys[i]; i++) {
        long long v;
        if (json_unpack(dropped, "{s:I}", keys[i], &v) != 0)
            return -1;
        total += v;
    }
    return total;
}

void
fault_poll_pause(void)
{
    struct timespec ts = {0, S_POLL_MSEC * 1000000L};
    nanosleep(&ts, NULL);
}

/*  State of pid from /proc/PID/stat, or 0.                                */
static char
s_state(const char *pid)
{
    char path[300];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

static bool
s_live(char state)
{
    return state && state != 'Z' && state != 'X' && state != 'x';
}

int
fault_marker_count(const char *marker)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return -1;
    int count = 0;
    size_t mlen = strlen(marker);
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end || pid <= 0 || pid == getpid())
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        char buf[8192];
        ssize_t n = read(fd, buf, sizeof buf);
        close(fd);
        if (n <= 0)
            continue;
        /*  A worker's own command line names the script in its -s spec:
            only its children count.                                       */
        if (memmem(buf, (size_t) n, marker, mlen) && !memmem(buf, (size_t) n, "braid-worker", 12)
            && s_live(s_state(entry->d_name)))
            count++;
    }
    closedir(dir);
    return count;
}

int
fault_wait_marker(const char *marker, bool at_least, int min, int timeout_msec)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    while (true) {
        int n = fault_marker_count(marker);
        if (at_least ? n >= min : n == 0)
            return 0;
        if (braid_now_msec() >= deadline) {
            fprintf(stderr, "fault: %d process(es) with '%s' in their command line (want %s%d)\n",
                    n, marker, at_least ? ">= " : "", at_least ? min : 0);
            return -1;
        }
        fault_poll_pause();
    }
}

int
fault_child_count(pid_t parent)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return -1;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        char buf[512];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *paren = strrchr(buf, ')');
        char state;
        int ppid;
        if (paren && sscanf(paren + 1, " %c %d", &state, &ppid) == 2 && ppid == parent
            && s_live(state))
            count++;
    }
    closedir(dir);
    return count;
}

long long
fault_rss_bytes(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

int
fault_wait_stats(braid_cluster_t *self, bool (*pred)(json_t *, void *), void *arg,
                 int timeout_msec, char **text_p)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    char *text = NULL;
    int rc = -1;
    while (true) {
        json_t *stats = fault_stats(self, &text);
        bool ok = stats && pred(stats, arg);
        json_decref(stats);
        if (ok) {
            rc = 0;
            break;
        }
        if (braid_now_msec() >= deadline || braid_proc_exited(self->broker))
            break;
        fault_poll_pause();
    }
    if (text_p) {
        free(*text_p);
        *text_p = text;
    } else
        free(text);
    return rc;
}

/*  A fault_wait_stats() predicate: the broker holds no job.               */
static bool
s_no_job(json_t *stats, void *arg)
{
    (void) arg;
    return fault_stat(stats, NULL, "jobs") == 0 && fault_stat(stats, NULL, "running") == 0;
}

int
fault_wait_no_job(braid_cluster_t *self, int timeout_msec)
{
    char *text = NULL;
    int rc = fault_wait_stats(self, s_no_job, NULL, timeout_msec, &text);
    printf("stats: %s\n", text ? text : "(none)");
    free(text);
    return rc;
}

void
fault_synthetic_payload(const char *query, unsigned long long seq, size_t size, char *buf)
{
    char head[128];
    int n = snprintf(head, sizeof head, "%s %llu", query, seq);
    size_t body = size - 1;
    size_t copy = (size_t) n < body ? (size_t) n : body;
    memcpy(buf, head, copy);
    memset(buf + copy, '.', body - copy);
    buf[body] = '\n';
}

int
fault_count_lines(const char *text, const char *needle)
{
    int count = 0;
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t) (nl - p) : strlen(p);
        if (memmem(p, len, needle, strlen(needle)))
            count++;
        p = nl ? nl + 1 : NULL;
    }
    return count;
}

int
fault_piped_spawn(fault_piped_t *p, const char *const argv[], const char *err_path)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (err < 0 || in < 0 || dup2(fds[1], 1) < 0 || dup2(err, 2) < 0 || dup2(in, 0) < 0)
            _exit(127);
        execv(argv[0], (char *const *) argv);
        _exit(127);
    }
    setpgid(pid, pid);
    close(fds[1]);
    p->pid = pid;
    p->fd = fds[0];
    return 0;
}

int
fault_piped_wait_full(fault_piped_t *p, int timeout_msec, int *queued_p)
{
    int cap = fcntl(p->fd, F_GETPIPE_SZ);
    int64_t deadline = braid_now_msec() + timeout_msec;
    *queued_p = 0;
    while (cap > 0 && braid_now_msec() < deadline) {
        if (ioctl(p->fd, FIONREAD, queued_p) != 0)
            return -1;
        if (*queued_p >= cap)
            return 0;
        fault_poll_pause();
    }
    return -1;
}

int
fault_piped_wait_exit(fault_piped_t *p, int timeout_msec, int *status_p)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    pid_t w;
    while ((w = waitpid(p->pid, status_p, WNOHANG)) == 0 && braid_now_msec() < deadline)
        fault_poll_pause();
    if (w != p->pid)
        return -1;
    p->pid = 0;
    return 0;
}

void
fault_piped_destroy(fault_piped_t *p)
{
    if (p->pid > 0) {
        kill(-p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
}

zsock_t *
fault_dealer_from(const char *endpoint, const char *source)
{
    const char *host = strncmp(endpoint, "tcp://", 6) == 0 ? endpoint + 6 : NULL;
    zsock_t *sock = zsock_new(ZMQ_DEALER);
    if (!sock)
        return NULL;
    zsock_set_rcvtimeo(sock, 5000);
    zsock_set_linger(sock, 0);
    int rc = source && host ? zsock_connect(sock, "tcp://%s:0;%s", source, host)
                            : zsock_connect(sock, "%s", endpoint);
    if (rc != 0 || (source && !host))
        zsock_destroy(&sock);
    return sock;
}
