/*  harness.c - process-level test harness for the braid integration tests.
    See harness.h for the contract.                                         */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/*  One stream keeps at most this much in memory; a test that needs more
    is broken, and the rest still goes to the file.                        */
#define S_MAX_BUFFER (64u << 20)
#define S_READ_CHUNK 65536

/*  Pids of live braid_proc_t, so that the orphan reaper leaves them alone. */
#define S_MAX_TRACKED 256
static pthread_mutex_t s_tracked_mutex = PTHREAD_MUTEX_INITIALIZER;
static pid_t s_tracked[S_MAX_TRACKED];

typedef struct {
    char *data;
    size_t size;
    size_t cap;
    bool truncated;
    bool eof;
    int fd;      /* read end of the pipe, -1 once closed */
    int file_fd; /* copy in the temp dir, or -1 */
} s_stream_t;

struct braid_proc_t {
    char *name;
    pid_t pid;
    pthread_mutex_t mutex;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC; broadcast on any change */
    s_stream_t streams[2];
    int stop_pipe[2]; /* drain thread stops when the write end is written */
    pthread_t drain_thread;
    bool drain_started;
    pthread_t wait_thread;
    bool wait_started;
    bool exited;
    int code;
    int64_t exit_msec;
};

/*  --------------------------------------------------------------------   */

int64_t
braid_now_msec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec
s_deadline(int timeout_msec)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (timeout_msec < 0)
        timeout_msec = 0;
    ts.tv_sec += timeout_msec / 1000;
    ts.tv_nsec += (long) (timeout_msec % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec += 1;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void
s_track(pid_t pid, bool on)
{
    pthread_mutex_lock(&s_tracked_mutex);
    for (int i = 0; i < S_MAX_TRACKED; i++) {
        if (on && s_tracked[i] == 0) {
            s_tracked[i] = pid;
            break;
        }
        if (!on && s_tracked[i] == pid) {
            s_tracked[i] = 0;
            break;
        }
    }
    pthread_mutex_unlock(&s_tracked_mutex);
}

static bool
s_is_tracked(pid_t pid)
{
    bool found = false;
    pthread_mutex_lock(&s_tracked_mutex);
    for (int i = 0; i < S_MAX_TRACKED && !found; i++)
        found = s_tracked[i] == pid;
    pthread_mutex_unlock(&s_tracked_mutex);
    return found;
}

/*  Read state, parent and process group of pid from /proc. 0 / -1.        */
static int
s_proc_stat(pid_t pid, char *state_p, pid_t *ppid_p, pid_t *pgrp_p)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /*  "pid (comm) S ppid pgrp ...": comm may hold anything, even ')'.    */
    char *close_paren = strrchr(buf, ')');
    if (!close_paren)
        return -1;
    char state;
    int ppid, pgrp;
    if (sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
        return -1;
    if (state_p)
        *state_p = state;
    if (ppid_p)
        *ppid_p = ppid;
    if (pgrp_p)
        *pgrp_p = pgrp;
    return 0;
}

static bool
s_state_live(char state)
{
    return state != 'Z' && state != 'X' && state != 'x';
}

/*  Call fn(pid, state, ppid, pgrp, arg) for every process in /proc.       */
static void
s_proc_each(void (*fn)(pid_t, char, pid_t, pid_t, void *), void *arg)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        char *end;
        long pid = strtol(entry->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char state;
        pid_t ppid, pgrp;
        if (s_proc_stat((pid_t) pid, &state, &ppid, &pgrp) == 0)
            fn((pid_t) pid, state, ppid, pgrp, arg);
    }
    closedir(dir);
}

bool
braid_pid_alive(pid_t pid)
{
    char state;
    if (pid <= 0 || s_proc_stat(pid, &state, NULL, NULL) != 0)
        return false;
    return s_state_live(state);
}

typedef struct {
    pid_t pgid;
    int count;
} s_pgrp_count_t;

static void
s_pgrp_count_fn(pid_t pid, char state, pid_t ppid, pid_t pgrp, void *arg)
{
    (void) pid;
    (void) ppid;
    s_pgrp_count_t *pc = arg;
    if (pgrp == pc->pgid && s_state_live(state))
        pc->count++;
}

int
braid_pgrp_live_count(pid_t pgid)
{
    s_pgrp_count_t pc = {pgid, 0};
    if (pgid > 0)
        s_proc_each(s_pgrp_count_fn, &pc);
    return pc.count;
}

