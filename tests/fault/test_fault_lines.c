/*  test_fault_lines.c - lines batched into parts frames keep every
    guarantee (issue 10), and a message too long is dropped and counted
    (issue 9).

    - resume: one worker streams a 20,000-line exec task in bursts of 500
      lines (so many lines travel per DATA); once the client has printed
      part of it, the worker is killed with SIGKILL and a second one
      starts. The task runs again with on_retry resume (the default): the
      new attempt skips exactly the lines the client already has, so
      `braid submit` prints what the sequential run prints, byte for byte.
    - json: `--json` prints one partial object per line of a 5,000-line
      task, seqs 0..4999 in order, each with its own line as data.
    - frames: a message of 100,000 empty frames and a DATA whose parts
      frame claims more partials than a message may hold go to the sink;
      a QUERIES frame over the frontend's ZMQ_MAXMSGSIZE to the frontend.
      The first two are counted under `frames`, the broker keeps serving
      (a job after them prints the sequential run's output), and its RSS
      after them is printed.
*/

#include "fault.h"

#include "braid_msg.h"
#include "braid_parts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LINES 20000
#define S_BURST 500

/*  The bursts: seq from $0*... in S_BURST lines, 20 ms apart, so the task
    streams for about a second and many lines go in each DATA.             */
static const char s_script[] =
    "#!/bin/sh\n"
    "n=$1; b=0\n"
    "while [ $((b * " "500" ")) -lt $n ]; do\n"
    "    seq $((b * 500 + 1)) $((b * 500 + 500))\n"
    "    b=$((b + 1))\n"
    "    sleep 0.02\n"
    "done\n";

static const braid_fixture_def_t s_resume_def = {
    .name = "braid-fault-lines",
    .workers = 1,
    .slots = 1,
    .script_name = "bursts.sh",
    .script_text = s_script,
    .specs = {"bursts=exec:'%s' {query}", "seq=exec:seq 1 {query}"},
};

static const braid_fixture_def_t s_plain_def = {
    .name = "braid-fault-lines",
    .workers = 1,
    .slots = 2,
    .specs = {"seq=exec:seq 1 {query}"},
};

/*  "1\n2\n...n\n", owned; its length in *len.                              */
static char *
s_seq_text(int n, size_t *len)
{
    size_t cap = (size_t) n * 8 + 1, used = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (int i = 1; i <= n; i++)
        used += (size_t) snprintf(text + used, cap - used, "%d\n", i);
    *len = used;
    return text;
}

