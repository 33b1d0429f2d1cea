/*  fuzz_replay.c - run fuzz_decode's LLVMFuzzerTestOneInput over files.

    Usage: fuzz_replay PATH...   (each PATH a file or a directory of files)
    Exits 0 when every input ran, 1 on a read error or when no input was
    found (an empty corpus is a broken test, not a passing one). A finding
    aborts inside the target, as under libFuzzer.
*/

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S_MAX_INPUT (1u << 20)

static int
s_run_file(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *buf = malloc(S_MAX_INPUT);
    if (!buf) {
        fclose(f);
        return -1;
    }
    size_t len = fread(buf, 1, S_MAX_INPUT, f);
    int rc = ferror(f) ? -1 : 0;
    fclose(f);
    if (rc == 0) {
        /*  A copy of exactly len bytes, so ASan sees any overread.        */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact)
            rc = -1;
        else {
            memcpy(exact, buf, len);
            LLVMFuzzerTestOneInput(exact, len);
            free(exact);
            (*count)++;
        }
    }
    free(buf);
    return rc;
}

static int
s_run_path(const char *path, size_t *count)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return s_run_file(path, count);
    DIR *dir = opendir(path);
    if (!dir) {
        perror(path);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(dir))) {
        if (e->d_name[0] == '.')
            continue;
        char child[4096];
        snprintf(child, sizeof child, "%s/%s", path, e->d_name);
        rc = s_run_path(child, count);
    }
    closedir(dir);
    return rc;
}

int
main(int argc, char **argv)
{
    size_t count = 0;
    for (int i = 1; i < argc; i++)
        if (s_run_path(argv[i], &count) != 0)
            return 1;
    printf("fuzz_replay: %zu inputs\n", count);
    return count > 0 ? 0 : 1;
}
