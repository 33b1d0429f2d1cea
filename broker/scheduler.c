/*  scheduler.c - scheduling: dispatch, retries, preemption for heads of line. */

#include "scheduler.h"

#include "idmap.h"
#include "timers.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*  A source: its name, its limiter (which holds its policy), and what the
    broker measures of it.                                                  */
typedef struct {
    char *name;                 /* NULL: a free id                         */
    uint32_t refs;              /* workers serving it, jobs naming it, and
                                   references handed out by source_add    */
    braid_limiter_t limiter;
    braid_source_figures_t *figures;
} s_source_t;

/*  A worker as dispatch sees it; its tasks are in the slots.               */
typedef struct {
    void *user;                 /* the caller's record; NULL: free number  */
    uint32_t slots;             /* slots it announced                      */
    uint32_t nsrc;
    uint16_t src[BRAID_MAX_SOURCES];    /* source ids it serves            */
    uint8_t flags[BRAID_MAX_SOURCES];   /* and HELLO's K for each          */
} s_worker_t;

struct braid_sched_t {
    braid_slots_t *slots;

    zhashx_t *source_ids;       /* name -> source id + 1                   */
    s_source_t sources[BRAID_SCHED_MAX_SOURCES];
    uint32_t nsources;          /* ids in use are below it                 */
    uint32_t nfree;             /* free ids below nsources                 */

    s_worker_t *workers;        /* by worker number                        */
    uint32_t nworkers;

    braid_sched_job_t *jobs_head;   /* oldest first                        */
    braid_sched_job_t *jobs_tail;
    braid_sched_job_t *rr;      /* round robin: the job to serve first     */
    size_t njobs;
    braid_idmap_t *jobs_by_serial;  /* serial -> braid_sched_job_t *       */
    braid_sched_job_t *last_job;    /* the job last looked up (a cache)    */

    braid_timers_t *backoffs;   /* (serial, task index) ready again at due */
    unsigned int seed;          /* jitter                                  */
    uint32_t preempting;        /* slots cancelled for a head, not yet back */
    bool due;                   /* dispatch has something to look at       */

    uint64_t tasks_dispatched;
    uint64_t tasks_done;
    uint64_t retries;
};

braid_sched_t *
braid_sched_new(unsigned int seed)
{
    braid_sched_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->seed = seed;
    self->slots = braid_slots_new();
    self->source_ids = zhashx_new();
    self->jobs_by_serial = braid_idmap_new(0);
    self->backoffs = braid_timers_new();
    if (!self->slots || !self->source_ids || !self->jobs_by_serial || !self->backoffs)
        braid_sched_destroy(&self);
    return self;
}

void
braid_sched_destroy(braid_sched_t **self_p)
{
    assert(self_p);
    braid_sched_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t g = 0; g < self->nsources; g++) {
        free(self->sources[g].name);
        braid_source_figures_destroy(&self->sources[g].figures);
    }
    free(self->workers);
    braid_slots_destroy(&self->slots);
    zhashx_destroy(&self->source_ids);
    braid_idmap_destroy(&self->jobs_by_serial);
    braid_timers_destroy(&self->backoffs);
    free(self);
    *self_p = NULL;
}

braid_slots_t *
braid_sched_slots(braid_sched_t *self)
{
    return self->slots;
}

/*  ---------------------------------------------------------------------
    Sources                                                                 */

int
braid_sched_source_id(braid_sched_t *self, const char *name)
{
    void *v = zhashx_lookup(self->source_ids, name);
    return v ? (int) ((uintptr_t) v - 1) : -1;
}

int
braid_sched_source_add(braid_sched_t *self, const char *name, const braid_policy_t *policy,
                       int64_t now_msec)
{
    int id = braid_sched_source_id(self, name);
    if (id >= 0) {
        self->sources[id].refs++;
        return id;
    }
    /*  A free id first (one that no worker and no job holds any more).    */
    uint32_t g = self->nsources;
    if (self->nfree)
        for (g = 0; g < self->nsources && self->sources[g].name; g++)
            ;
    if (g >= BRAID_SCHED_MAX_SOURCES)
        return -1;
    s_source_t *src = &self->sources[g];
    src->name = strdup(name);
    src->figures = braid_source_figures_new();
    if (!src->name || !src->figures ||
        zhashx_insert(self->source_ids, name, (void *) (uintptr_t) (g + 1)) != 0) {
        free(src->name);
        src->name = NULL;
        braid_source_figures_destroy(&src->figures);
        return -1;
    }
    braid_limiter_init(&src->limiter, policy, now_msec);
    src->refs = 1;
    if (g == self->nsources)
        self->nsources++;
    else
        self->nfree--;
    return (int) g;
}

