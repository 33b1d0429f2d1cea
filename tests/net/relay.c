/*  relay.c - a delaying TCP relay between hosts of the test network. See
    relay.h for the contract.                                               */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/*  A direction's queue: S_SLOTS chunks of up to S_CHUNK bytes.            */
#define S_CHUNK 16384
#define S_SLOTS (BRAID_RELAY_QUEUE_BYTES / S_CHUNK)

typedef struct {
    int64_t due_msec; /* write it from then on */
    size_t len;
    size_t off; /* written so far */
    char data[S_CHUNK];
} s_chunk_t;

typedef struct {
    s_chunk_t *slots; /* S_SLOTS, a ring */
    int head;
    int count;
    bool eof;  /* the source side ended */
    bool shut; /* the end passed on: shutdown(dst, SHUT_WR) */
} s_dir_t;

/*  fd[0] the accepted side, fd[1] the target side; dir[0] carries
    fd[0] -> fd[1], dir[1] fd[1] -> fd[0].                                 */
typedef struct {
    bool used;
    bool connecting;
    int fd[2];
    s_dir_t dir[2];
} s_conn_t;

struct braid_relay_t {
    braid_topo_t *topo;
    braid_host_t target_host;
    struct sockaddr_in target;
    int delay_msec;
    int listen_fd;
    int port;
    int stop_pipe[2];
    pthread_t thread;
    bool started;
    s_conn_t conns[BRAID_RELAY_MAX_CONNS];
    atomic_uint_fast64_t accepted;
    atomic_uint_fast64_t bytes;
};

static void
s_conn_close(s_conn_t *c)
{
    for (int i = 0; i < 2; i++) {
        if (c->fd[i] >= 0)
            close(c->fd[i]);
        c->fd[i] = -1;
        free(c->dir[i].slots);
        c->dir[i].slots = NULL;
    }
    c->used = false;
}

