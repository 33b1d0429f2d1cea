/*  topo.c - a test network of hosts in Linux network namespaces. See
    topo.h for the contract.                                                */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "topo.h"
#include "jsonl.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/*  The namespaces: one per host, and the bridge's (index BRAID_HOST_COUNT). */
#define S_NS (BRAID_HOST_COUNT + 1)
#define S_BRIDGE BRAID_HOST_COUNT
#define S_NAME_MAX 64
#define S_PATH_MAX 96
#define S_NETNS_DIR "/run/netns"
/*  A command of ours (ip, nft) that takes longer is stuck.                */
#define S_CMD_MSEC 20000
/*  Rounds of "kill what is in the namespaces, look again", 10 ms apart. */
#define S_KILL_ROUNDS 300

static const struct {
    const char *name;
    const char *addr;
} s_hosts[S_NS] = {
    [BRAID_HOST_BROKER] = {"broker", "198.18.0.1"},
    [BRAID_HOST_BROKER2] = {"broker2", "198.18.0.2"},
    [BRAID_HOST_WORKER1] = {"worker1", "198.18.0.11"},
    [BRAID_HOST_WORKER2] = {"worker2", "198.18.0.12"},
    [BRAID_HOST_CLIENT] = {"client", "198.18.0.21"},
    [S_BRIDGE] = {"bridge", NULL},
};

/*  The probe's namespace is a braid-P-* name too, so a sweep finds it.    */
#define S_PROBE_NAME "probe"

struct braid_topo_t {
    char ns[S_NS][S_NAME_MAX];
    char path[S_NS][S_PATH_MAX];
    unsigned long ino[S_NS];
};

/*  The live topology's namespaces, for the atexit and signal handlers:
    plain arrays, each entry marked valid only once written in full, so
    that a handler reads nothing half-made.                                */
static braid_topo_t *s_live;
static char s_reg_path[S_NS][S_PATH_MAX];
static volatile sig_atomic_t s_reg_path_valid[S_NS];
static volatile unsigned long s_reg_ino[S_NS];
/*  The process that registered them: a forked child that exits must not
    remove its parent's namespaces.                                        */
static volatile pid_t s_reg_owner;
static bool s_handlers_installed;

/*  --------------------------------------------------------------------
    Hosts                                                                   */

const char *
braid_host_name(braid_host_t host)
{
    return host >= 0 && host < BRAID_HOST_COUNT ? s_hosts[host].name : "?";
}

const char *
braid_host_addr(braid_host_t host)
{
    return host >= 0 && host < BRAID_HOST_COUNT ? s_hosts[host].addr : "0.0.0.0";
}

char *
braid_host_endpoint(braid_host_t host, int port, char *buf, size_t size)
{
    snprintf(buf, size, "tcp://%s:%d", braid_host_addr(host), port);
    return buf;
}

/*  --------------------------------------------------------------------
    Async-signal-safe cleanup: no malloc, no stdio.                         */

struct s_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/*  Digits of a non-negative number into buf (NUL-terminated). Length.    */
static size_t
s_utoa(unsigned long value, char *buf)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char) ('0' + value % 10);
        value /= 10;
    } while (value && n < sizeof tmp);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    buf[n] = '\0';
    return n;
}

/*  The inode of pid's network namespace, 0 if unknown (gone, a zombie). */
static unsigned long
s_pid_netns(const char *pid)
{
    char path[64] = "/proc/";
    size_t len = strlen(path);
    size_t pid_len = strlen(pid);
    if (pid_len > 20)
        return 0;
    memcpy(path + len, pid, pid_len);
    memcpy(path + len + pid_len, "/ns/net", 8);
    char link[64];
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0)
        return 0;
    link[n] = '\0';
    /*  "net:[4026532177]"                                                */
    if (strncmp(link, "net:[", 5) != 0)
        return 0;
    unsigned long ino = 0;
    for (const char *c = link + 5; *c >= '0' && *c <= '9'; c++)
        ino = ino * 10 + (unsigned long) (*c - '0');
    return ino;
}

/*  SIGKILL every process (but this one) whose network namespace is one of
    inos[0..n) (0 entries are skipped). Returns how many were found.       */
