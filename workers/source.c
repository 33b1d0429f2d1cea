/*  source.c - named sources from -s flags and config sections; each kind
    parses its own settings.                                               */

#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  A source of kind with its default settings; NULL if out of memory.     */
static braid_source_t *
s_new(const char *name, size_t len, const braid_source_kind_t *kind)
{
    braid_source_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    memcpy(self->name, name, len);
    self->name[len] = 0;
    self->kind = kind;
    if (!(self->settings = kind->settings_new()) || !(self->keyer = braid_keyer_new(self->name)))
        braid_source_destroy(&self);
    return self;
}

void
braid_source_destroy(braid_source_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_source_t *self = *self_p;
    if (self->kind)
        self->kind->settings_destroy(&self->settings);
    braid_keyer_destroy(&self->keyer);
    free(self);
    *self_p = NULL;
}

/*  The kind named type (len bytes); NULL with the message in err.          */
static const braid_source_kind_t *
s_kind(const char *type, size_t len, char *err, size_t errsize)
{
    const braid_source_kind_t *kind = braid_source_kind_find(type, len);
    if (!kind) {
        char names[128];
        braid_source_kind_names(names, sizeof names);
        snprintf(err, errsize, "unknown source type '%.*s' (%s)", (int) len, type, names);
    }
    return kind;
}

/*  One setting: the generic ones of order key (keys.h), else the kind's.
    0, or -1 with the reason in err.                                        */
static int
s_set(braid_source_t *self, const char *key, size_t keylen, const char *val, size_t vallen,
      char *err, size_t errsize)
{
    braid_keyer_set_t rc = braid_keyer_set(self->keyer, key, keylen, val, vallen, err, errsize);
    if (rc != BRAID_KEYER_NOT_MINE)
        return rc == BRAID_KEYER_SET ? 0 : -1;
    return self->kind->set(self->settings, key, keylen, val, vallen, err, errsize);
}

/*  len bytes of text as KEY=VALUE,KEY=VALUE; an empty list keeps the
    defaults.                                                               */
static int
s_set_list(braid_source_t *self, const char *text, size_t len, char *err, size_t errsize)
{
    const char *p = text, *end = text + len;
    while (p && p < end) {
        const char *comma = memchr(p, ',', (size_t) (end - p));
        size_t n = comma ? (size_t) (comma - p) : (size_t) (end - p);
        const char *eq = memchr(p, '=', n);
        if (!eq) {
            snprintf(err, errsize, "expected KEY=VALUE, got '%.*s'", (int) n, p);
            return -1;
        }
        if (s_set(self, p, (size_t) (eq - p), eq + 1, (size_t) (p + n - eq - 1), err, errsize))
            return -1;
        p = comma ? comma + 1 : NULL;
    }
    return 0;
}

/*  After the last setting: the kind's check, then the keys' (a score needs
    partials that are lines). 0, or -1 with the reason in err.              */
static int
s_check(braid_source_t *self, char *err, size_t errsize)
{
    if (self->kind->check && self->kind->check(self->settings, self->name, err, errsize))
        return -1;
    if (braid_keyer_check(self->keyer, err, errsize))
        return -1;
    if (braid_keyer_keyed(self->keyer) &&
        !(self->kind->lines && self->kind->lines(self->settings))) {
        snprintf(err, errsize,
                 "source '%s': score needs partials that are lines (output = lines, or sse)",
                 self->name);
        return -1;
    }
    return 0;
}

