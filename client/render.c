/*  render.c - braid_render_t: the CLI's output (see render.h).            */

#include "render.h"
#include "braid_text.h"
#include "progress.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define S_PROGRESS_MSEC 200     /* progress line refresh                    */

struct _braid_render_t {
    FILE *out;
    FILE *err;
    braid_render_mode_t mode;
    bool progress;              /* a progress line on err                   */
    bool progress_shown;
    bool same_screen;           /* out is err's screen                      */
    int64_t progress_at;        /* msec, when it was drawn                  */
    int64_t started_at;         /* msec, when the run started               */
    uint64_t tasks;             /* the run's tasks                          */
    bool cancelling;
    const uint32_t *numbers;    /* the queries' numbers, or NULL            */
    const char *endpoint;       /* the accepting broker, or NULL            */

    bool tag;                   /* tag the lines of text output             */
    bool tag_source;            /* ... with the source too                  */
    bool line_open;             /* text output ends in the middle of a line */
    bool task_open;             /* the last partial's task is ...           */
    uint32_t task_query;        /* ... this query's                         */
    uint32_t task_source;       /* ... and this source's                    */
    braid_render_tally_t tally;
};

braid_render_t *
braid_render_new(FILE *out, FILE *err, braid_render_mode_t mode)
{
    braid_render_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->out = out;
    self->err = err;
    self->mode = mode;
    return self;
}

void
braid_render_destroy(braid_render_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void
braid_render_set_progress(braid_render_t *self, uint64_t tasks, int64_t now_msec,
                          bool same_screen)
{
    self->progress = true;
    self->tasks = tasks;
    self->started_at = now_msec;
    self->same_screen = same_screen;
}

void
braid_render_set_tag(braid_render_t *self, bool with_source)
{
    self->tag = true;
    self->tag_source = with_source;
}

void
braid_render_set_numbers(braid_render_t *self, const uint32_t *numbers)
{
    self->numbers = numbers;
}

void
braid_render_set_endpoint(braid_render_t *self, const char *endpoint)
{
    self->endpoint = endpoint;
}

void
braid_render_next_job(braid_render_t *self)
{
    self->tally.job_ended = false;
    self->tally.job_status = BRAID_END_OK;
    self->tally.error_code = 0;
    self->task_open = false;    /* the next job's indexes are its own       */
    self->numbers = NULL;
    self->endpoint = NULL;
}

void
braid_render_set_cancelling(braid_render_t *self)
{
    self->cancelling = true;
}

const braid_render_tally_t *
braid_render_tally(braid_render_t *self)
{
    return &self->tally;
}

/*  ---------------------------------------------------------------------
    Writers                                                                 */

void
braid_render_json_string(FILE *out, const void *data, size_t size)
{
    const uint8_t *p = data;
    putc('"', out);
    size_t i = 0, run = 0;     /* p[run .. i) is written as it is           */
    while (i < size) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        size_t n = c >= 0x80 ? braid_utf8_len(p + i, size - i) : 0;
        if (n) {
            i += n;
            continue;
        }
        if (i > run)
            fwrite(p + run, 1, i - run, out);
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c < 0x80)
                fprintf(out, "\\u%04x", c);         /* a control byte          */
            else
                fputs("\\ufffd", out);              /* not UTF-8: replaced     */
        }
        run = ++i;
    }
    if (i > run)
        fwrite(p + run, 1, i - run, out);
    putc('"', out);
}

/*  The size bytes at data as base64 (RFC 4648, padded), quotes included.   */
static void
s_json_base64(FILE *out, const void *data, size_t size)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const uint8_t *p = data;
    putc('"', out);
    for (size_t i = 0; i < size; i += 3) {
        uint32_t v = (uint32_t) p[i] << 16;
        if (i + 1 < size)
            v |= (uint32_t) p[i + 1] << 8;
        if (i + 2 < size)
            v |= p[i + 2];
        char quad[4] = {abc[v >> 18], abc[(v >> 12) & 63], abc[(v >> 6) & 63], abc[v & 63]};
        if (i + 1 >= size)
            quad[2] = '=';
        if (i + 2 >= size)
            quad[3] = '=';
        fwrite(quad, 1, 4, out);
    }
    putc('"', out);
}