static int
s_kill_in(const unsigned long *inos, int n)
{
    int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char self[24];
    s_utoa((unsigned long) getpid(), self);
    int found = 0;
    char buf[8192];
    for (;;) {
        long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (got <= 0)
            break;
        for (long off = 0; off < got;) {
            struct s_dirent64 *d = (struct s_dirent64 *) (buf + off);
            off += d->d_reclen;
            const char *name = d->d_name;
            if (name[0] < '1' || name[0] > '9' || strcmp(name, self) == 0)
                continue;
            bool digits = true;
            for (const char *c = name; *c; c++)
                digits = digits && *c >= '0' && *c <= '9';
            if (!digits)
                continue;
            unsigned long ino = s_pid_netns(name);
            for (int i = 0; ino && i < n; i++)
                if (inos[i] && inos[i] == ino) {
                    long pid = 0;
                    for (const char *c = name; *c; c++)
                        pid = pid * 10 + (*c - '0');
                    kill((pid_t) pid, SIGKILL);
                    found++;
                    break;
                }
        }
    }
    close(fd);
    return found;
}

/*  Kill until nothing is left in the namespaces, within a bound.          */
static void
s_kill_all_in(const unsigned long *inos, int n)
{
    for (int round = 0; round < S_KILL_ROUNDS && s_kill_in(inos, n) > 0; round++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/*  What `ip netns del` does: detach the bind mount, remove the file.      */
static void
s_ns_remove(const char *path)
{
    umount2(path, MNT_DETACH);
    unlink(path);
}

/*  Remove the registered namespaces (the live topology's).                */
static void
s_cleanup_registered(void)
{
    if (s_reg_owner != getpid())
        return;
    unsigned long inos[S_NS];
    for (int i = 0; i < S_NS; i++)
        inos[i] = s_reg_ino[i];
    s_kill_all_in(inos, S_NS);
    for (int i = 0; i < S_NS; i++)
        if (s_reg_path_valid[i]) {
            s_ns_remove(s_reg_path[i]);
            s_reg_path_valid[i] = 0;
        }
    for (int i = 0; i < S_NS; i++)
        s_reg_ino[i] = 0;
}

static void
s_atexit(void)
{
    s_cleanup_registered();
}

static void
s_on_signal(int sig)
{
    int saved = errno;
    s_cleanup_registered();
    errno = saved;
    /*  SA_RESETHAND: the default action now; it is delivered once the
        handler returns.                                                   */
    raise(sig);
}

static void
s_install_handlers(void)
{
    if (s_handlers_installed)
        return;
    s_handlers_installed = true;
    atexit(s_atexit);
    static const int signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = s_on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(signals[i], &sa, NULL);
    }
}

/*  --------------------------------------------------------------------
    Commands                                                                */

/*  The path of a system tool: PATH first, then the sbin directories a
    non-login root shell may lack. Static; NULL if not found.              */
static const char *
s_tool(const char *name)
{
    static char found[4][128];
    static const char *names[4] = {"ip", "nft", NULL, NULL};
    int slot = -1;
    for (int i = 0; i < 4 && names[i]; i++)
        if (strcmp(names[i], name) == 0)
            slot = i;
    if (slot < 0)
        return NULL;
    if (found[slot][0])
        return found[slot];
    const char *path = getenv("PATH");
    char dirs[1024];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin:/usr/bin:/bin", path ? path : "");
    char *save = NULL;
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char candidate[sizeof found[0]];
        if (snprintf(candidate, sizeof candidate, "%s/%s", dir, name) >= (int) sizeof candidate)
            continue;
        if (access(candidate, X_OK) == 0) {
            snprintf(found[slot], sizeof found[slot], "%s", candidate);
            return found[slot];
        }
    }
    return NULL;
}

const char *
braid_topo_tool(const char *name)
{
    return s_tool(name);
}

/*  Run argv to its end (in the calling thread's namespace). 0 when it
    exits 0; else -1, and unless quiet the command and its stderr are
    printed. Its stdout in *out_p (owned) if out_p is not NULL.            */
static int
s_run(const char *const argv[], bool quiet, char **out_p)
{
    if (out_p)
        *out_p = NULL;
    braid_proc_t *proc = braid_proc_spawn(NULL, argv[0], argv, NULL);
    if (!proc) {
        if (!quiet)
            fprintf(stderr, "topo: cannot run %s\n", argv[0]);
        return -1;
    }
    int code = -1;
    int rc = braid_proc_finish(proc, S_CMD_MSEC, &code) == 0 && code == 0 ? 0 : -1;
    if (rc != 0 && !quiet) {
        fprintf(stderr, "topo: command failed (exit %d):", code);
        for (int i = 0; argv[i]; i++)
            fprintf(stderr, " %s", argv[i]);
        fprintf(stderr, "\n");
        braid_proc_dump(proc, 2000);
    }
    if (rc == 0 && out_p)
        *out_p = braid_proc_output(proc, BRAID_STDOUT, NULL);
    braid_proc_destroy(&proc);
    return rc;
}

