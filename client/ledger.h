/*  ledger.h - braid_ledger_t: what the caller of one job has been handed,
    kept across brokers so that a job can fail over and resume (PROTOCOL.md,
    "A job" 10). No I/O.

    Per task (query x sources + source): whether its END was handed out
    (one bit), and for a task whose partials were handed out but not its
    END, how many (a small open-addressing table: only tasks in progress,
    which the broker's windows bound). With it the stream drops what the
    caller has already: an END of a task that ended, a partial whose seq is
    below what was handed out. It also tallies the ENDs per source and
    status, which is the job's summary when it ran on several brokers.

    From it comes the RESUME for the next broker: the ended tasks as ranges
    (at most BRAID_MAX_RESUME_RANGES; the rest are not claimed, run again
    and dropped here) and the head: the first task in task order that has
    partials out but no END.
*/

#ifndef BRAID_LEDGER_H_INCLUDED
#define BRAID_LEDGER_H_INCLUDED

#include "braid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _braid_ledger_t braid_ledger_t;

/*  A ledger for queries x sources tasks. NULL if out of memory.            */
braid_ledger_t *
braid_ledger_new(uint32_t queries, uint32_t sources);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_ledger_destroy(braid_ledger_t **self_p);

/*  A partial (query, source, seq) is about to be handed out: true if it is
    new (it is then counted), false if the caller has it already. Seqs of a
    task come in order; a false one is dropped.                             */
bool
braid_ledger_partial(braid_ledger_t *self, uint32_t query, uint32_t source, uint64_t seq);

/*  An END (query, source, status) is about to be handed out: true if the
    task had not ended (it is then recorded), false for a repeat.          */
bool
braid_ledger_end(braid_ledger_t *self, uint32_t query, uint32_t source, braid_end_status_t status);

/*  A RESTART for (query, source): its partials start again at seq 0.     */
void
braid_ledger_restart(braid_ledger_t *self, uint32_t query, uint32_t source);

/*  The ENDs handed out per source and status ([sources][4], borrowed), and
    the job's status from them (OK, else FAILED if some failed or timed
    out, else CANCELLED).                                                   */
const uint64_t (*braid_ledger_summary(const braid_ledger_t *self))[BRAID_END_STATUS_COUNT];
braid_end_status_t
braid_ledger_status(const braid_ledger_t *self);

/*  The RESUME for the next broker: *frame_p (owned, *size_p bytes; may be
    NULL for none) the ended ranges; the head task in *query_p, *source_p
    and its partials handed out in *seq_p (all 0 when none). whole_queries:
    claim only queries whose every task ended, and no head (order key). 0,
    or -1 out of memory.                                                    */
int
braid_ledger_resume(const braid_ledger_t *self, bool whole_queries, uint8_t **frame_p,
                    size_t *size_p, uint32_t *query_p, uint32_t *source_p, uint64_t *seq_p);

#endif
