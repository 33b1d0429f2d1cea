/*  child.h - one command the worker runs (for an exec source's task).

    The child runs without a shell (posix_spawnp), in its own process
    group, with an allowlisted environment (the names given, plus the
    reaper's marker: reaper.h), stdin /dev/null, stdout and stderr on pipes whose read ends are
    nonblocking, and a pidfd tells the event loop when it exits. The
    caller polls the three descriptors and calls the methods below; none
    of them blocks except braid_child_finish() (and destroy) on a child that
    has not exited yet, right after SIGKILL.

    The group leader is reaped only in braid_child_finish(), after the
    whole group got SIGKILL: while the leader is a zombie its pid cannot
    be reused, so every killpg() here reaches our group and no other.
*/

#ifndef BRAID_CHILD_H_INCLUDED
#define BRAID_CHILD_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "splitter.h"

typedef struct _braid_child_t braid_child_t;

/*  Bytes of stderr kept for the error text.                                */
#define BRAID_CHILD_STDERR_TAIL 1000

/*  Start argv (argv[0] looked up in the worker's PATH) with the worker's
    variables named in env_names (NULL-terminated; those it has) and the
    reaper's marker as its whole environment; its stdout is cut into
    lines, or (chunks) into what each read() returns. NULL with the reason
    in err (the program cannot be run, out of fds).                         */
braid_child_t *
braid_child_new(char *const argv[], const char *const env_names[], bool chunks, char *err,
                size_t errsize);

/*  Kill the group if it still runs, close everything, reap. Never leaves
    a process behind. NULL-safe; sets *self_p to NULL.                      */
void
braid_child_destroy(braid_child_t **self_p);

/*  Descriptors to poll for reading; -1 once closed.                        */
int
braid_child_stdout_fd(braid_child_t *self);
int
braid_child_stderr_fd(braid_child_t *self);
int
braid_child_pid_fd(braid_child_t *self);

/*  Read stdout once into the command's splitter, but only if everything
    read before was taken (braid_splitter_read); at end of file the pipe
    is closed (an unfinished last line may still wait to be taken).        */
braid_splitter_read_t
braid_child_read_stdout(braid_child_t *self);

/*  Split at most max partials off what was read and append them to out
    (braid_splitter_take). What is not taken stays, so output is never
    split ahead of the task's window. Returns how many were appended.      */
size_t
braid_child_take(braid_child_t *self, braid_parts_t *out, size_t max);

/*  True if output was read but not yet taken (including an unfinished last
    line after end of file): braid_child_take() has something to give.      */
bool
braid_child_pending(braid_child_t *self);

/*  Read what stderr has, keeping the last BRAID_CHILD_STDERR_TAIL bytes.    */
void
braid_child_read_stderr(braid_child_t *self, char *buf, size_t bufsize);

/*  The pidfd is readable: note the leader's exit status (without reaping
    it). Returns true once the leader has exited.                           */
bool
braid_child_check_exit(braid_child_t *self);

/*  True if there is no pidfd to poll (pidfd_open is missing): the caller
    then calls braid_child_check_exit() every BRAID_CHILD_POLL_MSEC.          */
#define BRAID_CHILD_POLL_MSEC 20
bool
braid_child_needs_polling(braid_child_t *self);

/*  True once the leader has exited / both pipes are closed.               */
bool
braid_child_exited(braid_child_t *self);
bool
braid_child_pipes_closed(braid_child_t *self);

/*  Signal the child's process group (no-op after finish).                 */
void
braid_child_kill(braid_child_t *self, int sig);

/*  Close both pipes (a child still writing gets SIGPIPE).                  */
void
braid_child_close_pipes(braid_child_t *self);

/*  SIGKILL the group (stragglers that outlived the leader), close the
    pipes and reap the leader, waiting for it if it has not exited yet;
    then what of it left the group dies too (braid_reaper_end).           */
void
braid_child_finish(braid_child_t *self);

/*  After finish: true if the command exited with status 0; otherwise
    write "exit status N" or "killed by signal N", then ": " and the
    stderr tail when there was any (its last newlines dropped, sanitized
    to one line: braid_text.h), into text.                                  */
bool
braid_child_result(braid_child_t *self, char *text, size_t textsize);

/*  After finish: the exit status if the command exited (0..255), -1 if a
    signal ended it.                                                        */
int
braid_child_exit_status(braid_child_t *self);

/*  Once the leader exited: its exit status, or 128 + N when signal N ended
    it (as a shell's $? says); 0 before.                                    */
uint32_t
braid_child_exit_value(braid_child_t *self);

#endif
