/*  test_sec_curve.c - issue 9, acceptances 1 and 5: CURVE with roles.

    Keys made with braid_curve_keygen (what `braid keygen` runs): the
    broker's, a client's (in the clients directory) and a worker's (in the
    workers directory). The broker runs with secret_key, client_keys and
    worker_keys; w1 with the worker key. A rogue worker presents the client
    key to the backend. The client reaches the frontend through a relay of
    this test's that records every byte that passes. Asserts:
      - the broker says CURVE is in force on its three sockets (it checks
        each socket's mechanism before it says so);
      - a full job with the client key runs: the exact output, exit 0;
      - the relayed bytes do not contain the query text (encrypted);
      - a client without keys, and one with the worker's key, get no
        answer (exit 3); the rogue with the client key never registers and
        its source never answers.
*/

#include "fault.h"

#include "braid_curve.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_QUERY "plaintext-query-7f3a9c"
#define S_CAPTURE_MAX (4 << 20)

/*  A one-connection TCP relay on loopback that records what passes.       */
typedef struct {
    int listen_fd;
    int port;
    int upstream_port;
    volatile int stop;
    char *bytes;                /* what passed, both ways                  */
    size_t len;
    pthread_t thread;
} s_relay_t;

/*  A TCP socket connected to 127.0.0.1:port, or -1.                        */
static int
s_dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *) &addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*  Copy what fd has to peer, recording it. 0, or -1 at the end.            */
static int
s_pass(s_relay_t *self, int fd, int peer)
{
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0)
        return -1;
    if (self->len + (size_t) n <= S_CAPTURE_MAX) {
        memcpy(self->bytes + self->len, buf, (size_t) n);
        self->len += (size_t) n;
    }
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(peer, buf + off, (size_t) (n - off));
        if (w <= 0)
            return -1;
        off += w;
    }
    return 0;
}

/*  The relay's thread: one client at a time, each polled in 100 msec
    turns until the test says stop.                                         */
static void *
s_relay_run(void *arg)
{
    s_relay_t *self = arg;
    while (!self->stop) {
        struct pollfd lp = {self->listen_fd, POLLIN, 0};
        if (poll(&lp, 1, 100) <= 0)
            continue;
        int down = accept(self->listen_fd, NULL, NULL);
        int up = down >= 0 ? s_dial(self->upstream_port) : -1;
        while (up >= 0 && !self->stop) {
            struct pollfd p[2] = {{down, POLLIN, 0}, {up, POLLIN, 0}};
            if (poll(p, 2, 100) < 0)
                break;
            if ((p[0].revents && s_pass(self, down, up) != 0) ||
                (p[1].revents && s_pass(self, up, down) != 0))
                break;
        }
        if (up >= 0)
            close(up);
        if (down >= 0)
            close(down);
    }
    return NULL;
}

/*  Start a relay to upstream_port. 0 / -1.                                 */
static int
s_relay_start(s_relay_t *self, int upstream_port)
{
    memset(self, 0, sizeof *self);
    self->upstream_port = upstream_port;
    self->bytes = malloc(S_CAPTURE_MAX);
    self->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof addr;
    if (!self->bytes || self->listen_fd < 0 ||
        bind(self->listen_fd, (struct sockaddr *) &addr, sizeof addr) != 0 ||
        listen(self->listen_fd, 4) != 0 ||
        getsockname(self->listen_fd, (struct sockaddr *) &addr, &alen) != 0)
        return -1;
    self->port = ntohs(addr.sin_port);
    return pthread_create(&self->thread, NULL, s_relay_run, self) == 0 ? 0 : -1;
}

/*  Stop the relay and close it.                                            */
static void
s_relay_stop(s_relay_t *self)
{
    self->stop = 1;
    pthread_join(self->thread, NULL);
    close(self->listen_fd);
    free(self->bytes);
}

/*  The port of a tcp://127.0.0.1:PORT endpoint.                            */
static int
s_port(const char *endpoint)
{
    const char *colon = strrchr(endpoint, ':');
    return colon ? atoi(colon + 1) : -1;
}

/*  `braid ARGS...` against endpoint with key (a path, or NULL for none):
    its exit code, its stdout in *out_p (owned) when out_p is not NULL.     */
static int
s_braid(const char *dir, const char *command, const char *endpoint, const char *key,
        const char *const tail[], char **out_p)
{
    char broker_key[1024];
    snprintf(broker_key, sizeof broker_key, "%s/broker", dir);
    const char *argv[16] = {BRAID_CLI_PATH, command, "-b", endpoint, "-T", "2s"};
    int n = 6;
    if (key) {
        argv[n++] = "--key";
        argv[n++] = key;
        argv[n++] = "--broker-key";
        argv[n++] = broker_key;
    }
    for (int i = 0; tail && tail[i] && n < 15; i++)
        argv[n++] = tail[i];
    argv[n] = NULL;
    size_t len = 0;
    int code = -1;
    char *out = braid_run(argv, NULL, 30000, &len, &code);
    if (out_p)
        *out_p = out;
    else
        free(out);
    return code;
}

