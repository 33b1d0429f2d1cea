/*  test_table.c - the tables of braid workers and braid jobs
    (client/table.c): columns aligned to their widest cell, counts to the
    right; ages and durations for people; a member missing or of the wrong
    kind shown as "-"; texts escaped; no rows; not an array.               */

#include "table.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/*  Print list (JSON text) with table into memory, compare with want.      */
static void
s_expect(int (*table)(FILE *, const json_t *), const char *list, int want_rc, const char *want)
{
    json_t *json = json_loads(list, 0, NULL);
    assert_non_null(json);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    assert_int_equal(table(out, json), want_rc);
    fclose(out);
    json_decref(json);
    if (strcmp(text, want) != 0)
        fail_msg("got:\n%s\nwant:\n%s", text, want);
    free(text);
}

static void
test_workers(void **state)
{
    (void) state;
    s_expect(braid_table_workers,
             "[{\"name\":\"w1\",\"host\":\"box-one\",\"pid\":4242,\"version\":\"0.1.0\","
             "\"slots\":4,\"running\":2,\"queued\":0,\"sources\":[\"web\",\"docs\"],"
             "\"last_heartbeat_msec\":312},"
             "{\"name\":\"w-two\",\"host\":\"\",\"pid\":7,\"version\":\"\",\"slots\":16,"
             "\"running\":16,\"queued\":11,\"sources\":[],\"last_heartbeat_msec\":61000}]",
             0,
             "NAME   HOST     PID   SLOTS  RUNNING  QUEUED  SOURCES   HEARTBEAT  VERSION\n"
             "w1     box-one  4242      4        2       0  web,docs  0.3s ago   0.1.0\n"
             "w-two  -           7     16       16      11  -         1m01s ago  -\n");
}

static void
test_jobs(void **state)
{
    (void) state;
    s_expect(braid_table_jobs,
             "[{\"id\":\"00c0e115ade076197f305ade8b4a0f5d\",\"client\":\"7f3a\",\"order\":"
             "\"submit\",\"queries\":200,\"queries_done\":37,\"tasks\":400,\"tasks_done\":75,"
             "\"in_flight\":8,\"age_msec\":185000}]",
             0,
             "ID                                CLIENT  QUERIES  TASKS   IN FLIGHT  AGE    ORDER\n"
             "00c0e115ade076197f305ade8b4a0f5d  7f3a    37/200   75/400          8  3m05s  "
             "submit\n");
}

/*  Missing members, wrong kinds, negative counts, control bytes, a number
    where a text is expected, an object that is not one.                   */
static void
test_odd_rows(void **state)
{
    (void) state;
    s_expect(braid_table_workers,
             "[{\"name\":\"a\\u001b[2J\",\"pid\":\"x\",\"slots\":-1,\"sources\":[1,\"s\"],"
             "\"version\":3},"
             "{},7]",
             0,
             "NAME      HOST  PID  SLOTS  RUNNING  QUEUED  SOURCES  HEARTBEAT  VERSION\n"
             "a\\x1b[2J  -       -      -        -       -  s        -          3\n"
             "-         -       -      -        -       -  -        -          -\n"
             "-         -       -      -        -       -  -        -          -\n");
    s_expect(braid_table_jobs, "[{\"queries_done\":1}]", 0,
             "ID  CLIENT  QUERIES  TASKS  IN FLIGHT  AGE  ORDER\n"
             "-   -       -        -              -  -    -\n");
}

/*  No rows: the titles. Not an array: -1, nothing written.                 */
static void
test_empty_and_wrong(void **state)
{
    (void) state;
    s_expect(braid_table_jobs, "[]", 0, "ID  CLIENT  QUERIES  TASKS  IN FLIGHT  AGE  ORDER\n");
    s_expect(braid_table_workers, "{\"name\":\"w1\"}", -1, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workers),
        cmocka_unit_test(test_jobs),
        cmocka_unit_test(test_odd_rows),
        cmocka_unit_test(test_empty_and_wrong),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
