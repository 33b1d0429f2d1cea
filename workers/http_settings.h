/*  http_settings.h - an http source's settings: what one request of it
    looks like. The http kind (http_source.h) reads them; this module
    parses and checks them.

    Keys (-s NAME=http:URL gives the url; a source/NAME section all):
        url = URL                       (required; http:// or https://;
                                         {query} URL-escaped, see
                                         http_template.h)
        method = GET | POST             (default GET, POST with a body)
        body = TEMPLATE                 (request body; {query} JSON-escaped;
                                         Content-Type application/json
                                         unless a header says otherwise)
        header = "Name: value"          (one header; or a section, one
        header                           "Name = value" line per header;
            Name = value                 ${VAR} from the environment)
        output = lines | chunks | sse   (default lines)
        sse_done = TEXT                 (sse: an event whose data is TEXT,
                                         e.g. [DONE], ends the task ok)
        connect_timeout_msec = N        (default 10000)
        max_response_bytes = N          (default 1 GiB; 0 = no limit)
        ca_file = PATH                  (CA bundle for https)
        insecure_skip_tls_verify = yes  (the only way to turn verification
                                         off; default no)
*/

#ifndef BRAID_HTTP_SETTINGS_H_INCLUDED
#define BRAID_HTTP_SETTINGS_H_INCLUDED

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_template.h"

#define BRAID_HTTP_CONNECT_TIMEOUT_MSEC 10000   /* connect_timeout_msec   */
#define BRAID_HTTP_MAX_RESPONSE_BYTES (1ull << 30)  /* max_response_bytes */

typedef enum {
    BRAID_HTTP_OUT_LINES = 0,   /* one partial per line (NDJSON)           */
    BRAID_HTTP_OUT_CHUNKS,      /* one partial per piece that arrived      */
    BRAID_HTTP_OUT_SSE          /* one partial per event's data (sse.h)    */
} braid_http_output_t;

typedef enum {
    BRAID_HTTP_METHOD_DEFAULT = 0,  /* until check(): POST with a body     */
    BRAID_HTTP_METHOD_GET,
    BRAID_HTTP_METHOD_POST
} braid_http_method_t;

typedef struct {
    braid_http_template_t *url;
    braid_http_template_t *body;    /* NULL: none                          */
    braid_http_method_t method;
    struct curl_slist *headers;     /* as given, ${VAR} expanded           */
    struct curl_slist *request;     /* what a request sends (check())      */
    bool content_type;              /* a header names Content-Type         */
    braid_http_output_t output;
    char *sse_done;                 /* NULL: no terminator                 */
    uint64_t connect_timeout_msec;
    uint64_t max_response_bytes;    /* 0: no limit                         */
    char *ca_file;
    bool insecure;                  /* insecure_skip_tls_verify = yes      */
} braid_http_settings_t;

/*  The source kind's settings hooks (source_kind.h), on a
    braid_http_settings_t. New settings hold the defaults; NULL if out of
    memory.                                                                 */
void *
braid_http_settings_new(void);
void
braid_http_settings_destroy(void **self_p);
int
braid_http_settings_set(void *settings, const char *key, size_t keylen, const char *val,
                        size_t vallen, char *err, size_t errsize);
/*  NAME=http:URL: all of text is the URL.                                  */
int
braid_http_settings_flag(void *settings, const char *text, char *err, size_t errsize);
/*  Complete (a URL; a body only with POST; sse_done only with sse), and
    the headers every request sends put together.                          */
int
braid_http_settings_check(void *settings, const char *name, char *err, size_t errsize);

#endif