typedef struct {
    pid_t pgid;
    pid_t pids[256];
    int count;
} s_pgrp_members_t;

static void
s_pgrp_members_fn(pid_t pid, char state, pid_t ppid, pid_t pgrp, void *arg)
{
    (void) ppid;
    s_pgrp_members_t *m = arg;
    if (pgrp == m->pgid && s_state_live(state) && m->count < 256)
        m->pids[m->count++] = pid;
}

int
braid_pgrp_wait_empty(pid_t pgid, int timeout_msec)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    for (;;) {
        s_pgrp_members_t m = {.pgid = pgid, .count = 0};
        if (pgid > 0)
            s_proc_each(s_pgrp_members_fn, &m);
        if (m.count == 0)
            return 0;
        /*  Wait for the first of them; then look again (a member may have
            forked meanwhile).                                            */
        int fd = (int) syscall(SYS_pidfd_open, m.pids[0], 0);
        if (fd < 0)
            continue; /* gone already */
        int64_t left = deadline - braid_now_msec();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = left > 0 ? poll(&pfd, 1, (int) left) : 0;
        close(fd);
        if (rc == 0)
            return -1;
    }
}

void
braid_harness_init(void)
{
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    signal(SIGPIPE, SIG_IGN);
}

typedef struct {
    pid_t pids[256];
    char states[256];
    int count;
} s_orphans_t;

static void
s_orphan_fn(pid_t pid, char state, pid_t ppid, pid_t pgrp, void *arg)
{
    (void) pgrp;
    s_orphans_t *o = arg;
    if (ppid == getpid() && !s_is_tracked(pid) && o->count < 256) {
        o->pids[o->count] = pid;
        o->states[o->count] = state;
        o->count++;
    }
}

int
braid_harness_reap_orphans(void)
{
    s_orphans_t orphans = {.count = 0};
    s_proc_each(s_orphan_fn, &orphans);
    int live = 0;
    for (int i = 0; i < orphans.count; i++) {
        if (s_state_live(orphans.states[i])) {
            char comm[64] = "?";
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/comm", (int) orphans.pids[i]);
            FILE *f = fopen(path, "re");
            if (f) {
                if (fgets(comm, sizeof comm, f))
                    comm[strcspn(comm, "\n")] = '\0';
                fclose(f);
            }
            fprintf(stderr, "harness: orphan left behind pid=%d comm=%s state=%c, killed\n",
                    (int) orphans.pids[i], comm, orphans.states[i]);
            live++;
            kill(orphans.pids[i], SIGKILL);
        }
        /*  SIGKILL cannot be blocked: this wait ends.                     */
        while (waitpid(orphans.pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    }
    return live;
}

/*  --------------------------------------------------------------------
    Files                                                                   */

char *
braid_tmpdir_new(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *path = NULL;
    if (asprintf(&path, "%s/%s-XXXXXX", base, prefix ? prefix : "braid-it") < 0)
        return NULL;
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

static int
s_remove_fn(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

void
braid_tmpdir_destroy(char **path_p)
{
    if (!path_p || !*path_p)
        return;
    const char *keep = getenv("BRAID_IT_KEEP");
    if (keep && strcmp(keep, "1") == 0)
        fprintf(stderr, "harness: keeping %s\n", *path_p);
    else
        nftw(*path_p, s_remove_fn, 16, FTW_DEPTH | FTW_PHYS);
    free(*path_p);
    *path_p = NULL;
}

int
braid_tmpdir_setup(void **state)
{
    const char *prefix = *state;
    *state = braid_tmpdir_new(prefix);
    return *state ? 0 : -1;
}

int
braid_tmpdir_teardown(void **state)
{
    int orphans = braid_harness_reap_orphans();
    braid_tmpdir_destroy((char **) state);
    return orphans == 0 ? 0 : -1;
}

char *
braid_path(const char *dir, const char *name)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        return NULL;
    return path;
}

int
braid_file_write(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t) n;
    }
    /*  fchmod: the mode given to open() is filtered by the umask.         */
    if (fchmod(fd, mode) != 0) {
        close(fd);
        return -1;
    }
    return close(fd);
}

char *
braid_file_read(const char *path, size_t *len_p)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t size = 0, cap = 4096;
    char *data = malloc(cap);
    while (data) {
        if (cap - size < 4096) {
            char *bigger = realloc(data, cap * 2);
            if (!bigger) {
                free(data);
                data = NULL;
                break;
            }
            data = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, data + size, cap - size - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(data);
            data = NULL;
            break;
        }
        if (n == 0)
            break;
        size += (size_t) n;
    }
    close(fd);
    if (!data)
        return NULL;
    data[size] = '\0';
    if (len_p)
        *len_p = size;
    return data;
}

