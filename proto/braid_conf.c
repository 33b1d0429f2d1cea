/*  braid_conf.c - a ZPL config file parsed into a tree with line numbers.

    czmq's zconfig reads the same syntax but forgets where a value came
    from, and "worker: bad slots" without a line number is a poor message
    for an operator; hence this small parser. See braid_conf.h for the
    subset of ZPL it accepts.
*/

#include "braid_conf.h"
#include "braid_num.h"

#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  Largest file we read: far more than any config needs.                  */
#define BRAID_CONF_MAX_SIZE (4u << 20)

struct _braid_conf_t {
    char *name;             /* "" for the root                             */
    char *value;            /* NULL when the node has none                 */
    int line;               /* 0 for the root                              */
    braid_conf_t *root;     /* the root holds the file name                */
    char *file;             /* root only                                   */
    braid_conf_t *child;    /* first child                                 */
    braid_conf_t *last;     /* last child, to append in O(1)               */
    braid_conf_t *next;     /* next sibling                                */
};

/*  ---------------------------------------------------------------------
    Nodes                                                                  */

static braid_conf_t *
s_node_new(braid_conf_t *root, const char *name, size_t namelen, int line)
{
    braid_conf_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->name = strndup(name, namelen);
    if (!self->name) {
        free(self);
        return NULL;
    }
    self->line = line;
    self->root = root ? root : self;
    return self;
}

static void
s_node_free(braid_conf_t *self)
{
    /*  Iterative over siblings, recursive over children: depth is capped
        by BRAID_CONF_MAX_DEPTH.                                           */
    while (self) {
        braid_conf_t *next = self->next;
        s_node_free(self->child);
        free(self->name);
        free(self->value);
        free(self->file);
        free(self);
        self = next;
    }
}

void
braid_conf_destroy(braid_conf_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_node_free(*self_p);
    *self_p = NULL;
}

/*  ---------------------------------------------------------------------
    Errors                                                                 */

static void
s_verror(char *err, size_t errsize, const char *file, int line, const char *fmt, va_list ap)
{
    if (!err || errsize == 0)
        return;
    int n = line > 0 ? snprintf(err, errsize, "%s:%d: ", file, line)
                     : snprintf(err, errsize, "%s: ", file);
    if (n < 0 || (size_t) n >= errsize)
        return;
    vsnprintf(err + n, errsize - (size_t) n, fmt, ap);
}

static void __attribute__((format(printf, 5, 6)))
s_error(char *err, size_t errsize, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_verror(err, errsize, file, line, fmt, ap);
    va_end(ap);
}

void
braid_conf_error(braid_conf_t *node, char *err, size_t errsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_verror(err, errsize, node ? node->root->file : "?", node ? node->line : 0, fmt, ap);
    va_end(ap);
}

/*  ---------------------------------------------------------------------
    Parsing                                                                */

static bool
s_is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '$' || c == '-' || c == '_' || c == '@' || c == '.' || c == '&' || c == '+';
}

static bool
s_is_space(char c)
{
    return c == ' ' || c == '\t';
}

typedef struct {
    braid_conf_t *root;
    braid_conf_t *stack[BRAID_CONF_MAX_DEPTH + 1];  /* last node per level */
    int depth;              /* levels open: the next line may be at most this */
    const char *file;
    char *err;
    size_t errsize;
    zhashx_t *names;        /* "parent/name" -> node: siblings' names, so
                               a duplicate is found in O(1), not by a walk */
} s_parser_t;

