/*  plan.c - braid_plan_t: what `braid submit` has to run (see plan.h).

    The request keeps the queries' text; the plan keeps each query's number
    and a mask of the sources still to ask (bit i: source i). Cutting
    groups the queries by mask: one job per distinct mask, in the order of
    their first query. A cut with one job of every query and source hands
    out the request itself, so the common run copies nothing.
*/

#include "plan.h"
#include "braid_msg.h"      /* BRAID_MAX_SOURCES                            */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(BRAID_MAX_SOURCES <= 32, "a query's sources fit a 32-bit mask");

/*  One job: a run of the cut order, and the sources it asks.               */
typedef struct {
    size_t first;               /* in order[]                               */
    size_t count;
    uint32_t mask;
} s_job_t;

struct _braid_plan_t {
    braid_request_t *request;   /* options, sources, queries; owned until a
                                   job of everything takes it               */
    size_t nsources;
    uint32_t all;               /* the mask of every source                 */
    uint32_t *numbers;          /* query i's number, increasing             */
    uint32_t *masks;            /* query i's sources still to ask           */
    size_t nqueries;
    size_t cap;                 /* entries of numbers and masks             */

    uint32_t *order;            /* the queries to run, job by job; NULL:
                                   all of them, in order                    */
    uint32_t *order_numbers;    /* their numbers (NULL: numbers)            */
    s_job_t *jobs;
    size_t njobs;
    uint64_t tasks;
};

braid_plan_t *
braid_plan_new(braid_request_t **request_p)
{
    braid_plan_t *self = calloc(1, sizeof *self);
    if (!self) {
        braid_request_destroy(request_p);
        return NULL;
    }
    self->request = *request_p;
    *request_p = NULL;
    self->nsources = braid_request_source_count(self->request);
    self->all = self->nsources >= 32 ? UINT32_MAX : (1u << self->nsources) - 1;
    return self;
}

/*  Forget the cut (a mark or an add makes it stale).                       */
static void
s_uncut(braid_plan_t *self)
{
    free(self->order);
    free(self->order_numbers);
    free(self->jobs);
    self->order = self->order_numbers = NULL;
    self->jobs = NULL;
    self->njobs = 0;
    self->tasks = 0;
}

void
braid_plan_destroy(braid_plan_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_plan_t *self = *self_p;
    s_uncut(self);
    braid_request_destroy(&self->request);
    free(self->numbers);
    free(self->masks);
    free(self);
    *self_p = NULL;
}

braid_add_t
braid_plan_add(braid_plan_t *self, uint32_t number, const void *data, size_t size)
{
    if (!self->request || (self->nqueries && number <= self->numbers[self->nqueries - 1])) {
        errno = EINVAL;
        return BRAID_ADD_INVALID;
    }
    if (self->nqueries == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        uint32_t *numbers = realloc(self->numbers, cap * sizeof *numbers);
        if (numbers)
            self->numbers = numbers;
        uint32_t *masks = realloc(self->masks, cap * sizeof *masks);
        if (masks)
            self->masks = masks;
        if (!numbers || !masks) {
            errno = ENOMEM;
            return BRAID_ADD_NO_MEMORY;
        }
        self->cap = cap;
    }
    braid_add_t rc = braid_request_add_query(self->request, data, size);
    if (rc != BRAID_ADD_OK)
        return rc;
    s_uncut(self);
    self->numbers[self->nqueries] = number;
    self->masks[self->nqueries++] = self->all;
    return BRAID_ADD_OK;
}

const char *
braid_plan_source(const braid_plan_t *self, size_t index)
{
    return self->request ? braid_request_source(self->request, index) : NULL;
}

size_t
braid_plan_query_count(const braid_plan_t *self)
{
    return self->nqueries;
}

/*  The index of the query numbered number, or -1.                          */
static ptrdiff_t
s_find(const braid_plan_t *self, uint32_t number)
{
    size_t lo = 0, hi = self->nqueries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->numbers[mid] < number)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < self->nqueries && self->numbers[lo] == number ? (ptrdiff_t) lo : -1;
}

braid_plan_mark_t
braid_plan_mark(braid_plan_t *self, uint32_t number, const char *source, const void *text,
                size_t size, bool skip)
{
    if (!self->request)
        return BRAID_PLAN_UNKNOWN;
    ptrdiff_t q = s_find(self, number);
    size_t s = 0;
    while (s < self->nsources && strcmp(braid_request_source(self->request, s), source) != 0)
        s++;
    if (q < 0 || s == self->nsources)
        return BRAID_PLAN_UNKNOWN;
    size_t len = 0;
    const void *query = braid_request_query(self->request, (size_t) q, &len);
    if (len != size || memcmp(query, text, size) != 0)
        return BRAID_PLAN_MISMATCH;
    s_uncut(self);
    if (skip)
        self->masks[q] &= ~(1u << s);
    else
        self->masks[q] |= 1u << s;
    return BRAID_PLAN_MARKED;
}