/*  --------------------------------------------------------------------
    Ports                                                                   */

int
braid_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind(fd, (struct sockaddr *) &addr, sizeof addr) == 0
        && getsockname(fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs(addr.sin_port);
    close(fd);
    return port;
}

/*  --------------------------------------------------------------------
    Processes                                                               */

/*  Append to a stream's buffer; caller holds the mutex.                    */
static void
s_stream_append(s_stream_t *s, const char *data, size_t len)
{
    if (s->size + len + 1 > S_MAX_BUFFER) {
        s->truncated = true;
        return;
    }
    if (s->size + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->size + len + 1)
            cap *= 2;
        char *bigger = realloc(s->data, cap);
        if (!bigger) {
            s->truncated = true;
            return;
        }
        s->data = bigger;
        s->cap = cap;
    }
    memcpy(s->data + s->size, data, len);
    s->size += len;
    s->data[s->size] = '\0';
}

/*  Read once from a stream's pipe. Returns false once the pipe is done.   */
static bool
s_drain_once(braid_proc_t *self, int index, char *buf)
{
    s_stream_t *s = &self->streams[index];
    ssize_t n = read(s->fd, buf, S_READ_CHUNK);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n > 0 && s->file_fd >= 0) {
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = write(s->file_fd, buf + off, (size_t) (n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += w;
        }
    }
    pthread_mutex_lock(&self->mutex);
    if (n > 0)
        s_stream_append(s, buf, (size_t) n);
    else {
        close(s->fd);
        s->fd = -1;
        s->eof = true;
    }
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mutex);
    return n > 0;
}

static void *
s_drain_thread(void *arg)
{
    braid_proc_t *self = arg;
    char *buf = malloc(S_READ_CHUNK);
    bool stopping = false;
    while (buf) {
        struct pollfd fds[3];
        int index[3];
        nfds_t nfds = 0;
        for (int i = 0; i < 2; i++) {
            if (self->streams[i].fd >= 0) {
                fds[nfds].fd = self->streams[i].fd;
                fds[nfds].events = POLLIN;
                index[nfds++] = i;
            }
        }
        if (nfds == 0)
            break;
        if (!stopping) {
            fds[nfds].fd = self->stop_pipe[0];
            fds[nfds].events = POLLIN;
            index[nfds++] = -1;
        }
        /*  Once stopping, take only what is already there.                */
        int rc = poll(fds, nfds, stopping ? 0 : -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            break;
        for (nfds_t i = 0; i < nfds; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (index[i] < 0)
                stopping = true;
            else
                s_drain_once(self, index[i], buf);
        }
    }
    free(buf);
    /*  Whatever is left open is abandoned: mark it ended.                 */
    pthread_mutex_lock(&self->mutex);
    for (int i = 0; i < 2; i++) {
        if (self->streams[i].fd >= 0) {
            close(self->streams[i].fd);
            self->streams[i].fd = -1;
        }
        self->streams[i].eof = true;
    }
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mutex);
    return NULL;
}

static void *
s_wait_thread(void *arg)
{
    braid_proc_t *self = arg;
    siginfo_t info;
    int rc;
    memset(&info, 0, sizeof info);
    /*  WNOWAIT: leave the zombie, so the pid and pgid stay ours.          */
    while ((rc = waitid(P_PID, (id_t) self->pid, &info, WEXITED | WNOWAIT)) < 0
           && errno == EINTR)
        ;
    pthread_mutex_lock(&self->mutex);
    self->exited = true;
    self->exit_msec = braid_now_msec();
    if (rc < 0)
        self->code = -1;
    else if (info.si_code == CLD_EXITED)
        self->code = info.si_status;
    else
        self->code = 128 + info.si_status;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->mutex);
    return NULL;
}

static void
s_close(int *fd_p)
{
    if (*fd_p >= 0) {
        close(*fd_p);
        *fd_p = -1;
    }
}

