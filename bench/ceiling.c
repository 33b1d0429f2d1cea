/*  ceiling.c - the ZeroMQ ceiling for braid: a relay with braid's socket
    topology and no logic, in one process (one thread per role) over TCP
    loopback.

        client DEALER --> ROUTER frontend  (relay)  ROUTER backend <-- worker DEALER
        client DEALER <-- ROUTER frontend  (relay)  PULL sink      <-- worker PUSH

    A request is [payload]; the relay adds the client identity and routes it
    to the next worker round robin (the workers said HELLO first); a worker
    answers with `replies` messages [client-id, payload] on its PUSH; the
    relay routes each back through the frontend. Payloads are `size` bytes.

    Modes:
      tasks    N requests, `replies` replies each, at most `window` requests
               outstanding; prints requests/s and replies/s.
      latency  N requests one at a time; prints round-trip p50/p99/p99.9 (us).

    Output: one JSON object on stdout.

    ceiling [-m tasks|latency] [-n N] [-r REPLIES] [-s SIZE] [-W WINDOW] [-w WORKERS]
*/

#include <zmq.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *ctx;
static char ep_front[64], ep_back[64], ep_sink[64];
static int replies = 1, size = 64, nworkers = 2;
static volatile int stopping;

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
die(const char *what)
{
    fprintf(stderr, "ceiling: %s: %s\n", what, zmq_strerror(zmq_errno()));
    exit(1);
}

static void *
s_bind(int type, char *ep_out)
{
    void *s = zmq_socket(ctx, type);
    int hwm = 100000;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_bind(s, "tcp://127.0.0.1:*") != 0)
        die("bind");
    size_t len = 64;
    zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep_out, &len);
    return s;
}

static void *
s_connect(int type, const char *ep)
{
    void *s = zmq_socket(ctx, type);
    int hwm = 100000;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    if (zmq_connect(s, ep) != 0)
        die("connect");
    return s;
}

/*  Forward the rest of a multipart message from `in` to `out`.           */
static void
s_forward_rest(void *in, void *out)
{
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, in, 0) < 0) {
            zmq_msg_close(&m);
            return;
        }
        more = zmq_msg_more(&m);
        zmq_msg_send(&m, out, more ? ZMQ_SNDMORE : 0);
    }
}

/*  The relay: the broker's three sockets, zmq_poll, no logic.            */
static void *
s_relay(void *arg)
{
    void **socks = arg;
    void *front = socks[0], *back = socks[1], *sink = socks[2];
    zmq_msg_t workers[64];
    int nw = 0, next = 0;
    zmq_pollitem_t items[] = {{back, 0, ZMQ_POLLIN, 0},
                              {sink, 0, ZMQ_POLLIN, 0},
                              {front, 0, ZMQ_POLLIN, 0}};
    while (!stopping) {
        /*  Take requests only once every worker has said hello.          */
        int n = nw < nworkers ? 2 : 3;
        if (zmq_poll(items, n, 100) < 0)
            break;
        if (items[0].revents & ZMQ_POLLIN) {    /* worker HELLO           */
            zmq_msg_t id, body;
            zmq_msg_init(&id);
            zmq_msg_init(&body);
            zmq_msg_recv(&id, back, 0);
            zmq_msg_recv(&body, back, 0);
            zmq_msg_close(&body);
            if (nw < 64)
                workers[nw++] = id;
            else
                zmq_msg_close(&id);
        }
        if (items[1].revents & ZMQ_POLLIN)      /* [client-id, payload]   */
            for (int i = 0; i < 256; i++) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, sink, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&m);
                    break;
                }
                zmq_msg_send(&m, front, ZMQ_SNDMORE);
                s_forward_rest(sink, front);
            }
        if (n == 3 && (items[2].revents & ZMQ_POLLIN))  /* [client-id, payload] */
            for (int i = 0; i < 256; i++) {
                zmq_msg_t m;
                zmq_msg_init(&m);
                if (zmq_msg_recv(&m, front, ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&m);
                    break;
                }
                zmq_msg_t wid;
                zmq_msg_init(&wid);
                zmq_msg_copy(&wid, &workers[next]);
                next = (next + 1) % nw;
                zmq_msg_send(&wid, back, ZMQ_SNDMORE);
                zmq_msg_send(&m, back, ZMQ_SNDMORE);
                s_forward_rest(front, back);
            }
    }
    for (int i = 0; i < nw; i++)
        zmq_msg_close(&workers[i]);
    return NULL;
}

/*  A worker: HELLO, then for each [client-id, payload] push `replies`
    messages [client-id, payload].                                         */
