/*  main.c - braid, the command line client (a thin user of libbraid): the
    commands' dispatch, and braid submit.

    braid submit [OPTION]... [QUERY]...
    braid stats | workers | jobs [-b EP]... [-T TIME] [--json]
    braid -h | --help | -V | --version

    Exit codes (cli.h): 0 all ok, 1 some task not ok, 2 usage, 3 broker
    unreachable (or lost) or the job refused, 130 interrupted, 141 stdout
    closed (the job is cancelled first in both).

    braid submit reads its queries into a plan (plan.h); with --resume or
    --resume-failed the job log (joblog.h) marks what is done, and what is
    left runs as one job per set of sources left (one job when nothing is
    marked). What goes to stdout and stderr is render.c's.
*/

#include "braid.h"
#include "braid_msg.h"      /* the protocol's limits, for the messages     */
#include "braid_num.h"
#include "cli.h"
#include "joblog.h"
#include "plan.h"
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

#define S_CANCEL_WAIT_MSEC 2000     /* how long to wait for JOB_END after ^C */
#define S_WAKE_MSEC 250             /* while waiting, look up this often:
                                       the progress line, a closed stdout   */

/*  Long options without a letter.                                          */
enum {
    S_OPT_TAG = 256,
    S_OPT_JOBLOG,
    S_OPT_RESUME,
    S_OPT_RESUME_FAILED,
    S_OPT_PROGRESS,
    S_OPT_NO_PROGRESS
};

/*  Which job log lines mark a (query, source) done.                        */
typedef enum {
    S_RESUME_NONE = 0,
    S_RESUME_ALL,               /* --resume: any line                       */
    S_RESUME_FAILED             /* --resume-failed: a line that says ok     */
} s_resume_t;

/*  The usage of every command, to out.                                     */
static void
s_usage(FILE *out)
{
    braid_cli_submit_usage(out);
    braid_cli_inspect_usage(out, NULL);
    fputs("usage: braid keygen NAME\n", out);
    fputs("usage: braid -h | --help | -V | --version\n", out);
}

void
braid_cli_submit_usage(FILE *out)
{
    fputs("usage: braid submit [OPTION]... [QUERY]...\n"
          "Ask the sources for each query (the arguments, or stdin one per line) and\n"
          "write the answers to stdout, in order.\n",
          out);
    braid_cli_broker_usage(out);
    fprintf(out,
            "  -s, --source NAME       source to ask (repeatable, at least one; order kept)\n"
            "  -o, --order MODE        submit (default) | arrival | key (each query's\n"
            "                          sources merged by score, repeated results dropped)\n"
            "  -j, --jobs N            max tasks of this job in flight (0, default: no limit)\n"
            "  -t, --timeout TIME      per-task timeout (0 = the source's policy, default)\n"
            "  -d, --deadline TIME     job deadline, from acceptance (0 = none, default)\n"
            "  -r, --retries N         retry limit for this job's tasks, 0..%d (overrides\n"
            "                          the sources' policies)\n"
            "      --fail-fast         the first task that fails or times out cancels the\n"
            "                          rest\n"
            "      --json              one JSON object per event and line\n"
            "      --tag               start each output line with its query and a tab (and\n"
            "                          its source and a tab when several are asked)\n"
            "      --joblog FILE       a line per (query, source) to FILE as each ends\n"
            "      --resume            with --joblog: skip what FILE has a line for, append\n"
            "      --resume-failed     with --joblog: skip what FILE says ended ok, append\n"
            "      --progress          a progress line on stderr (default: when stderr is a\n"
            "                          terminal)\n"
            "      --no-progress       no progress line\n"
            "TIME: msec, or a number with a unit: 500ms, 5s, 1.5s, 2m.\n"
            "Queries on stdin: one per line, empty lines skipped but counted: \"query\" in\n"
            "--json and Seq in the job log are the line's number from 0 (for queries\n"
            "given as arguments, the argument's index).\n"
            "Exit: 0 all ok, 1 some task not ok, 2 usage, 3 broker unreachable or job\n"
            "      refused, 130 interrupted, 141 stdout closed (the job is cancelled).\n",
            BRAID_MAX_RETRIES);
}

