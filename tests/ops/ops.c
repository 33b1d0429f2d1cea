/*  ops.c - helpers of the ops tests. See the header.                 */

#include "ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/*  Wait for events on fd until deadline (monotonic msec). 1 ready, 0 the
    deadline passed, -1 error.                                              */
static int
s_wait(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - braid_now_msec();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int rc = poll(&p, 1, (int) left);
        if (rc < 0 && errno == EINTR)
            continue;
        return rc < 0 ? -1 : rc > 0;
    }
}

char *
ops_http_get(int port, const char *path, int timeout_msec, int *status_p, size_t *len_p)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int err = 0;
    socklen_t errlen = sizeof err;
    if ((connect(fd, (struct sockaddr *) &addr, sizeof addr) != 0 && errno != EINPROGRESS) ||
        s_wait(fd, POLLOUT, deadline) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 || err != 0)
        goto fail;
    char request[1024];
    int n = snprintf(request, sizeof request,
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path,
                     port);
    if (n < 0 || (size_t) n >= sizeof request || send(fd, request, (size_t) n, MSG_NOSIGNAL) != n)
        goto fail;
    /*  HTTP/1.0 with Connection: close: the answer ends at EOF.            */
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            char *grown = realloc(buf, cap);
            if (!grown)
                goto fail;
            buf = grown;
        }
        if (s_wait(fd, POLLIN, deadline) != 1)
            goto fail;
        ssize_t got = recv(fd, buf + len, cap - len - 1, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        len += (size_t) got;
    }
    close(fd);
    buf[len] = 0;
    int status = 0;
    char *body = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1 || !body) {
        free(buf);
        return NULL;
    }
    body += 4;
    size_t blen = len - (size_t) (body - buf);
    memmove(buf, body, blen + 1);
    if (status_p)
        *status_p = status;
    if (len_p)
        *len_p = blen;
    return buf;
fail:
    close(fd);
    free(buf);
    return NULL;
}

int
ops_ready_port(braid_proc_t *broker, const char *key)
{
    char *err = braid_proc_output(broker, BRAID_STDERR, NULL);
    if (!err)
        return -1;
    int port = -1;
    const char *ready = strstr(err, "braidd: ready ");
    char want[64];
    snprintf(want, sizeof want, " %s=", key);
    const char *at = ready ? strstr(ready, want) : NULL;
    const char *eol = ready ? strchr(ready, '\n') : NULL;
    if (at && (!eol || at < eol)) {
        const char *colon = strchr(at + strlen(want), ':');
        const char *last = colon;
        /*  The last ':' before the line ends ([IPv6]:PORT too).           */
        while (colon && (!eol || colon < eol)) {
            last = colon;
            colon = strchr(colon + 1, ':');
        }
        if (last && (!eol || last < eol))
            port = atoi(last + 1);
    }
    free(err);
    return port > 0 ? port : -1;
}

int
ops_notify_open(const char *dir)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/notify", dir);
    if (n < 0 || (size_t) n >= sizeof addr.sun_path)
        return -1;
    int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (sock < 0)
        return -1;
    if (bind(sock, (struct sockaddr *) &addr, sizeof addr) != 0 ||
        setenv("NOTIFY_SOCKET", addr.sun_path, 1) != 0) {
        close(sock);
        return -1;
    }
    return sock;
}

int
ops_notify_wait(int sock, const char *prefix, int timeout_msec, char *seen, size_t seensize)
{
    int64_t deadline = braid_now_msec() + timeout_msec;
    for (;;) {
        char msg[4096];
        ssize_t n = recv(sock, msg, sizeof msg - 1, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (s_wait(sock, POLLIN, deadline) != 1)
                return -1;
            continue;
        }
        if (n < 0)
            return -1;
        msg[n] = 0;
        bool found = false;
        for (char *line = strtok(msg, "\n"); line; line = strtok(NULL, "\n")) {
            size_t used = strlen(seen);
            snprintf(seen + used, seensize - used, "%s\n", line);
            if (strncmp(line, prefix, strlen(prefix)) == 0)
                found = true;
        }
        if (found)
            return 0;
    }
}
