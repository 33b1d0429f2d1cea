/*  braid_text.c - UTF-8 checks and one-line sanitizing. See the header.   */

#include "braid_text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t
braid_utf8_len(const void *p, size_t avail)
{
    const uint8_t *s = p;
    uint8_t b = s[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xbf;   /* bounds of the second byte            */
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf)
        n = 2;
    else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        if (b == 0xe0)
            lo = 0xa0;              /* no overlong forms                    */
        else if (b == 0xed)
            hi = 0x9f;              /* no surrogates                        */
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f;              /* nothing above U+10FFFF               */
    } else
        return 0;
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

bool
braid_utf8_valid(const void *data, size_t size)
{
    const uint8_t *p = data;
    size_t i = 0;
    while (i < size) {
        size_t n = braid_utf8_len(p + i, size - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

size_t
braid_text_sanitize(char *buf, size_t bufsize, const void *data, size_t size)
{
    const uint8_t *p = data;
    size_t len = 0;
    for (size_t i = 0; i < size;) {
        char esc[8];
        const char *piece = esc;
        size_t n = braid_utf8_len(p + i, size - i), plen;
        uint8_t c = p[i];
        if (n > 1 || (n == 1 && c >= 0x20 && c != 0x7f)) {
            piece = (const char *) p + i;
            plen = n;
        } else {
            n = 1;
            if (c == '\n')
                plen = (size_t) snprintf(esc, sizeof esc, "\\n");
            else if (c == '\t')
                plen = (size_t) snprintf(esc, sizeof esc, "\\t");
            else
                plen = (size_t) snprintf(esc, sizeof esc, "\\x%02x", c);
        }
        if (len + plen + 1 > bufsize)
            break;
        memcpy(buf + len, piece, plen);
        len += plen;
        i += n;
    }
    buf[len] = 0;
    return len;
}