/*  A usage error of braid submit: one line. BRAID_EXIT_USAGE.              */
static braid_exit_t
s_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static braid_exit_t
s_usage_error(const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return braid_cli_usage_error("submit", "%s", text);
}

/*  ---------------------------------------------------------------------
    braid submit                                                            */

typedef struct {
    braid_request_t *request;   /* options and sources, until the plan
                                   takes it                                 */
    braid_plan_t *plan;
    braid_client_t *client;
    braid_render_t *render;
    braid_joblog_t *joblog;
    const char *joblog_path;
    s_resume_t resume;
    int progress;               /* 1 on, 0 off, -1 when stderr is a tty     */
    bool show_progress;         /* ... what that came to                    */
    bool tag;
    bool json;
    bool fail_fast;
    size_t nsources;
    const uint32_t *numbers;    /* the running job's query numbers          */
    bool interrupted;           /* the user stopped it: the job is cancelled */
    bool lost;                  /* the library failed: the broker is lost   */
    bool joblog_failed;         /* the job log could not be written         */
    int64_t cancel_deadline;    /* for the JOB_END after a cancel, or -1    */
} s_submit_t;

/*  A TIME option's value into *msec_p. BRAID_EXIT_GO_ON, or the error.     */
static braid_exit_t
s_time_option(const char *name, const char *arg, uint32_t *msec_p)
{
    if (braid_parse_msec(arg, 0, BRAID_MAX_MSEC, msec_p) != 0)
        return s_usage_error("bad --%s '%s' (TIME: 500ms, 5s, 2m; at most %um)", name, arg,
                             BRAID_MAX_MSEC / 60000);
    return BRAID_EXIT_GO_ON;
}

/*  What the options say together. BRAID_EXIT_GO_ON, or the error.         */
static braid_exit_t
s_check_options(s_submit_t *sub)
{
    if (braid_request_source_count(sub->request) == 0)
        return s_usage_error("%s", "at least one source (-s) is required");
    if (sub->resume && !sub->joblog_path)
        return s_usage_error("%s", "--resume and --resume-failed read the --joblog FILE");
    if (sub->tag && sub->json)
        return s_usage_error("%s", "--tag is for text output (--json records carry the query)");
    return BRAID_EXIT_GO_ON;
}

