/*  window.h - what the broker measures over time, three ways, each bounded:

    - braid_window_t: the latest samples of a latency (at most
      BRAID_WINDOW_SAMPLES of them, none older than BRAID_WINDOW_MSEC), for
      percentiles (p50, p90, p99 in `braid stats`). Old samples fall out by
      count and by age, so a figure describes the last minute, not the
      broker's whole life, and its memory is fixed.
    - braid_rate_t: events per second over the last minute, in one-second
      buckets.
    - braid_hist_t: a cumulative histogram since the start, with fixed
      bucket bounds (BRAID_HIST_BOUNDS_MSEC), as Prometheus wants one: its
      counts only grow, and the server computes rates and quantiles.

    Pure: the caller passes the monotonic clock (msec) in; no I/O, no
    allocation after _new. Tested alone (tests/unit/test_window.c).
*/

#ifndef BRAID_WINDOW_H_INCLUDED
#define BRAID_WINDOW_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

/*  A window holds at most this many samples, each at most this old.        */
#define BRAID_WINDOW_SAMPLES 512
#define BRAID_WINDOW_MSEC 60000

typedef struct braid_window_t braid_window_t;

/*  An empty window; NULL on allocation failure.                            */
braid_window_t *
braid_window_new(void);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_window_destroy(braid_window_t **self_p);

/*  Add a sample taken at now_msec (clocks only move forward): value in
    msec, capped at UINT32_MAX. The oldest sample goes when the window is
    full.                                                                   */
void
braid_window_add(braid_window_t *self, int64_t now_msec, uint64_t value);

/*  The percentiles ps[0..n) (each 0..100, nearest rank: the smallest
    sample with at least p% of the samples at or below it) of the samples
    taken in the BRAID_WINDOW_MSEC up to now_msec, into out[0..n) (0 when
    there is none). Returns how many samples that was.                      */
uint32_t
braid_window_percentiles(const braid_window_t *self, int64_t now_msec, const double *ps,
                         uint64_t *out, size_t n);

/*  ---------------------------------------------------------------------
    Rate                                                                    */

#define BRAID_RATE_SECONDS 60

typedef struct {
    int64_t second[BRAID_RATE_SECONDS];     /* the second a bucket counts  */
    uint64_t count[BRAID_RATE_SECONDS];
    int64_t first_second;                   /* of the first event, or -1   */
} braid_rate_t;

/*  An empty rate.                                                          */
void
braid_rate_init(braid_rate_t *self);

/*  Count n events at now_msec.                                             */
void
braid_rate_add(braid_rate_t *self, int64_t now_msec, uint64_t n);

/*  Events per second over the last BRAID_RATE_SECONDS whole seconds up to
    now_msec (or since the first event, when that is more recent); 0 before
    any event.                                                              */
double
braid_rate_per_second(const braid_rate_t *self, int64_t now_msec);

/*  ---------------------------------------------------------------------
    Histogram                                                               */

/*  Upper bounds of the buckets in msec (Prometheus `le`, in seconds:
    0.001 .. 300); a last bucket, +Inf, takes the rest.                     */
#define BRAID_HIST_BOUNDS_MSEC                                                                     \
    {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000}
#define BRAID_HIST_BUCKETS 16   /* the bounds, and +Inf                    */

typedef struct {
    uint64_t bucket[BRAID_HIST_BUCKETS];    /* samples in each, not summed */
    uint64_t count;
    uint64_t sum_msec;
} braid_hist_t;

/*  The bucket bounds (BRAID_HIST_BUCKETS - 1 of them), msec.               */
extern const uint64_t braid_hist_bounds_msec[BRAID_HIST_BUCKETS - 1];

/*  Add a sample of value msec.                                             */
void
braid_hist_add(braid_hist_t *self, uint64_t value);

/*  Samples at or below bucket b's bound (b = BRAID_HIST_BUCKETS - 1: all):
    Prometheus's cumulative `le` count.                                     */
uint64_t
braid_hist_cumulative(const braid_hist_t *self, size_t b);

#endif
