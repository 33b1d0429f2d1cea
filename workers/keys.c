/*  keys.c - scores and dedup values read from a source's partials. See
    the header.                                                            */

#include "keys.h"

#include "braid_keys.h"
#include "braid_log.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  SHA-1, the digest a long dedup value ends with.                         */
#define S_DIGEST 20

struct braid_keyer_t {
    const char *name;           /* the source's                            */
    char score[BRAID_KEYS_MAX_FIELD + 1];   /* "" = not keyed              */
    char dedup[BRAID_KEYS_MAX_FIELD + 1];   /* "" = none                   */
    bool ascending;
    bool order_set;             /* score_order was given                   */
    bool warned_missing;        /* logged once: a partial without a score  */
    bool warned_unsorted;       /* logged once: one better than the last   */
};

typedef struct {
    braid_score_t score;
    uint8_t *dedup;             /* owned; NULL: none                       */
    size_t len;
} s_key_t;

struct braid_keyq_t {
    braid_keyer_t *keyer;
    s_key_t *keys;              /* held, in seq order                      */
    size_t len, cap;
    braid_score_t last;         /* the score of the partial made last      */
    uint64_t made;              /* partials read                           */
};

braid_keyer_t *
braid_keyer_new(const char *name)
{
    braid_keyer_t *self = calloc(1, sizeof *self);
    if (self)
        self->name = name;
    return self;
}

void
braid_keyer_destroy(braid_keyer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/*  A FIELD path: 1..BRAID_KEYS_MAX_FIELD bytes, no empty member name, no
    NUL. Copied into dst; -1 with the reason in err.                        */
static int
s_set_field(char *dst, const char *key, const char *val, size_t vallen, char *err, size_t errsize)
{
    bool ok = vallen > 0 && vallen <= BRAID_KEYS_MAX_FIELD && !memchr(val, 0, vallen) &&
              val[0] != '.' && val[vallen - 1] != '.';
    for (size_t i = 1; ok && i < vallen; i++)
        ok = !(val[i] == '.' && val[i - 1] == '.');
    if (!ok) {
        snprintf(err, errsize,
                 "%s must be a member name or a dotted path of them (a.b), 1..%d bytes", key,
                 BRAID_KEYS_MAX_FIELD);
        return -1;
    }
    memcpy(dst, val, vallen);
    dst[vallen] = 0;
    return 0;
}

braid_keyer_set_t
braid_keyer_set(braid_keyer_t *self, const char *key, size_t keylen, const char *val,
                size_t vallen, char *err, size_t errsize)
{
    if (keylen == 5 && memcmp(key, "score", 5) == 0)
        return s_set_field(self->score, "score", val, vallen, err, errsize) ? BRAID_KEYER_BAD
                                                                            : BRAID_KEYER_SET;
    if (keylen == 5 && memcmp(key, "dedup", 5) == 0)
        return s_set_field(self->dedup, "dedup", val, vallen, err, errsize) ? BRAID_KEYER_BAD
                                                                            : BRAID_KEYER_SET;
    if (keylen == 11 && memcmp(key, "score_order", 11) == 0) {
        if (vallen == 4 && memcmp(val, "desc", 4) == 0)
            self->ascending = false;
        else if (vallen == 3 && memcmp(val, "asc", 3) == 0)
            self->ascending = true;
        else {
            snprintf(err, errsize, "score_order must be desc (higher first) or asc");
            return BRAID_KEYER_BAD;
        }
        self->order_set = true;
        return BRAID_KEYER_SET;
    }
    return BRAID_KEYER_NOT_MINE;
}

int
braid_keyer_check(const braid_keyer_t *self, char *err, size_t errsize)
{
    if (!self->score[0] && (self->dedup[0] || self->order_set)) {
        snprintf(err, errsize, "%s needs score (a source is merged by its score)",
                 self->dedup[0] ? "dedup" : "score_order");
        return -1;
    }
    return 0;
}

bool
braid_keyer_keyed(const braid_keyer_t *self)
{
    return self && self->score[0] != 0;
}

uint32_t
braid_keyer_flags(const braid_keyer_t *self)
{
    if (!braid_keyer_keyed(self))
        return 0;
    return BRAID_SOURCE_KEYED | (self->ascending ? BRAID_SOURCE_SCORE_ASC : 0);
}

/*  ---------------------------------------------------------------------
    Reading a partial                                                      */

/*  The value at the dotted path in the object line, or NULL.               */
static json_t *
s_lookup(json_t *line, const char *path)
{
    json_t *v = line;
    const char *p = path;
    while (v && json_is_object(v)) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t) (dot - p) : strlen(p);
        v = json_object_getn(v, p, len);
        if (!dot)
            return v;
        p = dot + 1;
    }
    return NULL;
}

