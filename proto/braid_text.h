/*  braid_text.h - bytes from outside as text: UTF-8 checks and one-line
    sanitizing, for what a worker or broker passes on to a person (an exec
    child's stderr tail, a client's error line).

    The sanitized form is one line of valid UTF-8: valid multi-byte
    sequences and printable ASCII stay, newline and tab become the two
    characters \n and \t, every other control byte, DEL and every byte that
    is not part of valid UTF-8 becomes \xNN. Nothing in it can move a
    terminal's cursor or start a line of its own.
*/

#ifndef BRAID_TEXT_H_INCLUDED
#define BRAID_TEXT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

/*  Length of the valid UTF-8 sequence at p (1..4; 1 for any ASCII byte,
    controls included), or 0 if the bytes there are not valid UTF-8 (an
    overlong form, a surrogate, above U+10FFFF, cut short by avail).
    avail > 0.                                                              */
size_t
braid_utf8_len(const void *p, size_t avail);

/*  True if the size bytes at data are valid UTF-8 (NUL and controls
    included: they are valid characters).                                   */
bool
braid_utf8_valid(const void *data, size_t size);

/*  Write the size bytes at data, sanitized (see above), into buf
    (bufsize > 0), always NUL-terminated; an escape or character that does
    not fit whole is left out with everything after it. Returns the length
    written.                                                                */
size_t
braid_text_sanitize(char *buf, size_t bufsize, const void *data, size_t size);

#endif
