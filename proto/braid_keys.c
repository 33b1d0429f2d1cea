/*  braid_keys.c - the keys frame of order key. See the header.            */

#include "braid_keys.h"

#include <math.h>
#include <msgpack.h>
#include <string.h>

braid_score_t
braid_score_int(int64_t i)
{
    braid_score_t s = {.real = false, .i = i};
    return s;
}

braid_score_t
braid_score_real(double f)
{
    braid_score_t s = {.real = true, .f = f};
    return s;
}

/*  Compare an integer with a real (not NaN), exactly: the real's integer
    part is compared as an int64 when it fits one, then its fraction.      */
static int
s_cmp_int_real(int64_t i, double f)
{
    if (f >= 9223372036854775808.0)     /* 2^63: above every int64         */
        return -1;
    if (f < -9223372036854775808.0)
        return 1;
    int64_t whole = (int64_t) f;        /* truncated toward zero: fits     */
    if (i != whole)
        return i < whole ? -1 : 1;
    double frac = f - (double) whole;   /* exact: |f| < 2^63               */
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

int
braid_score_cmp(const braid_score_t *a, const braid_score_t *b)
{
    if (!a->real && !b->real)
        return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
    if (a->real && b->real)
        return a->f < b->f ? -1 : a->f > b->f ? 1 : 0;
    if (!a->real)
        return s_cmp_int_real(a->i, b->f);
    return -s_cmp_int_real(b->i, a->f);
}

/*  ---------------------------------------------------------------------
    Decoding                                                               */

/*  Reads n bytes at *pos into *v (big-endian) if they are there.           */
static bool
s_take(const uint8_t *p, size_t size, size_t *pos, size_t n, uint64_t *v)
{
    if (size - *pos < n)
        return false;
    *v = braid_be_get(p + *pos, n);
    *pos += n;
    return true;
}

/*  An array header (any of its three forms); its count in *count.        */
static bool
s_array(const uint8_t *p, size_t size, size_t *pos, uint64_t *count)
{
    if (*pos >= size)
        return false;
    uint8_t b = p[(*pos)++];
    if ((b & 0xf0) == 0x90) {
        *count = b & 0x0f;
        return true;
    }
    if (b == 0xdc)
        return s_take(p, size, pos, 2, count);
    if (b == 0xdd)
        return s_take(p, size, pos, 4, count);
    return false;
}

/*  A score: any integer form within int64, or a float64 that is not NaN. */
static bool
s_score(const uint8_t *p, size_t size, size_t *pos, braid_score_t *score)
{
    if (*pos >= size)
        return false;
    uint8_t b = p[(*pos)++];
    uint64_t v;
    if (b <= 0x7f) {
        *score = braid_score_int(b);
        return true;
    }
    if (b >= 0xe0) {
        *score = braid_score_int((int8_t) b);
        return true;
    }
    switch (b) {
    case 0xcc: case 0xcd: case 0xce: case 0xcf: {      /* uint 8..64      */
        size_t n = (size_t) 1 << (b - 0xcc);
        if (!s_take(p, size, pos, n, &v) || v > INT64_MAX)
            return false;
        *score = braid_score_int((int64_t) v);
        return true;
    }
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {      /* int 8..64       */
        size_t n = (size_t) 1 << (b - 0xd0);
        if (!s_take(p, size, pos, n, &v))
            return false;
        /*  The n-byte two's complement value, sign-extended.               */
        int64_t i = n == 1   ? (int8_t) (uint8_t) v
                    : n == 2 ? (int16_t) (uint16_t) v
                    : n == 4 ? (int32_t) (uint32_t) v
                             : (int64_t) v;
        *score = braid_score_int(i);
        return true;
    }
    case 0xcb: {                                        /* float64         */
        if (!s_take(p, size, pos, 8, &v))
            return false;
        double f;
        memcpy(&f, &v, sizeof f);
        if (isnan(f))
            return false;
        *score = braid_score_real(f);
        return true;
    }
    default:
        return false;
    }
}

/*  A dedup value: a bin (any of its three forms) of 0..BRAID_MAX_DEDUP
    bytes, present in full.                                                 */
static bool
s_dedup(const uint8_t *p, size_t size, size_t *pos, const uint8_t **dedup, size_t *len)
{
    if (*pos >= size)
        return false;
    uint8_t b = p[(*pos)++];
    uint64_t n;
    if (b < 0xc4 || b > 0xc6 || !s_take(p, size, pos, (size_t) 1 << (b - 0xc4), &n))
        return false;
    if (n > BRAID_MAX_DEDUP || n > size - *pos)
        return false;
    *dedup = n ? p + *pos : NULL;
    *len = (size_t) n;
    *pos += (size_t) n;
    return true;
}

braid_err_t
braid_keys_decode(const void *data, size_t size, size_t n, braid_key_t *keys)
{
    const uint8_t *p = data;
    size_t pos = 0;
    uint64_t count;
    if (!p || n > BRAID_MAX_BATCH || !s_array(p, size, &pos, &count) || count != n)
        return BRAID_ERR_FRAMES;
    for (size_t i = 0; i < n; i++) {
        braid_key_t key;
        if (!s_array(p, size, &pos, &count) || count != 2 || !s_score(p, size, &pos, &key.score) ||
            !s_dedup(p, size, &pos, &key.dedup, &key.dedup_len))
            return BRAID_ERR_FRAMES;
        if (keys)
            keys[i] = key;
    }
    return pos == size ? BRAID_OK : BRAID_ERR_FRAMES;
}

/*  ---------------------------------------------------------------------
    Encoding                                                               */

zframe_t *
braid_keys_encode(const braid_key_t *keys, size_t n)
{
    if (n > BRAID_MAX_BATCH)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if ((keys[i].score.real && isnan(keys[i].score.f)) || keys[i].dedup_len > BRAID_MAX_DEDUP)
            return NULL;
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    int rc = msgpack_pack_array(&pk, n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const braid_key_t *k = &keys[i];
        rc = msgpack_pack_array(&pk, 2);
        if (rc == 0)
            rc = k->score.real ? msgpack_pack_double(&pk, k->score.f)
                               : msgpack_pack_int64(&pk, k->score.i);
        if (rc == 0)
            rc = msgpack_pack_bin(&pk, k->dedup_len);
        if (rc == 0 && k->dedup_len)
            rc = msgpack_pack_bin_body(&pk, k->dedup, k->dedup_len);
    }
    zframe_t *frame = rc == 0 ? zframe_new(sbuf.data, sbuf.size) : NULL;
    msgpack_sbuffer_destroy(&sbuf);
    return frame;
}
