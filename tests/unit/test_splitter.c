/*  test_splitter.c - output bytes cut into partials: lines, chunks, a line
    across reads, overlong lines, the unfinished last line, reading only
    once everything read before was taken, and bytes fed in (bounded).    */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "splitter.h"

typedef struct {
    int rd;
    int wr;
} s_pipe_t;

static int
s_setup(void **state)
{
    s_pipe_t *p = calloc(1, sizeof *p);
    int fds[2];
    if (!p || pipe2(fds, O_NONBLOCK | O_CLOEXEC))
        return -1;
    p->rd = fds[0];
    p->wr = fds[1];
    *state = p;
    return 0;
}

static int
s_teardown(void **state)
{
    s_pipe_t *p = *state;
    close(p->rd);
    if (p->wr >= 0)
        close(p->wr);
    free(p);
    return 0;
}

static void
s_write(s_pipe_t *p, const void *data, size_t len)
{
    assert_int_equal(write(p->wr, data, len), (ssize_t) len);
}

/*  Take at most max partials and check them against want (NULL-ended).    */
static void
s_expect(braid_splitter_t *s, size_t max, const char *const *want)
{
    braid_parts_t *out = braid_parts_new();
    size_t n = braid_splitter_take(s, out, max);
    size_t k = 0;
    while (want[k])
        k++;
    assert_int_equal(n, k);
    assert_int_equal(braid_parts_size(out), k);
    for (size_t i = 0; i < k; i++) {
        size_t len;
        const void *data = braid_parts_at(out, i, &len);
        assert_int_equal(len, strlen(want[i]));
        assert_memory_equal(data, want[i], len);
    }
    braid_parts_destroy(&out);
}

static void
test_lines(void **state)
{
    s_pipe_t *p = *state;
    braid_splitter_t *s = braid_splitter_new(false);
    assert_non_null(s);
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_AGAIN); /* nothing yet */
    assert_false(braid_splitter_pending(s));
    s_write(p, "a\nbb\ncc", 7);
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_BYTES);
    assert_true(braid_splitter_pending(s));
    s_expect(s, 1, (const char *[]){"a\n", NULL});          /* max holds */
    /*  Unread bytes are waiting: no read now, whatever the pipe has.     */
    s_write(p, "c\nd", 3);
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_BYTES);
    s_expect(s, 10, (const char *[]){"bb\n", NULL});        /* "cc" kept */
    assert_false(braid_splitter_pending(s));
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_BYTES);
    s_expect(s, 10, (const char *[]){"ccc\n", NULL});       /* "d" kept  */
    close(p->wr);
    p->wr = -1;
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_EOF);
    assert_true(braid_splitter_pending(s));
    s_expect(s, 10, (const char *[]){"d", NULL});           /* last line */
    assert_false(braid_splitter_pending(s));
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_EOF);
    braid_splitter_destroy(&s);
    braid_splitter_destroy(&s);
    assert_null(s);
}

static void
test_chunks(void **state)
{
    s_pipe_t *p = *state;
    braid_splitter_t *s = braid_splitter_new(true);
    s_write(p, "a\nb", 3);
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_BYTES);
    s_expect(s, 10, (const char *[]){"a\nb", NULL});
    s_write(p, "c", 1);
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_BYTES);
    s_expect(s, 10, (const char *[]){"c", NULL});
    braid_splitter_destroy(&s);
}

static void
test_overlong_line(void **state)
{
    s_pipe_t *p = *state;
    /*  The pipe's buffer is smaller than a maximal line: feed it a read at
        a time, as a child's output would come.                            */
    braid_splitter_t *s = braid_splitter_new(false);
    size_t total = BRAID_SPLITTER_MAX_LINE + 10;
    char *block = malloc(4096);
    memset(block, 'x', 4096);
    size_t written = 0;
    size_t parts = 0;
    while (written < total) {
        size_t n = total - written < 4096 ? total - written : 4096;
        s_write(p, block, n);
        written += n;
        assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_BYTES);
        braid_parts_t *out = braid_parts_new();
        parts += braid_splitter_take(s, out, 10);
        if (braid_parts_size(out)) {
            size_t len;
            braid_parts_at(out, 0, &len);
            assert_int_equal(len, BRAID_SPLITTER_MAX_LINE);
        }
        braid_parts_destroy(&out);
    }
    assert_int_equal(parts, 1);     /* one piece of exactly the maximum    */
    s_write(p, "\n", 1);
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_BYTES);
    s_expect(s, 10, (const char *[]){"xxxxxxxxxx\n", NULL});
    free(block);
    braid_splitter_destroy(&s);
}

static void
test_eof_marked(void **state)
{
    (void) state;
    braid_splitter_t *s = braid_splitter_new(false);
    assert_int_equal(braid_splitter_read(s, -1), BRAID_SPLITTER_EOF); /* closed */
    assert_false(braid_splitter_pending(s));
    s_expect(s, 10, (const char *[]){NULL});
    braid_splitter_eof(s);
    assert_false(braid_splitter_pending(s));
    braid_splitter_destroy(&s);
}

/*  Bytes handed over (a curl write callback): taken while less than a
    read's worth waits unsplit, refused beyond (the giver pauses), taken
    again once the task took some; a read after a feed still works.      */
static void
test_feed(void **state)
{
    s_pipe_t *p = *state;
    braid_splitter_t *s = braid_splitter_new(false);
    assert_int_equal(braid_splitter_feed(s, "a\nb", 3), 0);
    assert_int_equal(braid_splitter_feed(s, "b\n", 2), 0);
    s_expect(s, 10, (const char *[]){"a\n", "bb\n", NULL});
    char *block = malloc(BRAID_SPLITTER_READ_BUF);
    assert_non_null(block);
    memset(block, 'y', BRAID_SPLITTER_READ_BUF - 1);
    block[BRAID_SPLITTER_READ_BUF - 1] = '\n';
    assert_false(braid_splitter_full(s));
    assert_int_equal(braid_splitter_feed(s, "z\n", 2), 0);
    assert_int_equal(braid_splitter_feed(s, block, BRAID_SPLITTER_READ_BUF), 0);
    assert_true(braid_splitter_full(s));
    assert_int_equal(braid_splitter_feed(s, "q", 1), -1);   /* refused     */
    s_expect(s, 1, (const char *[]){"z\n", NULL});
    assert_true(braid_splitter_full(s));                    /* a read's worth */
    braid_parts_t *out = braid_parts_new();
    assert_int_equal(braid_splitter_take(s, out, 10), 1);
    size_t len;
    braid_parts_at(out, 0, &len);
    assert_int_equal(len, BRAID_SPLITTER_READ_BUF);
    braid_parts_destroy(&out);
    assert_false(braid_splitter_full(s));
    assert_int_equal(braid_splitter_feed(s, "q\n", 2), 0);
    s_expect(s, 10, (const char *[]){"q\n", NULL});
    s_write(p, "r\n", 2);
    assert_int_equal(braid_splitter_read(s, p->rd), BRAID_SPLITTER_BYTES);
    s_expect(s, 10, (const char *[]){"r\n", NULL});
    free(block);
    braid_splitter_destroy(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lines, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_chunks, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_overlong_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_eof_marked, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_feed, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
