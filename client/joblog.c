/*  joblog.c - braid_joblog_t: the CLI's job log (see joblog.h).

    The bytes of each task are counted from its partials until its end;
    in arrival order many tasks stream at once, so the counts live in a
    small open-addressing table keyed by (query, source), holding only the
    tasks that have sent partials and not yet ended.
*/

#include "joblog.h"
#include "braid_msg.h"      /* status names, source names, BRAID_MAX_*     */
#include "braid_num.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_FIELDS 12             /* columns of a line                        */
#define S_TABLE_MIN 64          /* slots of the byte table to begin with    */

_Static_assert(BRAID_MAX_SOURCES <= 32, "a task's key holds its source in 5 bits");

/*  One task's bytes so far; key 0 is a free slot.                          */
typedef struct {
    uint64_t key;
    uint64_t bytes;
} s_count_t;

struct _braid_joblog_t {
    FILE *file;
    s_count_t *counts;          /* power-of-two table, linear probing       */
    size_t nslots;
    size_t used;
    int error;                  /* the first write error, or 0              */
};

/*  ---------------------------------------------------------------------
    Bytes per task                                                          */

/*  The key of ev's task: never 0.                                          */
static uint64_t
s_key(const braid_event_t *ev)
{
    return ((uint64_t) ev->query << 5 | ev->source) + 1;
}

/*  The slot for key: where it is, or the free slot where it would go.     */
static size_t
s_slot(const braid_joblog_t *self, uint64_t key)
{
    size_t mask = self->nslots - 1;
    size_t i = (size_t) (key * 0x9e3779b97f4a7c15ull >> 17) & mask;
    while (self->counts[i].key && self->counts[i].key != key)
        i = (i + 1) & mask;
    return i;
}

/*  Double the table (or make the first). 0, or -1 (ENOMEM).                */
static int
s_grow(braid_joblog_t *self)
{
    size_t nslots = self->nslots ? self->nslots * 2 : S_TABLE_MIN;
    s_count_t *counts = calloc(nslots, sizeof *counts);
    if (!counts)
        return -1;
    s_count_t *old = self->counts;
    size_t nold = self->nslots;
    self->counts = counts;
    self->nslots = nslots;
    for (size_t i = 0; i < nold; i++)
        if (old[i].key)
            self->counts[s_slot(self, old[i].key)] = old[i];
    free(old);
    return 0;
}

/*  Add bytes to the count of key. 0, or -1 (ENOMEM).                      */
static int
s_count_add(braid_joblog_t *self, uint64_t key, uint64_t bytes)
{
    if ((self->used + 1) * 2 > self->nslots && s_grow(self) != 0)
        return -1;
    s_count_t *c = &self->counts[s_slot(self, key)];
    if (!c->key) {
        *c = (s_count_t) {.key = key};
        self->used++;
    }
    c->bytes += bytes;
    return 0;
}

/*  Take the count of key out of the table (0 if it has none), closing the
    gap behind it so that every key stays reachable from its home slot.   */
static uint64_t
s_count_take(braid_joblog_t *self, uint64_t key)
{
    if (!self->nslots)
        return 0;
    size_t mask = self->nslots - 1;
    size_t i = s_slot(self, key);
    if (!self->counts[i].key)
        return 0;
    uint64_t bytes = self->counts[i].bytes;
    self->counts[i].key = 0;
    self->used--;
    for (size_t j = (i + 1) & mask; self->counts[j].key; j = (j + 1) & mask) {
        s_count_t moved = self->counts[j];
        self->counts[j].key = 0;
        self->counts[s_slot(self, moved.key)] = moved;
    }
    return bytes;
}

/*  ---------------------------------------------------------------------
    Writing                                                                 */

/*  With append: drop a last line that a crash cut short (no newline), so
    that the next line starts on a line of its own. 0, or -1 (errno).      */
static int
s_drop_torn_tail(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    off_t end = st.st_size;
    char buf[4096];
    while (end > 0) {
        size_t n = end < (off_t) sizeof buf ? (size_t) end : sizeof buf;
        ssize_t got = pread(fd, buf, n, end - (off_t) n);
        if (got != (ssize_t) n)
            return got < 0 ? -1 : (errno = EIO, -1);
        char *nl = memrchr(buf, '\n', n);
        if (nl) {
            end = end - (off_t) n + (nl - buf) + 1;
            break;
        }
        end -= (off_t) n;
    }
    return end < st.st_size ? ftruncate(fd, end) : 0;
}

braid_joblog_t *
braid_joblog_open(const char *path, bool append)
{
    braid_joblog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0666);
    struct stat st;
    if (fd < 0 || (append && s_drop_torn_tail(fd) != 0) || fstat(fd, &st) != 0 ||
        !(self->file = fdopen(fd, "a"))) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        free(self);
        errno = err;
        return NULL;
    }
    if (st.st_size == 0 && (fputs(BRAID_JOBLOG_HEADER "\n", self->file) == EOF ||
                            fflush(self->file) != 0)) {
        int err = errno;
        fclose(self->file);
        free(self);
        errno = err;
        return NULL;
    }
    return self;
}

int
braid_joblog_destroy(braid_joblog_t **self_p)
{
    if (!self_p || !*self_p)
        return 0;
    braid_joblog_t *self = *self_p;
    int err = self->error;
    if (fclose(self->file) != 0 && !err)
        err = errno;
    free(self->counts);
    free(self);
    *self_p = NULL;
    errno = err;
    return err ? -1 : 0;
}