static void
test_resume_after_kill9(void **state)
{
    braid_fixture_t *f = *state;
    char query[16];
    snprintf(query, sizeof query, "%d", S_LINES);
    const char *args[] = {"-s", "bursts", query, NULL};
    size_t want_len;
    char *want = s_seq_text(S_LINES, &want_len);

    braid_proc_t *client = braid_cluster_submit(f->cluster, "client", args, NULL);
    assert_non_null(client);
    /*  A fifth of the lines printed: the task is mid-stream.             */
    if (braid_proc_wait_bytes(client, BRAID_STDOUT, want_len / 5, 20000) != 0) {
        braid_proc_dump(client, 2000);
        braid_cluster_dump(f->cluster);
        braid_proc_destroy(&client);
        fail_msg("client printed less than %zu bytes within 20 s", want_len / 5);
    }
    braid_proc_t *victim = f->cluster->workers[0];
    assert_int_equal(braid_proc_signal(victim, SIGKILL), 0);
    int code = -1;
    assert_int_equal(braid_proc_wait_exit(victim, 5000, &code), 0);
    fault_drop_worker(f->cluster, victim);
    char spec[512];
    snprintf(spec, sizeof spec, "bursts=exec:'%s' {query}", f->script);
    const char *specs[] = {spec, NULL};
    assert_int_equal(braid_cluster_add_worker(f->cluster, "w9", 1, NULL, specs), 0);

    if (braid_cluster_finish(f->cluster, &client, 60000, 0, &code) != 0)
        fail_msg("client not done within 60 s");
    size_t got_len = 0;
    char *got = braid_proc_output(client, BRAID_STDOUT, &got_len);
    assert_int_equal(code, 0);
    /*  Nothing lost, nothing printed twice: whole lines skipped.          */
    assert_int_equal(braid_compare("resumed lines", got, got_len, want, want_len), 0);
    char *text = NULL;
    json_t *stats = fault_stats(f->cluster, &text);
    assert_non_null(stats);
    print_message("stats: %s\n", text);
    assert_true(fault_stat(stats, NULL, "tasks_dispatched") >= 2);  /* ran again */
    json_decref(stats);
    free(text);
    free(got);
    free(want);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

static void
test_json_one_object_per_line(void **state)
{
    braid_fixture_t *f = *state;
    const int n = 5000;
    const char *args[] = {"--json", "-s", "seq", "5000", NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    assert_int_equal(braid_cluster_run(f->cluster, "json", args, 30000, 0, &client, &code), 0);
    assert_int_equal(code, 0);
    size_t len = 0;
    char *out = braid_proc_output(client, BRAID_STDOUT, &len);
    int partials = 0, ends = 0, jobs = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *obj = braid_json_parse(line, strlen(line));
        if (!obj)
            fail_msg("not one JSON object: %s", line);
        const char *type = json_string_value(json_object_get(obj, "type"));
        assert_non_null(type);
        if (strcmp(type, "partial") == 0) {
            char want[16];
            snprintf(want, sizeof want, "%d\n", partials + 1);
            assert_int_equal(json_integer_value(json_object_get(obj, "seq")), partials);
            assert_string_equal(json_string_value(json_object_get(obj, "data")), want);
            partials++;
        } else if (strcmp(type, "end") == 0) {
            assert_int_equal(json_integer_value(json_object_get(obj, "parts")), n);
            ends++;
        } else if (strcmp(type, "job") == 0)
            jobs++;
        json_decref(obj);
    }
    assert_int_equal(partials, n);
    assert_int_equal(ends, 1);
    assert_int_equal(jobs, 1);
    free(out);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

/*  A DATA (its header valid) with a parts frame that claims count entries
    of one byte but holds them: within ZMQ_MAXMSGSIZE, over the bound.     */
static void
s_send_overfull(zsock_t *push, size_t count)
{
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_DATA);
    m.task_id = 0x4242000001ull;
    m.attempts = 1;
    braid_parts_t *parts = braid_parts_new();
    assert_non_null(parts);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(braid_parts_add(parts, "x", 1), 0);
    zmsg_t *payload = zmsg_new();
    zframe_t *frame = braid_parts_frame(parts, count);
    assert_non_null(frame);
    zmsg_append(payload, &frame);
    braid_parts_destroy(&parts);
    assert_int_equal(braid_msg_send(push, NULL, &m, &payload, false), 0);
}

typedef struct {
    long long want;
} s_frames_t;

static bool
s_frames_reached(json_t *stats, void *arg)
{
    s_frames_t *w = arg;
    return fault_stat(stats, "dropped", "frames") >= w->want;
}

static void
test_too_many_frames_dropped(void **state)
{
    braid_fixture_t *f = *state;
    json_t *before = fault_stats(f->cluster, NULL);
    assert_non_null(before);
    long long frames_before = fault_stat(before, "dropped", "frames");
    json_decref(before);
    pid_t broker = braid_proc_pid(f->cluster->broker);
    long long rss_before = fault_rss_bytes(broker);

    zsock_t *push = zsock_new_push(f->cluster->sink);
    assert_non_null(push);
    zsock_set_sndtimeo(push, 10000);
    /*  100,000 empty frames after a valid DATA header.                    */
    braid_msg_t m;
    braid_msg_init(&m, BRAID_MSG_DATA);
    m.task_id = 0x4242000002ull;
    m.attempts = 1;
    uint8_t hdr[BRAID_MAX_HEADER];
    size_t len = braid_msg_encode_buf(&m, hdr, sizeof hdr);
    void *h = zsock_resolve(push);
    assert_int_equal(zmq_send(h, hdr, len, ZMQ_SNDMORE), (int) len);
    for (int i = 0; i < 100000; i++)
        assert_int_equal(zmq_send(h, "", 0, i + 1 < 100000 ? ZMQ_SNDMORE : 0), 0);
    /*  A parts frame of more partials than a message may hold.           */
    s_send_overfull(push, BRAID_MAX_PARTS + 1);

    /*  A QUERIES frame over the frontend's ZMQ_MAXMSGSIZE: libzmq drops
        that connection; nobody else notices.                               */
    zsock_t *dealer = zsock_new_dealer(f->cluster->frontend);
    assert_non_null(dealer);
    braid_msg_init(&m, BRAID_MSG_QUERIES);
    memset(m.job_id, 0x5a, sizeof m.job_id);
    len = braid_msg_encode_buf(&m, hdr, sizeof hdr);
    size_t big = BRAID_MAX_QUERIES_FRAME + 1;
    char *junk = calloc(1, big);
    assert_non_null(junk);
    h = zsock_resolve(dealer);
    assert_int_equal(zmq_send(h, hdr, len, ZMQ_SNDMORE), (int) len);
    assert_int_equal(zmq_send(h, junk, big, 0), (int) big);
    free(junk);

    s_frames_t want = {frames_before + 2};
    char *text = NULL;
    int rc = fault_wait_stats(f->cluster, s_frames_reached, &want, 20000, &text);
    print_message("stats: %s\n", text ? text : "(none)");
    free(text);
    long long rss_after = fault_rss_bytes(broker);
    print_message("broker rss before %lld kB, after %lld kB\n", rss_before / 1024,
                  rss_after / 1024);
    assert_int_equal(rc, 0);
    zsock_destroy(&dealer);
    zsock_destroy(&push);

    /*  The broker keeps serving.                                           */
    const char *args[] = {"-s", "seq", "300", "7", NULL};
    braid_proc_t *client = NULL;
    int code = -1;
    assert_int_equal(braid_cluster_run(f->cluster, "after", args, 30000, 0, &client, &code), 0);
    assert_int_equal(code, 0);
    size_t a_len, b_len, got_len;
    char *a = s_seq_text(300, &a_len), *b = s_seq_text(7, &b_len);
    char *want_out = malloc(a_len + b_len);
    assert_non_null(want_out);
    memcpy(want_out, a, a_len);
    memcpy(want_out + a_len, b, b_len);
    char *got = braid_proc_output(client, BRAID_STDOUT, &got_len);
    assert_int_equal(braid_compare("after", got, got_len, want_out, a_len + b_len), 0);
    free(got);
    free(want_out);
    free(a);
    free(b);
    braid_proc_destroy(&client);
    assert_int_equal(braid_cluster_stop(f->cluster), 0);
}

int
main(void)
{
    braid_harness_init();
    const struct CMUnitTest tests[] = {
        FAULT_FIXTURE_TEST(test_resume_after_kill9, s_resume_def),
        FAULT_FIXTURE_TEST(test_json_one_object_per_line, s_plain_def),
        FAULT_FIXTURE_TEST(test_too_many_frames_dropped, s_plain_def),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
