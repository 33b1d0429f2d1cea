/*  fuzz_decode.c - libFuzzer target for braid_msg_decode(),
    braid_keys_decode() and braid_parts_check().

    Each input is one header frame. It is decoded on every channel with
    frame counts at and around the bounds, as a keys frame of a few entry
    counts, and as a parts frame (braid_parts.h) under a few bounds. Besides "no crash, no leak, no UB" (the sanitizers), it
    checks what the codecs promise:
      - the result is BRAID_OK or one of the braid_err_t reasons (a keys
        frame: BRAID_OK or BRAID_ERR_FRAMES);
      - a header that decodes re-encodes, no longer than the input (the
        encoder packs minimally), and decodes again to the same message;
      - so does a keys frame, to the same keys;
      - a parts frame that checks iterates to exactly its count of entries
        whose lengths add up to the bytes after the lengths, and encodes
        again to the very same bytes (the encoding is canonical).
    Any broken promise aborts, which libFuzzer reports as a crash.

    Built with -fsanitize=fuzzer under clang (tests/fuzz/CMakeLists.txt);
    fuzz_replay.c runs the same function over the corpus under any
    compiler, as a ctest entry.
*/

#include "braid_keys.h"
#include "braid_msg.h"
#include "braid_parts.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*  The input as a keys frame of n entries: refused as frames, or decoded,
    re-encoded no longer, and decoded again to the same keys.              */
static void
s_keys(const uint8_t *data, size_t size, size_t n)
{
    static braid_key_t keys[BRAID_MAX_BATCH], again[BRAID_MAX_BATCH];
    braid_err_t err = braid_keys_decode(data, size, n, keys);
    if (err == BRAID_ERR_FRAMES)
        return;
    if (err != BRAID_OK)
        abort();
    zframe_t *frame = braid_keys_encode(keys, n);
    if (!frame || zframe_size(frame) > size ||
        braid_keys_decode(zframe_data(frame), zframe_size(frame), n, again) != BRAID_OK)
        abort();
    for (size_t i = 0; i < n; i++)
        if (braid_score_cmp(&keys[i].score, &again[i].score) != 0 ||
            keys[i].score.real != again[i].score.real || keys[i].dedup_len != again[i].dedup_len ||
            (keys[i].dedup_len && memcmp(keys[i].dedup, again[i].dedup, keys[i].dedup_len)))
            abort();
    zframe_destroy(&frame);
}

/*  The input as a parts frame of at most max_count entries of max_len
    bytes: refused (frames, frame-size), or read back exactly.             */
static void
s_parts(const uint8_t *data, size_t size, size_t max_count, size_t max_len)
{
    size_t count = 0;
    braid_err_t err = braid_parts_check(data, size, max_count, max_len, &count);
    if (err == BRAID_ERR_FRAMES || err == BRAID_ERR_FRAME_SIZE)
        return;
    if (err != BRAID_OK || count == 0 || count > max_count ||
        braid_parts_count(data, size) != count)
        abort();
    /*  Copy to the exact size, so a read past the frame is caught.        */
    uint8_t *copy = malloc(size);
    if (!copy)
        return;
    memcpy(copy, data, size);
    const void **entries = calloc(count, sizeof *entries);
    size_t *lens = calloc(count, sizeof *lens);
    if (!entries || !lens)
        abort();
    braid_parts_iter_t it;
    braid_parts_iter(&it, copy, size);
    size_t n = 0, total = 0;
    while (braid_parts_next(&it, &entries[n], &lens[n])) {
        if (lens[n] > max_len || (const uint8_t *) entries[n] < copy ||
            (const uint8_t *) entries[n] + lens[n] > copy + size)
            abort();
        total += lens[n++];
        if (n > count)
            abort();
    }
    size_t all;
    braid_parts_data(copy, size, &all);
    if (n != count || all != total)
        abort();
    zframe_t *again = braid_parts_encode(entries, lens, count);
    if (!again || zframe_size(again) != size || memcmp(zframe_data(again), copy, size) != 0)
        abort();
    zframe_destroy(&again);
    free(lens);
    free(entries);
    free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /*  A parts frame: the bounds of queries, of partials, and tight ones. */
    s_parts(data, size, BRAID_MAX_BATCH, BRAID_MAX_QUERY_LEN);
    s_parts(data, size, BRAID_MAX_PARTS, BRAID_MAX_FRAME);
    s_parts(data, size, 3, 4);

    /*  A keys frame: its own count, and a few others.                     */
    size_t count = size && (data[0] & 0xf0) == 0x90 ? (size_t) (data[0] & 0x0f) : 0;
    s_keys(data, size, count);
    s_keys(data, size, 1);
    s_keys(data, size, BRAID_MAX_BATCH);

    static const size_t nframes[] = {0, 1, 2, BRAID_MAX_BATCH, BRAID_MAX_BATCH + 1};
    static const braid_channel_t channels[] = {BRAID_CH_CLIENT, BRAID_CH_TO_CLIENT,
                                               BRAID_CH_WORKER, BRAID_CH_TO_WORKER, BRAID_CH_SINK};
    for (size_t c = 0; c < sizeof channels / sizeof channels[0]; c++) {
        for (size_t n = 0; n < sizeof nframes / sizeof nframes[0]; n++) {
            braid_msg_t msg;
            braid_err_t err = braid_msg_decode(data, size, nframes[n], channels[c], &msg);
            if ((unsigned) err >= BRAID_ERR_COUNT)
                abort();
            if (err != BRAID_OK)
                continue;
            uint8_t buf[BRAID_MAX_HEADER];
            size_t len = braid_msg_encode_buf(&msg, buf, sizeof buf);
            if (len == 0 || len > size)
                abort();
            braid_msg_t again;
            if (braid_msg_decode(buf, len, nframes[n], channels[c], &again) != BRAID_OK)
                abort();
            if (memcmp(&msg, &again, sizeof msg) != 0)
                abort();
        }
    }
    return 0;
}
