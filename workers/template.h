/*  template.h - exec source command templates: split once, fill per query.

    A template is split into words the way a shell splits quoting only:
    whitespace (space, tab, newline) separates words; '...' is literal;
    "..." is literal except \" and \\; a backslash outside quotes escapes
    the next character. No expansions, no shell, ever.

    Each "{query}" anywhere inside a word (after unquoting, in any quoting)
    is replaced by the query bytes, and the word stays one argv element.
    If the template has no "{query}", the query is appended as the last
    argument. The first word (the program) may not contain "{query}": a
    query never chooses what runs.
*/

#ifndef BRAID_TEMPLATE_H_INCLUDED
#define BRAID_TEMPLATE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _braid_template_t braid_template_t;

/*  The placeholder replaced by the query.                                  */
#define BRAID_TEMPLATE_QUERY "{query}"

/*  Split text into words. Returns NULL with a reason in err (unterminated
    quote, trailing backslash, no words, {query} in the program name).      */
braid_template_t *
braid_template_new(const char *text, char *err, size_t errsize);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_template_destroy(braid_template_t **self_p);

/*  Number of words, and word i after unquoting (borrowed).                */
size_t
braid_template_words(braid_template_t *self);
const char *
braid_template_word(braid_template_t *self, size_t i);

/*  True if some word holds {query}.                                        */
bool
braid_template_has_query(braid_template_t *self);

/*  True if a query could start an argv element that is not after a "--"
    word: some word begins with {query} (or, without {query}, the query is
    appended) and no word before it is "--".                                */
bool
braid_template_takes_options(braid_template_t *self);

/*  A NULL-terminated argv for query (qlen bytes). Returns NULL if the
    query contains a NUL byte (it cannot be an argv element) or on
    allocation failure. Free with braid_template_argv_free().              */
char **
braid_template_argv(braid_template_t *self, const char *query, size_t qlen);

/*  Free an argv from braid_template_argv(). NULL-safe; sets *argv_p NULL. */
void
braid_template_argv_free(char ***argv_p);

#endif
