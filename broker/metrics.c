/*  metrics.c - the broker's Prometheus endpoint. See the header.          */

#include "metrics.h"

#include "braid_log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct braid_metrics_t {
    struct MHD_Daemon *daemon;
    braid_metrics_render_fn *render;
    void *arg;
    char address[INET6_ADDRSTRLEN + 16];
    uint64_t scrapes;
};

int
braid_metrics_parse(const char *address, struct sockaddr_storage *addr, socklen_t *addrlen,
                    char *err, size_t errsize)
{
    memset(addr, 0, sizeof *addr);
    char host[INET6_ADDRSTRLEN + 1];
    const char *port_text;
    size_t hlen;
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errsize, "metrics address '%s': want [IPV6]:PORT", address);
            return -1;
        }
        hlen = (size_t) (close - address - 1);
        port_text = close + 2;
        address++;
    } else {
        const char *colon = strrchr(address, ':');
        if (!colon) {
            snprintf(err, errsize, "metrics address '%s': want HOST:PORT, e.g. 127.0.0.1:9464",
                     address);
            return -1;
        }
        hlen = (size_t) (colon - address);
        port_text = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof host) {
        snprintf(err, errsize, "metrics address: bad host");
        return -1;
    }
    memcpy(host, address, hlen);
    host[hlen] = 0;
    char *end = NULL;
    errno = 0;
    unsigned long port = strtoul(port_text, &end, 10);
    if (!*port_text || *end || errno || port > 65535 || port_text[0] == '-' ||
        port_text[0] == '+') {
        snprintf(err, errsize, "metrics address: bad port '%s' (0..65535)", port_text);
        return -1;
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *) addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) addr;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t) port);
        *addrlen = sizeof *in4;
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t) port);
        *addrlen = sizeof *in6;
    } else {
        snprintf(err, errsize, "metrics address: '%s' is not a numeric IPv4 or [IPv6] address",
                 host);
        return -1;
    }
    return 0;
}

/*  A short fixed answer (status, text).                                    */
static enum MHD_Result
s_answer(struct MHD_Connection *conn, unsigned int status, const char *text)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *) text, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/*  MHD's request handler: GET (or HEAD) /metrics.                          */
static enum MHD_Result
s_on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
             const char *version, const char *upload_data, size_t *upload_data_size,
             void **req_cls)
{
    braid_metrics_t *self = cls;
    (void) version;
    (void) upload_data;
    (void) req_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return s_answer(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
    if (*upload_data_size)
        return s_answer(conn, MHD_HTTP_BAD_REQUEST, "no body expected\n");
    if (strcmp(url, "/metrics") != 0)
        return s_answer(conn, MHD_HTTP_NOT_FOUND, "the metrics are at /metrics\n");
    size_t len = 0;
    char *text = self->render(self->arg, &len);
    if (!text)
        return s_answer(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, S_CONTENT_TYPE);
    enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    self->scrapes++;
    braid_debug("metrics: scrape n=%" PRIu64 " bytes=%zu", self->scrapes, len);
    return rc;
}

/*  MHD's own messages (a peer that reset, a bad request): debug only.      */
static void
s_on_log(void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = 0;
    braid_debug("metrics: %s", line);
}

braid_metrics_t *
braid_metrics_new(const char *address, braid_metrics_render_fn *render, void *arg, char *err,
                  size_t errsize)
{
    struct sockaddr_storage addr;
    socklen_t addrlen;
    if (braid_metrics_parse(address, &addr, &addrlen, err, errsize) != 0)
        return NULL;
    braid_metrics_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    self->render = render;
    self->arg = arg;
    unsigned int flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    self->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, s_on_request, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) BRAID_METRICS_MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) BRAID_METRICS_TIMEOUT_SEC,
        MHD_OPTION_EXTERNAL_LOGGER, s_on_log, NULL, MHD_OPTION_END);
    if (!self->daemon) {
        snprintf(err, errsize, "cannot serve metrics on %s: %s", address,
                 errno ? strerror(errno) : "libmicrohttpd refused");
        free(self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    uint16_t port = info ? info->port : 0;
    char host[INET6_ADDRSTRLEN];
    if (addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &addr)->sin6_addr, host, sizeof host);
        snprintf(self->address, sizeof self->address, "[%s]:%u", host, port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *) &addr)->sin_addr, host, sizeof host);
        snprintf(self->address, sizeof self->address, "%s:%u", host, port);
    }
    return self;
}

void
braid_metrics_destroy(braid_metrics_t **self_p)
{
    assert(self_p);
    braid_metrics_t *self = *self_p;
    if (!self)
        return;
    MHD_stop_daemon(self->daemon);
    free(self);
    *self_p = NULL;
}

int
braid_metrics_fd(braid_metrics_t *self)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

long
braid_metrics_timeout_msec(braid_metrics_t *self)
{
    MHD_UNSIGNED_LONG_LONG timeout = 0;
    if (MHD_get_timeout(self->daemon, &timeout) != MHD_YES)
        return -1;
    return timeout > (MHD_UNSIGNED_LONG_LONG) INT32_MAX ? INT32_MAX : (long) timeout;
}

void
braid_metrics_run(braid_metrics_t *self)
{
    MHD_run(self->daemon);
}

const char *
braid_metrics_address(braid_metrics_t *self)
{
    return self->address;
}

uint64_t
braid_metrics_scrapes(braid_metrics_t *self)
{
    return self->scrapes;
}