void
braid_sched_source_ref(braid_sched_t *self, uint16_t gid)
{
    assert(gid < self->nsources && self->sources[gid].name);
    self->sources[gid].refs++;
}

void
braid_sched_source_unref(braid_sched_t *self, uint16_t gid)
{
    assert(gid < self->nsources && self->sources[gid].refs > 0);
    s_source_t *src = &self->sources[gid];
    if (--src->refs > 0)
        return;
    /*  Nobody serves it and no job names it: its id is free again.         */
    zhashx_delete(self->source_ids, src->name);
    free(src->name);
    braid_source_figures_destroy(&src->figures);
    memset(src, 0, sizeof *src);
    if (gid + 1u == self->nsources) {
        self->nsources--;
        while (self->nsources > 0 && !self->sources[self->nsources - 1].name) {
            self->nsources--;
            self->nfree--;
        }
    } else
        self->nfree++;
}

uint32_t
braid_sched_source_count(braid_sched_t *self)
{
    return self->nsources - self->nfree;
}

void
braid_sched_source_set_policy(braid_sched_t *self, uint16_t gid, const braid_policy_t *policy,
                              int64_t now_msec)
{
    assert(gid < self->nsources);
    if (!self->sources[gid].name)
        return;     /* a free id */
    braid_limiter_t *lim = &self->sources[gid].limiter;
    uint32_t running = lim->running;
    braid_limiter_init(lim, policy, now_msec);
    lim->running = running;
    self->due = true;
}

uint32_t
braid_sched_nsources(braid_sched_t *self)
{
    return self->nsources;
}

const char *
braid_sched_source_name(braid_sched_t *self, uint16_t gid)
{
    return gid < self->nsources ? self->sources[gid].name : NULL;
}

braid_source_figures_t *
braid_sched_source_figures(braid_sched_t *self, uint16_t gid)
{
    return gid < self->nsources ? self->sources[gid].figures : NULL;
}

const braid_policy_t *
braid_sched_policy(braid_sched_t *self, uint16_t gid)
{
    assert(gid < self->nsources);
    return &self->sources[gid].limiter.policy;
}

/*  True if worker w serves source gid.                                     */
static bool
s_serves(const s_worker_t *w, uint16_t gid)
{
    for (uint32_t i = 0; i < w->nsrc; i++)
        if (w->src[i] == gid)
            return true;
    return false;
}

bool
braid_sched_source_served(braid_sched_t *self, uint16_t gid)
{
    for (uint32_t i = 0; i < self->nworkers; i++)
        if (self->workers[i].user && s_serves(&self->workers[i], gid))
            return true;
    return false;
}

braid_sched_keys_t
braid_sched_source_keys(braid_sched_t *self, uint16_t gid)
{
    bool any = false, asc = false, desc = false;
    for (uint32_t i = 0; i < self->nworkers; i++) {
        s_worker_t *w = &self->workers[i];
        for (uint32_t k = 0; w->user && k < w->nsrc; k++) {
            if (w->src[k] != gid)
                continue;
            if (!(w->flags[k] & BRAID_SOURCE_KEYED))
                return BRAID_SCHED_UNKEYED;
            any = true;
            if (w->flags[k] & BRAID_SOURCE_SCORE_ASC)
                asc = true;
            else
                desc = true;
        }
    }
    if (!any)
        return BRAID_SCHED_UNKEYED;
    return asc && desc ? BRAID_SCHED_KEYED_MIXED : asc ? BRAID_SCHED_KEYED_ASC
                                                       : BRAID_SCHED_KEYED_DESC;
}

