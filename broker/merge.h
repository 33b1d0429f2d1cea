/*  merge.h - order key: one query's sources merged by score, no I/O.

    A job of order key (PROTOCOL.md, "A job" 5, order 2) sends its queries
    in submit order, and each query's partials from all its sources merged
    by score as they stream. job.c keeps the partials' frames, each task's
    in seq order; the merge keeps what decides their order: each undecided
    partial's key (score, dedup value), each task's running score, the
    dedup values already sent for the query, and the duplicates dropped
    per task. job.c asks it which partial is next.

    The rules, which make the merged stream the same whatever order the
    partials arrive in (tests/unit/test_merge.c checks that against a sort
    of the whole output):
    - Better means higher, or lower in an ascending job. A task's partials
      are sorted by its source; one that scores better than the one before
      it in its task (an unsorted source) is clamped to that one's score,
      so it keeps its place in its task's stream. A partial that came
      without keys takes the score of the one before it (the best score
      when it is the first).
    - The candidate is the best of the tasks' first undecided partials,
      ties to the lowest source index. It is decided once every other task
      that may still bring partials (open) has an undecided partial (no
      better, so nothing it brings later is either), or has shown a
      partial that scores worse (or the same, from a later source). So the
      merged stream is sorted, and a partial waits only for sources that
      have shown nothing as low yet.
    - A candidate whose dedup value was sent before for the query is a
      duplicate: dropped, and counted for its task.

    A batch: job.c takes consecutive winners of one task into one PARTIAL
    (braid_merge_take), then commits them once it went out, or rolls them
    back when the client could not take it.

    Memory: what job.c buffers (the task windows) has one entry each here;
    the dedup values sent for the query being merged are kept until it is
    over, up to BRAID_MERGE_MAX_DEDUP_BYTES (past that, new ones are not
    remembered: a later copy of them is not dropped).
*/

#ifndef BRAID_MERGE_H_INCLUDED
#define BRAID_MERGE_H_INCLUDED

#include "braid_keys.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  Bytes of dedup values one query remembers, at most.                     */
#define BRAID_MERGE_MAX_DEDUP_BYTES (64u << 20)

typedef struct braid_merge_t braid_merge_t;

/*  What is next for a query (braid_merge_next).                            */
typedef enum {
    BRAID_MERGE_WAIT = 0,   /* nothing can be decided now                   */
    BRAID_MERGE_SEND,       /* *source's first undecided partial goes out   */
    BRAID_MERGE_DROP        /* it is a duplicate: drop it                   */
} braid_merge_next_t;

/*  A merge, lower scores first when ascending. NULL if out of memory.      */
braid_merge_t *
braid_merge_new(bool ascending);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_merge_destroy(braid_merge_t **self_p);

/*  The score order (before any partial arrives).                           */
void
braid_merge_set_ascending(braid_merge_t *self, bool ascending);

/*  n partials of task idx arrived after those it holds, with their keys
    (NULL: they came without). 0, or -1 out of memory (nothing recorded).   */
int
braid_merge_push(braid_merge_t *self, uint32_t idx, const braid_key_t *keys, size_t n);

/*  Task idx's undecided partials are gone (cancelled, or started again).
    restart: it starts again from seq 0, so its running score goes too.    */
void
braid_merge_clear(braid_merge_t *self, uint32_t idx, bool restart);

/*  What goes next for the query whose source 0 is task first, of nsources
    tasks; open has bit s set when task first + s may still bring partials
    (not ended). The source in *source for SEND and DROP. A query other
    than the last one asked about starts a new set of dedup values.        */
braid_merge_next_t
braid_merge_next(braid_merge_t *self, uint32_t first, uint32_t nsources, uint32_t open,
                 uint32_t *source);

/*  SEND: take task idx's first undecided partial into the batch (its
    dedup value counts as sent). A batch holds partials of one task. 0, or
    -1 out of memory (not taken).                                           */
int
braid_merge_take(braid_merge_t *self, uint32_t idx);

/*  The batch went out: its partials are decided.                           */
void
braid_merge_commit(braid_merge_t *self);

/*  The batch did not go out: its partials are undecided again, their
    dedup values forgotten.                                                 */
void
braid_merge_rollback(braid_merge_t *self);

/*  DROP: task idx's first undecided partial is decided, as a duplicate.   */
void
braid_merge_drop(braid_merge_t *self, uint32_t idx);

/*  Undecided partials task idx holds (the batch's not counted).            */
size_t
braid_merge_held(braid_merge_t *self, uint32_t idx);

/*  Duplicates dropped from task idx.                                       */
uint64_t
braid_merge_duplicates(braid_merge_t *self, uint32_t idx);

/*  Task idx is over (its END went out): forget it.                         */
void
braid_merge_forget(braid_merge_t *self, uint32_t idx);

/*  Bytes the merge holds.                                                  */
size_t
braid_merge_bytes(braid_merge_t *self);

#endif
