/*  reaper.c - every descendant of an exec task dies with it. See the
    header.                                                                 */

#include "reaper.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*  Rounds of looking for a task's orphans at its end, and the pause
    between two (its killed processes dying, their children reparenting):
    at most about 200 msec, for a group that will not empty. What is left
    the periodic sweep finds.                                               */
#define S_END_ROUNDS 200
#define S_ROUND_PAUSE_NSEC 1000000L

/*  A running task and its leader (0 until spawned).                        */
typedef struct {
    uint64_t task;
    pid_t leader;
} s_live_t;

static s_live_t *s_live;        /* the running tasks                        */
static size_t s_nlive;
static size_t s_cap;
static uint64_t s_next = 1;     /* the next task's number; 0 is none        */
static int s_users;             /* braid_reaper_open() without close        */

int
braid_reaper_open(char *err, size_t errsize)
{
    if (s_users == 0) {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
            snprintf(err, errsize, "cannot become the child subreaper: %s", strerror(errno));
            return -1;
        }
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
            snprintf(err, errsize, "cannot make the worker not dumpable: %s", strerror(errno));
            return -1;
        }
    }
    s_users++;
    return 0;
}

/*  The index of task in s_live, or s_nlive.                                */
static size_t
s_find(uint64_t task)
{
    size_t i = 0;
    while (i < s_nlive && s_live[i].task != task)
        i++;
    return i;
}

/*  True if pid is a running task's leader.                                 */
static bool
s_is_leader(pid_t pid)
{
    for (size_t i = 0; i < s_nlive; i++)
        if (s_live[i].leader == pid)
            return true;
    return false;
}

/*  The task number in pid's marker, 0 when it has none of this worker's
    (or its environment cannot be read: it is no longer ours to read).    */
static uint64_t
s_marker(pid_t pid)
{
    char path[64], prefix[64];
    snprintf(path, sizeof path, "/proc/%ld/environ", (long) pid);
    int plen = snprintf(prefix, sizeof prefix, BRAID_REAPER_MARKER "=%ld.", (long) getpid());
    FILE *file = fopen(path, "re");
    if (!file)
        return 0;
    uint64_t task = 0;
    char *entry = NULL;
    size_t cap = 0;
    /*  One entry a read; the environment is bounded by the kernel (ARG_MAX
        with the arguments).                                                */
    while (getdelim(&entry, &cap, 0, file) > 0) {
        if (strncmp(entry, prefix, (size_t) plen) == 0) {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(entry + plen, &end, 10);
            task = errno || end == entry + plen || *end ? 0 : (uint64_t) v;
        }
    }
    free(entry);
    fclose(file);
    return task;
}

/*  From /proc/PID/stat: state, parent and process group. 0, or -1 if pid
    is gone.                                                                */
static int
s_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long) pid);
    FILE *file = fopen(path, "re");
    if (!file)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, file);
    fclose(file);
    buf[n] = 0;
    /*  The command name may hold anything: the fields follow its last ')'. */
    char *close = strrchr(buf, ')');
    long parent, group;
    if (!close || sscanf(close + 1, " %c %ld %ld", state, &parent, &group) != 3)
        return -1;
    *ppid = (pid_t) parent;
    *pgrp = (pid_t) group;
    return 0;
}

/*  One pass over this process's children that are no task's leader: reap
    the zombies; SIGKILL the live ones marked for task ending or for a task
    that is over, those in group pgid, and with kill_unmarked the unmarked.
    Returns how many it reaped or killed.                                   */
/*  One child of ours (pid): reap it if it is dead; SIGKILL it if it is
    alive and marked for task ending or for a task that is over, in group
    pgid, or unmarked with kill_unmarked. 1 if it reaped or killed.         */
