/*  gearman.c - gearmand as braid's peer in the benchmarks: a worker, a load
    client and a stream client on libgearman, doing the work braid's bench
    does (bench/load.c, the synthetic and exec sources).

        gearman worker -p PORT [-w PROCS] [-t THREADS] [-S SIZE]
        gearman load   -p PORT [-f FUNC] [-c PROCS] -D SECONDS [-q WORKLOAD]
        gearman submit -p PORT -f FUNC WORKLOAD...
        gearman wait   -p PORT -f FUNC -n WORKERS [-T SECONDS]

    worker: PROCS processes (fork) of THREADS threads, each thread its own
      gearman_worker_st (gearman hands a worker connection one job at a
      time, so THREADS is the number of jobs a process runs at once, as
      braid-worker's slots are). Functions:
        syn     returns SIZE bytes (default 64): braid's synthetic:parts=1,size=64
        lines   runs `seq 1 WORKLOAD` and sends each line (with its newline)
                as one WORK_DATA packet: braid's exec source in lines mode,
                one partial per line
        chunks  runs `head -c WORKLOAD /dev/zero` and sends each read (up to
                64 KiB) as one WORK_DATA packet: the exec source in chunk mode
    load: PROCS client processes start together, each doing 1-job requests
      back to back (gearman_client_do, one connection per process reused
      across its jobs) for SECONDS; one JSON object on stdout, the same
      field names as bench/load.c (jobs_per_sec, lat_p50_us, ...).
    submit: one client submits every WORKLOAD to FUNC at once (the task
      API, run together, data in arrival order) and writes every WORK_DATA
      and result to stdout: the stream scenarios' `braid submit`.
    wait: polls gearmand's admin "status" until FUNC has WORKERS workers
      available (exit 0) or SECONDS pass (exit 1).

    The server is 127.0.0.1 (loopback only). Exit 1 on any failed job.   */

#include <libgearman/gearman.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HOST "127.0.0.1"
#define CHUNK_BYTES 65536

extern char **environ;

static in_port_t port;
static const char *function = "syn";
static int procs = 1, threads = 1;
static size_t syn_size = 64;
static double duration = 0;
static const char *workload = "00000001";

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------------
   Worker                                                                   */

static gearman_return_t
s_syn(gearman_job_st *job, void *context)
{
    (void) context;
    static const char fill[4096] = {0};
    size_t n = syn_size < sizeof fill ? syn_size : sizeof fill;
    gearman_return_t rc = gearman_job_send_complete(job, fill, n);
    return rc == GEARMAN_SUCCESS ? GEARMAN_SUCCESS : GEARMAN_ERROR;
}

/*  Run argv with stdout on a pipe; returns the read end, sets *pid.       */
static int
s_spawn(char *const argv[], pid_t *pid)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    int rc = posix_spawnp(pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (rc != 0) {
        close(p[0]);
        return -1;
    }
    return p[0];
}

