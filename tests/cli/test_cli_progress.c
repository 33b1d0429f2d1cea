/*  test_cli_progress.c - issue 11, acceptance 5 (second half): the progress
    line on a terminal, and never in a pipe.

    tick.sh prints its query and takes a fifth of a second; eight queries
    run two at a time (-j 2), so the job lasts over half a second after its
    first task ends: long enough for a redraw with a rate (the client
    redraws at least every quarter second while it waits).

      - stderr a pseudo-terminal, stdout a file: progress lines, each
        exactly "braid: D/8 tasks done, N not ok, R/s, ETA E" with R and E
        numbers once D > 0; at least one with D > 0; the line is cleared at
        the end; stdout holds the answers.
      - stderr and stdout the same pseudo-terminal: the answers never run
        into a progress line (every piece between two clears is a whole
        progress line or holds no progress text).
      - --no-progress on a pseudo-terminal: no progress line.
      - stderr a pipe: no progress line; with --progress: progress lines.
*/

#include "fault.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_RUN_MSEC 30000
#define S_CLEAR "\r\033[K"
#define S_LINE_RE                                                                              \
    "^braid: ([0-9]+)/8 tasks done, ([0-9]+) not ok, ([0-9]+\\.?[0-9]*|-)/s, "                \
    "ETA ([0-9dhms.]+|-)$"

static const char s_script[] = "#!/bin/sh\n"
                               "# tick.sh QUERY: the query, a fifth of a second\n"
                               "echo \"$1\"\n"
                               "exec sleep 0.2\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-cli-progress",
    .script_name = "tick.sh",
    .script_text = s_script,
    .workers = 1,
    .slots = 2,
    .specs = {"tick=exec:'%s' {query}"},
};

#define S_QUERIES "q1", "q2", "q3", "q4", "q5", "q6", "q7", "q8"
#define S_ANSWERS "q1\nq2\nq3\nq4\nq5\nq6\nq7\nq8\n"

/*  What a run on a pseudo-terminal gave.                                   */
typedef struct {
    char *tty;                  /* everything read from the terminal        */
    size_t tty_len;
    int code;
} t_tty_run_t;

/*  Run `braid submit -b FRONTEND -s tick -j 2 [flag] QUERIES` with stderr
    on a new pseudo-terminal, and stdout on it too (same_tty) or on
    out_path. Read the terminal until the client is gone.                   */
