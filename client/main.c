/*  main.c - braid, the command line client (a thin user of libbraid).

    braid submit [-b EP]... [-s SOURCE]... [-o submit|arrival] [-j N] [--json]
                 [-t MSEC] [-d MSEC] [-r N] [--fail-fast] [-T MSEC] [QUERY...]
    braid stats [-b EP]... [--json] [-T MSEC]
    braid -h | --help | -V | --version

    Exit codes: 0 all ok, 1 some task not ok, 2 usage, 3 broker unreachable
    or refused (or lost), 130 interrupted (the job is cancelled first).
*/

#include "braid.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_SOME_FAILED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_INTERRUPTED 130

#define S_CANCEL_WAIT_MSEC 2000     /* how long to wait for JOB_END after ^C */
#define S_PROGRESS_MSEC 200         /* progress line refresh                  */
#define S_DEFAULT_BROKER "tcp://127.0.0.1:5555"
#define S_MAX_MSEC 604800000UL      /* 7 days: the protocol's bound          */

static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: braid submit [-b EP]... [-s SOURCE]... [-o submit|arrival] [-j N] [--json]\n"
            "                    [-t MSEC] [-d MSEC] [-r N] [--fail-fast] [-T MSEC] [QUERY...]\n"
            "       braid stats [-b EP]... [--json] [-T MSEC]\n"
            "       braid -h | --help | -V | --version\n"
            "  -b, --broker EP       broker frontend (default $BRAID_BROKER or " S_DEFAULT_BROKER
            ");\n"
            "                        repeatable: tried in order until one answers\n"
            "  -s, --source NAME     source to ask (repeatable, at least one; order kept)\n"
            "  -o, --order MODE      submit (default) | arrival\n"
            "  -j, --jobs N          max tasks of this job in flight (0 = no limit, default)\n"
            "  -t, --timeout MSEC    per-task timeout (0 = the source's policy, default)\n"
            "  -d, --deadline MSEC   job deadline, from acceptance (0 = none, default)\n"
            "  -r, --retries N       retry limit for this job's tasks, 0..1000 (overrides the\n"
            "                        sources' policies)\n"
            "      --fail-fast       the first task that fails or times out cancels the rest\n"
            "      --json            submit: one JSON object per line; stats: the broker's JSON\n"
            "  -T, --connect-timeout MSEC\n"
            "                        how long to wait for the broker to answer (default 5000)\n"
            "Queries: the arguments, or (none given) stdin one per line; empty lines skipped.\n"
            "Exit: 0 all ok, 1 some task not ok, 2 usage, 3 broker unreachable or refused,\n"
            "      130 interrupted.\n");
}

/*  ---------------------------------------------------------------------
    Signals: the first SIGINT/SIGTERM asks for a cancel (the library's wait
    returns EINTR); a second one while we wait for the cancel quits now.    */

static volatile sig_atomic_t s_signals = 0;

static void
s_on_signal(int sig)
{
    (void) sig;
    s_signals = s_signals + 1;
    if (s_signals > 1)
        _exit(EXIT_INTERRUPTED);
    zsys_interrupted = 1;
}

/*  ---------------------------------------------------------------------
    Output                                                                  */

/*  Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid.        */
static size_t
s_utf8_len(const uint8_t *p, size_t avail)
{
    uint8_t b = p[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;   /* bounds of the second byte            */
    if (b >= 0xc2 && b <= 0xdf)
        n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        if (b == 0xe0)
            lo = 0xa0;              /* no overlong forms                    */
        else if (b == 0xed)
            hi = 0x9f;              /* no surrogates                        */
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;              /* nothing above U+10FFFF               */
    } else
        return 0;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/*  Write bytes as a JSON string: quotes, backslash and control characters
    escaped; bytes that are not valid UTF-8 written as \u00XX. Runs of bytes
    that need nothing are written with one fwrite (a partial is mostly one
    run), not byte by byte.                                                 */
static void
s_json_string(FILE *out, const void *data, size_t size)
{
    const uint8_t *p = data;
    putc('"', out);
    size_t i = 0, run = 0;     /* p[run .. i) is written as it is           */
    while (i < size) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = s_utf8_len(p + i, size - i);
            if (n) {
                i += n;
                continue;
            }
        }
        if (i > run)
            fwrite(p + run, 1, i - run, out);
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\b': fputs("\\b", out); break;
        case '\f': fputs("\\f", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default: fprintf(out, "\\u%04x", c);     /* a control or invalid byte */
        }
        run = ++i;
    }
    if (i > run)
        fwrite(p + run, 1, i - run, out);
    putc('"', out);
}