static void *
s_worker(void *arg)
{
    (void) arg;
    void *dealer = s_connect(ZMQ_DEALER, ep_back);
    void *push = s_connect(ZMQ_PUSH, ep_sink);
    zmq_send(dealer, "HELLO", 5, 0);
    char cid[256], buf[65536];
    int tmo = 100;
    zmq_setsockopt(dealer, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    while (!stopping) {
        int idlen = zmq_recv(dealer, cid, sizeof cid, 0);
        if (idlen < 0)
            continue;
        int len = zmq_recv(dealer, buf, sizeof buf, 0);
        if (len < 0)
            continue;
        if (len > (int) sizeof buf)
            len = sizeof buf;
        for (int r = 0; r < replies; r++) {
            zmq_send(push, cid, (size_t) idlen, ZMQ_SNDMORE);
            zmq_send(push, buf, (size_t) len, 0);
        }
    }
    int linger = 0;
    zmq_setsockopt(dealer, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(dealer);
    zmq_close(push);
    return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    const char *mode = "tasks";
    long n = 200000, window = 1000;
    int opt;
    while ((opt = getopt(argc, argv, "m:n:r:s:W:w:")) != -1) {
        switch (opt) {
        case 'm': mode = optarg; break;
        case 'n': n = atol(optarg); break;
        case 'r': replies = atoi(optarg); break;
        case 's': size = atoi(optarg); break;
        case 'W': window = atol(optarg); break;
        case 'w': nworkers = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: ceiling [-m tasks|latency] [-n N] [-r REPLIES] "
                            "[-s SIZE] [-W WINDOW] [-w WORKERS]\n");
            return 2;
        }
    }
    if (n < 1 || replies < 1 || size < 1 || size > 65536 || window < 1 || nworkers < 1
        || nworkers > 64)
        return 2;
    ctx = zmq_ctx_new();
    void *socks[3];
    socks[0] = s_bind(ZMQ_ROUTER, ep_front);
    socks[1] = s_bind(ZMQ_ROUTER, ep_back);
    socks[2] = s_bind(ZMQ_PULL, ep_sink);
    int one = 1;
    zmq_setsockopt(socks[0], ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(socks[1], ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    pthread_t relay, workers[64];
    pthread_create(&relay, NULL, s_relay, socks);
    for (int i = 0; i < nworkers; i++)
        pthread_create(&workers[i], NULL, s_worker, NULL);

    void *client = s_connect(ZMQ_DEALER, ep_front);
    char *payload = malloc((size_t) size), *rbuf = malloc(65536);
    memset(payload, 'x', (size_t) size);
    usleep(200000);     /* the workers' HELLOs reach the relay            */

    int64_t *lat = NULL;
    if (strcmp(mode, "latency") == 0) {
        window = 1;
        replies = 1;
        lat = malloc((size_t) n * sizeof *lat);
    }
    /*  Warm up: one request through every worker.                        */
    for (int i = 0; i < nworkers; i++) {
        zmq_send(client, payload, (size_t) size, 0);
        for (int r = 0; r < replies; r++)
            zmq_recv(client, rbuf, 65536, 0);
    }
    long sent = 0, got = 0, total = n * replies;
    int64_t t0 = now_ns(), ts = 0;
    while (got < total) {
        while (sent < n && sent - got / replies < window) {
            if (lat)
                ts = now_ns();
            if (zmq_send(client, payload, (size_t) size, 0) < 0)
                die("send");
            sent++;
        }
        if (zmq_recv(client, rbuf, 65536, 0) < 0)
            die("recv");
        if (lat)
            lat[got] = now_ns() - ts;
        got++;
    }
    double sec = (double) (now_ns() - t0) / 1e9;
    if (lat) {
        qsort(lat, (size_t) n, sizeof *lat, cmp_i64);
        printf("{\"mode\":\"latency\",\"n\":%ld,\"p50_us\":%.1f,\"p99_us\":%.1f,"
               "\"p999_us\":%.1f,\"max_us\":%.1f}\n",
               n, lat[(n - 1) / 2] / 1e3, lat[(long) ((n - 1) * 0.99)] / 1e3,
               lat[(long) ((n - 1) * 0.999)] / 1e3, lat[n - 1] / 1e3);
    }
    else
        printf("{\"mode\":\"tasks\",\"n\":%ld,\"replies\":%d,\"size\":%d,\"window\":%ld,"
               "\"workers\":%d,\"sec\":%.3f,\"tasks_per_sec\":%.0f,\"replies_per_sec\":%.0f,"
               "\"mb_per_sec\":%.1f}\n",
               n, replies, size, window, nworkers, sec, n / sec, total / sec,
               (double) total * size / sec / 1e6);
    fflush(stdout);
    stopping = 1;
    pthread_join(relay, NULL);
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i], NULL);
    int linger = 0;
    for (int i = 0; i < 3; i++) {
        zmq_setsockopt(socks[i], ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(socks[i]);
    }
    zmq_setsockopt(client, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(client);
    zmq_ctx_term(ctx);
    free(payload);
    free(rbuf);
    free(lat);
    return 0;
}
