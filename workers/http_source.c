/*  http_source.c - the http kind of source. See the header.               */

#include "http_source.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "braid_msg.h"
#include "http_settings.h"
#include "splitter.h"
#include "sse.h"

#ifndef BRAID_WORKER_VERSION
#define BRAID_WORKER_VERSION "unknown"
#endif

#define S_EPOLL_BATCH 64         /* socket events taken per epoll_wait      */

typedef struct {
    CURLM *multi;
    int epoll_fd;           /* curl's sockets, as it asks them watched     */
    size_t nsocks;          /* in the epoll set                            */
    int64_t timer_at;       /* curl's timeout is due; -1: none             */
    CURL **spare;           /* easy handles of ended runs, reset, for the
                               next ones (at most slots of them)           */
    size_t nspare;
    size_t maxspare;
} s_context_t;

typedef struct {
    s_context_t *context;
    const braid_http_settings_t *settings;
    CURL *easy;
    bool added;             /* in the multi handle                         */
    bool paused;            /* the write callback said pause               */
    bool done;              /* the transfer is over (done_code says how)   */
    bool eof;               /* the splitter was told no more will come     */
    bool stopped;
    bool sse_over;          /* the SSE terminator came                     */
    CURLcode done_code;
    long status;            /* of the answer being read; final once done   */
    char status_line[96];
    char *body;             /* the request body, kept while curl sends it  */
    braid_splitter_t *splitter;
    braid_sse_t *sse;       /* output = sse                                */
    braid_parts_t *lines;   /* sse: scratch for one line                   */
    uint64_t body_bytes;    /* of a 2xx answer                             */
    bool too_big;
    char error_head[BRAID_HTTP_ERROR_HEAD + 1]; /* of a failed answer      */
    size_t error_len;
    size_t error_bytes;
    uint32_t retry_after_msec;
    char errbuf[CURL_ERROR_SIZE];
} s_run_t;

/*  ---------------------------------------------------------------------
    Context: the multi handle, its sockets and its timer                   */

/*  curl's CURLMOPT_SOCKETFUNCTION: watch fd for what, or stop watching.
    The sockets live in the context's epoll set, so the worker polls one
    descriptor however many connections the pool holds; a socket known
    to the set carries the context itself as curl's socketp.               */
static int
s_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void) easy;
    s_context_t *self = userp;
    if (what == CURL_POLL_REMOVE) {
        if (socketp) {
            /*  Gone already if curl closed it first: nothing to undo.     */
            epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
            self->nsocks--;
        }
        return 0;
    }
    struct epoll_event ev = {
        .events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u),
        .data.fd = fd,
    };
    if (socketp)
        return epoll_ctl(self->epoll_fd, EPOLL_CTL_MOD, fd, &ev) == 0 ? 0 : -1;
    if (epoll_ctl(self->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -1;
    if (curl_multi_assign(self->multi, fd, self) != CURLM_OK) {
        epoll_ctl(self->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
        return -1;
    }
    self->nsocks++;
    return 0;
}

/*  curl's CURLMOPT_TIMERFUNCTION: call back in timeout_ms (-1: never; 0:
    as soon as possible, which the pump of this very pass is).             */
static int
s_on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void) multi;
    s_context_t *self = userp;
    self->timer_at = timeout_ms < 0 ? -1 : timeout_ms == 0 ? 0 : zclock_mono() + timeout_ms;
    return 0;
}

/*  Take the transfers that ended off the multi handle.                     */
static void
s_collect(s_context_t *self)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        s_run_t *run = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &run);
        curl_multi_remove_handle(self->multi, easy);    /* msg is gone now */
        if (!run)
            continue;
        run->added = false;
        run->done = true;
        run->done_code = code;
        long status = 0;
        if (curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status)
            run->status = status;
        curl_off_t after = 0;
        if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &after) == CURLE_OK && after > 0)
            run->retry_after_msec =
                after >= BRAID_MAX_MSEC / 1000 ? BRAID_MAX_MSEC : (uint32_t) after * 1000;
    }
}