/*  Parse one line (without its newline). Returns 0 or -1 with err set.    */
static int
s_parse_line(s_parser_t *p, const char *s, size_t len, int lineno)
{
    if (len > 0 && s[len - 1] == '\r')
        len--;              /* tolerate CRLF files                         */
    if (memchr(s, 0, len)) {
        s_error(p->err, p->errsize, p->file, lineno, "NUL byte in line");
        return -1;
    }
    size_t i = 0;
    while (i < len && s_is_space(s[i]))
        i++;
    if (i == len || s[i] == '#')
        return 0;           /* blank or comment: indentation is free       */
    if (memchr(s, '\t', i)) {
        s_error(p->err, p->errsize, p->file, lineno, "tab in indentation");
        return -1;
    }
    if (i % 4) {
        s_error(p->err, p->errsize, p->file, lineno,
                "indentation of %zu spaces is not a multiple of 4", i);
        return -1;
    }
    int level = (int) (i / 4);
    if (level > p->depth) {
        s_error(p->err, p->errsize, p->file, lineno, "indented more than one level deeper");
        return -1;
    }
    if (level >= BRAID_CONF_MAX_DEPTH) {
        s_error(p->err, p->errsize, p->file, lineno, "nested deeper than %d levels",
                BRAID_CONF_MAX_DEPTH);
        return -1;
    }

    /*  The name.                                                          */
    const char *name = s + i;
    while (i < len && s_is_name_char(s[i]))
        i++;
    size_t namelen = (size_t) (s + i - name);
    if (namelen == 0) {
        s_error(p->err, p->errsize, p->file, lineno, "expected a name, found '%c'", s[i]);
        return -1;
    }
    if (namelen > BRAID_CONF_MAX_NAME) {
        s_error(p->err, p->errsize, p->file, lineno, "name longer than %d bytes",
                BRAID_CONF_MAX_NAME);
        return -1;
    }
    if (i < len && !s_is_space(s[i]) && s[i] != '=' && s[i] != '#') {
        s_error(p->err, p->errsize, p->file, lineno, "bad character '%c' in name '%.*s'", s[i],
                (int) namelen, name);
        return -1;
    }
    while (i < len && s_is_space(s[i]))
        i++;

    /*  The value, if any.                                                 */
    const char *value = NULL;
    size_t valuelen = 0;
    if (i < len && s[i] == '=') {
        i++;
        while (i < len && s_is_space(s[i]))
            i++;
        if (i == len || s[i] == '#') {
            s_error(p->err, p->errsize, p->file, lineno, "missing value after '='");
            return -1;
        }
        if (s[i] == '"' || s[i] == '\'') {
            char quote = s[i++];
            const char *end = memchr(s + i, quote, len - i);
            if (!end) {
                s_error(p->err, p->errsize, p->file, lineno, "unterminated %s quote",
                        quote == '"' ? "double" : "single");
                return -1;
            }
            value = s + i;
            valuelen = (size_t) (end - value);
            i = (size_t) (end - s) + 1;
        } else {
            value = s + i;
            while (i < len && !s_is_space(s[i]) && s[i] != '#')
                i++;
            valuelen = (size_t) (s + i - value);
        }
        while (i < len && s_is_space(s[i]))
            i++;
    }
    if (i < len && s[i] != '#') {
        s_error(p->err, p->errsize, p->file, lineno, "unexpected text after %s: '%c'",
                value ? "value" : "name", s[i]);
        return -1;
    }

    /*  Siblings have distinct names.                                      */
    braid_conf_t *parent = p->stack[level];
    char key[2 * sizeof(void *) + 4 + BRAID_CONF_MAX_LINE];
    snprintf(key, sizeof key, "%p/%.*s", (void *) parent, (int) namelen, name);
    const braid_conf_t *first = zhashx_lookup(p->names, key);
    if (first) {
        s_error(p->err, p->errsize, p->file, lineno, "duplicate '%s' (first at line %d)",
                first->name, first->line);
        return -1;
    }
    braid_conf_t *node = s_node_new(p->root, name, namelen, lineno);
    if (!node || (value && !(node->value = strndup(value, valuelen))) ||
        zhashx_insert(p->names, key, node) != 0) {
        s_node_free(node);
        s_error(p->err, p->errsize, p->file, lineno, "out of memory");
        return -1;
    }
    if (parent->last)
        parent->last->next = node;
    else
        parent->child = node;
    parent->last = node;
    p->stack[level + 1] = node;
    p->depth = level + 1;
    return 0;
}

