/*  gen_seeds.c - write the seed corpus for fuzz_decode.

    Usage: gen_seeds DIR
    Writes, for every message type in braid_msgs.def, its header with small
    values and with maximal values, and a few hand-picked malformed headers
    (bombs, depth, trailing bytes). Run by hand when the table changes; the
    output is committed in tests/fuzz/corpus/.
*/

#include "braid_msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_fill(braid_msg_t *m, const char *fields, bool max)
{
    for (const char *l = fields; *l; l++) {
        switch (*l) {
        case 'j': memset(m->job_id, max ? 0xff : 0x11, 16); break;
        case 'o': m->order = max ? 2 : 1; break;
        case 'm': m->max_inflight = max ? BRAID_MAX_INFLIGHT : 10; break;
        case 't': m->timeout_msec = max ? BRAID_MAX_MSEC : 1000; break;
        case 'f': m->flags = max ? 0xffff : BRAID_FLAG_FAIL_FAST | BRAID_FLAG_RETRIES; break;
        case 'd': m->deadline_msec = max ? BRAID_MAX_MSEC : 60000; break;
        case 'y': m->retries = max ? BRAID_MAX_RETRIES : 3; break;
        case 'g': m->transient = max ? 1 : 0; break;
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
        case 'b': m->window_bytes = max ? UINT64_MAX : 1u << 20; break;
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
        case 'h': m->keyed = max ? 1 : 0; break;
        case 'z': m->token = max ? UINT64_MAX : 0x1122334455667788ull; break;
        case 'P': m->pid = max ? UINT32_MAX : 1234; break;
        case 'H':
            if (max)
                memset(m->host, 'h', BRAID_MAX_HOST);
            else
                strcpy(m->host, "node1");
            break;
        case 'V':
            if (max)
                memset(m->version, 'v', BRAID_MAX_VERSION);
            else
                strcpy(m->version, "0.1.0");
            break;
        case 'K':
            m->nflags = m->nsources;
            for (uint32_t i = 0; i < m->nflags; i++)
                m->source_flags[i] = max ? BRAID_SOURCE_FLAGS_MAX : 0;
            break;
        case 'X': m->exit_value = max ? BRAID_MAX_EXIT_VALUE : 1; break;
        case 'A': m->retry_after_msec = max ? BRAID_MAX_MSEC : 1000; break;
        case 'B': m->started_msec = max ? UINT64_MAX : 1764504000000ull; break;
        case 'Q': m->queue_msec = max ? UINT64_MAX : 5; break;
        case 'U': m->run_msec = max ? UINT64_MAX : 40; break;
        case 'D': m->duplicates = max ? UINT64_MAX : 2; break;
        case 'W': strcpy(m->worker, max ? "Zz09_.-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
                                        : "w1");
            break;
        default:
            /*  A letter this file does not know: the table changed and the
                seeds would silently miss it.                              */
            fprintf(stderr, "gen_seeds: unknown field letter '%c'\n", *l);
            exit(1);
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
    /*  The length is the literal's, so embedded NULs count and nothing is
        counted by hand.                                                   */
#define B(NAME, BYTES) {NAME, sizeof(BYTES) - 1, BYTES}
    static const struct {
        const char *name;
        size_t len;
        const char *bytes;
    } bad[] = {
        B("bad-array32-4M", "\xdd\x00\x40\x00\x00"),
        B("bad-map32-max", "\xdf\xff\xff\xff\xff"),
        B("bad-str32-4G-in-field", "\x93\x01\x04\xdb\xff\xff\xff\xff\x61"),
        B("bad-depth4", "\x93\x01\x01\x91\x91\x91\x01"),
        B("bad-trailing", "\x92\x01\x05\xc0"),
        B("bad-ext-in-field", "\x93\x01\x04\xd4\x01\x00"),
        B("bad-version2", "\x92\x02\x05"),
        B("bad-neg-credit", "\x94\x01\x03\xc4\x10" "0123456789abcdef" "\xff"),
        B("bad-signed-ok", "\x92\xd0\x01\x05"),
        B("bad-map-header", "\x81\x01\x05"),
        /*  Regression: msgpack-c gives a zero-length str the ptr of the
            last multi-byte object before it, NULL if there was none; that
            NULL reached memchr(). A DONE of fixints and an empty text.     */
        B("regress-empty-text", "\x98\x01\x29\x00\x00\x00\x00\x00\xa0"),
        /*  The layouts before d, y and g (field-count), and the new
            letters one past their bounds (range).                         */
        B("bad-submit-old-layout",
         "\x9a\x01\x01\xc4\x10" "0123456789abcdef" "\x00\x00\x00\x00\x01\x00\x91\xa1\x61"),
        B("bad-done-old-layout", "\x97\x01\x29\x00\x00\x00\x00\xa0"),
        B("bad-submit-deadline",
         "\x9c\x01\x01\xc4\x10" "0123456789abcdef"
         "\x00\x00\x00\x00\xce\x24\x0c\x84\x01\x00\x01\x00\x91\xa1\x61"),
        B("bad-submit-retries",
         "\x9c\x01\x01\xc4\x10" "0123456789abcdef"
         "\x00\x00\x00\x00\x00\xcd\x03\xe9\x01\x00\x91\xa1\x61"),
        B("bad-done-transient2", "\x98\x01\x29\x00\x00\x00\x00\x02\xa0"),
        B("bad-restart-attempts",
         "\x97\x01\x11\xc4\x10" "0123456789abcdef" "\x00\x00\x00\xcd\x03\xe9"),
        B("bad-task-ack-extra", "\x95\x01\x17\x00\x00\x00"),
        B("bad-reset-field", "\x93\x01\x22\x00"),
        /*  Keys frames (the target decodes every input as one too).        */
        B("keys-two", "\x92\x92\x05\xc4\x01\x61\x92\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00"
                      "\xc4\x00"),
        B("keys-none", "\x90"),
        B("keys-bad-nan", "\x91\x92\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00\xc4\x00"),
        B("keys-bad-bin32-4G", "\x91\x92\x05\xc6\xff\xff\xff\xff"),
        /*  Parts frames (the target checks every input as one too).       */
        B("parts-three", "\x03\x02\x00\x01" "abc"),
        B("parts-empty-entries", "\x02\x00\x00"),
        B("parts-long-entry", "\x01\x81\x01" "0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef0123456789abcdef"
                              "0123456789abcdef0123456789abcdef0123456789abcdef!"),
        B("parts-bad-overflow", "\x01\x05" "abc"),
        B("parts-bad-left-over", "\x01\x01" "ab"),
        B("parts-bad-count", "\x05\x01"),
        B("parts-bad-not-minimal", "\x81\x00\x00"),
        B("parts-bad-huge", "\x01\xff\xff\xff\x7f" "a"),
    };
#undef B
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (s_write(dir, bad[i].name, bad[i].bytes, bad[i].len))
            return 1;
    return 0;
}