/*  Parse submit's options into sub. BRAID_EXIT_GO_ON, or the exit code.    */
static braid_exit_t
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
        {"tag", no_argument, NULL, S_OPT_TAG},
        BRAID_CLI_CURVE_OPTIONS,
        {"joblog", required_argument, NULL, S_OPT_JOBLOG},
        {"resume", no_argument, NULL, S_OPT_RESUME},
        {"resume-failed", no_argument, NULL, S_OPT_RESUME_FAILED},
        {"progress", no_argument, NULL, S_OPT_PROGRESS},
        {"no-progress", no_argument, NULL, S_OPT_NO_PROGRESS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    braid_request_t *request = sub->request;
    int nendpoints = 0;
    uint32_t value;
    int opt;
    braid_exit_t rc;
    optind = 0;     /* full reinit: permute options and queries (GNU) */
    opterr = 0;     /* our own one-line messages                       */
    while ((opt = getopt_long(argc, argv, ":b:s:o:j:T:t:d:r:h", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
        case 'T':
        case BRAID_CLI_OPT_KEY:
        case BRAID_CLI_OPT_BROKER_KEY:
        case BRAID_CLI_OPT_LIVENESS:
            rc = braid_cli_broker_option("submit", sub->client, opt, optarg, &nendpoints);
            if (rc != BRAID_EXIT_GO_ON)
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
            if ((rc = s_time_option("timeout", optarg, &value)) != BRAID_EXIT_GO_ON)
                return rc;
            braid_request_set_timeout(request, value);
            break;
        case 'd':
            if ((rc = s_time_option("deadline", optarg, &value)) != BRAID_EXIT_GO_ON)
                return rc;
            braid_request_set_deadline(request, value);
            break;
        case 'r':
            if (braid_parse_u32(optarg, 0, BRAID_MAX_RETRIES, &value) != 0)
                return s_usage_error("bad --retries '%s' (0..%d)", optarg, BRAID_MAX_RETRIES);
            braid_request_set_retries(request, (int) value);
            break;
        case 'F':
            braid_request_set_fail_fast(request, true);
            sub->fail_fast = true;
            break;
        case S_OPT_TAG:
            sub->tag = true;
            break;
        case S_OPT_JOBLOG:
            if (!*optarg)
                return s_usage_error("%s", "--joblog needs a file name");
            sub->joblog_path = optarg;
            break;
        case S_OPT_RESUME:
        case S_OPT_RESUME_FAILED: {
            s_resume_t resume = opt == S_OPT_RESUME ? S_RESUME_ALL : S_RESUME_FAILED;
            if (sub->resume && sub->resume != resume)
                return s_usage_error("%s", "--resume or --resume-failed: one of them");
            sub->resume = resume;
            break;
        }
        case S_OPT_PROGRESS:
        case S_OPT_NO_PROGRESS:
            sub->progress = opt == S_OPT_PROGRESS;
            break;
        case 'h':
            braid_cli_submit_usage(stdout);
            return BRAID_EXIT_OK;
        default:
            return braid_cli_bad_option("submit", opt, argc, argv);
        }
    }
    if ((rc = s_check_options(sub)) != BRAID_EXIT_GO_ON)
        return rc;
    sub->nsources = braid_request_source_count(request);
    braid_cli_default_endpoints(sub->client, nendpoints);
    return braid_cli_curve("submit", sub->client);
}

/*  Add the query numbered number, reporting a bad one. BRAID_EXIT_GO_ON or
    BRAID_EXIT_USAGE.                                                       */
static braid_exit_t
s_add_query(braid_plan_t *plan, uint32_t number, const char *data, size_t size)
{
    switch (braid_plan_add(plan, number, data, size)) {
    case BRAID_ADD_OK:
        return BRAID_EXIT_GO_ON;
    case BRAID_ADD_TOO_LONG:
        fprintf(stderr, "braid: query %u: longer than %d bytes\n", number, BRAID_MAX_QUERY_LEN);
        break;
    case BRAID_ADD_TOO_MANY:
        fprintf(stderr, "braid: more than %d queries\n", BRAID_MAX_QUERIES);
        break;
    default:
        fprintf(stderr, "braid: %s\n", strerror(errno));
        break;
    }
    return BRAID_EXIT_USAGE;
}

/*  The queries: the arguments left (numbered by their index), or stdin one
    per line (numbered by their line from 0; empty lines skipped).
    BRAID_EXIT_GO_ON, or the exit code.                                     */
static braid_exit_t
s_read_queries(braid_plan_t *plan, int argc, char **argv)
{
    braid_exit_t rc = BRAID_EXIT_GO_ON;
    if (argc > 0) {
        for (int i = 0; i < argc && rc == BRAID_EXIT_GO_ON; i++)
            rc = s_add_query(plan, (uint32_t) i, argv[i], strlen(argv[i]));
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t number = 0;
    errno = 0;
    while (rc == BRAID_EXIT_GO_ON && (len = getline(&line, &cap, stdin)) >= 0) {
        if (number > UINT32_MAX) {
            fprintf(stderr, "braid: stdin: more than %u lines\n", UINT32_MAX);
            rc = BRAID_EXIT_USAGE;
            break;
        }
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > 0)
            rc = s_add_query(plan, (uint32_t) number, line, (size_t) len);
        number++;
    }
    int err = errno;
    free(line);
    if (rc != BRAID_EXIT_GO_ON)
        return rc;
    if (braid_cli_signals())
        return BRAID_EXIT_INTERRUPTED;
    if (ferror(stdin)) {
        fprintf(stderr, "braid: stdin: %s\n", strerror(err));
        return BRAID_EXIT_USAGE;
    }
    return BRAID_EXIT_GO_ON;
}

/*  A job log line read back: its (query, source) done or to run again.    */
static int
s_on_logged(const braid_joblog_entry_t *entry, void *arg, char *error, size_t error_size)
{
    s_submit_t *sub = arg;
    bool skip = sub->resume == S_RESUME_ALL || entry->status == BRAID_END_OK;
    if (braid_plan_mark(sub->plan, entry->seq, entry->source, entry->query, entry->query_size,
                        skip) != BRAID_PLAN_MISMATCH)
        return 0;
    snprintf(error, error_size, "%s:%zu: query %u is not the input's (a job log of another input?)",
             sub->joblog_path, entry->line, entry->seq);
    return -1;
}

/*  The job log: read back for a resume, then opened to write (appended
    to on a resume). BRAID_EXIT_GO_ON, or the exit code.                    */
static braid_exit_t
s_open_joblog(s_submit_t *sub)
{
    if (!sub->joblog_path)
        return BRAID_EXIT_GO_ON;
    char error[1024];
    if (sub->resume && braid_joblog_read(sub->joblog_path, s_on_logged, sub, error,
                                         sizeof error) != 0) {
        fprintf(stderr, "braid: --joblog: %s\n", error);
        return BRAID_EXIT_USAGE;
    }
    if (!(sub->joblog = braid_joblog_open(sub->joblog_path, sub->resume != S_RESUME_NONE))) {
        fprintf(stderr, "braid: --joblog: %s: %s\n", sub->joblog_path, strerror(errno));
        return BRAID_EXIT_USAGE;
    }
    return BRAID_EXIT_GO_ON;
}

/*  Nothing to run: a sequential run prints nothing (but the job line in
    JSON, with the sources given).                                          */
static void
s_empty_job(s_submit_t *sub)
{
    const char *names[BRAID_MAX_SOURCES];
    braid_event_t ev = {.type = BRAID_EVENT_JOB_END, .status = BRAID_END_OK, .text = "",
                        .source_name = "", .worker = "", .source_names = names};
    for (const char *name; (name = braid_plan_source(sub->plan, ev.nsources));)
        names[ev.nsources++] = name;
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
    so a reader sees what came) wait a while for one: the progress line is
    redrawn and a closed stdout noticed at least every S_WAKE_MSEC.        */
static braid_next_t
s_next(s_submit_t *sub, braid_event_t *ev)
{
    braid_next_t next = braid_client_next(sub->client, ev, 0);
    if (next != BRAID_NEXT_TIMEOUT)
        return next;
    braid_render_flush(sub->render);
    braid_render_check_out(sub->render);
    braid_render_progress(sub->render, zclock_mono(), false);
    int timeout = S_WAKE_MSEC;
    if (sub->cancel_deadline >= 0) {
        int64_t left = sub->cancel_deadline - zclock_mono();
        if (left <= 0)
            return BRAID_NEXT_OVER;
        if (left < timeout)
            timeout = (int) left;
    }
    return braid_client_next(sub->client, ev, timeout);
}

/*  The event goes to the job log; a failure to write it cancels the job.
    A task is logged once its output is out (flushed): a task whose output
    is lost (stdout failed) is not, so a resumed run runs it again.        */
static void
s_log_event(s_submit_t *sub, const braid_event_t *ev)
{
    if (!sub->joblog || sub->joblog_failed)
        return;
    if (ev->type == BRAID_EVENT_END)
        braid_render_flush(sub->render);
    if (braid_render_tally(sub->render)->write_failed)
        return;
    uint32_t number = ev->type == BRAID_EVENT_JOB_END || ev->type == BRAID_EVENT_ERROR
                          ? 0
                          : sub->numbers[ev->query];
    if (braid_joblog_event(sub->joblog, ev, number) == 0)
        return;
    braid_render_progress_clear(sub->render);
    fprintf(stderr, "braid: --joblog: %s: %s\n", sub->joblog_path, strerror(errno));
    sub->joblog_failed = true;
    if (sub->cancel_deadline < 0)
        s_cancel(sub);
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
            s_log_event(sub, &ev);
            if (sub->show_progress)     /* no clock read per event else    */
                braid_render_progress(sub->render, zclock_mono(), false);
            break;
        case BRAID_NEXT_OVER:
            return;
        case BRAID_NEXT_TIMEOUT:
            break;
        case BRAID_NEXT_INTERRUPTED:
            if (sub->cancel_deadline >= 0 && sub->interrupted)
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
        if (braid_render_tally(sub->render)->write_failed && sub->cancel_deadline < 0) {
            braid_render_set_cancelling(sub->render);
            s_cancel(sub);
        }
    }
}

