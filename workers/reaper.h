/*  reaper.h - every descendant of an exec task dies with it.

    killpg() reaches a task's process group only: a process that left it
    (setsid, a daemon's double fork) outlives the task. So the worker makes
    itself the child subreaper (prctl PR_SET_CHILD_SUBREAPER): whatever is
    orphaned below it is reparented to it, not to init. Each task's child
    gets a marker in its environment, BRAID_TASK=<worker pid>.<task>, that
    its descendants inherit. When a task ends (its group killed, its leader
    reaped) the reaper kills the processes reparented to the worker that
    carry the task's marker or are in its group, and reaps them with
    waitpid(pid) - never waitpid(-1), which would steal a live task
    leader's status - and looks again while the group still has members
    that may orphan more, a bounded number of rounds. A periodic sweep
    (braid_reaper_sweep) reaps zombies that are no task's leader, kills
    marked orphans whose task is over, and unmarked ones (a descendant that
    cleared its environment) when no task runs. A cgroup per task would
    need a writable cgroup v2 tree, which a worker cannot count on.

    The worker also makes itself not dumpable (PR_SET_DUMPABLE 0): its
    /proc/PID files (environ above all, where its secrets are) then belong
    to root, and a child cannot read them.

    State is process-wide, as the subreaper attribute and a process's
    children are: braid_reaper_open() once per user (refcounted), the
    rest is functions on that state. Single-threaded, like the worker.
*/

#ifndef BRAID_REAPER_H_INCLUDED
#define BRAID_REAPER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*  The environment variable that marks a task's processes.                 */
#define BRAID_REAPER_MARKER "BRAID_TASK"
/*  How often the worker sweeps for orphans.                                */
#define BRAID_REAPER_SWEEP_MSEC 1000

/*  Make this process the subreaper (and not dumpable). 0, or -1 with the
    reason in err.                                                          */
int
braid_reaper_open(char *err, size_t errsize);

/*  The last user is done (every task ended): kill and reap every orphan
    left. Safe without a matching open.                                     */
void
braid_reaper_close(void);

/*  A new task: its number, its marker "BRAID_TASK=<pid>.<task>" in marker
    (size >= 64). The task counts as running until braid_reaper_end(). 0,
    or -1 if out of memory.                                                 */
int
braid_reaper_begin(uint64_t *task_p, char *marker, size_t size);

/*  The task's leader is pid: never reaped here while the task runs.       */
void
braid_reaper_leader(uint64_t task, pid_t pid);

/*  The task is over, its group pgid (or -1: nothing was spawned) already
    killed and its leader reaped: kill and reap what of it was reparented
    to this process.                                                        */
void
braid_reaper_end(uint64_t task, pid_t pgid);

/*  Reap zombies that are no task's leader, kill and reap orphans whose
    task is over (see above).                                               */
void
braid_reaper_sweep(void);

#endif