/*  A member holding bytes: "name":"..." when they are valid UTF-8 (every
    JSON reader gets them back exactly), else "name_b64":"..." (base64).    */
static void
s_json_bytes(FILE *out, const char *name, const void *data, size_t size)
{
    bool text = braid_utf8_valid(data, size);
    fprintf(out, "\"%s%s\":", name, text ? "" : "_b64");
    if (text)
        braid_render_json_string(out, data, size);
    else
        s_json_base64(out, data, size);
}

/*  A NUL-terminated string as a JSON string.                               */
static void
s_json_str(FILE *out, const char *text)
{
    braid_render_json_string(out, text, strlen(text));
}

void
braid_render_text(FILE *out, const void *data, size_t size, bool keep_newlines)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = p[i];
        if ((c < 0x20 && !(keep_newlines && (c == '\n' || c == '\t'))) || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            putc(c, out);
    }
}

/*  ---------------------------------------------------------------------
    Progress and flushing                                                   */

void
braid_render_flush(braid_render_t *self)
{
    if (self->tally.write_failed)
        return;
    errno = 0;
    if (fflush(self->out) != 0 || ferror(self->out)) {
        self->tally.write_failed = true;
        self->tally.write_errno = errno ? errno : EIO;
        if (self->tally.write_errno != EPIPE) {
            braid_render_progress_clear(self);
            fprintf(self->err, "braid: stdout: %s\n", strerror(self->tally.write_errno));
        }
    }
}

void
braid_render_check_out(braid_render_t *self)
{
    int fd = fileno(self->out);
    if (self->tally.write_failed || fd < 0)
        return;
    /*  POLLERR and POLLHUP are reported whatever events asks for.          */
    struct pollfd pfd = {.fd = fd, .events = 0};
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP))) {
        self->tally.write_failed = true;
        self->tally.write_errno = EPIPE;
    }
}

void
braid_render_progress_clear(braid_render_t *self)
{
    if (self->progress_shown) {
        fputs("\r\033[K", self->err);
        self->progress_shown = false;
    }
}

void
braid_render_progress(braid_render_t *self, int64_t now_msec, bool force)
{
    if (!self->progress)
        return;
    if (!force && self->progress_shown && now_msec - self->progress_at < S_PROGRESS_MSEC)
        return;
    if (self->same_screen)
        braid_render_flush(self);   /* what came goes above the line       */
    self->progress_at = now_msec;
    char line[BRAID_PROGRESS_MAX];
    uint64_t elapsed = now_msec > self->started_at ? (uint64_t) (now_msec - self->started_at) : 0;
    braid_progress_line(line, sizeof line, self->tally.ended, self->tasks, self->tally.not_ok,
                        elapsed);
    fprintf(self->err, "\r\033[K%s", line);
    self->progress_shown = true;
}

/*  ---------------------------------------------------------------------
    Events                                                                  */

/*  The number shown for the query of ev.                                   */
static uint32_t
s_number(braid_render_t *self, const braid_event_t *ev)
{
    return self->numbers ? self->numbers[ev->query] : ev->query;
}

/*  Start a line on err about the task of ev: "braid: query N (QUERY)
    source NAME: ", after what went to out so far.                          */
static void
s_task_line(braid_render_t *self, const braid_event_t *ev)
{
    braid_render_flush(self);   /* keep out and err in stream order        */
    braid_render_progress_clear(self);
    fprintf(self->err, "braid: query %u (", s_number(self, ev));
    braid_render_text(self->err, ev->query_data ? ev->query_data : "",
                      ev->query_data ? ev->query_size : 0, false);
    fprintf(self->err, ") source %s: ", ev->source_name);
}

/*  Start a JSON line about the task of ev: type, query, text, source.    */
static void
s_json_task(braid_render_t *self, const char *type, const braid_event_t *ev)
{
    fprintf(self->out, "{\"type\":\"%s\",\"query\":%u,", type, s_number(self, ev));
    s_json_bytes(self->out, "text", ev->query_data ? ev->query_data : "",
                 ev->query_data ? ev->query_size : 0);
    fputs(",\"source\":", self->out);
    s_json_str(self->out, ev->source_name);
}

