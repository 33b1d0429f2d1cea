/*  http_settings.c - an http source's settings. See the header.          */

#include "http_settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "braid_msg.h"
#include "braid_num.h"
#include "template.h"

void *
braid_http_settings_new(void)
{
    /*  Reference-counted in libcurl: the settings use curl_slist.          */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    braid_http_settings_t *self = calloc(1, sizeof *self);
    if (!self) {
        curl_global_cleanup();
        return NULL;
    }
    self->connect_timeout_msec = BRAID_HTTP_CONNECT_TIMEOUT_MSEC;
    self->max_response_bytes = BRAID_HTTP_MAX_RESPONSE_BYTES;
    return self;
}

void
braid_http_settings_destroy(void **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_http_settings_t *self = *self_p;
    braid_http_template_destroy(&self->url);
    braid_http_template_destroy(&self->body);
    curl_slist_free_all(self->headers);
    curl_slist_free_all(self->request);
    free(self->sse_done);
    free(self->ca_file);
    free(self);
    *self_p = NULL;
    curl_global_cleanup();
}

/*  True if key (keylen bytes) is name.                                     */
static bool
s_is(const char *key, size_t keylen, const char *name)
{
    return strlen(name) == keylen && memcmp(key, name, keylen) == 0;
}

/*  A copy of val (vallen bytes) into *dst, replacing what was there.       */
static int
s_set_string(char **dst, const char *val, size_t vallen, char *err, size_t errsize)
{
    char *copy = strndup(val, vallen);
    if (!copy) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    free(*dst);
    *dst = copy;
    return 0;
}

static int
s_set_url(braid_http_settings_t *self, const char *val, size_t vallen, char *err,
          size_t errsize)
{
    if (!(vallen > 7 && strncasecmp(val, "http://", 7) == 0) &&
        !(vallen > 8 && strncasecmp(val, "https://", 8) == 0)) {
        snprintf(err, errsize, "url must start with http:// or https://");
        return -1;
    }
    for (size_t i = 0; i < vallen; i++)
        if ((unsigned char) val[i] <= ' ' || val[i] == 0x7f) {
            snprintf(err, errsize, "url may not hold spaces or control characters");
            return -1;
        }
    /*  A query never chooses where the request goes: no {query} in the
        scheme, host or port.                                               */
    const char *host = memchr(val, ':', vallen) + 3;
    const char *slash = memchr(host, '/', vallen - (size_t) (host - val));
    size_t authority = slash ? (size_t) (slash - val) : vallen;
    if (memmem(val, authority, BRAID_TEMPLATE_QUERY, sizeof BRAID_TEMPLATE_QUERY - 1)) {
        snprintf(err, errsize, "url may hold {query} only after its host");
        return -1;
    }
    braid_http_template_t *url = braid_http_template_new(val, vallen, BRAID_HTTP_ESCAPE_URL);
    if (!url) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    braid_http_template_destroy(&self->url);
    self->url = url;
    return 0;
}

/*  One header: name (namelen bytes; a token) and value (${VAR} expanded;
    no line breaks).                                                        */
static int
s_add_header(braid_http_settings_t *self, const char *name, size_t namelen, const char *val,
             size_t vallen, char *err, size_t errsize)
{
    static const char token[] = "!#$%&'*+-.^_`|~";
    bool ok = namelen > 0;
    for (size_t i = 0; ok && i < namelen; i++) {
        unsigned char c = (unsigned char) name[i];
        ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
             (c && strchr(token, c));
    }
    if (!ok) {
        snprintf(err, errsize, "header name '%.*s' is not an HTTP token", (int) namelen, name);
        return -1;
    }
    while (vallen && (*val == ' ' || *val == '\t')) {
        val++;
        vallen--;
    }
    char why[160];
    char *value = braid_http_expand_env(val, vallen, why, sizeof why);
    if (!value) {
        snprintf(err, errsize, "header %.*s: %s", (int) namelen, name, why);
        return -1;
    }
    char *line = NULL;
    int rc = -1;
    if (strpbrk(value, "\r\n"))
        snprintf(err, errsize, "header %.*s: the value holds a line break", (int) namelen, name);
    else if (asprintf(&line, "%.*s: %s", (int) namelen, name, value) < 0) {
        line = NULL;
        snprintf(err, errsize, "out of memory");
    } else {
        struct curl_slist *list = curl_slist_append(self->headers, line);
        if (list) {
            self->headers = list;
            if (namelen == 12 && strncasecmp(name, "content-type", 12) == 0)
                self->content_type = true;
            rc = 0;
        } else
            snprintf(err, errsize, "out of memory");
    }
    free(line);
    free(value);
    return rc;
}