braid_proc_t *
braid_proc_spawn(const char *dir, const char *name, const char *const argv[],
                 const char *stdin_path)
{
    braid_proc_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->name = strdup(name ? name : argv[0]);
    self->code = -1;
    self->exit_msec = -1;
    self->stop_pipe[0] = self->stop_pipe[1] = -1;
    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    int in_fd = -1;
    for (int i = 0; i < 2; i++) {
        self->streams[i].fd = -1;
        self->streams[i].file_fd = -1;
    }
    pthread_mutex_init(&self->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cond, &attr);
    pthread_condattr_destroy(&attr);

    /*  Every fd is close-on-exec, so no child inherits another's pipes;
        the dup2 file actions below clear it on 0, 1 and 2.                */
    if (!self->name || pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0
        || pipe2(self->stop_pipe, O_CLOEXEC) != 0)
        goto fail;
    in_fd = open(stdin_path ? stdin_path : "/dev/null", O_RDONLY | O_CLOEXEC);
    if (in_fd < 0)
        goto fail;
    if (dir) {
        static const char *suffix[2] = {"out", "err"};
        for (int i = 0; i < 2; i++) {
            char *path = NULL;
            if (asprintf(&path, "%s/%s.%s", dir, self->name, suffix[i]) < 0)
                goto fail;
            self->streams[i].file_fd =
                open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
            free(path);
            if (self->streams[i].file_fd < 0)
                goto fail;
        }
    }

    posix_spawn_file_actions_t actions;
    posix_spawnattr_t sattr;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in_fd, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    posix_spawnattr_init(&sattr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&sattr, &none);
    /*  SIGPIPE is ignored here, and ignored signals survive exec.         */
    posix_spawnattr_setsigdefault(&sattr, &all);
    posix_spawnattr_setpgroup(&sattr, 0);
    posix_spawnattr_setflags(&sattr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                         | POSIX_SPAWN_SETSIGDEF);
    int rc = posix_spawnp(&self->pid, argv[0], &actions, &sattr, (char *const *) argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&sattr);
    if (rc != 0) {
        fprintf(stderr, "harness: cannot spawn %s: %s\n", argv[0], strerror(rc));
        self->pid = 0;
        goto fail;
    }
    s_track(self->pid, true);
    s_close(&in_fd);
    s_close(&out_pipe[1]);
    s_close(&err_pipe[1]);
    self->streams[BRAID_STDOUT].fd = out_pipe[0];
    self->streams[BRAID_STDERR].fd = err_pipe[0];
    out_pipe[0] = err_pipe[0] = -1;

    if (pthread_create(&self->wait_thread, NULL, s_wait_thread, self) != 0)
        goto fail;
    self->wait_started = true;
    if (pthread_create(&self->drain_thread, NULL, s_drain_thread, self) != 0)
        goto fail;
    self->drain_started = true;
    return self;

fail:
    s_close(&in_fd);
    s_close(&out_pipe[0]);
    s_close(&out_pipe[1]);
    s_close(&err_pipe[0]);
    s_close(&err_pipe[1]);
    braid_proc_destroy(&self);
    return NULL;
}

