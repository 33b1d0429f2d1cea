/*  harness.h - process-level test harness for the braid integration tests.

    What it gives a test:
    - a temp dir (mkdtemp) that is removed afterwards;
    - free loopback TCP ports;
    - real binaries spawned in their own process group, stdin from a file
      (or /dev/null), stdout and stderr drained by a harness thread into
      memory and into files in the temp dir;
    - waits with a deadline for a line containing a text, for some output,
      and for exit, all on a condition variable: nothing sleep-polls;
    - signals, process-group checks, and a killpg backstop on destroy.

    A spawned process is waited for with waitid(WNOWAIT): its zombie is not
    reaped before braid_proc_destroy(), so its pid and process group id
    cannot be reused while the test holds it, and the backstop killpg() can
    never hit an unrelated process.

    braid_harness_init() makes the test process a child subreaper, so
    grandchildren that outlive their parent (an exec source's child that a
    worker forgot) are re-parented to the test, and braid_harness_reap_orphans()
    finds, kills and counts them.

    Ownership follows the project rules: _new/_spawn return owned objects or
    NULL, _destroy(&p) is NULL-safe and sets p to NULL, char * returned is
    the caller's to free.
*/

#ifndef BRAID_HARNESS_H_INCLUDED
#define BRAID_HARNESS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Streams of a spawned process.                                           */
typedef enum { BRAID_STDOUT = 0, BRAID_STDERR = 1 } braid_stream_t;

/*  Call once per test binary, before spawning anything: child subreaper,
    SIGPIPE ignored (the harness writes to pipes of processes that may die). */
void
braid_harness_init(void);

/*  Monotonic clock, milliseconds.                                          */
int64_t
braid_now_msec(void);

/*  Kill (SIGKILL) and reap descendants that were re-parented to the test
    process and are not held by a live braid_proc_t. Returns how many of
    them were still running (zombies are reaped but not counted).           */
int
braid_harness_reap_orphans(void);

/*  --------------------------------------------------------------------
    Files                                                                   */

/*  Make a fresh directory under $TMPDIR (or /tmp). Returns its path (owned)
    or NULL.                                                                */
char *
braid_tmpdir_new(const char *prefix);

/*  Remove the directory tree and free the path. NULL-safe. If the
    environment has BRAID_IT_KEEP=1 the tree is kept and its path printed.  */
void
braid_tmpdir_destroy(char **path_p);

/*  cmocka setup: a fresh temp dir (braid_tmpdir_new) in *state, named
    after the prefix that is the test's initial state (a const char *, or
    NULL). 0 / -1.                                                          */
int
braid_tmpdir_setup(void **state);

/*  cmocka teardown: kill the test's orphans (braid_harness_reap_orphans)
    and remove the temp dir; -1, which fails the test, when an orphan was
    still running.                                                          */
int
braid_tmpdir_teardown(void **state);

/*  A cmocka test table entry: test with a temp dir named after prefix.    */
#define BRAID_TMPDIR_TEST(test, prefix)                                                        \
    cmocka_unit_test_prestate_setup_teardown(test, braid_tmpdir_setup, braid_tmpdir_teardown,   \
                                             (void *) (prefix))

/*  "dir/name", owned.                                                      */
char *
braid_path(const char *dir, const char *name);

/*  Write a whole file (created or truncated) with the given mode. 0 / -1.  */
int
braid_file_write(const char *path, const char *data, size_t len, mode_t mode);

/*  Read a whole file, NUL-terminated (the NUL is not counted in *len_p).
    Owned, or NULL.                                                         */
char *
braid_file_read(const char *path, size_t *len_p);

/*  --------------------------------------------------------------------
    Ports                                                                   */

/*  A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0,
    getsockname, close), or -1.                                             */
int
braid_free_port(void);

/*  --------------------------------------------------------------------
    Processes                                                               */

typedef struct braid_proc_t braid_proc_t;

/*  Spawn argv[0] (looked up in PATH) with argv, in a new process group.
    stdin comes from stdin_path, or /dev/null if NULL. If dir is not NULL,
    stdout and stderr are also copied to dir/NAME.out and dir/NAME.err.
    name labels the process in messages. Returns the process or NULL.      */
