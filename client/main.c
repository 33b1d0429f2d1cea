/*  main.c - braid, the command line client (a thin user of libbraid).

    braid submit [-b EP]... [-s SOURCE]... [-o submit|arrival] [-j N] [--json]
                 [-t MSEC] [-d MSEC] [-r N] [--fail-fast] [-T MSEC] [QUERY...]
    braid stats [-b EP]... [--json] [-T MSEC]
    braid -h | --help | -V | --version

    Exit codes: 0 all ok, 1 some task not ok, 2 usage, 3 broker unreachable
    or refused (or lost), 130 interrupted (the job is cancelled first).
    What goes to stdout and stderr is render.c's.
*/

#include "braid.h"
#include "braid_msg.h"      /* the protocol's limits, for the messages     */
#include "braid_num.h"
#include "render.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  What a command comes to: the exit code, or S_GO_ON while it is not
    decided yet.                                                            */
typedef enum {
    S_GO_ON = -1,
    S_EXIT_OK = 0,
    S_EXIT_SOME_FAILED = 1,
    S_EXIT_USAGE = 2,
    S_EXIT_UNREACHABLE = 3,
    S_EXIT_INTERRUPTED = 130
} s_exit_t;

#define S_CANCEL_WAIT_MSEC 2000     /* how long to wait for JOB_END after ^C */
#define S_DEFAULT_BROKER "tcp://127.0.0.1:5555"

/*  The usage text, to out.                                                 */
static void
s_usage(FILE *out)
{
    fprintf(out,
            "usage: braid submit [-b EP]... [-s SOURCE]... [-o submit|arrival|key] [-j N]\n"
            "                    [--json] [-t MSEC] [-d MSEC] [-r N] [--fail-fast] [-T MSEC]\n"
            "                    [QUERY...]\n"
            "       braid stats [-b EP]... [--json] [-T MSEC]\n"
            "       braid -h | --help | -V | --version\n"
            "  -b, --broker EP       broker frontend (default $BRAID_BROKER or " S_DEFAULT_BROKER
            ");\n"
            "                        repeatable: tried in order until one answers\n"
            "  -s, --source NAME     source to ask (repeatable, at least one; order kept)\n"
            "  -o, --order MODE      submit (default) | arrival | key (each query's sources\n"
            "                        merged by score, duplicates dropped)\n"
            "  -j, --jobs N          max tasks of this job in flight (0 = no limit, default)\n"
            "  -t, --timeout MSEC    per-task timeout (0 = the source's policy, default)\n"
            "  -d, --deadline MSEC   job deadline, from acceptance (0 = none, default)\n"
            "  -r, --retries N       retry limit for this job's tasks, 0..%d (overrides the\n"
            "                        sources' policies)\n"
            "      --fail-fast       the first task that fails or times out cancels the rest\n"
            "      --json            submit: one JSON object per line; stats: the broker's JSON\n"
            "  -T, --connect-timeout MSEC\n"
            "                        how long to wait for the broker to answer (default %d)\n"
            "Queries: the arguments, or (none given) stdin one per line; empty lines skipped.\n"
            "Exit: 0 all ok, 1 some task not ok, 2 usage, 3 broker unreachable or refused,\n"
            "      130 interrupted.\n",
            BRAID_MAX_RETRIES, BRAID_CLIENT_CONNECT_TIMEOUT);
}

