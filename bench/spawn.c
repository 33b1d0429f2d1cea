/*  spawn.c - the spawn ceiling: run a command N times, at most P at once,
    with posix_spawnp, each child's stdout on a pipe that is read to EOF
    (as braid's exec source does), stdin /dev/null. The query (1..N) is
    appended as the last argument unless -Q is given.

        spawn [-n N] [-P P] [-Q] -- COMMAND [ARG...]

    Output: one JSON object on stdout (wall seconds, per-command usec).    */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    pid_t pid;
    int fd;
} slot_t;

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
    long n = 1000;
    int par = 2, noquery = 0, opt;
    while ((opt = getopt(argc, argv, "n:P:Q")) != -1) {
        switch (opt) {
        case 'n': n = atol(optarg); break;
        case 'P': par = atoi(optarg); break;
        case 'Q': noquery = 1; break;
        default:
            fprintf(stderr, "usage: spawn [-n N] [-P P] [-Q] -- COMMAND [ARG...]\n");
            return 2;
        }
    }
    if (optind >= argc || n < 1 || par < 1 || par > 4096)
        return 2;
    int cargc = argc - optind;
    char **cargv = calloc((size_t) cargc + 2, sizeof *cargv);
    for (int i = 0; i < cargc; i++)
        cargv[i] = argv[optind + i];
    char qbuf[32];
    if (!noquery)
        cargv[cargc] = qbuf;

    slot_t *slots = calloc((size_t) par, sizeof *slots);
    struct pollfd *pfd = calloc((size_t) par, sizeof *pfd);
    for (int i = 0; i < par; i++)
        slots[i].fd = -1;
    long started = 0, done = 0, failed = 0;
    char buf[65536];
    int64_t t0 = now_ns();
    while (done < n) {
        for (int i = 0; i < par && started < n; i++) {
            if (slots[i].fd >= 0)
                continue;
            int p[2];
            if (pipe2(p, O_CLOEXEC) != 0)
                return 1;
            posix_spawn_file_actions_t fa;
            posix_spawn_file_actions_init(&fa);
            posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
            posix_spawn_file_actions_adddup2(&fa, p[1], 1);
            posix_spawnattr_t at;
            posix_spawnattr_init(&at);
            posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
            posix_spawnattr_setpgroup(&at, 0);
            snprintf(qbuf, sizeof qbuf, "%ld", started + 1);
            pid_t pid;
            int rc = posix_spawnp(&pid, cargv[0], &fa, &at, cargv, environ);
            posix_spawn_file_actions_destroy(&fa);
            posix_spawnattr_destroy(&at);
            close(p[1]);
            if (rc != 0) {
                fprintf(stderr, "spawn: %s: %s\n", cargv[0], strerror(rc));
                return 1;
            }
            slots[i].pid = pid;
            slots[i].fd = p[0];
            started++;
        }
        int np = 0;
        for (int i = 0; i < par; i++) {
            pfd[i].fd = slots[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
            if (slots[i].fd >= 0)
                np++;
        }
        if (np == 0)
            break;
        if (poll(pfd, (nfds_t) par, -1) < 0 && errno != EINTR)
            return 1;
        for (int i = 0; i < par; i++) {
            if (slots[i].fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(slots[i].fd, buf, sizeof buf);
            if (r > 0)
                continue;
            close(slots[i].fd);
            slots[i].fd = -1;
            int st;
            waitpid(slots[i].pid, &st, 0);
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
                failed++;
            done++;
        }
    }
    double sec = (double) (now_ns() - t0) / 1e9;
    printf("{\"n\":%ld,\"parallel\":%d,\"failed\":%ld,\"sec\":%.4f,\"per_cmd_us\":%.1f}\n", n,
           par, failed, sec, sec / (double) n * 1e6);
    return 0;
}
