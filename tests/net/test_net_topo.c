/*  test_net_topo.c - the test network's self-test (topo.h, relay.h).

    test_net_topo, on one topology:
    - every host reaches every other over TCP (a listener on one, a
      connect from the other); an address outside 198.18.0.0/24 is
      unreachable from a host (no default route), and the root namespace
      has no 198.18 address or route;
    - a cut link: a connect to and from the cut host does not complete
      within a second; restored, it does again;
    - 50% loss on a host: of 400 datagrams sent to it some arrive and
      some do not, and the rule's counter counts exactly the missing ones;
      0% removes the rule;
    - a relay with 100 ms each way: a round trip through it takes at least
      200 ms (a lower bound only: the machine may be slow, never fast);
    - teardown: no namespace of this run is left, no process in any of
      them, and the root namespace's links are as they were.
    test_net_sweep: a namespace named for a process that is gone is swept
    (and the process left in it killed); one named for a live process that
    is older than it is left alone.
    test_net_exit_paths: a child that made a topology and then exits, or
    is killed by SIGTERM, leaves no namespace behind (atexit, signal).
*/

#include "netcluster.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_CONNECT_MSEC 10000
#define S_CUT_PROBE_MSEC 1000
#define S_DATAGRAMS 400
#define S_DELAY_MSEC 100

/*  --------------------------------------------------------------------
    An echo server: a thread that echoes each accepted connection until
    EOF, one at a time, until stopped.                                      */

typedef struct {
    int listen_fd;
    int stop_pipe[2];
    pthread_t thread;
} s_echo_t;

static void *
s_echo_thread(void *arg)
{
    s_echo_t *e = arg;
    for (;;) {
        struct pollfd pfds[2] = {{.fd = e->stop_pipe[0], .events = POLLIN},
                                 {.fd = e->listen_fd, .events = POLLIN}};
        if (poll(pfds, 2, -1) < 0 && errno != EINTR)
            break;
        if (pfds[0].revents)
            break;
        if (!(pfds[1].revents & POLLIN))
            continue;
        int fd = accept4(e->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        char buf[4096];
        for (;;) {
            struct pollfd cp[2] = {{.fd = e->stop_pipe[0], .events = POLLIN},
                                   {.fd = fd, .events = POLLIN}};
            if (poll(cp, 2, -1) < 0 && errno != EINTR)
                break;
            if (cp[0].revents)
                break;
            ssize_t n = read(fd, buf, sizeof buf);
            if (n <= 0 || write(fd, buf, (size_t) n) != n)
                break;
        }
        close(fd);
    }
    return NULL;
}

static s_echo_t *
s_echo_new(braid_topo_t *topo, braid_host_t host, int *port_p)
{
    s_echo_t *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->listen_fd = braid_topo_listen(topo, host, 0, port_p);
    assert_true(e->listen_fd >= 0);
    assert_int_equal(pipe2(e->stop_pipe, O_CLOEXEC), 0);
    assert_int_equal(pthread_create(&e->thread, NULL, s_echo_thread, e), 0);
    return e;
}

static void
s_echo_destroy(s_echo_t **e_p)
{
    s_echo_t *e = *e_p;
    if (!e)
        return;
    assert_int_equal(write(e->stop_pipe[1], "x", 1), 1);
    pthread_join(e->thread, NULL);
    close(e->stop_pipe[0]);
    close(e->stop_pipe[1]);
    close(e->listen_fd);
    free(e);
    *e_p = NULL;
}

/*  One round trip of 4 bytes on a connected socket, in ms.                */
static int64_t
s_round_trip(int fd)
{
    int64_t start = braid_now_msec();
    assert_int_equal(write(fd, "ping", 4), 4);
    char buf[4];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        assert_true(n > 0);
        got += (size_t) n;
    }
    int64_t rtt = braid_now_msec() - start;
    assert_memory_equal(buf, "ping", 4);
    return rtt;
}

/*  --------------------------------------------------------------------   */

