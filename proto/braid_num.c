/*  braid_num.c - the one parser of unsigned integers and durations.       */

#include "braid_num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int
braid_parse_u64_len(const char *text, size_t len, uint64_t min, uint64_t max, uint64_t *value_p)
{
    if (!text || len == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        unsigned d = (unsigned) (text[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;          /* overflow                                */
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -1;
    *value_p = v;
    return 0;
}

int
braid_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *value_p)
{
    return text ? braid_parse_u64_len(text, strlen(text), min, max, value_p) : -1;
}

int
braid_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *value_p)
{
    uint64_t v;
    if (braid_parse_u64(text, min, max, &v) != 0)
        return -1;
    *value_p = (uint32_t) v;
    return 0;
}

int
braid_parse_decimal(const char *text, double min, double max, double *value_p)
{
    if (!text || !*text)
        return -1;
    /*  The shape first, so strtod() sees only what it reads the same way
        everywhere: digits [. digits] [e [+-] digits], at least one digit
        in the mantissa.                                                    */
    const char *p = text;
    size_t digits = 0;
    while (*p >= '0' && *p <= '9')
        p++, digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (digits == 0)
        return -1;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return -1;
    char *end = NULL;
    double v = strtod(text, &end);
    if (end != p || !isfinite(v) || v < min || v > max)
        return -1;
    *value_p = v;
    return 0;
}

int
braid_parse_msec(const char *text, uint32_t min_msec, uint32_t max_msec, uint32_t *msec_p)
{
    static const struct {
        const char *name;
        uint64_t msec;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}};
    if (!text)
        return -1;
    size_t len = strlen(text);
    size_t digits = strspn(text, "0123456789");
    size_t point = digits < len && text[digits] == '.' ? digits : len;
    size_t fraction = point < len ? strspn(text + point + 1, "0123456789") : 0;
    size_t unit_at = point < len ? point + 1 + fraction : digits;
    const char *unit = text + unit_at;
    uint64_t scale = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(unit, units[i].name) == 0)
            scale = units[i].msec;
    if (*unit == '\0')
        scale = point < len ? 0 : 1;    /* a fraction needs a unit         */
    if (scale == 0 || (point < len && fraction == 0))
        return -1;
    uint64_t whole;
    if (braid_parse_u64_len(text, digits, 0, max_msec, &whole) != 0)
        return -1;
    /*  whole * scale + fraction * scale / 10^fraction, exactly.            */
    uint64_t msec = whole * scale;
    uint64_t part = 0, denominator = 1;
    for (size_t i = 0; i < fraction; i++) {
        if (denominator > UINT64_MAX / 10 / scale)
            return -1;          /* more digits than any unit has msec      */
        part = part * 10 + (uint64_t) (text[point + 1 + i] - '0');
        denominator *= 10;
    }
    if ((part * scale) % denominator != 0)
        return -1;              /* not a whole number of msec              */
    msec += part * scale / denominator;
    if (msec < min_msec || msec > max_msec)
        return -1;
    *msec_p = (uint32_t) msec;
    return 0;
}
