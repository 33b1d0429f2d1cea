/*  joblog.h - braid_joblog_t: the CLI's job log, in GNU parallel's spirit
    (--joblog), and reading it back (--resume, --resume-failed).

    A text file of tab-separated lines: a header, then one line per
    (query, source) as its end arrives, each written whole and flushed:

        Seq Worker Starttime QueueTime JobRuntime Attempts Parts Bytes
        Status Exitval Source Query

      Seq         the query's number: its input line from 0, as "query" in
                  --json (an argument's index for queries given as such)
      Worker      the worker that ran its last attempt; "-" if none did
      Starttime   when that attempt was dispatched: seconds since the Unix
                  epoch, with msec ("0.000": it never ran)
      QueueTime   seconds from the job's acceptance to that dispatch
      JobRuntime  seconds that attempt ran
      Attempts    attempts made
      Parts       partials the task produced
      Bytes       the bytes of its partials, as received
      Status      ok, failed or timeout
      Exitval     a command's exit status (128+N when signal N ended it),
                  an HTTP status, or 0
      Source      the source's name
      Query       the query's text; backslash, and control bytes written
                  \\, \t, \n, \r or \xNN, so that a line stays one line

    A task that ended cancelled is not logged: it did not run to its end,
    so a resumed run runs it again (the CLI also logs a task only once its
    output is written, and nothing once its output failed). Worker, Starttime, QueueTime,
    JobRuntime and Exitval are the broker's (END's W, B, Q, U, X); a broker
    that does not fill them gives "-" and zeros.
*/

#ifndef BRAID_JOBLOG_H_INCLUDED
#define BRAID_JOBLOG_H_INCLUDED

#include "braid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _braid_joblog_t braid_joblog_t;

/*  The header line, without its newline.                                   */
#define BRAID_JOBLOG_HEADER                                                                    \
    "Seq\tWorker\tStarttime\tQueueTime\tJobRuntime\tAttempts\tParts\tBytes\tStatus\tExitval"     \
    "\tSource\tQuery"

/*  Open the job log at path for writing: truncated, or with append kept
    (a last line cut short by a crash is dropped); the header is written
    when the file is empty. Owned, or NULL with errno set.                  */
braid_joblog_t *
braid_joblog_open(const char *path, bool append);

/*  Close the log; NULL-safe, sets *self_p to NULL. 0, or -1 (errno) when
    the last write or the close failed.                                     */
int
braid_joblog_destroy(braid_joblog_t **self_p);

/*  Take one event of a job's stream: a PARTIAL's bytes are counted for its
    task, a RESTART starts the count again, an END writes the task's line
    (not for cancelled) with number as its Seq. 0, or -1 with errno set
    when the line could not be written.                                     */
int
braid_joblog_event(braid_joblog_t *self, const braid_event_t *ev, uint32_t number);

/*  Another job follows: its query and source indexes are its own.          */
void
braid_joblog_next_job(braid_joblog_t *self);

/*  One line read back.                                                     */
typedef struct {
    size_t line;                /* its line number in the file, from 1      */
    uint32_t seq;
    const char *source;         /* borrowed for the callback                */
    braid_end_status_t status;
    const char *query;          /* unescaped, borrowed for the callback     */
    size_t query_size;
} braid_joblog_entry_t;

/*  Called for each line in order; returns 0 to go on, -1 to stop (the
    callback has written the reason into error).                            */
typedef int(braid_joblog_fn)(const braid_joblog_entry_t *entry, void *arg, char *error,
                             size_t error_size);

/*  Read the job log at path line by line. A missing or empty file has no
    lines. A last line without its newline was cut short by a crash and is
    skipped. 0, or -1 with the reason in error ("PATH:LINE: why", or the
    callback's).                                                            */
int
braid_joblog_read(const char *path, braid_joblog_fn *fn, void *arg, char *error,
                  size_t error_size);

#endif
