/*  braid_keys.h - the keys frame of order key (PROTOCOL.md, "Keys").

    A keyed DATA or DONE (h = 1) carries, as its last payload frame, one
    msgpack array with an entry per partial frame before it, in the same
    order, each an array [score, dedup]: score a msgpack integer in int64
    range or a float64 that is not NaN, dedup a bin of 0..BRAID_MAX_DEDUP
    bytes (empty: no dedup value).

    braid_keys_decode() is pure and total. The grammar is fixed and two
    levels deep, so it is read directly rather than through msgpack-c:
    every length is checked against the bytes present before it is used,
    nothing is allocated (a frame of 1024 entries would cost msgpack-c
    some 3000 objects for one walk), and only a frame consumed whole, with
    exactly the expected number of entries, is accepted. The encoder uses
    msgpack-c's packer, which writes only forms the decoder reads.
*/

#ifndef BRAID_KEYS_H_INCLUDED
#define BRAID_KEYS_H_INCLUDED

#include "braid_msg.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  A score: an integer or a real, compared by numeric value.              */
typedef struct {
    bool real;                  /* f holds it; else i                      */
    int64_t i;
    double f;                   /* never NaN                               */
} braid_score_t;

/*  One partial's keys. dedup points into the frame it was decoded from
    (or the caller's bytes when encoding); dedup_len 0: none.              */
typedef struct {
    braid_score_t score;
    const uint8_t *dedup;
    size_t dedup_len;
} braid_key_t;

/*  An integer score, a real one (NaN is not a score: the caller checks).  */
braid_score_t
braid_score_int(int64_t i);
braid_score_t
braid_score_real(double f);

/*  Compare by numeric value, exactly (an int64 against a double too):
    <0 when a is lower than b, 0 when equal, >0 when higher.               */
int
braid_score_cmp(const braid_score_t *a, const braid_score_t *b);

/*  Decode the keys frame data[0..size) of a message whose other payload
    frames are n partials (n <= BRAID_MAX_BATCH) into keys[0..n) (may be
    NULL: only check). Pure. BRAID_OK, or BRAID_ERR_FRAMES when it is not
    exactly n well-formed entries.                                          */
braid_err_t
braid_keys_decode(const void *data, size_t size, size_t n, braid_key_t *keys);

/*  The keys frame of keys[0..n) (n <= BRAID_MAX_BATCH). NULL when a key is
    out of bounds (a NaN, a dedup over BRAID_MAX_DEDUP: the caller's bug)
    or on allocation failure.                                               */
zframe_t *
braid_keys_encode(const braid_key_t *keys, size_t n);

#endif