static size_t
s_visit(pid_t pid, pid_t self, uint64_t ending, pid_t pgid, bool kill_unmarked)
{
    char state;
    pid_t ppid, pgrp;
    /*  A running task's leader is left alone: asked first, as it is most
        of the children and costs no read of /proc.                         */
    if (pid <= 0 || s_is_leader(pid) || s_stat(pid, &state, &ppid, &pgrp) || ppid != self)
        return 0;
    if (state != 'Z') {
        uint64_t task = s_marker(pid);
        bool over = task && (task == ending || s_find(task) == s_nlive);
        if (!over && !(pgid > 0 && pgrp == pgid) && !(kill_unmarked && !task))
            return 0;       /* a running task's: it dies with that task    */
        kill(pid, SIGKILL);
    }
    /*  Reaped now if it is dead; else a later pass (or sweep) does.        */
    waitpid(pid, NULL, WNOHANG);
    return 1;
}

/*  One pass over this process's children that are no task's leader (see
    s_visit). The kernel lists a thread's children in
    /proc/PID/task/TID/children: reading the main thread's costs a few
    microseconds, where a walk over all of /proc costs a millisecond or two
    a task end (it made every exec task ~1.7 ms slower); the walk is the
    fallback where that file does not exist. Returns how many it reaped or
    killed.                                                                 */
static size_t
s_scan(uint64_t ending, pid_t pgid, bool kill_unmarked)
{
    pid_t self = getpid();
    size_t found = 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/task/%ld/children", (long) self, (long) self);
    FILE *f = fopen(path, "r");
    if (f) {
        long v;
        for (int n = 0; n < 1000000 && fscanf(f, "%ld", &v) == 1; n++)
            found += s_visit((pid_t) v, self, ending, pgid, kill_unmarked);
        fclose(f);
        return found;
    }
    DIR *dir = opendir("/proc");
    if (!dir)
        return 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        char *end;
        long v = strtol(de->d_name, &end, 10);
        if (!*end && v > 0)
            found += s_visit((pid_t) v, self, ending, pgid, kill_unmarked);
    }
    closedir(dir);
    return found;
}

/*  Scan until a pass finds nothing and group pgid is empty, bounded.       */
static void
s_clear(uint64_t ending, pid_t pgid)
{
    for (int round = 0; round < S_END_ROUNDS; round++) {
        size_t found = s_scan(ending, pgid, s_nlive == 0);
        bool group = pgid > 0 && kill(-pgid, 0) == 0;
        if (!found && !group)
            return;
        struct timespec pause = {0, S_ROUND_PAUSE_NSEC};
        nanosleep(&pause, NULL);
    }
}

void
braid_reaper_close(void)
{
    if (s_users > 0 && --s_users > 0)
        return;
    s_clear(0, -1);
    free(s_live);
    s_live = NULL;
    s_nlive = s_cap = 0;
}

int
braid_reaper_begin(uint64_t *task_p, char *marker, size_t size)
{
    if (s_nlive == s_cap) {
        size_t cap = s_cap ? s_cap * 2 : 16;
        s_live_t *live = realloc(s_live, cap * sizeof *live);
        if (!live)
            return -1;
        s_live = live;
        s_cap = cap;
    }
    uint64_t task = s_next++;
    s_live[s_nlive++] = (s_live_t){.task = task, .leader = 0};
    snprintf(marker, size, BRAID_REAPER_MARKER "=%ld.%llu", (long) getpid(),
             (unsigned long long) task);
    *task_p = task;
    return 0;
}

void
braid_reaper_leader(uint64_t task, pid_t pid)
{
    size_t i = s_find(task);
    if (i < s_nlive)
        s_live[i].leader = pid;
}

void
braid_reaper_end(uint64_t task, pid_t pgid)
{
    size_t i = s_find(task);
    if (i < s_nlive)
        s_live[i] = s_live[--s_nlive];
    if (pgid > 0)
        s_clear(task, pgid);
}

void
braid_reaper_sweep(void)
{
    s_scan(0, -1, s_nlive == 0);
}
