/*  child.c - one command the worker runs. See the header.                 */

#include "child.h"
#include "braid_text.h"
#include "reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

struct _braid_child_t {
    pid_t pid;
    int pidfd;              /* -1 once the exit is noted                   */
    int out_fd;             /* -1 once closed                              */
    int err_fd;
    bool exited;            /* the leader has exited (maybe not reaped)    */
    bool reaped;
    int why;                /* si_code: CLD_EXITED, CLD_KILLED, CLD_DUMPED */
    int code;               /* si_status: exit status or signal number    */
    braid_splitter_t *out;  /* stdout, cut into partials                   */
    char tail[BRAID_CHILD_STDERR_TAIL];
    size_t tail_len;
    uint64_t task;          /* the reaper's number for it; 0: none          */
};

static void
s_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static int
s_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/*  The child's environment: NAME=VALUE for each of names the worker has,
    and marker. NULL-terminated, owned (s_env_free); NULL if out of memory. */
static char **
s_env_new(const char *const names[], const char *marker)
{
    size_t n = 0;
    while (names && names[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *value = getenv(names[i]);
        if (!value)
            continue;
        size_t len = strlen(names[i]) + strlen(value) + 2;
        if (!(env[k] = malloc(len)))
            goto fail;
        snprintf(env[k++], len, "%s=%s", names[i], value);
    }
    if (!(env[k] = strdup(marker)))
        goto fail;
    return env;
fail:
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
    return NULL;
}

/*  Free an environment from s_env_new(); NULL-safe, sets *env_p NULL.      */
static void
s_env_free(char ***env_p)
{
    if (!*env_p)
        return;
    for (char **e = *env_p; *e; e++)
        free(*e);
    free(*env_p);
    *env_p = NULL;
}

braid_child_t *
braid_child_new(char *const argv[], const char *const env_names[], bool chunks, char *err,
                size_t errsize)
{
    braid_child_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    self->pid = -1;
    self->pidfd = self->out_fd = self->err_fd = -1;
    self->reaped = true;    /* nothing to reap until spawned               */

    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    bool fa_init = false, attr_init = false;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char **env = NULL;
    char marker[64];
    int rc;

    if (!(self->out = braid_splitter_new(chunks)) ||
        braid_reaper_begin(&self->task, marker, sizeof marker) ||
        !(env = s_env_new(env_names, marker))) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    if (pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) || s_nonblock(out[0]) ||
        s_nonblock(errp[0])) {
        snprintf(err, errsize, "cannot make pipes: %s", strerror(errno));
        goto fail;
    }
    if ((rc = posix_spawn_file_actions_init(&fa))) {
        snprintf(err, errsize, "cannot spawn: %s", strerror(rc));
        goto fail;
    }
    fa_init = true;
    if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) ||
        (rc = posix_spawn_file_actions_adddup2(&fa, errp[1], 2)) ||
        (rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3))) {
        snprintf(err, errsize, "cannot spawn: %s", strerror(rc));
        goto fail;
    }
    if ((rc = posix_spawnattr_init(&attr))) {
        snprintf(err, errsize, "cannot spawn: %s", strerror(rc));
        goto fail;
    }
    attr_init = true;
    /*  Own process group; no blocked signals (the worker blocks SIGTERM
        and SIGINT for its signalfd); every signal at its default action. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if ((rc = posix_spawnattr_setpgroup(&attr, 0)) ||
        (rc = posix_spawnattr_setsigmask(&attr, &none)) ||
        (rc = posix_spawnattr_setsigdefault(&attr, &all)) ||
        (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                                  POSIX_SPAWN_SETSIGDEF))) {
        snprintf(err, errsize, "cannot spawn: %s", strerror(rc));
        goto fail;
    }
    pid_t pid;
    /*  argv[0] is looked up in the worker's PATH; the child gets env.      */
    if ((rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, env))) {
        snprintf(err, errsize, "cannot run %s: %s", argv[0], strerror(rc));
        goto fail;
    }
    self->pid = pid;
    self->reaped = false;
    braid_reaper_leader(self->task, pid);
    s_env_free(&env);
    /*  Without pidfd_open (kernel before 5.3, valgrind, some sandboxes)
        the caller polls braid_child_check_exit() on a short timer.         */
    self->pidfd = pidfd_open(pid, 0);
    self->out_fd = out[0];
    self->err_fd = errp[0];
    out[0] = errp[0] = -1;
    s_close(&out[1]);
    s_close(&errp[1]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    return self;

fail:
    s_env_free(&env);
    s_close(&out[0]);
    s_close(&out[1]);
    s_close(&errp[0]);
    s_close(&errp[1]);
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    braid_child_destroy(&self);
    return NULL;
}

void
braid_child_destroy(braid_child_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_child_t *self = *self_p;
    braid_child_finish(self);
    s_close(&self->pidfd);
    if (self->task)
        braid_reaper_end(self->task, -1);   /* never spawned               */
    braid_splitter_destroy(&self->out);
    free(self);
    *self_p = NULL;
}

int
braid_child_stdout_fd(braid_child_t *self)
{
    return self->out_fd;
}