/*  The root namespace's interface names, one string.                      */
static char *
s_root_links(void)
{
    struct if_nameindex *list = if_nameindex();
    assert_non_null(list);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    for (struct if_nameindex *i = list; i->if_index; i++)
        fprintf(f, "%u:%s\n", i->if_index, i->if_name);
    fclose(f);
    if_freenameindex(list);
    return text;
}

/*  The root namespace has no address or route in 198.18.                   */
static void
s_check_root_clean(void)
{
    const char *ip = braid_topo_tool("ip");
    assert_non_null(ip);
    const char *const cmds[][5] = {{ip, "-4", "addr", "show", NULL},
                                   {ip, "-4", "route", "show", NULL}};
    for (int i = 0; i < 2; i++) {
        size_t len = 0;
        int code = -1;
        char *out = braid_run(cmds[i], NULL, 10000, &len, &code);
        assert_non_null(out);
        assert_int_equal(code, 0);
        if (strstr(out, "198.18."))
            fail_msg("the root namespace has 198.18 in `ip -4 %s`:\n%s", cmds[i][2], out);
        free(out);
    }
}

static int
s_connect(braid_topo_t *topo, braid_host_t from, braid_host_t to, int port, int timeout_msec)
{
    int fd = braid_topo_connect(topo, from, braid_host_addr(to), port, timeout_msec);
    if (fd >= 0)
        close(fd);
    return fd >= 0 ? 0 : -1;
}

/*  Connect until it works, each try bounded, all within the deadline.     */
static void
s_connect_eventually(braid_topo_t *topo, braid_host_t from, braid_host_t to, int port)
{
    int64_t deadline = braid_now_msec() + S_CONNECT_MSEC;
    int tries = 0;
    while (s_connect(topo, from, to, port, 2000) != 0) {
        tries++;
        if (braid_now_msec() >= deadline)
            fail_msg("%s cannot reach %s:%d within %d ms (%d tries)", braid_host_name(from),
                     braid_host_addr(to), port, S_CONNECT_MSEC, tries);
    }
}

static void
s_check_reach(braid_topo_t *topo)
{
    int listen_fd[BRAID_HOST_COUNT], port[BRAID_HOST_COUNT];
    for (int h = 0; h < BRAID_HOST_COUNT; h++) {
        listen_fd[h] = braid_topo_listen(topo, (braid_host_t) h, 0, &port[h]);
        assert_true(listen_fd[h] >= 0);
    }
    for (int from = 0; from < BRAID_HOST_COUNT; from++)
        for (int to = 0; to < BRAID_HOST_COUNT; to++)
            if (from != to)
                s_connect_eventually(topo, (braid_host_t) from, (braid_host_t) to, port[to]);
    for (int h = 0; h < BRAID_HOST_COUNT; h++)
        close(listen_fd[h]);
    /*  Nothing beyond the test network: no default route.                 */
    int fd = braid_topo_connect(topo, BRAID_HOST_CLIENT, "198.18.1.1", 80, 2000);
    assert_int_equal(fd, -1);
    assert_int_equal(errno, ENETUNREACH);
    print_message("every host reaches every other; 198.18.1.1 is unreachable\n");
}

static void
s_check_cut(braid_topo_t *topo)
{
    int port_w1, port_broker;
    int listen_w1 = braid_topo_listen(topo, BRAID_HOST_WORKER1, 0, &port_w1);
    int listen_broker = braid_topo_listen(topo, BRAID_HOST_BROKER, 0, &port_broker);
    assert_true(listen_w1 >= 0 && listen_broker >= 0);
    s_connect_eventually(topo, BRAID_HOST_CLIENT, BRAID_HOST_WORKER1, port_w1);

    assert_int_equal(braid_topo_link(topo, BRAID_HOST_WORKER1, false), 0);
    if (s_connect(topo, BRAID_HOST_CLIENT, BRAID_HOST_WORKER1, port_w1, S_CUT_PROBE_MSEC) == 0)
        fail_msg("client reached worker1 through a cut link");
    if (s_connect(topo, BRAID_HOST_WORKER1, BRAID_HOST_BROKER, port_broker, S_CUT_PROBE_MSEC) == 0)
        fail_msg("worker1 reached the broker through a cut link");
    /*  The others still reach each other.                                 */
    s_connect_eventually(topo, BRAID_HOST_CLIENT, BRAID_HOST_BROKER, port_broker);

    assert_int_equal(braid_topo_link(topo, BRAID_HOST_WORKER1, true), 0);
    s_connect_eventually(topo, BRAID_HOST_CLIENT, BRAID_HOST_WORKER1, port_w1);
    s_connect_eventually(topo, BRAID_HOST_WORKER1, BRAID_HOST_BROKER, port_broker);
    close(listen_w1);
    close(listen_broker);
    print_message("cut: no connect to or from worker1 within %d ms; restored: both again\n",
                  S_CUT_PROBE_MSEC);
}