braid_conf_t *
braid_conf_parse(const char *text, size_t size, const char *name, char *err, size_t errsize)
{
    if (err && errsize)
        err[0] = 0;
    if (!name)
        name = "(config)";
    s_parser_t p = {.file = name, .err = err, .errsize = errsize};
    p.root = s_node_new(NULL, "", 0, 0);
    if (!p.root || !(p.root->file = strdup(name))) {
        s_node_free(p.root);
        s_error(err, errsize, name, 0, "out of memory");
        return NULL;
    }
    p.stack[0] = p.root;
    p.depth = 0;
    if (!(p.names = zhashx_new())) {
        s_error(err, errsize, name, 0, "out of memory");
        goto fail;
    }

    size_t pos = 0;
    int lineno = 0;
    while (pos < size) {
        const char *nl = memchr(text + pos, '\n', size - pos);
        size_t len = nl ? (size_t) (nl - (text + pos)) : size - pos;
        lineno++;
        if (lineno > BRAID_CONF_MAX_LINES) {
            s_error(err, errsize, name, lineno, "more than %d lines", BRAID_CONF_MAX_LINES);
            goto fail;
        }
        if (len > BRAID_CONF_MAX_LINE) {
            s_error(err, errsize, name, lineno, "line longer than %d bytes", BRAID_CONF_MAX_LINE);
            goto fail;
        }
        if (s_parse_line(&p, text + pos, len, lineno))
            goto fail;
        pos += len + (nl ? 1 : 0);
    }
    zhashx_destroy(&p.names);
    return p.root;
fail:
    zhashx_destroy(&p.names);
    s_node_free(p.root);
    return NULL;
}

braid_conf_t *
braid_conf_load(const char *path, char *err, size_t errsize)
{
    if (err && errsize)
        err[0] = 0;
    if (!path) {
        s_error(err, errsize, "(null)", 0, "no file name");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        s_error(err, errsize, path, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 4096, size = 0;
    char *buf = malloc(cap);
    braid_conf_t *root = NULL;
    if (!buf) {
        s_error(err, errsize, path, 0, "out of memory");
        goto done;
    }
    for (;;) {
        if (size == cap) {
            if (cap >= BRAID_CONF_MAX_SIZE) {
                s_error(err, errsize, path, 0, "larger than %u bytes", BRAID_CONF_MAX_SIZE);
                goto done;
            }
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                s_error(err, errsize, path, 0, "out of memory");
                goto done;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t n = fread(buf + size, 1, cap - size, f);
        size += n;
        if (n == 0) {
            if (ferror(f)) {
                s_error(err, errsize, path, 0, "cannot read: %s", strerror(errno));
                goto done;
            }
            break;
        }
    }
    root = braid_conf_parse(buf, size, path, err, errsize);
done:
    free(buf);
    fclose(f);
    return root;
}

/*  ---------------------------------------------------------------------
    Lookups                                                                */

braid_conf_t *
braid_conf_locate(braid_conf_t *self, const char *path)
{
    if (!self || !path)
        return NULL;
    while (*path == '/')
        path++;
    while (*path && self) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t) (slash - path) : strlen(path);
        braid_conf_t *c = self->child;
        while (c && !(strlen(c->name) == len && memcmp(c->name, path, len) == 0))
            c = c->next;
        self = c;
        path += len;
        while (*path == '/')
            path++;
    }
    return self;
}

const char *
braid_conf_get(braid_conf_t *self, const char *path, const char *dflt)
{
    braid_conf_t *node = braid_conf_locate(self, path);
    return node && node->value ? node->value : dflt;
}

braid_conf_t *
braid_conf_child(braid_conf_t *self)
{
    return self ? self->child : NULL;
}

braid_conf_t *
braid_conf_next(braid_conf_t *self)
{
    return self ? self->next : NULL;
}

const char *
braid_conf_name(braid_conf_t *self)
{
    return self ? self->name : NULL;
}

const char *
braid_conf_value(braid_conf_t *self)
{
    return self ? self->value : NULL;
}

int
braid_conf_line(braid_conf_t *self)
{
    return self ? self->line : 0;
}

const char *
braid_conf_file(braid_conf_t *self)
{
    return self ? self->root->file : NULL;
}

int
braid_conf_uint(braid_conf_t *self, const char *path, uint64_t min, uint64_t max, uint64_t dflt,
                uint64_t *value, char *err, size_t errsize)
{
    braid_conf_t *node = braid_conf_locate(self, path);
    if (!node) {
        *value = dflt;
        return 0;
    }
    uint64_t v;
    if (braid_parse_u64(node->value, min, max, &v) != 0) {
        braid_conf_error(node, err, errsize, "%s must be an integer in %llu..%llu", node->name,
                         (unsigned long long) min, (unsigned long long) max);
        return -1;
    }
    *value = v;
    return 0;
}