braid_proc_t *
braid_proc_spawn(const char *dir, const char *name, const char *const argv[],
                 const char *stdin_path);

/*  Backstop and cleanup: SIGKILL the process group if anything in it still
    runs, wait for the process, stop the threads, free. NULL-safe.          */
void
braid_proc_destroy(braid_proc_t **self_p);

/*  The process id (which is also its process group id).                   */
pid_t
braid_proc_pid(braid_proc_t *self);

/*  The label given at spawn (borrowed).                                    */
const char *
braid_proc_name(braid_proc_t *self);

/*  Wait until a complete line of the stream contains text (which holds no
    newline). 0 found; -1 deadline passed or the stream ended without it.  */
int
braid_proc_wait_line(braid_proc_t *self, braid_stream_t stream, const char *text,
                     int timeout_msec);

/*  Wait until the stream holds at least size bytes. 0 / -1 as above.      */
int
braid_proc_wait_bytes(braid_proc_t *self, braid_stream_t stream, size_t size,
                      int timeout_msec);

/*  Wait until the stream has ended (EOF on the pipe). 0 / -1.              */
int
braid_proc_wait_eof(braid_proc_t *self, braid_stream_t stream, int timeout_msec);

/*  Wait for the process to exit. 0 and *code_p set to the exit status, or
    128 + N when killed by signal N; -1 when the deadline passed.          */
int
braid_proc_wait_exit(braid_proc_t *self, int timeout_msec, int *code_p);

/*  Wait, within one deadline, for the process to exit and for both of its
    streams to end, so that its output is complete. 0 / -1, as above.       */
int
braid_proc_finish(braid_proc_t *self, int timeout_msec, int *code_p);

/*  True once the process has exited (not yet reaped: see above).           */
bool
braid_proc_exited(braid_proc_t *self);

/*  Monotonic time (braid_now_msec) the harness saw the exit, or -1.        */
int64_t
braid_proc_exit_msec(braid_proc_t *self);

/*  Send a signal to the process. 0 / -1 (also -1 once it has exited).      */
int
braid_proc_signal(braid_proc_t *self, int sig);

/*  Send a signal to the process group. 0 / -1.                             */
int
braid_proc_signal_group(braid_proc_t *self, int sig);

/*  A copy of everything read from the stream so far, NUL-terminated (the
    NUL not counted in *len_p). Owned, or NULL on allocation failure.       */
char *
braid_proc_output(braid_proc_t *self, braid_stream_t stream, size_t *len_p);

/*  Print the last max_bytes of the process's stderr (and the first of its
    stdout, if any) through cmocka's print_error, for failure reports.      */
void
braid_proc_dump(braid_proc_t *self, size_t max_bytes);

/*  --------------------------------------------------------------------
    Process ids and groups                                                  */

/*  True if the process exists and is not a zombie.                         */
bool
braid_pid_alive(pid_t pid);

/*  Number of live (non-zombie) processes in process group pgid.            */
int
braid_pgrp_live_count(pid_t pgid);

/*  Wait until no live process is left in process group pgid (each member
    waited for through a pidfd, no polling). 0 / -1 when the deadline
    passed. A SIGKILL is delivered asynchronously: this is how a caller
    knows it has taken effect.                                             */
int
braid_pgrp_wait_empty(pid_t pgid, int timeout_msec);

/*  Compare two byte strings; when they differ, print where (offset, line
    number, the two lines there) under the label what. 0 equal, -1 not.    */
int
braid_compare(const char *what, const char *got, size_t got_len, const char *want,
              size_t want_len);

/*  Write an executable script dir/name with the given text. Owned path, or
    NULL.                                                                   */
char *
braid_script_write(const char *dir, const char *name, const char *text);

/*  --------------------------------------------------------------------
    Running a command to completion                                         */

/*  Spawn argv, wait for it with the deadline, return its stdout (owned,
    NUL-terminated, length in *len_p) and its exit code in *code_p. NULL on
    spawn failure or timeout (the process is killed).                       */
char *
braid_run(const char *const argv[], const char *stdin_path, int timeout_msec, size_t *len_p,
          int *code_p);

#ifdef __cplusplus
}
#endif

#endif
