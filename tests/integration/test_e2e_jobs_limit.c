/*  test_e2e_jobs_limit.c - `-j 3` caps a job's tasks in flight.

    Two workers with four slots each could run 8 tasks at once; the job
    asks for at most 3. Each of its 9 queries runs lim.sh, which appends
    "start NS" and "end NS" (date +%s%N) to a per-query file around a
    `sleep 0.3`. From the 9 intervals the test computes the most that ran
    at once: exactly 3. A task's "end" is written before its process exits,
    and the broker can only start the next one after that exit, so a
    correct broker can never show 4; with 0.3 s per task and 3 allowed, the
    first three always overlap.

    Also: client exit 0, stdout in submit order, each query's file holds
    exactly one interval (no task ran twice), clean stop.
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

static const char s_script[] = "#!/bin/sh\n"
                               "# lim.sh QUERY: record the interval it runs in, next to itself\n"
                               "f=\"${0%/*}/interval.$1\"\n"
                               "echo \"start $(date +%s%N)\" >> \"$f\"\n"
                               "sleep 0.3\n"
                               "echo \"end $(date +%s%N)\" >> \"$f\"\n"
                               "echo \"done $1\"\n";

static const braid_fixture_def_t s_def = {
    .name = "braid-e2e-jobs",
    .script_name = "lim.sh",
    .script_text = s_script,
    .workers = 2,
    .slots = 4,
    .specs = {"lim=exec:'%s' {query}"},
};

typedef struct {
    long long t;
    int delta; /* +1 start, -1 end */
} s_event_t;

static int
s_cmp_event(const void *a, const void *b)
{
    const s_event_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    /*  At the same instant an end comes before a start.                   */
    return x->delta - y->delta;
}

static void
test_e2e_jobs_limit(void **state)
{
    braid_fixture_t *f = *state;
    const char *args[] = {"-s", "lim", "-j", "3", "0", "1", "2", "3", "4", "5", "6", "7", "8",
                          NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    if (braid_cluster_run(f->cluster, "client", args, 20000, 0, &client, &code) != 0)
        fail_msg("client not done within 20 s");
    char *out = braid_proc_output(client, BRAID_STDOUT, NULL);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_string_equal(out, "done 0\ndone 1\ndone 2\ndone 3\ndone 4\ndone 5\ndone 6\ndone 7\n"
                             "done 8\n");
    free(out);

    s_event_t events[2 * S_QUERIES];
    for (int q = 0; q < S_QUERIES; q++) {
        char name[32];
        snprintf(name, sizeof name, "interval.%d", q);
        char *path = braid_path(f->dir, name);
        char *text = braid_file_read(path, NULL);
        free(path);
        if (!text)
            fail_msg("query %d: no interval file", q);
        long long start = 0, end = 0;
        int tail = 0;
        /*  Exactly one "start" and one "end": the task ran once.          */
        if (sscanf(text, "start %lld\nend %lld\n%n", &start, &end, &tail) != 2
            || text[tail] != '\0' || end < start)
            fail_msg("query %d: interval file is not one interval: '%s'", q, text);
        free(text);
        events[2 * q] = (s_event_t){start, +1};
        events[2 * q + 1] = (s_event_t){end, -1};
    }
    qsort(events, 2 * S_QUERIES, sizeof events[0], s_cmp_event);
    int running = 0, most = 0;
    for (int i = 0; i < 2 * S_QUERIES; i++) {
        running += events[i].delta;
        if (running > most)
            most = running;
    }
    print_message("most tasks running at once: %d (limit %d, 8 slots)\n", most, S_LIMIT);
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