/*  Write text for a terminal line: control bytes (other than newline and
    tab when keep_newlines) as \xNN, so a query cannot drive the terminal. */
static void
s_print_text(FILE *out, const void *data, size_t size, bool keep_newlines)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = p[i];
        if ((c < 0x20 && !(keep_newlines && (c == '\n' || c == '\t'))) || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            putc(c, out);
    }
}

typedef struct {
    braid_client_t *client;
    bool json;
    bool progress;          /* a progress line on stderr (a terminal)       */
    bool progress_shown;
    int64_t progress_at;
    uint64_t tasks;         /* queries x sources                            */
    uint64_t ended;
    uint64_t not_ok;
    bool interrupted;
    bool write_failed;
    bool job_ended;
    int job_status;
    int error_code;         /* from an ERROR event, 0 if none               */
} s_run_t;

/*  Flush stdout; a failure (a closed pipe) stops the output for good.    */
static void
s_flush(s_run_t *run)
{
    if (run->write_failed)
        return;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        run->write_failed = true;
        if (errno != EPIPE)
            fprintf(stderr, "braid: stdout: %s\n", strerror(errno));
    }
}

static void
s_progress_clear(s_run_t *run)
{
    if (run->progress_shown) {
        fputs("\r\033[K", stderr);
        run->progress_shown = false;
    }
}

static void
s_progress(s_run_t *run, bool force)
{
    if (!run->progress)
        return;
    int64_t now = zclock_mono();
    if (!force && now - run->progress_at < S_PROGRESS_MSEC)
        return;
    run->progress_at = now;
    fprintf(stderr, "\r\033[Kbraid: %llu/%llu tasks ended, %llu not ok",
            (unsigned long long) run->ended, (unsigned long long) run->tasks,
            (unsigned long long) run->not_ok);
    run->progress_shown = true;
}

static void
s_on_event(s_run_t *run, const braid_event_t *ev)
{
    if (run->write_failed)
        return;
    switch (ev->type) {
    case BRAID_EVENT_PARTIAL:
        if (run->json) {
            printf("{\"type\":\"partial\",\"query\":%u,\"source\":", ev->query);
            s_json_string(stdout, ev->source_name, strlen(ev->source_name));
            printf(",\"seq\":%llu,\"data\":", (unsigned long long) ev->seq);
            s_json_string(stdout, ev->data, ev->size);
            fputs("}\n", stdout);
        } else
            fwrite(ev->data, 1, ev->size, stdout);
        break;
    case BRAID_EVENT_END:
        run->ended++;
        if (ev->status != BRAID_STATUS_OK)
            run->not_ok++;
        if (run->json) {
            printf("{\"type\":\"end\",\"query\":%u,\"source\":", ev->query);
            s_json_string(stdout, ev->source_name, strlen(ev->source_name));
            printf(",\"status\":\"%s\",\"parts\":%llu,\"attempts\":%u,\"error\":",
                   braid_status_name(ev->status), (unsigned long long) ev->parts, ev->attempts);
            s_json_string(stdout, ev->text, strlen(ev->text));
            fputs("}\n", stdout);
        } else if (ev->status != BRAID_STATUS_OK &&
                   !(run->interrupted && ev->status == BRAID_STATUS_CANCELLED)) {
            size_t qlen = 0;
            const void *q = braid_client_query(run->client, ev->query, &qlen);
            size_t elen = strlen(ev->text);
            while (elen && ev->text[elen - 1] == '\n')
                elen--;
            s_flush(run);   /* keep stdout and stderr in stream order */
            s_progress_clear(run);
            fprintf(stderr, "braid: query %u (", ev->query);
            s_print_text(stderr, q ? q : "", q ? qlen : 0, false);
            fprintf(stderr, ") source %s: %s", ev->source_name, braid_status_name(ev->status));
            if (elen) {
                fputs(": ", stderr);
                s_print_text(stderr, ev->text, elen, true);
            }
            fputc('\n', stderr);
        }
        break;
    case BRAID_EVENT_JOB_END:
        run->job_ended = true;
        run->job_status = ev->status;
        if (run->json) {
            printf("{\"type\":\"job\",\"status\":\"%s\",\"sources\":{",
                   braid_status_name(ev->status));
            for (uint32_t i = 0; i < braid_client_source_count(run->client); i++) {
                const char *name = braid_client_source(run->client, i);
                const uint64_t zero[BRAID_STATUS_COUNT] = {0};
                const uint64_t *row = i < ev->nsources ? ev->summary[i] : zero;
                if (i)
                    putchar(',');
                s_json_string(stdout, name, strlen(name));
                printf(":{\"ok\":%llu,\"failed\":%llu,\"timeout\":%llu,\"cancelled\":%llu}",
                       (unsigned long long) row[0], (unsigned long long) row[1],
                       (unsigned long long) row[2], (unsigned long long) row[3]);
            }
            fputs("}}\n", stdout);
        }
        break;
    case BRAID_EVENT_RESTART:
        if (run->json) {
            printf("{\"type\":\"restart\",\"query\":%u,\"source\":", ev->query);
            s_json_string(stdout, ev->source_name, strlen(ev->source_name));
            printf(",\"attempt\":%u}\n", ev->attempts);
        } else {
            size_t qlen = 0;
            const void *q = braid_client_query(run->client, ev->query, &qlen);
            s_flush(run);   /* keep stdout and stderr in stream order */
            s_progress_clear(run);
            fprintf(stderr, "braid: query %u (", ev->query);
            s_print_text(stderr, q ? q : "", q ? qlen : 0, false);
            fprintf(stderr, ") source %s: restarted (attempt %u)\n", ev->source_name,
                    ev->attempts);
        }
        break;
    case BRAID_EVENT_ERROR:
        run->error_code = ev->code;
        s_progress_clear(run);
        if (ev->code >= 1000)
            fprintf(stderr, "braid: %s\n", ev->text);
        else
            fprintf(stderr, "braid: broker error %d: %s\n", ev->code, ev->text);
        break;
    }
    if (ferror(stdout))
        s_flush(run);
}

