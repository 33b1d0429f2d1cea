/*  cli.c - what the commands of the braid CLI share (see cli.h).          */

#include "cli.h"
#include "braid_curve.h"
#include "braid_num.h"

#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  --key and --broker-key, until braid_cli_curve() applies them.          */
static const char *s_key;
static const char *s_broker_key;

braid_exit_t
braid_cli_curve(const char *command, braid_client_t *client)
{
    const char *key = s_key ? s_key : getenv("BRAID_KEY");
    const char *broker_key = s_broker_key ? s_broker_key : getenv("BRAID_BROKER_KEY");
    char err[512];
    if (braid_client_set_curve(client, key, broker_key, err, sizeof err) != 0)
        return braid_cli_usage_error(command, "%s", err);
    return BRAID_EXIT_GO_ON;
}

braid_exit_t
braid_cli_keygen(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: braid keygen NAME\n"
                        "Write a CURVE keypair: NAME (the public key, to hand out) and\n"
                        "NAME_secret (both keys, mode 0600, kept by its owner).\n");
        return argc == 2 && (streq(argv[1], "-h") || streq(argv[1], "--help")) ? BRAID_EXIT_OK
                                                                               : BRAID_EXIT_USAGE;
    }
    char err[1200];
    if (braid_curve_keygen(argv[1], err, sizeof err) != 0) {
        fprintf(stderr, "braid keygen: %s\n", err);
        return BRAID_EXIT_SOME_FAILED;
    }
    printf("%s\n%s_secret\n", argv[1], argv[1]);
    return BRAID_EXIT_OK;
}

void
braid_cli_broker_usage(FILE *out)
{
    fprintf(out,
            "  -b, --broker EP         broker frontend (default $BRAID_BROKER, or\n"
            "                          " BRAID_CLI_DEFAULT_BROKER "); repeatable: tried in\n"
            "                          order until one answers; a job whose broker is\n"
            "                          lost fails over to the next and resumes\n"
            "      --liveness TIME     a broker silent this long is lost (default %dms)\n"
            "  -T, --connect-timeout TIME\n"
            "                          how long to wait for each broker (default %dms)\n"
            "      --key FILE          CURVE: this client's keypair, the NAME_secret file\n"
            "                          of braid keygen NAME (default $BRAID_KEY)\n"
            "      --broker-key FILE   CURVE: the broker's public key (default\n"
            "                          $BRAID_BROKER_KEY)\n",
            BRAID_CLIENT_IDLE_TIMEOUT, BRAID_CLIENT_CONNECT_TIMEOUT);
}

braid_exit_t
braid_cli_usage_error(const char *command, const char *fmt, ...)
{
    fputs("braid: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see braid %s%s--help\n", command ? command : "", command ? " " : "");
    return BRAID_EXIT_USAGE;
}

braid_exit_t
braid_cli_bad_option(const char *command, int opt, int argc, char **argv)
{
    /*  getopt has moved past a long option, or past a short one that ends
        its word; a short one inside a word ("-xq") is only in optopt.     */
    const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    char name[64];
    if (strncmp(word, "--", 2) == 0 || optopt == 0)
        snprintf(name, sizeof name, "%.*s", (int) strcspn(word, "="), word);
    else
        snprintf(name, sizeof name, "-%c", optopt);
    if (opt == ':')
        return braid_cli_usage_error(command, "option '%s' needs a value", name);
    if (strchr(word, '=') && strncmp(word, "--", 2) == 0)
        return braid_cli_usage_error(command, "bad option '%s'", word);
    return braid_cli_usage_error(command, "unknown option '%s'", name);
}

braid_exit_t
braid_cli_broker_option(const char *command, braid_client_t *client, int opt, const char *arg,
                        int *nendpoints_p)
{
    uint32_t msec;
    switch (opt) {
    case BRAID_CLI_OPT_KEY:
        s_key = arg;
        return BRAID_EXIT_GO_ON;
    case BRAID_CLI_OPT_BROKER_KEY:
        s_broker_key = arg;
        return BRAID_EXIT_GO_ON;
    case BRAID_CLI_OPT_LIVENESS:
        /*  More than a heartbeat (a PING a second): at least 2 s.         */
        if (braid_parse_msec(arg, 2 * BRAID_CLIENT_HEARTBEAT, INT_MAX, &msec) != 0)
            return braid_cli_usage_error(command, "bad --liveness '%s' (TIME, at least %dms)",
                                         arg, 2 * BRAID_CLIENT_HEARTBEAT);
        braid_client_set_heartbeat(client, BRAID_CLIENT_HEARTBEAT, (int) msec);
        return BRAID_EXIT_GO_ON;
    case 'b':
        if (braid_client_add_endpoint(client, arg) != 0)
            return braid_cli_usage_error(command, "bad broker endpoint '%s'", arg);
        (*nendpoints_p)++;
        return BRAID_EXIT_GO_ON;
    default:    /* 'T' */
        if (braid_parse_msec(arg, 1, INT_MAX, &msec) != 0)
            return braid_cli_usage_error(command, "bad --connect-timeout '%s' (TIME, > 0)", arg);
        braid_client_set_connect_timeout(client, (int) msec);
        return BRAID_EXIT_GO_ON;
    }
}

void
braid_cli_default_endpoints(braid_client_t *client, int nendpoints)
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
        braid_client_add_endpoint(client, BRAID_CLI_DEFAULT_BROKER);
}

braid_exit_t
braid_cli_unanswered(braid_client_t *client, braid_reply_t reply)
{
    if (reply == BRAID_REPLY_INTERRUPTED || braid_cli_signals())
        return BRAID_EXIT_INTERRUPTED;
    if (reply == BRAID_REPLY_REFUSED)
        fprintf(stderr, "braid: job refused by %s\n", braid_client_error(client));
    else if (reply == BRAID_REPLY_UNAVAILABLE)
        fprintf(stderr, "braid: broker unreachable: %s\n", braid_client_error(client));
    else
        fprintf(stderr, "braid: %s\n", braid_client_error(client));
    return BRAID_EXIT_UNREACHABLE;
}

/*  ---------------------------------------------------------------------
    Signals                                                                 */

static volatile sig_atomic_t s_signals = 0;

/*  SIGINT, SIGTERM (installed through czmq, which calls it).              */
static void
s_on_signal(int sig)
{
    (void) sig;
    s_signals = s_signals + 1;
    if (s_signals > 1)
        _exit(BRAID_EXIT_INTERRUPTED);
    zsys_interrupted = 1;
}

int
braid_cli_signals(void)
{
    return s_signals;
}

void
braid_cli_handle_signals(void)
{
    /*  zsys_init() installs czmq's own SIGINT/SIGTERM handler: replace it. */
    zsys_init();
    zsys_handler_set(s_on_signal);
}