static void *
s_open(uint32_t slots, char *err, size_t errsize)
{
    s_context_t *self = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errsize, "cannot initialise libcurl");
        return NULL;
    }
    if (!(self = calloc(1, sizeof *self))) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    self->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epoll_fd < 0 || !(self->multi = curl_multi_init())) {
        snprintf(err, errsize, "cannot make the transfers' poll set: %s",
                 self->epoll_fd < 0 ? strerror(errno) : "out of memory");
        goto fail;
    }
    self->timer_at = -1;
    self->maxspare = slots;
    if (!(self->spare = calloc(slots, sizeof *self->spare))) {
        snprintf(err, errsize, "out of memory");
        goto fail;
    }
    /*  The pool: as many connections as transfers can run, kept for reuse
        (a worker runs at most slots tasks at once).                       */
    long pool = slots;
    if (curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_on_socket) ||
        curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self) ||
        curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_on_timer) ||
        curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self) ||
        curl_multi_setopt(self->multi, CURLMOPT_MAXCONNECTS, pool) ||
        curl_multi_setopt(self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, pool) ||
        curl_multi_setopt(self->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, pool)) {
        snprintf(err, errsize, "cannot set up the curl multi handle");
        goto fail;
    }
    return self;
fail:
    if (self) {
        if (self->multi)
            curl_multi_cleanup(self->multi);
        if (self->epoll_fd >= 0)
            close(self->epoll_fd);
        free(self->spare);
        free(self);
    }
    curl_global_cleanup();
    return NULL;
}

static void
s_close(void **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_context_t *self = *self_p;
    curl_multi_cleanup(self->multi);    /* closes the pool's connections   */
    for (size_t i = 0; i < self->nspare; i++)
        curl_easy_cleanup(self->spare[i]);
    free(self->spare);
    close(self->epoll_fd);
    free(self);
    *self_p = NULL;
    curl_global_cleanup();
}

static void
s_context_fds(void *context, braid_fd_add_fn *add, void *arg)
{
    s_context_t *self = context;
    if (self->nsocks)
        add(arg, self->epoll_fd, ZMQ_POLLIN, 0);
}

/*  Some of curl's sockets are ready: tell curl, one batch a pass (the set
    is level-triggered: what is left comes up in the next pass).           */
