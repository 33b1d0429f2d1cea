/*  taskheap.h - a min-heap of task indices, lowest first (job.c's tasks
    to dispatch again: a task taken back runs again in the order of a
    sequential run, so a head of line is never queued behind its own job's
    later tasks). A plain value: the owner allocates heap with room for cap
    indices and frees it; each index is in a heap at most once, so the
    owner sizes it once (a job: its query count per source).               */

#ifndef BRAID_TASKHEAP_H_INCLUDED
#define BRAID_TASKHEAP_H_INCLUDED

#include <stdint.h>

typedef struct {
    uint32_t *heap;
    uint64_t cap, len;
} braid_taskheap_t;

/*  Add idx (len < cap).                                                    */
static inline void
braid_taskheap_push(braid_taskheap_t *pq, uint32_t idx)
{
    uint64_t i = pq->len++;
    while (i > 0) {
        uint64_t parent = (i - 1) / 2;
        if (pq->heap[parent] <= idx)
            break;
        pq->heap[i] = pq->heap[parent];
        i = parent;
    }
    pq->heap[i] = idx;
}

/*  Remove the lowest, heap[0] (len > 0).                                   */
static inline void
braid_taskheap_pop(braid_taskheap_t *pq)
{
    uint32_t last = pq->heap[--pq->len];
    uint64_t i = 0;
    for (;;) {
        uint64_t child = 2 * i + 1;
        if (child >= pq->len)
            break;
        if (child + 1 < pq->len && pq->heap[child + 1] < pq->heap[child])
            child++;
        if (last <= pq->heap[child])
            break;
        pq->heap[i] = pq->heap[child];
        i = child;
    }
    if (pq->len)
        pq->heap[i] = last;
}

#endif
