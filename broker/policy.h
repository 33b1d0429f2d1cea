/*  policy.h - a source's policy and its cluster-wide state.

    The broker alone sees the whole cluster, so it enforces each source's
    concurrency limit (the seed's semaphore) and rate limit (a token
    bucket), and decides retries: exponential backoff with full jitter.
*/

#ifndef BRAID_POLICY_H_INCLUDED
#define BRAID_POLICY_H_INCLUDED

#include "job.h"

#include <stdbool.h>
#include <stdint.h>

/*  Bounds of a source's rate (config key rate): one start every 1,000 s
    at the slowest (a smaller rate would make the wait for a token overflow
    the clock), a billion a second at the fastest.                         */
#define BRAID_POLICY_MIN_RATE 0.001
#define BRAID_POLICY_MAX_RATE 1e9

typedef struct {
    uint32_t max_concurrent;    /* running tasks, cluster-wide; 0 = any     */
    double rate;                /* task starts per second; 0 = no limit,
                                   else BRAID_POLICY_MIN_RATE..MAX_RATE     */
    uint32_t burst;             /* token bucket depth, >= 1                 */
    uint32_t retries;           /* retry limit for counted failures         */
    uint32_t backoff_msec;      /* first retry delay                        */
    uint32_t backoff_max_msec;  /* cap of the doubling                      */
    uint32_t timeout_msec;      /* per-task timeout when the job has none   */
    braid_on_retry_t on_retry;
    uint32_t orphan_msec;       /* no worker serves the source: its waiting
                                   tasks end failed after this long;
                                   BRAID_POLICY_ORPHAN_BROKER: the broker's
                                   orphan_msec (orphan.h)                   */
} braid_policy_t;

/*  A policy's orphan_msec that defers to the broker's.                     */
#define BRAID_POLICY_ORPHAN_BROKER UINT32_MAX

/*  A source's live state under its policy.                                 */
typedef struct {
    braid_policy_t policy;
    uint32_t running;           /* tasks running now                        */
    double tokens;
    int64_t refilled_msec;      /* when tokens were last topped up          */
} braid_limiter_t;

void
braid_policy_defaults(braid_policy_t *policy);
/*  Parse "resume", "restart", "fail"; -1 if none.                          */
int
braid_on_retry_parse(const char *text);
const char *
braid_on_retry_name(braid_on_retry_t on_retry);

/*  Start a limiter (a full bucket).                                        */
void
braid_limiter_init(braid_limiter_t *self, const braid_policy_t *policy, int64_t now_msec);
/*  May a task of this source start now?                                    */
bool
braid_limiter_allows(braid_limiter_t *self, int64_t now_msec);
/*  A task started (takes a token) / stopped.                               */
void
braid_limiter_start(braid_limiter_t *self);
void
braid_limiter_stop(braid_limiter_t *self);
/*  When the next token will be there (now if one is), for the poll wait.   */
int64_t
braid_limiter_next_msec(const braid_limiter_t *self, int64_t now_msec);

/*  Delay before retry number n (1-based): uniform in [0, min(max, base *
    2^(n-1))], from the caller's random source r in [0, 1).                  */
uint32_t
braid_policy_backoff(const braid_policy_t *policy, uint32_t n, double r);

#endif
