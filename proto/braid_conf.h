/*  braid_conf.h - a ZPL config file, parsed into a tree that remembers
    where every node came from.

    The syntax is the subset of ZPL (ZeroMQ RFC 4, czmq's zconfig) that
    braid uses:

        # a comment line
        worker                          a section: a bare name
            name = w1                   name = value; value bare,
            backend = "tcp://h:5556"    "double-quoted" or 'single-quoted'
            slots = 4   # comment       a comment may follow a value

    * Indentation is exactly 4 spaces per level; a tab in the indentation
      is an error; a line may be at most one level deeper than the line
      before it. Blank and comment-only lines may have any indentation.
    * A name is 1..64 bytes of [A-Za-z0-9$-_@.&+]; '/' is not allowed in
      a name because it separates the parts of a lookup path.
    * A bare value runs to the next whitespace or '#'. A quoted value has
      no escapes: it runs to the next matching quote on the same line.
    * After the value only whitespace and a comment may follow.
    * Two siblings with the same name are an error.
    * Any node may have both a value and children.

    Errors are written into the caller's buffer as "FILE:LINE: message"
    (or "FILE: message" when no line applies) so that a program can print
    "prog: " followed by it.
*/

#ifndef BRAID_CONF_H_INCLUDED
#define BRAID_CONF_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Limits, so a hostile or broken file cannot make us allocate without
    bound or recurse deeply.                                                */
#define BRAID_CONF_MAX_NAME 64          /* bytes in one name                */
#define BRAID_CONF_MAX_DEPTH 16         /* nesting levels                   */
#define BRAID_CONF_MAX_LINE 65536       /* bytes in one line                */
#define BRAID_CONF_MAX_LINES 100000     /* lines in one file                */

/*  A node of the tree; the root has no name and line 0.                   */
typedef struct _braid_conf_t braid_conf_t;

/*  Parse the file at path. Returns the root, or NULL with the reason in
    err ("FILE:LINE: message").                                             */
braid_conf_t *
braid_conf_load(const char *path, char *err, size_t errsize);

/*  Parse text held in memory; name is used in error messages and
    braid_conf_file().                                                      */
braid_conf_t *
braid_conf_parse(const char *text, size_t size, const char *name, char *err, size_t errsize);

/*  Destroy a tree (only through its root). NULL-safe; sets *self_p NULL. */
void
braid_conf_destroy(braid_conf_t **self_p);

/*  The node at path below self ("worker/slots"), or NULL.                 */
braid_conf_t *
braid_conf_locate(braid_conf_t *self, const char *path);

/*  The value of the node at path, or dflt when there is no such node or
    it has no value. Borrowed.                                              */
const char *
braid_conf_get(braid_conf_t *self, const char *path, const char *dflt);

/*  Children, in file order.                                                */
braid_conf_t *
braid_conf_child(braid_conf_t *self);
braid_conf_t *
braid_conf_next(braid_conf_t *self);

/*  This node's name ("" for the root), value (NULL when it has none),
    line number (0 for the root), and the file name. All borrowed.         */
const char *
braid_conf_name(braid_conf_t *self);
const char *
braid_conf_value(braid_conf_t *self);
int
braid_conf_line(braid_conf_t *self);
const char *
braid_conf_file(braid_conf_t *self);

/*  Read the node at path as an unsigned decimal integer in min..max.
    Missing node: *value = dflt, returns 0. A value that is not such an
    integer: returns -1 with "FILE:LINE: NAME must be an integer in
    MIN..MAX" in err.                                                       */
int
braid_conf_uint(braid_conf_t *self, const char *path, uint64_t min, uint64_t max, uint64_t dflt,
                uint64_t *value, char *err, size_t errsize);

/*  Write "FILE:LINE: message" about node into err (printf style).         */
void
braid_conf_error(braid_conf_t *node, char *err, size_t errsize, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#ifdef __cplusplus
}
#endif

#endif