/*  What the job's stream came to.                                          */
static braid_exit_t
s_stream_exit(s_submit_t *sub)
{
    braid_render_flush(sub->render);
    braid_render_progress_clear(sub->render);
    const braid_render_tally_t *tally = braid_render_tally(sub->render);
    if (sub->interrupted) {
        if (!tally->job_ended)
            fprintf(stderr, "braid: the broker did not confirm the cancel within %d msec\n",
                    S_CANCEL_WAIT_MSEC);
        return BRAID_EXIT_INTERRUPTED;
    }
    if (tally->write_failed && tally->write_errno == EPIPE)
        return BRAID_EXIT_PIPE;
    /*  The broker's own codes are below 1000: it failed the job.           */
    if (sub->lost || tally->error_code == BRAID_CLIENT_ERR_LOST ||
        (tally->error_code && tally->error_code < 1000))
        return BRAID_EXIT_UNREACHABLE;
    if (tally->write_failed || sub->joblog_failed || tally->error_code || !tally->job_ended)
        return BRAID_EXIT_SOME_FAILED;
    return tally->job_status == BRAID_END_OK && tally->not_ok == 0 ? BRAID_EXIT_OK
                                                                   : BRAID_EXIT_SOME_FAILED;
}

/*  Submit job of the plan and write its stream. The exit code.            */
static braid_exit_t
s_run_job(s_submit_t *sub, size_t job)
{
    braid_request_t *request = braid_plan_request(sub->plan, job, &sub->numbers);
    if (!request) {
        fprintf(stderr, "braid: out of memory\n");
        return BRAID_EXIT_USAGE;
    }
    braid_render_next_job(sub->render);
    if (sub->joblog)
        braid_joblog_next_job(sub->joblog);
    braid_render_set_numbers(sub->render, sub->numbers);
    braid_reply_t reply = braid_client_submit(sub->client, &request);
    if (reply != BRAID_REPLY_OK) {
        braid_render_progress_clear(sub->render);
        return braid_cli_unanswered(sub->client, reply);
    }
    braid_render_set_endpoint(sub->render, braid_client_endpoint(sub->client));
    s_stream(sub);
    return s_stream_exit(sub);
}

