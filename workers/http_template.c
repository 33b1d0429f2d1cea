/*  http_template.c - URL and body templates, header environment. See the
    header.                                                                 */

#include "http_template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"

#define S_QUERY_LEN (sizeof BRAID_TEMPLATE_QUERY - 1)

struct _braid_http_template_t {
    char *text;
    size_t len;
    braid_http_escape_t escape;
};

braid_http_template_t *
braid_http_template_new(const char *text, size_t len, braid_http_escape_t escape)
{
    braid_http_template_t *self = calloc(1, sizeof *self);
    if (!self || !(self->text = malloc(len + 1))) {
        free(self);
        return NULL;
    }
    memcpy(self->text, text, len);
    self->text[len] = 0;
    self->len = len;
    self->escape = escape;
    return self;
}

void
braid_http_template_destroy(braid_http_template_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->text);
    free(*self_p);
    *self_p = NULL;
}

const char *
braid_http_template_text(const braid_http_template_t *self)
{
    return self->text;
}

/*  True for the bytes a URL carries as they are (RFC 3986 unreserved).    */
static bool
s_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

size_t
braid_http_escape(braid_http_escape_t escape, const char *bytes, size_t len, char *buf)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) bytes[i];
        char out[6];
        size_t k = 0;
        if (escape == BRAID_HTTP_ESCAPE_URL) {
            if (s_unreserved(c))
                out[k++] = (char) c;
            else {
                out[k++] = '%';
                out[k++] = hex[c >> 4];
                out[k++] = hex[c & 15];
            }
        } else if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char) c;
        } else if (c < 0x20 || c == 0x7f) {
            const char *named = c == '\n' ? "n" : c == '\t' ? "t" : c == '\r' ? "r" : NULL;
            out[k++] = '\\';
            if (named)
                out[k++] = named[0];
            else {
                memcpy(out + k, "u00", 3);
                k += 3;
                out[k++] = hex[c >> 4];
                out[k++] = hex[c & 15];
            }
        } else
            out[k++] = (char) c;
        if (buf)
            memcpy(buf + n, out, k);
        n += k;
    }
    return n;
}

/*  The next "{query}" in text[from..len), or NULL.                         */
static const char *
s_next_query(const char *text, size_t len, size_t from)
{
    if (from >= len || len - from < S_QUERY_LEN)
        return NULL;
    return memmem(text + from, len - from, BRAID_TEMPLATE_QUERY, S_QUERY_LEN);
}

char *
braid_http_template_fill(const braid_http_template_t *self, const char *query, size_t qlen,
                         size_t *len_p)
{
    size_t escaped = braid_http_escape(self->escape, query, qlen, NULL);
    size_t count = 0;
    for (const char *at = s_next_query(self->text, self->len, 0); at;
         at = s_next_query(self->text, self->len, (size_t) (at - self->text) + S_QUERY_LEN))
        count++;
    /*  Bounded: a template and a query are both small (config, 8 KiB).    */
    if (count && escaped > (SIZE_MAX - self->len - 1) / count)
        return NULL;
    size_t len = self->len - count * S_QUERY_LEN + count * escaped;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t from = 0, n = 0;
    for (const char *at = s_next_query(self->text, self->len, 0); at;
         at = s_next_query(self->text, self->len, from)) {
        size_t lit = (size_t) (at - self->text) - from;
        memcpy(out + n, self->text + from, lit);
        n += lit;
        n += braid_http_escape(self->escape, query, qlen, out + n);
        from = (size_t) (at - self->text) + S_QUERY_LEN;
    }
    memcpy(out + n, self->text + from, self->len - from);
    n += self->len - from;
    out[n] = 0;
    if (len_p)
        *len_p = n;
    return out;
}

/*  True if c may start (first) or continue a variable name.                */
static bool
s_name_char(char c, bool first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

char *
braid_http_expand_env(const char *text, size_t len, char *err, size_t errsize)
{
    /*  Two passes: check and size, then copy.                              */
    char *out = NULL;
    for (int pass = 0; pass < 2; pass++) {
        size_t n = 0;
        for (size_t i = 0; i < len;) {
            if (text[i] != '$' || i + 1 >= len || text[i + 1] != '{') {
                if (out)
                    out[n] = text[i];
                n++;
                i++;
                continue;
            }
            const char *name = text + i + 2;
            const char *end = memchr(name, '}', len - i - 2);
            size_t name_len = end ? (size_t) (end - name) : 0;
            bool ok = end && name_len > 0 && name_len < 256;
            for (size_t k = 0; ok && k < name_len; k++)
                ok = s_name_char(name[k], k == 0);
            if (!ok) {
                snprintf(err, errsize, "bad ${NAME} at '%.*s'", (int) (len - i < 32 ? len - i : 32),
                         text + i);
                free(out);
                return NULL;
            }
            char var[256];
            memcpy(var, name, name_len);
            var[name_len] = 0;
            const char *value = getenv(var);
            if (!value) {
                snprintf(err, errsize, "environment variable %s is not set", var);
                free(out);
                return NULL;
            }
            size_t vlen = strlen(value);
            if (out)
                memcpy(out + n, value, vlen);
            n += vlen;
            i += name_len + 3;
        }
        if (out) {
            out[n] = 0;
            return out;
        }
        if (!(out = malloc(n + 1))) {
            snprintf(err, errsize, "out of memory");
            return NULL;
        }
    }
    return out;     /* not reached                                         */
}