/*  ---------------------------------------------------------------------
    Workers                                                                 */

const uint16_t *
braid_sched_worker_sources(braid_sched_t *self, int32_t worker, uint32_t *n)
{
    if (worker < 0 || (uint32_t) worker >= self->nworkers || !self->workers[worker].user) {
        *n = 0;
        return NULL;
    }
    *n = self->workers[worker].nsrc;
    return self->workers[worker].src;
}

int32_t
braid_sched_worker_add(braid_sched_t *self, uint32_t slots, const uint16_t *gids, uint32_t ngids,
                       void *user)
{
    assert(user && ngids <= BRAID_MAX_SOURCES);
    uint32_t number = 0;
    while (number < self->nworkers && self->workers[number].user)
        number++;
    if (number == self->nworkers) {
        s_worker_t *grown = realloc(self->workers, (self->nworkers + 1) * sizeof *grown);
        if (!grown)
            return -1;
        self->workers = grown;
        memset(&self->workers[self->nworkers++], 0, sizeof *grown);
    }
    if (braid_slots_worker_add(self->slots, (int32_t) number, braid_worker_capacity(slots)) != 0)
        return -1;
    s_worker_t *w = &self->workers[number];
    w->user = user;
    w->slots = slots;
    w->nsrc = ngids;
    memcpy(w->src, gids, ngids * sizeof *gids);     /* their references */
    self->due = true;
    return (int32_t) number;
}

void
braid_sched_worker_set_flags(braid_sched_t *self, int32_t worker, const uint8_t *flags)
{
    if (!braid_sched_worker(self, worker))
        return;
    s_worker_t *w = &self->workers[worker];
    memcpy(w->flags, flags, w->nsrc * sizeof *flags);
}

void
braid_sched_worker_remove(braid_sched_t *self, int32_t worker)
{
    if (!braid_sched_worker(self, worker))
        return;
    braid_slots_worker_remove(self->slots, worker);
    s_worker_t *w = &self->workers[worker];
    for (uint32_t i = 0; i < w->nsrc; i++)
        braid_sched_source_unref(self, w->src[i]);
    memset(w, 0, sizeof *w);
    self->due = true;
}

void *
braid_sched_worker(braid_sched_t *self, int32_t worker)
{
    if (worker < 0 || (uint32_t) worker >= self->nworkers)
        return NULL;
    return self->workers[worker].user;
}

uint32_t
braid_sched_nworkers(braid_sched_t *self)
{
    return self->nworkers;
}

/*  The least-loaded worker serving gid with room, or -1. The source's own
    limits (concurrency, rate) are checked too.                             */
static int32_t
s_pick_worker(braid_sched_t *self, uint16_t gid, int64_t now_msec)
{
    if (!braid_limiter_allows(&self->sources[gid].limiter, now_msec))
        return -1;
    int32_t best = -1;
    uint64_t best_load = 0;
    for (uint32_t i = 0; i < self->nworkers; i++) {
        s_worker_t *w = &self->workers[i];
        uint32_t running = braid_slots_running(self->slots, (int32_t) i);
        if (!w->user || running >= braid_slots_capacity(self->slots, (int32_t) i) ||
            !s_serves(w, gid))
            continue;
        /*  Load as a fraction of slots, compared without division.         */
        uint64_t load = ((uint64_t) running << 32) / w->slots;
        if (best < 0 || load < best_load) {
            best = (int32_t) i;
            best_load = load;
        }
    }
    return best;
}

/*  ---------------------------------------------------------------------
    Jobs                                                                    */

static uint32_t
s_serial(braid_sched_job_t *sj)
{
    return braid_job_serial(sj->job);
}

int
braid_sched_job_add(braid_sched_t *self, braid_sched_job_t *sj)
{
    assert(sj->job && !braid_sched_job_of(self, braid_task_id(s_serial(sj), 0)));
    if (braid_idmap_put(self->jobs_by_serial, s_serial(sj), (uintptr_t) sj) != 0)
        return -1;
    /*  Its sources stay (and keep their ids) while it is open.             */
    for (uint32_t s = 0; s < braid_job_nsources(sj->job); s++)
        braid_sched_source_ref(self, sj->gid[s]);
    sj->next = NULL;
    sj->prev = self->jobs_tail;
    if (self->jobs_tail)
        self->jobs_tail->next = sj;
    else
        self->jobs_head = sj;
    self->jobs_tail = sj;
    self->njobs++;
    self->due = true;
    return 0;
}

