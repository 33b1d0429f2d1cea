/*  window.c - sliding windows, rates and histograms. See the header.      */

#include "window.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct braid_window_t {
    int64_t at[BRAID_WINDOW_SAMPLES];       /* when each was taken         */
    uint32_t value[BRAID_WINDOW_SAMPLES];
    uint32_t next;                          /* where the next one goes     */
    uint32_t len;
};

const uint64_t braid_hist_bounds_msec[BRAID_HIST_BUCKETS - 1] = BRAID_HIST_BOUNDS_MSEC;

braid_window_t *
braid_window_new(void)
{
    return calloc(1, sizeof(braid_window_t));
}

void
braid_window_destroy(braid_window_t **self_p)
{
    assert(self_p);
    free(*self_p);
    *self_p = NULL;
}

void
braid_window_add(braid_window_t *self, int64_t now_msec, uint64_t value)
{
    self->at[self->next] = now_msec;
    self->value[self->next] = value > UINT32_MAX ? UINT32_MAX : (uint32_t) value;
    self->next = (self->next + 1) % BRAID_WINDOW_SAMPLES;
    if (self->len < BRAID_WINDOW_SAMPLES)
        self->len++;
}

/*  qsort's order of uint32_t.                                              */
static int
s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y ? -1 : x > y;
}

uint32_t
braid_window_percentiles(const braid_window_t *self, int64_t now_msec, const double *ps,
                         uint64_t *out, size_t n)
{
    uint32_t sorted[BRAID_WINDOW_SAMPLES];
    uint32_t m = 0;
    for (uint32_t i = 0; i < self->len; i++)
        if (now_msec - self->at[i] <= BRAID_WINDOW_MSEC)
            sorted[m++] = self->value[i];
    qsort(sorted, m, sizeof sorted[0], s_cmp_u32);
    for (size_t k = 0; k < n; k++) {
        if (m == 0) {
            out[k] = 0;
            continue;
        }
        double p = ps[k] < 0 ? 0 : ps[k] > 100 ? 100 : ps[k];
        /*  Nearest rank: ceil(p/100 * m), at least the first.              */
        uint32_t rank = (uint32_t) ceil(p / 100.0 * m);
        out[k] = sorted[rank ? rank - 1 : 0];
    }
    return m;
}

/*  ---------------------------------------------------------------------
    Rate                                                                    */

/*  The second now_msec falls in (the clock starts at 0 or later).          */
static int64_t
s_second(int64_t now_msec)
{
    return now_msec / 1000;
}

void
braid_rate_init(braid_rate_t *self)
{
    memset(self, 0, sizeof *self);
    for (int i = 0; i < BRAID_RATE_SECONDS; i++)
        self->second[i] = -1;
    self->first_second = -1;
}

void
braid_rate_add(braid_rate_t *self, int64_t now_msec, uint64_t n)
{
    int64_t sec = s_second(now_msec);
    size_t b = (size_t) (sec % BRAID_RATE_SECONDS);
    if (self->second[b] != sec) {
        self->second[b] = sec;
        self->count[b] = 0;
    }
    self->count[b] += n;
    if (self->first_second < 0)
        self->first_second = sec;
}

double
braid_rate_per_second(const braid_rate_t *self, int64_t now_msec)
{
    if (self->first_second < 0)
        return 0;
    int64_t sec = s_second(now_msec);
    uint64_t events = 0;
    for (int i = 0; i < BRAID_RATE_SECONDS; i++)
        if (self->second[i] > sec - BRAID_RATE_SECONDS && self->second[i] <= sec)
            events += self->count[i];
    int64_t span = sec - self->first_second + 1;
    if (span > BRAID_RATE_SECONDS)
        span = BRAID_RATE_SECONDS;
    return span > 0 ? (double) events / (double) span : 0;
}

/*  ---------------------------------------------------------------------
    Histogram                                                               */

void
braid_hist_add(braid_hist_t *self, uint64_t value)
{
    size_t b = 0;
    while (b < BRAID_HIST_BUCKETS - 1 && value > braid_hist_bounds_msec[b])
        b++;
    self->bucket[b]++;
    self->count++;
    self->sum_msec += value;
}

uint64_t
braid_hist_cumulative(const braid_hist_t *self, size_t b)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= b && i < BRAID_HIST_BUCKETS; i++)
        n += self->bucket[i];
    return n;
}
