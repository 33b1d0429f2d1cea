/*  cli.h - what the commands of the braid CLI share: exit codes, usage
    errors, where the broker is, the signals.

    main.c owns the commands' dispatch and `braid submit`; inspect.c owns
    `braid stats`, `braid workers` and `braid jobs`. Each command owns its
    usage text: braid --help prints them all, braid COMMAND --help its own.
    A usage error is one line on stderr that points to the command's
    --help, and exit 2.
*/

#ifndef BRAID_CLI_H_INCLUDED
#define BRAID_CLI_H_INCLUDED

#include "braid.h"

#include <stdio.h>

/*  What a command comes to: the exit code, or BRAID_EXIT_GO_ON while it is
    not decided yet.                                                        */
typedef enum {
    BRAID_EXIT_GO_ON = -1,
    BRAID_EXIT_OK = 0,
    BRAID_EXIT_SOME_FAILED = 1,     /* some task did not end ok             */
    BRAID_EXIT_USAGE = 2,           /* usage, config or input error         */
    BRAID_EXIT_UNREACHABLE = 3,     /* broker unreachable or lost, or the
                                       job refused                          */
    BRAID_EXIT_INTERRUPTED = 130,   /* SIGINT/SIGTERM: the job cancelled    */
    BRAID_EXIT_PIPE = 141           /* stdout closed (128 + SIGPIPE): the
                                       job cancelled                        */
} braid_exit_t;

#define BRAID_CLI_DEFAULT_BROKER "tcp://127.0.0.1:5555"
/*  The long-only broker options every command takes (getopt values).      */
#define BRAID_CLI_OPT_KEY 400
#define BRAID_CLI_OPT_BROKER_KEY 401
#define BRAID_CLI_OPT_LIVENESS 402
#define BRAID_CLI_CURVE_OPTIONS                                                                    \
    {"key", required_argument, NULL, BRAID_CLI_OPT_KEY},                                           \
        {"broker-key", required_argument, NULL, BRAID_CLI_OPT_BROKER_KEY},                         \
        {"liveness", required_argument, NULL, BRAID_CLI_OPT_LIVENESS}

/*  The usage of the options every command that asks a broker takes (-b,
    -T), to out.                                                            */
void
braid_cli_broker_usage(FILE *out);

/*  "braid: MESSAGE; see braid COMMAND --help" on stderr (command may be
    NULL: braid --help). BRAID_EXIT_USAGE.                                  */
braid_exit_t
braid_cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*  The usage error for what getopt_long() returned as opt ('?' or ':',
    with opterr = 0 and an optstring starting with ':'), from argc/argv
    and getopt's optind and optopt. BRAID_EXIT_USAGE.                       */
braid_exit_t
braid_cli_bad_option(const char *command, int opt, int argc, char **argv);

/*  Handle -b and -T for client. BRAID_EXIT_GO_ON, or the usage error.
    *nendpoints_p counts the endpoints given.                               */
braid_exit_t
braid_cli_broker_option(const char *command, braid_client_t *client, int opt, const char *arg,
                        int *nendpoints_p);

/*  With no -b: the endpoints of $BRAID_BROKER (separated by commas or
    blanks), or else the default one.                                       */
void
braid_cli_default_endpoints(braid_client_t *client, int nendpoints);

/*  CURVE from --key and --broker-key, or else $BRAID_KEY and
    $BRAID_BROKER_KEY: BRAID_EXIT_GO_ON, or BRAID_EXIT_USAGE (reported).    */
braid_exit_t
braid_cli_curve(const char *command, braid_client_t *client);

/*  `braid keygen NAME`: write a CURVE keypair, NAME and NAME_secret.       */
braid_exit_t
braid_cli_keygen(int argc, char **argv);

/*  Say why a call to the brokers did not come to OK; the exit code.       */
braid_exit_t
braid_cli_unanswered(braid_client_t *client, braid_reply_t reply);

/*  SIGINT and SIGTERM received so far. The first asks for a cancel (the
    library's waits return interrupted); a second one while the CLI waits
    for the cancel quits at once (exit 130).                                */
int
braid_cli_signals(void);

/*  Install the handler of the above (through czmq).                        */
void
braid_cli_handle_signals(void);

/*  The usage texts of the commands, to out.                                */
void
braid_cli_submit_usage(FILE *out);
void
braid_cli_inspect_usage(FILE *out, const char *command);

/*  The commands: argv[0] is the command's name. The exit code.             */
braid_exit_t
braid_cli_stats(int argc, char **argv);
braid_exit_t
braid_cli_workers(int argc, char **argv);
braid_exit_t
braid_cli_jobs(int argc, char **argv);

#endif
