/*  template.c - exec source command templates. See template.h.           */

#include "template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _braid_template_t {
    size_t nwords;
    char **words;           /* unquoted words                              */
    bool has_query;
    bool takes_options;     /* braid_template_takes_options()              */
};

/*  A growable byte string for the word being collected.                   */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} s_buf_t;

static int
s_buf_put(s_buf_t *b, const char *src, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (!data)
            return -1;
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

static bool
s_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void
braid_template_destroy(braid_template_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_template_t *self = *self_p;
    for (size_t i = 0; i < self->nwords; i++)
        free(self->words[i]);
    free(self->words);
    free(self);
    *self_p = NULL;
}

static int
s_add_word(braid_template_t *self, s_buf_t *word)
{
    char **words = realloc(self->words, (self->nwords + 1) * sizeof *words);
    if (!words)
        return -1;
    self->words = words;
    if (!word->data && s_buf_put(word, "", 0))
        return -1;
    self->words[self->nwords++] = word->data;
    *word = (s_buf_t){0};
    return 0;
}

braid_template_t *
braid_template_new(const char *text, char *err, size_t errsize)
{
    braid_template_t *self = calloc(1, sizeof *self);
    s_buf_t word = {0};
    const char *why = "out of memory";
    if (!self)
        goto fail;
    if (!text) {
        why = "no command";
        goto fail;
    }

    bool in_word = false;   /* a word has started (even an empty '' one)   */
    const char *p = text;
    while (*p) {
        char c = *p;
        if (s_is_space(c)) {
            if (in_word && s_add_word(self, &word))
                goto fail;
            in_word = false;
            p++;
            continue;
        }
        in_word = true;
        if (c == '\'') {
            const char *end = strchr(p + 1, '\'');
            if (!end) {
                why = "unterminated single quote";
                goto fail;
            }
            if (s_buf_put(&word, p + 1, (size_t) (end - p - 1)))
                goto fail;
            p = end + 1;
            if (!word.data && s_buf_put(&word, "", 0))
                goto fail;
        } else if (c == '"') {
            p++;
            for (;;) {
                if (!*p) {
                    why = "unterminated double quote";
                    goto fail;
                }
                if (*p == '"')
                    break;
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                if (s_buf_put(&word, p, 1))
                    goto fail;
                p++;
            }
            p++;
            if (!word.data && s_buf_put(&word, "", 0))
                goto fail;
        } else if (c == '\\') {
            if (!p[1]) {
                why = "trailing backslash";
                goto fail;
            }
            if (s_buf_put(&word, p + 1, 1))
                goto fail;
            p += 2;
        } else {
            if (s_buf_put(&word, p, 1))
                goto fail;
            p++;
        }
    }
    if (in_word && s_add_word(self, &word))
        goto fail;
    if (self->nwords == 0) {
        why = "empty command";
        goto fail;
    }
    if (strstr(self->words[0], BRAID_TEMPLATE_QUERY)) {
        why = "the program name may not contain " BRAID_TEMPLATE_QUERY;
        goto fail;
    }
    if (self->words[0][0] == 0) {
        why = "empty program name";
        goto fail;
    }
    const size_t plen = strlen(BRAID_TEMPLATE_QUERY);
    bool after_dashes = false;      /* a "--" word came before             */
    for (size_t i = 1; i < self->nwords; i++) {
        const char *w = self->words[i];
        if (strstr(w, BRAID_TEMPLATE_QUERY))
            self->has_query = true;
        if (!after_dashes && strncmp(w, BRAID_TEMPLATE_QUERY, plen) == 0)
            self->takes_options = true;
        if (strcmp(w, "--") == 0)
            after_dashes = true;
    }
    if (!self->has_query && !after_dashes)
        self->takes_options = true;     /* the query is appended           */
    return self;

fail:
    if (err && errsize)
        snprintf(err, errsize, "%s", why);
    free(word.data);
    braid_template_destroy(&self);
    return NULL;
}

size_t
braid_template_words(braid_template_t *self)
{
    return self ? self->nwords : 0;
}

const char *
braid_template_word(braid_template_t *self, size_t i)
{
    return self && i < self->nwords ? self->words[i] : NULL;
}

bool
braid_template_has_query(braid_template_t *self)
{
    return self && self->has_query;
}

bool
braid_template_takes_options(braid_template_t *self)
{
    return self && self->takes_options;
}

/*  Word with every {query} replaced by the query.                          */
static char *
s_fill(const char *word, const char *query, size_t qlen)
{
    s_buf_t b = {0};
    const size_t plen = strlen(BRAID_TEMPLATE_QUERY);
    const char *p = word;
    const char *hit;
    while ((hit = strstr(p, BRAID_TEMPLATE_QUERY))) {
        if (s_buf_put(&b, p, (size_t) (hit - p)) || s_buf_put(&b, query, qlen))
            goto fail;
        p = hit + plen;
    }
    if (s_buf_put(&b, p, strlen(p)))
        goto fail;
    return b.data;
fail:
    free(b.data);
    return NULL;
}

char **
braid_template_argv(braid_template_t *self, const char *query, size_t qlen)
{
    if (!self || (qlen && !query) || (qlen && memchr(query, 0, qlen)))
        return NULL;
    if (!query)
        query = "";
    size_t argc = self->nwords + (self->has_query ? 0 : 1);
    char **argv = calloc(argc + 1, sizeof *argv);
    if (!argv)
        return NULL;
    for (size_t i = 0; i < self->nwords; i++)
        if (!(argv[i] = i ? s_fill(self->words[i], query, qlen) : strdup(self->words[0])))
            goto fail;
    if (!self->has_query && !(argv[argc - 1] = strndup(query, qlen)))
        goto fail;
    return argv;
fail:
    braid_template_argv_free(&argv);
    return NULL;
}

void
braid_template_argv_free(char ***argv_p)
{
    if (!argv_p || !*argv_p)
        return;
    for (char **a = *argv_p; *a; a++)
        free(*a);
    free(*argv_p);
    *argv_p = NULL;
}