static void
test_curve_roles(void **state)
{
    (void) state;
    char *dir = braid_tmpdir_new("braid-sec-curve");
    assert_non_null(dir);
    char path[2048], err[2200], clients[512], workers[512];
    snprintf(clients, sizeof clients, "%s/clients", dir);
    snprintf(workers, sizeof workers, "%s/workers", dir);
    assert_int_equal(mkdir(clients, 0700), 0);
    assert_int_equal(mkdir(workers, 0700), 0);
    snprintf(path, sizeof path, "%s/broker", dir);
    assert_int_equal(braid_curve_keygen(path, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/c1", clients);
    assert_int_equal(braid_curve_keygen(path, err, sizeof err), 0);
    snprintf(path, sizeof path, "%s/w1", workers);
    assert_int_equal(braid_curve_keygen(path, err, sizeof err), 0);
    char client_key[1024], worker_key[1024], broker_key[1024];
    snprintf(client_key, sizeof client_key, "%s/c1_secret", clients);
    snprintf(worker_key, sizeof worker_key, "%s/w1_secret", workers);
    snprintf(broker_key, sizeof broker_key, "%s/broker", dir);

    char conf[4096];
    snprintf(conf, sizeof conf,
             "broker\n    secret_key = \"%s/broker_secret\"\n    client_keys = \"%s\"\n"
             "    worker_keys = \"%s\"\n",
             dir, clients, workers);
    braid_cluster_t *cluster = braid_cluster_new(dir, conf);
    assert_non_null(cluster);
    assert_int_equal(braid_proc_wait_line(cluster->broker, BRAID_STDERR,
                                          "CURVE on frontend, backend and sink", 5000),
                     0);
    const char *extra[] = {"--key", worker_key, "--broker-key", broker_key, NULL};
    const char *specs[] = {"echo=exec:printf '%s\\n' {query}", NULL};
    assert_int_equal(braid_cluster_add_worker(cluster, "w1", 2, extra, specs), 0);
    /*  The rogue: a client's key on the backend, serving "rogue".          */
    const char *rogue_argv[] = {BRAID_WORKER_PATH, "-N", "rogue", "-b", cluster->backend,
                                "-k", cluster->sink, "--key", client_key, "--broker-key",
                                broker_key, "-s", "rogue=exec:printf 'ROGUE\\n'", NULL};
    braid_proc_t *rogue = braid_proc_spawn(dir, "rogue", rogue_argv, NULL);
    assert_non_null(rogue);
    assert_int_equal(braid_proc_wait_line(rogue, BRAID_STDERR, "ready name=rogue", 10000), 0);

    s_relay_t relay;
    assert_int_equal(s_relay_start(&relay, s_port(cluster->frontend)), 0);
    char via[64];
    snprintf(via, sizeof via, "tcp://127.0.0.1:%d", relay.port);
    char *out = NULL;
    const char *job[] = {"-s", "echo", S_QUERY, NULL};
    int code = s_braid(dir, "submit", via, client_key, job, &out);
    print_message("job over CURVE: exit %d, relayed %zu bytes\n", code, relay.len);
    assert_int_equal(code, 0);
    assert_string_equal(out, S_QUERY "\n");
    free(out);
    size_t captured = relay.len;
    bool leaked = memmem(relay.bytes, relay.len, S_QUERY, strlen(S_QUERY)) != NULL;
    s_relay_stop(&relay);
    assert_true(captured > 0);
    assert_false(leaked);

    /*  No key, or the worker's key, on the frontend: no answer.           */
    assert_int_equal(s_braid(dir, "stats", cluster->frontend, NULL, NULL, NULL), 3);
    assert_int_equal(s_braid(dir, "submit", cluster->frontend, worker_key, job, NULL), 3);
    /*  The rogue (a client key as a worker) is not registered: its source
        is unknown to the broker, and only w1 is listed.                    */
    const char *rogue_job[] = {"-s", "rogue", "x", NULL};
    assert_int_not_equal(s_braid(dir, "submit", cluster->frontend, client_key, rogue_job, &out),
                         0);
    assert_null(strstr(out ? out : "", "ROGUE"));
    free(out);
    const char *json[] = {"--json", NULL};
    assert_int_equal(s_braid(dir, "workers", cluster->frontend, client_key, json, &out), 0);
    assert_non_null(strstr(out, "\"w1\""));
    assert_null(strstr(out, "rogue"));
    free(out);

    braid_proc_signal(rogue, SIGTERM);
    int rogue_code = -1;
    braid_proc_wait_exit(rogue, 10000, &rogue_code);
    braid_proc_destroy(&rogue);
    assert_int_equal(braid_cluster_stop(cluster), 0);
    braid_cluster_destroy(&cluster);
    braid_tmpdir_destroy(&dir);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_curve_roles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
