/*  exec_source.h - the exec kind of source: a command per task.

    Settings (-s NAME=exec:TEMPLATE, or keys of a source/NAME section):
        command = TEMPLATE                  (required; see template.h)
        output = lines | chunks             (default lines)
        transient_exit = 75                 (comma list of exit statuses
                                             1..255 that end the task failed
                                             but transient, or "none")
        env = PATH LANG                     (the names of the worker's
                                             environment variables the
                                             child gets; config only)
        allow_options = no                  (yes: a query may start with
                                             '-' where it starts an argv
                                             element; config only)

    The child's environment is the allowlist above and the reaper's
    marker, never the worker's whole environment. A query starting with
    '-' is refused (the task fails, not transient) when it would start an
    argv element with no "--" word before it (braid_template_takes_options)
    unless allow_options = yes: it could be an option such as
    --files0-from=/proc/self/environ. The stderr tail in the error text is
    sanitized to one line (braid_text.h) and bounded
    (BRAID_CHILD_STDERR_TAIL). Every descendant of a run dies with it: its
    group is killed, and what left the group is found by the reaper
    (reaper.h), which also sweeps every BRAID_REAPER_SWEEP_MSEC.

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
    stderr into, and the reaper's sweep timer.
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

/*  The child's environment when the source does not say.                  */
#define BRAID_EXEC_DEFAULT_ENV "PATH LANG"

extern const braid_source_kind_t braid_exec_kind;

#endif
