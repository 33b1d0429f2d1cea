/*  exec_source.c - the exec kind of source. See the header.               */

#include "exec_source.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braid_num.h"
#include "child.h"
#include "reaper.h"
#include "template.h"

#define S_READ_BUF 65536        /* one read() of a child's stderr          */
#define S_ENV_MAX 64            /* names in an env setting                  */
#define S_ENV_NAME_MAX 128      /* bytes in one of them                     */

/*  What the OUT, ERR and PID descriptors are to ready().                  */
enum { S_OUT, S_ERR, S_PID };

typedef struct {
    braid_template_t *command;
    bool chunks;                /* output = chunks: one partial per read() */
    bool transient_exit[256];   /* exit status -> failure is transient (g) */
    bool allow_options;         /* a query may start with '-' anywhere      */
    char *env_names[S_ENV_MAX + 1];     /* the child's variables, NULL-ended */
} s_settings_t;

typedef struct {
    char buf[S_READ_BUF];
    int64_t sweep_at;           /* the reaper's next sweep                  */
} s_context_t;

typedef struct {
    const s_settings_t *settings;
    s_context_t *context;
    braid_child_t *child;
    int64_t drain_at;       /* the command exited: stop waiting for EOF    */
    int64_t kill_at;        /* stopping: SIGKILL the group at; 0 = done    */
    bool stopping;
    bool fresh;             /* output came since fresh() was last asked    */
} s_run_t;

/*  ---------------------------------------------------------------------
    Settings                                                               */

static int s_set_env(s_settings_t *self, const char *val, size_t vallen, char *err,
                     size_t errsize);
static void s_settings_destroy(void **self_p);

static void *
s_settings_new(void)
{
    s_settings_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->transient_exit[BRAID_EXEC_DEFAULT_TRANSIENT_EXIT] = true;
    char err[128];
    const char *env = BRAID_EXEC_DEFAULT_ENV;
    if (s_set_env(self, env, strlen(env), err, sizeof err)) {
        void *settings = self;
        s_settings_destroy(&settings);
        return NULL;
    }
    return self;
}

/*  Free the env names; the list is empty after.                            */
static void
s_env_clear(char **names)
{
    for (size_t i = 0; names[i]; i++) {
        free(names[i]);
        names[i] = NULL;
    }
}

static void
s_settings_destroy(void **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_settings_t *self = *self_p;
    braid_template_destroy(&self->command);
    s_env_clear(self->env_names);
    free(self);
    *self_p = NULL;
}

static int
s_set_command(s_settings_t *self, const char *text, char *err, size_t errsize)
{
    char why[128];
    braid_template_t *command = braid_template_new(text, why, sizeof why);
    if (!command) {
        snprintf(err, errsize, "bad command: %s", why);
        return -1;
    }
    braid_template_destroy(&self->command);
    self->command = command;
    return 0;
}

/*  transient_exit: a comma list of exit statuses 1..255, or "none". All or
    nothing: on -1 the settings keep their set.                             */
