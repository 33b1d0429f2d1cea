/*  gen_seeds.c - write the seed corpus for fuzz_decode.

    Usage: gen_seeds DIR
    Writes, for every message type in braid_msgs.def, its header with small
    values and with maximal values, and a few hand-picked malformed headers
    (bombs, depth, trailing bytes). Run by hand when the table changes; the
    output is committed in tests/fuzz/corpus/.
*/

#include "braid_msg.h"

#include <stdio.h>
#include <string.h>

static void
s_fill(braid_msg_t *m, const char *fields, bool max)
{
    for (const char *l = fields; *l; l++) {
        switch (*l) {
        case 'j': memset(m->job_id, max ? 0xff : 0x11, 16); break;
        case 'o': m->order = max ? 2 : 1; break;
        case 'm': m->max_inflight = max ? BRAID_MAX_INFLIGHT : 10; break;
        case 't': m->timeout_msec = max ? 604800000 : 1000; break;
        case 'f': m->flags = max ? 0xffff : 1; break;
        case 'n': m->count = max ? BRAID_MAX_QUERIES : 3; break;
        case 'c': m->credit = max ? UINT64_MAX : 64; break;
        case 'F': m->first = max ? BRAID_MAX_QUERIES - 1 : 2; break;
        case 'O': m->out_seq = max ? UINT64_MAX : 5; break;
        case 'q': m->query = max ? BRAID_MAX_QUERIES - 1 : 1; break;
        case 's': m->source = max ? BRAID_MAX_SOURCES - 1 : 1; break;
        case 'e': m->seq = max ? UINT64_MAX : 300; break;
        case 'x': m->status = max ? 3 : 1; break;
        case 'p': m->parts = max ? UINT64_MAX : 70000; break;
        case 'a': m->attempts = max ? BRAID_MAX_ATTEMPTS : 1; break;
        case 'C': m->code = max ? 999 : 400; break;
        case 'k': m->task_id = max ? UINT64_MAX : 1ull << 40; break;
        case 'l': m->slots = max ? BRAID_MAX_SLOTS : 4; break;
        case 'w': m->window = max ? UINT64_MAX : 16; break;
        case 'r': m->resume = max ? UINT64_MAX : 0; break;
        case 'E':
            if (max)
                memset(m->text, 'e', BRAID_MAX_TEXT);
            else
                strcpy(m->text, "boom");
            break;
        case 'N': strcpy(m->name, max ? "Zz09_.-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
                                      : "web");
            break;
        case 'S':
            m->nsources = max ? 4 : 2;
            for (uint32_t i = 0; i < m->nsources; i++)
                snprintf(m->sources[i], sizeof m->sources[i], "src%u", i);
            break;
        case 'R':
            m->nsources = max ? 4 : 1;
            for (uint32_t i = 0; i < m->nsources; i++)
                for (int s = 0; s < BRAID_STATUS_COUNT; s++)
                    m->summary[i][s] = max ? UINT64_MAX : (uint64_t) s;
            break;
        }
    }
}

static int
s_write(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f);
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    static const struct {
        int id;
        const char *name;
        const char *fields;
    } defs[] = {
#define BRAID_MSG(ID, NAME, FIELDS, MINF, MAXF, CH) {ID, #NAME, FIELDS},
#include "braid_msgs.def"
#undef BRAID_MSG
    };
    for (size_t i = 0; i < sizeof defs / sizeof defs[0]; i++) {
        for (int max = 0; max < 2; max++) {
            if (max && !defs[i].fields[0])
                continue;
            braid_msg_t m;
            braid_msg_init(&m, (braid_msg_type_t) defs[i].id);
            s_fill(&m, defs[i].fields, max);
            uint8_t buf[BRAID_MAX_HEADER];
            size_t len = braid_msg_encode_buf(&m, buf, sizeof buf);
            if (len == 0) {
                fprintf(stderr, "gen_seeds: cannot encode %s\n", defs[i].name);
                return 1;
            }
            char name[64];
            snprintf(name, sizeof name, "%s-%s", defs[i].name, max ? "max" : "small");
            if (s_write(dir, name, buf, len))
                return 1;
        }
    }
    static const struct {
        const char *name;
        size_t len;
        const char *bytes;
    } bad[] = {
        {"bad-array32-4M", 5, "\xdd\x00\x40\x00\x00"},
        {"bad-map32-max", 5, "\xdf\xff\xff\xff\xff"},
        {"bad-str32-4G-in-field", 9, "\x93\x01\x04\xdb\xff\xff\xff\xff\x61"},
        {"bad-depth4", 7, "\x93\x01\x01\x91\x91\x91\x01"},
        {"bad-trailing", 4, "\x92\x01\x05\xc0"},
        {"bad-ext-in-field", 6, "\x93\x01\x04\xd4\x01\x00"},
        {"bad-version2", 3, "\x92\x02\x05"},
        {"bad-neg-credit", 21, "\x94\x01\x03\xc4\x10" "0123456789abcdef" "\xff"},
        {"bad-signed-ok", 4, "\x92\xd0\x01\x05"},
        {"bad-map-header", 3, "\x81\x01\x05"},
        /*  Regression: msgpack-c gives a zero-length str the ptr of the
            last multi-byte object before it, NULL if there was none; that
            NULL reached memchr(). A DONE of fixints and an empty text.     */
        {"regress-empty-text", 8, "\x97\x01\x29\x00\x00\x00\x00\xa0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (s_write(dir, bad[i].name, bad[i].bytes, bad[i].len))
            return 1;
    return 0;
}
