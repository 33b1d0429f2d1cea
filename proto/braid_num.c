/*  braid_num.c - the one parser of unsigned integers.                      */

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
