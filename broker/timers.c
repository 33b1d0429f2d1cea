/*  timers.c - a binary min-heap of timers.                                 */

#include "timers.h"

#include <assert.h>
#include <stdlib.h>

struct braid_timers_t {
    braid_timer_t *heap;
    size_t len, cap;
};

braid_timers_t *
braid_timers_new(void)
{
    return calloc(1, sizeof(braid_timers_t));
}

void
braid_timers_destroy(braid_timers_t **self_p)
{
    assert(self_p);
    if (!*self_p)
        return;
    free((*self_p)->heap);
    free(*self_p);
    *self_p = NULL;
}

int
braid_timers_add(braid_timers_t *self, int64_t due_msec, uint32_t kind, uint32_t a, uint32_t b)
{
    if (self->len == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        braid_timer_t *grown = realloc(self->heap, cap * sizeof *grown);
        if (!grown)
            return -1;
        self->heap = grown;
        self->cap = cap;
    }
    size_t i = self->len++;
    braid_timer_t t = {due_msec, kind, a, b};
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (self->heap[parent].due_msec <= t.due_msec)
            break;
        self->heap[i] = self->heap[parent];
        i = parent;
    }
    self->heap[i] = t;
    return 0;
}

int64_t
braid_timers_next(const braid_timers_t *self)
{
    return self->len ? self->heap[0].due_msec : INT64_MAX;
}

bool
braid_timers_pop(braid_timers_t *self, int64_t now_msec, braid_timer_t *timer)
{
    if (!self->len || self->heap[0].due_msec > now_msec)
        return false;
    *timer = self->heap[0];
    braid_timer_t last = self->heap[--self->len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= self->len)
            break;
        if (child + 1 < self->len && self->heap[child + 1].due_msec < self->heap[child].due_msec)
            child++;
        if (last.due_msec <= self->heap[child].due_msec)
            break;
        self->heap[i] = self->heap[child];
        i = child;
    }
    if (self->len)
        self->heap[i] = last;
    return true;
}

size_t
braid_timers_size(const braid_timers_t *self)
{
    return self->len;
}
