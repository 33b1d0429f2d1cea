/*  exec_source.h - the exec kind of source: a command per task.

    Settings (-s NAME=exec:TEMPLATE, or keys of a source/NAME section):
        command = TEMPLATE                  (required; see template.h)
        output = lines | chunks             (default lines)
        transient_exit = 75                 (comma list of exit statuses
                                             1..255 that end the task failed
                                             but transient, or "none")

    A run spawns the command with the query as one argv element (child.h),
    streams its stdout as partials (splitter.h), and ends with its exit
    status and the tail of its stderr. Stopped early, its process group
    gets SIGTERM, and SIGKILL after BRAID_EXEC_KILL_GRACE_MSEC; closing its
    pipes first makes a child that still writes die of SIGPIPE even if it
    ignores SIGTERM. After the command itself exits its pipes may stay
    open (a grandchild holds them): the run waits the same grace for them
    to reach end of file, for as long as its output is being taken, then
    kills what is left of the group.

    The context all exec runs of a worker share is one buffer to read
    stderr into.
*/

#ifndef BRAID_EXEC_SOURCE_H_INCLUDED
#define BRAID_EXEC_SOURCE_H_INCLUDED

#include "source_kind.h"

/*  Between SIGTERM and SIGKILL; and how long, after the command exited,
    its pipes may take to reach end of file.                                */
#define BRAID_EXEC_KILL_GRACE_MSEC 1000
/*  Fresh output waits this long for the command's end (hold_msec).        */
#define BRAID_EXEC_HOLD_MSEC 2
/*  The exit status that is transient unless transient_exit says otherwise:
    EX_TEMPFAIL from sysexits.h.                                            */
#define BRAID_EXEC_DEFAULT_TRANSIENT_EXIT 75

extern const braid_source_kind_t braid_exec_kind;

#endif
