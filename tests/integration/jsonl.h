/*  jsonl.h - the client's JSON output, read with jansson.

    braid_json_parse() reads one JSON object (`braid stats --json`, or one
    line of `braid submit --json`) and braid_json_next() the lines of a
    client's output one by one; the tests then use jansson's own API:
    json_string_value(json_object_get(j, "type")) (NULL when missing or not
    a string), json_unpack(j, "{s:I}", "query", &q) (0 only when the member
    is there and an integer), json_decref(j).

    Payload bytes, the one place that knows the client's encoding: a
    partial's bytes are in "data" (a JSON string, when they are valid
    UTF-8: jansson's string is exactly those bytes, NUL included) or in
    "data_b64" (base64, when they are not); braid_json_data() reads
    whichever the line has.
*/

#ifndef BRAID_JSONL_H_INCLUDED
#define BRAID_JSONL_H_INCLUDED

#include <jansson.h>

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  The tests read integers into long long with json_unpack's "I".         */
#if !JSON_INTEGER_IS_LONG_LONG
#error "jansson's json_int_t is not long long"
#endif

/*  Parse text[0..len) as one JSON object (surrounding whitespace allowed,
    nothing else; strings may hold NUL). Owned (json_decref), or NULL when
    it is not one.                                                          */
json_t *
braid_json_parse(const char *text, size_t len);

/*  The line at *cursor_p of a NUL-terminated text (a client's stdout) as a
    JSON object (braid_json_parse), *cursor_p moved past its newline; NULL
    at the end of the text. A line that is not one JSON object fails the
    test (cmocka fail_msg, quoting the line). Owned (json_decref).         */
json_t *
braid_json_next(const char **cursor_p);

/*  The first line of a client's --json output (NUL-terminated text) whose
    "type" is type and, if source is not NULL, whose "source" is source:
    one JSON object (braid_json_next), owned; NULL when there is none.     */
json_t *
braid_json_find(const char *text, const char *type, const char *source);

/*  The bytes of a partial line's payload (see above), NUL-terminated, the
    length in *len_p if len_p is not NULL (they may hold NUL). Owned; NULL
    when object is not an object with exactly one of "data" and "data_b64",
    a string (and, for data_b64, base64).                                   */
char *
braid_json_data(const json_t *object, size_t *len_p);

/*  A string whose characters U+0000..U+00FF each stand for one byte (the
    test HTTP server's latin-1 texts; not the client's output, which
    braid_json_data reads) as those bytes, NUL-terminated, the length in
    *len_p if len_p is not NULL. Owned; NULL when string is not a string.  */
char *
braid_json_bytes(const json_t *string, size_t *len_p);

/*  The job line's counts for source (sources.SOURCE in the line) must be
    ok, failed, timeout and cancelled, each there and an integer; the test
    fails (fail_msg) naming the first that is not.                         */
void
braid_json_check_job(json_t *job, const char *source, long long ok, long long failed,
                     long long timeout, long long cancelled);

#ifdef __cplusplus
}
#endif

#endif
