/*  http_source.h - the http kind of source: one HTTP request per task, on
    libcurl's multi interface inside the worker's event loop.

    Settings: http_settings.h (url, method, body, header, output,
    sse_done, connect_timeout_msec, max_response_bytes, ca_file,
    insecure_skip_tls_verify).

    The context all http runs of a worker share is one curl multi handle:
    its sockets and its timer join the worker's poll (source_kind.h), and
    its connection cache is the worker's pool, bounded by the worker's
    slots (CURLMOPT_MAXCONNECTS, _MAX_HOST_CONNECTIONS and
    _MAX_TOTAL_CONNECTIONS): connections are reused across tasks, no
    thread per request. Its sockets sit in one epoll set, the one
    descriptor the worker polls for them; the easy handles of ended runs
    are kept (reset) for the next ones.

    A run is one transfer. Its body goes through a splitter (lines or
    chunks) or the SSE parser (sse.h) as partials. Backpressure: the
    write callback hands bytes to the splitter, which takes them only
    while fewer than BRAID_SPLITTER_READ_BUF wait unsplit; refused, the
    transfer pauses (CURL_WRITEFUNC_PAUSE: curl stops reading the socket)
    until the task takes partials again, which only its credit window
    allows. So a slow reader costs a paused TCP connection, not memory.

    Outcome: a 2xx answer read to its end is ok; 429 and 5xx are
    transient (retried by the broker, no sooner than a Retry-After, in
    seconds or an HTTP date: DONE A); any other status fails at once with
    the status line and the head of the body; connection errors and
    timeouts are transient, other transfer errors (TLS verification, a
    bad URL, a response over max_response_bytes) fail. DONE X is the
    HTTP status (0 when none came). Cancel and timeout remove the
    transfer at once.
*/

#ifndef BRAID_HTTP_SOURCE_H_INCLUDED
#define BRAID_HTTP_SOURCE_H_INCLUDED

#include "source_kind.h"

#define BRAID_HTTP_MAX_REDIRS 5         /* redirects followed, at most     */
/*  Of a failed answer's body, this much goes into the error text; at most
    BRAID_HTTP_ERROR_BODY_MAX bytes of it are read (the rest is not).     */
#define BRAID_HTTP_ERROR_HEAD 200
#define BRAID_HTTP_ERROR_BODY_MAX 65536

extern const braid_source_kind_t braid_http_kind;

#endif
