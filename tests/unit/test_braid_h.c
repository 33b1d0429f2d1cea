/*  test_braid_h.c - compiled (not run) by ctest test_braid_h with only
    client/ and the compiler's freestanding headers on the include path:
    libbraid's public header needs nothing else (no czmq, libzmq, msgpack
    or libc headers), and a caller can write a whole job with it.          */

#include "braid.h"

#if defined(__CZMQ_H_INCLUDED__) || defined(__ZMQ_H_INCLUDED__) || defined(BRAID_MSG_H_INCLUDED)
#error "braid.h pulls in the wire protocol or ZeroMQ"
#endif

_Static_assert(BRAID_END_STATUS_COUNT == 4, "summary rows");
_Static_assert(BRAID_ORDERING_SUBMIT == 0 && BRAID_ORDERING_ARRIVAL == 1, "wire order values");

/*  Count the partials of one job; -1 if it could not run.                 */
int
count_partials(const char *endpoint, const char *source, const char *query, size_t len);

int
count_partials(const char *endpoint, const char *source, const char *query, size_t len)
{
    braid_request_t *request = braid_request_new();
    if (!request || braid_request_add_source(request, source) != BRAID_ADD_OK ||
        braid_request_add_query(request, query, len) != BRAID_ADD_OK ||
        braid_request_set_order(request, BRAID_ORDERING_ARRIVAL) != 0) {
        braid_request_destroy(&request);
        return -1;
    }
    braid_client_t *client = braid_client_new();
    if (!client || braid_client_add_endpoint(client, endpoint) != 0 ||
        braid_client_submit(client, &request) != BRAID_REPLY_OK) {
        braid_client_destroy(&client);
        return -1;
    }
    int partials = 0;
    braid_event_t ev;
    while (braid_client_next(client, &ev, -1) == BRAID_NEXT_EVENT) {
        if (ev.type == BRAID_EVENT_PARTIAL)
            partials++;
        else if (ev.type == BRAID_EVENT_JOB_END && ev.nsources > 0 &&
                 ev.summary[0][BRAID_END_FAILED] > 0 && ev.source_names[0][0])
            partials = -partials;
        else if (ev.type == BRAID_EVENT_ERROR && ev.code == BRAID_CLIENT_ERR_LOST)
            break;
    }
    braid_client_destroy(&client);
    return partials;
}