void
braid_proc_destroy(braid_proc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_proc_t *self = *self_p;
    if (self->pid > 0) {
        /*  Safe: the leader is not reaped yet, so pid and pgid are ours.  */
        killpg(self->pid, SIGKILL);
        kill(self->pid, SIGKILL);
        if (self->wait_started)
            pthread_join(self->wait_thread, NULL);
        /*  SIGKILL takes effect asynchronously: make sure it has.        */
        if (braid_pgrp_wait_empty(self->pid, 5000) != 0)
            fprintf(stderr, "harness: %s: group %d not empty 5 s after SIGKILL\n", self->name,
                    (int) self->pid);
        else
            while (waitid(P_PID, (id_t) self->pid, &(siginfo_t){0}, WEXITED | WNOWAIT) < 0
                   && errno == EINTR)
                ;
    }
    if (self->stop_pipe[1] >= 0 && write(self->stop_pipe[1], "x", 1) < 0)
        fprintf(stderr, "harness: cannot stop drain thread: %s\n", strerror(errno));
    if (self->drain_started)
        pthread_join(self->drain_thread, NULL);
    if (self->pid > 0) {
        while (waitpid(self->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        s_track(self->pid, false);
    }
    for (int i = 0; i < 2; i++) {
        s_close(&self->streams[i].fd);
        s_close(&self->streams[i].file_fd);
        free(self->streams[i].data);
    }
    s_close(&self->stop_pipe[0]);
    s_close(&self->stop_pipe[1]);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->mutex);
    free(self->name);
    free(self);
    *self_p = NULL;
}

pid_t
braid_proc_pid(braid_proc_t *self)
{
    return self->pid;
}

const char *
braid_proc_name(braid_proc_t *self)
{
    return self->name;
}

/*  Wait on the condition until pred(self, arg) holds (returns 1) or can no
    longer hold (returns -1), or the deadline passes. Caller holds no lock. */
static int
s_wait_until(braid_proc_t *self, int timeout_msec, int (*pred)(braid_proc_t *, void *),
             void *arg)
{
    struct timespec deadline = s_deadline(timeout_msec);
    int result;
    bool timed_out = false;
    pthread_mutex_lock(&self->mutex);
    while ((result = pred(self, arg)) == 0 && !timed_out)
        timed_out = pthread_cond_timedwait(&self->cond, &self->mutex, &deadline) == ETIMEDOUT;
    pthread_mutex_unlock(&self->mutex);
    return result == 1 ? 0 : -1;
}

typedef struct {
    int stream;
    const char *text;
    size_t text_len;
    size_t scan; /* first byte of the first line not yet looked at */
    size_t size;
} s_wait_arg_t;

static int
s_pred_line(braid_proc_t *self, void *arg)
{
    s_wait_arg_t *w = arg;
    s_stream_t *s = &self->streams[w->stream];
    while (w->scan < s->size) {
        const char *line = s->data + w->scan;
        const char *nl = memchr(line, '\n', s->size - w->scan);
        if (!nl)
            break;
        if (memmem(line, (size_t) (nl - line), w->text, w->text_len))
            return 1;
        w->scan = (size_t) (nl - s->data) + 1;
    }
    if (s->eof) {
        /*  A last line without newline counts once the stream has ended. */
        if (memmem(s->data + w->scan, s->size - w->scan, w->text, w->text_len))
            return 1;
        return -1;
    }
    return 0;
}

int
braid_proc_wait_line(braid_proc_t *self, braid_stream_t stream, const char *text,
                     int timeout_msec)
{
    s_wait_arg_t w = {.stream = stream, .text = text, .text_len = strlen(text)};
    return s_wait_until(self, timeout_msec, s_pred_line, &w);
}

static int
s_pred_bytes(braid_proc_t *self, void *arg)
{
    s_wait_arg_t *w = arg;
    s_stream_t *s = &self->streams[w->stream];
    if (s->size >= w->size)
        return 1;
    return s->eof ? -1 : 0;
}

int
braid_proc_wait_bytes(braid_proc_t *self, braid_stream_t stream, size_t size, int timeout_msec)
{
    s_wait_arg_t w = {.stream = stream, .size = size};
    return s_wait_until(self, timeout_msec, s_pred_bytes, &w);
}

static int
s_pred_eof(braid_proc_t *self, void *arg)
{
    s_wait_arg_t *w = arg;
    return self->streams[w->stream].eof ? 1 : 0;
}

int
braid_proc_wait_eof(braid_proc_t *self, braid_stream_t stream, int timeout_msec)
{
    s_wait_arg_t w = {.stream = stream};
    return s_wait_until(self, timeout_msec, s_pred_eof, &w);
}

static int
s_pred_exit(braid_proc_t *self, void *arg)
{
    (void) arg;
    return self->exited ? 1 : 0;
}

int
braid_proc_wait_exit(braid_proc_t *self, int timeout_msec, int *code_p)
{
    if (s_wait_until(self, timeout_msec, s_pred_exit, NULL) != 0)
        return -1;
    pthread_mutex_lock(&self->mutex);
    if (code_p)
        *code_p = self->code;
    pthread_mutex_unlock(&self->mutex);
    return 0;
}

int
braid_proc_finish(braid_proc_t *self, int timeout_msec, int *code_p)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    if (braid_proc_wait_exit(self, timeout_msec, code_p) != 0)
        return -1;
    for (int i = 0; i < 2; i++)
        if (braid_proc_wait_eof(self, (braid_stream_t) i, (int) (deadline - braid_now_msec()))
            != 0)
            return -1;
    return 0;
}

