/*  source.h - what a worker serves: named sources and their settings,
    read from a -s flag or from a config file's source/NAME section.

    Flag forms:
        NAME=exec:TEMPLATE
        NAME=synthetic[:parts=N,size=B,delay_msec=D,fail=PREFIX,fail_first=N]
    Config keys (source/NAME/...):
        type = exec | synthetic             (required)
        command = TEMPLATE                  (exec, required)
        output = lines | chunks             (exec, default lines)
        transient_exit = 75                 (exec: comma list of exit
                                             statuses 1..255 that end the
                                             task failed but transient, or
                                             "none"; default 75)
        parts, size, delay_msec, fail, fail_first   (synthetic)
*/

#ifndef BRAID_SOURCE_H_INCLUDED
#define BRAID_SOURCE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "braid_conf.h"
#include "braid_msg.h"
#include "template.h"

typedef enum { BRAID_SOURCE_EXEC = 1, BRAID_SOURCE_SYNTHETIC } braid_source_type_t;

/*  Bounds of the synthetic settings.                                       */
#define BRAID_SYNTH_MAX_PARTS 1000000000ull
#define BRAID_SYNTH_MAX_SIZE ((uint64_t) BRAID_MAX_FRAME)
#define BRAID_SYNTH_MAX_DELAY_MSEC 86400000ull
/*  The exec exit status that is transient unless transient_exit says
    otherwise: EX_TEMPFAIL from sysexits.h.                                 */
#define BRAID_EXEC_DEFAULT_TRANSIENT_EXIT 75

typedef struct {
    char name[BRAID_MAX_NAME + 1];
    braid_source_type_t type;
    /*  exec                                                                */
    braid_template_t *command;
    bool chunks;            /* output = chunks: one partial per read()     */
    bool transient_exit[256];   /* exit status -> failure is transient (g) */
    /*  synthetic                                                           */
    uint64_t parts;
    uint64_t size;
    uint64_t delay_msec;
    char *fail;             /* NULL: never fail                            */
    uint64_t fail_first;    /* attempts 1..fail_first fail transiently     */
} braid_source_t;

/*  Parse a -s flag. NULL with the reason in err.                           */
braid_source_t *
braid_source_from_flag(const char *spec, char *err, size_t errsize);

/*  Parse the section source/NAME (node is that section). NULL with
    "FILE:LINE: reason" in err.                                             */
braid_source_t *
braid_source_from_conf(braid_conf_t *node, char *err, size_t errsize);

/*  NULL-safe; sets *self_p to NULL.                                        */
void
braid_source_destroy(braid_source_t **self_p);

const char *
braid_source_type_name(braid_source_type_t type);

#endif
