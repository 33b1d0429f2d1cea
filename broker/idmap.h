/*  idmap.h - a map from 64-bit ids (task ids, job serials) to 64-bit
    values, for the broker's lookups on the hot path.

    Open addressing with linear probing over a power-of-two table that is
    never more than half full (it doubles before it would be). Id 0 marks
    an empty cell, so 0 is never a key: task ids and serials start at 1.
    Deleting shifts the rest of the probe run back into the hole (no
    tombstones), so a lookup costs the same however many puts and deletes
    came before it.
*/

#ifndef BRAID_IDMAP_H_INCLUDED
#define BRAID_IDMAP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct braid_idmap_t braid_idmap_t;

/*  Create a map with room for at least hint ids before it grows. NULL on
    allocation failure.                                                     */
braid_idmap_t *
braid_idmap_new(size_t hint);

/*  Destroy the map. NULL-safe, sets *self_p to NULL.                       */
void
braid_idmap_destroy(braid_idmap_t **self_p);

/*  Map id (not 0) to value, replacing what it mapped to. Returns 0, or -1
    when the table had to grow and could not (the map is unchanged). Only
    a new id can make it grow: replacing a value never fails.              */
int
braid_idmap_put(braid_idmap_t *self, uint64_t id, uint64_t value);

/*  The value of id into *value_p: true, or false when id is not there.     */
bool
braid_idmap_get(const braid_idmap_t *self, uint64_t id, uint64_t *value_p);

/*  Remove id: true, or false when it was not there.                        */
bool
braid_idmap_del(braid_idmap_t *self, uint64_t id);

/*  Ids in the map.                                                         */
size_t
braid_idmap_size(const braid_idmap_t *self);

/*  For tests: the number of cells; the cell id hashes to; how far past
    that cell id sits (-1 when it is not there).                            */
size_t
braid_idmap_cells(const braid_idmap_t *self);
size_t
braid_idmap_home(const braid_idmap_t *self, uint64_t id);
int64_t
braid_idmap_distance(const braid_idmap_t *self, uint64_t id);

#endif