/*  Run the plan's jobs one after the other, until one says stop (anything
    worse than some task not ok, or a failure with --fail-fast). The exit
    code: the worst of the jobs'.                                           */
static braid_exit_t
s_run(s_submit_t *sub)
{
    int njobs = braid_plan_cut(sub->plan);
    if (njobs < 0) {
        fprintf(stderr, "braid: out of memory\n");
        return BRAID_EXIT_USAGE;
    }
    if (njobs == 0) {
        s_empty_job(sub);
        return BRAID_EXIT_OK;
    }
    sub->show_progress = sub->progress == 1 || (sub->progress < 0 && isatty(STDERR_FILENO));
    if (sub->show_progress)
        braid_render_set_progress(sub->render, braid_plan_task_count(sub->plan), zclock_mono(),
                                  isatty(STDOUT_FILENO));
    braid_exit_t rc = BRAID_EXIT_OK;
    for (int job = 0; job < njobs; job++) {
        braid_exit_t job_rc = s_run_job(sub, (size_t) job);
        if (job_rc > rc)
            rc = job_rc;
        if (rc > BRAID_EXIT_SOME_FAILED || (rc == BRAID_EXIT_SOME_FAILED && sub->fail_fast))
            break;
    }
    return rc;
}

/*  braid submit: options, queries, then the jobs' streams.                */
static braid_exit_t
s_submit(int argc, char **argv)
{
    s_submit_t sub = {.request = braid_request_new(), .client = braid_client_new(),
                      .progress = -1};
    braid_exit_t rc = BRAID_EXIT_USAGE;
    if (!sub.request || !sub.client) {
        fprintf(stderr, "braid: out of memory\n");
        goto done;
    }
    if ((rc = s_submit_options(&sub, argc, argv)) != BRAID_EXIT_GO_ON)
        goto done;
    rc = BRAID_EXIT_USAGE;
    sub.render = braid_render_new(stdout, stderr, sub.json ? BRAID_RENDER_JSON : BRAID_RENDER_TEXT);
    sub.plan = braid_plan_new(&sub.request);
    if (!sub.render || !sub.plan) {
        fprintf(stderr, "braid: out of memory\n");
        goto done;
    }
    if (sub.tag)
        braid_render_set_tag(sub.render, sub.nsources > 1);
    if ((rc = s_read_queries(sub.plan, argc - optind, argv + optind)) != BRAID_EXIT_GO_ON ||
        (rc = s_open_joblog(&sub)) != BRAID_EXIT_GO_ON)
        goto done;
    rc = s_run(&sub);
done:
    if (braid_joblog_destroy(&sub.joblog) != 0) {
        fprintf(stderr, "braid: --joblog: %s: %s\n", sub.joblog_path, strerror(errno));
        if (rc == BRAID_EXIT_OK)
            rc = BRAID_EXIT_SOME_FAILED;
    }
    braid_render_destroy(&sub.render);
    braid_plan_destroy(&sub.plan);
    braid_request_destroy(&sub.request);
    braid_client_destroy(&sub.client);
    return rc;
}