static void
s_check_loss(braid_topo_t *topo)
{
    int rx = braid_topo_socket(topo, BRAID_HOST_WORKER1, SOCK_DGRAM | SOCK_NONBLOCK);
    int tx = braid_topo_socket(topo, BRAID_HOST_CLIENT, SOCK_DGRAM);
    assert_true(rx >= 0 && tx >= 0);
    int rcvbuf = 4 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, braid_host_addr(BRAID_HOST_WORKER1), &sa.sin_addr), 1);
    socklen_t len = sizeof sa;
    assert_int_equal(bind(rx, (struct sockaddr *) &sa, sizeof sa), 0);
    assert_int_equal(getsockname(rx, (struct sockaddr *) &sa, &len), 0);
    /*  One datagram through first, so that ARP is settled before the
        count starts (ARP is not IPv4: the rule never drops it).           */
    assert_int_equal(sendto(tx, "warm", 4, 0, (struct sockaddr *) &sa, sizeof sa), 4);
    struct pollfd pfd = {.fd = rx, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, S_CONNECT_MSEC), 1);
    char buf[64];
    assert_int_equal(recv(rx, buf, sizeof buf, 0), 4);

    assert_int_equal(braid_topo_loss(topo, BRAID_HOST_WORKER1, 50), 0);
    assert_int_equal(braid_topo_loss_dropped(topo, BRAID_HOST_WORKER1), 0);
    int received = 0;
    for (int i = 0; i < S_DATAGRAMS; i++) {
        assert_int_equal(sendto(tx, "datagram", 8, 0, (struct sockaddr *) &sa, sizeof sa), 8);
        while (recv(rx, buf, sizeof buf, 0) == 8)
            received++;
    }
    /*  Every datagram either arrives or is counted as dropped: wait for
        the sum (delivery may lag the sends), within a deadline.           */
    long long dropped = braid_topo_loss_dropped(topo, BRAID_HOST_WORKER1);
    int64_t deadline = braid_now_msec() + S_CONNECT_MSEC;
    while (received + dropped < S_DATAGRAMS && braid_now_msec() < deadline) {
        poll(&pfd, 1, 100);
        while (recv(rx, buf, sizeof buf, 0) == 8)
            received++;
        dropped = braid_topo_loss_dropped(topo, BRAID_HOST_WORKER1);
    }
    print_message("50%% loss: %d of %d datagrams arrived, the rule dropped %lld\n", received,
                  S_DATAGRAMS, dropped);
    assert_int_equal(received + dropped, S_DATAGRAMS);
    assert_true(received > 0);
    assert_true(dropped > 0);

    assert_int_equal(braid_topo_loss(topo, BRAID_HOST_WORKER1, 0), 0);
    assert_int_equal(braid_topo_loss_dropped(topo, BRAID_HOST_WORKER1), -1);
    assert_int_equal(sendto(tx, "after", 5, 0, (struct sockaddr *) &sa, sizeof sa), 5);
    assert_int_equal(poll(&pfd, 1, S_CONNECT_MSEC), 1);
    assert_int_equal(recv(rx, buf, sizeof buf, 0), 5);
    close(rx);
    close(tx);
}

