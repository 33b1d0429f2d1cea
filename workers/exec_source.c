/*  exec_source.c - one running command of an exec source. See the header. */

#include "exec_source.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct _braid_exec_t {
    pid_t pid;
    int pidfd;              /* -1 once the exit is noted                   */
    int out_fd;             /* -1 once closed                              */
    int err_fd;
    bool exited;            /* the leader has exited (maybe not reaped)    */
    bool reaped;
    int why;                /* si_code: CLD_EXITED, CLD_KILLED, CLD_DUMPED */
    int code;               /* si_status: exit status or signal number    */
    bool chunks;
    char *in;               /* BRAID_EXEC_READ_BUF bytes, on first read    */
    size_t in_pos;          /* in[in_pos..in_len) read, not yet taken      */
    size_t in_len;
    char *carry;            /* an unfinished line                          */
    size_t carry_len;
    size_t carry_cap;
    char tail[BRAID_EXEC_STDERR_TAIL];
    size_t tail_len;
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

braid_exec_t *
braid_exec_new(const braid_source_t *source, const char *query, size_t qlen, char *err,
               size_t errsize)
{
    if (qlen && memchr(query, 0, qlen)) {
        snprintf(err, errsize, "query contains a NUL byte");
        return NULL;
    }
    braid_exec_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    self->pid = -1;
    self->pidfd = self->out_fd = self->err_fd = -1;
    self->reaped = true;    /* nothing to reap until spawned               */
    self->chunks = source->chunks;

    int out[2] = {-1, -1}, errp[2] = {-1, -1};
    char **argv = NULL;
    bool fa_init = false, attr_init = false;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc;

    if (!(argv = braid_template_argv(source->command, query, qlen))) {
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
    if ((rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ))) {
        snprintf(err, errsize, "cannot run %s: %s", argv[0], strerror(rc));
        goto fail;
    }
    self->pid = pid;
    self->reaped = false;
    /*  Without pidfd_open (kernel before 5.3, valgrind, some sandboxes)
        the caller polls braid_exec_check_exit() on a short timer.         */
    self->pidfd = pidfd_open(pid, 0);
    self->out_fd = out[0];
    self->err_fd = errp[0];
    out[0] = errp[0] = -1;
    s_close(&out[1]);
    s_close(&errp[1]);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    braid_template_argv_free(&argv);
    return self;

fail:
    s_close(&out[0]);
    s_close(&out[1]);
    s_close(&errp[0]);
    s_close(&errp[1]);
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    braid_template_argv_free(&argv);
    braid_exec_destroy(&self);
    return NULL;
}

void
braid_exec_destroy(braid_exec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_exec_t *self = *self_p;
    braid_exec_finish(self);
    s_close(&self->pidfd);
    free(self->in);
    free(self->carry);
    free(self);
    *self_p = NULL;
}

int
braid_exec_stdout_fd(braid_exec_t *self)
{
    return self->out_fd;
}

int
braid_exec_stderr_fd(braid_exec_t *self)
{
    return self->err_fd;
}

int
braid_exec_pid_fd(braid_exec_t *self)
{
    return self->pidfd;
}

/*  Append bytes to the unfinished line.                                    */
static int
s_carry(braid_exec_t *self, const char *data, size_t len)
{
    if (self->carry_len + len > self->carry_cap) {
        size_t cap = self->carry_cap ? self->carry_cap : 256;
        while (cap < self->carry_len + len)
            cap *= 2;
        char *carry = realloc(self->carry, cap);
        if (!carry)
            return -1;
        self->carry = carry;
        self->carry_cap = cap;
    }
    memcpy(self->carry + self->carry_len, data, len);
    self->carry_len += len;
    return 0;
}

static void
s_emit_carry(braid_exec_t *self, zmsg_t *out)
{
    if (self->carry_len) {
        zmsg_addmem(out, self->carry, self->carry_len);
        self->carry_len = 0;
    }
    /*  Do not keep a megabyte around for one long line.                    */
    if (self->carry_cap > 65536) {
        free(self->carry);
        self->carry = NULL;
        self->carry_cap = 0;
    }
}

