/*  job_impl.h - a job's insides, shared by the two files of the
    braid_job_t class and by nothing else:

    - job.c: queries, tasks and their states, results, the submit and
      arrival orders, END and JOB_END;
    - job_flow.c: the client's credit (messages and bytes), the workers'
      windows, the bytes held for the client and their limit;
    - job_key.c: order key, the head query's sources merged by score
      (merge.h keeps the keys; the frames stay in the tasks' buffers);
    - job_orphan.c: the waiting tasks of a source no worker serves end;
    - job_resume.c: a job resubmitted after a broker was lost, held until
      it knows what the client has, then resumed.
*/

#ifndef BRAID_JOB_IMPL_H_INCLUDED
#define BRAID_JOB_IMPL_H_INCLUDED

#include "job.h"
#include "merge.h"
#include "taskheap.h"

typedef struct {
    zmsg_t *buf;        /* received, not yet emitted: seq fwd .. recv-1    */
    char *error;        /* end error text, NULL when none                  */
    uint64_t recv;      /* partials received (next seq expected)           */
    uint64_t fwd;       /* partials emitted to the client                  */
    uint64_t parts;     /* part count of the end record                    */
    uint64_t granted;   /* window last granted to the worker               */
    uint64_t brecv;     /* payload bytes the attempt sent                  */
    uint64_t bfwd;      /* payload bytes emitted since the attempt started */
    uint64_t bgranted;  /* byte window of the attempt, absolute; 0 = none  */
    uint32_t attempt;   /* current attempt, 0 before the first dispatch    */
    uint16_t retries;   /* counted retries so far                          */
    uint8_t state;      /* braid_task_state_t                              */
    uint8_t status;     /* braid_status_t once DONE                        */
    uint8_t queued;     /* in the arrival-order ready queue                */
    uint8_t restart;    /* a RESTART record must precede its partials      */
    uint8_t ready;      /* taken back and ready for dispatch               */
} braid_job_task_t;

struct braid_job_t {
    uint8_t id[16];
    uint32_t serial;
    uint32_t order;
    uint32_t max_inflight;
    uint32_t timeout_msec;
    uint32_t flags;
    uint32_t deadline_msec;
    uint32_t retries;
    uint32_t count;             /* queries announced                       */
    uint32_t received;          /* queries received                        */
    uint32_t nsources;
    char sources[BRAID_MAX_SOURCES][BRAID_MAX_NAME + 1];
    uint32_t next[BRAID_MAX_SOURCES];   /* next query to dispatch, per src */
    uint64_t summary[BRAID_MAX_SOURCES][BRAID_STATUS_COUNT];

    char *qbuf;                 /* query bytes, back to back               */
    size_t qlen, qcap;
    uint32_t *qoff;             /* room + 1 offsets into qbuf              */
    uint32_t room;              /* queries the arrays below have room for:
                                   grown as queries arrive (doubling, up to
                                   count), never reserved at SUBMIT        */

    braid_job_task_t *tasks;    /* room * nsources                         */
    uint64_t ntasks;            /* tasks whose query has arrived           */
    uint64_t emitted;           /* tasks whose END is out                  */
    uint64_t head;              /* submit order: next task to emit         */
    uint32_t running;           /* tasks in state RUNNING                  */

    uint32_t *ready;            /* arrival order: ring of task indices     */
    uint64_t ready_cap, ready_head, ready_len;
    braid_taskheap_t retry[BRAID_MAX_SOURCES];  /* to dispatch again, per src */
    uint64_t pending_retries;   /* taken back, not yet running again       */
    uint64_t pending[BRAID_MAX_SOURCES];    /* the same, per source        */
    uint64_t ended;             /* tasks whose end is recorded             */
    uint32_t queries_done;      /* queries whose every task ended          */
    uint8_t *qended;            /* per query (room): its tasks ended (nsources > 1) */
    uint32_t window;            /* per-task credit window, 0 = none        */
    uint64_t window_bytes;      /* ... in payload bytes, 0 = none          */
    braid_merge_t *merge;       /* order key: the keys and the merge       */

    uint64_t held;              /* payload bytes in the tasks' buffers     */
    uint64_t held_limit;        /* past it only the head is dispatched; 0:
                                   no limit                                */

    uint64_t out_seq;           /* next out_seq to use                     */
    uint64_t credit;            /* may emit out_seq < credit               */
    uint64_t bytes_out;         /* emitted: BRAID_MSG_OVERHEAD + payload
                                   bytes per message                       */
    uint64_t credit_bytes;      /* may emit while bytes_out < credit_bytes */
    uint64_t credit_window;     /* what one grant lets run ahead of
                                   bytes_out; 0 = no byte bound            */
    bool cancelled;
    bool job_end_sent;
    bool on_hold;               /* job_resume.c: dispatch nothing yet      */
};

/*  ---------------------------------------------------------------------
    job.c                                                                   */

/*  Emit one message if credit allows (job id and out_seq filled in):
    0 sent, -1 blocked.                                                     */
int
braid_job_emit(braid_job_t *self, braid_msg_t *msg, zmsg_t **payload, const braid_job_io_t *io,
               void *arg);

/*  Return credit as task idx's partials leave (re-grant at half the
    window).                                                                */
void
braid_job_grant(braid_job_t *self, uint32_t idx, uint64_t bytes, const braid_job_io_t *io,
                void *arg);

/*  Free what task t buffers, counted out of the job's held bytes.          */
void
braid_job_drop_buffer(braid_job_t *self, braid_job_task_t *t);

/*  A PARTIAL or END of task idx, its query and source filled in.           */
void
braid_job_task_msg(braid_job_t *self, braid_msg_t *msg, braid_msg_type_t type, uint32_t idx);

/*  Record the end of task idx (no longer running or waiting): status,
    parts, text (copied; NULL or "" for none). Its END goes out in order.   */
void
braid_job_end_task(braid_job_t *self, uint32_t idx, uint32_t status, uint64_t parts,
                   const char *text);

/*  The END of task idx (DONE), carrying what it still buffers: 0 sent, -1
    blocked.                                                                */
int
braid_job_emit_end(braid_job_t *self, uint32_t idx, const braid_job_io_t *io, void *arg);

/*  ---------------------------------------------------------------------
    job_key.c                                                               */

/*  Order key: emit what the merge decides, query by query. 0 when every
    query that arrived is out, -1 when blocked or waiting for partials.    */
int
braid_job_key_pump(braid_job_t *self, const braid_job_io_t *io, void *arg);

/*  Order key: the head of line (see braid_job_head), or -1.               */
int64_t
braid_job_key_head(braid_job_t *self);

#endif
