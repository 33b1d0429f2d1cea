/*  idmap.c - a map from 64-bit ids to 64-bit values: linear probing,
    backward-shift deletion.                                                */

#include "idmap.h"

#include <assert.h>
#include <stdlib.h>

#define S_MIN_CELLS 16

struct braid_idmap_t {
    uint64_t *ids;              /* 0: empty cell                           */
    uint64_t *values;
    size_t mask;                /* cells - 1                               */
    size_t size;                /* ids held                                */
};

/*  A 64-bit mixer (MurmurHash3's finaliser, first half): task ids differ
    in their low bits only, and linear probing wants them spread.           */
static size_t
s_hash(uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t) id;
}

/*  The cell that holds id, or the empty cell that ends its probe run.     */
static size_t
s_cell(const braid_idmap_t *self, uint64_t id)
{
    size_t i = s_hash(id) & self->mask;
    while (self->ids[i] && self->ids[i] != id)
        i = (i + 1) & self->mask;
    return i;
}

/*  Allocate an empty table of cells (a power of two). 0 / -1.              */
static int
s_alloc(braid_idmap_t *self, size_t cells)
{
    self->ids = calloc(cells, sizeof *self->ids);
    self->values = malloc(cells * sizeof *self->values);
    if (!self->ids || !self->values) {
        free(self->ids);
        free(self->values);
        return -1;
    }
    self->mask = cells - 1;
    return 0;
}

braid_idmap_t *
braid_idmap_new(size_t hint)
{
    braid_idmap_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t cells = S_MIN_CELLS;
    while (cells < 2 * hint)
        cells *= 2;
    if (s_alloc(self, cells) != 0) {
        free(self);
        return NULL;
    }
    return self;
}

void
braid_idmap_destroy(braid_idmap_t **self_p)
{
    assert(self_p);
    braid_idmap_t *self = *self_p;
    if (!self)
        return;
    free(self->ids);
    free(self->values);
    free(self);
    *self_p = NULL;
}

/*  Double the table and put every id again. 0 / -1 (unchanged).           */
static int
s_grow(braid_idmap_t *self)
{
    braid_idmap_t old = *self;
    if (s_alloc(self, 2 * (old.mask + 1)) != 0) {
        *self = old;
        return -1;
    }
    for (size_t i = 0; i <= old.mask; i++) {
        if (!old.ids[i])
            continue;
        size_t cell = s_cell(self, old.ids[i]);
        self->ids[cell] = old.ids[i];
        self->values[cell] = old.values[i];
    }
    free(old.ids);
    free(old.values);
    return 0;
}

int
braid_idmap_put(braid_idmap_t *self, uint64_t id, uint64_t value)
{
    assert(id != 0);
    size_t cell = s_cell(self, id);
    if (!self->ids[cell]) {
        if (2 * (self->size + 1) > self->mask + 1) {
            if (s_grow(self) != 0)
                return -1;
            cell = s_cell(self, id);
        }
        self->ids[cell] = id;
        self->size++;
    }
    self->values[cell] = value;
    return 0;
}

bool
braid_idmap_get(const braid_idmap_t *self, uint64_t id, uint64_t *value_p)
{
    if (id == 0)
        return false;
    size_t cell = s_cell(self, id);
    if (!self->ids[cell])
        return false;
    *value_p = self->values[cell];
    return true;
}

bool
braid_idmap_del(braid_idmap_t *self, uint64_t id)
{
    if (id == 0)
        return false;
    size_t hole = s_cell(self, id);
    if (!self->ids[hole])
        return false;
    /*  Backward shift: walk the rest of the run; an id whose home is not
        cyclically between the hole and where it sits moves into the hole,
        which moves to where it was.                                        */
    for (size_t j = hole;;) {
        j = (j + 1) & self->mask;
        if (!self->ids[j])
            break;
        size_t home = s_hash(self->ids[j]) & self->mask;
        if (((j - home) & self->mask) < ((j - hole) & self->mask))
            continue;
        self->ids[hole] = self->ids[j];
        self->values[hole] = self->values[j];
        hole = j;
    }
    self->ids[hole] = 0;
    self->size--;
    return true;
}

size_t
braid_idmap_size(const braid_idmap_t *self)
{
    return self->size;
}

size_t
braid_idmap_cells(const braid_idmap_t *self)
{
    return self->mask + 1;
}

size_t
braid_idmap_home(const braid_idmap_t *self, uint64_t id)
{
    return s_hash(id) & self->mask;
}

int64_t
braid_idmap_distance(const braid_idmap_t *self, uint64_t id)
{
    if (id == 0)
        return -1;
    size_t cell = s_cell(self, id);
    if (!self->ids[cell])
        return -1;
    return (int64_t) ((cell - braid_idmap_home(self, id)) & self->mask);
}