static void
s_check_latency(braid_topo_t *topo)
{
    int echo_port;
    s_echo_t *echo = s_echo_new(topo, BRAID_HOST_WORKER1, &echo_port);
    int fd = braid_topo_connect(topo, BRAID_HOST_CLIENT, braid_host_addr(BRAID_HOST_WORKER1),
                                echo_port, S_CONNECT_MSEC);
    assert_true(fd >= 0);
    int64_t direct = s_round_trip(fd);
    close(fd);

    braid_relay_t *relay =
        braid_relay_new(topo, BRAID_HOST_BROKER, 0, BRAID_HOST_WORKER1,
                        braid_host_addr(BRAID_HOST_WORKER1), echo_port, S_DELAY_MSEC);
    assert_non_null(relay);
    fd = braid_topo_connect(topo, BRAID_HOST_CLIENT, braid_host_addr(BRAID_HOST_BROKER),
                            braid_relay_port(relay), S_CONNECT_MSEC);
    assert_true(fd >= 0);
    int64_t rtt[3];
    for (int i = 0; i < 3; i++) {
        rtt[i] = s_round_trip(fd);
        /*  delay_msec each way.                                           */
        if (rtt[i] < 2 * S_DELAY_MSEC)
            fail_msg("round trip %d through the relay took %lld ms, less than 2 x %d ms", i,
                     (long long) rtt[i], S_DELAY_MSEC);
    }
    /*  A half-close passes through: the echo server sees EOF, closes, and
        the EOF comes back.                                                */
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    char buf[8];
    assert_int_equal(read(fd, buf, sizeof buf), 0);
    close(fd);
    print_message("round trip: direct %lld ms; through the relay (%d ms each way) %lld, %lld, "
                  "%lld ms; relay accepted %llu, forwarded %llu bytes\n",
                  (long long) direct, S_DELAY_MSEC, (long long) rtt[0], (long long) rtt[1],
                  (long long) rtt[2], (unsigned long long) braid_relay_accepted(relay),
                  (unsigned long long) braid_relay_bytes(relay));
    assert_int_equal(braid_relay_accepted(relay), 1);
    assert_int_equal(braid_relay_bytes(relay), 24);
    braid_relay_destroy(&relay);
    s_echo_destroy(&echo);
}

static void
test_net_topo(void **state)
{
    BRAID_TOPO_REQUIRE();
    braid_net_fixture_t *f = *state;
    char *links_before = s_root_links();
    s_check_root_clean();
    s_check_reach(f->topo);
    s_check_cut(f->topo);
    s_check_loss(f->topo);
    s_check_latency(f->topo);

    unsigned long ino[BRAID_HOST_COUNT + 1];
    for (int h = 0; h <= BRAID_HOST_COUNT; h++) {
        ino[h] = braid_topo_ns_ino(f->topo, (braid_host_t) h);
        assert_true(ino[h] != 0);
    }
    /*  A process left on a host is killed by the teardown.               */
    const char *argv[] = {"sleep", "600", NULL};
    braid_proc_t *left = braid_topo_spawn(f->topo, BRAID_HOST_WORKER2, NULL, "left", argv, NULL);
    assert_non_null(left);
    assert_int_equal(braid_topo_ns_procs(ino[BRAID_HOST_WORKER2]), 1);
    assert_true(braid_topo_ns_exists(0));

    braid_topo_destroy(&f->topo);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(left, 5000, &code), 0);
    assert_int_equal(code, 128 + SIGKILL);
    braid_proc_destroy(&left);
    assert_false(braid_topo_ns_exists(0));
    for (int h = 0; h <= BRAID_HOST_COUNT; h++)
        assert_int_equal(braid_topo_ns_procs(ino[h]), 0);
    char *links_after = s_root_links();
    assert_string_equal(links_before, links_after);
    s_check_root_clean();
    free(links_before);
    free(links_after);
    print_message("teardown: no namespace, no process, root links unchanged\n");
}

/*  --------------------------------------------------------------------   */

