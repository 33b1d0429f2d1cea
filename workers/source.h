/*  source.h - what a worker serves: named sources, each of a kind (see
    source_kind.h) with that kind's settings, read from a -s flag or from a
    config file's source/NAME section.

    Flag form:      NAME=TYPE[\[KEY=VALUE,...\]][:SETTINGS]
        NAME=exec:TEMPLATE
        NAME=exec[score=rank,dedup=url]:TEMPLATE
        NAME=synthetic[:parts=N,size=B,delay_msec=D,fail=PREFIX,fail_first=N]
        NAME=http:URL
    Config form:    source/NAME/type = TYPE, and the kind's keys beside it;
    a key with sub-keys and no value (http's header section) gives each
    sub-key to the kind as KEY/SUBKEY. Each kind's header lists its
    settings (exec_source.h, synth_source.h, http_source.h); any kind whose
    partials are lines also takes the generic settings of order key,
    score, dedup and score_order (keys.h). The bracketed list of the flag
    form takes both (values without ',' or ']').
*/

#ifndef BRAID_SOURCE_H_INCLUDED
#define BRAID_SOURCE_H_INCLUDED

#include <stddef.h>

#include "braid_conf.h"
#include "braid_msg.h"
#include "keys.h"
#include "source_kind.h"

typedef struct {
    char name[BRAID_MAX_NAME + 1];
    const braid_source_kind_t *kind;
    void *settings;         /* the kind's; owned                           */
    braid_keyer_t *keyer;   /* score, dedup, score_order; owned            */
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

#endif