void
braid_sched_job_remove(braid_sched_t *self, braid_sched_job_t *sj)
{
    braid_idmap_del(self->jobs_by_serial, s_serial(sj));
    if (self->rr == sj)
        self->rr = sj->next;
    if (self->last_job == sj)
        self->last_job = NULL;
    if (sj->prev)
        sj->prev->next = sj->next;
    else
        self->jobs_head = sj->next;
    if (sj->next)
        sj->next->prev = sj->prev;
    else
        self->jobs_tail = sj->prev;
    sj->prev = sj->next = NULL;
    self->njobs--;
    for (uint32_t s = 0; s < braid_job_nsources(sj->job); s++)
        braid_sched_source_unref(self, sj->gid[s]);
}

braid_sched_job_t *
braid_sched_jobs(braid_sched_t *self)
{
    return self->jobs_head;
}

size_t
braid_sched_njobs(braid_sched_t *self)
{
    return self->njobs;
}

braid_sched_job_t *
braid_sched_job_of(braid_sched_t *self, uint64_t task_id)
{
    uint32_t serial = braid_task_serial(task_id);
    if (!serial)
        return NULL;
    /*  Results come in runs of one job: skip the lookup for a repeat.     */
    if (self->last_job && s_serial(self->last_job) == serial)
        return self->last_job;
    uint64_t v;
    if (!braid_idmap_get(self->jobs_by_serial, serial, &v))
        return NULL;
    self->last_job = (braid_sched_job_t *) (uintptr_t) v;
    return self->last_job;
}

/*  The policy of task idx's source.                                        */
static const braid_policy_t *
s_task_policy(braid_sched_t *self, braid_sched_job_t *sj, uint32_t idx)
{
    return braid_sched_policy(self, sj->gid[idx % braid_job_nsources(sj->job)]);
}

/*  ---------------------------------------------------------------------
    Running tasks                                                           */

void
braid_sched_wake(braid_sched_t *self)
{
    self->due = true;
}

bool
braid_sched_due(braid_sched_t *self)
{
    return self->due;
}

/*  Start the next task of sj on a worker with room, if it has one that
    can go now; true if it did (the TASK may still fail to go out).        */
static bool
s_dispatch_one(braid_sched_t *self, braid_sched_job_t *sj, int64_t now_msec,
               const braid_sched_io_t *io, void *arg)
{
    braid_job_t *job = sj->job;
    uint32_t wants = braid_job_wants(job);
    if (!wants)
        return false;
    uint32_t ns = braid_job_nsources(job);
    uint32_t avail = 0;
    for (uint32_t s = 0; s < ns; s++)
        if ((wants & (1u << s)) && s_pick_worker(self, sj->gid[s], now_msec) >= 0)
            avail |= 1u << s;
    int64_t next = braid_job_next_task(job, avail);
    if (next < 0)
        return false;
    uint32_t idx = (uint32_t) next;
    uint16_t gid = sj->gid[idx % ns];
    int32_t worker = s_pick_worker(self, gid, now_msec);
    assert(worker >= 0);
    braid_sched_task_t task = {.task_id = braid_task_id(braid_job_serial(job), idx)};
    braid_slot_t *slot = braid_slots_take(self->slots, worker, task.task_id);
    if (!slot)
        return false;   /* out of memory: nothing started */
    task.attempt = braid_job_start(job, idx, &task.resume, &task.window);
    task.window_bytes = braid_job_granted_bytes(job, idx);
    task.timeout_msec = braid_job_timeout_msec(job);
    if (!task.timeout_msec)
        task.timeout_msec = self->sources[gid].limiter.policy.timeout_msec;
    slot->attempt = task.attempt;
    slot->gid = gid;
    slot->sent_msec = now_msec;
    slot->resume = task.resume;
    braid_limiter_start(&self->sources[gid].limiter);
    self->tasks_dispatched++;
    io->start(arg, sj, idx, worker, &task);
    return true;
}