/*  `ip ARGS...` where args is one string of words separated by single
    spaces (no word holds a space). 0 / -1 (reported unless quiet).        */
static int
s_ip(bool quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
s_ip(bool quiet, const char *fmt, ...)
{
    const char *ip = s_tool("ip");
    if (!ip) {
        if (!quiet)
            fprintf(stderr, "topo: ip (iproute2) not found\n");
        return -1;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    const char *argv[32];
    int argc = 0;
    argv[argc++] = ip;
    char *save = NULL;
    for (char *word = strtok_r(line, " ", &save); word && argc < 31;
         word = strtok_r(NULL, " ", &save))
        argv[argc++] = word;
    argv[argc] = NULL;
    return s_run(argv, quiet, NULL);
}

/*  --------------------------------------------------------------------
    Namespaces                                                              */

/*  Enter the namespace at path with the calling thread. The thread's own
    namespace as an fd for s_leave(), or -1 (nothing changed).             */
static int
s_enter(const char *path)
{
    int self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (self_fd < 0 || fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "topo: cannot enter %s: %s\n", path, strerror(errno));
        if (self_fd >= 0)
            close(self_fd);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return self_fd;
}

/*  Back to the thread's own namespace. A thread left in a test host would
    spawn the next process there: that cannot go on.                       */
static void
s_leave(int self_fd)
{
    if (setns(self_fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "topo: cannot return to the test's namespace: %s\n", strerror(errno));
        abort();
    }
    close(self_fd);
}

static bool
s_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, text, strlen(text)) == (ssize_t) strlen(text);
    close(fd);
    return ok;
}

/*  /proc/PID/stat: state and start time in clock ticks after boot. 0 / -1. */
static int
s_proc_start(long pid, char *state_p, unsigned long long *start_p)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /*  Fields after ')': 3 state, 4 ppid, ... 22 starttime.               */
    char *save = NULL;
    char *tok = strtok_r(p + 1, " ", &save);
    for (int field = 3; tok; field++, tok = strtok_r(NULL, " ", &save)) {
        if (field == 3)
            *state_p = tok[0];
        if (field == 22) {
            *start_p = strtoull(tok, NULL, 10);
            return 0;
        }
    }
    return -1;
}

static long long
s_boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return -1;
    char line[256];
    long long btime = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    return btime;
}

/*  Is "braid-PID-SUFFIX" a name of ours? Its PID in *pid_p.               */
static bool
s_our_name(const char *name, long *pid_p)
{
    if (strncmp(name, "braid-", 6) != 0)
        return false;
    char *end;
    long pid = strtol(name + 6, &end, 10);
    if (end == name + 6 || *end != '-' || pid <= 0)
        return false;
    const char *suffix = end + 1;
    bool known = strcmp(suffix, S_PROBE_NAME) == 0;
    for (int i = 0; i < S_NS && !known; i++)
        known = strcmp(suffix, s_hosts[i].name) == 0;
    *pid_p = pid;
    return known;
}

/*  Is the namespace file (made at mtime) of a live owner, pid?            */
static bool
s_owner_alive(long pid, time_t mtime, const char *name)
{
    if (pid == (long) getpid()) {
        /*  Ours: only the live topology's names are in use.               */
        for (int i = 0; s_live && i < S_NS; i++)
            if (strcmp(s_live->ns[i], name) == 0)
                return true;
        return false;
    }
    char state = 0;
    unsigned long long start_ticks = 0;
    if (s_proc_start(pid, &state, &start_ticks) != 0 || state == 'Z' || state == 'X')
        return false;
    long long btime = s_boot_time();
    long ticks = sysconf(_SC_CLK_TCK);
    if (btime < 0 || ticks <= 0)
        return true; /* cannot tell: leave it */
    long long started = btime + (long long) (start_ticks / (unsigned long long) ticks);
    /*  A process that started after the namespace was made is not the one
        that made it (the pid was reused). Boot time has a 1 s grain.      */
    return started <= (long long) mtime + 2;
}