static int
s_set_transient(s_settings_t *self, const char *val, size_t vallen, char *err, size_t errsize)
{
    bool set[256] = {false};
    if (!(vallen == 4 && memcmp(val, "none", 4) == 0)) {
        const char *p = val, *end = val + vallen;
        for (;;) {
            const char *comma = memchr(p, ',', (size_t) (end - p));
            size_t len = comma ? (size_t) (comma - p) : (size_t) (end - p);
            while (len && (*p == ' ' || *p == '\t')) {
                p++;
                len--;
            }
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                len--;
            uint64_t v;
            if (braid_parse_u64_len(p, len, 1, 255, &v)) {
                snprintf(err, errsize,
                         "transient_exit must be a comma list of exit statuses 1..255, or none");
                return -1;
            }
            set[v] = true;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    memcpy(self->transient_exit, set, sizeof set);
    return 0;
}

/*  True if name (len bytes) can be an environment variable's name:
    [A-Za-z_][A-Za-z0-9_]*.                                                 */
static bool
s_env_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > S_ENV_NAME_MAX || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/*  env: the names of the worker's variables the child gets, separated by
    spaces (or empty: none). All or nothing.                                */
static int
s_set_env(s_settings_t *self, const char *val, size_t vallen, char *err, size_t errsize)
{
    char *names[S_ENV_MAX + 1] = {NULL};
    size_t n = 0;
    const char *p = val, *end = val + vallen;
    while (p < end) {
        if (*p == ' ' || *p == '\t') {
            p++;
            continue;
        }
        const char *word = p;
        while (p < end && *p != ' ' && *p != '\t')
            p++;
        size_t len = (size_t) (p - word);
        const size_t mlen = strlen(BRAID_REAPER_MARKER);
        if (!s_env_name_ok(word, len))
            snprintf(err, errsize, "env: bad variable name '%.*s' (letters, digits, _)",
                     (int) (len > 40 ? 40 : len), word);
        else if (len == mlen && memcmp(word, BRAID_REAPER_MARKER, mlen) == 0)
            snprintf(err, errsize, "env: " BRAID_REAPER_MARKER " is the worker's own");
        else if (n == S_ENV_MAX)
            snprintf(err, errsize, "env: more than %d names", S_ENV_MAX);
        else if (!(names[n] = strndup(word, len)))
            snprintf(err, errsize, "out of memory");
        else {
            n++;
            continue;
        }
        s_env_clear(names);
        return -1;
    }
    s_env_clear(self->env_names);
    memcpy(self->env_names, names, sizeof names);
    return 0;
}

static int
s_set(void *settings, const char *key, size_t keylen, const char *val, size_t vallen, char *err,
      size_t errsize)
{
    s_settings_t *self = settings;
    if (keylen == 7 && memcmp(key, "command", 7) == 0) {
        char *text = strndup(val, vallen);
        if (!text) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        int rc = s_set_command(self, text, err, errsize);
        free(text);
        return rc;
    }
    if (keylen == 6 && memcmp(key, "output", 6) == 0) {
        if (vallen == 5 && memcmp(val, "lines", 5) == 0)
            self->chunks = false;
        else if (vallen == 6 && memcmp(val, "chunks", 6) == 0)
            self->chunks = true;
        else {
            snprintf(err, errsize, "output must be lines or chunks");
            return -1;
        }
        return 0;
    }
    if (keylen == 14 && memcmp(key, "transient_exit", 14) == 0)
        return s_set_transient(self, val, vallen, err, errsize);
    if (keylen == 3 && memcmp(key, "env", 3) == 0)
        return s_set_env(self, val, vallen, err, errsize);
    if (keylen == 13 && memcmp(key, "allow_options", 13) == 0) {
        if (vallen == 3 && memcmp(val, "yes", 3) == 0)
            self->allow_options = true;
        else if (vallen == 2 && memcmp(val, "no", 2) == 0)
            self->allow_options = false;
        else {
            snprintf(err, errsize, "allow_options must be yes or no");
            return -1;
        }
        return 0;
    }
    snprintf(err, errsize, "unknown setting '%.*s' for an exec source", (int) keylen, key);
    return -1;
}

/*  NAME=exec:TEMPLATE: all after the colon is the command.                */
static int
s_flag(void *settings, const char *text, char *err, size_t errsize)
{
    if (!text || !*text) {
        snprintf(err, errsize, "exec needs a command: NAME=exec:TEMPLATE");
        return -1;
    }
    return s_set_command(settings, text, err, errsize);
}

static bool
s_lines(const void *settings)
{
    return !((const s_settings_t *) settings)->chunks;
}

static int
s_check(void *settings, const char *name, char *err, size_t errsize)
{
    s_settings_t *self = settings;
    if (!self->command) {
        snprintf(err, errsize, "exec source '%s' has no command", name);
        return -1;
    }
    return 0;
}

/*  ---------------------------------------------------------------------
    Context                                                                */

/*  The worker's exec runs share a stderr buffer, and the reaper (the
    worker becomes the subreaper here).                                     */
static void *
s_open(uint32_t slots, char *err, size_t errsize)
{
    (void) slots;
    s_context_t *self = malloc(sizeof *self);
    if (!self) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    if (braid_reaper_open(err, errsize)) {
        free(self);
        return NULL;
    }
    self->sweep_at = 0;
    return self;
}

static void
s_close(void **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_reaper_close();   /* every run is gone: so are their orphans     */
    free(*self_p);
    *self_p = NULL;
}

/*  The periodic sweep for orphans (reaper.h).                              */
static void
s_context_pump(void *context, int64_t now)
{
    s_context_t *self = context;
    if (now < self->sweep_at)
        return;
    braid_reaper_sweep();
    self->sweep_at = now + BRAID_REAPER_SWEEP_MSEC;
}

static int64_t
s_context_wake(void *context, int64_t now)
{
    (void) now;
    s_context_t *self = context;
    return self->sweep_at;
}

/*  ---------------------------------------------------------------------
    Runs                                                                   */

static void
s_destroy(void **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_run_t *self = *self_p;
    braid_child_destroy(&self->child);      /* kills and reaps             */
    free(self);
    *self_p = NULL;
}

static braid_run_result_t
s_start(void *context, const void *settings, zframe_t **query_p, uint32_t attempt, int64_t now,
        void **run_p, char *text, size_t textsize)
{
    (void) attempt;
    (void) now;
    const s_settings_t *set = settings;
    zframe_t *query = *query_p;
    *query_p = NULL;
    *run_p = NULL;
    const char *q = query ? (const char *) zframe_data(query) : "";
    size_t qlen = query ? zframe_size(query) : 0;
    char **argv = NULL;
    s_run_t *self = NULL;

    if (qlen && memchr(q, 0, qlen)) {
        snprintf(text, textsize, "query contains a NUL byte");
        goto fail;
    }
    /*  "wc -l {query}" with "--files0-from=/proc/self/environ": an option
        the query must not choose.                                          */
    if (qlen && q[0] == '-' && !set->allow_options &&
        braid_template_takes_options(set->command)) {
        snprintf(text, textsize,
                 "query starts with '-': refused, the command would take it as an option "
                 "(put -- before {query} in the command, or set allow_options = yes)");
        goto fail;
    }
    if (!(self = calloc(1, sizeof *self)) ||
        !(argv = braid_template_argv(set->command, q, qlen))) {
        snprintf(text, textsize, "out of memory");
        goto fail;
    }
    self->settings = set;
    self->context = context;
    if (!(self->child = braid_child_new(argv, (const char *const *) set->env_names, set->chunks,
                                       text, textsize)))
        goto fail;
    braid_template_argv_free(&argv);
    zframe_destroy(&query);     /* the child has it in its argv            */
    *run_p = self;
    return BRAID_RUN_BUSY;
fail:
    braid_template_argv_free(&argv);
    zframe_destroy(&query);
    free(self);
    return BRAID_RUN_FAILED;
}

/*  stdout only while the task wants output and everything read before was
    taken: that is the backpressure.                                       */
static void
s_fds(void *run, bool want_output, braid_fd_add_fn *add, void *arg)
{
    s_run_t *self = run;
    int fd;
    if (want_output && !braid_child_pending(self->child) &&
        (fd = braid_child_stdout_fd(self->child)) >= 0)
        add(arg, fd, ZMQ_POLLIN, S_OUT);
    if ((fd = braid_child_stderr_fd(self->child)) >= 0)
        add(arg, fd, ZMQ_POLLIN, S_ERR);
    if ((fd = braid_child_pid_fd(self->child)) >= 0)
        add(arg, fd, ZMQ_POLLIN, S_PID);
}

/*  Read a pipe, or note the command's exit.                               */
static void
s_ready(void *run, int what, short revents, int64_t now)
{
    (void) revents;
    s_run_t *self = run;
    if (what == S_OUT && !self->stopping) {
        braid_splitter_read_t rc = braid_child_read_stdout(self->child);
        if (rc == BRAID_SPLITTER_BYTES)
            self->fresh = true;
        if (rc != BRAID_SPLITTER_AGAIN && braid_child_exited(self->child))
            self->drain_at = now + BRAID_EXEC_KILL_GRACE_MSEC;
    } else if (what == S_ERR)
        braid_child_read_stderr(self->child, self->context->buf, sizeof self->context->buf);
    else if (what == S_PID && braid_child_check_exit(self->child))
        self->drain_at = now + BRAID_EXEC_KILL_GRACE_MSEC;
}

/*  Bytes one produce() may read beyond what the poll brought: a fast
    child's pipe is read again at once, up to this, so that many lines (or
    chunks) leave in one DATA and the loop turns once per batch, not once
    per 64 KiB read.                                                        */
#define S_PRODUCE_BYTES (256u << 10)

static size_t
s_produce(void *run, int64_t now, braid_parts_t *out, size_t max)
{
    s_run_t *self = run;
    size_t n = braid_child_take(self->child, out, max);
    while (n < max && !self->stopping && braid_parts_bytes(out) < S_PRODUCE_BYTES &&
           !braid_child_pending(self->child) && braid_child_stdout_fd(self->child) >= 0) {
        braid_splitter_read_t rc = braid_child_read_stdout(self->child);
        if (rc != BRAID_SPLITTER_AGAIN && braid_child_exited(self->child))
            self->drain_at = now + BRAID_EXEC_KILL_GRACE_MSEC;
        if (rc != BRAID_SPLITTER_BYTES && !braid_child_pending(self->child))
            break;
        size_t more = braid_child_take(self->child, out, max - n);
        if (more == 0)
            break;
        n += more;
    }
    return n;
}

static bool
s_fresh(void *run)
{
    s_run_t *self = run;
    /*  Output read but not yet taken counts: it is there already, and the
        source is not read again until it is taken (no event would come).  */
    bool fresh = self->fresh || braid_child_pending(self->child);
    self->fresh = false;
    return fresh;
}

static braid_run_result_t
s_advance(void *run, int64_t now, size_t room, char *text, size_t textsize)
{
    s_run_t *self = run;
    braid_child_t *child = self->child;
    if (braid_child_needs_polling(child) && braid_child_check_exit(child))
        self->drain_at = now + BRAID_EXEC_KILL_GRACE_MSEC;
    if (self->stopping) {
        if (self->kill_at && now >= self->kill_at) {
            braid_child_kill(child, SIGKILL);
            self->kill_at = 0;
        }
        return braid_child_exited(child) ? BRAID_RUN_STOPPED : BRAID_RUN_BUSY;
    }
    if (!braid_child_exited(child))
        return BRAID_RUN_BUSY;
    /*  Blocked: the task takes no more output now, or some waits here.    */
    bool blocked = room == 0 || braid_child_pending(child);
    if ((braid_child_pipes_closed(child) && !braid_child_pending(child)) ||
        (!blocked && now >= self->drain_at)) {
        /*  Both pipes at EOF and all output taken, or something outside
            our reach holds them: kill what is left of the group and reap. */
        braid_child_finish(child);
        if (braid_child_result(child, text, textsize))
            return BRAID_RUN_OK;
        int code = braid_child_exit_status(child);
        return code > 0 && code < 256 && self->settings->transient_exit[code]
                   ? BRAID_RUN_TRANSIENT
                   : BRAID_RUN_FAILED;
    }
    if (blocked && now >= self->drain_at)
        self->drain_at = now + BRAID_EXEC_KILL_GRACE_MSEC;
    return BRAID_RUN_BUSY;
}

static braid_run_result_t
s_stop(void *run, int64_t now)
{
    s_run_t *self = run;
    if (braid_child_exited(self->child))
        return BRAID_RUN_STOPPED;   /* destroy reaps it                    */
    /*  Closing the pipes first makes a child that still writes die of
        SIGPIPE even if it ignores SIGTERM.                                 */
    braid_child_close_pipes(self->child);
    braid_child_kill(self->child, SIGTERM);
    self->stopping = true;
    self->kill_at = now + BRAID_EXEC_KILL_GRACE_MSEC;
    return BRAID_RUN_BUSY;
}

static int64_t
s_wake(void *run, int64_t now, size_t room)
{
    s_run_t *self = run;
    int64_t wake = INT64_MAX;
    if (self->stopping && self->kill_at)
        wake = self->kill_at;
    if (!self->stopping && braid_child_exited(self->child) && self->drain_at < wake)
        wake = self->drain_at;
    if (braid_child_needs_polling(self->child) && now + BRAID_CHILD_POLL_MSEC < wake)
        wake = now + BRAID_CHILD_POLL_MSEC;
    /*  Output already read, and the task takes more: split it now.        */
    if (!self->stopping && room > 0 && braid_child_pending(self->child) && now < wake)
        wake = now;
    return wake;
}

/*  X: the command's exit status, 128+N for signal N.                        */
static void
s_outcome(void *run, braid_run_outcome_t *outcome)
{
    s_run_t *self = run;
    outcome->exit_value = braid_child_exit_value(self->child);
}

const braid_source_kind_t braid_exec_kind = {
    .name = "exec",
    .hold_msec = BRAID_EXEC_HOLD_MSEC,
    .settings_new = s_settings_new,
    .settings_destroy = s_settings_destroy,
    .set = s_set,
    .flag = s_flag,
    .check = s_check,
    .lines = s_lines,
    .open = s_open,
    .close = s_close,
    .context_pump = s_context_pump,
    .context_wake = s_context_wake,
    .start = s_start,
    .destroy = s_destroy,
    .fds = s_fds,
    .ready = s_ready,
    .produce = s_produce,
    .fresh = s_fresh,
    .advance = s_advance,
    .stop = s_stop,
    .wake = s_wake,
    .outcome = s_outcome,
};
