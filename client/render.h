/*  render.h - braid_render_t: what the CLI writes of a job's stream, and
    its summary of the broker's stats.

    Text mode writes each partial's bytes as they are and reports a task
    that did not end ok (or restarted) as one line on the error stream,
    the control bytes of its query and of its error text (newlines too)
    escaped (\xNN), so neither can drive the terminal or forge a line of
    its own; a broker's ERROR text is escaped the same way. With tags, each line of output starts with the query's text
    and a tab (and the source's name and a tab when the run asks several
    sources); a task's output then starts on a line of its own (a newline
    is added when the one before did not end with one). JSON mode writes
    one object per event and line:

        {"type":"partial","query":0,"text":"cats","source":"web","seq":0,
         "data":"..."}
        {"type":"partial","query":0,"text":"cats","source":"web","seq":1,
         "data_b64":"/wAb"}
        {"type":"end","query":0,"text":"cats","source":"web","status":"ok",
         "parts":1,"attempts":1,"error":""}
        {"type":"restart","query":0,"text":"cats","source":"web","attempt":2}
        {"type":"job","status":"ok","sources":{"web":{"ok":1,"failed":0,
         "timeout":0,"cancelled":0}}}

    "query" is the query's number as the caller numbers them (the CLI: its
    input line, from 0), "text" the query itself.

    Lossless for any bytes: a partial whose bytes are valid UTF-8 has
    "data", a JSON string that every JSON reader decodes to exactly those
    bytes (NUL and controls as \u0000, \u001b, ...); one whose bytes are
    not has "data_b64" instead, the bytes in base64 (RFC 4648, padded).
    The query's "text" follows the same rule ("text_b64"). Other strings
    (source names, error texts) are text: a byte in them that is not valid
    UTF-8 is written \ufffd.

    That is the hot path, so strings are written by a streaming writer (a
    partial is mostly one fwrite): quotes, backslash and control characters
    escaped. A progress
    line on the error stream, when asked for, is cleared before any other
    line goes there (and before output, when the output is the same
    screen). A failed write to the output (a closed pipe) stops the output
    for good; the caller sees it in the tally and cancels.

    The renderer reads no clock: the caller passes the time (msec, any
    monotonic origin) where the progress line needs it.
*/

#ifndef BRAID_RENDER_H_INCLUDED
#define BRAID_RENDER_H_INCLUDED

#include "braid.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct _braid_render_t braid_render_t;

typedef enum {
    BRAID_RENDER_TEXT = 0,      /* the partials' bytes; failures on err     */
    BRAID_RENDER_JSON           /* one JSON object per event and line       */
} braid_render_mode_t;

/*  What the stream came to, for the exit code.                             */
typedef struct {
    uint64_t ended;             /* tasks ended                              */
    uint64_t not_ok;            /* ... of which not ok                      */
    bool job_ended;             /* JOB_END came                             */
    braid_end_status_t job_status;  /* its status                           */
    braid_client_err_t error_code;  /* an ERROR event's code, 0 if none     */
    bool write_failed;          /* the output failed: nothing more written  */
    int write_errno;            /* ... why (EPIPE: the reader is gone)      */
} braid_render_tally_t;

/*  A renderer writing the stream to out and failures to err (both
    borrowed). NULL on allocation failure.                                  */
braid_render_t *
braid_render_new(FILE *out, FILE *err, braid_render_mode_t mode);

/*  Destroy a renderer; NULL-safe, sets *self_p to NULL.                    */
void
braid_render_destroy(braid_render_t **self_p);

/*  Show a progress line on err (progress.h) for a run of tasks tasks that
    starts at now_msec. When out is the same screen as err (a terminal),
    same_screen: the line is cleared before output is written, and out is
    flushed before the line is drawn.                                       */
void
braid_render_set_progress(braid_render_t *self, uint64_t tasks, int64_t now_msec,
                          bool same_screen);

/*  Tag each line of text output with its query (and its source when
    with_source).                                                           */
void
braid_render_set_tag(braid_render_t *self, bool with_source);

/*  The numbers to show for the job's queries: numbers[i] for the i-th
    query of the request (borrowed, as long as the job's events come), or
    NULL for i itself.                                                      */
void
braid_render_set_numbers(braid_render_t *self, const uint32_t *numbers);

/*  The endpoint that accepted the job (borrowed), named when the broker
    fails the job with an ERROR.                                            */
void
braid_render_set_endpoint(braid_render_t *self, const char *endpoint);

/*  Another job of the same run follows: the tally's job members (job_ended,
    job_status, error_code) start again; the counts and the output's state
    go on.                                                                  */
void
braid_render_next_job(braid_render_t *self);

/*  The job is being cancelled on our request: its cancelled tasks are no
    failure to report.                                                      */
void
braid_render_set_cancelling(braid_render_t *self);

/*  Write one event. A JOB_END whose summary is NULL has rows of zeros (a
    job with no query never reaches a broker).                              */
void
braid_render_event(braid_render_t *self, const braid_event_t *ev);

/*  Flush out (before a wait, so the reader sees what came); a failure
    stops the output for good and is reported on err unless it is EPIPE.   */
void
braid_render_flush(braid_render_t *self);

/*  Notice a reader that went away before anything more is written to it
    (out a pipe whose reading end is closed, or a terminal hung up): the
    output stops as for a failed write, with write_errno EPIPE.             */
void
braid_render_check_out(braid_render_t *self);

/*  Redraw the progress line (now_msec: the time), at most every 200 msec
    unless force.                                                           */
void
braid_render_progress(braid_render_t *self, int64_t now_msec, bool force);

/*  Clear the progress line, before another line goes to err.              */
void
braid_render_progress_clear(braid_render_t *self);

/*  What the stream came to so far (borrowed).                             */
const braid_render_tally_t *
braid_render_tally(braid_render_t *self);

/*  Write size bytes as a JSON string, quotes included; a byte that is not
    part of valid UTF-8 as \ufffd.                                         */
void
braid_render_json_string(FILE *out, const void *data, size_t size);

/*  Write size bytes for a terminal: control bytes (but newline and tab
    when keep_newlines) and DEL as \xNN.                                    */
void
braid_render_text(FILE *out, const void *data, size_t size, bool keep_newlines);

/*  Summarise the broker's stats JSON (len bytes) for a terminal:
    "braidd stats:", a line per scalar member, a line per source, the
    dropped total with its non-zero reasons. 0, or -1 when the text is not
    a JSON object (after the first line).                                   */
int
braid_render_stats(FILE *out, const char *json, size_t len);

#endif
