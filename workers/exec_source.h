/*  exec_source.h - one running command of an exec source.

    The child runs without a shell (posix_spawnp), in its own process
    group, stdin /dev/null, stdout and stderr on pipes whose read ends are
    nonblocking, and a pidfd tells the event loop when it exits. The
    caller polls the three descriptors and calls the methods below; none
    of them blocks except braid_exec_finish() (and destroy) on a child that
    has not exited yet, right after SIGKILL.

    The group leader is reaped only in braid_exec_finish(), after the
    whole group got SIGKILL: while the leader is a zombie its pid cannot
    be reused, so every killpg() here reaches our group and no other.
*/

#ifndef BRAID_EXEC_SOURCE_H_INCLUDED
#define BRAID_EXEC_SOURCE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#include "source.h"

typedef struct _braid_exec_t braid_exec_t;

/*  Longest line kept whole; a longer one is sent in pieces of this size.  */
#define BRAID_EXEC_MAX_LINE (1u << 20)
/*  Bytes of stderr kept for the error text.                                */
#define BRAID_EXEC_STDERR_TAIL 1000

/*  Start source's command for query. NULL with the reason in err (the
    query holds a NUL byte, the program cannot be run, out of fds).         */
braid_exec_t *
braid_exec_new(const braid_source_t *source, const char *query, size_t qlen, char *err,
               size_t errsize);

/*  Kill the group if it still runs, close everything, reap. Never leaves
    a process behind. NULL-safe; sets *self_p to NULL.                      */
void
braid_exec_destroy(braid_exec_t **self_p);

/*  Descriptors to poll for reading; -1 once closed.                        */
int
braid_exec_stdout_fd(braid_exec_t *self);
int
braid_exec_stderr_fd(braid_exec_t *self);
int
braid_exec_pid_fd(braid_exec_t *self);

/*  Bytes one read() of stdout takes, at most. Each running command owns
    one such buffer, so a task holds at most this much unsplit output.     */
#define BRAID_EXEC_READ_BUF 65536

/*  Read stdout once, into the command's own buffer, but only if that
    buffer is used up (everything read before was taken): returns 1 if
    bytes are waiting to be taken (read now or before), 0 at end of file
    (the pipe is closed; an unfinished last line may still wait), -1 if
    nothing was ready.                                                      */
int
braid_exec_read_stdout(braid_exec_t *self);

/*  Split at most max partials off what was read and append them to out:
    complete lines (or, with output = chunks, what one read() returned);
    a line longer than BRAID_EXEC_MAX_LINE goes in pieces; the unfinished
    last line is kept for later, and taken as the last partial after end
    of file. What is not taken stays in the buffer, so output is never
    split ahead of the task's window. Returns how many were appended.      */
size_t
braid_exec_take(braid_exec_t *self, zmsg_t *out, size_t max);

/*  True if output was read but not yet taken (including an unfinished last
    line after end of file): braid_exec_take() has something to give.      */
bool
braid_exec_pending(braid_exec_t *self);

/*  Read what stderr has, keeping the last BRAID_EXEC_STDERR_TAIL bytes.    */
void
braid_exec_read_stderr(braid_exec_t *self, char *buf, size_t bufsize);

/*  The pidfd is readable: note the leader's exit status (without reaping
    it). Returns true once the leader has exited.                           */
bool
braid_exec_check_exit(braid_exec_t *self);

/*  True if there is no pidfd to poll (pidfd_open is missing): the caller
    then calls braid_exec_check_exit() every BRAID_EXEC_POLL_MSEC.          */
#define BRAID_EXEC_POLL_MSEC 20
bool
braid_exec_needs_polling(braid_exec_t *self);

/*  True once the leader has exited / both pipes are closed.               */
bool
braid_exec_exited(braid_exec_t *self);
bool
braid_exec_pipes_closed(braid_exec_t *self);

/*  Signal the child's process group (no-op after finish).                 */
void
braid_exec_kill(braid_exec_t *self, int sig);

/*  Close both pipes (a child still writing gets SIGPIPE).                  */
void
braid_exec_close_pipes(braid_exec_t *self);

/*  SIGKILL the group (stragglers that outlived the leader), close the
    pipes and reap the leader, waiting for it if it has not exited yet.    */
void
braid_exec_finish(braid_exec_t *self);

/*  After finish: true if the command exited with status 0; otherwise
    write "exit status N" or "killed by signal N", then ": " and the
    stderr tail when there was any, into text.                              */
bool
braid_exec_result(braid_exec_t *self, char *text, size_t textsize);

/*  After finish: the exit status if the command exited (0..255), -1 if a
    signal ended it.                                                        */
int
braid_exec_exit_status(braid_exec_t *self);

#endif