braid_source_t *
braid_source_from_flag(const char *spec, char *err, size_t errsize)
{
    const char *eq = spec ? strchr(spec, '=') : NULL;
    if (!eq) {
        snprintf(err, errsize, "expected NAME=TYPE:SETTINGS");
        return NULL;
    }
    size_t namelen = (size_t) (eq - spec);
    if (!braid_name_valid(spec, namelen)) {
        snprintf(err, errsize, "source name must be 1..%d bytes of [A-Za-z0-9_.-]",
                 BRAID_MAX_NAME);
        return NULL;
    }
    const char *type = eq + 1;
    const char *colon = strchr(type, ':');
    size_t typelen = colon ? (size_t) (colon - type) : strlen(type);
    const char *rest = colon ? colon + 1 : NULL;
    /*  TYPE[KEY=VALUE,...]: settings before the kind's own.               */
    const char *list = memchr(type, '[', typelen), *close = NULL;
    if (list) {
        close = memchr(list, ']', typelen - (size_t) (list - type));
        if (!close || close + 1 != type + typelen) {
            snprintf(err, errsize, "expected NAME=TYPE[KEY=VALUE,...]:SETTINGS");
            return NULL;
        }
        typelen = (size_t) (list - type);
    }
    const braid_source_kind_t *kind = s_kind(type, typelen, err, errsize);
    if (!kind)
        return NULL;
    braid_source_t *self = s_new(spec, namelen, kind);
    if (!self) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    int rc = list ? s_set_list(self, list + 1, (size_t) (close - list - 1), err, errsize) : 0;
    if (rc == 0)
        rc = kind->flag ? kind->flag(self->settings, rest, err, errsize)
                        : s_set_list(self, rest, rest ? strlen(rest) : 0, err, errsize);
    if (rc == 0)
        rc = s_check(self, err, errsize);
    if (rc)
        braid_source_destroy(&self);
    return self;
}

/*  One setting from the config node c, under key: the kind's set(); an
    error names c's file and line.                                          */
static int
s_set_node(braid_source_t *self, braid_conf_t *c, const char *key, char *err, size_t errsize)
{
    const char *val = braid_conf_value(c);
    char why[256];
    if (!val) {
        braid_conf_error(c, err, errsize, "'%s' needs a value", key);
        return -1;
    }
    if (s_set(self, key, strlen(key), val, strlen(val), why, sizeof why)) {
        braid_conf_error(c, err, errsize, "%s", why);
        return -1;
    }
    return 0;
}

/*  A setting with sub-settings (an http source's header section): each
    child CHILD = VALUE goes to the kind as the key SECTION/CHILD, the
    path braid_conf_locate() takes. A setting with a value takes none.     */
static int
s_set_section(braid_source_t *self, braid_conf_t *section, char *err, size_t errsize)
{
    const char *name = braid_conf_name(section);
    if (braid_conf_value(section)) {
        braid_conf_error(braid_conf_child(section), err, errsize, "'%s' takes no sub-settings",
                         name);
        return -1;
    }
    for (braid_conf_t *c = braid_conf_child(section); c; c = braid_conf_next(c)) {
        char key[2 * BRAID_CONF_MAX_NAME + 2];
        snprintf(key, sizeof key, "%s/%s", name, braid_conf_name(c));
        if (braid_conf_child(c)) {
            braid_conf_error(braid_conf_child(c), err, errsize, "'%s' takes no sub-settings", key);
            return -1;
        }
        if (s_set_node(self, c, key, err, errsize))
            return -1;
    }
    return 0;
}

braid_source_t *
braid_source_from_conf(braid_conf_t *node, char *err, size_t errsize)
{
    const char *name = braid_conf_name(node);
    if (!braid_name_valid(name, strlen(name))) {
        braid_conf_error(node, err, errsize,
                         "source name must be 1..%d bytes of [A-Za-z0-9_.-]", BRAID_MAX_NAME);
        return NULL;
    }
    braid_conf_t *type_node = braid_conf_locate(node, "type");
    if (!type_node) {
        braid_conf_error(node, err, errsize, "source '%s' has no type", name);
        return NULL;
    }
    const char *type = braid_conf_value(type_node);
    char why[256];
    const braid_source_kind_t *kind = s_kind(type ? type : "", type ? strlen(type) : 0, why,
                                             sizeof why);
    if (!kind) {
        braid_conf_error(type_node, err, errsize, "%s", why);
        return NULL;
    }
    braid_source_t *self = s_new(name, strlen(name), kind);
    if (!self) {
        braid_conf_error(node, err, errsize, "out of memory");
        return NULL;
    }
    for (braid_conf_t *c = braid_conf_child(node); c; c = braid_conf_next(c)) {
        const char *key = braid_conf_name(c);
        if (streq(key, "type"))
            continue;
        if (braid_conf_child(c)) {
            if (s_set_section(self, c, err, errsize))
                goto fail;
            continue;
        }
        if (s_set_node(self, c, key, err, errsize))
            goto fail;
    }
    if (s_check(self, why, sizeof why)) {
        braid_conf_error(node, err, errsize, "%s", why);
        goto fail;
    }
    return self;
fail:
    braid_source_destroy(&self);
    return NULL;
}