/*  Ask the broker to cancel; returns the deadline for its JOB_END.         */
static int64_t
s_cancel(s_run_t *run)
{
    zsys_interrupted = 0;
    braid_client_cancel(run->client);
    return zclock_mono() + S_CANCEL_WAIT_MSEC;
}

/*  ---------------------------------------------------------------------
    braid submit                                                            */

static int
s_parse_uint(const char *text, unsigned long max, unsigned long *value)
{
    if (!text || !*text || *text == '-' || *text == '+')
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *value = v;
    return 0;
}

static int
s_usage_error(const char *fmt, const char *arg)
{
    fputs("braid: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    s_usage(stderr);
    return EXIT_USAGE;
}

/*  Add the query, reporting a bad one. 0 or EXIT_USAGE.                    */
static int
s_add_query(braid_job_t *job, const char *data, size_t size)
{
    if (braid_job_add_query(job, data, size) == 0)
        return 0;
    if (errno == EMSGSIZE)
        fprintf(stderr, "braid: query %zu: longer than %d bytes\n", braid_job_query_count(job),
                BRAID_MAX_QUERY_LEN);
    else if (errno == E2BIG)
        fprintf(stderr, "braid: more than %d queries\n", BRAID_MAX_QUERIES);
    else
        fprintf(stderr, "braid: %s\n", strerror(errno));
    return EXIT_USAGE;
}

/*  Add the endpoints of $BRAID_BROKER (separated by commas or blanks).    */
static int
s_add_env_endpoints(braid_client_t *client, const char *env)
{
    char *copy = strdup(env);
    if (!copy)
        return -1;
    int added = 0;
    char *save = NULL;
    for (char *ep = strtok_r(copy, ", \t\n", &save); ep; ep = strtok_r(NULL, ", \t\n", &save))
        if (braid_client_add_endpoint(client, ep) == 0)
            added++;
    free(copy);
    return added;
}

static int
s_submit(int argc, char **argv)
{
    static const struct option options[] = {
        {"broker", required_argument, NULL, 'b'},
        {"source", required_argument, NULL, 's'},
        {"order", required_argument, NULL, 'o'},
        {"jobs", required_argument, NULL, 'j'},
        {"json", no_argument, NULL, 'J'},
        {"connect-timeout", required_argument, NULL, 'T'},
        {"timeout", required_argument, NULL, 't'},
        {"deadline", required_argument, NULL, 'd'},
        {"retries", required_argument, NULL, 'r'},
        {"fail-fast", no_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    s_run_t run = {0};
    braid_job_t *job = braid_job_new();
    braid_client_t *client = braid_client_new();
    int rc = EXIT_USAGE;
    if (!job || !client) {
        fprintf(stderr, "braid: out of memory\n");
        goto done;
    }
    int nendpoints = 0;
    unsigned long value;
    int opt;
    optind = 0;     /* full reinit: permute options and queries (GNU) */
    while ((opt = getopt_long(argc, argv, "b:s:o:j:T:t:d:r:h", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (braid_client_add_endpoint(client, optarg) != 0) {
                rc = s_usage_error("bad broker endpoint '%s'", optarg);
                goto done;
            }
            nendpoints++;
            break;
        case 's':
            if (braid_job_add_source(job, optarg) != 0) {
                rc = s_usage_error(errno == EEXIST  ? "source '%s' given twice"
                                   : errno == E2BIG ? "too many sources at '%s' (at most 32)"
                                                    : "bad source name '%s'",
                                   optarg);
                goto done;
            }
            break;
        case 'o':
            if (strcmp(optarg, "submit") == 0)
                braid_job_set_order(job, BRAID_ORDER_SUBMIT);
            else if (strcmp(optarg, "arrival") == 0)
                braid_job_set_order(job, BRAID_ORDER_ARRIVAL);
            else {
                rc = s_usage_error("bad order '%s' (submit or arrival)", optarg);
                goto done;
            }
            break;
        case 'j':
            if (s_parse_uint(optarg, BRAID_MAX_INFLIGHT, &value) != 0) {
                rc = s_usage_error("bad --jobs '%s' (0..1000000)", optarg);
                goto done;
            }
            braid_job_set_max_inflight(job, (uint32_t) value);
            break;
        case 'J':
            run.json = true;
            break;
        case 't':
            if (s_parse_uint(optarg, S_MAX_MSEC, &value) != 0) {
                rc = s_usage_error("bad --timeout '%s' (msec, 0..604800000)", optarg);
                goto done;
            }
            braid_job_set_timeout(job, (uint32_t) value);
            break;
        case 'd':
            if (s_parse_uint(optarg, S_MAX_MSEC, &value) != 0) {
                rc = s_usage_error("bad --deadline '%s' (msec, 0..604800000)", optarg);
                goto done;
            }
            braid_job_set_deadline(job, (uint32_t) value);
            break;
        case 'r':
            if (s_parse_uint(optarg, BRAID_MAX_RETRIES, &value) != 0) {
                rc = s_usage_error("bad --retries '%s' (0..1000)", optarg);
                goto done;
            }
            braid_job_set_retries(job, (int) value);
            break;
        case 'F':
            braid_job_set_fail_fast(job, true);
            break;
        case 'T':
            if (s_parse_uint(optarg, INT_MAX, &value) != 0 || value == 0) {
                rc = s_usage_error("bad --connect-timeout '%s' (msec, > 0)", optarg);
                goto done;
            }
            braid_client_set_connect_timeout(client, (int) value);
            break;
        case 'h':
            s_usage(stdout);
            rc = 0;
            goto done;
        default:
            s_usage(stderr);
            goto done;
        }
    }
    if (braid_job_source_count(job) == 0) {
        rc = s_usage_error("%s", "at least one source (-s) is required");
        goto done;
    }
    if (nendpoints == 0) {
        const char *env = getenv("BRAID_BROKER");
        if (!env || s_add_env_endpoints(client, env) <= 0)
            braid_client_add_endpoint(client, S_DEFAULT_BROKER);
    }

    /*  Queries: the arguments, or stdin one per line.                      */
    if (optind < argc) {
        for (int i = optind; i < argc; i++)
            if ((rc = s_add_query(job, argv[i], strlen(argv[i]))) != 0)
                goto done;
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        errno = 0;
        while ((len = getline(&line, &cap, stdin)) >= 0) {
            if (len > 0 && line[len - 1] == '\n')
                len--;
            if (len == 0)
                continue;
            if ((rc = s_add_query(job, line, (size_t) len)) != 0) {
                free(line);
                goto done;
            }
        }
        int err = errno;
        free(line);
        if (s_signals) {
            rc = EXIT_INTERRUPTED;
            goto done;
        }
        if (ferror(stdin)) {
            fprintf(stderr, "braid: stdin: %s\n", strerror(err));
            rc = EXIT_USAGE;
            goto done;
        }
    }
    rc = 0;
    size_t nsources = braid_job_source_count(job);
    if (braid_job_query_count(job) == 0) {
        /*  Nothing to ask: a sequential run prints nothing.                */
        if (run.json) {
            printf("{\"type\":\"job\",\"status\":\"ok\",\"sources\":{");
            for (uint32_t i = 0; i < nsources; i++)
                printf("%s\"%s\":{\"ok\":0,\"failed\":0,\"timeout\":0,\"cancelled\":0}",
                       i ? "," : "", braid_job_source(job, i));
            fputs("}}\n", stdout);
        }
        goto done;
    }
    run.client = client;
    run.tasks = (uint64_t) braid_job_query_count(job) * nsources;
    run.progress = !run.json && isatty(STDERR_FILENO) && !isatty(STDOUT_FILENO);

    if (braid_client_submit(client, &job) != 0) {
        if (errno == EINTR || s_signals)
            rc = EXIT_INTERRUPTED;
        else {
            fprintf(stderr, "braid: broker unavailable: %s\n", braid_client_error(client));
            rc = EXIT_UNREACHABLE;
        }
        goto done;
    }

    /*  The stream. Output is buffered, and flushed before every wait.     */
    int64_t deadline = -1;      /* set once the job is being cancelled      */
    while (true) {
        braid_event_t ev;
        int n = braid_client_next(client, &ev, 0);
        if (n == -1 && errno == EAGAIN) {
            s_flush(&run);
            s_progress(&run, false);
            int timeout = -1;
            if (deadline >= 0) {
                int64_t left = deadline - zclock_mono();
                if (left <= 0)
                    break;
                timeout = (int) left;
            }
            n = braid_client_next(client, &ev, timeout);
        }
        if (n == 1) {
            s_on_event(&run, &ev);
            s_progress(&run, false);
        } else if (n == 0)
            break;
        else if (errno == EAGAIN)
            continue;
        else if (errno == EINTR) {
            if (deadline >= 0)
                break;
            run.interrupted = true;
            s_progress_clear(&run);
            fprintf(stderr, "braid: interrupted, cancelling the job\n");
            deadline = s_cancel(&run);
        } else {
            s_progress_clear(&run);
            fprintf(stderr, "braid: %s\n", braid_client_error(client));
            run.error_code = BRAID_CLIENT_ERR_LOST;
            break;
        }
        if (run.write_failed && deadline < 0)
            deadline = s_cancel(&run);
    }
    s_flush(&run);
    s_progress_clear(&run);
    if (run.interrupted) {
        if (!run.job_ended)
            fprintf(stderr, "braid: the broker did not confirm the cancel within %d msec\n",
                    S_CANCEL_WAIT_MSEC);
        rc = EXIT_INTERRUPTED;
    } else if (run.error_code == BRAID_CLIENT_ERR_LOST)
        rc = EXIT_UNREACHABLE;
    else if (run.write_failed || run.error_code || !run.job_ended)
        rc = EXIT_SOME_FAILED;
    else
        rc = run.job_status == 0 && run.not_ok == 0 ? 0 : EXIT_SOME_FAILED;
done:
    braid_job_destroy(&job);
    braid_client_destroy(&client);
    return rc;
}

/*  ---------------------------------------------------------------------
    braid stats                                                             */

/*  A small reader for the broker's stats object, enough to summarise it:
    walk one JSON value, calling back for the members of objects.          */
typedef struct {
    const char *p;
    const char *end;
} s_json_in_t;

static void
s_json_ws(s_json_in_t *in)
{
    while (in->p < in->end && (*in->p == ' ' || *in->p == '\n' || *in->p == '\t' || *in->p == '\r'))
        in->p++;
}

/*  A string's raw text (escapes left as they are). 0 / -1.                 */
static int
s_json_str(s_json_in_t *in, const char **text, size_t *len)
{
    s_json_ws(in);
    if (in->p >= in->end || *in->p != '"')
        return -1;
    const char *start = ++in->p;
    while (in->p < in->end && *in->p != '"')
        in->p += (*in->p == '\\' && in->p + 1 < in->end) ? 2 : 1;
    if (in->p >= in->end)
        return -1;
    *text = start;
    *len = (size_t) (in->p - start);
    in->p++;
    return 0;
}

/*  Skip one value, nesting bounded. 0 / -1.                                */
static int
s_json_skip(s_json_in_t *in, int depth)
{
    s_json_ws(in);
    if (in->p >= in->end || depth > 16)
        return -1;
    const char *t;
    size_t n;
    char c = *in->p;
    if (c == '"')
        return s_json_str(in, &t, &n);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        in->p++;
        s_json_ws(in);
        if (in->p < in->end && *in->p == close) {
            in->p++;
            return 0;
        }
        while (true) {
            if (c == '{') {
                if (s_json_str(in, &t, &n) != 0)
                    return -1;
                s_json_ws(in);
                if (in->p >= in->end || *in->p++ != ':')
                    return -1;
            }
            if (s_json_skip(in, depth + 1) != 0)
                return -1;
            s_json_ws(in);
            if (in->p >= in->end)
                return -1;
            if (*in->p == ',') {
                in->p++;
                continue;
            }
            if (*in->p++ != close)
                return -1;
            return 0;
        }
    }
    const char *start = in->p;
    while (in->p < in->end && strchr(",}] \n\t\r", *in->p) == NULL)
        in->p++;
    return in->p > start ? 0 : -1;
}

/*  Iterate the members of the object at in: fn(key, keylen, value, valuelen,
    arg) for each. 0 / -1 when it is not an object.                         */
static int
s_json_members(s_json_in_t *in,
               void (*fn)(const char *, size_t, const char *, size_t, void *), void *arg)
{
    s_json_ws(in);
    if (in->p >= in->end || *in->p != '{')
        return -1;
    in->p++;
    s_json_ws(in);
    if (in->p < in->end && *in->p == '}') {
        in->p++;
        return 0;
    }
    while (true) {
        const char *key;
        size_t keylen;
        if (s_json_str(in, &key, &keylen) != 0)
            return -1;
        s_json_ws(in);
        if (in->p >= in->end || *in->p++ != ':')
            return -1;
        s_json_ws(in);
        const char *value = in->p;
        if (s_json_skip(in, 1) != 0)
            return -1;
        fn(key, keylen, value, (size_t) (in->p - value), arg);
        s_json_ws(in);
        if (in->p >= in->end)
            return -1;
        if (*in->p == ',') {
            in->p++;
            continue;
        }
        return *in->p++ == '}' ? 0 : -1;
    }
}

typedef struct {
    unsigned long long total;
    int shown;
    FILE *out;
} s_dropped_t;

static void
s_stats_dropped_fn(const char *key, size_t keylen, const char *value, size_t len, void *arg)
{
    s_dropped_t *d = arg;
    unsigned long long n = strtoull(value, NULL, 10);
    (void) len;
    d->total += n;
    if (n) {
        fprintf(d->out, "%s%.*s %llu", d->shown++ ? ", " : " (", (int) keylen, key, n);
    }
}

static void
s_stats_source_fn(const char *key, size_t keylen, const char *value, size_t len, void *arg)
{
    FILE *out = arg;
    fprintf(out, "  source %.*s: ", (int) keylen, key);
    /*  {"queued":N,"running":N}: print its members as "name N".           */
    const char *p = value, *end = value + len;
    bool first = true;
    while (p < end) {
        const char *q = memchr(p, '"', (size_t) (end - p));
        if (!q)
            break;
        const char *qe = memchr(q + 1, '"', (size_t) (end - q - 1));
        if (!qe || qe + 2 > end || qe[1] != ':')
            break;
        fprintf(out, "%s%.*s %llu", first ? "" : ", ", (int) (qe - q - 1), q + 1,
                strtoull(qe + 2, NULL, 10));
        first = false;
        p = qe + 2;
    }
    fputc('\n', out);
}

static void
s_stats_top_fn(const char *key, size_t keylen, const char *value, size_t len, void *arg)
{
    FILE *out = arg;
    s_json_in_t in = {value, value + len};
    if (keylen == 7 && memcmp(key, "sources", 7) == 0 && *value == '{')
        s_json_members(&in, s_stats_source_fn, out);
    else if (keylen == 7 && memcmp(key, "dropped", 7) == 0 && *value == '{') {
        s_dropped_t d = {0, 0, out};
        fputs("  dropped:", out);
        /*  Print the non-zero reasons after the total: collect first.     */
        char *buf = NULL;
        size_t buflen = 0;
        FILE *mem = open_memstream(&buf, &buflen);
        if (mem) {
            d.out = mem;
            s_json_members(&in, s_stats_dropped_fn, &d);
            fclose(mem);
            fprintf(out, " %llu%s%s\n", d.total, buf ? buf : "", d.shown ? ")" : "");
            free(buf);
        } else
            fputc('\n', out);
    } else if (*value != '{' && *value != '[')
        fprintf(out, "  %.*s: %.*s\n", (int) keylen, key, (int) len, value);
}

static int
s_stats(int argc, char **argv)
{
    static const struct option options[] = {
        {"broker", required_argument, NULL, 'b'},
        {"json", no_argument, NULL, 'J'},
        {"connect-timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    braid_client_t *client = braid_client_new();
    if (!client) {
        fprintf(stderr, "braid: out of memory\n");
        return EXIT_USAGE;
    }
    bool json = false;
    int nendpoints = 0;
    int rc = EXIT_USAGE;
    unsigned long value;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "b:T:h", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (braid_client_add_endpoint(client, optarg) != 0) {
                rc = s_usage_error("bad broker endpoint '%s'", optarg);
                goto done;
            }
            nendpoints++;
            break;
        case 'J':
            json = true;
            break;
        case 'T':
            if (s_parse_uint(optarg, INT_MAX, &value) != 0 || value == 0) {
                rc = s_usage_error("bad --connect-timeout '%s' (msec, > 0)", optarg);
                goto done;
            }
            braid_client_set_connect_timeout(client, (int) value);
            break;
        case 'h':
            s_usage(stdout);
            rc = 0;
            goto done;
        default:
            s_usage(stderr);
            goto done;
        }
    }
    if (optind < argc) {
        rc = s_usage_error("unexpected argument '%s'", argv[optind]);
        goto done;
    }
    if (nendpoints == 0) {
        const char *env = getenv("BRAID_BROKER");
        if (!env || s_add_env_endpoints(client, env) <= 0)
            braid_client_add_endpoint(client, S_DEFAULT_BROKER);
    }
    size_t len = 0;
    char *text = braid_client_stats(client, &len);
    if (!text) {
        if (errno == EINTR || s_signals)
            rc = EXIT_INTERRUPTED;
        else {
            fprintf(stderr, "braid: broker unavailable: %s\n", braid_client_error(client));
            rc = EXIT_UNREACHABLE;
        }
        goto done;
    }
    rc = 0;
    if (json) {
        fwrite(text, 1, len, stdout);
        if (len == 0 || text[len - 1] != '\n')
            putchar('\n');
    } else {
        printf("braidd stats:\n");
        s_json_in_t in = {text, text + len};
        if (s_json_members(&in, s_stats_top_fn, stdout) != 0) {
            fprintf(stderr, "braid: the broker's stats are not a JSON object\n");
            rc = EXIT_UNREACHABLE;
        }
    }
    free(text);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "braid: stdout: %s\n", strerror(errno));
        rc = 1;
    }
done:
    braid_client_destroy(&client);
    return rc;
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /*  zsys_init() installs czmq's own SIGINT/SIGTERM handler: replace it. */
    zsys_init();
    zsys_handler_set(s_on_signal);
    signal(SIGPIPE, SIG_IGN);
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    int opt;
    while ((opt = getopt_long(argc, argv, "+hV", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            s_usage(stdout);
            return 0;
        case 'V':
            printf("braid %s\n", braid_version());
            return 0;
        default:
            s_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "braid: a command is required\n");
        s_usage(stderr);
        return EXIT_USAGE;
    }
    const char *command = argv[optind];
    if (strcmp(command, "submit") == 0) {
        static char name[] = "braid submit";   /* getopt's messages say so */
        argv[optind] = name;
        return s_submit(argc - optind, argv + optind);
    }
    if (strcmp(command, "stats") == 0) {
        static char name[] = "braid stats";
        argv[optind] = name;
        return s_stats(argc - optind, argv + optind);
    }
    fprintf(stderr, "braid: unknown command '%s'\n", command);
    s_usage(stderr);
    return EXIT_USAGE;
}
