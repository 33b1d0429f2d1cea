/*  jsonl.c - the client's JSON output, read with jansson; see jsonl.h.     */

#include "jsonl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  One JSON object from text[0..len), or NULL with the reason in *error.
    Without JSON_DECODE_ANY jansson takes only an object or an array at the
    top; JSON_ALLOW_NUL lets strings hold \u0000 (a payload may).          */
static json_t *
s_parse(const char *text, size_t len, json_error_t *error)
{
    json_t *json = json_loadb(text, len, JSON_ALLOW_NUL, error);
    if (json && !json_is_object(json)) {
        snprintf(error->text, sizeof error->text, "not an object");
        json_decref(json);
        json = NULL;
    }
    return json;
}

json_t *
braid_json_parse(const char *text, size_t len)
{
    json_error_t error;
    return s_parse(text, len, &error);
}

json_t *
braid_json_next(const char **cursor_p)
{
    const char *line = *cursor_p;
    if (!*line)
        return NULL;
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t) (nl - line) : strlen(line);
    *cursor_p = nl ? nl + 1 : line + len;
    json_error_t error;
    json_t *json = s_parse(line, len, &error);
    if (!json)
        fail_msg("not a JSON object (%s): %.*s", error.text, (int) len, line);
    return json;
}

json_t *
braid_json_find(const char *text, const char *type, const char *source)
{
    const char *cursor = text;
    json_t *json;
    while ((json = braid_json_next(&cursor))) {
        const char *t = json_string_value(json_object_get(json, "type"));
        const char *s = json_string_value(json_object_get(json, "source"));
        if (t && strcmp(t, type) == 0 && (!source || (s && strcmp(s, source) == 0)))
            return json;
        json_decref(json);
    }
    return NULL;
}

/*  The value of base64 digit c, or -1.                                    */
static int
s_b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*  Decode padded base64 (len a multiple of 4) into out; the byte count, or
    -1 when it is not base64.                                               */
static long
s_b64_decode(const char *in, size_t len, char *out)
{
    if (len % 4)
        return -1;
    long n = 0;
    for (size_t i = 0; i < len; i += 4) {
        int pad = in[i + 3] == '=' ? (in[i + 2] == '=' ? 2 : 1) : 0;
        if (pad && i + 4 != len)
            return -1;
        unsigned long v = 0;
        for (int k = 0; k < 4; k++) {
            int d = k >= 4 - pad ? 0 : s_b64_digit((unsigned char) in[i + k]);
            if (d < 0)
                return -1;
            v = v << 6 | (unsigned long) d;
        }
        out[n++] = (char) (v >> 16);
        if (pad < 2)
            out[n++] = (char) (v >> 8 & 0xff);
        if (pad < 1)
            out[n++] = (char) (v & 0xff);
    }
    return n;
}

char *
braid_json_data(const json_t *object, size_t *len_p)
{
    const json_t *text = json_object_get(object, "data");
    const json_t *b64 = json_object_get(object, "data_b64");
    if (!json_is_object(object) || !!text == !!b64)
        return NULL;
    const json_t *value = text ? text : b64;
    if (!json_is_string(value))
        return NULL;
    const char *in = json_string_value(value);
    size_t in_len = json_string_length(value);
    char *out = malloc(in_len + 1);     /* never longer than its encoding  */
    if (!out)
        return NULL;
    long n = (long) in_len;
    if (text)
        memcpy(out, in, in_len);
    else if ((n = s_b64_decode(in, in_len, out)) < 0) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    if (len_p)
        *len_p = (size_t) n;
    return out;
}

char *
braid_json_bytes(const json_t *string, size_t *len_p)
{
    if (!json_is_string(string))
        return NULL;
    const unsigned char *in = (const unsigned char *) json_string_value(string);
    size_t in_len = json_string_length(string);
    /*  Never longer than jansson's UTF-8.                                  */
    char *out = malloc(in_len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < in_len; i++) {
        /*  jansson's strings are valid UTF-8: a lead byte C2 or C3 and one
            continuation byte are U+0080..U+00FF, one byte.                 */
        if ((in[i] == 0xc2 || in[i] == 0xc3) && i + 1 < in_len) {
            out[n++] = (char) (((in[i] & 0x03) << 6) | (in[i + 1] & 0x3f));
            i++;
        } else
            out[n++] = (char) in[i];
    }
    out[n] = '\0';
    if (len_p)
        *len_p = n;
    return out;
}

void
braid_json_check_job(json_t *job, const char *source, long long ok, long long failed,
                     long long timeout, long long cancelled)
{
    static const char *keys[] = {"ok", "failed", "timeout", "cancelled"};
    const long long want[] = {ok, failed, timeout, cancelled};
    json_t *counts = json_object_get(json_object_get(job, "sources"), source);
    if (!counts)
        fail_msg("job line: no sources.%s", source);
    for (int k = 0; k < 4; k++) {
        long long n = -1;
        if (json_unpack(counts, "{s:I}", keys[k], &n) != 0)
            fail_msg("job line: sources.%s.%s missing or not an integer", source, keys[k]);
        if (n != want[k])
            fail_msg("job line: sources.%s.%s = %lld, want %lld", source, keys[k], n, want[k]);
    }
}
