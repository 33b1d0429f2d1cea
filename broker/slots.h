/*  slots.h - which worker holds which task: the broker's one record of it.

    A task attempt dispatched to a worker takes one of its slots, and holds
    it until the worker says DONE (also for a task that ended meanwhile,
    cancelled: the worker still runs it), the task is taken back, or the
    worker goes. A task id holds at most one slot at a time.

    Workers are numbers the caller picks (small, reused, like file
    descriptors); a worker announcing n slots holds braid_worker_capacity(n)
    tasks. Its slots sit in a dense array, walked by heartbeats and ticks;
    a task id finds its slot through one index over all workers, and a
    job's serial (the high half of its task ids) finds how many slots its
    tasks hold, so neither a DONE nor a job's end scans anything.

    Pure bookkeeping: no I/O, no policy. The scheduler (scheduler.h) takes and
    releases slots; the rest of the broker reads them.
*/

#ifndef BRAID_SLOTS_H_INCLUDED
#define BRAID_SLOTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  One held slot: the attempt it runs and what the broker tracks of it.    */
typedef struct {
    uint64_t task_id;           /* serial << 32 | task index                */
    uint32_t attempt;
    int32_t worker;             /* the worker holding it                    */
    uint16_t gid;               /* the task's source (scheduler's id)       */
    bool acked;                 /* TASK_ACK or listed in a heartbeat        */
    bool preempted;             /* cancelled to free the slot for a head    */
    uint8_t missing;            /* heartbeats in a row that left it out     */
    int64_t sent_msec;          /* when the TASK went out                   */
    uint64_t hb_seq;            /* next seq the last heartbeat reported     */
    uint64_t hb_recv;           /* parts received when it was reported      */
    uint64_t resume;            /* parts received when the TASK went out    */
    uint64_t token;             /* the attempt's random token (TASK z)      */
} braid_slot_t;

typedef struct braid_slots_t braid_slots_t;

/*  Create an empty record. NULL on allocation failure.                     */
braid_slots_t *
braid_slots_new(void);

/*  Destroy it. NULL-safe, sets *self_p to NULL.                            */
void
braid_slots_destroy(braid_slots_t **self_p);

/*  Add worker (a number not in use) with room for capacity tasks. Returns
    0, or -1 on allocation failure.                                         */
int
braid_slots_worker_add(braid_slots_t *self, int32_t worker, uint32_t capacity);

/*  Forget worker, which must hold no slot any more.                        */
void
braid_slots_worker_remove(braid_slots_t *self, int32_t worker);

/*  True while worker is added.                                             */
bool
braid_slots_has_worker(const braid_slots_t *self, int32_t worker);

/*  How many tasks worker may hold, and holds now (0 for no such worker).   */
uint32_t
braid_slots_capacity(const braid_slots_t *self, int32_t worker);
uint32_t
braid_slots_running(const braid_slots_t *self, int32_t worker);

/*  Slot k (0 <= k < running) of worker. Borrowed: a take or release on
    that worker moves slots, so walk with an index and look again after
    either.                                                                 */
braid_slot_t *
braid_slots_at(braid_slots_t *self, int32_t worker, uint32_t k);

/*  Give task_id a slot of worker: a zeroed record with task_id and worker
    set (the caller fills the rest). NULL when worker is full or unknown,
    task_id already holds a slot, or on allocation failure. Borrowed, as
    for braid_slots_at().                                                   */
braid_slot_t *
braid_slots_take(braid_slots_t *self, int32_t worker, uint64_t task_id);

/*  The slot task_id holds, or NULL. Borrowed, as for braid_slots_at().     */
braid_slot_t *
braid_slots_find(braid_slots_t *self, uint64_t task_id);

/*  Free the slot task_id holds if it runs attempt: true, and a copy of the
    record in *released (may be NULL); false when it holds none, or holds
    one for another attempt.                                                */
bool
braid_slots_release(braid_slots_t *self, uint64_t task_id, uint32_t attempt,
                    braid_slot_t *released);

/*  Slots held by the tasks of the job with this serial.                    */
uint32_t
braid_slots_held(const braid_slots_t *self, uint32_t serial);

#endif
