/*  synth_source.h - one running task of a synthetic source (load tests).

    For each seq 0..parts-1, after waiting delay_msec: the payload is the
    text "QUERY SEQ", padded with '.' or cut to size-1 bytes, then '\n', so
    every payload is exactly size bytes. If fail=PREFIX is set and the query
    starts with PREFIX the task fails at once with no parts (permanently).
    If fail_first=N is set, attempts 1..N produce every part and then fail
    transiently; attempt N+1 and later succeed.
*/

#ifndef BRAID_SYNTH_SOURCE_H_INCLUDED
#define BRAID_SYNTH_SOURCE_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source.h"

typedef struct _braid_synth_t braid_synth_t;

/*  Bytes produced in one call, at most (at least one part is).            */
#define BRAID_SYNTH_MAX_BURST (256u << 10)

/*  Start attempt (1, 2, ...) of a task at now_msec (a monotonic clock).
    The query is borrowed: it must outlive the synth. NULL if out of
    memory.                                                                 */
braid_synth_t *
braid_synth_new(const braid_source_t *source, const char *query, size_t qlen, uint32_t attempt,
                int64_t now_msec);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_synth_destroy(braid_synth_t **self_p);

/*  True if the query matched the fail prefix: end failed, 0 parts.        */
bool
braid_synth_failed(braid_synth_t *self);

/*  True if this attempt, once done, ends failed and transient
    (fail_first).                                                           */
bool
braid_synth_transient(braid_synth_t *self);

/*  True once every part was produced.                                     */
bool
braid_synth_done(braid_synth_t *self);

/*  When the next part is due (monotonic msec), or -1 when done.           */
int64_t
braid_synth_next_at(braid_synth_t *self);

/*  Append the parts due at now_msec to out: at most max_frames, and no
    more than BRAID_SYNTH_MAX_BURST bytes. Returns how many.               */
size_t
braid_synth_produce(braid_synth_t *self, int64_t now_msec, zmsg_t *out, size_t max_frames);

#endif