/*  The tag of ev's task: its query, a tab, and its source and a tab.       */
static void
s_tag(braid_render_t *self, const braid_event_t *ev)
{
    braid_render_text(self->out, ev->query_data ? ev->query_data : "",
                      ev->query_data ? ev->query_size : 0, false);
    putc('\t', self->out);
    if (self->tag_source) {
        fputs(ev->source_name, self->out);
        putc('\t', self->out);
    }
}

/*  A partial's bytes with a tag in front of each line; another task's
    output starts on a line of its own.                                     */
static void
s_tagged(braid_render_t *self, const braid_event_t *ev)
{
    bool same = self->task_open && self->task_query == ev->query &&
                self->task_source == ev->source;
    if (!same && self->line_open) {
        putc('\n', self->out);
        self->line_open = false;
    }
    self->task_open = true;
    self->task_query = ev->query;
    self->task_source = ev->source;
    const char *p = ev->data, *end = p + ev->size;
    while (p < end) {
        if (!self->line_open)
            s_tag(self, ev);
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        const char *stop = nl ? nl + 1 : end;
        fwrite(p, 1, (size_t) (stop - p), self->out);
        self->line_open = !nl;
        p = stop;
    }
}

/*  A partial: its bytes (text), or a "partial" line (JSON).               */
static void
s_partial(braid_render_t *self, const braid_event_t *ev)
{
    if (self->mode == BRAID_RENDER_TEXT) {
        if (self->tag)
            s_tagged(self, ev);
        else
            fwrite(ev->data, 1, ev->size, self->out);
        return;
    }
    s_json_task(self, "partial", ev);
    fprintf(self->out, ",\"seq\":%llu,", (unsigned long long) ev->seq);
    s_json_bytes(self->out, "data", ev->data, ev->size);
    fputs("}\n", self->out);
}

/*  A task's end: counted; an "end" line (JSON), or a line on err when it
    did not end ok (text; not for what our own cancel cancelled).           */
static void
s_end(braid_render_t *self, const braid_event_t *ev)
{
    self->tally.ended++;
    if (ev->status != BRAID_END_OK)
        self->tally.not_ok++;
    if (self->mode == BRAID_RENDER_JSON) {
        s_json_task(self, "end", ev);
        fprintf(self->out,
                ",\"status\":\"%s\",\"parts\":%llu,\"duplicates\":%llu,\"attempts\":%u,"
                "\"error\":",
                braid_end_status_name(ev->status), (unsigned long long) ev->parts,
                (unsigned long long) ev->duplicates, ev->attempts);
        s_json_str(self->out, ev->text);
        fputs("}\n", self->out);
        return;
    }
    if (ev->status == BRAID_END_OK || (self->cancelling && ev->status == BRAID_END_CANCELLED))
        return;
    size_t elen = strlen(ev->text);
    while (elen && ev->text[elen - 1] == '\n')
        elen--;
    s_task_line(self, ev);
    fputs(braid_end_status_name(ev->status), self->err);
    if (elen) {
        fputs(": ", self->err);
        braid_render_text(self->err, ev->text, elen, false);   /* one line */
    }
    fputc('\n', self->err);
}

/*  The job's end: noted; a "job" line with a row per source (JSON).       */
static void
s_job_end(braid_render_t *self, const braid_event_t *ev)
{
    static const uint64_t zero[BRAID_END_STATUS_COUNT] = {0};
    self->tally.job_ended = true;
    self->tally.job_status = ev->status;
    if (self->mode != BRAID_RENDER_JSON)
        return;
    fprintf(self->out, "{\"type\":\"job\",\"status\":\"%s\",\"sources\":{",
            braid_end_status_name(ev->status));
    for (uint32_t i = 0; i < ev->nsources; i++) {
        const uint64_t *row = ev->summary ? ev->summary[i] : zero;
        if (i)
            putc(',', self->out);
        s_json_str(self->out, ev->source_names[i]);
        fprintf(self->out, ":{\"ok\":%llu,\"failed\":%llu,\"timeout\":%llu,\"cancelled\":%llu}",
                (unsigned long long) row[BRAID_END_OK], (unsigned long long) row[BRAID_END_FAILED],
                (unsigned long long) row[BRAID_END_TIMEOUT],
                (unsigned long long) row[BRAID_END_CANCELLED]);
    }
    fputs("}}\n", self->out);
}

