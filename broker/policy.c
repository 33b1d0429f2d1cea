/*  policy.c - a source's policy and its cluster-wide state.                */

#include "policy.h"

#include <math.h>
#include <string.h>

void
braid_policy_defaults(braid_policy_t *policy)
{
    memset(policy, 0, sizeof *policy);
    policy->burst = 1;
    policy->retries = 2;
    policy->backoff_msec = 100;
    policy->backoff_max_msec = 10000;
    policy->on_retry = BRAID_ON_RETRY_RESUME;
    policy->orphan_msec = BRAID_POLICY_ORPHAN_BROKER;
}

static const char *s_on_retry_names[] = {"resume", "restart", "fail"};

int
braid_on_retry_parse(const char *text)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(text, s_on_retry_names[i]) == 0)
            return i;
    return -1;
}

const char *
braid_on_retry_name(braid_on_retry_t on_retry)
{
    return (unsigned) on_retry < 3 ? s_on_retry_names[on_retry] : "?";
}

void
braid_limiter_init(braid_limiter_t *self, const braid_policy_t *policy, int64_t now_msec)
{
    self->policy = *policy;
    self->running = 0;
    if (self->policy.burst < 1)
        self->policy.burst = 1;
    self->tokens = self->policy.burst;
    self->refilled_msec = now_msec;
}

static void
s_refill(braid_limiter_t *self, int64_t now_msec)
{
    if (self->policy.rate <= 0 || now_msec <= self->refilled_msec)
        return;
    self->tokens += self->policy.rate * (double) (now_msec - self->refilled_msec) / 1000.0;
    if (self->tokens > self->policy.burst)
        self->tokens = self->policy.burst;
    self->refilled_msec = now_msec;
}

bool
braid_limiter_allows(braid_limiter_t *self, int64_t now_msec)
{
    if (self->policy.max_concurrent && self->running >= self->policy.max_concurrent)
        return false;
    if (self->policy.rate <= 0)
        return true;
    s_refill(self, now_msec);
    return self->tokens >= 1.0;
}

void
braid_limiter_start(braid_limiter_t *self)
{
    self->running++;
    if (self->policy.rate > 0)
        self->tokens -= 1.0;
}

void
braid_limiter_stop(braid_limiter_t *self)
{
    if (self->running > 0)
        self->running--;
}

int64_t
braid_limiter_next_msec(const braid_limiter_t *self, int64_t now_msec)
{
    if (self->policy.rate <= 0 || self->tokens >= 1.0)
        return now_msec;
    double wait = (1.0 - self->tokens) * 1000.0 / self->policy.rate;
    return self->refilled_msec + (int64_t) ceil(wait);
}

uint32_t
braid_policy_backoff(const braid_policy_t *policy, uint32_t n, double r)
{
    double cap = policy->backoff_msec;
    for (uint32_t i = 1; i < n && cap < policy->backoff_max_msec; i++)
        cap *= 2;
    if (cap > policy->backoff_max_msec)
        cap = policy->backoff_max_msec;
    return (uint32_t) (r * cap);
}
