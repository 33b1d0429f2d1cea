/*  source_kind.c - the table of source kinds. See the header.             */

#include "source_kind.h"

#include <stdio.h>
#include <string.h>

#include "exec_source.h"
#include "http_source.h"
#include "synth_source.h"

/*  Every kind a source may name, in the order messages list them.         */
static const braid_source_kind_t *const s_kinds[] = {
    &braid_exec_kind,
    &braid_synth_kind,
    &braid_http_kind,
};
#define S_NKINDS (sizeof s_kinds / sizeof s_kinds[0])

const braid_source_kind_t *
braid_source_kind_find(const char *name, size_t len)
{
    for (size_t i = 0; i < S_NKINDS; i++)
        if (strlen(s_kinds[i]->name) == len && memcmp(s_kinds[i]->name, name, len) == 0)
            return s_kinds[i];
    return NULL;
}

void
braid_source_kind_names(char *buf, size_t size)
{
    size_t len = 0;
    if (size)
        buf[0] = 0;
    for (size_t i = 0; i < S_NKINDS && len < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == S_NKINDS ? " or " : ", ";
        int n = snprintf(buf + len, size - len, "%s%s", sep, s_kinds[i]->name);
        if (n < 0)
            break;
        len += (size_t) n;
    }
}