static void
s_run_on_tty(braid_fixture_t *f, const char *flag, bool same_tty, const char *out_path,
             t_tty_run_t *run)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    const char *slave_name = ptsname(master);
    assert_non_null(slave_name);
    int slave = open(slave_name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    assert_true(slave >= 0);
    int out = same_tty ? slave : open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(out >= 0);
    static const char *queries[] = {S_QUERIES};
    const char *args[24] = {BRAID_CLI_PATH, "submit", "-b", f->cluster->frontend,
                            "-s", "tick", "-j", "2"};
    size_t n = 8;
    if (flag)
        args[n++] = flag;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++)
        args[n++] = queries[i];
    args[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(slave, 2) < 0)
            _exit(127);
        execv(args[0], (char *const *) args);
        _exit(127);
    }
    close(slave);
    if (!same_tty)
        close(out);
    int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
    assert_true(pidfd >= 0);
    run->tty = NULL;
    run->tty_len = 0;
    FILE *tty = open_memstream(&run->tty, &run->tty_len);
    assert_non_null(tty);
    /*  The terminal ends (EIO) once the client and everything it started
        have closed it.                                                     */
    int64_t deadline = braid_now_msec() + S_RUN_MSEC;
    bool open_tty = true;
    while (open_tty && braid_now_msec() < deadline) {
        struct pollfd pfd = {.fd = master, .events = POLLIN};
        int n = poll(&pfd, 1, (int) (deadline - braid_now_msec()));
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            break;
        char buf[4096];
        ssize_t got = read(master, buf, sizeof buf);
        if (got > 0)
            fwrite(buf, 1, (size_t) got, tty);
        else if (got == 0 || errno != EINTR)
            open_tty = false;
    }
    fclose(tty);
    close(master);
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int left = (int) (deadline - braid_now_msec());
    if (open_tty || poll(&pfd, 1, left > 0 ? left : 0) != 1) {
        kill(-pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(pidfd);
        braid_cluster_dump(f->cluster);
        fail_msg("the client is still running after %d ms", S_RUN_MSEC);
    }
    close(pidfd);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    run->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*  Check every piece of text between two clears: a progress line must be
    whole (nothing ran into it); count them, and those with tasks done.
    The text must end with a clear when it had progress lines.             */
static void
s_check_lines(const char *text, int *lines_p, int *done_lines_p)
{
    regex_t re;
    assert_int_equal(regcomp(&re, S_LINE_RE, REG_EXTENDED), 0);
    char *copy = strdup(text);
    *lines_p = *done_lines_p = 0;
    char *piece = copy;
    while (piece) {
        char *next = strstr(piece, S_CLEAR);
        if (next) {
            *next = 0;
            next += strlen(S_CLEAR);
        }
        if (strstr(piece, "braid: ") && strstr(piece, "tasks done")) {
            regmatch_t m[5];
            if (regexec(&re, piece, 5, m, 0) != 0)
                fail_msg("not a progress line: [%s]", piece);
            long done = strtol(piece + m[1].rm_so, NULL, 10);
            (*lines_p)++;
            if (done > 0) {
                (*done_lines_p)++;
                /*  Once a task is done there is a rate and an ETA.         */
                assert_int_not_equal(piece[m[3].rm_so], '-');
                assert_int_not_equal(piece[m[4].rm_so], '-');
            }
        }
        piece = next;
    }
    free(copy);
    regfree(&re);
    if (*lines_p) {
        size_t len = strlen(text), clear = strlen(S_CLEAR);
        assert_true(len >= clear && strcmp(text + len - clear, S_CLEAR) == 0);
    }
}

static void
test_tty(void **state)
{
    braid_fixture_t *f = *state;
    char *out_path = braid_path(f->dir, "answers.txt");
    t_tty_run_t run;
    int lines, done_lines;

    /*  stderr a terminal, stdout a file.                                   */
    s_run_on_tty(f, NULL, false, out_path, &run);
    print_message("on a terminal: exit %d, %zu bytes of progress\n", run.code, run.tty_len);
    assert_int_equal(run.code, 0);
    s_check_lines(run.tty, &lines, &done_lines);
    print_message("%d progress lines, %d with tasks done\n", lines, done_lines);
    assert_true(lines >= 1);
    assert_true(done_lines >= 1);
    free(run.tty);
    char *answers = braid_file_read(out_path, NULL);
    assert_string_equal(answers, S_ANSWERS);
    free(answers);

    /*  stdout on the same terminal: the answers stay whole.                */
    s_run_on_tty(f, NULL, true, NULL, &run);
    assert_int_equal(run.code, 0);
    s_check_lines(run.tty, &lines, &done_lines);
    assert_true(lines >= 1);
    for (int q = 1; q <= 8; q++) {
        char line[16];
        snprintf(line, sizeof line, "q%d\r\n", q);     /* the terminal's newline */
        if (!strstr(run.tty, line))
            fail_msg("no answer '%s' on the terminal", line);
    }
    free(run.tty);

    /*  --no-progress: none.                                                */
    s_run_on_tty(f, "--no-progress", false, out_path, &run);
    assert_int_equal(run.code, 0);
    assert_null(strstr(run.tty, "tasks done"));
    free(run.tty);
    free(out_path);
}

/*  stderr a pipe: no progress line unless asked for.                       */
static void
test_pipe(void **state)
{
    braid_fixture_t *f = *state;
    const char *plain[] = {"-s", "tick", "-j", "2", S_QUERIES, NULL};
    const char *forced[] = {"-s", "tick", "-j", "2", "--progress", S_QUERIES, NULL};
    int lines, done_lines;
    for (int i = 0; i < 2; i++) {
        braid_proc_t *client = NULL;
        int code = -1;
        assert_int_equal(braid_cluster_run(f->cluster, i ? "forced" : "plain", i ? forced : plain,
                                           S_RUN_MSEC, 0, &client, &code),
                         0);
        assert_int_equal(code, 0);
        char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
        char *err = braid_proc_output(client, BRAID_STDERR, NULL);
        braid_proc_destroy(&client);
        assert_string_equal(out, S_ANSWERS);
        s_check_lines(err, &lines, &done_lines);
        if (i == 0)
            assert_int_equal(lines, 0);
        else
            assert_true(lines >= 1);
        free(out);
        free(err);
    }
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_FIXTURE_TEST(test_tty, s_def),
        BRAID_FIXTURE_TEST(test_pipe, s_def),
    };
    return cmocka_run_group_tests_name("cli_progress", tests, NULL, NULL);
}