int
braid_topo_sweep(void)
{
    DIR *dir = opendir(S_NETNS_DIR);
    if (!dir)
        return 0;
    char stale[64][S_NAME_MAX];
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL && count < 64) {
        long pid;
        if (!s_our_name(entry->d_name, &pid) || strlen(entry->d_name) >= S_NAME_MAX)
            continue;
        char path[S_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", S_NETNS_DIR, entry->d_name) >= (int) sizeof path)
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        /*  (The length was checked above.)                                */
        if (!s_owner_alive(pid, st.st_mtime, entry->d_name)
            && snprintf(stale[count], S_NAME_MAX, "%s", entry->d_name) < S_NAME_MAX)
            count++;
    }
    closedir(dir);
    for (int i = 0; i < count; i++) {
        char path[S_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", S_NETNS_DIR, stale[i]) >= (int) sizeof path)
            continue;
        struct stat st;
        /*  A name left without its mount (a half-made namespace) is only
            a file: nothing to kill.                                       */
        if (stat(path, &st) == 0 && (unsigned long) st.st_ino > 0) {
            unsigned long ino = (unsigned long) st.st_ino;
            s_kill_all_in(&ino, 1);
        }
        s_ns_remove(path);
        fprintf(stderr, "topo: removed stale namespace %s\n", stale[i]);
    }
    return count;
}

int
braid_topo_probe(char *why, size_t why_size)
{
    static int result = 1; /* 1: not tried yet */
    static char reason[256];
    if (result == 1) {
        if (geteuid() != 0)
            snprintf(reason, sizeof reason, "not root");
        else if (!s_tool("ip"))
            snprintf(reason, sizeof reason, "ip (iproute2) not found");
        else {
            char name[S_NAME_MAX], path[S_PATH_MAX];
            snprintf(name, sizeof name, "braid-%d-%s", (int) getpid(), S_PROBE_NAME);
            snprintf(path, sizeof path, "%s/%s", S_NETNS_DIR, name);
            if (s_ip(true, "netns add %s", name) != 0)
                snprintf(reason, sizeof reason, "cannot create a network namespace");
            else {
                s_ns_remove(path);
                result = 0;
            }
        }
        if (result != 0)
            result = -1;
    }
    if (result != 0 && why)
        snprintf(why, why_size, "%s", reason);
    return result;
}

static int
s_setup_ns(braid_topo_t *self, int i)
{
    /*  Registered before it exists, so a signal meanwhile removes it.    */
    snprintf(s_reg_path[i], S_PATH_MAX, "%s", self->path[i]);
    s_reg_path_valid[i] = 1;
    if (s_ip(false, "netns add %s", self->ns[i]) != 0)
        return -1;
    struct stat st;
    if (stat(self->path[i], &st) != 0)
        return -1;
    self->ino[i] = (unsigned long) st.st_ino;
    s_reg_ino[i] = self->ino[i];
    /*  IPv6 off: no router or neighbour solicitations on the wires, only
        the tests' own traffic. Best effort.                              */
    int saved = s_enter(self->path[i]);
    if (saved < 0)
        return -1;
    s_write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    s_write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    s_leave(saved);
    return s_ip(false, "-n %s link set lo up", self->ns[i]);
}

braid_topo_t *
braid_topo_new(void)
{
    if (s_live) {
        fprintf(stderr, "topo: one topology per process at a time\n");
        return NULL;
    }
    char why[256];
    if (braid_topo_probe(why, sizeof why) != 0) {
        fprintf(stderr, "topo: cannot make a topology: %s\n", why);
        return NULL;
    }
    braid_topo_sweep();
    braid_topo_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    for (int i = 0; i < S_NS; i++) {
        snprintf(self->ns[i], S_NAME_MAX, "braid-%d-%s", (int) getpid(), s_hosts[i].name);
        snprintf(self->path[i], S_PATH_MAX, "%s/%s", S_NETNS_DIR, self->ns[i]);
    }
    s_install_handlers();
    s_live = self;
    s_reg_owner = getpid();
    const char *br = self->ns[S_BRIDGE];
    int rc = 0;
    for (int i = 0; i < S_NS && rc == 0; i++)
        rc = s_setup_ns(self, i);
    /*  No STP: a port forwards as soon as it is up.                        */
    if (rc == 0)
        rc = s_ip(false, "-n %s link add br0 type bridge forward_delay 0 stp_state 0", br);
    if (rc == 0)
        rc = s_ip(false, "-n %s link set br0 up", br);
    for (int i = 0; i < BRAID_HOST_COUNT && rc == 0; i++) {
        const char *ns = self->ns[i];
        const char *name = s_hosts[i].name;
        rc = s_ip(false, "-n %s link add v-%s type veth peer name eth0 netns %s", br, name, ns);
        if (rc == 0)
            rc = s_ip(false, "-n %s link set v-%s master br0 up", br, name);
        if (rc == 0)
            rc = s_ip(false, "-n %s addr add %s/24 dev eth0", ns, s_hosts[i].addr);
        if (rc == 0)
            rc = s_ip(false, "-n %s link set eth0 up", ns);
    }
    if (rc != 0) {
        fprintf(stderr, "topo: cannot make the topology\n");
        braid_topo_destroy(&self);
    }
    return self;
}

void
braid_topo_destroy(braid_topo_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    braid_topo_t *self = *self_p;
    if (s_live == self) {
        s_cleanup_registered();
        s_live = NULL;
    }
    free(self);
    *self_p = NULL;
}

const char *
braid_topo_ns(braid_topo_t *self, braid_host_t host)
{
    return host >= 0 && host < S_NS ? self->ns[host] : "?";
}

unsigned long
braid_topo_ns_ino(braid_topo_t *self, braid_host_t host)
{
    return host >= 0 && host < S_NS ? self->ino[host] : 0;
}

bool
braid_topo_ns_exists(int pid)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "braid-%d-", pid ? pid : (int) getpid());
    DIR *dir = opendir(S_NETNS_DIR);
    if (!dir)
        return false;
    bool found = false;
    struct dirent *entry;
    while (!found && (entry = readdir(dir)) != NULL)
        found = strncmp(entry->d_name, prefix, strlen(prefix)) == 0;
    closedir(dir);
    return found;
}