static void
s_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/*  Accept one connection and start its target side.                       */
static void
s_accept(braid_relay_t *self)
{
    int fd = accept4(self->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    s_conn_t *c = NULL;
    for (int i = 0; i < BRAID_RELAY_MAX_CONNS && !c; i++)
        if (!self->conns[i].used)
            c = &self->conns[i];
    if (!c) {
        close(fd);
        return;
    }
    atomic_fetch_add(&self->accepted, 1);
    memset(c, 0, sizeof *c);
    c->used = true;
    c->fd[0] = fd;
    c->fd[1] = braid_topo_socket(self->topo, self->target_host, SOCK_STREAM | SOCK_NONBLOCK);
    c->dir[0].slots = malloc(sizeof(s_chunk_t) * S_SLOTS);
    c->dir[1].slots = malloc(sizeof(s_chunk_t) * S_SLOTS);
    if (c->fd[1] < 0 || !c->dir[0].slots || !c->dir[1].slots) {
        s_conn_close(c);
        return;
    }
    s_nodelay(c->fd[0]);
    s_nodelay(c->fd[1]);
    if (connect(c->fd[1], (struct sockaddr *) &self->target, sizeof self->target) == 0)
        c->connecting = false;
    else if (errno == EINPROGRESS)
        c->connecting = true;
    else
        s_conn_close(c);
}

/*  Read one chunk from dir d's source. false: the connection is done for. */
static bool
s_read(braid_relay_t *self, s_conn_t *c, int d, int64_t now)
{
    s_dir_t *q = &c->dir[d];
    if (q->eof || q->count == S_SLOTS)
        return true;
    s_chunk_t *chunk = &q->slots[(q->head + q->count) % S_SLOTS];
    ssize_t n = read(c->fd[d], chunk->data, S_CHUNK);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR;
    if (n == 0) {
        q->eof = true;
        return true;
    }
    chunk->len = (size_t) n;
    chunk->off = 0;
    chunk->due_msec = now + self->delay_msec;
    q->count++;
    return true;
}

/*  Write what is due of dir d to its destination. false: done for.      */
static bool
s_write(braid_relay_t *self, s_conn_t *c, int d, int64_t now)
{
    s_dir_t *q = &c->dir[d];
    int dst = c->fd[1 - d];
    while (q->count > 0) {
        s_chunk_t *chunk = &q->slots[q->head];
        if (chunk->due_msec > now)
            break;
        ssize_t n = send(dst, chunk->data + chunk->off, chunk->len - chunk->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        atomic_fetch_add(&self->bytes, (uint64_t) n);
        chunk->off += (size_t) n;
        if (chunk->off < chunk->len)
            break;
        q->head = (q->head + 1) % S_SLOTS;
        q->count--;
    }
    if (q->eof && q->count == 0 && !q->shut) {
        shutdown(dst, SHUT_WR);
        q->shut = true;
    }
    return true;
}

static void *
s_thread(void *arg)
{
    braid_relay_t *self = arg;
    int64_t end = braid_now_msec() + BRAID_RELAY_LIFETIME_MSEC;
    /*  stop pipe, listener, and two fds per connection.                   */
    struct pollfd pfds[2 + 2 * BRAID_RELAY_MAX_CONNS];
    while (braid_now_msec() < end) {
        int64_t now = braid_now_msec();
        int64_t wake = end;
        pfds[0] = (struct pollfd){.fd = self->stop_pipe[0], .events = POLLIN};
        pfds[1] = (struct pollfd){.fd = self->listen_fd, .events = POLLIN};
        for (int i = 0; i < BRAID_RELAY_MAX_CONNS; i++) {
            s_conn_t *c = &self->conns[i];
            short events[2] = {0, 0};
            if (c->used && c->connecting)
                events[1] = POLLOUT;
            else if (c->used)
                for (int d = 0; d < 2; d++) {
                    s_dir_t *q = &c->dir[d];
                    if (!q->eof && q->count < S_SLOTS)
                        events[d] |= POLLIN;
                    if (q->count > 0 && q->slots[q->head].due_msec <= now)
                        events[1 - d] |= POLLOUT;
                    else if (q->count > 0 && q->slots[q->head].due_msec < wake)
                        wake = q->slots[q->head].due_msec;
                }
            if (c->used && c->connecting && !c->dir[0].eof && c->dir[0].count < S_SLOTS)
                events[0] = POLLIN; /* queue up meanwhile */
            for (int k = 0; k < 2; k++)
                pfds[2 + 2 * i + k] =
                    (struct pollfd){.fd = events[k] ? c->fd[k] : -1, .events = events[k]};
        }
        int timeout = (int) (wake - now);
        int n = poll(pfds, 2 + 2 * BRAID_RELAY_MAX_CONNS, timeout > 0 ? timeout : 0);
        if (n < 0 && errno != EINTR)
            break;
        if (pfds[0].revents)
            break;
        now = braid_now_msec();
        if (pfds[1].revents & POLLIN)
            s_accept(self);
        for (int i = 0; i < BRAID_RELAY_MAX_CONNS; i++) {
            s_conn_t *c = &self->conns[i];
            if (!c->used || (pfds[2 + 2 * i].fd < 0 && pfds[3 + 2 * i].fd < 0))
                continue;
            short rev[2] = {pfds[2 + 2 * i].revents, pfds[3 + 2 * i].revents};
            bool ok = true;
            if (c->connecting && rev[1]) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
                    ok = false;
                c->connecting = false;
                rev[1] = 0;
            }
            for (int d = 0; d < 2 && ok; d++)
                if (rev[d] & (POLLIN | POLLHUP | POLLERR))
                    ok = s_read(self, c, d, now);
            for (int d = 0; d < 2 && ok && !c->connecting; d++)
                ok = s_write(self, c, d, now);
            if (ok && (rev[0] | rev[1]) & POLLERR)
                ok = false;
            if (!ok || (c->dir[0].shut && c->dir[1].shut))
                s_conn_close(c);
        }
    }
    for (int i = 0; i < BRAID_RELAY_MAX_CONNS; i++)
        if (self->conns[i].used)
            s_conn_close(&self->conns[i]);
    return NULL;
}

braid_relay_t *
braid_relay_new(braid_topo_t *topo, braid_host_t listen_host, int listen_port,
                braid_host_t target_host, const char *target_addr, int target_port,
                int delay_msec)
{
    braid_relay_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->topo = topo;
    self->target_host = target_host;
    self->delay_msec = delay_msec > 0 ? delay_msec : 0;
    self->stop_pipe[0] = self->stop_pipe[1] = -1;
    for (int i = 0; i < BRAID_RELAY_MAX_CONNS; i++)
        self->conns[i].fd[0] = self->conns[i].fd[1] = -1;
    self->target.sin_family = AF_INET;
    self->target.sin_port = htons((uint16_t) target_port);
    self->listen_fd = braid_topo_listen(topo, listen_host, listen_port, &self->port);
    if (inet_pton(AF_INET, target_addr, &self->target.sin_addr) != 1 || self->listen_fd < 0
        || fcntl(self->listen_fd, F_SETFL, O_NONBLOCK) != 0
        || pipe2(self->stop_pipe, O_CLOEXEC) != 0
        || pthread_create(&self->thread, NULL, s_thread, self) != 0) {
        fprintf(stderr, "relay: cannot start %s:%d -> %s:%d: %s\n", braid_host_addr(listen_host),
                listen_port, target_addr, target_port, strerror(errno));
        braid_relay_destroy(&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
braid_relay_destroy(braid_relay_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_relay_t *self = *self_p;
    if (self->started) {
        if (write(self->stop_pipe[1], "x", 1) != 1)
            fprintf(stderr, "relay: cannot stop the thread: %s\n", strerror(errno));
        pthread_join(self->thread, NULL);
    }
    for (int i = 0; i < BRAID_RELAY_MAX_CONNS; i++)
        if (self->conns[i].used)
            s_conn_close(&self->conns[i]);
    for (int i = 0; i < 2; i++)
        if (self->stop_pipe[i] >= 0)
            close(self->stop_pipe[i]);
    if (self->listen_fd >= 0)
        close(self->listen_fd);
    free(self);
    *self_p = NULL;
}

int
braid_relay_port(braid_relay_t *self)
{
    return self->port;
}

uint64_t
braid_relay_accepted(braid_relay_t *self)
{
    return atomic_load(&self->accepted);
}

uint64_t
braid_relay_bytes(braid_relay_t *self)
{
    return atomic_load(&self->bytes);
}
