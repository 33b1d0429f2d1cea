/*  progress.h - the text of the CLI's progress line, and durations for
    people. Pure: no clock, no I/O (render.c draws the line, the tables of
    braid workers and braid jobs show ages).

    The line says how many tasks of the run have ended, how many of those
    did not end ok, the rate since the start and the time left at that
    rate:

        braid: 37/200 tasks done, 2 not ok, 12.3/s, ETA 14s

    The rate is done / elapsed seconds (one decimal under 100 a second);
    the ETA is what is left divided by the rate: "-" while nothing is done,
    "0.0s" once all is.
*/

#ifndef BRAID_PROGRESS_H_INCLUDED
#define BRAID_PROGRESS_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

/*  Room for any progress line or duration, NUL included.                   */
#define BRAID_PROGRESS_MAX 160
#define BRAID_DURATION_MAX 24

/*  Write the progress line (above) into buf, NUL-terminated and cut to
    size; elapsed_msec counts from the start of the run. Returns buf.       */
const char *
braid_progress_line(char *buf, size_t size, uint64_t done, uint64_t total, uint64_t not_ok,
                    uint64_t elapsed_msec);

/*  Write msec for people into buf: "0.4s" and "9.9s" under ten seconds,
    then "42s", "3m05s", "2h07m", "3d04h". Returns buf.                     */
const char *
braid_progress_duration(char *buf, size_t size, uint64_t msec);

#endif