static void
s_context_ready(void *context, int what, short revents, int64_t now)
{
    (void) what;
    (void) revents;
    (void) now;
    s_context_t *self = context;
    struct epoll_event evs[S_EPOLL_BATCH];
    int n = epoll_wait(self->epoll_fd, evs, S_EPOLL_BATCH, 0);
    for (int i = 0; i < n; i++) {
        /*  A hang-up reads as end of file; an error as one.                */
        int mask = (evs[i].events & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) |
                   (evs[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                   (evs[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0);
        int running;
        curl_multi_socket_action(self->multi, evs[i].data.fd, mask, &running);
    }
    s_collect(self);
}

static void
s_context_pump(void *context, int64_t now)
{
    s_context_t *self = context;
    if (self->timer_at < 0 || now < self->timer_at)
        return;
    self->timer_at = -1;
    int running;
    curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    s_collect(self);
}

static int64_t
s_context_wake(void *context, int64_t now)
{
    (void) now;
    s_context_t *self = context;
    return self->timer_at < 0 ? INT64_MAX : self->timer_at;
}

/*  ---------------------------------------------------------------------
    A transfer's callbacks                                                  */

/*  CURLOPT_HEADERFUNCTION: note each answer's status line (a redirect or a
    100 Continue comes before the final one).                               */
static size_t
s_on_header(char *data, size_t size, size_t nitems, void *arg)
{
    s_run_t *self = arg;
    size_t len = size * nitems;
    if (len > 5 && memcmp(data, "HTTP/", 5) == 0) {
        size_t n = len;
        while (n && (data[n - 1] == '\r' || data[n - 1] == '\n'))
            n--;
        snprintf(self->status_line, sizeof self->status_line, "%.*s", (int) n, data);
        /*  "HTTP/1.1 404 Not Found", "HTTP/2 200": three digits.         */
        const char *sp = memchr(data, ' ', n);
        size_t at = sp ? (size_t) (sp - data) + 1 : n;
        self->status = 0;
        for (size_t i = at; i < at + 3 && i < n && data[i] >= '0' && data[i] <= '9'; i++)
            self->status = self->status * 10 + (data[i] - '0');
        self->error_len = 0;
        self->error_bytes = 0;
    }
    return len;
}

/*  CURLOPT_WRITEFUNCTION: a 2xx body into the splitter (pause when it
    refuses), the head of any other body into the error text.              */
static size_t
s_on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    s_run_t *self = arg;
    size_t len = size * nmemb;
    if (self->status < 200 || self->status > 299) {
        size_t room = BRAID_HTTP_ERROR_HEAD - self->error_len;
        size_t take = len < room ? len : room;
        memcpy(self->error_head + self->error_len, data, take);
        self->error_len += take;
        self->error_bytes += len;
        /*  Enough of it: the rest is not read (the connection closes).     */
        return self->error_bytes > BRAID_HTTP_ERROR_BODY_MAX ? 0 : len;
    }
    uint64_t max = self->settings->max_response_bytes;
    if (max && self->body_bytes + len > max) {
        self->too_big = true;
        return 0;
    }
    if (braid_splitter_feed(self->splitter, data, len)) {
        self->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    self->body_bytes += len;
    return len;
}

/*  ---------------------------------------------------------------------
    Runs                                                                   */

/*  Take the transfer off the multi handle (it stops at once).             */
static void
s_remove(s_run_t *self)
{
    if (self->added) {
        curl_multi_remove_handle(self->context->multi, self->easy);
        self->added = false;
    }
}

static void
s_destroy(void **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_run_t *self = *self_p;
    s_remove(self);
    if (self->easy) {
        /*  Kept for the next run: a handle costs allocations to make.     */
        s_context_t *context = self->context;
        if (context && context->nspare < context->maxspare) {
            curl_easy_reset(self->easy);
            context->spare[context->nspare++] = self->easy;
        } else
            curl_easy_cleanup(self->easy);
    }
    braid_splitter_destroy(&self->splitter);
    braid_sse_destroy(&self->sse);
    braid_parts_destroy(&self->lines);
    free(self->body);
    free(self);
    *self_p = NULL;
}

/*  The options of a transfer of settings for the URL. 0, or -1.           */
static int
s_setup(s_run_t *self, const braid_http_settings_t *set, const char *url)
{
    CURL *e = self->easy;
    int bad = 0;
    bad |= curl_easy_setopt(e, CURLOPT_URL, url);
    bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *) self);
    bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, self->errbuf);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_write);
    bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, self);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_on_header);
    bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, self);
    bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, set->request);
    bad |= curl_easy_setopt(e, CURLOPT_USERAGENT, "braid-worker/" BRAID_WORKER_VERSION);
    bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    bad |= curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long) BRAID_HTTP_MAX_REDIRS);
    bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long) set->connect_timeout_msec);
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, set->insecure ? 0L : 1L);
    bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, set->insecure ? 0L : 2L);
    if (set->ca_file)
        bad |= curl_easy_setopt(e, CURLOPT_CAINFO, set->ca_file);
    if (set->max_response_bytes)
        bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                                (curl_off_t) set->max_response_bytes);
    if (set->method == BRAID_HTTP_METHOD_POST) {
        bad |= curl_easy_setopt(e, CURLOPT_POST, 1L);
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, self->body ? self->body : "");
        bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                                (curl_off_t) (self->body ? strlen(self->body) : 0));
    }
    return bad ? -1 : 0;
}

/*  An easy handle: a spare one, or a new one. NULL if out of memory.      */
static CURL *
s_context_easy(s_context_t *self)
{
    return self->nspare ? self->spare[--self->nspare] : curl_easy_init();
}

