/*  load.c - a libbraid load client for the braid benchmarks.

    C processes (fork, each with its own braid_client_t and ZeroMQ context)
    start together and each submits jobs of N queries to one source, one
    job at a time, either J jobs each or for D seconds. A process reuses its
    one braid_client_t for all its jobs, so libbraid keeps one connection to
    the broker: latency and jobs/s measure the broker round trip, not a TCP
    connect per job. It counts tasks,
    partials and bytes, and records per job the latency (from the submit
    call to the JOB_END event) and the time to the first partial.

        load -e EP -s SOURCE [-n QUERIES] [-o submit|arrival] [-j INFLIGHT]
             [-c PROCS] [-J JOBS | -D SECONDS] [-R TASKS_PER_SEC] [-H SECONDS]
             [-W WINDOW] [-q QUERY]

      -R  pace: each process starts a job every N/(R/C) seconds (background
          load at a fixed offered rate; with -D).
      -H  hold: submit one job, keep its stream open (queries sent, nothing
          else read beyond what arrives) for SECONDS, then cancel it (the
          memory scenario: queries queued behind a stalled worker).

    -q QUERY: every query is QUERY; else queries are "%08ld" (8 bytes).
    cpu_sec in the output is the CPU time of all client processes. Output: one JSON object on stdout.
    Exit 1 if any job failed to submit or a task did not end ok.          */

#include "braid.h"

#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int64_t t_start, t_end;     /* first submit, last JOB_END (ns)          */
    uint64_t jobs, tasks, partials, bytes, not_ok, errors;
    uint64_t nlat;              /* latency samples that follow (ns)          */
} result_t;

