/*  table.c - the tables of braid workers and braid jobs (see table.h).
    Each table is a list of columns: a title, the member(s) it shows and
    how; every cell is formatted first, then the columns are aligned.      */

#include "table.h"
#include "progress.h"
#include "render.h"         /* braid_render_text: texts for a terminal     */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/*  How a column shows its member(s).                                       */
typedef enum {
    S_TEXT,                     /* a string (escaped), or an integer        */
    S_COUNT,                    /* an integer, aligned right                */
    S_LIST,                     /* an array of strings, joined by commas    */
    S_AGO,                      /* msec: "0.3s ago"                         */
    S_DURATION,                 /* msec: "3m05s"                            */
    S_RATIO                     /* two integers: "37/200"                   */
} s_kind_t;

typedef struct {
    const char *title;
    s_kind_t kind;
    const char *key;
    const char *key2;           /* S_RATIO: the whole                       */
} s_column_t;

static const s_column_t s_workers[] = {
    {"NAME", S_TEXT, "name", NULL},
    {"HOST", S_TEXT, "host", NULL},
    {"PID", S_COUNT, "pid", NULL},
    {"SLOTS", S_COUNT, "slots", NULL},
    {"RUNNING", S_COUNT, "running", NULL},
    {"QUEUED", S_COUNT, "queued", NULL},
    {"SOURCES", S_LIST, "sources", NULL},
    {"HEARTBEAT", S_AGO, "last_heartbeat_msec", NULL},
    {"VERSION", S_TEXT, "version", NULL},
};

static const s_column_t s_jobs[] = {
    {"ID", S_TEXT, "id", NULL},
    {"CLIENT", S_TEXT, "client", NULL},
    {"QUERIES", S_RATIO, "queries_done", "queries"},
    {"TASKS", S_RATIO, "tasks_done", "tasks"},
    {"IN FLIGHT", S_COUNT, "in_flight", NULL},
    {"AGE", S_DURATION, "age_msec", NULL},
    {"ORDER", S_TEXT, "order", NULL},
};

/*  The integer member key of row into *value_p: true, or false when it is
    missing or not a non-negative integer.                                  */
static bool
s_integer(const json_t *row, const char *key, json_int_t *value_p)
{
    const json_t *value = json_object_get(row, key);
    if (!json_is_integer(value) || json_integer_value(value) < 0)
        return false;
    *value_p = json_integer_value(value);
    return true;
}

/*  Write the cell of column col for row to f; false if there is nothing
    of the right kind to show.                                              */
static bool
s_put_cell(FILE *f, const json_t *row, const s_column_t *col)
{
    const json_t *value = json_object_get(row, col->key);
    json_int_t n, whole;
    char buf[BRAID_DURATION_MAX];
    switch (col->kind) {
    case S_TEXT:
        if (json_is_string(value) && json_string_length(value) > 0)
            braid_render_text(f, json_string_value(value), json_string_length(value), false);
        else if (json_is_integer(value))
            fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        else
            return false;
        return true;
    case S_COUNT:
        if (!s_integer(row, col->key, &n))
            return false;
        fprintf(f, "%" JSON_INTEGER_FORMAT, n);
        return true;
    case S_LIST: {
        size_t i, shown = 0;
        json_t *item;
        json_array_foreach(value, i, item) {
            if (!json_is_string(item))
                continue;
            if (shown++)
                putc(',', f);
            braid_render_text(f, json_string_value(item), json_string_length(item), false);
        }
        return shown > 0;
    }
    case S_AGO:
    case S_DURATION:
        if (!s_integer(row, col->key, &n))
            return false;
        fputs(braid_progress_duration(buf, sizeof buf, (uint64_t) n), f);
        if (col->kind == S_AGO)
            fputs(" ago", f);
        return true;
    case S_RATIO:
        if (!s_integer(row, col->key, &n) || !s_integer(row, col->key2, &whole))
            return false;
        fprintf(f, "%" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT, n, whole);
        return true;
    }
    return false;
}

/*  The cell of column col for row: owned, "-" when there is nothing to
    show; NULL on allocation failure.                                       */
static char *
s_cell(const json_t *row, const s_column_t *col)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    bool shown = json_is_object(row) && s_put_cell(f, row, col);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    if (!shown) {
        free(text);
        text = strdup("-");
    }
    return text;
}

/*  Write one line: the cells, padded to the widths, two blanks apart.     */
static void
s_put_line(FILE *out, const s_column_t *columns, size_t ncolumns, char *const *cells,
           const size_t *widths, bool titles)
{
    for (size_t c = 0; c < ncolumns; c++) {
        size_t len = strlen(cells[c]);
        size_t pad = widths[c] > len ? widths[c] - len : 0;
        bool right = columns[c].kind == S_COUNT && !titles;
        if (c)
            fputs("  ", out);
        if (right)
            fprintf(out, "%*s", (int) pad, "");
        fputs(cells[c], out);
        if (!right && c + 1 < ncolumns)
            fprintf(out, "%*s", (int) pad, "");
    }
    putc('\n', out);
}

/*  Write the table of list with columns. 0, or -1 (not an array, or out of
    memory).                                                                */
static int
s_table(FILE *out, const json_t *list, const s_column_t *columns, size_t ncolumns)
{
    if (!json_is_array(list))
        return -1;
    size_t nrows = json_array_size(list);
    char **cells = calloc((nrows + 1) * ncolumns, sizeof *cells);
    size_t *widths = calloc(ncolumns, sizeof *widths);
    int rc = cells && widths ? 0 : -1;
    for (size_t c = 0; rc == 0 && c < ncolumns; c++) {
        cells[c] = (char *) columns[c].title;
        widths[c] = strlen(columns[c].title);
        for (size_t r = 0; rc == 0 && r < nrows; r++) {
            char **cell = &cells[(r + 1) * ncolumns + c];
            if (!(*cell = s_cell(json_array_get(list, r), &columns[c])))
                rc = -1;
            else if (strlen(*cell) > widths[c])
                widths[c] = strlen(*cell);
        }
    }
    for (size_t r = 0; rc == 0 && r <= nrows; r++)
        s_put_line(out, columns, ncolumns, cells + r * ncolumns, widths, r == 0);
    for (size_t i = ncolumns; cells && i < (nrows + 1) * ncolumns; i++)
        free(cells[i]);
    free(cells);
    free(widths);
    return rc;
}

int
braid_table_workers(FILE *out, const json_t *list)
{
    return s_table(out, list, s_workers, sizeof s_workers / sizeof s_workers[0]);
}

int
braid_table_jobs(FILE *out, const json_t *list)
{
    return s_table(out, list, s_jobs, sizeof s_jobs / sizeof s_jobs[0]);
}