static braid_run_result_t
s_start(void *context, const void *settings, zframe_t **query_p, uint32_t attempt, int64_t now,
        void **run_p, char *text, size_t textsize)
{
    (void) attempt;
    (void) now;
    const braid_http_settings_t *set = settings;
    zframe_t *query = *query_p;
    *query_p = NULL;
    *run_p = NULL;
    const char *q = query ? (const char *) zframe_data(query) : "";
    size_t qlen = query ? zframe_size(query) : 0;
    char *url = NULL;
    braid_run_result_t result = BRAID_RUN_TRANSIENT;
    s_run_t *self = calloc(1, sizeof *self);
    if (!self || !(url = braid_http_template_fill(set->url, q, qlen, NULL)) ||
        (set->body && !(self->body = braid_http_template_fill(set->body, q, qlen, NULL))) ||
        !(self->splitter = braid_splitter_new(set->output == BRAID_HTTP_OUT_CHUNKS)) ||
        (set->output == BRAID_HTTP_OUT_SSE &&
         (!(self->sse = braid_sse_new(set->sse_done)) || !(self->lines = braid_parts_new()))) ||
        !(self->easy = s_context_easy(context))) {
        snprintf(text, textsize, "out of memory");
        goto fail;
    }
    self->context = context;
    self->settings = set;
    if (s_setup(self, set, url)) {
        snprintf(text, textsize, "cannot set up the transfer (libcurl lacks an option)");
        result = BRAID_RUN_FAILED;
        goto fail;
    }
    CURLMcode mc = curl_multi_add_handle(self->context->multi, self->easy);
    if (mc != CURLM_OK) {
        snprintf(text, textsize, "cannot start the transfer: %s", curl_multi_strerror(mc));
        goto fail;
    }
    self->added = true;
    free(url);
    zframe_destroy(&query);
    *run_p = self;
    return BRAID_RUN_BUSY;
fail:
    free(url);
    zframe_destroy(&query);
    void *run = self;
    s_destroy(&run);
    return result;
}

/*  output = sse: events from the splitter's lines, at most max.            */
static size_t
s_produce_sse(s_run_t *self, braid_parts_t *out, size_t max)
{
    size_t n = 0;
    while (n < max && !self->sse_over && braid_splitter_take(self->splitter, self->lines, 1)) {
        size_t len;
        const char *line = braid_parts_at(self->lines, 0, &len);
        braid_sse_step_t step = braid_sse_line(self->sse, line, len, out);
        braid_parts_drop(self->lines, 1);
        if (step == BRAID_SSE_EVENT)
            n++;
        else if (step == BRAID_SSE_DONE) {
            self->sse_over = true;
            s_remove(self);     /* the answer is complete for us           */
        }
    }
    return n;
}

static size_t
s_produce(void *run, int64_t now, braid_parts_t *out, size_t max)
{
    (void) now;
    s_run_t *self = run;
    if (self->stopped)
        return 0;
    size_t n = self->sse ? s_produce_sse(self, out, max)
                         : braid_splitter_take(self->splitter, out, max);
    /*  Room again: let curl go on (it may hand over what it holds now).   */
    if (self->paused && self->added && !braid_splitter_full(self->splitter)) {
        self->paused = false;
        CURLcode rc = curl_easy_pause(self->easy, CURLPAUSE_CONT);
        if (rc != CURLE_OK) {
            s_remove(self);
            self->done = true;
            self->done_code = rc;
        }
    }
    return n;
}

/*  True for the transfer errors that may pass on retry: the network, the
    server going away, timeouts.                                            */
