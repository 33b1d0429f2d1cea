/*  inspect.c - braid stats, braid workers, braid jobs: what the broker
    says of itself (STATS -> STATS_REPLY, a JSON object).

    braid stats prints the object (--json) or a summary of it; braid
    workers and braid jobs print its "worker_list" and "job_list" arrays:
    a table (table.h), or with --json the array on one line. A broker
    whose stats have no such list (an older braidd) is said to be so, and
    the exit code is 3, as for a broker that does not answer.
*/

#include "cli.h"
#include "render.h"
#include "table.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*  What each command shows.                                                */
typedef struct {
    const char *command;
    const char *synopsis;       /* what it prints, for its usage            */
    const char *list;           /* the stats member it shows, or NULL       */
    const char *what;           /* that member, in words                    */
    int (*table)(FILE *out, const json_t *list);
} s_view_t;

static const s_view_t s_views[] = {
    {"stats", "The broker's counters: workers, slots, queues, tasks, drops.", NULL, NULL, NULL},
    {"workers",
     "The workers the broker knows: name, host, pid, slots, tasks running and\n"
     "queued, sources, last heartbeat, version.",
     "worker_list", "its workers", braid_table_workers},
    {"jobs",
     "The open jobs: id, client, queries and tasks done of all, tasks in\n"
     "flight, age, order.",
     "job_list", "its jobs", braid_table_jobs},
};

void
braid_cli_inspect_usage(FILE *out, const char *command)
{
    for (size_t i = 0; i < sizeof s_views / sizeof s_views[0]; i++) {
        const s_view_t *v = &s_views[i];
        if (command && strcmp(command, v->command) != 0)
            continue;
        fprintf(out, "usage: braid %s [-b EP]... [-T TIME] [--json]\n%s\n", v->command,
                v->synopsis);
    }
    braid_cli_broker_usage(out);
    fputs("      --json              stats: the broker's JSON object; workers, jobs: its\n"
          "                          list, a JSON array on one line\n"
          "Exit: 0 ok, 2 usage, 3 broker unreachable (or, for workers and jobs, a\n"
          "      broker too old to list them).\n",
          out);
}

/*  Print what view shows of the stats text (len bytes). The exit code.    */
static braid_exit_t
s_show(const s_view_t *view, const char *text, size_t len, bool json)
{
    if (!view->list) {
        if (json) {
            fwrite(text, 1, len, stdout);
            if (len == 0 || text[len - 1] != '\n')
                putchar('\n');
        } else if (braid_render_stats(stdout, text, len) != 0) {
            fprintf(stderr, "braid: the broker's stats are not a JSON object\n");
            return BRAID_EXIT_UNREACHABLE;
        }
        return BRAID_EXIT_OK;
    }
    json_t *root = json_loadb(text, len, 0, NULL);
    json_t *list = json_object_get(root, view->list);
    braid_exit_t rc = BRAID_EXIT_OK;
    if (!json_is_object(root)) {
        fprintf(stderr, "braid: the broker's stats are not a JSON object\n");
        rc = BRAID_EXIT_UNREACHABLE;
    } else if (!json_is_array(list)) {
        fprintf(stderr,
                "braid: the broker does not list %s (no \"%s\" in its stats: an older "
                "braidd?)\n",
                view->what, view->list);
        rc = BRAID_EXIT_UNREACHABLE;
    } else if (json) {
        char *dump = json_dumps(list, JSON_COMPACT);
        if (dump)
            puts(dump);
        else {
            fprintf(stderr, "braid: out of memory\n");
            rc = BRAID_EXIT_UNREACHABLE;
        }
        free(dump);
    } else if (view->table(stdout, list) != 0) {
        fprintf(stderr, "braid: out of memory\n");
        rc = BRAID_EXIT_UNREACHABLE;
    }
    json_decref(root);
    return rc;
}

/*  braid stats | workers | jobs: options, the stats, what view shows.     */
static braid_exit_t
s_inspect(const s_view_t *view, int argc, char **argv)
{
    static const struct option options[] = {
        {"broker", required_argument, NULL, 'b'},
        {"json", no_argument, NULL, 'J'},
        {"connect-timeout", required_argument, NULL, 'T'},
        BRAID_CLI_CURVE_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    braid_client_t *client = braid_client_new();
    if (!client) {
        fprintf(stderr, "braid: out of memory\n");
        return BRAID_EXIT_USAGE;
    }
    bool json = false;
    int nendpoints = 0;
    braid_exit_t rc = BRAID_EXIT_GO_ON;
    int opt;
    optind = 0;
    opterr = 0;
    while (rc == BRAID_EXIT_GO_ON &&
           (opt = getopt_long(argc, argv, ":b:T:h", options, NULL)) != -1) {
        switch (opt) {
        case 'b':
        case 'T':
        case BRAID_CLI_OPT_KEY:
        case BRAID_CLI_OPT_BROKER_KEY:
        case BRAID_CLI_OPT_LIVENESS:
            rc = braid_cli_broker_option(view->command, client, opt, optarg, &nendpoints);
            break;
        case 'J':
            json = true;
            break;
        case 'h':
            braid_cli_inspect_usage(stdout, view->command);
            rc = BRAID_EXIT_OK;
            break;
        default:
            rc = braid_cli_bad_option(view->command, opt, argc, argv);
            break;
        }
    }
    if (rc == BRAID_EXIT_GO_ON && optind < argc)
        rc = braid_cli_usage_error(view->command, "unexpected argument '%s'", argv[optind]);
    if (rc != BRAID_EXIT_GO_ON)
        goto done;
    braid_cli_default_endpoints(client, nendpoints);
    if ((rc = braid_cli_curve(view->command, client)) != BRAID_EXIT_GO_ON)
        goto done;
    char *text = NULL;
    size_t len = 0;
    braid_reply_t reply = braid_client_stats(client, &text, &len);
    if (reply != BRAID_REPLY_OK) {
        rc = braid_cli_unanswered(client, reply);
        goto done;
    }
    rc = s_show(view, text, len, json);
    free(text);
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == BRAID_EXIT_OK) {
        rc = errno == EPIPE ? BRAID_EXIT_PIPE : BRAID_EXIT_SOME_FAILED;
        if (rc != BRAID_EXIT_PIPE)
            fprintf(stderr, "braid: stdout: %s\n", strerror(errno));
    }
done:
    braid_client_destroy(&client);
    return rc;
}

braid_exit_t
braid_cli_stats(int argc, char **argv)
{
    return s_inspect(&s_views[0], argc, argv);
}

braid_exit_t
braid_cli_workers(int argc, char **argv)
{
    return s_inspect(&s_views[1], argc, argv);
}

braid_exit_t
braid_cli_jobs(int argc, char **argv)
{
    return s_inspect(&s_views[2], argc, argv);
}