void
braid_sched_dispatch(braid_sched_t *self, int64_t now_msec, const braid_sched_io_t *io,
                     void *arg)
{
    self->due = false;
    /*  What the workers can take at all: once it is used up, no job needs
        to be asked (with a hundred jobs, most turns free a single slot).  */
    uint64_t room = 0;
    for (uint32_t i = 0; i < self->nworkers; i++)
        if (self->workers[i].user)
            room += braid_slots_capacity(self->slots, (int32_t) i) -
                    braid_slots_running(self->slots, (int32_t) i);
    /*  A start never removes a job (only workers), so the walk is safe.   */
    bool progress = true;
    while (progress && room && self->njobs) {
        progress = false;
        braid_sched_job_t *sj = self->rr ? self->rr : self->jobs_head;
        for (size_t i = 0; i < self->njobs && room; i++) {
            braid_sched_job_t *next = sj->next ? sj->next : self->jobs_head;
            if (s_dispatch_one(self, sj, now_msec, io, arg)) {
                progress = true;
                self->rr = next;
                room--;
            }
            sj = next;
        }
    }
}

bool
braid_sched_release(braid_sched_t *self, uint64_t task_id, uint32_t attempt)
{
    braid_slot_t slot;
    if (!braid_slots_release(self->slots, task_id, attempt, &slot))
        return false;
    braid_limiter_stop(&self->sources[slot.gid].limiter);
    if (slot.preempted && self->preempting > 0)
        self->preempting--;
    self->due = true;
    return true;
}

/*  braid_sched_retry(), waiting at least min_delay_msec when the retry is
    counted (the source said when to ask again: DONE A, an HTTP
    Retry-After): the backoff never brings it sooner.                      */
static braid_job_retry_t
s_retry(braid_sched_t *self, braid_sched_job_t *sj, uint32_t idx, uint32_t attempt, bool counted,
        const char *why, int64_t now_msec, uint32_t min_delay_msec, uint32_t *delay_msec_p)
{
    const braid_policy_t *policy = s_task_policy(self, sj, idx);
    braid_job_policy_t jp = {policy->retries, policy->on_retry};
    braid_job_retry_t rc = braid_job_retry(sj->job, idx, attempt, counted, why, &jp);
    /*  Its slot is free whatever the job says: a task that ended meanwhile
        (cancelled) no longer runs on a worker that is gone or gave it up.  */
    braid_sched_release(self, braid_task_id(s_serial(sj), idx), attempt);
    uint32_t delay = 0;
    if (rc == BRAID_JOB_AGAIN) {
        self->retries += counted;
        self->sources[sj->gid[idx % braid_job_nsources(sj->job)]].figures->retried += counted;
        if (counted) {
            uint32_t n = braid_job_task_retries(sj->job, idx);
            delay = braid_policy_backoff(policy, n, (double) rand_r(&self->seed) / RAND_MAX);
            if (delay < min_delay_msec)
                delay = min_delay_msec;
        }
        /*  No timer (out of memory): ready now rather than never.          */
        if (delay == 0 ||
            braid_timers_add(self->backoffs, now_msec + delay, 0, s_serial(sj), idx) != 0) {
            braid_job_ready(sj->job, idx);
            self->due = true;
        }
    }
    if (delay_msec_p)
        *delay_msec_p = delay;
    return rc;
}

braid_job_retry_t
braid_sched_retry(braid_sched_t *self, braid_sched_job_t *sj, uint32_t idx, uint32_t attempt,
                  bool counted, const char *why, int64_t now_msec, uint32_t *delay_msec_p)
{
    return s_retry(self, sj, idx, attempt, counted, why, now_msec, 0, delay_msec_p);
}

