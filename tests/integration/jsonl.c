/*  jsonl.c - a small JSON object reader for the client's --json lines.     */

#include "jsonl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*  Nesting the reader accepts; the client's lines nest two deep.           */
#define S_MAX_DEPTH 16

typedef enum { S_STRING, S_INT, S_OBJECT, S_OTHER } s_kind_t;

typedef struct {
    char *key;
    s_kind_t kind;
    char *str;
    size_t len;
    long long num;
    braid_json_t *obj;
} s_member_t;

struct braid_json_t {
    s_member_t *members;
    size_t count;
    size_t cap;
};

typedef struct {
    const char *p;
    const char *end;
} s_reader_t;

static void
s_skip_ws(s_reader_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static int
s_hex4(const char *p, unsigned *value_p)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned) (c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned) (c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned) (c - 'A' + 10);
        else
            return -1;
    }
    *value_p = v;
    return 0;
}

/*  Parse a string at r->p (which is '"'); owned bytes, NUL-terminated.     */
static char *
s_parse_string(s_reader_t *r, size_t *len_p)
{
    if (r->p >= r->end || *r->p != '"')
        return NULL;
    r->p++;
    /*  The unescaped form is never longer than the escaped one.           */
    char *out = malloc((size_t) (r->end - r->p) + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    while (r->p < r->end) {
        unsigned char c = (unsigned char) *r->p++;
        if (c == '"') {
            out[n] = '\0';
            *len_p = n;
            return out;
        }
        if (c < 0x20)
            break;
        if (c != '\\') {
            out[n++] = (char) c;
            continue;
        }
        if (r->p >= r->end)
            break;
        char e = *r->p++;
        switch (e) {
        case '"': out[n++] = '"'; break;
        case '\\': out[n++] = '\\'; break;
        case '/': out[n++] = '/'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'n': out[n++] = '\n'; break;
        case 'r': out[n++] = '\r'; break;
        case 't': out[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (r->end - r->p < 4 || s_hex4(r->p, &cp) != 0)
                goto fail;
            r->p += 4;
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned lo;
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u'
                    || s_hex4(r->p + 2, &lo) != 0 || lo < 0xDC00 || lo >= 0xE000)
                    goto fail;
                r->p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp <= 0xFF)
                out[n++] = (char) cp; /* the client's byte escape */
            else if (cp < 0x800) {
                out[n++] = (char) (0xC0 | (cp >> 6));
                out[n++] = (char) (0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                out[n++] = (char) (0xE0 | (cp >> 12));
                out[n++] = (char) (0x80 | ((cp >> 6) & 0x3F));
                out[n++] = (char) (0x80 | (cp & 0x3F));
            } else {
                out[n++] = (char) (0xF0 | (cp >> 18));
                out[n++] = (char) (0x80 | ((cp >> 12) & 0x3F));
                out[n++] = (char) (0x80 | ((cp >> 6) & 0x3F));
                out[n++] = (char) (0x80 | (cp & 0x3F));
            }
            break;
        }
        default: goto fail;
        }
    }
fail:
    free(out);
    return NULL;
}

static braid_json_t *s_parse_object(s_reader_t *r, int depth);

