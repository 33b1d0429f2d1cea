/*  sse.c - Server-Sent Events into partials. See the header.              */

#include "sse.h"

#include <stdlib.h>
#include <string.h>

/*  What the rest of a line that came in pieces is.                         */
typedef enum { S_LINE_NEW = 0, S_LINE_DATA, S_LINE_SKIP } s_line_t;

struct _braid_sse_t {
    char *done;             /* the terminator's data + "\n"; NULL: none     */
    size_t done_len;
    char *data;             /* the event's data so far, each value + "\n"   */
    size_t data_len;
    size_t data_cap;
    bool split;             /* a piece of this event's data already left    */
    bool over;              /* the terminator came                          */
    bool started;           /* the first line was seen (a BOM may lead it)  */
    s_line_t line;          /* the current line continues (came in pieces)  */
};

braid_sse_t *
braid_sse_new(const char *done)
{
    braid_sse_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (done && *done) {
        self->done_len = strlen(done) + 1;
        if (!(self->done = malloc(self->done_len))) {
            free(self);
            return NULL;
        }
        memcpy(self->done, done, self->done_len - 1);
        self->done[self->done_len - 1] = '\n';
    }
    return self;
}

void
braid_sse_destroy(braid_sse_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_sse_t *self = *self_p;
    free(self->done);
    free(self->data);
    free(self);
    *self_p = NULL;
}

/*  Append to the event's data. -1 if out of memory.                        */
static int
s_append(braid_sse_t *self, const char *bytes, size_t len)
{
    if (self->data_len + len > self->data_cap) {
        size_t cap = self->data_cap ? self->data_cap : 256;
        while (cap < self->data_len + len)
            cap *= 2;
        char *data = realloc(self->data, cap);
        if (!data)
            return -1;
        self->data = data;
        self->data_cap = cap;
    }
    memcpy(self->data + self->data_len, bytes, len);
    self->data_len += len;
    return 0;
}

/*  The event's data so far leaves as a frame; the buffer is emptied.       */
static braid_sse_step_t
s_emit(braid_sse_t *self, braid_parts_t *out)
{
    int rc = braid_parts_add(out, self->data, self->data_len);
    self->data_len = 0;
    if (self->data_cap > 65536) {
        free(self->data);   /* do not keep a megabyte for one long event   */
        self->data = NULL;
        self->data_cap = 0;
    }
    return rc == 0 ? BRAID_SSE_EVENT : BRAID_SSE_MORE;
}

/*  An empty line: the event is complete.                                   */
static braid_sse_step_t
s_dispatch(braid_sse_t *self, braid_parts_t *out)
{
    bool split = self->split;
    self->split = false;
    if (self->data_len == 0)
        return BRAID_SSE_MORE;
    if (!split && self->done && self->data_len == self->done_len &&
        memcmp(self->data, self->done, self->done_len) == 0) {
        self->over = true;
        self->data_len = 0;
        return BRAID_SSE_DONE;
    }
    return s_emit(self, out);
}

braid_sse_step_t
braid_sse_line(braid_sse_t *self, const char *line, size_t len, braid_parts_t *out)
{
    if (self->over)
        return BRAID_SSE_DONE;
    if (!self->started) {
        self->started = true;
        if (len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            line += 3;      /* a byte order mark may lead the stream        */
            len -= 3;
        }
    }
    bool complete = len > 0 && line[len - 1] == '\n';
    if (complete) {
        len--;
        if (len > 0 && line[len - 1] == '\r')
            len--;
    }
    if (self->line == S_LINE_NEW) {
        if (len == 0)
            return complete ? s_dispatch(self, out) : BRAID_SSE_MORE;
        const char *colon = memchr(line, ':', len);
        size_t name_len = colon ? (size_t) (colon - line) : len;
        self->line = name_len == 4 && memcmp(line, "data", 4) == 0 ? S_LINE_DATA : S_LINE_SKIP;
        if (colon) {
            size_t skip = name_len + 1;
            if (skip < len && line[skip] == ' ')
                skip++;
            line += skip;
            len -= skip;
        } else
            len = 0;
    }
    if (self->line == S_LINE_DATA && s_append(self, line, len) == 0 && complete &&
        s_append(self, "\n", 1) != 0)
        self->data_len -= len;   /* out of memory: the line is dropped     */
    if (complete)
        self->line = S_LINE_NEW;
    if (self->data_len >= BRAID_SSE_MAX_DATA) {
        self->split = true;
        return s_emit(self, out);
    }
    return BRAID_SSE_MORE;
}
