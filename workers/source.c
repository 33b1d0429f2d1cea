/*  source.c - named sources from -s flags and config sections.            */

#include "source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static braid_source_t *
s_new(const char *name, size_t len, braid_source_type_t type)
{
    braid_source_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    memcpy(self->name, name, len);
    self->name[len] = 0;
    self->type = type;
    self->parts = 1;
    self->size = 64;
    self->delay_msec = 0;
    self->transient_exit[BRAID_EXEC_DEFAULT_TRANSIENT_EXIT] = true;
    return self;
}

void
braid_source_destroy(braid_source_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_source_t *self = *self_p;
    braid_template_destroy(&self->command);
    free(self->fail);
    free(self);
    *self_p = NULL;
}

const char *
braid_source_type_name(braid_source_type_t type)
{
    return type == BRAID_SOURCE_EXEC ? "exec" : type == BRAID_SOURCE_SYNTHETIC ? "synthetic" : "?";
}

/*  Strict unsigned decimal in min..max.                                    */
static int
s_parse_uint(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *value)
{
    uint64_t v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    if (v < min || v > max)
        return -1;
    *value = v;
    return 0;
}

/*  One synthetic setting; 0, or -1 with the reason in err.                 */
static int
s_synth_set(braid_source_t *self, const char *key, size_t keylen, const char *val, size_t vallen,
            char *err, size_t errsize)
{
    struct {
        const char *key;
        uint64_t *dst;
        uint64_t min, max;
    } ints[] = {
        {"parts", &self->parts, 0, BRAID_SYNTH_MAX_PARTS},
        {"size", &self->size, 2, BRAID_SYNTH_MAX_SIZE},
        {"delay_msec", &self->delay_msec, 0, BRAID_SYNTH_MAX_DELAY_MSEC},
        {"fail_first", &self->fail_first, 0, BRAID_MAX_ATTEMPTS},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strlen(ints[i].key) == keylen && memcmp(ints[i].key, key, keylen) == 0) {
            if (s_parse_uint(val, vallen, ints[i].min, ints[i].max, ints[i].dst) == 0)
                return 0;
            snprintf(err, errsize, "%s must be an integer in %llu..%llu", ints[i].key,
                     (unsigned long long) ints[i].min, (unsigned long long) ints[i].max);
            return -1;
        }
    if (keylen == 4 && memcmp(key, "fail", 4) == 0) {
        free(self->fail);
        if (!(self->fail = strndup(val, vallen))) {
            snprintf(err, errsize, "out of memory");
            return -1;
        }
        return 0;
    }
    snprintf(err, errsize, "unknown synthetic setting '%.*s'", (int) keylen, key);
    return -1;
}

/*  transient_exit: a comma list of exit statuses 1..255, or "none". All or
    nothing: on -1 the source keeps its set.                                */