/*  lines and chunks: the command's output as WORK_DATA packets.           */
static gearman_return_t
s_stream(gearman_job_st *job, void *context)
{
    int lines = context != NULL;
    char arg[64];
    size_t wl = gearman_job_workload_size(job);
    if (wl == 0 || wl >= sizeof arg)
        return GEARMAN_FATAL;
    memcpy(arg, gearman_job_workload(job), wl);
    arg[wl] = '\0';
    char *seq_argv[] = {"seq", "1", arg, NULL};
    char *head_argv[] = {"head", "-c", arg, "/dev/zero", NULL};
    pid_t pid;
    int fd = s_spawn(lines ? seq_argv : head_argv, &pid);
    if (fd < 0)
        return GEARMAN_FATAL;
    static __thread char buf[CHUNK_BYTES];
    size_t have = 0;
    int ok = 1;
    for (;;) {
        ssize_t r = read(fd, buf + have, sizeof buf - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        have += (size_t) r;
        if (!lines) {
            ok = gearman_job_send_data(job, buf, have) == GEARMAN_SUCCESS;
            have = 0;
        }
        else {
            size_t start = 0;
            for (size_t i = 0; i < have && ok; i++)
                if (buf[i] == '\n') {
                    ok = gearman_job_send_data(job, buf + start, i + 1 - start) == GEARMAN_SUCCESS;
                    start = i + 1;
                }
            memmove(buf, buf + start, have - start);
            have -= start;
            if (have == sizeof buf)     /* a line longer than the buffer   */
                ok = 0;
        }
        if (!ok)
            break;
    }
    if (ok && have > 0)
        ok = gearman_job_send_data(job, buf, have) == GEARMAN_SUCCESS;
    close(fd);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!ok || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return GEARMAN_FATAL;
    return gearman_job_send_complete(job, NULL, 0) == GEARMAN_SUCCESS ? GEARMAN_SUCCESS
                                                                       : GEARMAN_ERROR;
}

static void *
s_worker_thread(void *arg)
{
    (void) arg;
    gearman_worker_st *w = gearman_worker_create(NULL);
    if (!w || gearman_worker_add_server(w, HOST, port) != GEARMAN_SUCCESS) {
        fprintf(stderr, "gearman: worker: cannot add the server\n");
        exit(1);
    }
    static int lines_tag = 1;
    if (gearman_worker_define_function(w, "syn", 3, gearman_function_create(s_syn), 0, NULL)
            != GEARMAN_SUCCESS
        || gearman_worker_define_function(w, "lines", 5, gearman_function_create(s_stream), 0,
                                          &lines_tag) != GEARMAN_SUCCESS
        || gearman_worker_define_function(w, "chunks", 6, gearman_function_create(s_stream), 0,
                                          NULL) != GEARMAN_SUCCESS) {
        fprintf(stderr, "gearman: worker: %s\n", gearman_worker_error(w));
        exit(1);
    }
    /*  A job that failed (its function returned an error: gearman sent
        WORK_FAIL) is counted by its client; the worker goes on. The server
        gone, or errors 100 times in a row: the bench is over.            */
    for (int errors = 0;;) {
        gearman_return_t rc = gearman_worker_work(w);
        if (rc == GEARMAN_SUCCESS || rc == GEARMAN_IO_WAIT || rc == GEARMAN_NO_JOBS
            || rc == GEARMAN_TIMEOUT) {
            errors = 0;
            continue;
        }
        if (rc == GEARMAN_LOST_CONNECTION || rc == GEARMAN_COULD_NOT_CONNECT)
            exit(0);
        if (++errors >= 100) {
            fprintf(stderr, "gearman: worker: %s\n", gearman_worker_error(w));
            exit(1);
        }
    }
    return NULL;
}

static void
s_worker_proc(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pthread_t *t = calloc((size_t) threads, sizeof *t);
    for (int i = 0; i < threads; i++)
        if (pthread_create(&t[i], NULL, s_worker_thread, NULL) != 0) {
            fprintf(stderr, "gearman: worker: cannot start thread %d\n", i);
            exit(1);
        }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    exit(0);
}

static int
s_worker(void)
{
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0)
            s_worker_proc();
    }
    int bad = 0, st;
    while (wait(&st) > 0)
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad = 1;
    return bad;
}

/* ------------------------------------------------------------------------
   Load: PROCS clients doing 1-job requests back to back                    */

typedef struct {
    int64_t t_start, t_end;
    uint64_t jobs, errors, nlat;
} result_t;

static void
s_load_child(int go_fd, int out_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    gearman_client_st *c = gearman_client_create(NULL);
    if (!c || gearman_client_add_server(c, HOST, port) != GEARMAN_SUCCESS) {
        fprintf(stderr, "gearman: load: cannot add the server\n");
        _exit(1);
    }
    char ch;
    if (read(go_fd, &ch, 1) < 0) {}     /* the start barrier: EOF = go     */
    result_t res = {0};
    size_t cap = 4096, n = 0;
    int64_t *lat = malloc(cap * sizeof *lat);
    int64_t stop = now_ns() + (int64_t) (duration * 1e9);
    size_t wl = strlen(workload);
    res.t_start = now_ns();
    while (now_ns() < stop) {
        int64_t t0 = now_ns();
        size_t size = 0;
        gearman_return_t rc;
        void *out = gearman_client_do(c, function, NULL, workload, wl, &size, &rc);
        free(out);
        if (rc != GEARMAN_SUCCESS) {
            fprintf(stderr, "gearman: load: %s\n", gearman_client_error(c));
            res.errors++;
            break;
        }
        int64_t t1 = now_ns();
        if (n == cap) {
            cap *= 2;
            lat = realloc(lat, cap * sizeof *lat);
        }
        lat[n++] = t1 - t0;
        res.jobs++;
        res.t_end = t1;
    }
    gearman_client_free(c);
    res.nlat = n;
    FILE *f = fdopen(out_fd, "w");
    fwrite(&res, sizeof res, 1, f);
    fwrite(lat, sizeof *lat, n, f);
    fclose(f);
    free(lat);
    _exit(0);
}

