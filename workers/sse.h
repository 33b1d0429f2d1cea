/*  sse.h - Server-Sent Events: lines in, one partial per event's data out.

    The http kind's output = sse. The lines come from a splitter (lines
    mode, so they end in "\n" but for the pieces of an overlong line and
    a last line without one); per the event-stream format
    (html.spec.whatwg.org, "Server-sent events"):
      - an empty line dispatches the event: its data, the values of its
        "data" fields joined by "\n", followed by one "\n" (so a stream of
        JSON events reads as NDJSON); an event without data is not sent;
      - "data: VALUE" appends VALUE (one space after the colon dropped);
        a line starting with ':' is a comment; other fields (event, id,
        retry) are ignored; "\r\n" line ends are accepted;
      - an event whose data equals the terminator (if one is set, e.g.
        "[DONE]") ends the stream: it is not sent;
      - an event the stream ends in the middle of is dropped.
    Data longer than BRAID_SSE_MAX_DATA goes out in pieces of that size
    (as an overlong line does), so memory stays bounded whatever comes.
    Pure: no I/O.
*/

#ifndef BRAID_SSE_H_INCLUDED
#define BRAID_SSE_H_INCLUDED

#include <czmq.h>

#include "braid_parts.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct _braid_sse_t braid_sse_t;

/*  Longest event data kept whole.                                          */
#define BRAID_SSE_MAX_DATA (1u << 20)

/*  What a line came to.                                                    */
typedef enum {
    BRAID_SSE_MORE = 0,     /* nothing to send yet                          */
    BRAID_SSE_EVENT,        /* an event's data (or a piece) went to out     */
    BRAID_SSE_DONE          /* the terminator: the stream is over           */
} braid_sse_step_t;

/*  A parser; done is the terminator's data (NULL or "": none). NULL if out
    of memory.                                                              */
braid_sse_t *
braid_sse_new(const char *done);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_sse_destroy(braid_sse_t **self_p);

/*  One line of the stream (len bytes, its "\n" included if it has one; a
    piece without one continues on the next call). An event's data is
    appended to out as one frame. After BRAID_SSE_DONE nothing more is
    made. BRAID_SSE_EVENT with nothing appended is never returned; out of
    memory drops the line's data.                                          */
braid_sse_step_t
braid_sse_line(braid_sse_t *self, const char *line, size_t len, braid_parts_t *out);

#endif