/*  The dedup value of v into *out (owned, malloc'd; NULL for none), its
    length in *len. 0, or -1 out of memory.                                 */
static int
s_dedup_value(json_t *v, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (!v || json_is_null(v))
        return 0;
    char *text = NULL;
    const char *bytes;
    size_t n;
    if (json_is_string(v)) {
        bytes = json_string_value(v);
        n = json_string_length(v);
    } else {
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
            return -1;
        bytes = text;
        n = strlen(text);
    }
    size_t keep = n <= BRAID_MAX_DEDUP ? n : BRAID_MAX_DEDUP - S_DIGEST;
    *out = malloc(keep + (n > keep ? S_DIGEST : 0) + 1);
    if (*out) {
        memcpy(*out, bytes, keep);
        *len = keep;
        if (n > keep) {
            /*  Too long to send whole: its head, then a digest of all of it. */
            zdigest_t *digest = zdigest_new();
            if (digest) {
                zdigest_update(digest, (const byte *) bytes, n);
                memcpy(*out + keep, zdigest_data(digest), S_DIGEST);
                *len += S_DIGEST;
                zdigest_destroy(&digest);
            } else {
                free(*out);
                *out = NULL;
            }
        }
    }
    free(text);
    return *out ? 0 : -1;
}

braid_keyq_t *
braid_keyq_new(braid_keyer_t *keyer)
{
    braid_keyq_t *self = calloc(1, sizeof *self);
    if (self)
        self->keyer = keyer;
    return self;
}

void
braid_keyq_destroy(braid_keyq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_keyq_t *self = *self_p;
    braid_keyq_drop(self, self->len);
    free(self->keys);
    free(self);
    *self_p = NULL;
}

/*  a is better than b in the source's order.                               */
static bool
s_better(const braid_keyer_t *keyer, const braid_score_t *a, const braid_score_t *b)
{
    int c = braid_score_cmp(a, b);
    return keyer->ascending ? c < 0 : c > 0;
}

int
braid_keyq_add(braid_keyq_t *self, const void *data, size_t size, bool held)
{
    braid_keyer_t *keyer = self->keyer;
    if (held && self->len == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        s_key_t *grown = realloc(self->keys, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->keys = grown;
        self->cap = cap;
    }
    json_t *line = json_loadb(data, size, JSON_ALLOW_NUL, NULL);
    json_t *score = line ? s_lookup(line, keyer->score) : NULL;
    s_key_t key = {0};
    if (json_is_integer(score))
        key.score = braid_score_int(json_integer_value(score));
    else if (json_is_real(score))
        key.score = braid_score_real(json_real_value(score));
    else {
        /*  Kept next to the partial before it (the best place first).     */
        key.score = self->made ? self->last
                               : braid_score_real(keyer->ascending ? -INFINITY : INFINITY);
        if (!keyer->warned_missing) {
            keyer->warned_missing = true;
            braid_warning("source %s: a partial has no number at '%s'; it keeps the score of "
                          "the one before it (logged once)",
                          keyer->name, keyer->score);
        }
    }
    if (self->made && s_better(keyer, &key.score, &self->last) && !keyer->warned_unsorted) {
        keyer->warned_unsorted = true;
        braid_warning("source %s: partials not sorted by '%s' (%s first); one that scores "
                      "better than the one before it stays in its place (logged once)",
                      keyer->name, keyer->score, keyer->ascending ? "lower" : "higher");
    }
    int rc = 0;
    if (held && keyer->dedup[0])
        rc = s_dedup_value(line ? s_lookup(line, keyer->dedup) : NULL, &key.dedup, &key.len);
    json_decref(line);
    if (rc != 0)
        return -1;
    self->last = key.score;
    self->made++;
    if (held)
        self->keys[self->len++] = key;
    return 0;
}

size_t
braid_keyq_held(const braid_keyq_t *self)
{
    return self->len;
}

zframe_t *
braid_keyq_frame(const braid_keyq_t *self, size_t n)
{
    braid_key_t keys[BRAID_MAX_BATCH];
    if (n > self->len || n > BRAID_MAX_BATCH)
        return NULL;
    for (size_t i = 0; i < n; i++)
        keys[i] = (braid_key_t){self->keys[i].score, self->keys[i].dedup, self->keys[i].len};
    return braid_keys_encode(keys, n);
}

void
braid_keyq_drop(braid_keyq_t *self, size_t n)
{
    if (n > self->len)
        n = self->len;
    for (size_t i = 0; i < n; i++)
        free(self->keys[i].dedup);
    memmove(self->keys, self->keys + n, (self->len - n) * sizeof *self->keys);
    self->len -= n;
}
