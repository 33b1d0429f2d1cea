/*  braid_num.h - the one parser of unsigned integers in command lines and
    config files, and of durations written with a unit.

    Strict, so that every program refuses the same texts: one or more ASCII
    digits and nothing else (no sign, no blanks, no empty string, no hex),
    within [min, max]. "" and "-1" are errors everywhere, never 0 or a
    wrapped-around huge number.
*/

#ifndef BRAID_NUM_H_INCLUDED
#define BRAID_NUM_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Parse text as a decimal integer in [min, max] into *value_p (untouched
    on failure). 0, or -1 when text is not such a number.                   */
int
braid_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *value_p);

/*  braid_parse_u64() of the len bytes at text (no NUL needed), for a number
    inside a longer string such as a source spec.                           */
int
braid_parse_u64_len(const char *text, size_t len, uint64_t min, uint64_t max, uint64_t *value_p);

/*  braid_parse_u64() for an unsigned int (max at most UINT32_MAX).         */
int
braid_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *value_p);

/*  Parse text as a plain decimal number in [min, max] into *value_p
    (untouched on failure): digits, an optional fraction (".5", "2.",
    "0.25") and an optional exponent ("1e3"), no sign, no blanks, no hex,
    never "nan" or "inf". 0, or -1 when text is not such a number or falls
    outside the bounds (so a finite, bounded value is all a caller sees). */
int
braid_parse_decimal(const char *text, double min, double max, double *value_p);
/*  Parse a duration into msec, in [min_msec, max_msec]: a number as
    above, optionally with a fraction ("1.5"), and a unit: "ms", "s" or
    "m" (minutes); no unit means msec. The value must be a whole number
    of msec ("1.5ms" and "0.0001s" are refused), and a fraction needs a
    unit. "250", "250ms", "5s", "1.5s", "2m" are accepted; "", "5 s",
    "5S", "-1s", "1h", ".5s", "5.s" are not. 0, or -1 (*msec_p untouched). */
int
braid_parse_msec(const char *text, uint32_t min_msec, uint32_t max_msec, uint32_t *msec_p);

#ifdef __cplusplus
}
#endif

#endif
