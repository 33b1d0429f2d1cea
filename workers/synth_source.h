/*  synth_source.h - the synthetic kind of source, for load tests.

    Settings (-s NAME=synthetic:KEY=VALUE,..., or keys of a source/NAME
    section): parts (default 1), size (default 64), delay_msec (default 0),
    fail=PREFIX, fail_first=N.

    For each seq 0..parts-1, after waiting delay_msec: the payload is the
    text "QUERY SEQ", padded with '.' or cut to size-1 bytes, then '\n', so
    every payload is exactly size bytes. If fail=PREFIX is set and the query
    starts with PREFIX the task fails at once with no parts (permanently).
    If fail_first=N is set, attempts 1..N produce every part and then fail
    transiently; attempt N+1 and later succeed.
*/

#ifndef BRAID_SYNTH_SOURCE_H_INCLUDED
#define BRAID_SYNTH_SOURCE_H_INCLUDED

#include "braid_msg.h"
#include "source_kind.h"

/*  Bounds of the settings.                                                 */
#define BRAID_SYNTH_MAX_PARTS 1000000000ull
#define BRAID_SYNTH_MAX_SIZE ((uint64_t) BRAID_MAX_FRAME)
#define BRAID_SYNTH_MAX_DELAY_MSEC 86400000ull
/*  Bytes produced in one call, at most (at least one part is).            */
#define BRAID_SYNTH_MAX_BURST (256u << 10)

extern const braid_source_kind_t braid_synth_kind;

#endif