static bool
s_transient(CURLcode code)
{
    switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

/*  How a transfer that is over ended.                                      */
static braid_run_result_t
s_result(s_run_t *self, char *text, size_t textsize)
{
    if (self->too_big) {
        snprintf(text, textsize, "response over max_response_bytes (%llu)",
                 (unsigned long long) self->settings->max_response_bytes);
        return BRAID_RUN_FAILED;
    }
    long status = self->status;
    if (status >= 300) {
        /*  The status line and the head of the body, on one line.         */
        char head[BRAID_HTTP_ERROR_HEAD + 1];
        size_t n = self->error_len;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char) self->error_head[i];
            head[i] = c < 0x20 || c == 0x7f ? ' ' : (char) c;
        }
        while (n && head[n - 1] == ' ')
            n--;
        head[n] = 0;
        snprintf(text, textsize, "%s%s%s",
                 self->status_line[0] ? self->status_line : "HTTP status", n ? ": " : "",
                 head);
        return status == 429 || status >= 500 ? BRAID_RUN_TRANSIENT : BRAID_RUN_FAILED;
    }
    if (self->done_code == CURLE_OK) {
        snprintf(text, textsize, "%s", "");
        return BRAID_RUN_OK;
    }
    if (self->done_code == CURLE_FILESIZE_EXCEEDED) {
        self->too_big = true;
        return s_result(self, text, textsize);
    }
    snprintf(text, textsize, "%s", self->errbuf[0] ? self->errbuf
                                                   : curl_easy_strerror(self->done_code));
    return s_transient(self->done_code) ? BRAID_RUN_TRANSIENT : BRAID_RUN_FAILED;
}

static braid_run_result_t
s_advance(void *run, int64_t now, size_t room, char *text, size_t textsize)
{
    (void) now;
    (void) room;
    s_run_t *self = run;
    if (self->stopped)
        return BRAID_RUN_STOPPED;
    if (self->sse_over) {
        snprintf(text, textsize, "%s", "");
        return BRAID_RUN_OK;
    }
    if (!self->done)
        return BRAID_RUN_BUSY;
    braid_run_result_t result = s_result(self, text, textsize);
    if (result != BRAID_RUN_OK)
        return result;  /* what is still held is not sent: a retry makes it */
    if (!self->eof) {
        braid_splitter_eof(self->splitter); /* the last line, unfinished    */
        self->eof = true;
    }
    return braid_splitter_pending(self->splitter) ? BRAID_RUN_BUSY : BRAID_RUN_OK;
}

/*  DONE's X (the HTTP status) and A (Retry-After) of a run that ended.    */
static void
s_outcome(void *run, braid_run_outcome_t *outcome)
{
    s_run_t *self = run;
    outcome->exit_value = self->status > 0 && self->status <= BRAID_MAX_EXIT_VALUE
                              ? (uint32_t) self->status
                              : 0;
    outcome->retry_after_msec = self->retry_after_msec;
}

static braid_run_result_t
s_stop(void *run, int64_t now)
{
    (void) now;
    s_run_t *self = run;
    s_remove(self);
    self->stopped = true;
    return BRAID_RUN_STOPPED;
}

static int64_t
s_wake(void *run, int64_t now, size_t room)
{
    s_run_t *self = run;
    if (self->stopped)
        return INT64_MAX;
    /*  Over and not yet told so, or output waits that the task would
        take: go on now.                                                   */
    if ((self->done && !self->eof) || self->sse_over ||
        (room > 0 && braid_splitter_pending(self->splitter)))
        return now;
    return INT64_MAX;
}

/*  A line (NDJSON) or an SSE event's data is one whole record: order key
    can read its score and dedup value (keys.h). A chunk is not.           */
static bool
s_lines(const void *settings)
{
    return ((const braid_http_settings_t *) settings)->output != BRAID_HTTP_OUT_CHUNKS;
}

const braid_source_kind_t braid_http_kind = {
    .name = "http",
    .settings_new = braid_http_settings_new,
    .settings_destroy = braid_http_settings_destroy,
    .set = braid_http_settings_set,
    .flag = braid_http_settings_flag,
    .check = braid_http_settings_check,
    .lines = s_lines,
    .open = s_open,
    .close = s_close,
    .context_fds = s_context_fds,
    .context_ready = s_context_ready,
    .context_pump = s_context_pump,
    .context_wake = s_context_wake,
    .start = s_start,
    .destroy = s_destroy,
    .produce = s_produce,
    .advance = s_advance,
    .outcome = s_outcome,
    .stop = s_stop,
    .wake = s_wake,
};
