/*  fuzz_decode.c - libFuzzer target for braid_msg_decode() and
    braid_keys_decode().

    Each input is one header frame. It is decoded on every channel with
    frame counts at and around the bounds, and as a keys frame of a few
    entry counts. Besides "no crash, no leak, no UB" (the sanitizers), it
    checks what the codecs promise:
      - the result is BRAID_OK or one of the braid_err_t reasons (a keys
        frame: BRAID_OK or BRAID_ERR_FRAMES);
      - a header that decodes re-encodes, no longer than the input (the
        encoder packs minimally), and decodes again to the same message;
      - so does a keys frame, to the same keys.
    Any broken promise aborts, which libFuzzer reports as a crash.

    Built with -fsanitize=fuzzer under clang (tests/fuzz/CMakeLists.txt);
    fuzz_replay.c runs the same function over the corpus under any
    compiler, as a ctest entry.
*/

#include "braid_keys.h"
#include "braid_msg.h"

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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