/*  Settings whose value is a choice among words.                           */
static int
s_set_choice(braid_http_settings_t *self, const char *key, size_t keylen, const char *val,
             size_t vallen, char *err, size_t errsize)
{
    if (s_is(key, keylen, "output")) {
        if (s_is(val, vallen, "lines"))
            self->output = BRAID_HTTP_OUT_LINES;
        else if (s_is(val, vallen, "chunks"))
            self->output = BRAID_HTTP_OUT_CHUNKS;
        else if (s_is(val, vallen, "sse"))
            self->output = BRAID_HTTP_OUT_SSE;
        else {
            snprintf(err, errsize, "output must be lines, chunks or sse");
            return -1;
        }
        return 0;
    }
    if (s_is(key, keylen, "method")) {
        if (s_is(val, vallen, "GET"))
            self->method = BRAID_HTTP_METHOD_GET;
        else if (s_is(val, vallen, "POST"))
            self->method = BRAID_HTTP_METHOD_POST;
        else {
            snprintf(err, errsize, "method must be GET or POST");
            return -1;
        }
        return 0;
    }
    /*  insecure_skip_tls_verify: verification is off only when this says
        so in so many words.                                                */
    if (s_is(val, vallen, "yes"))
        self->insecure = true;
    else if (s_is(val, vallen, "no"))
        self->insecure = false;
    else {
        snprintf(err, errsize, "insecure_skip_tls_verify must be yes or no");
        return -1;
    }
    return 0;
}

int
braid_http_settings_set(void *settings, const char *key, size_t keylen, const char *val,
                        size_t vallen, char *err, size_t errsize)
{
    braid_http_settings_t *self = settings;
    if (s_is(key, keylen, "url"))
        return s_set_url(self, val, vallen, err, errsize);
    if (s_is(key, keylen, "output") || s_is(key, keylen, "method") ||
        s_is(key, keylen, "insecure_skip_tls_verify"))
        return s_set_choice(self, key, keylen, val, vallen, err, errsize);
    if (s_is(key, keylen, "body")) {
        braid_http_template_t *body =
            braid_http_template_new(val, vallen, BRAID_HTTP_ESCAPE_JSON);
        if (!body) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        braid_http_template_destroy(&self->body);
        self->body = body;
        return 0;
    }
    if (s_is(key, keylen, "header")) {
        const char *colon = memchr(val, ':', vallen);
        if (!colon) {
            snprintf(err, errsize, "header must be \"Name: value\"");
            return -1;
        }
        return s_add_header(self, val, (size_t) (colon - val), colon + 1,
                            vallen - (size_t) (colon - val) - 1, err, errsize);
    }
    if (keylen > 7 && memcmp(key, "header/", 7) == 0)   /* a header section */
        return s_add_header(self, key + 7, keylen - 7, val, vallen, err, errsize);
    if (s_is(key, keylen, "sse_done"))
        return s_set_string(&self->sse_done, val, vallen, err, errsize);
    if (s_is(key, keylen, "ca_file"))
        return s_set_string(&self->ca_file, val, vallen, err, errsize);
    if (s_is(key, keylen, "connect_timeout_msec")) {
        if (braid_parse_u64_len(val, vallen, 1, BRAID_MAX_MSEC, &self->connect_timeout_msec)) {
            snprintf(err, errsize, "connect_timeout_msec must be an integer in 1..%u",
                     BRAID_MAX_MSEC);
            return -1;
        }
        return 0;
    }
    if (s_is(key, keylen, "max_response_bytes")) {
        if (braid_parse_u64_len(val, vallen, 0, INT64_MAX, &self->max_response_bytes)) {
            snprintf(err, errsize, "max_response_bytes must be an integer, 0 for no limit");
            return -1;
        }
        return 0;
    }
    snprintf(err, errsize, "unknown setting '%.*s' for an http source", (int) keylen, key);
    return -1;
}

int
braid_http_settings_flag(void *settings, const char *text, char *err, size_t errsize)
{
    if (!text || !*text) {
        snprintf(err, errsize, "http needs a URL: NAME=http:URL");
        return -1;
    }
    return s_set_url(settings, text, strlen(text), err, errsize);
}

int
braid_http_settings_check(void *settings, const char *name, char *err, size_t errsize)
{
    braid_http_settings_t *self = settings;
    if (!self->url) {
        snprintf(err, errsize, "http source '%s' has no url", name);
        return -1;
    }
    if (self->body && self->method == BRAID_HTTP_METHOD_GET) {
        snprintf(err, errsize, "http source '%s': a GET request has no body", name);
        return -1;
    }
    if (self->sse_done && self->output != BRAID_HTTP_OUT_SSE) {
        snprintf(err, errsize, "http source '%s': sse_done needs output = sse", name);
        return -1;
    }
    if (self->method == BRAID_HTTP_METHOD_DEFAULT)
        self->method = self->body ? BRAID_HTTP_METHOD_POST : BRAID_HTTP_METHOD_GET;
    curl_slist_free_all(self->request);
    self->request = NULL;
    const char *extra[] = {
        /*  curl would wait for a 100 Continue before a larger body.        */
        self->method == BRAID_HTTP_METHOD_POST ? "Expect:" : NULL,
        self->body && !self->content_type ? "Content-Type: application/json" : NULL,
        self->output == BRAID_HTTP_OUT_SSE ? "Accept: text/event-stream" : NULL,
    };
    for (const struct curl_slist *h = self->headers; h; h = h->next)
        if (!(self->request = curl_slist_append(self->request, h->data)))
            goto oom;
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        if (extra[i] && !(self->request = curl_slist_append(self->request, extra[i])))
            goto oom;
    return 0;
oom:
    snprintf(err, errsize, "out of memory");
    return -1;
}
