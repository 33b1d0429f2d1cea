/*  braid_parts.h - the parts frame: many partials (or queries) in one
    payload frame (PROTOCOL.md, "Parts frame").

        parts  = count 1*length data
        count  = varint         ; entries, 1 or more
        length = varint         ; one per entry, in order
        data   = the entries' bytes back to back, exactly the sum of the
                 lengths: nothing before the end of the frame is left over

    A varint is LEB128 (7 bits a byte, low bits first, high bit set on all
    but the last byte), at most 4 bytes (values below 2^28) and minimal (a
    multi-byte varint does not end in a zero byte). The lengths come first
    so that a reader finds an entry without copying, and a writer that
    wants all the bytes (the client's plain output) gets them in one piece.

    A message carries its partials in one such frame, so every message has
    a fixed small number of frames and ZMQ_MAXMSGSIZE bounds all of it. A
    line costs a few bytes of length, not a frame.

    braid_parts_check() is total: any byte string is either a parts frame
    within the bounds given or refused, and nothing is read outside it.
    The other readers take a checked frame only.

    braid_parts_t builds one: entries appended, the first n encoded into a
    frame, then dropped.
*/

#ifndef BRAID_PARTS_H_INCLUDED
#define BRAID_PARTS_H_INCLUDED

#include "braid_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  The longest varint: 4 bytes, values below 2^28 (an entry is at most a
    frame, BRAID_MAX_FRAME = 2^24 bytes).                                   */
#define BRAID_VARINT_MAX 4

/*  Check the size bytes at data as a parts frame of 1..max_count entries,
    each at most max_len bytes. BRAID_OK with the entries in *count (may be
    NULL); BRAID_ERR_FRAMES when it is not a parts frame (a varint cut
    short, too long or not minimal; no entry; more than max_count; lengths
    that do not add up to the bytes after them); BRAID_ERR_FRAME_SIZE when
    an entry is over max_len.                                               */
braid_err_t
braid_parts_check(const void *data, size_t size, size_t max_count, size_t max_len,
                  size_t *count);

/*  The entries of a checked frame: braid_parts_iter() starts, each
    braid_parts_next() gives the next entry (true) until none is left.      */
typedef struct {
    const uint8_t *len;         /* the next entry's length varint           */
    const uint8_t *data;        /* the next entry's bytes                   */
    size_t left;                /* entries not given yet                    */
} braid_parts_iter_t;

void
braid_parts_iter(braid_parts_iter_t *it, const void *frame, size_t size);
bool
braid_parts_next(braid_parts_iter_t *it, const void **data, size_t *len);

/*  A checked frame's entry count (its first varint, no walk).              */
size_t
braid_parts_count(const void *frame, size_t size);

/*  A checked frame's entries' bytes, back to back: *len bytes.             */
const void *
braid_parts_data(const void *frame, size_t size, size_t *len);

/*  The same for a zframe_t (borrowed).                                     */
size_t
braid_parts_frame_count(zframe_t *frame);

/*  The bytes of a checked zframe's entries (what byte windows count).     */
size_t
braid_parts_frame_bytes(zframe_t *frame);

/*  Encode the n entries (data[i], lens[i]) into a new frame; NULL on
    allocation failure, or when n is 0 or an entry is too long for a
    varint. For tests and for a few entries; braid_parts_t for many.        */
zframe_t *
braid_parts_encode(const void *const *data, const size_t *lens, size_t n);

/*  A message of n frames (*frames_p, consumed) as a message of one parts
    frame holding them as its n entries (empty when n is 0): for tests and
    tools that think in one frame per partial. NULL out of memory.          */
zmsg_t *
braid_parts_pack(zmsg_t **frames_p);

/*  ---------------------------------------------------------------------
    The builder                                                            */

typedef struct _braid_parts_t braid_parts_t;

/*  An empty list of entries; NULL if out of memory.                        */
braid_parts_t *
braid_parts_new(void);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_parts_destroy(braid_parts_t **self_p);

/*  Append an entry of len bytes (len below 2^28). 0, or -1 out of memory. */
int
braid_parts_add(braid_parts_t *self, const void *data, size_t len);

/*  Entries held.                                                           */
size_t
braid_parts_size(const braid_parts_t *self);

/*  Bytes of the entries held.                                              */
size_t
braid_parts_bytes(const braid_parts_t *self);

/*  Entry i (below braid_parts_size), borrowed until the next change.      */
const void *
braid_parts_at(const braid_parts_t *self, size_t i, size_t *len);

/*  How many of the first entries (at most max_count) fit in max_bytes
    bytes of entries (the lengths not counted: at most BRAID_VARINT_MAX
    bytes each more in the frame): at least one if any is held (a single
    long entry goes alone, whatever max_bytes says).                        */
size_t
braid_parts_fit(const braid_parts_t *self, size_t max_count, size_t max_bytes);

/*  The first n entries (1..size) encoded as a parts frame; the entries
    stay held. NULL on allocation failure or a bad n.                       */
zframe_t *
braid_parts_frame(const braid_parts_t *self, size_t n);

/*  Drop the first n entries (all of them when n >= size).                  */
void
braid_parts_drop(braid_parts_t *self, size_t n);

#endif