/*  Number of bits set in mask.                                             */
static uint32_t
s_popcount(uint32_t mask)
{
    uint32_t n = 0;
    for (; mask; mask &= mask - 1)
        n++;
    return n;
}

/*  qsort: (mask << 32 | index) ascending.                                  */
static int
s_cmp_key(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/*  qsort_r: jobs by their first query.                                     */
static int
s_cmp_job(const void *a, const void *b, void *order)
{
    uint32_t x = ((const uint32_t *) order)[((const s_job_t *) a)->first];
    uint32_t y = ((const uint32_t *) order)[((const s_job_t *) b)->first];
    return x < y ? -1 : x > y;
}

/*  Cut the n queries left (not all with one mask) into jobs by mask:
    order, order_numbers and jobs set. 0, or -1 (ENOMEM).                  */
static int
s_group(braid_plan_t *self, size_t n)
{
    uint64_t *keys = malloc(n * sizeof *keys);
    self->order = malloc(n * sizeof *self->order);
    self->order_numbers = malloc(n * sizeof *self->order_numbers);
    if (!keys || !self->order || !self->order_numbers) {
        free(keys);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < self->nqueries; i++)
        if (self->masks[i])
            keys[k++] = (uint64_t) self->masks[i] << 32 | i;
    qsort(keys, n, sizeof *keys, s_cmp_key);
    for (size_t i = 0; i < n; i++) {
        uint32_t mask = (uint32_t) (keys[i] >> 32);
        self->order[i] = (uint32_t) keys[i];
        self->order_numbers[i] = self->numbers[self->order[i]];
        if (self->njobs == 0 || self->jobs[self->njobs - 1].mask != mask) {
            s_job_t *jobs = realloc(self->jobs, (self->njobs + 1) * sizeof *jobs);
            if (!jobs) {
                free(keys);
                return -1;
            }
            self->jobs = jobs;
            self->jobs[self->njobs++] = (s_job_t) {.first = i, .mask = mask};
        }
        self->jobs[self->njobs - 1].count++;
    }
    free(keys);
    qsort_r(self->jobs, self->njobs, sizeof *self->jobs, s_cmp_job, self->order);
    return 0;
}

int
braid_plan_cut(braid_plan_t *self)
{
    s_uncut(self);
    size_t n = 0, first = 0;
    bool one_mask = true;
    for (size_t i = 0; i < self->nqueries; i++) {
        if (!self->masks[i])
            continue;
        if (n++ == 0)
            first = i;
        one_mask = one_mask && self->masks[i] == self->masks[first];
        self->tasks += s_popcount(self->masks[i]);
    }
    if (n == 0)
        return 0;
    if (one_mask && n == self->nqueries && self->masks[0] == self->all) {
        /*  Everything: the request itself, its queries in order.          */
        if (!(self->jobs = malloc(sizeof *self->jobs)))
            return (errno = ENOMEM, -1);
        self->jobs[0] = (s_job_t) {.first = 0, .count = n, .mask = self->all};
        self->njobs = 1;
    } else if (s_group(self, n) != 0) {
        s_uncut(self);
        return (errno = ENOMEM, -1);
    }
    return (int) self->njobs;
}

uint64_t
braid_plan_task_count(const braid_plan_t *self)
{
    return self->tasks;
}

braid_request_t *
braid_plan_request(braid_plan_t *self, size_t job, const uint32_t **numbers_p)
{
    if (job >= self->njobs || !self->request)
        return NULL;
    if (!self->order) {
        braid_request_t *request = self->request;
        self->request = NULL;
        *numbers_p = self->numbers;
        return request;
    }
    const s_job_t *j = &self->jobs[job];
    braid_request_t *request = braid_request_new_like(self->request);
    if (!request)
        return NULL;
    for (size_t s = 0; s < self->nsources; s++)
        if (j->mask & (1u << s) &&
            braid_request_add_source(request, braid_request_source(self->request, s)) !=
                BRAID_ADD_OK)
            goto fail;
    for (size_t i = j->first; i < j->first + j->count; i++) {
        size_t size = 0;
        const void *query = braid_request_query(self->request, self->order[i], &size);
        if (braid_request_add_query(request, query, size) != BRAID_ADD_OK)
            goto fail;
    }
    *numbers_p = self->order_numbers + j->first;
    return request;
fail:
    braid_request_destroy(&request);
    return NULL;
}
