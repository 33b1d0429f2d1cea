/*  splitter.c - output bytes cut into partials. See the header.           */

#include "splitter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct _braid_splitter_t {
    bool chunks;
    bool eof;
    char *in;               /* in_cap bytes (BRAID_SPLITTER_READ_BUF or more
                               after a feed), allocated on first use       */
    size_t in_cap;
    size_t in_pos;          /* in[in_pos..in_len) read, not yet taken      */
    size_t in_len;
    char *carry;            /* an unfinished line                          */
    size_t carry_len;
    size_t carry_cap;
};

braid_splitter_t *
braid_splitter_new(bool chunks)
{
    braid_splitter_t *self = calloc(1, sizeof *self);
    if (self)
        self->chunks = chunks;
    return self;
}

void
braid_splitter_destroy(braid_splitter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_splitter_t *self = *self_p;
    free(self->in);
    free(self->carry);
    free(self);
    *self_p = NULL;
}

/*  Append bytes to the unfinished line.                                    */
static int
s_carry(braid_splitter_t *self, const char *data, size_t len)
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

/*  The unfinished line goes out as a partial. -1 (kept) out of memory.   */
static int
s_emit_carry(braid_splitter_t *self, braid_parts_t *out)
{
    if (self->carry_len) {
        if (braid_parts_add(out, self->carry, self->carry_len) != 0)
            return -1;
        self->carry_len = 0;
    }
    /*  Do not keep a megabyte around for one long line.                    */
    if (self->carry_cap > 65536) {
        free(self->carry);
        self->carry = NULL;
        self->carry_cap = 0;
    }
    return 0;
}

braid_splitter_read_t
braid_splitter_read(braid_splitter_t *self, int fd)
{
    if (self->in_pos < self->in_len)
        return BRAID_SPLITTER_BYTES;
    if (fd < 0 || self->eof) {
        self->eof = true;
        return BRAID_SPLITTER_EOF;
    }
    if (!self->in) {
        if (!(self->in = malloc(BRAID_SPLITTER_READ_BUF)))
            return BRAID_SPLITTER_AGAIN;    /* try later; the writer waits */
        self->in_cap = BRAID_SPLITTER_READ_BUF;
    }
    ssize_t n = read(fd, self->in, BRAID_SPLITTER_READ_BUF);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return BRAID_SPLITTER_AGAIN;
    if (n <= 0) {           /* end of file, or an error we treat as one    */
        self->eof = true;
        return BRAID_SPLITTER_EOF;
    }
    self->in_pos = 0;
    self->in_len = (size_t) n;
    return BRAID_SPLITTER_BYTES;
}

int
braid_splitter_feed(braid_splitter_t *self, const void *data, size_t len)
{
    if (braid_splitter_full(self))
        return -1;
    size_t unread = self->in_len - self->in_pos;
    if (unread + len > self->in_cap) {
        size_t cap = unread + len > BRAID_SPLITTER_READ_BUF ? unread + len
                                                             : BRAID_SPLITTER_READ_BUF;
        char *in = malloc(cap);
        if (!in)
            return -1;
        if (unread)
            memcpy(in, self->in + self->in_pos, unread);
        free(self->in);
        self->in = in;
        self->in_cap = cap;
    } else if (self->in_pos && unread)
        memmove(self->in, self->in + self->in_pos, unread);
    self->in_pos = 0;
    self->in_len = unread;
    if (len)
        memcpy(self->in + self->in_len, data, len);
    self->in_len += len;
    return 0;
}

bool
braid_splitter_full(const braid_splitter_t *self)
{
    return self->in_len - self->in_pos >= BRAID_SPLITTER_READ_BUF;
}

void
braid_splitter_eof(braid_splitter_t *self)
{
    self->eof = true;
}

size_t
braid_splitter_take(braid_splitter_t *self, braid_parts_t *out, size_t max)
{
    size_t n = 0;
    while (n < max) {
        if (self->carry_len >= BRAID_SPLITTER_MAX_LINE) {
            if (s_emit_carry(self, out) != 0)    /* a piece of an overlong line */
                break;
            n++;
            continue;
        }
        if (self->in_pos < self->in_len) {
            const char *start = self->in + self->in_pos;
            size_t avail = self->in_len - self->in_pos;
            if (self->chunks) {
                if (braid_parts_add(out, start, avail) != 0)
                    break;
                self->in_pos = self->in_len;
                n++;
                continue;
            }
            const char *nl = memchr(start, '\n', avail);
            size_t len = nl ? (size_t) (nl - start) + 1 : avail;
            if (nl && self->carry_len == 0) {
                if (braid_parts_add(out, start, len) != 0)  /* the common case */
                    break;
                n++;
            } else if (s_carry(self, start, len) == 0) {
                if (nl) {
                    if (s_emit_carry(self, out) != 0) {     /* the line completed */
                        self->carry_len -= len;             /* taken again later  */
                        break;
                    }
                    n++;
                }
            } else if (self->carry_len) {
                if (s_emit_carry(self, out) != 0)   /* no memory: split the line */
                    break;
                n++;
                continue;                   /* then try the bytes again    */
            } else {
                if (braid_parts_add(out, start, len) != 0)
                    break;
                n++;
            }
            self->in_pos += len;
            continue;
        }
        if (self->eof && self->carry_len) {
            if (s_emit_carry(self, out) != 0)   /* the last line had no newline */
                break;
            n++;
            continue;
        }
        break;
    }
    return n;
}

bool
braid_splitter_pending(braid_splitter_t *self)
{
    return self->in_pos < self->in_len || self->carry_len >= BRAID_SPLITTER_MAX_LINE ||
           (self->eof && self->carry_len > 0);
}
