/*  http_template.h - the http kind's text templates: a URL or a request
    body with the query in it, escaped for where it lands, and header
    values that take ${VAR} from the worker's environment.

    Every "{query}" (BRAID_TEMPLATE_QUERY, the exec kind's placeholder
    too) in a template is replaced by the query:
      - URL-escaped in a URL: every byte but A-Z a-z 0-9 - . _ ~ becomes
        %XX (RFC 3986 unreserved), so &, #, +, %, spaces, quotes and
        UTF-8 text reach the server exactly as typed;
      - JSON-escaped in a body: as the inside of a JSON string (", \ and
        control characters escaped, other bytes as they are), so a body
        template writes the quotes around it: {"q": "{query}"}.
    A template without "{query}" is sent as it is.

    Environment: "${NAME}" (NAME of [A-Za-z_][A-Za-z0-9_]*) is replaced by
    the variable's value when the settings are read, so API keys stay out
    of config files; an unset variable is an error then, not an empty
    header at the first request. A '$' not followed by '{' is literal.
    Pure but for getenv().
*/

#ifndef BRAID_HTTP_TEMPLATE_H_INCLUDED
#define BRAID_HTTP_TEMPLATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _braid_http_template_t braid_http_template_t;

/*  How the query is escaped where it lands.                                */
typedef enum {
    BRAID_HTTP_ESCAPE_URL = 0,  /* percent-encoding, unreserved kept       */
    BRAID_HTTP_ESCAPE_JSON      /* the inside of a JSON string             */
} braid_http_escape_t;

/*  A template of text (len bytes), escaping the query so. NULL if out of
    memory.                                                                 */
braid_http_template_t *
braid_http_template_new(const char *text, size_t len, braid_http_escape_t escape);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_http_template_destroy(braid_http_template_t **self_p);

/*  The template's text as given (borrowed, NUL-terminated).                */
const char *
braid_http_template_text(const braid_http_template_t *self);

/*  The template filled with query (qlen bytes, any bytes), NUL-terminated;
    its length (without the NUL) in *len_p if len_p is not NULL. Owned;
    NULL if out of memory.                                                  */
char *
braid_http_template_fill(const braid_http_template_t *self, const char *query, size_t qlen,
                         size_t *len_p);

/*  Append bytes (len) to buf escaped so, if buf is not NULL; returns the
    escaped length either way (so a caller sizes buf with a first call).   */
size_t
braid_http_escape(braid_http_escape_t escape, const char *bytes, size_t len, char *buf);

/*  text (len bytes) with each ${NAME} replaced by getenv(NAME). Owned,
    NUL-terminated; NULL with the reason in err (an unset variable, a "${"
    without its "}" or with a bad name, out of memory).                    */
char *
braid_http_expand_env(const char *text, size_t len, char *err, size_t errsize);

#endif