/*  A task starts again: a "restart" line (JSON), or a line on err.       */
static void
s_restart(braid_render_t *self, const braid_event_t *ev)
{
    if (self->mode == BRAID_RENDER_JSON) {
        s_json_task(self, "restart", ev);
        fprintf(self->out, ",\"attempt\":%u}\n", ev->attempts);
        return;
    }
    s_task_line(self, ev);
    fprintf(self->err, "restarted (attempt %u)\n", ev->attempts);
}

/*  The job failed: noted, and said on err (the broker's refusal of the
    job, or the library's reason).                                          */
static void
s_error(braid_render_t *self, const braid_event_t *ev)
{
    self->tally.error_code = ev->code;
    braid_render_flush(self);
    braid_render_progress_clear(self);
    /*  The broker's text is escaped like a worker's: one line, no
        terminal controls.                                                  */
    if (ev->code >= 1000)
        fputs("braid: ", self->err);
    else
        fprintf(self->err, "braid: job refused by %s: %d ",
                self->endpoint ? self->endpoint : "the broker", (int) ev->code);
    braid_render_text(self->err, ev->text, strlen(ev->text), false);
    fputc('\n', self->err);
}

void
braid_render_event(braid_render_t *self, const braid_event_t *ev)
{
    if (self->tally.write_failed)
        return;
    if (self->same_screen)
        braid_render_progress_clear(self);
    switch (ev->type) {
    case BRAID_EVENT_PARTIAL:
        s_partial(self, ev);
        break;
    case BRAID_EVENT_END:
        s_end(self, ev);
        break;
    case BRAID_EVENT_JOB_END:
        s_job_end(self, ev);
        break;
    case BRAID_EVENT_RESTART:
        s_restart(self, ev);
        break;
    case BRAID_EVENT_ERROR:
        s_error(self, ev);
        break;
    }
    if (ferror(self->out))
        braid_render_flush(self);
}

/*  ---------------------------------------------------------------------
    braid stats                                                             */

/*  A scalar as its JSON text. Owned; NULL on allocation failure.           */
static char *
s_scalar_text(const json_t *value)
{
    return json_dumps(value, JSON_ENCODE_ANY);
}

/*  "  source NAME: queued N, running N" per source.                        */
static void
s_stats_sources(FILE *out, json_t *sources)
{
    const char *name, *key;
    json_t *source, *value;
    json_object_foreach(sources, name, source) {
        fprintf(out, "  source %s: ", name);
        bool first = true;
        json_object_foreach(source, key, value) {
            fprintf(out, "%s%s ", first ? "" : ", ", key);
            if (json_is_integer(value))
                fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
            else {
                char *text = s_scalar_text(value);
                fputs(text ? text : "?", out);
                free(text);
            }
            first = false;
        }
        fputc('\n', out);
    }
}

/*  "  dropped: TOTAL (reason N, ...)": the reasons that are not zero.      */
static void
s_stats_dropped(FILE *out, json_t *dropped)
{
    const char *key;
    json_t *value;
    json_int_t total = 0;
    json_object_foreach(dropped, key, value)
        total += json_is_integer(value) ? json_integer_value(value) : 0;
    fprintf(out, "  dropped: %" JSON_INTEGER_FORMAT, total);
    int shown = 0;
    json_object_foreach(dropped, key, value) {
        json_int_t n = json_is_integer(value) ? json_integer_value(value) : 0;
        if (n)
            fprintf(out, "%s%s %" JSON_INTEGER_FORMAT, shown++ ? ", " : " (", key, n);
    }
    fputs(shown ? ")\n" : "\n", out);
}

int
braid_render_stats(FILE *out, const char *json, size_t len)
{
    fputs("braidd stats:\n", out);
    json_t *root = json_loadb(json, len, 0, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "sources") == 0 && json_is_object(value))
            s_stats_sources(out, value);
        else if (strcmp(key, "dropped") == 0 && json_is_object(value))
            s_stats_dropped(out, value);
        else if (!json_is_object(value) && !json_is_array(value)) {
            char *text = s_scalar_text(value);
            fprintf(out, "  %s: %s\n", key, text ? text : "?");
            free(text);
        }
    }
    json_decref(root);
    return 0;
}
