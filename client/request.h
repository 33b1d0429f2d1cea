/*  request.h - braid_request_t inside libbraid: what the rest of the
    library asks of a request (the public half is in braid.h).

    A request owns the facts of a job as the caller gave them: its sources
    (names kept also as a pointer array, so events can lend it out), its
    queries back to back in one buffer, and the SUBMIT options. It writes
    them onto the wire itself (the SUBMIT header, QUERIES batches), so the
    layout of a job lives in one place.
*/

#ifndef BRAID_REQUEST_H_INCLUDED
#define BRAID_REQUEST_H_INCLUDED

#include "braid.h"
#include "braid_msg.h"

/*  The request's order.                                                    */
braid_ordering_t
braid_request_order(const braid_request_t *self);

/*  Fill the SUBMIT fields of msg that the request decides: order, limits,
    timeouts, flags, retries, query count, sources (not job id or credit). */
void
braid_request_put_header(const braid_request_t *self, braid_msg_t *msg);

/*  The payload of the QUERIES message that starts at query first: at most
    BRAID_MAX_BATCH queries, one frame each. *next_p is set to the query
    after the batch. NULL on allocation failure or when first is past the
    last query.                                                             */
zmsg_t *
braid_request_batch(const braid_request_t *self, uint32_t first, uint32_t *next_p);

/*  The source names, braid_request_source_count() of them (borrowed).     */
const char *const *
braid_request_source_names(const braid_request_t *self);

#endif
