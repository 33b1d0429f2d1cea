/*  orphan.c - jobs whose source has lost every worker. See orphan.h.      */

#include "orphan.h"

#include "braid_log.h"

#include <stdio.h>

uint32_t
braid_orphan_msec(braid_broker_t *self, uint16_t gid)
{
    uint32_t msec = braid_sched_policy(self->sched, gid)->orphan_msec;
    return msec == BRAID_POLICY_ORPHAN_BROKER ? self->cfg.orphan_msec : msec;
}

uint64_t
braid_orphan_check(braid_broker_t *self, braid_sched_job_t *sj, int64_t *since)
{
    uint64_t ended = 0;
    uint32_t nsources = braid_job_nsources(sj->job);
    for (uint32_t s = 0; s < nsources; s++) {
        uint16_t gid = sj->gid[s];
        if (braid_sched_source_served(self->sched, gid)) {
            since[s] = 0;
            continue;
        }
        if (!since[s]) {
            since[s] = self->now;
            braid_info("source without worker job=%s source=%s orphan_msec=%u",
                       braid_frontend_job_key(sj), braid_sched_source_name(self->sched, gid),
                       braid_orphan_msec(self, gid));
        }
        if (self->now - since[s] < (int64_t) braid_orphan_msec(self, gid))
            continue;
        char text[BRAID_MAX_TEXT + 1];
        snprintf(text, sizeof text, "no worker serves source %s",
                 braid_sched_source_name(self->sched, gid));
        uint64_t n = braid_job_orphan(sj->job, s, text);
        if (n)
            braid_warning("orphaned tasks failed job=%s source=%s tasks=%llu",
                          braid_frontend_job_key(sj), braid_sched_source_name(self->sched, gid),
                          (unsigned long long) n);
        ended += n;
    }
    return ended;
}
