/*  fuzz_decode.c - libFuzzer target for braid_msg_decode().

    Each input is one header frame. It is decoded on every channel with
    frame counts at and around the bounds. Besides "no crash, no leak, no
    UB" (the sanitizers), it checks what the codec promises:
      - the result is BRAID_OK or one of the braid_err_t reasons;
      - a header that decodes re-encodes, no longer than the input (the
        encoder packs minimally), and decodes again to the same message.
    Any broken promise aborts, which libFuzzer reports as a crash.

    Built with -fsanitize=fuzzer under clang (tests/fuzz/CMakeLists.txt);
    fuzz_replay.c runs the same function over the corpus under any
    compiler, as a ctest entry.
*/

#include "braid_msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