/*  "braid: " and the message on stderr, then the usage. S_EXIT_USAGE.      */
static s_exit_t
s_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static s_exit_t
s_usage_error(const char *fmt, ...)
{
    fputs("braid: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    s_usage(stderr);
    return S_EXIT_USAGE;
}

/*  ---------------------------------------------------------------------
    Signals: the first SIGINT/SIGTERM asks for a cancel (the library's wait
    returns interrupted); a second one while we wait for the cancel quits
    now.                                                                    */

static volatile sig_atomic_t s_signals = 0;

/*  SIGINT, SIGTERM (installed through czmq, which calls it).              */
static void
s_on_signal(int sig)
{
    (void) sig;
    s_signals = s_signals + 1;
    if (s_signals > 1)
        _exit(S_EXIT_INTERRUPTED);
    zsys_interrupted = 1;
}

/*  ---------------------------------------------------------------------
    What submit and stats share: where the broker is, how long to wait    */

/*  Handle -b and -T for client. S_GO_ON, or S_EXIT_USAGE after saying why.
    *nendpoints_p counts the endpoints given.                               */
static s_exit_t
s_broker_option(braid_client_t *client, int opt, const char *arg, int *nendpoints_p)
{
    uint32_t msec;
    switch (opt) {
    case 'b':
        if (braid_client_add_endpoint(client, arg) != 0)
            return s_usage_error("bad broker endpoint '%s'", arg);
        (*nendpoints_p)++;
        return S_GO_ON;
    default:    /* 'T' */
        if (braid_parse_u32(arg, 1, INT_MAX, &msec) != 0)
            return s_usage_error("bad --connect-timeout '%s' (msec, > 0)", arg);
        braid_client_set_connect_timeout(client, (int) msec);
        return S_GO_ON;
    }
}

/*  With no -b: the endpoints of $BRAID_BROKER (separated by commas or
    blanks), or else the default one.                                       */
static void
s_default_endpoints(braid_client_t *client, int nendpoints)
{
    if (nendpoints > 0)
        return;
    int added = 0;
    const char *env = getenv("BRAID_BROKER");
    char *copy = env ? strdup(env) : NULL;
    char *save = NULL;
    for (char *ep = copy ? strtok_r(copy, ", \t\n", &save) : NULL; ep;
         ep = strtok_r(NULL, ", \t\n", &save))
        if (braid_client_add_endpoint(client, ep) == 0)
            added++;
    free(copy);
    if (added == 0)
        braid_client_add_endpoint(client, S_DEFAULT_BROKER);
}

/*  The exit code when a call to the brokers did not come to OK.            */
static s_exit_t
s_unanswered(braid_client_t *client, braid_reply_t reply)
{
    if (reply == BRAID_REPLY_INTERRUPTED || s_signals)
        return S_EXIT_INTERRUPTED;
    fprintf(stderr, "braid: broker unavailable: %s\n", braid_client_error(client));
    return S_EXIT_UNREACHABLE;
}

/*  ---------------------------------------------------------------------
    braid submit                                                            */

typedef struct {
    braid_request_t *request;   /* what to ask, until submitted             */
    braid_client_t *client;
    braid_render_t *render;
    bool json;
    bool interrupted;           /* the user stopped it: the job is cancelled */
    bool lost;                  /* the library failed: the broker is lost   */
    int64_t cancel_deadline;    /* for the JOB_END after a cancel, or -1    */
} s_submit_t;

/*  Parse submit's options into sub. S_GO_ON, or the exit code.             */
static s_exit_t
s_submit_options(s_submit_t *sub, int argc, char **argv)
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
    braid_request_t *request = sub->request;
    int nendpoints = 0;
    uint32_t value;
    int opt;
    s_exit_t rc;
    optind = 0;     /* full reinit: permute options and queries (GNU) */
    while ((opt = getopt_long(argc, argv, "b:s:o:j:T:t:d:r:h", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
        case 'T':
            if ((rc = s_broker_option(sub->client, opt, optarg, &nendpoints)) != S_GO_ON)
                return rc;
            break;
        case 's':
            switch (braid_request_add_source(request, optarg)) {
            case BRAID_ADD_OK:
                break;
            case BRAID_ADD_DUPLICATE:
                return s_usage_error("source '%s' given twice", optarg);
            case BRAID_ADD_TOO_MANY:
                return s_usage_error("too many sources at '%s' (at most %d)", optarg,
                                     BRAID_MAX_SOURCES);
            default:
                return s_usage_error("bad source name '%s'", optarg);
            }
            break;
        case 'o':
            if (strcmp(optarg, "submit") == 0)
                braid_request_set_order(request, BRAID_ORDERING_SUBMIT);
            else if (strcmp(optarg, "arrival") == 0)
                braid_request_set_order(request, BRAID_ORDERING_ARRIVAL);
            else if (strcmp(optarg, "key") == 0)
                braid_request_set_order(request, BRAID_ORDERING_KEY);
            else
                return s_usage_error("bad order '%s' (submit, arrival or key)", optarg);
            break;
        case 'j':
            if (braid_parse_u32(optarg, 0, BRAID_MAX_INFLIGHT, &value) != 0)
                return s_usage_error("bad --jobs '%s' (0..%d)", optarg, BRAID_MAX_INFLIGHT);
            braid_request_set_max_inflight(request, value);
            break;
        case 'J':
            sub->json = true;
            break;
        case 't':
            if (braid_parse_u32(optarg, 0, BRAID_MAX_MSEC, &value) != 0)
                return s_usage_error("bad --timeout '%s' (msec, 0..%u)", optarg, BRAID_MAX_MSEC);
            braid_request_set_timeout(request, value);
            break;
        case 'd':
            if (braid_parse_u32(optarg, 0, BRAID_MAX_MSEC, &value) != 0)
                return s_usage_error("bad --deadline '%s' (msec, 0..%u)", optarg, BRAID_MAX_MSEC);
            braid_request_set_deadline(request, value);
            break;
        case 'r':
            if (braid_parse_u32(optarg, 0, BRAID_MAX_RETRIES, &value) != 0)
                return s_usage_error("bad --retries '%s' (0..%d)", optarg, BRAID_MAX_RETRIES);
            braid_request_set_retries(request, (int) value);
            break;
        case 'F':
            braid_request_set_fail_fast(request, true);
            break;
        case 'h':
            s_usage(stdout);
            return S_EXIT_OK;
        default:
            s_usage(stderr);
            return S_EXIT_USAGE;
        }
    }
    if (braid_request_source_count(request) == 0)
        return s_usage_error("%s", "at least one source (-s) is required");
    s_default_endpoints(sub->client, nendpoints);
    return S_GO_ON;
}

/*  Add the query, reporting a bad one. S_GO_ON or S_EXIT_USAGE.            */
static s_exit_t
s_add_query(braid_request_t *request, const char *data, size_t size)
{
    switch (braid_request_add_query(request, data, size)) {
    case BRAID_ADD_OK:
        return S_GO_ON;
    case BRAID_ADD_TOO_LONG:
        fprintf(stderr, "braid: query %zu: longer than %d bytes\n",
                braid_request_query_count(request), BRAID_MAX_QUERY_LEN);
        break;
    case BRAID_ADD_TOO_MANY:
        fprintf(stderr, "braid: more than %d queries\n", BRAID_MAX_QUERIES);
        break;
    default:
        fprintf(stderr, "braid: %s\n", strerror(errno));
        break;
    }
    return S_EXIT_USAGE;
}

/*  The queries: the arguments left, or stdin one per line (empty lines
    skipped). S_GO_ON, or the exit code.                                   */
static s_exit_t
s_read_queries(braid_request_t *request, int argc, char **argv)
{
    s_exit_t rc = S_GO_ON;
    if (argc > 0) {
        for (int i = 0; i < argc && rc == S_GO_ON; i++)
            rc = s_add_query(request, argv[i], strlen(argv[i]));
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    errno = 0;
    while (rc == S_GO_ON && (len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > 0)
            rc = s_add_query(request, line, (size_t) len);
    }
    int err = errno;
    free(line);
    if (rc != S_GO_ON)
        return rc;
    if (s_signals)
        return S_EXIT_INTERRUPTED;
    if (ferror(stdin)) {
        fprintf(stderr, "braid: stdin: %s\n", strerror(err));
        return S_EXIT_USAGE;
    }
    return S_GO_ON;
}

/*  A job with no query: a sequential run prints nothing (but the job line
    in JSON).                                                               */
static void
s_empty_job(s_submit_t *sub)
{
    const char *names[BRAID_MAX_SOURCES];
    braid_event_t ev = {.type = BRAID_EVENT_JOB_END, .status = BRAID_END_OK, .text = "",
                        .source_name = "", .source_names = names};
    for (size_t i = 0; i < braid_request_source_count(sub->request); i++)
        names[ev.nsources++] = braid_request_source(sub->request, i);
    braid_render_event(sub->render, &ev);
}

/*  Ask the broker to cancel; its JOB_END is awaited until a deadline.      */
static void
s_cancel(s_submit_t *sub)
{
    zsys_interrupted = 0;
    braid_client_cancel(sub->client);
    sub->cancel_deadline = zclock_mono() + S_CANCEL_WAIT_MSEC;
}

/*  The next event: what is there already, else (the output flushed first,
    so a reader sees what came) wait for one, or for the cancel deadline.  */
static braid_next_t
s_next(s_submit_t *sub, braid_event_t *ev)
{
    braid_next_t next = braid_client_next(sub->client, ev, 0);
    if (next != BRAID_NEXT_TIMEOUT)
        return next;
    braid_render_flush(sub->render);
    braid_render_progress(sub->render, false);
    int timeout = -1;
    if (sub->cancel_deadline >= 0) {
        int64_t left = sub->cancel_deadline - zclock_mono();
        if (left <= 0)
            return BRAID_NEXT_OVER;
        timeout = (int) left;
    }
    return braid_client_next(sub->client, ev, timeout);
}

/*  Write the job's stream until its last event, a cancel that is not
    confirmed in time, or a failure.                                        */
static void
s_stream(s_submit_t *sub)
{
    sub->cancel_deadline = -1;
    while (true) {
        braid_event_t ev;
        switch (s_next(sub, &ev)) {
        case BRAID_NEXT_EVENT:
            braid_render_event(sub->render, &ev);
            braid_render_progress(sub->render, false);
            break;
        case BRAID_NEXT_OVER:
            return;
        case BRAID_NEXT_TIMEOUT:
            continue;
        case BRAID_NEXT_INTERRUPTED:
            if (sub->cancel_deadline >= 0)
                return;
            sub->interrupted = true;
            braid_render_set_cancelling(sub->render);
            braid_render_progress_clear(sub->render);
            fprintf(stderr, "braid: interrupted, cancelling the job\n");
            s_cancel(sub);
            break;
        case BRAID_NEXT_FAILED:
            braid_render_progress_clear(sub->render);
            fprintf(stderr, "braid: %s\n", braid_client_error(sub->client));
            sub->lost = true;
            return;
        }
        if (braid_render_tally(sub->render)->write_failed && sub->cancel_deadline < 0)
            s_cancel(sub);
    }
}

/*  What the stream came to.                                                */
static s_exit_t
s_stream_exit(s_submit_t *sub)
{
    braid_render_flush(sub->render);
    braid_render_progress_clear(sub->render);
    const braid_render_tally_t *tally = braid_render_tally(sub->render);
    if (sub->interrupted) {
        if (!tally->job_ended)
            fprintf(stderr, "braid: the broker did not confirm the cancel within %d msec\n",
                    S_CANCEL_WAIT_MSEC);
        return S_EXIT_INTERRUPTED;
    }
    if (sub->lost || tally->error_code == BRAID_CLIENT_ERR_LOST)
        return S_EXIT_UNREACHABLE;
    if (tally->write_failed || tally->error_code || !tally->job_ended)
        return S_EXIT_SOME_FAILED;
    return tally->job_status == BRAID_END_OK && tally->not_ok == 0 ? S_EXIT_OK
                                                                   : S_EXIT_SOME_FAILED;
}

/*  Submit the request and write its stream.                                */
static s_exit_t
s_run(s_submit_t *sub)
{
    size_t nqueries = braid_request_query_count(sub->request);
    if (nqueries == 0) {
        s_empty_job(sub);
        return S_EXIT_OK;
    }
    if (!sub->json && isatty(STDERR_FILENO) && !isatty(STDOUT_FILENO))
        braid_render_set_progress(sub->render,
                                  nqueries * braid_request_source_count(sub->request));
    braid_reply_t reply = braid_client_submit(sub->client, &sub->request);
    if (reply != BRAID_REPLY_OK)
        return s_unanswered(sub->client, reply);
    s_stream(sub);
    return s_stream_exit(sub);
}

/*  braid submit: options, queries, then the job's stream.                  */
static s_exit_t
s_submit(int argc, char **argv)
{
    s_submit_t sub = {.request = braid_request_new(), .client = braid_client_new()};
    s_exit_t rc = S_EXIT_USAGE;
    if (!sub.request || !sub.client) {
        fprintf(stderr, "braid: out of memory\n");
        goto done;
    }
    if ((rc = s_submit_options(&sub, argc, argv)) != S_GO_ON)
        goto done;
    if ((rc = s_read_queries(sub.request, argc - optind, argv + optind)) != S_GO_ON)
        goto done;
    sub.render = braid_render_new(stdout, stderr, sub.json ? BRAID_RENDER_JSON : BRAID_RENDER_TEXT);
    if (!sub.render) {
        fprintf(stderr, "braid: out of memory\n");
        rc = S_EXIT_USAGE;
        goto done;
    }
    rc = s_run(&sub);
done:
    braid_render_destroy(&sub.render);
    braid_request_destroy(&sub.request);
    braid_client_destroy(&sub.client);
    return rc;
}

/*  ---------------------------------------------------------------------
    braid stats                                                             */

/*  braid stats: the broker's stats as JSON, or summarised.                 */
static s_exit_t
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
        return S_EXIT_USAGE;
    }
    bool json = false;
    int nendpoints = 0;
    s_exit_t rc = S_GO_ON;
    int opt;
    optind = 0;
    while (rc == S_GO_ON && (opt = getopt_long(argc, argv, "b:T:h", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
        case 'T':
            rc = s_broker_option(client, opt, optarg, &nendpoints);
            break;
        case 'J':
            json = true;
            break;
        case 'h':
            s_usage(stdout);
            rc = S_EXIT_OK;
            break;
        default:
            s_usage(stderr);
            rc = S_EXIT_USAGE;
            break;
        }
    }
    if (rc == S_GO_ON && optind < argc)
        rc = s_usage_error("unexpected argument '%s'", argv[optind]);
    if (rc != S_GO_ON)
        goto done;
    s_default_endpoints(client, nendpoints);
    char *text = NULL;
    size_t len = 0;
    braid_reply_t reply = braid_client_stats(client, &text, &len);
    if (reply != BRAID_REPLY_OK) {
        rc = s_unanswered(client, reply);
        goto done;
    }
    rc = S_EXIT_OK;
    if (json) {
        fwrite(text, 1, len, stdout);
        if (len == 0 || text[len - 1] != '\n')
            putchar('\n');
    } else if (braid_render_stats(stdout, text, len) != 0) {
        fprintf(stderr, "braid: the broker's stats are not a JSON object\n");
        rc = S_EXIT_UNREACHABLE;
    }
    free(text);
    if (fflush(stdout) != 0 && rc == S_EXIT_OK) {
        fprintf(stderr, "braid: stdout: %s\n", strerror(errno));
        rc = S_EXIT_SOME_FAILED;
    }
done:
    braid_client_destroy(&client);
    return rc;
}

/*  braid COMMAND ...: the signals, stdout's buffer, the command.           */
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
            return S_EXIT_OK;
        case 'V':
            printf("braid %s\n", braid_version());
            return S_EXIT_OK;
        default:
            s_usage(stderr);
            return S_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "braid: a command is required\n");
        s_usage(stderr);
        return S_EXIT_USAGE;
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
    return S_EXIT_USAGE;
}