/*  Skip or parse one value into m (m may be NULL for array elements).     */
static int
s_parse_value(s_reader_t *r, s_member_t *m, int depth)
{
    s_skip_ws(r);
    if (r->p >= r->end || depth > S_MAX_DEPTH)
        return -1;
    char c = *r->p;
    if (c == '"') {
        size_t len;
        char *s = s_parse_string(r, &len);
        if (!s)
            return -1;
        if (m) {
            m->kind = S_STRING;
            m->str = s;
            m->len = len;
        } else
            free(s);
        return 0;
    }
    if (c == '{') {
        braid_json_t *obj = s_parse_object(r, depth + 1);
        if (!obj)
            return -1;
        if (m) {
            m->kind = S_OBJECT;
            m->obj = obj;
        } else
            braid_json_destroy(&obj);
        return 0;
    }
    if (c == '[') {
        r->p++;
        s_skip_ws(r);
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            return 0;
        }
        for (;;) {
            if (s_parse_value(r, NULL, depth + 1) != 0)
                return -1;
            s_skip_ws(r);
            if (r->p >= r->end)
                return -1;
            if (*r->p == ']') {
                r->p++;
                return 0;
            }
            if (*r->p++ != ',')
                return -1;
        }
    }
    static const char *words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t wl = strlen(words[i]);
        if ((size_t) (r->end - r->p) >= wl && memcmp(r->p, words[i], wl) == 0) {
            r->p += wl;
            return 0;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        const char *start = r->p;
        if (*r->p == '-')
            r->p++;
        bool integer = true;
        size_t digits = 0;
        while (r->p < r->end) {
            char d = *r->p;
            if (d >= '0' && d <= '9')
                digits++;
            else if (d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-')
                integer = false;
            else
                break;
            r->p++;
        }
        if (digits == 0)
            return -1;
        if (m && integer && digits <= 18) {
            m->kind = S_INT;
            m->num = strtoll(start, NULL, 10);
        }
        return 0;
    }
    return -1;
}

static int
s_add_member(braid_json_t *self, s_member_t *m)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 8;
        s_member_t *bigger = realloc(self->members, cap * sizeof *bigger);
        if (!bigger)
            return -1;
        self->members = bigger;
        self->cap = cap;
    }
    self->members[self->count++] = *m;
    return 0;
}

static void
s_member_free(s_member_t *m)
{
    free(m->key);
    free(m->str);
    braid_json_destroy(&m->obj);
}

static braid_json_t *
s_parse_object(s_reader_t *r, int depth)
{
    s_skip_ws(r);
    if (r->p >= r->end || *r->p != '{' || depth > S_MAX_DEPTH)
        return NULL;
    r->p++;
    braid_json_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    s_skip_ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        return self;
    }
    for (;;) {
        s_member_t m = {.kind = S_OTHER};
        size_t key_len;
        s_skip_ws(r);
        m.key = s_parse_string(r, &key_len);
        if (!m.key)
            goto fail;
        s_skip_ws(r);
        if (r->p >= r->end || *r->p++ != ':' || s_parse_value(r, &m, depth) != 0
            || s_add_member(self, &m) != 0) {
            s_member_free(&m);
            goto fail;
        }
        s_skip_ws(r);
        if (r->p >= r->end)
            goto fail;
        if (*r->p == '}') {
            r->p++;
            return self;
        }
        if (*r->p++ != ',')
            goto fail;
    }
fail:
    braid_json_destroy(&self);
    return NULL;
}

braid_json_t *
braid_json_parse(const char *text, size_t len)
{
    s_reader_t r = {text, text + len};
    braid_json_t *self = s_parse_object(&r, 0);
    s_skip_ws(&r);
    if (self && r.p != r.end)
        braid_json_destroy(&self);
    return self;
}

void
braid_json_destroy(braid_json_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_json_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        s_member_free(&self->members[i]);
    free(self->members);
    free(self);
    *self_p = NULL;
}

static s_member_t *
s_find(braid_json_t *self, const char *key)
{
    if (!self)
        return NULL;
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->members[i].key, key) == 0)
            return &self->members[i];
    return NULL;
}

const char *
braid_json_str(braid_json_t *self, const char *key, size_t *len_p)
{
    s_member_t *m = s_find(self, key);
    if (!m || m->kind != S_STRING)
        return NULL;
    if (len_p)
        *len_p = m->len;
    return m->str;
}

int
braid_json_int(braid_json_t *self, const char *key, long long *value_p)
{
    s_member_t *m = s_find(self, key);
    if (!m || m->kind != S_INT)
        return -1;
    *value_p = m->num;
    return 0;
}

braid_json_t *
braid_json_obj(braid_json_t *self, const char *key)
{
    s_member_t *m = s_find(self, key);
    return m && m->kind == S_OBJECT ? m->obj : NULL;
}

bool
braid_json_has(braid_json_t *self, const char *key)
{
    return s_find(self, key) != NULL;
}