braid_sched_done_t
braid_sched_done(braid_sched_t *self, braid_sched_job_t *sj, const braid_msg_t *done,
                 int64_t now_msec)
{
    uint32_t idx = braid_task_index(done->task_id);
    uint32_t attempt = done->attempts;
    if (braid_job_running(sj->job, idx, attempt) && done->status != BRAID_STATUS_OK) {
        braid_slot_t *slot = braid_slots_find(self->slots, done->task_id);
        if (done->status == BRAID_STATUS_CANCELLED && slot && slot->attempt == attempt &&
            slot->preempted) {
            /*  It made room for its job's head of line: it runs again
                later, resuming after what it had sent.                     */
            braid_sched_retry(self, sj, idx, attempt, false, "preempted", now_msec, NULL);
            return BRAID_SCHED_TAKEN_BACK;
        }
        if (done->transient) {
            /*  A transient failure retries; a hand-back (cancelled,
                transient) goes elsewhere without counting.                 */
            bool counted = done->status != BRAID_STATUS_CANCELLED;
            s_retry(self, sj, idx, attempt, counted,
                    done->text[0] ? done->text : "transient failure", now_msec,
                    done->retry_after_msec, NULL);
            return BRAID_SCHED_TAKEN_BACK;
        }
    }
    braid_job_result_t rc =
        braid_job_done(sj->job, idx, attempt, done->status, done->parts, done->text);
    if (rc == BRAID_JOB_GAP) {
        /*  Its end says more partials than arrived: run it again.          */
        braid_sched_retry(self, sj, idx, attempt, true, "partials lost", now_msec, NULL);
        return BRAID_SCHED_GAP;
    }
    bool released = braid_sched_release(self, done->task_id, attempt);
    if (rc == BRAID_JOB_ACCEPTED) {
        self->tasks_done++;
        return BRAID_SCHED_ENDED;
    }
    return released ? BRAID_SCHED_CONFIRMED : BRAID_SCHED_STALE;
}

void
braid_sched_fire(braid_sched_t *self, int64_t now_msec)
{
    braid_timer_t t;
    while (braid_timers_pop(self->backoffs, now_msec, &t)) {
        braid_sched_job_t *sj = braid_sched_job_of(self, braid_task_id(t.a, 0));
        if (!sj)
            continue;   /* the job is gone: a lazily cancelled timer */
        braid_job_ready(sj->job, t.b);
        self->due = true;
    }
}

int64_t
braid_sched_next_msec(braid_sched_t *self, int64_t now_msec)
{
    int64_t until = braid_timers_next(self->backoffs);
    for (uint32_t g = 0; g < self->nsources; g++) {
        braid_limiter_t *lim = &self->sources[g].limiter;
        if (lim->policy.rate > 0 && lim->tokens < 1.0) {
            int64_t next = braid_limiter_next_msec(lim, now_msec);
            if (next < until)
                until = next;
            /*  Whoever waits on a token is served when the caller wakes.  */
            self->due = true;
        }
    }
    return until;
}

/*  ---------------------------------------------------------------------
    Preemption for heads of line                                            */

/*  Is task_id a window-blocked task that is not its own job's head?        */
static bool
s_preemptible(braid_sched_t *self, uint64_t task_id)
{
    braid_sched_job_t *sj = braid_sched_job_of(self, task_id);
    uint32_t idx = braid_task_index(task_id);
    return sj && braid_job_head(sj->job) != (int64_t) idx &&
           braid_job_window_blocked(sj->job, idx);
}

/*  The latest preemptible task on worker only (or on any worker serving
    gid when only is -1; of job serial only, on any worker, when serial is
    not 0); *blocked counts them.                                           */
static braid_slot_t *
s_pick_victim(braid_sched_t *self, int32_t only, uint16_t gid, uint32_t serial,
              uint32_t *blocked)
{
    braid_slot_t *victim = NULL;
    *blocked = 0;
    for (uint32_t i = 0; i < self->nworkers; i++) {
        s_worker_t *w = &self->workers[i];
        if (!w->user || (only >= 0 && (int32_t) i != only) ||
            (only < 0 && !serial && !s_serves(w, gid)))
            continue;
        uint32_t running = braid_slots_running(self->slots, (int32_t) i);
        for (uint32_t k = 0; k < running; k++) {
            braid_slot_t *slot = braid_slots_at(self->slots, (int32_t) i, k);
            if ((serial && braid_task_serial(slot->task_id) != serial) ||
                !s_preemptible(self, slot->task_id))
                continue;
            (*blocked)++;
            if (!victim || slot->task_id > victim->task_id)
                victim = slot;
        }
    }
    return victim;
}

