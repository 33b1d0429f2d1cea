/*  test_e2e_jobs_limit.c - `-j 3` caps a job's tasks in flight.

    Two workers with four slots each could run 8 tasks at once; the job
    asks for at most 3. Each of its 9 queries runs lim.sh, which appends
    "start QUERY" to the temp dir's events file, meets the other tasks at a
    barrier, then appends "end QUERY" and exits. The appends are the
    kernel's order of the events (O_APPEND), so no clock is read. From them
    the test computes the most tasks that ran at once: exactly 3.

    Never more: a task's "end" is written before its process exits, and
    the broker can only start the next task after that exit. And the limit
    is reached: each task takes a ticket as it starts (ticket.K, the first
    free K; mkdir is atomic), so tickets go in start order, 3 to a group;
    a task ends only once the last ticket of its group is taken. The 3
    tasks of a group therefore all run at once, whatever the load on the
    machine; 9 queries are 3 full groups, so no task waits for one that
    cannot start. A task that waits past S_DEADLINE_SEC fails (a broker
    that runs fewer than 3 at once): the client exits 1.

    Also: client exit 0, stdout in submit order, each query started and
    ended exactly once (no task ran twice), clean stop.
*/

#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_QUERIES 9
#define S_LIMIT 3
#define S_DEADLINE_SEC 10
#define S_CLIENT_MSEC 20000

/*  A number as a string literal, for the script and the arguments.        */
#define S_TEXT(n) S_TEXT_(n)
#define S_TEXT_(n) #n

/*  lim.sh QUERY, in the temp dir (events and tickets go next to it).       */
/* clang-format off */
static const char s_script[] =
    "#!/bin/sh\n"
    "n=" S_TEXT(S_QUERIES) " limit=" S_TEXT(S_LIMIT) " deadline_sec=" S_TEXT(S_DEADLINE_SEC) "\n"
    "d=${0%/*}\n"
    "echo \"start $1\" >> \"$d/events\"\n"
    "k=0\n"
    "while ! mkdir \"$d/ticket.$k\" 2>/dev/null; do\n"
    "    k=$((k + 1))\n"
    "    if [ \"$k\" -ge \"$n\" ]; then\n"
    "        echo \"lim.sh: no ticket left for query $1\" >&2\n"
    "        exit 1\n"
    "    fi\n"
    "done\n"
    "last=$((k / limit * limit + limit - 1))\n"
    "deadline=$(($(date +%s) + deadline_sec))\n"
    "while [ ! -d \"$d/ticket.$last\" ]; do\n"
    "    if [ \"$(date +%s)\" -ge \"$deadline\" ]; then\n"
    "        echo \"lim.sh: query $1 (ticket $k): no ticket $last in $deadline_sec s\" >&2\n"
    "        exit 1\n"
    "    fi\n"
    "    sleep 0.01\n"
    "done\n"
    "echo \"end $1\" >> \"$d/events\"\n"
    "echo \"done $1\"\n";
/* clang-format on */

static const braid_fixture_def_t s_def = {
    .name = "braid-e2e-jobs",
    .script_name = "lim.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 4,
    .specs = {"lim=exec:'%s' {query}"},
};

static void
test_e2e_jobs_limit(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"-s", "lim", "-j", S_TEXT(S_LIMIT), "0", "1", "2", "3", "4", "5", "6",
                          "7", "8", NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, S_CLIENT_MSEC, 0, &client, &code) != 0)
        fail_msg("client not done within %d ms", S_CLIENT_MSEC);
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_string_equal(out, "done 0\ndone 1\ndone 2\ndone 3\ndone 4\ndone 5\ndone 6\ndone 7\n"
                             "done 8\n");
    free(out);

    char *path = braid_path(f->dir, "events");
    char *events = braid_file_read(path, NULL);
    free(path);
    assert_non_null(events);
    print_message("events:\n%s", events);
    int started[S_QUERIES] = {0}, ended[S_QUERIES] = {0};
    int running = 0, most = 0;
    for (char *line = events, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl)
            fail_msg("the events end in a partial line: '%s'", line);
        *nl = '\0';
        char what[8];
        int q = -1, tail = 0;
        if (sscanf(line, "%7s %d%n", what, &q, &tail) != 2 || line[tail] != '\0' || q < 0
            || q >= S_QUERIES)
            fail_msg("not an event: '%s'", line);
        if (strcmp(what, "start") == 0) {
            /*  Exactly one start, then one end: the task ran once.         */
            if (started[q]++ != 0)
                fail_msg("query %d started twice", q);
            if (++running > most)
                most = running;
        } else if (strcmp(what, "end") == 0) {
            if (started[q] != 1 || ended[q]++ != 0)
                fail_msg("query %d: an end without its one start", q);
            running--;
        } else
            fail_msg("not an event: '%s'", line);
    }
    free(events);
    for (int q = 0; q < S_QUERIES; q++)
        if (started[q] != 1 || ended[q] != 1)
            fail_msg("query %d started %d and ended %d times, want 1 and 1", q, started[q],
                     ended[q]);
    print_message("most tasks running at once: %d (limit %d, %d slots)\n", most, S_LIMIT,
                  s_def.workers * s_def.slots);
    if (most != S_LIMIT)
        braid_cluster_dump(f->cluster);
    assert_int_equal(most, S_LIMIT);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_FIXTURE_TEST(test_e2e_jobs_limit, s_def),
    };
    return cmocka_run_group_tests_name("e2e_jobs_limit", tests, NULL, NULL);
}
