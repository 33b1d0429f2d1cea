/*  orphan.h - jobs whose source has lost every worker that served it.

    Such a job's tasks of that source cannot run. The broker gives the
    source time to come back (a worker restarting, a link flapping): the
    source's orphan_msec (config source/NAME/orphan_msec), else the
    broker's (broker/orphan_msec, 30 s by default). Once the source has
    been without a worker that long for the job, the job's waiting tasks
    of it end failed with "no worker serves source NAME" (job_orphan.c);
    so do the tasks of queries that arrive later while the source still
    has no worker, at the next tick. Checked once a heartbeat interval
    (the tick), so the wait is orphan_msec rounded up to the next tick.
*/

#ifndef BRAID_ORPHAN_H_INCLUDED
#define BRAID_ORPHAN_H_INCLUDED

#include "broker_impl.h"

/*  Check job sj's sources at self->now; since[s] is when source s was
    first seen without a worker for the job (0: it has one), kept by the
    caller with the job. Returns how many tasks ended (the caller pumps the
    job and checks fail-fast when some did).                               */
uint64_t
braid_orphan_check(braid_broker_t *self, braid_sched_job_t *sj, int64_t *since);

/*  The orphan time of source gid: its policy's, else the broker's.        */
uint32_t
braid_orphan_msec(braid_broker_t *self, uint16_t gid);

#endif