static int
s_ip(const char *a, const char *b, const char *c)
{
    const char *argv[] = {braid_topo_tool("ip"), a, b, c, NULL};
    size_t len;
    int code = -1;
    char *out = braid_run(argv, NULL, 10000, &len, &code);
    free(out);
    return out && code == 0 ? 0 : -1;
}

static void
test_net_sweep(void **state)
{
    (void) state;
    BRAID_TOPO_REQUIRE();
    /*  A pid that is gone: a process that ran and was reaped.            */
    const char *true_argv[] = {"true", NULL};
    braid_proc_t *gone = braid_proc_spawn(NULL, "true", true_argv, NULL);
    assert_non_null(gone);
    pid_t gone_pid = braid_proc_pid(gone);
    int code = -1;
    assert_int_equal(braid_proc_finish(gone, 10000, &code), 0);
    braid_proc_destroy(&gone);
    /*  A live process, older than the namespace named for it.            */
    const char *sleep_argv[] = {"sleep", "600", NULL};
    braid_proc_t *alive = braid_proc_spawn(NULL, "alive", sleep_argv, NULL);
    assert_non_null(alive);

    char stale[64], kept[64];
    snprintf(stale, sizeof stale, "braid-%d-broker", (int) gone_pid);
    snprintf(kept, sizeof kept, "braid-%d-client", (int) braid_proc_pid(alive));
    assert_int_equal(s_ip("netns", "add", stale), 0);
    assert_int_equal(s_ip("netns", "add", kept), 0);
    /*  A process left in the stale one, as a crashed run leaves a broker;
        it says "in" once it runs there.                                   */
    const char *exec_argv[] = {braid_topo_tool("ip"), "netns", "exec", stale, "sh", "-c",
                               "echo in; exec sleep 600", NULL};
    braid_proc_t *left = braid_proc_spawn(NULL, "left", exec_argv, NULL);
    assert_non_null(left);
    assert_int_equal(braid_proc_wait_line(left, BRAID_STDOUT, "in", 10000), 0);

    int removed = braid_topo_sweep();
    assert_true(braid_topo_ns_exists(braid_proc_pid(alive)));
    assert_false(braid_topo_ns_exists(gone_pid));
    assert_true(removed >= 1);
    assert_int_equal(braid_proc_wait_exit(left, 10000, &code), 0);
    assert_int_equal(code, 128 + SIGKILL);
    braid_proc_destroy(&left);

    assert_int_equal(s_ip("netns", "del", kept), 0);
    braid_proc_destroy(&alive);
    print_message("swept %s (and the process in it), kept %s\n", stale, kept);
}

/*  A child that makes a topology, says so on the pipe, then exits
    (how 0) or waits for a signal (how 1).                                  */
static pid_t
s_child_with_topo(int how)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        braid_topo_t *topo = braid_topo_new();
        char ok = topo ? 'y' : 'n';
        if (write(fds[1], &ok, 1) != 1 || !topo)
            _exit(1);
        if (how == 0)
            exit(0); /* the atexit handler */
        for (int i = 0; i < 600; i++)
            pause(); /* until the signal */
        _exit(2);
    }
    close(fds[1]);
    char ok = 0;
    assert_int_equal(read(fds[0], &ok, 1), 1);
    close(fds[0]);
    assert_int_equal(ok, 'y');
    assert_true(braid_topo_ns_exists(pid) || how == 0);
    return pid;
}

static void
test_net_exit_paths(void **state)
{
    (void) state;
    BRAID_TOPO_REQUIRE();
    int status = 0;
    pid_t pid = s_child_with_topo(0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_false(braid_topo_ns_exists(pid));

    pid = s_child_with_topo(1);
    assert_true(braid_topo_ns_exists(pid));
    assert_int_equal(kill(pid, SIGTERM), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    assert_false(braid_topo_ns_exists(pid));
    print_message("exit and SIGTERM: the child's namespaces are gone\n");
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        BRAID_NET_TEST(test_net_topo, "braid-net-topo"),
        cmocka_unit_test(test_net_sweep),
        cmocka_unit_test(test_net_exit_paths),
    };
    return cmocka_run_group_tests_name("net_topo", tests, NULL, NULL);
}
