/*  plan.h - braid_plan_t: what `braid submit` has to run, and the jobs that
    run it. No I/O.

    A plan starts from a request that holds the options and the sources of
    every job; the queries are added through the plan, each with its
    number (the CLI's input line from 0, or the argument's index), in
    increasing order. Every (query, source) is to run, until a job log read
    back says it is done (braid_plan_mark). What is left is cut into jobs,
    one per set of sources left, ordered by their first query; each asks
    its sources (in the order given) for its queries (in input order).
    Without marks that is one job of every query and every source: the
    request itself.
*/

#ifndef BRAID_PLAN_H_INCLUDED
#define BRAID_PLAN_H_INCLUDED

#include "braid.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _braid_plan_t braid_plan_t;

/*  What a job log's line came to.                                          */
typedef enum {
    BRAID_PLAN_MARKED = 0,      /* the pair is marked                       */
    BRAID_PLAN_UNKNOWN,         /* no query of that number, or no such
                                   source in the plan: nothing to mark      */
    BRAID_PLAN_MISMATCH         /* the query of that number has another
                                   text: not a log of this input            */
} braid_plan_mark_t;

/*  A plan from *request_p (consumed): its options and sources go to every
    job; it should hold no query yet. NULL on allocation failure.           */
braid_plan_t *
braid_plan_new(braid_request_t **request_p);

/*  Destroy a plan; NULL-safe, sets *self_p to NULL.                        */
void
braid_plan_destroy(braid_plan_t **self_p);

/*  Add a query of size bytes (copied) with its number, which must be above
    the last one's: as braid_request_add_query(), and BRAID_ADD_INVALID for
    a number out of order.                                                  */
braid_add_t
braid_plan_add(braid_plan_t *self, uint32_t number, const void *data, size_t size);

/*  The name of source index (borrowed), or NULL when out of range or when
    the plan has handed out its request (braid_plan_request).              */
const char *
braid_plan_source(const braid_plan_t *self, size_t index);

/*  Number of queries added.                                                */
size_t
braid_plan_query_count(const braid_plan_t *self);

/*  Mark (query number, source) done (skip) or to run (not skip), as a job
    log line says; a later mark of the pair wins. text is what the log
    says the query was.                                                     */
braid_plan_mark_t
braid_plan_mark(braid_plan_t *self, uint32_t number, const char *source, const void *text,
                size_t size, bool skip);

/*  Cut what is left into jobs (after the last mark): their number. 0 when
    nothing is left. -1 (ENOMEM).                                           */
int
braid_plan_cut(braid_plan_t *self);

/*  Tasks left, over all jobs (after braid_plan_cut).                       */
uint64_t
braid_plan_task_count(const braid_plan_t *self);

/*  The request for job (0 .. braid_plan_cut() - 1), with its options,
    sources and queries; the numbers of its queries in *numbers_p
    (borrowed from the plan). Owned; NULL on allocation failure, or when
    the plan has handed out its own request already (a job of everything
    is that request, and the only job).                                    */
braid_request_t *
braid_plan_request(braid_plan_t *self, size_t job, const uint32_t **numbers_p);

#endif