static int
s_transient_set(braid_source_t *self, const char *val, char *err, size_t errsize)
{
    bool set[256] = {false};
    if (!streq(val, "none")) {
        const char *p = val;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t) (comma - p) : strlen(p);
            while (len && (*p == ' ' || *p == '\t')) {
                p++;
                len--;
            }
            while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
                len--;
            uint64_t v;
            if (s_parse_uint(p, len, 1, 255, &v)) {
                snprintf(err, errsize,
                         "transient_exit must be a comma list of exit statuses 1..255, or none");
                return -1;
            }
            set[v] = true;
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    memcpy(self->transient_exit, set, sizeof set);
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
    braid_source_t *self = NULL;

    if (typelen == 4 && memcmp(type, "exec", 4) == 0) {
        if (!rest || !*rest) {
            snprintf(err, errsize, "exec needs a command: NAME=exec:TEMPLATE");
            return NULL;
        }
        if (!(self = s_new(spec, namelen, BRAID_SOURCE_EXEC))) {
            snprintf(err, errsize, "out of memory");
            return NULL;
        }
        char why[128];
        if (!(self->command = braid_template_new(rest, why, sizeof why))) {
            snprintf(err, errsize, "bad command: %s", why);
            braid_source_destroy(&self);
        }
        return self;
    }
    if (typelen == 9 && memcmp(type, "synthetic", 9) == 0) {
        if (!(self = s_new(spec, namelen, BRAID_SOURCE_SYNTHETIC))) {
            snprintf(err, errsize, "out of memory");
            return NULL;
        }
        /*  k=v,k=v; an empty list keeps the defaults.                      */
        const char *p = rest;
        while (p && *p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t) (comma - p) : strlen(p);
            const char *keq = memchr(p, '=', len);
            if (!keq) {
                snprintf(err, errsize, "expected KEY=VALUE, got '%.*s'", (int) len, p);
                braid_source_destroy(&self);
                return NULL;
            }
            if (s_synth_set(self, p, (size_t) (keq - p), keq + 1, (size_t) (p + len - keq - 1),
                            err, errsize)) {
                braid_source_destroy(&self);
                return NULL;
            }
            p = comma ? comma + 1 : NULL;
        }
        return self;
    }
    snprintf(err, errsize, "unknown source type '%.*s' (exec or synthetic)", (int) typelen, type);
    return NULL;
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
    const char *type = braid_conf_value(type_node);
    braid_source_type_t t;
    if (!type_node) {
        braid_conf_error(node, err, errsize, "source '%s' has no type", name);
        return NULL;
    }
    if (type && streq(type, "exec"))
        t = BRAID_SOURCE_EXEC;
    else if (type && streq(type, "synthetic"))
        t = BRAID_SOURCE_SYNTHETIC;
    else {
        braid_conf_error(type_node, err, errsize, "unknown source type '%s' (exec or synthetic)",
                         type ? type : "");
        return NULL;
    }
    braid_source_t *self = s_new(name, strlen(name), t);
    if (!self) {
        braid_conf_error(node, err, errsize, "out of memory");
        return NULL;
    }
    bool have_command = false;
    for (braid_conf_t *c = braid_conf_child(node); c; c = braid_conf_next(c)) {
        const char *key = braid_conf_name(c);
        const char *val = braid_conf_value(c);
        char why[256];
        if (braid_conf_child(c)) {
            braid_conf_error(braid_conf_child(c), err, errsize, "'%s' takes no sub-settings", key);
            goto fail;
        }
        if (streq(key, "type"))
            continue;
        if (!val) {
            braid_conf_error(c, err, errsize, "'%s' needs a value", key);
            goto fail;
        }
        if (t == BRAID_SOURCE_EXEC && streq(key, "command")) {
            if (!(self->command = braid_template_new(val, why, sizeof why))) {
                braid_conf_error(c, err, errsize, "bad command: %s", why);
                goto fail;
            }
            have_command = true;
        } else if (t == BRAID_SOURCE_EXEC && streq(key, "output")) {
            if (streq(val, "lines"))
                self->chunks = false;
            else if (streq(val, "chunks"))
                self->chunks = true;
            else {
                braid_conf_error(c, err, errsize, "output must be lines or chunks");
                goto fail;
            }
        } else if (t == BRAID_SOURCE_EXEC && streq(key, "transient_exit")) {
            if (s_transient_set(self, val, why, sizeof why)) {
                braid_conf_error(c, err, errsize, "%s", why);
                goto fail;
            }
        } else if (t == BRAID_SOURCE_SYNTHETIC) {
            if (s_synth_set(self, key, strlen(key), val, strlen(val), why, sizeof why)) {
                braid_conf_error(c, err, errsize, "%s", why);
                goto fail;
            }
        } else {
            braid_conf_error(c, err, errsize, "unknown setting '%s' for an exec source", key);
            goto fail;
        }
    }
    if (t == BRAID_SOURCE_EXEC && !have_command) {
        braid_conf_error(node, err, errsize, "exec source '%s' has no command", name);
        goto fail;
    }
    return self;
fail:
    braid_source_destroy(&self);
    return NULL;
}
