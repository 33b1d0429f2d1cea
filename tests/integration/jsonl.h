/*  jsonl.h - a small JSON object reader for the client's --json lines.

    Enough JSON for `braid submit --json`: one object per line, whose values
    are strings, integers, booleans, null, nested objects or arrays. Strings
    are unescaped to bytes; \u00XX gives the byte XX (the client writes bytes
    that are not UTF-8 that way), higher code points give UTF-8. Arrays are
    checked and skipped. Anything that is not such an object is refused.
*/

#ifndef BRAID_JSONL_H_INCLUDED
#define BRAID_JSONL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct braid_json_t braid_json_t;

/*  Parse one JSON object from text[0..len) (surrounding whitespace
    allowed, nothing else). Owned object, or NULL when it is not one.       */
braid_json_t *
braid_json_parse(const char *text, size_t len);

/*  NULL-safe, sets *self_p to NULL.                                        */
void
braid_json_destroy(braid_json_t **self_p);

/*  The string member key (borrowed, NUL-terminated, length in *len_p, may
    hold NUL bytes), or NULL when missing or not a string.                  */
const char *
braid_json_str(braid_json_t *self, const char *key, size_t *len_p);

/*  The integer member key into *value_p. 0 / -1 when missing or not an
    integer.                                                                */
int
braid_json_int(braid_json_t *self, const char *key, long long *value_p);

/*  The object member key (borrowed), or NULL.                              */
braid_json_t *
braid_json_obj(braid_json_t *self, const char *key);

/*  True if the object has a member key, of any type.                       */
bool
braid_json_has(braid_json_t *self, const char *key);

#ifdef __cplusplus
}
#endif

#endif