int
braid_exec_read_stdout(braid_exec_t *self)
{
    if (self->in_pos < self->in_len)
        return 1;
    if (self->out_fd < 0)
        return 0;
    if (!self->in && !(self->in = malloc(BRAID_EXEC_READ_BUF)))
        return -1;          /* try again later; the child waits            */
    ssize_t n = read(self->out_fd, self->in, BRAID_EXEC_READ_BUF);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return -1;
    if (n <= 0) {           /* end of file, or an error we treat as one    */
        s_close(&self->out_fd);
        return 0;
    }
    self->in_pos = 0;
    self->in_len = (size_t) n;
    return 1;
}

size_t
braid_exec_take(braid_exec_t *self, zmsg_t *out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        if (self->carry_len >= BRAID_EXEC_MAX_LINE) {
            s_emit_carry(self, out);    /* a piece of an overlong line     */
            n++;
            continue;
        }
        if (self->in_pos < self->in_len) {
            const char *start = self->in + self->in_pos;
            size_t avail = self->in_len - self->in_pos;
            if (self->chunks) {
                zmsg_addmem(out, start, avail);
                self->in_pos = self->in_len;
                n++;
                continue;
            }
            const char *nl = memchr(start, '\n', avail);
            size_t len = nl ? (size_t) (nl - start) + 1 : avail;
            if (nl && self->carry_len == 0) {
                zmsg_addmem(out, start, len);       /* the common case     */
                n++;
            } else if (s_carry(self, start, len) == 0) {
                if (nl) {
                    s_emit_carry(self, out);        /* the line completed  */
                    n++;
                }
            } else if (self->carry_len) {
                s_emit_carry(self, out);    /* no memory: split the line   */
                n++;
                continue;                   /* then try the bytes again    */
            } else {
                zmsg_addmem(out, start, len);
                n++;
            }
            self->in_pos += len;
            continue;
        }
        if (self->out_fd < 0 && self->carry_len) {
            s_emit_carry(self, out);        /* the last line had no newline */
            n++;
            continue;
        }
        break;
    }
    return n;
}

bool
braid_exec_pending(braid_exec_t *self)
{
    return self->in_pos < self->in_len || self->carry_len >= BRAID_EXEC_MAX_LINE ||
           (self->out_fd < 0 && self->carry_len > 0);
}

void
braid_exec_read_stderr(braid_exec_t *self, char *buf, size_t bufsize)
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
        if (len >= BRAID_EXEC_STDERR_TAIL) {
            memcpy(self->tail, buf + len - BRAID_EXEC_STDERR_TAIL, BRAID_EXEC_STDERR_TAIL);
            self->tail_len = BRAID_EXEC_STDERR_TAIL;
        } else {
            size_t keep = BRAID_EXEC_STDERR_TAIL - len;
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
braid_exec_check_exit(braid_exec_t *self)
{
    if (self->exited || self->reaped)
        return true;
    siginfo_t info;
    memset(&info, 0, sizeof info);
    /*  WNOWAIT: learn the status but leave the zombie, so the pid (and
        the process group id) stay ours until braid_exec_finish().         */
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
braid_exec_needs_polling(braid_exec_t *self)
{
    return self->pidfd < 0 && !self->exited && !self->reaped;
}

bool
braid_exec_exited(braid_exec_t *self)
{
    return self->exited || self->reaped;
}

bool
braid_exec_pipes_closed(braid_exec_t *self)
{
    return self->out_fd < 0 && self->err_fd < 0;
}

void
braid_exec_kill(braid_exec_t *self, int sig)
{
    if (!self->reaped && self->pid > 0)
        killpg(self->pid, sig);
}

void
braid_exec_close_pipes(braid_exec_t *self)
{
    s_close(&self->out_fd);
    s_close(&self->err_fd);
}

void
braid_exec_finish(braid_exec_t *self)
{
    braid_exec_close_pipes(self);
    if (self->reaped)
        return;
    braid_exec_kill(self, SIGKILL);
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
}

bool
braid_exec_result(braid_exec_t *self, char *text, size_t textsize)
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
    if (n < 0 || (size_t) n >= textsize || self->tail_len == 0)
        return false;
    size_t len = (size_t) n;
    if (len + 2 < textsize) {
        memcpy(text + len, ": ", 2);
        len += 2;
    }
    for (size_t i = 0; i < self->tail_len && len + 1 < textsize; i++)
        text[len++] = self->tail[i] ? self->tail[i] : '?';     /* no NUL in text */
    text[len] = 0;
    return false;
}

int
braid_exec_exit_status(braid_exec_t *self)
{
    return self->why == CLD_EXITED ? self->code : -1;
}