/*  ---------------------------------------------------------------------
    The commands                                                            */

/*  braid COMMAND ...: the signals, stdout's buffer, the command.           */
int
main(int argc, char **argv)
{
    static const struct option options[] = {
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static const struct {
        const char *name;
        braid_exit_t (*run)(int argc, char **argv);
    } commands[] = {
        {"submit", s_submit},
        {"stats", braid_cli_stats},
        {"workers", braid_cli_workers},
        {"jobs", braid_cli_jobs},
        {"keygen", braid_cli_keygen},
    };
    braid_cli_handle_signals();
    signal(SIGPIPE, SIG_IGN);
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'h':
            s_usage(stdout);
            return BRAID_EXIT_OK;
        case 'V':
            printf("braid %s\n", braid_version());
            return BRAID_EXIT_OK;
        default:
            return braid_cli_bad_option(NULL, opt, argc, argv);
        }
    }
    if (optind >= argc)
        return braid_cli_usage_error(NULL, "a command is required (%s)",
                                     "submit, stats, workers, jobs or keygen");
    const char *command = argv[optind];
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(command, commands[i].name) != 0)
            continue;
        static char name[32];       /* getopt's argv[0], as in messages   */
        snprintf(name, sizeof name, "braid %s", command);
        argv[optind] = name;
        return commands[i].run(argc - optind, argv + optind);
    }
    return braid_cli_usage_error(NULL, "unknown command '%s'", command);
}
