/*  braid_log.c - logging to stderr with syslog priority prefixes.          */

#include "braid_log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *s_ident = "braid";
static bool s_verbose = false;

void
braid_log_init(const char *ident)
{
    s_ident = ident ? ident : "braid";
}

void
braid_log_verbose(bool on)
{
    s_verbose = on;
}

bool
braid_log_is_verbose(void)
{
    return s_verbose;
}

void
braid_log(int priority, const char *fmt, ...)
{
    if (priority >= BRAID_LOG_DEBUG && !s_verbose)
        return;
    /*  One write per line, so lines of concurrent processes never mix.    */
    char line[2048];
    int n = snprintf(line, sizeof line, "<%d>%s: ", priority, s_ident);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t) n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t) n + (size_t) m;
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    fwrite(line, 1, len, stderr);
    fflush(stderr);
}