static const char *endpoint, *source, *fixed_query;
static long nqueries = 1, jobs_per_proc = 1, inflight = 0;
static double duration = 0, rate = 0, hold = 0;
static braid_ordering_t order = BRAID_ORDERING_SUBMIT;
static int procs = 1;
static uint32_t window = 0;

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
s_sleep_until(int64_t t)
{
    struct timespec ts = {(time_t) (t / 1000000000), (long) (t % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

/*  One job; fills latency and ttfp; returns 0 or -1 (submit or stream).    */
static int
s_one_job(braid_client_t *client, long base, result_t *res, int64_t *lat, int64_t *ttfp)
{
    braid_request_t *request = braid_request_new();
    braid_request_add_source(request, source);
    braid_request_set_order(request, order);
    if (inflight > 0)
        braid_request_set_max_inflight(request, (uint32_t) inflight);
    char q[32];
    for (long i = 0; i < nqueries; i++) {
        if (fixed_query)
            braid_request_add_query(request, fixed_query, strlen(fixed_query));
        else {
            int len = snprintf(q, sizeof q, "%08ld", base + i);
            braid_request_add_query(request, q, (size_t) len);
        }
    }
    int64_t t0 = now_ns();
    if (res->t_start == 0)
        res->t_start = t0;
    *ttfp = -1;
    if (braid_client_submit(client, &request) != BRAID_REPLY_OK) {
        fprintf(stderr, "load: submit: %s\n", braid_client_error(client));
        res->errors++;
        return -1;
    }
    int64_t hold_until = hold > 0 ? t0 + (int64_t) (hold * 1e9) : 0;
    bool cancelled = false;
    braid_event_t ev;
    for (;;) {
        braid_next_t rc = braid_client_next(client, &ev, hold_until ? 100 : 30000);
        if (rc == BRAID_NEXT_TIMEOUT) {
            if (hold_until && !cancelled && now_ns() >= hold_until) {
                braid_client_cancel(client);
                cancelled = true;
                hold_until = 0;
            }
            else if (!hold_until) {
                fprintf(stderr, "load: stream stalled for 30 s\n");
                res->errors++;
                return -1;
            }
            continue;
        }
        if (rc != BRAID_NEXT_EVENT)
            break;
        if (ev.type == BRAID_EVENT_PARTIAL) {
            if (*ttfp < 0)
                *ttfp = now_ns() - t0;
            res->partials++;
            res->bytes += ev.size;
        }
        else if (ev.type == BRAID_EVENT_END) {
            res->tasks++;
            if (ev.status != BRAID_END_OK)
                res->not_ok++;
        }
        else if (ev.type == BRAID_EVENT_ERROR) {
            fprintf(stderr, "load: job error %d: %s\n", ev.code, ev.text ? ev.text : "");
            res->errors++;
        }
    }
    int64_t t1 = now_ns();
    *lat = t1 - t0;
    res->t_end = t1;
    res->jobs++;
    return 0;
}

static void
s_child(int id, int go_fd, int out_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char c;
    if (read(go_fd, &c, 1) < 0) {}       /* the start barrier: EOF = go      */
    result_t res = {0};
    size_t cap = 1024, n = 0;
    int64_t *lat = malloc(cap * sizeof *lat), *ttfp = malloc(cap * sizeof *ttfp);
    braid_client_t *client = braid_client_new();
    braid_client_add_endpoint(client, endpoint);
    braid_client_set_connect_timeout(client, 10000);
    if (window)
        braid_client_set_window(client, window);
    int64_t start = now_ns(), stop = start + (int64_t) (duration * 1e9);
    double per_job_ns = rate > 0 ? (double) nqueries / (rate / procs) * 1e9 : 0;
    long base = (long) id * 10000000L;
    for (long j = 0;; j++) {
        if (duration > 0 ? now_ns() >= stop : j >= jobs_per_proc)
            break;
        if (per_job_ns > 0) {
            int64_t due = start + (int64_t) (per_job_ns * (double) j);
            if (due >= stop)
                break;
            s_sleep_until(due);
        }
        if (n == cap) {
            cap *= 2;
            lat = realloc(lat, cap * sizeof *lat);
            ttfp = realloc(ttfp, cap * sizeof *ttfp);
        }
        if (s_one_job(client, base + (j * nqueries) % 10000000L, &res, &lat[n], &ttfp[n]) != 0)
            break;
        n++;
        if (hold > 0)
            break;
    }
    braid_client_destroy(&client);
    res.nlat = n;
    FILE *f = fdopen(out_fd, "w");
    fwrite(&res, sizeof res, 1, f);
    fwrite(lat, sizeof *lat, n, f);
    fwrite(ttfp, sizeof *ttfp, n, f);
    fclose(f);
    _exit(0);
}

static double
s_pct(int64_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    return (double) v[(size_t) ((double) (n - 1) * p)] / 1e3;
}

int
main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "e:s:n:o:j:c:J:D:R:H:W:q:")) != -1) {
        switch (opt) {
        case 'e': endpoint = optarg; break;
        case 's': source = optarg; break;
        case 'n': nqueries = atol(optarg); break;
        case 'o': order = strcmp(optarg, "arrival") == 0 ? BRAID_ORDERING_ARRIVAL
                                                          : BRAID_ORDERING_SUBMIT; break;
        case 'j': inflight = atol(optarg); break;
        case 'c': procs = atoi(optarg); break;
        case 'J': jobs_per_proc = atol(optarg); break;
        case 'D': duration = atof(optarg); break;
        case 'R': rate = atof(optarg); break;
        case 'H': hold = atof(optarg); break;
        case 'W': window = (uint32_t) atol(optarg); break;
        case 'q': fixed_query = optarg; break;
        default:
            fprintf(stderr, "usage: load -e EP -s SOURCE [-n QUERIES] [-o submit|arrival] "
                            "[-j INFLIGHT] [-c PROCS] [-J JOBS | -D SECONDS] "
                            "[-R TASKS_PER_SEC] [-H SECONDS] [-W WINDOW] [-q QUERY]\n");
            return 2;
        }
    }
    if (!endpoint || !source || nqueries < 1 || procs < 1 || procs > 1024)
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
        if (pid == 0) {
            close(go[1]);
            close(p[0]);
            for (int k = 0; k < i; k++)
                fclose(outs[k]);
            s_child(i, go[0], p[1]);
        }
        close(p[1]);
        pids[i] = pid;
        outs[i] = fdopen(p[0], "r");
    }
    close(go[0]);
    usleep(50000);
    close(go[1]);       /* go */

    result_t tot = {0};
    tot.t_start = INT64_MAX;
    size_t nall = 0, capall = 1024;
    int64_t *lat = malloc(capall * sizeof *lat), *ttfp = malloc(capall * sizeof *ttfp);
    size_t nttfp = 0;
    int bad = 0;
    for (int i = 0; i < procs; i++) {
        result_t r;
        if (fread(&r, sizeof r, 1, outs[i]) != 1) {
            bad = 1;
            continue;
        }
        while (nall + r.nlat > capall) {
            capall *= 2;
            lat = realloc(lat, capall * sizeof *lat);
            ttfp = realloc(ttfp, capall * sizeof *ttfp);
        }
        if (fread(lat + nall, sizeof *lat, r.nlat, outs[i]) != r.nlat)
            bad = 1;
        int64_t *tt = malloc((r.nlat + 1) * sizeof *tt);
        if (fread(tt, sizeof *tt, r.nlat, outs[i]) != r.nlat)
            bad = 1;
        for (uint64_t k = 0; k < r.nlat; k++)
            if (tt[k] >= 0)
                ttfp[nttfp++] = tt[k];
        free(tt);
        nall += r.nlat;
        if (r.t_start && r.t_start < tot.t_start)
            tot.t_start = r.t_start;
        if (r.t_end > tot.t_end)
            tot.t_end = r.t_end;
        tot.jobs += r.jobs;
        tot.tasks += r.tasks;
        tot.partials += r.partials;
        tot.bytes += r.bytes;
        tot.not_ok += r.not_ok;
        tot.errors += r.errors;
        fclose(outs[i]);
    }
    for (int i = 0; i < procs; i++) {
        int st;
        waitpid(pids[i], &st, 0);
    }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    double cpu = (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
                 + (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    double sec = tot.t_end > tot.t_start ? (double) (tot.t_end - tot.t_start) / 1e9 : 0;
    qsort(lat, nall, sizeof *lat, cmp_i64);
    qsort(ttfp, nttfp, sizeof *ttfp, cmp_i64);
    double div = sec > 0 ? sec : 1;
    printf("{\"procs\":%d,\"jobs\":%" PRIu64 ",\"tasks\":%" PRIu64 ",\"partials\":%" PRIu64
           ",\"bytes\":%" PRIu64 ",\"not_ok\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"sec\":%.4f,\"jobs_per_sec\":%.1f,\"tasks_per_sec\":%.0f,"
           "\"partials_per_sec\":%.0f,\"mb_per_sec\":%.1f,"
           "\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f,"
           "\"ttfp_p50_us\":%.1f,\"ttfp_p99_us\":%.1f,\"cpu_sec\":%.3f}\n",
           procs, tot.jobs, tot.tasks, tot.partials, tot.bytes, tot.not_ok, tot.errors, sec,
           tot.jobs / div, tot.tasks / div, tot.partials / div, tot.bytes / div / 1e6,
           s_pct(lat, nall, 0.5), s_pct(lat, nall, 0.99), s_pct(lat, nall, 0.999),
           s_pct(lat, nall, 1.0), s_pct(ttfp, nttfp, 0.5), s_pct(ttfp, nttfp, 0.99), cpu);
    return (bad || tot.errors || tot.not_ok) ? 1 : 0;
}