bool
braid_proc_exited(braid_proc_t *self)
{
    pthread_mutex_lock(&self->mutex);
    bool exited = self->exited;
    pthread_mutex_unlock(&self->mutex);
    return exited;
}

int64_t
braid_proc_exit_msec(braid_proc_t *self)
{
    pthread_mutex_lock(&self->mutex);
    int64_t msec = self->exited ? self->exit_msec : -1;
    pthread_mutex_unlock(&self->mutex);
    return msec;
}

int
braid_proc_signal(braid_proc_t *self, int sig)
{
    if (braid_proc_exited(self))
        return -1;
    return kill(self->pid, sig);
}

int
braid_proc_signal_group(braid_proc_t *self, int sig)
{
    return killpg(self->pid, sig);
}

char *
braid_proc_output(braid_proc_t *self, braid_stream_t stream, size_t *len_p)
{
    pthread_mutex_lock(&self->mutex);
    s_stream_t *s = &self->streams[stream];
    char *copy = malloc(s->size + 1);
    if (copy) {
        if (s->size)
            memcpy(copy, s->data, s->size);
        copy[s->size] = '\0';
        if (len_p)
            *len_p = s->size;
    }
    pthread_mutex_unlock(&self->mutex);
    return copy;
}

void
braid_proc_dump(braid_proc_t *self, size_t max_bytes)
{
    if (!self)
        return;
    size_t len;
    char *err = braid_proc_output(self, BRAID_STDERR, &len);
    if (err) {
        size_t from = len > max_bytes ? len - max_bytes : 0;
        fprintf(stderr, "---- %s (pid %d) stderr, last %zu of %zu bytes ----\n%s\n", self->name,
                (int) self->pid, len - from, len, err + from);
        free(err);
    }
    char *out = braid_proc_output(self, BRAID_STDOUT, &len);
    if (out) {
        if (len > max_bytes)
            out[max_bytes] = '\0';
        fprintf(stderr, "---- %s stdout, first %zu of %zu bytes ----\n%s\n", self->name,
                len > max_bytes ? max_bytes : len, len, out);
        free(out);
    }
}

char *
braid_run(const char *const argv[], const char *stdin_path, int timeout_msec, size_t *len_p,
          int *code_p)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    braid_proc_t *proc = braid_proc_spawn(NULL, argv[0], argv, stdin_path);
    if (!proc)
        return NULL;
    char *out = NULL;
    if (braid_proc_wait_exit(proc, timeout_msec, code_p) == 0
        && braid_proc_wait_eof(proc, BRAID_STDOUT, (int) (deadline - braid_now_msec())) == 0)
        out = braid_proc_output(proc, BRAID_STDOUT, len_p);
    else
        braid_proc_dump(proc, 2000);
    braid_proc_destroy(&proc);
    return out;
}

int
braid_compare(const char *what, const char *got, size_t got_len, const char *want,
              size_t want_len)
{
    if (got_len == want_len && memcmp(got, want, got_len) == 0)
        return 0;
    size_t off = 0, line = 1, line_start = 0;
    while (off < got_len && off < want_len && got[off] == want[off]) {
        if (got[off] == '\n') {
            line++;
            line_start = off + 1;
        }
        off++;
    }
    const char *g_end = memchr(got + line_start, '\n', got_len - line_start);
    const char *w_end = memchr(want + line_start, '\n', want_len - line_start);
    int g_len = (int) (g_end ? (size_t) (g_end - got) - line_start : got_len - line_start);
    int w_len = (int) (w_end ? (size_t) (w_end - want) - line_start : want_len - line_start);
    fprintf(stderr,
            "%s: differs at byte %zu (line %zu); got %zu bytes, want %zu\n"
            "  got line:  '%.*s'\n  want line: '%.*s'\n",
            what, off, line, got_len, want_len, g_len > 300 ? 300 : g_len, got + line_start,
            w_len > 300 ? 300 : w_len, want + line_start);
    return -1;
}

char *
braid_script_write(const char *dir, const char *name, const char *text)
{
    char *path = braid_path(dir, name);
    if (path && braid_file_write(path, text, strlen(text), 0755) != 0) {
        free(path);
        path = NULL;
    }
    return path;
}