/*  Write size bytes of a query, escaped (joblog.h).                        */
static void
s_put_query(FILE *file, const uint8_t *p, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        uint8_t c = p[i];
        switch (c) {
        case '\\': fputs("\\\\", file); break;
        case '\t': fputs("\\t", file); break;
        case '\n': fputs("\\n", file); break;
        case '\r': fputs("\\r", file); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(file, "\\x%02x", c);
            else
                putc(c, file);
        }
    }
}

/*  Seconds with msec, from msec.                                           */
static void
s_put_seconds(FILE *file, uint64_t msec)
{
    fprintf(file, "%llu.%03llu\t", (unsigned long long) (msec / 1000),
            (unsigned long long) (msec % 1000));
}

/*  Write the line of an END. 0, or -1 (errno).                             */
static int
s_write_end(braid_joblog_t *self, const braid_event_t *ev, uint32_t number, uint64_t bytes)
{
    FILE *f = self->file;
    fprintf(f, "%u\t%s\t", number, ev->worker && *ev->worker ? ev->worker : "-");
    s_put_seconds(f, ev->started_msec);
    s_put_seconds(f, ev->queue_msec);
    s_put_seconds(f, ev->run_msec);
    fprintf(f, "%u\t%llu\t%llu\t%s\t%u\t%s\t", ev->attempts, (unsigned long long) ev->parts,
            (unsigned long long) bytes, braid_end_status_name(ev->status), ev->exit_value,
            ev->source_name);
    s_put_query(f, ev->query_data, ev->query_data ? ev->query_size : 0);
    putc('\n', f);
    return fflush(f) != 0 || ferror(f) ? -1 : 0;
}

int
braid_joblog_event(braid_joblog_t *self, const braid_event_t *ev, uint32_t number)
{
    if (self->error) {
        errno = self->error;
        return -1;
    }
    int rc = 0;
    switch (ev->type) {
    case BRAID_EVENT_PARTIAL:
        rc = s_count_add(self, s_key(ev), ev->size);
        break;
    case BRAID_EVENT_RESTART:
        s_count_take(self, s_key(ev));
        break;
    case BRAID_EVENT_END: {
        uint64_t bytes = s_count_take(self, s_key(ev));
        if (ev->status != BRAID_END_CANCELLED)
            rc = s_write_end(self, ev, number, bytes);
        break;
    }
    default:
        break;
    }
    if (rc != 0)
        self->error = errno ? errno : EIO;
    return rc;
}

void
braid_joblog_next_job(braid_joblog_t *self)
{
    if (self->nslots)
        memset(self->counts, 0, self->nslots * sizeof *self->counts);
    self->used = 0;
}

/*  ---------------------------------------------------------------------
    Reading                                                                 */

/*  The value of hex digit c, or -1.                                        */
static int
s_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*  Undo s_put_query in place; the length in *size_p. 0, or -1 (a bad
    escape).                                                                */
static int
s_unescape(char *text, size_t *size_p)
{
    size_t out = 0;
    for (size_t i = 0; text[i]; i++) {
        char c = text[i];
        if (c != '\\') {
            text[out++] = c;
            continue;
        }
        c = text[++i];
        if (c == '\\' || c == 't' || c == 'n' || c == 'r')
            text[out++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : '\\';
        else if (c == 'x' && s_hex(text[i + 1]) >= 0 && s_hex(text[i + 2]) >= 0) {
            text[out++] = (char) (s_hex(text[i + 1]) * 16 + s_hex(text[i + 2]));
            i += 2;
        } else
            return -1;
    }
    *size_p = out;
    return 0;
}

/*  Parse one line (no newline) into entry; fields point into line. NULL,
    or why it is not a job log line.                                        */
static const char *
s_parse(char *line, braid_joblog_entry_t *entry)
{
    char *field[S_FIELDS];
    size_t n = 0;
    for (char *p = line; p; n++) {
        if (n == S_FIELDS)
            return "not 12 tab-separated fields";
        field[n] = p;
        char *tab = strchr(p, '\t');
        if (tab)
            *tab++ = 0;
        p = tab;
    }
    if (n != S_FIELDS)
        return "not 12 tab-separated fields";
    int status = braid_status_parse(field[8]);
    if (braid_parse_u32(field[0], 0, UINT32_MAX, &entry->seq) != 0)
        return "Seq is not a number";
    if (status < 0)
        return "Status is not ok, failed, timeout or cancelled";
    if (!braid_name_valid(field[10], strlen(field[10])))
        return "Source is not a source name";
    if (s_unescape(field[11], &entry->query_size) != 0)
        return "Query has a bad escape";
    entry->status = (braid_end_status_t) status;
    entry->source = field[10];
    entry->query = field[11];
    return NULL;
}

int
braid_joblog_read(const char *path, braid_joblog_fn *fn, void *arg, char *error,
                  size_t error_size)
{
    FILE *file = fopen(path, "re");
    if (!file) {
        if (errno == ENOENT)
            return 0;
        snprintf(error, error_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    braid_joblog_entry_t entry = {0};
    while (rc == 0 && (len = getline(&line, &cap, file)) >= 0) {
        entry.line++;
        if (len == 0 || line[len - 1] != '\n')
            break;              /* cut short by a crash: never written     */
        line[len - 1] = 0;
        const char *why = NULL;
        if (entry.line == 1)
            why = strcmp(line, BRAID_JOBLOG_HEADER) == 0 ? NULL : "not a braid job log header";
        else if (!(why = s_parse(line, &entry)))
            rc = fn(&entry, arg, error, error_size);
        if (why) {
            snprintf(error, error_size, "%s:%zu: %s", path, entry.line, why);
            rc = -1;
        }
    }
    if (rc == 0 && ferror(file)) {
        snprintf(error, error_size, "%s: %s", path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(file);
    return rc;
}
