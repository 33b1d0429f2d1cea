/*  test_sec_peers.c - issue 9, acceptance 1: registries and descriptors
    that peers fill cannot be exhausted.

    test_fake_hellos: 32 fake workers (raw DEALERs on the backend) say
    HELLO with 32 new source names each and fill the broker's source table
    (1,024 names); one more name is ignored while they are there. Half of
    them say BYE, the other half go silent and are reaped (worker
    liveness). Asserts: the stats list the 1,024 sources while the fakes
    are registered and none once they are gone; a real worker started then
    registers its source, and a job on it runs to its end. With
    max_workers = 33, a 34th fake is not registered (RESET).

    test_idle_connections: the broker starts with a soft RLIMIT_NOFILE of
    1,024 (its hard limit higher: braidd raises the soft one), and the test
    opens 2,000 idle TCP connections to the frontend (raw connects that
    never speak ZMTP), its own limit raised. Asserts: the broker's soft
    limit was raised; it accepts all 2,000 (its open descriptors, from
    /proc: with the limit it was started with it stays near 1,000);
    `braid stats` still answers, and a job still runs.
*/

#include "fault.h"

#include "braid_msg.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define S_FAKES 32
#define S_TABLE 1024            /* BRAID_SCHED_MAX_SOURCES                 */
#define S_IDLE 2000             /* idle connections                        */
#define S_BROKER_NOFILE 1024    /* the broker's soft limit at its start    */

/*  Fake workers stay registered while the test looks (a long worker
    liveness), and the silent half is reaped after it.                     */
static const char s_hello_conf[] = "broker\n"
                                   "    heartbeat_msec = 200\n"
                                   "    worker_liveness_msec = 4000\n"
                                   "    client_liveness_msec = 1500\n"
                                   "    ack_timeout_msec = 1000\n"
                                   "    max_workers = 33\n";

static const braid_fixture_def_t s_hello_def = {
    .name = "braid-sec-hellos",
    .conf = s_hello_conf,
    .workers = 0,
};

static const braid_fixture_def_t s_idle_def = {
    .name = "braid-sec-idle",
    .workers = 1,
    .slots = 2,
    .specs = {"quick=synthetic:parts=2,size=16"},
};

/*  Number of sources the stats list, -1 without stats.                     */
static long long
s_nsources(json_t *stats)
{
    json_t *sources = stats ? json_object_get(stats, "sources") : NULL;
    return sources ? (long long) json_object_size(sources) : -1;
}

static bool
s_sources_are(json_t *stats, void *arg)
{
    return s_nsources(stats) == *(long long *) arg;
}

static bool
s_workers_are(json_t *stats, void *arg)
{
    return fault_stat(stats, NULL, "workers") == *(long long *) arg;
}

/*  Wait for the stats to satisfy pred(arg); fail with them if they do not
    within 30 s.                                                            */
static void
s_wait(braid_fixture_t *f, bool (*pred)(json_t *, void *), long long want, const char *what)
{
    char *text = NULL;
    if (fault_wait_stats(f->cluster, pred, &want, 30000, &text) != 0) {
        braid_cluster_dump(f->cluster);
        fail_msg("%s: not %lld within 30 s: %.2000s", what, want, text ? text : "(none)");
    }
    free(text);
}

/*  A fake worker: HELLO with nsources new names "fake-N-I".                */
static zsock_t *
s_fake(braid_fixture_t *f, int n, int nsources)
{
    zsock_t *sock = fault_dealer_from(f->cluster->backend, NULL);
    assert_non_null(sock);
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_HELLO);
    snprintf(m.name, sizeof m.name, "fake-%d", n);
    m.slots = 1;
    m.nsources = m.nflags = (uint32_t) nsources;
    for (int i = 0; i < nsources; i++)
        snprintf(m.sources[i], sizeof m.sources[i], "fake-%d-%d", n, i);
    snprintf(m.host, sizeof m.host, "fakehost");
    m.pid = 1000000 + (uint32_t) n;
    snprintf(m.version, sizeof m.version, "0");
    assert_int_equal(braid_msg_send(sock, NULL, &m, NULL, false), 0);
    return sock;
}

