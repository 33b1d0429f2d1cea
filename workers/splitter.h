/*  splitter.h - a stream of output bytes cut into partials: lines, or
    chunks as they were read.

    The splitter owns one read buffer and reads into it only when the
    bytes read before are all taken, so output is never split ahead of
    what a task asked for: a task holds at most one read
    (BRAID_SPLITTER_READ_BUF) of unsplit bytes, and the writer of a pipe
    nobody reads blocks on it. Pure but for the one read(2).

    Bytes that are handed over rather than read (a curl write callback)
    come in through braid_splitter_feed(), which takes them only while
    fewer than BRAID_SPLITTER_READ_BUF bytes wait unsplit: the giver
    pauses when it is refused, so the bound holds there too.
*/

#ifndef BRAID_SPLITTER_H_INCLUDED
#define BRAID_SPLITTER_H_INCLUDED

#include <czmq.h>

#include "braid_parts.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct _braid_splitter_t braid_splitter_t;

/*  Longest line kept whole; a longer one is sent in pieces of this size.  */
#define BRAID_SPLITTER_MAX_LINE (1u << 20)
/*  Bytes one read() takes, at most.                                        */
#define BRAID_SPLITTER_READ_BUF 65536

/*  A splitter into lines, or (chunks) into what each read() returned.
    NULL if out of memory.                                                  */
braid_splitter_t *
braid_splitter_new(bool chunks);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_splitter_destroy(braid_splitter_t **self_p);

/*  What a read came to.                                                    */
typedef enum {
    BRAID_SPLITTER_BYTES,   /* bytes wait to be taken (read now or before)  */
    BRAID_SPLITTER_EOF,     /* end of file: a read error counts as one, and
                               so does fd < 0 (the caller closes fd)        */
    BRAID_SPLITTER_AGAIN    /* nothing was ready, or no memory for the
                               buffer: try later                            */
} braid_splitter_read_t;

/*  Read fd (nonblocking) once, but only if the bytes read before are all
    taken.                                                                  */
braid_splitter_read_t
braid_splitter_read(braid_splitter_t *self, int fd);

/*  Take len bytes that arrived (not read from a descriptor): 0 when they
    were copied in, -1 when fewer than BRAID_SPLITTER_READ_BUF bytes must
    wait unsplit first (or no memory): the giver keeps them and pauses.
    What waits is then at most BRAID_SPLITTER_READ_BUF + len bytes.        */
int
braid_splitter_feed(braid_splitter_t *self, const void *data, size_t len);

/*  True while feed() would refuse: BRAID_SPLITTER_READ_BUF bytes or more
    wait unsplit.                                                           */
bool
braid_splitter_full(const braid_splitter_t *self);

/*  No more bytes will come (the pipe was closed): an unfinished last line
    is taken as the last partial.                                          */
void
braid_splitter_eof(braid_splitter_t *self);

/*  Split at most max partials off what was read and append them to out:
    complete lines (or chunks); a line longer than BRAID_SPLITTER_MAX_LINE
    goes in pieces; the unfinished last line is kept for later, and taken
    after end of file. Returns how many were appended (fewer when out of
    memory: the rest stays for the next call).                              */
size_t
braid_splitter_take(braid_splitter_t *self, braid_parts_t *out, size_t max);

/*  True if braid_splitter_take() has something to give.                    */
bool
braid_splitter_pending(braid_splitter_t *self);

#endif
