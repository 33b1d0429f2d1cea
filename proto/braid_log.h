/*  braid_log.h - logging to stderr with syslog priority prefixes.

    Every line is "<N>ident: message", where N is the syslog priority, so
    that journald files each line at the right level when the program runs
    under systemd. Debug lines are printed only after braid_log_verbose().
    Shape: "broker: worker expired id=4f2a idle_msec=3000". No payloads.
*/

#ifndef BRAID_LOG_H_INCLUDED
#define BRAID_LOG_H_INCLUDED

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRAID_LOG_ERR 3
#define BRAID_LOG_WARNING 4
#define BRAID_LOG_NOTICE 5
#define BRAID_LOG_INFO 6
#define BRAID_LOG_DEBUG 7

/*  Set the name printed after the priority (borrowed; keep it alive).      */
void
braid_log_init(const char *ident);
/*  Print debug lines too.                                                  */
void
braid_log_verbose(bool on);
bool
braid_log_is_verbose(void);
void
braid_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define braid_error(...) braid_log(BRAID_LOG_ERR, __VA_ARGS__)
#define braid_warning(...) braid_log(BRAID_LOG_WARNING, __VA_ARGS__)
#define braid_notice(...) braid_log(BRAID_LOG_NOTICE, __VA_ARGS__)
#define braid_info(...) braid_log(BRAID_LOG_INFO, __VA_ARGS__)
#define braid_debug(...)                                                                           \
    do {                                                                                           \
        if (braid_log_is_verbose())                                                                \
            braid_log(BRAID_LOG_DEBUG, __VA_ARGS__);                                               \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