static void
test_fake_hellos(void **state)
{
    braid_fixture_t *f = *state;
    zsock_t *fakes[S_FAKES + 1];
    for (int n = 0; n < S_FAKES; n++)
        fakes[n] = s_fake(f, n, BRAID_MAX_SOURCES);
    s_wait(f, s_workers_are, S_FAKES, "fake workers");
    /*  The table is full: one more fake's name is not registered.          */
    fakes[S_FAKES] = s_fake(f, S_FAKES, 1);
    s_wait(f, s_workers_are, S_FAKES + 1, "fake workers");
    json_t *stats = fault_stats(f->cluster, NULL);
    long long full = s_nsources(stats);
    bool extra = stats && json_object_get(json_object_get(stats, "sources"), "fake-32-0");
    json_decref(stats);
    print_message("sources while %d fake workers are registered: %lld\n", S_FAKES + 1, full);
    assert_int_equal(full, S_TABLE);
    assert_false(extra);
    /*  max_workers: one more is not registered (its next message gets
        RESET, where a registered worker hears only heartbeats).           */
    zsock_t *over = s_fake(f, S_FAKES + 1, 1);
    braid_msg_t beat;
    braid_msg_init(&beat, BRAID_MSG_WHEARTBEAT);
    zmsg_t *none = zmsg_new();
    assert_int_equal(zmsg_addmem(none, NULL, 0), 0);
    assert_int_equal(braid_msg_send(over, NULL, &beat, &none, false), 0);
    braid_msg_t reply;
    zmsg_t *payload = NULL;
    braid_err_t err;
    assert_int_equal(braid_msg_recv(over, false, BRAID_CH_TO_WORKER, &reply, NULL, &payload, &err), 0);
    zmsg_destroy(&payload);
    assert_int_equal(reply.type, BRAID_MSG_RESET);
    zsock_destroy(&over);

    /*  Half say BYE; the others go silent and are reaped.                  */
    for (int n = 0; n <= S_FAKES; n += 2) {
        braid_msg_t bye;
        braid_msg_init(&bye, BRAID_MSG_BYE);
        assert_int_equal(braid_msg_send(fakes[n], NULL, &bye, NULL, false), 0);
    }
    s_wait(f, s_workers_are, 0, "workers after BYE and liveness");
    s_wait(f, s_sources_are, 0, "sources after the fakes");
    for (int n = 0; n <= S_FAKES; n++)
        zsock_destroy(&fakes[n]);

    /*  A real worker's source registers, and a job on it runs.             */
    const char *specs[] = {"real=synthetic:parts=3,size=16", NULL};
    assert_int_equal(braid_cluster_add_worker(f->cluster, "w1", 2, FAULT_WORKER_ARGS, specs), 0);
    const char *args[] = {"-s", "real", "a", "b", NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    assert_int_equal(braid_cluster_run(f->cluster, "client", args, 30000, 0, &client, &code), 0);
    size_t len = 0;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    assert_int_equal(fault_count_lines(out, "a "), 3);
    assert_int_equal(fault_count_lines(out, "b "), 3);
    free(out);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

/*  The fixture, with the broker started under a soft RLIMIT_NOFILE of
    S_BROKER_NOFILE (the test's own is put back after).                     */
static int
s_idle_setup(void **state)
{
    struct rlimit lim, low;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return -1;
    if (lim.rlim_max < S_IDLE + 256) {
        fprintf(stderr, "hard RLIMIT_NOFILE %llu is below %d: cannot test\n",
                (unsigned long long) lim.rlim_max, S_IDLE + 256);
        return -1;
    }
    low = lim;
    low.rlim_cur = S_BROKER_NOFILE;
    if (setrlimit(RLIMIT_NOFILE, &low) != 0)
        return -1;
    *state = fault_fixture_new(&s_idle_def);
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
        braid_fixture_destroy((braid_fixture_t **) state);
        return -1;
    }
    return *state ? 0 : -1;
}

/*  Open file descriptors of pid (from /proc), -1 if unknown.              */
static int
s_fd_count(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *dir = opendir(path);
    if (!dir)
        return -1;
    int n = 0;
    for (struct dirent *e = readdir(dir); e; e = readdir(dir))
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

static void
test_idle_connections(void **state)
{
    braid_fixture_t *f = *state;
    /*  The broker's limit: raised from the soft one it was started with.  */
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/limits", (int) braid_proc_pid(f->cluster->broker));
    FILE *limits = fopen(path, "re");
    assert_non_null(limits);
    unsigned long long soft = 0;
    while (fgets(line, sizeof line, limits))
        if (strncmp(line, "Max open files", 14) == 0)
            soft = strtoull(line + 14, NULL, 10);
    fclose(limits);
    print_message("broker's soft RLIMIT_NOFILE: %llu (started with %d)\n", soft,
                  S_BROKER_NOFILE);
    assert_true(soft >= S_IDLE + 256);

    const char *port = strrchr(f->cluster->frontend, ':');
    assert_non_null(port);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(port + 1))};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int *fds = calloc(S_IDLE, sizeof *fds);
    assert_non_null(fds);
    int open = 0;
    for (int i = 0; i < S_IDLE; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *) &addr, sizeof addr) != 0)
            break;
        open++;
    }
    print_message("idle connections open: %d\n", open);
    assert_int_equal(open, S_IDLE);
    /*  The broker takes every one of them (a connect returns before the
        broker accepts: its descriptors say when it has).                  */
    int64_t deadline = braid_now_msec() + 30000;
    int held = 0;
    while ((held = s_fd_count(braid_proc_pid(f->cluster->broker))) < S_IDLE &&
           braid_now_msec() < deadline)
        fault_poll_pause();
    print_message("broker's open descriptors: %d\n", held);
    assert_true(held >= S_IDLE);

    /*  They are all there, and the broker still answers.                  */
    json_t *stats = fault_stats(f->cluster, NULL);
    assert_non_null(stats);
    assert_int_equal(fault_stat(stats, NULL, "workers"), 1);
    json_decref(stats);
    const char *args[] = {"-s", "quick", "x", NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    assert_int_equal(braid_cluster_run(f->cluster, "client", args, 30000, 0, &client, &code), 0);
    braid_proc_destroy(&client);
    assert_int_equal(code, 0);
    for (int i = 0; i < open; i++)
        close(fds[i]);
    free(fds);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_fake_hellos, s_hello_def),
        cmocka_unit_test_setup_teardown(test_idle_connections, s_idle_setup,
                                        braid_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