int
braid_child_stderr_fd(braid_child_t *self)
{
    return self->err_fd;
}

int
braid_child_pid_fd(braid_child_t *self)
{
    return self->pidfd;
}

braid_splitter_read_t
braid_child_read_stdout(braid_child_t *self)
{
    braid_splitter_read_t rc = braid_splitter_read(self->out, self->out_fd);
    if (rc == BRAID_SPLITTER_EOF)
        s_close(&self->out_fd);
    return rc;
}

size_t
braid_child_take(braid_child_t *self, braid_parts_t *out, size_t max)
{
    return braid_splitter_take(self->out, out, max);
}

bool
braid_child_pending(braid_child_t *self)
{
    return braid_splitter_pending(self->out);
}

void
braid_child_read_stderr(braid_child_t *self, char *buf, size_t bufsize)
{
    /*  A bounded number of reads per call keeps the loop fair.            */
    for (int i = 0; i < 16 && self->err_fd >= 0; i++) {
        ssize_t n = read(self->err_fd, buf, bufsize);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            s_close(&self->err_fd);
            return;
        }
        size_t len = (size_t) n;
        if (len >= BRAID_CHILD_STDERR_TAIL) {
            memcpy(self->tail, buf + len - BRAID_CHILD_STDERR_TAIL, BRAID_CHILD_STDERR_TAIL);
            self->tail_len = BRAID_CHILD_STDERR_TAIL;
        } else {
            size_t keep = BRAID_CHILD_STDERR_TAIL - len;
            if (self->tail_len > keep) {
                memmove(self->tail, self->tail + self->tail_len - keep, keep);
                self->tail_len = keep;
            }
            memcpy(self->tail + self->tail_len, buf, len);
            self->tail_len += len;
        }
    }
}

bool
braid_child_check_exit(braid_child_t *self)
{
    if (self->exited || self->reaped)
        return true;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    /*  WNOWAIT: learn the status but leave the zombie, so the pid (and
        the process group id) stay ours until braid_child_finish().         */
    if (waitid(P_PID, (id_t) self->pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == self->pid) {
        self->exited = true;
        self->why = info.si_code;
        self->code = info.si_status;
        s_close(&self->pidfd);
    }
    return self->exited;
}

bool
braid_child_needs_polling(braid_child_t *self)
{
    return self->pidfd < 0 && !self->exited && !self->reaped;
}

bool
braid_child_exited(braid_child_t *self)
{
    return self->exited || self->reaped;
}

bool
braid_child_pipes_closed(braid_child_t *self)
{
    return self->out_fd < 0 && self->err_fd < 0;
}

void
braid_child_kill(braid_child_t *self, int sig)
{
    if (!self->reaped && self->pid > 0)
        killpg(self->pid, sig);
}

void
braid_child_close_pipes(braid_child_t *self)
{
    s_close(&self->out_fd);
    s_close(&self->err_fd);
    if (self->out)
        braid_splitter_eof(self->out);   /* what is left of the last line   */
}

void
braid_child_finish(braid_child_t *self)
{
    braid_child_close_pipes(self);
    if (self->reaped)
        return;
    braid_child_kill(self, SIGKILL);
    siginfo_t info;
    for (;;) {
        memset(&info, 0, sizeof info);
        if (waitid(P_PID, (id_t) self->pid, &info, WEXITED) == 0)
            break;
        if (errno != EINTR) {
            info.si_pid = 0;    /* ECHILD: someone else reaped it           */
            break;
        }
    }
    if (!self->exited && info.si_pid == self->pid) {
        self->why = info.si_code;
        self->code = info.si_status;
    }
    self->exited = true;
    self->reaped = true;
    s_close(&self->pidfd);
    /*  What left the group (setsid, a double fork) and was reparented to
        the worker dies now too.                                            */
    braid_reaper_end(self->task, self->pid);
    self->task = 0;
}

bool
braid_child_result(braid_child_t *self, char *text, size_t textsize)
{
    if (self->why == CLD_EXITED && self->code == 0) {
        if (textsize)
            text[0] = 0;
        return true;
    }
    int n;
    if (self->why == CLD_EXITED)
        n = snprintf(text, textsize, "exit status %d", self->code);
    else
        n = snprintf(text, textsize, "killed by signal %d", self->code);
    size_t tail = self->tail_len;
    while (tail && (self->tail[tail - 1] == '\n' || self->tail[tail - 1] == '\r'))
        tail--;
    if (n < 0 || (size_t) n + 2 >= textsize || tail == 0)
        return false;
    memcpy(text + n, ": ", 3);
    braid_text_sanitize(text + n + 2, textsize - (size_t) n - 2, self->tail, tail);
    return false;
}

int
braid_child_exit_status(braid_child_t *self)
{
    return self->why == CLD_EXITED ? self->code : -1;
}

uint32_t
braid_child_exit_value(braid_child_t *self)
{
    if (!braid_child_exited(self) || self->code < 0)
        return 0;
    return self->why == CLD_EXITED ? (uint32_t) self->code & 255 : 128 + (uint32_t) self->code;
}
