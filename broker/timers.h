/*  timers.h - a binary min-heap of timers.

    Each timer is (due_msec, kind, a, b): what it means is the caller's
    business. Adding and popping cost O(log n); nothing walks all timers,
    so task deadlines and retry backoffs cost the same per tick whatever
    the number of tasks. Cancelling is lazy: the caller ignores a timer
    whose subject is gone when it fires.
*/

#ifndef BRAID_TIMERS_H_INCLUDED
#define BRAID_TIMERS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t due_msec;
    uint32_t kind;
    uint32_t a;
    uint32_t b;
} braid_timer_t;

typedef struct braid_timers_t braid_timers_t;

braid_timers_t *
braid_timers_new(void);
void
braid_timers_destroy(braid_timers_t **self_p);
/*  Add a timer. 0, or -1 on allocation failure.                           */
int
braid_timers_add(braid_timers_t *self, int64_t due_msec, uint32_t kind, uint32_t a, uint32_t b);
/*  The earliest due time, or INT64_MAX when there is no timer.            */
int64_t
braid_timers_next(const braid_timers_t *self);
/*  Pop the earliest timer if it is due at now_msec: true and *timer set.  */
bool
braid_timers_pop(braid_timers_t *self, int64_t now_msec, braid_timer_t *timer);
size_t
braid_timers_size(const braid_timers_t *self);

#endif