unsigned long
braid_pid_netns(pid_t pid)
{
    char text[24];
    s_utoa((unsigned long) pid, text);
    return s_pid_netns(text);
}

int
braid_topo_ns_procs(unsigned long ino)
{
    DIR *dir = opendir("/proc");
    if (!dir)
        return 0;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] >= '1' && entry->d_name[0] <= '9' && s_pid_netns(entry->d_name) == ino)
            count++;
    closedir(dir);
    return count;
}

/*  --------------------------------------------------------------------
    On a host                                                               */

int
braid_topo_call(braid_topo_t *self, braid_host_t host, int (*fn)(void *), void *arg)
{
    if (host < 0 || host >= BRAID_HOST_COUNT)
        return -1;
    int saved = s_enter(self->path[host]);
    if (saved < 0)
        return -1;
    int rc = fn(arg);
    int saved_errno = errno;
    s_leave(saved);
    errno = saved_errno;
    return rc;
}

typedef struct {
    const char *dir;
    const char *name;
    const char *const *argv;
    const char *stdin_path;
    braid_proc_t *proc;
} s_spawn_t;

static int
s_spawn_fn(void *arg)
{
    s_spawn_t *s = arg;
    s->proc = braid_proc_spawn(s->dir, s->name, s->argv, s->stdin_path);
    return s->proc ? 0 : -1;
}

braid_proc_t *
braid_topo_spawn(braid_topo_t *self, braid_host_t host, const char *dir, const char *name,
                 const char *const argv[], const char *stdin_path)
{
    s_spawn_t s = {dir, name, argv, stdin_path, NULL};
    braid_topo_call(self, host, s_spawn_fn, &s);
    return s.proc;
}

typedef struct {
    int type;
    int fd;
} s_socket_t;

static int
s_socket_fn(void *arg)
{
    s_socket_t *s = arg;
    s->fd = socket(AF_INET, s->type | SOCK_CLOEXEC, 0);
    return s->fd >= 0 ? 0 : -1;
}

int
braid_topo_socket(braid_topo_t *self, braid_host_t host, int type)
{
    s_socket_t s = {type, -1};
    braid_topo_call(self, host, s_socket_fn, &s);
    return s.fd;
}

static int
s_sockaddr(const char *addr, int port, struct sockaddr_in *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t) port);
    return inet_pton(AF_INET, addr, &sa->sin_addr) == 1 ? 0 : -1;
}

int
braid_topo_listen(braid_topo_t *self, braid_host_t host, int port, int *port_p)
{
    int fd = braid_topo_socket(self, host, SOCK_STREAM);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    if (s_sockaddr(braid_host_addr(host), port, &sa) != 0
        || bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0 || listen(fd, 64) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &len) != 0) {
        close(fd);
        return -1;
    }
    if (port_p)
        *port_p = ntohs(sa.sin_port);
    return fd;
}

