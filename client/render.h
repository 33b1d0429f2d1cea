/*  render.h - braid_render_t: what the CLI writes of a job's stream, and
    its summary of the broker's stats.

    Text mode writes each partial's bytes as they are and reports a task
    that did not end ok (or restarted) as one line on the error stream,
    its query's control bytes escaped (\xNN) so a query cannot drive the
    terminal. JSON mode writes one object per event and line:

        {"type":"partial","query":0,"source":"web","seq":0,"data":"..."}
        {"type":"end","query":0,"source":"web","status":"ok","parts":1,
         "attempts":1,"error":""}
        {"type":"restart","query":0,"source":"web","attempt":2}
        {"type":"job","status":"ok","sources":{"web":{"ok":1,"failed":0,
         "timeout":0,"cancelled":0}}}

    That is the hot path, so strings are written by a streaming writer (a
    partial is mostly one fwrite): quotes, backslash and control characters
    escaped, bytes that are not valid UTF-8 written as \u00XX. A progress
    line on the error stream, when asked for, is cleared before any other
    line goes there. A failed write to the output (a closed pipe) stops the
    output for good; the caller sees it in the tally and cancels.
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
} braid_render_tally_t;

/*  A renderer writing the stream to out and failures to err (both
    borrowed). NULL on allocation failure.                                  */
braid_render_t *
braid_render_new(FILE *out, FILE *err, braid_render_mode_t mode);

/*  Destroy a renderer; NULL-safe, sets *self_p to NULL.                    */
void
braid_render_destroy(braid_render_t **self_p);

/*  Show a progress line on err ("n/tasks tasks ended, m not ok").          */
void
braid_render_set_progress(braid_render_t *self, uint64_t tasks);

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

/*  Redraw the progress line, at most every 200 msec unless force.         */
void
braid_render_progress(braid_render_t *self, bool force);

/*  Clear the progress line, before another line goes to err.              */
void
braid_render_progress_clear(braid_render_t *self);

/*  What the stream came to so far (borrowed).                             */
const braid_render_tally_t *
braid_render_tally(braid_render_t *self);

/*  Write size bytes as a JSON string, quotes included.                     */
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