static double
s_pct(int64_t *v, size_t n, double p)
{
    return n ? (double) v[(size_t) ((double) (n - 1) * p)] / 1e3 : 0;
}

static int
s_load(void)
{
    if (duration <= 0)
        return 2;
    int go[2];
    if (pipe(go) != 0)
        return 1;
    pid_t *pids = calloc((size_t) procs, sizeof *pids);
    FILE **outs = calloc((size_t) procs, sizeof *outs);
    for (int i = 0; i < procs; i++) {
        int p[2];
        if (pipe(p) != 0)
            return 1;
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            close(go[1]);
            close(p[0]);
            for (int k = 0; k < i; k++)
                fclose(outs[k]);
            s_load_child(go[0], p[1]);
        }
        close(p[1]);
        pids[i] = pid;
        outs[i] = fdopen(p[0], "r");
    }
    close(go[0]);
    usleep(50000);
    close(go[1]);       /* go */

    result_t tot = {.t_start = INT64_MAX};
    size_t nall = 0, capall = 4096;
    int64_t *lat = malloc(capall * sizeof *lat);
    int bad = 0;
    for (int i = 0; i < procs; i++) {
        result_t r;
        if (fread(&r, sizeof r, 1, outs[i]) != 1) {
            bad = 1;
            fclose(outs[i]);
            continue;
        }
        while (nall + r.nlat > capall) {
            capall *= 2;
            lat = realloc(lat, capall * sizeof *lat);
        }
        if (fread(lat + nall, sizeof *lat, r.nlat, outs[i]) != r.nlat)
            bad = 1;
        nall += r.nlat;
        if (r.t_start && r.t_start < tot.t_start)
            tot.t_start = r.t_start;
        if (r.t_end > tot.t_end)
            tot.t_end = r.t_end;
        tot.jobs += r.jobs;
        tot.errors += r.errors;
        fclose(outs[i]);
    }
    for (int i = 0; i < procs; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            bad = 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    double cpu = (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
                 + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double sec = tot.t_end > tot.t_start ? (double) (tot.t_end - tot.t_start) / 1e9 : 0;
    qsort(lat, nall, sizeof *lat, cmp_i64);
    printf("{\"procs\":%d,\"jobs\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"sec\":%.4f,"
           "\"jobs_per_sec\":%.1f,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"cpu_sec\":%.3f}\n",
           procs, tot.jobs, tot.errors, sec, sec > 0 ? (double) tot.jobs / sec : 0,
           s_pct(lat, nall, 0.5), s_pct(lat, nall, 0.99), cpu);
    free(lat);
    free(outs);
    free(pids);
    return (bad || tot.errors || tot.jobs == 0) ? 1 : 0;
}

/* ------------------------------------------------------------------------
   Submit: streams to stdout                                                */

static char obuf[1 << 20];
static int submit_failed;

static gearman_return_t
s_on_data(gearman_task_st *task)
{
    size_t n = gearman_task_data_size(task);
    if (n > 0)
        fwrite(gearman_task_data(task), 1, n, stdout);
    return GEARMAN_SUCCESS;
}

/*  A task that failed (the command did, or the worker sent WORK_FAIL).   */
static gearman_return_t
s_on_fail(gearman_task_st *task)
{
    (void) task;
    submit_failed = 1;
    return GEARMAN_SUCCESS;
}

static int
s_submit(int n, char **workloads)
{
    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    gearman_client_st *c = gearman_client_create(NULL);
    if (!c || gearman_client_add_server(c, HOST, port) != GEARMAN_SUCCESS)
        return 1;
    gearman_client_set_data_fn(c, s_on_data);
    gearman_client_set_complete_fn(c, s_on_data);
    gearman_client_set_fail_fn(c, s_on_fail);
    gearman_client_set_exception_fn(c, s_on_fail);
    for (int i = 0; i < n; i++) {
        gearman_return_t rc;
        if (!gearman_client_add_task(c, NULL, NULL, function, NULL, workloads[i],
                                     strlen(workloads[i]), &rc)
            || rc != GEARMAN_SUCCESS) {
            fprintf(stderr, "gearman: submit: %s\n", gearman_client_error(c));
            return 1;
        }
    }
    gearman_return_t rc = gearman_client_run_tasks(c);
    if (rc != GEARMAN_SUCCESS) {
        fprintf(stderr, "gearman: submit: %s\n", gearman_client_error(c));
        return 1;
    }
    gearman_client_free(c);
    if (submit_failed)
        fprintf(stderr, "gearman: submit: a task failed\n");
    return fflush(stdout) == 0 && !submit_failed ? 0 : 1;
}

/* ------------------------------------------------------------------------
   Wait: the admin protocol's "status" (FUNCTION\tTOTAL\tRUNNING\tAVAILABLE) */

static int
s_available(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, HOST, &a.sin_addr);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[8192];
    size_t have = 0;
    int avail = -1;
    if (connect(fd, (struct sockaddr *) &a, sizeof a) == 0 && write(fd, "status\n", 7) == 7) {
        for (;;) {          /* until the terminating ".\n"                 */
            ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
            if (r <= 0)
                break;
            have += (size_t) r;
            buf[have] = '\0';
            if (strcmp(buf, ".\n") == 0 || strstr(buf, "\n.\n") || have == sizeof buf - 1)
                break;
        }
        avail = 0;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            char name[256];
            int total, running, workers;
            if (sscanf(line, "%255[^\t]\t%d\t%d\t%d", name, &total, &running, &workers) == 4
                && strcmp(name, function) == 0)
                avail = workers;
        }
    }
    close(fd);
    return avail;
}