/*  The victim to cancel for the head of sj, or NULL.                       */
static braid_slot_t *
s_victim_for(braid_sched_t *self, braid_sched_job_t *sj, uint32_t head, bool queued_heads,
             int64_t now_msec)
{
    braid_job_t *job = sj->job;
    uint16_t gid = sj->gid[head % braid_job_nsources(job)];
    uint32_t blocked = 0;
    if (braid_job_head_waiting(job) >= 0) {
        /*  Its own job's in-flight limit holds it: room in the job.        */
        if (!braid_job_wants(job))
            return s_pick_victim(self, -1, gid, s_serial(sj), &blocked);
        if (s_pick_worker(self, gid, now_msec) >= 0)
            return NULL;    /* a worker has room: dispatch gets there */
        return s_pick_victim(self, -1, gid, 0, &blocked);
    }
    if (!queued_heads || !braid_job_running(job, head, braid_job_attempt(job, head)))
        return NULL;
    /*  Dispatched: nothing arrived since may mean queued there.            */
    braid_slot_t *hs = braid_slots_find(self->slots, braid_task_id(s_serial(sj), head));
    if (!hs || braid_job_received_parts(job, head) != hs->resume)
        return NULL;
    int32_t worker = hs->worker;
    braid_slot_t *victim = s_pick_victim(self, worker, gid, 0, &blocked);
    if (blocked < self->workers[worker].slots)
        return NULL;        /* a slot there runs something that can end */
    return victim;
}

void
braid_sched_preempt(braid_sched_t *self, bool queued_heads, int64_t now_msec,
                    const braid_sched_io_t *io, void *arg)
{
    if (self->preempting)
        return;     /* one at a time */
    for (braid_sched_job_t *sj = self->jobs_head; sj; sj = sj->next) {
        int64_t head = braid_job_head(sj->job);
        if (head < 0)
            continue;
        braid_slot_t *victim = s_victim_for(self, sj, (uint32_t) head, queued_heads, now_msec);
        if (!victim)
            continue;
        victim->preempted = true;
        self->preempting++;
        io->preempt(arg, victim, sj, (uint32_t) head);
        return;
    }
}

/*  ---------------------------------------------------------------------
    Stats                                                                   */

void
braid_sched_stats(braid_sched_t *self, braid_stats_t *stats)
{
    for (uint32_t i = 0; i < self->nworkers; i++)
        if (self->workers[i].user) {
            stats->workers++;
            stats->slots += self->workers[i].slots;
            stats->running += braid_slots_running(self->slots, (int32_t) i);
        }
    for (braid_sched_job_t *sj = self->jobs_head; sj; sj = sj->next)
        stats->queued += braid_job_queued(sj->job);
    stats->jobs = self->njobs;
    stats->tasks_dispatched = self->tasks_dispatched;
    stats->tasks_done = self->tasks_done;
    stats->retries = self->retries;
    stats->nsources = 0;
    if (!stats->sources)
        return;     /* the totals only */
    /*  The sources in use, in id order (free ids have no line).           */
    uint16_t line[BRAID_SCHED_MAX_SOURCES];
    for (uint32_t g = 0; g < self->nsources; g++) {
        line[g] = (uint16_t) stats->nsources;
        if (!self->sources[g].name)
            continue;
        braid_stats_source_t *src = &stats->sources[stats->nsources++];
        src->name = self->sources[g].name;
        src->running = self->sources[g].limiter.running;
        src->figures = self->sources[g].figures;
        src->queued = 0;
    }
    /*  Each job adds its own tasks to its sources' lines.                  */
    for (braid_sched_job_t *sj = self->jobs_head; sj; sj = sj->next) {
        uint32_t ns = braid_job_nsources(sj->job);
        for (uint32_t s = 0; s < ns; s++)
            if (sj->gid[s] < self->nsources)
                stats->sources[line[sj->gid[s]]].queued += braid_job_queued_source(sj->job, s);
    }
}
