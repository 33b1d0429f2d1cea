/*  http_server.c - tests/http/server.py for the C tests. See the header. */

#include "http_server.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef BRAID_PYTHON3
#error "BRAID_PYTHON3 must be defined by the build"
#endif
#ifndef BRAID_HTTP_SERVER_PY
#error "BRAID_HTTP_SERVER_PY must be defined by the build"
#endif

#define S_START_MSEC 15000      /* the interpreter starts, even under load */
#define S_STOP_MSEC 10000
#define S_GET_MSEC 15000        /* one request to it, at most              */
#define S_READY "READY port="

struct braid_http_server_t {
    braid_proc_t *proc;
    int port;
    CURL *curl;             /* one connection, reused                      */
};

braid_http_server_t *
braid_http_server_new(const char *dir)
{
    braid_http_server_t *self = calloc(1, sizeof *self);
    if (!self || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(self);
        return NULL;
    }
    const char *argv[] = {BRAID_PYTHON3, BRAID_HTTP_SERVER_PY, NULL};
    char *out = NULL;
    const char *ready;
    if (!(self->curl = curl_easy_init()) ||
        !(self->proc = braid_proc_spawn(dir, "http-server", argv, NULL)) ||
        braid_proc_wait_line(self->proc, BRAID_STDOUT, S_READY, S_START_MSEC) != 0 ||
        !(out = braid_proc_output(self->proc, BRAID_STDOUT, NULL)) ||
        !(ready = strstr(out, S_READY)) || (self->port = atoi(ready + strlen(S_READY))) <= 0) {
        fprintf(stderr, "http server: did not start\n");
        if (self->proc)
            braid_proc_dump(self->proc, 2000);
        free(out);
        braid_http_server_destroy(&self);
        return NULL;
    }
    free(out);
    return self;
}

void
braid_http_server_destroy(braid_http_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_http_server_t *self = *self_p;
    braid_proc_destroy(&self->proc);
    if (self->curl) {
        curl_easy_cleanup(self->curl);
        curl_global_cleanup();
    }
    free(self);
    *self_p = NULL;
}

int
braid_http_server_port(const braid_http_server_t *self)
{
    return self->port;
}

int
braid_http_server_stop(braid_http_server_t *self)
{
    int code = -1;
    if (braid_proc_signal(self->proc, SIGTERM) != 0 ||
        braid_proc_wait_exit(self->proc, S_STOP_MSEC, &code) != 0 || code != 0) {
        fprintf(stderr, "http server: no clean stop (exit %d)\n", code);
        braid_proc_dump(self->proc, 2000);
        return -1;
    }
    return 0;
}

/*  A growing body, for the write callback.                                 */
typedef struct {
    char *data;
    size_t len;
} s_body_t;

static size_t
s_on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    s_body_t *body = arg;
    size_t len = size * nmemb;
    char *grown = realloc(body->data, body->len + len + 1);
    if (!grown)
        return 0;
    memcpy(grown + body->len, data, len);
    body->data = grown;
    body->len += len;
    body->data[body->len] = 0;
    return len;
}

char *
braid_http_server_get(braid_http_server_t *self, const char *path, size_t *len_p)
{
    char url[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", self->port, path);
    s_body_t body = {calloc(1, 1), 0};
    long status = 0;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    if (body.data) {
        curl_easy_setopt(self->curl, CURLOPT_URL, url);
        curl_easy_setopt(self->curl, CURLOPT_WRITEFUNCTION, s_on_write);
        curl_easy_setopt(self->curl, CURLOPT_WRITEDATA, &body);
        curl_easy_setopt(self->curl, CURLOPT_TIMEOUT_MS, (long) S_GET_MSEC);
        curl_easy_setopt(self->curl, CURLOPT_NOSIGNAL, 1L);
        rc = curl_easy_perform(self->curl);
        curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, &status);
    }
    if (rc != CURLE_OK || status != 200) {
        fprintf(stderr, "http server: GET %s: %s, status %ld\n", path, curl_easy_strerror(rc),
                status);
        free(body.data);
        return NULL;
    }
    if (len_p)
        *len_p = body.len;
    return body.data;
}

json_t *
braid_http_server_stats(braid_http_server_t *self)
{
    size_t len = 0;
    char *text = braid_http_server_get(self, "/_stats", &len);
    if (!text)
        return NULL;
    json_error_t error;
    json_t *stats = json_loadb(text, len, 0, &error);
    if (!stats)
        fprintf(stderr, "http server: /_stats is not JSON: %s\n", error.text);
    free(text);
    return stats;
}

int
braid_http_server_reset(braid_http_server_t *self)
{
    char *body = braid_http_server_get(self, "/_reset", NULL);
    free(body);
    return body ? 0 : -1;
}

int
braid_http_server_release(braid_http_server_t *self, const char *query, int n)
{
    char *q = curl_easy_escape(self->curl, query, 0);
    if (!q)
        return -1;
    char path[2048];
    snprintf(path, sizeof path, "/_release?q=%s&n=%d", q, n);
    curl_free(q);
    char *body = braid_http_server_get(self, path, NULL);
    free(body);
    return body ? 0 : -1;
}

long long
braid_http_server_stat(json_t *stats, const char *key)
{
    json_t *value = json_object_get(stats, key);
    return json_is_integer(value) ? json_integer_value(value) : -1;
}

json_t *
braid_http_server_list(json_t *stats, const char *obj, const char *key)
{
    json_t *list = json_object_get(json_object_get(stats, obj), key);
    return json_is_array(list) ? list : NULL;
}