static int
s_wait(int want, double seconds)
{
    int64_t deadline = now_ns() + (int64_t) (seconds * 1e9);
    int have = -1;
    while (now_ns() < deadline) {
        have = s_available();
        if (have >= want)
            return 0;
        usleep(50000);
    }
    fprintf(stderr, "gearman: wait: %d of %d workers for %s\n", have, want, function);
    return 1;
}

/* ------------------------------------------------------------------------ */

static int
s_usage(void)
{
    fprintf(stderr, "usage: gearman worker -p PORT [-w PROCS] [-t THREADS] [-S SIZE]\n"
                    "       gearman load -p PORT [-f FUNC] [-c PROCS] -D SECONDS [-q WORKLOAD]\n"
                    "       gearman submit -p PORT -f FUNC WORKLOAD...\n"
                    "       gearman wait -p PORT -f FUNC -n WORKERS [-T SECONDS]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    if (argc < 2)
        return s_usage();
    const char *mode = argv[1];
    int want = 1, opt;
    double wait_sec = 10;
    long p = 0;
    optind = 2;
    while ((opt = getopt(argc, argv, "p:w:t:S:f:c:D:q:n:T:")) != -1) {
        switch (opt) {
        case 'p': p = atol(optarg); break;
        case 'w': procs = atoi(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 'S': syn_size = (size_t) atol(optarg); break;
        case 'f': function = optarg; break;
        case 'c': procs = atoi(optarg); break;
        case 'D': duration = atof(optarg); break;
        case 'q': workload = optarg; break;
        case 'n': want = atoi(optarg); break;
        case 'T': wait_sec = atof(optarg); break;
        default: return s_usage();
        }
    }
    if (p < 1 || p > 65535 || procs < 1 || procs > 1024 || threads < 1 || threads > 1024)
        return s_usage();
    port = (in_port_t) p;
    if (strcmp(mode, "worker") == 0)
        return s_worker();
    if (strcmp(mode, "load") == 0)
        return s_load();
    if (strcmp(mode, "submit") == 0)
        return optind < argc ? s_submit(argc - optind, argv + optind) : s_usage();
    if (strcmp(mode, "wait") == 0)
        return s_wait(want, wait_sec);
    return s_usage();
}