int
braid_topo_connect(braid_topo_t *self, braid_host_t from, const char *addr, int port,
                   int timeout_msec)
{
    struct sockaddr_in sa;
    if (s_sockaddr(addr, port, &sa) != 0) {
        errno = EINVAL;
        return -1;
    }
    int fd = braid_topo_socket(self, from, SOCK_STREAM | SOCK_NONBLOCK);
    if (fd < 0)
        return -1;
    int rc = connect(fd, (struct sockaddr *) &sa, sizeof sa);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int n;
        int64_t deadline = braid_now_msec() + timeout_msec;
        while ((n = poll(&pfd, 1, (int) (deadline - braid_now_msec()))) < 0 && errno == EINTR
               && braid_now_msec() < deadline)
            ;
        if (n == 0) {
            close(fd);
            errno = ETIMEDOUT;
            return -1;
        }
        int err = 0;
        socklen_t len = sizeof err;
        if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno ? errno : EIO;
        rc = err ? -1 : 0;
        errno = err;
    }
    if (rc != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

int
braid_topo_link(braid_topo_t *self, braid_host_t host, bool up)
{
    if (host < 0 || host >= BRAID_HOST_COUNT)
        return -1;
    return s_ip(false, "-n %s link set v-%s %s", self->ns[S_BRIDGE], s_hosts[host].name,
                up ? "up" : "down");
}

/*  --------------------------------------------------------------------
    Loss                                                                    */

typedef struct {
    const char *const *argv;
    char *out;
    bool quiet;
} s_cmd_t;

static int
s_cmd_fn(void *arg)
{
    s_cmd_t *c = arg;
    return s_run(c->argv, c->quiet, &c->out);
}

int
braid_topo_loss(braid_topo_t *self, braid_host_t host, int percent)
{
    const char *nft = s_tool("nft");
    if (!nft) {
        fprintf(stderr, "topo: nft not found (scripts/install-deps installs nftables)\n");
        return -1;
    }
    if (host < 0 || host >= BRAID_HOST_COUNT || percent < 0 || percent > 100)
        return -1;
    /*  One transaction: make sure the table exists, drop it (rules and
        counter), then build it again. numgen random mod 1000 < 10 P drops
        P percent.                                                          */
    char script[2048];
    int len = snprintf(script, sizeof script,
                       "add table ip braid_loss; delete table ip braid_loss;");
    if (percent > 0)
        snprintf(script + len, sizeof script - (size_t) len,
                 " add table ip braid_loss;"
                 " add counter ip braid_loss dropped;"
                 " add chain ip braid_loss in"
                 " { type filter hook input priority 0; policy accept; };"
                 " add chain ip braid_loss out"
                 " { type filter hook output priority 0; policy accept; };"
                 " add rule ip braid_loss in iifname \"eth0\" numgen random mod 1000 < %d"
                 " counter name \"dropped\" drop;"
                 " add rule ip braid_loss out oifname \"eth0\" numgen random mod 1000 < %d"
                 " counter name \"dropped\" drop",
                 percent * 10, percent * 10);
    const char *argv[] = {nft, script, NULL};
    s_cmd_t c = {argv, NULL, false};
    int rc = braid_topo_call(self, host, s_cmd_fn, &c);
    free(c.out);
    return rc;
}

long long
braid_topo_loss_dropped(braid_topo_t *self, braid_host_t host)
{
    const char *nft = s_tool("nft");
    if (!nft)
        return -1;
    const char *argv[] = {nft, "-j", "list", "counter", "ip", "braid_loss", "dropped", NULL};
    s_cmd_t c = {argv, NULL, true};
    if (braid_topo_call(self, host, s_cmd_fn, &c) != 0 || !c.out) {
        free(c.out);
        return -1;
    }
    /*  {"nftables": [{"metainfo": {...}}, {"counter": {..., "packets": N, ...}}]} */
    long long packets = -1;
    json_t *json = braid_json_parse(c.out, strlen(c.out));
    json_t *list = json_object_get(json, "nftables");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *counter = json_object_get(json_array_get(list, i), "counter");
        if (counter && json_unpack(counter, "{s:I}", "packets", &packets) != 0)
            packets = -1;
    }
    json_decref(json);
    free(c.out);
    return packets;
}
