/*  progress.c - the progress line's text, durations for people (see
    progress.h).                                                            */

#include "progress.h"

#include <stdio.h>

#define S_SECOND 1000ull
#define S_MINUTE (60 * S_SECOND)
#define S_HOUR (60 * S_MINUTE)
#define S_DAY (24 * S_HOUR)

const char *
braid_progress_duration(char *buf, size_t size, uint64_t msec)
{
    unsigned long long v = msec;
    if (v < 10 * S_SECOND)
        snprintf(buf, size, "%llu.%llus", v / S_SECOND, v % S_SECOND / 100);
    else if (v < S_MINUTE)
        snprintf(buf, size, "%llus", v / S_SECOND);
    else if (v < S_HOUR)
        snprintf(buf, size, "%llum%02llus", v / S_MINUTE, v % S_MINUTE / S_SECOND);
    else if (v < S_DAY)
        snprintf(buf, size, "%lluh%02llum", v / S_HOUR, v % S_HOUR / S_MINUTE);
    else
        snprintf(buf, size, "%llud%02lluh", v / S_DAY, v % S_DAY / S_HOUR);
    return buf;
}

const char *
braid_progress_line(char *buf, size_t size, uint64_t done, uint64_t total, uint64_t not_ok,
                    uint64_t elapsed_msec)
{
    char rate[32] = "-";
    char eta[BRAID_DURATION_MAX] = "-";
    if (elapsed_msec > 0 && done > 0) {
        double per_sec = (double) done * 1000.0 / (double) elapsed_msec;
        snprintf(rate, sizeof rate, per_sec < 100 ? "%.1f" : "%.0f", per_sec);
        /*  left / (done / elapsed), in integers: exact, and no overflow for
            any count a job can have (at most 10^7 queries x 32 sources).   */
        uint64_t left = total > done ? total - done : 0;
        braid_progress_duration(eta, sizeof eta, left * elapsed_msec / done);
    }
    snprintf(buf, size, "braid: %llu/%llu tasks done, %llu not ok, %s/s, ETA %s",
             (unsigned long long) done, (unsigned long long) total,
             (unsigned long long) not_ok, rate, eta);
    return buf;
}
