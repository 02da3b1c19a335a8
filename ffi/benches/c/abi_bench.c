/* abi_bench.c: the C half of the ABI benchmark (ffi/benches/abi.rs runs it and the same
 * workload through the Rust API, and prints both). For each workload it prints one line,
 * "name ns_per_event ns_per_event ...", one figure per repetition ("call" is ns per call of
 * annal_reader_position: the cost of the boundary itself).
 * Usage: abi_bench DIR EVENTS EVENT_BYTES BATCH REPETITIONS */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "annal.h"

static void check(annal_status status, const char *call) {
    if (status != ANNAL_STATUS_OK) {
        char message[512] = {0};
        size_t length = 0;
        annal_last_error_message(message, sizeof message, &length);
        fprintf(stderr, "%s: %s: %s\n", call, annal_status_name(status), message);
        exit(1);
    }
}
#define CHECK(call) check((call), #call)

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static annal_log *open_fresh(const char *base, const char *name, int repetition) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/c-%s-%d", base, name, repetition);
    annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    annal_log *log = NULL;
    CHECK(annal_log_open(dir, &options, &log));
    return log;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s DIR EVENTS EVENT_BYTES BATCH REPETITIONS\n", argv[0]);
        return 2;
    }
    const char *base = argv[1];
    size_t events = strtoull(argv[2], NULL, 10);
    size_t event_bytes = strtoull(argv[3], NULL, 10);
    size_t batch = strtoull(argv[4], NULL, 10);
    int repetitions = atoi(argv[5]);
    uint8_t *payload = malloc(event_bytes);
    memset(payload, 'e', event_bytes);
    annal_bytes *slices = malloc(batch * sizeof *slices);
    annal_event_view *views = malloc(batch * sizeof *views);
    for (size_t i = 0; i < batch; i++) {
        slices[i].ptr = payload;
        slices[i].len = event_bytes;
    }
    double *append = malloc(repetitions * sizeof *append);
    double *append_batch = malloc(repetitions * sizeof *append_batch);
    double *read = malloc(repetitions * sizeof *read);
    double *read_batch = malloc(repetitions * sizeof *read_batch);
    double *call = malloc(repetitions * sizeof *call);
    for (int r = 0; r < repetitions; r++) {
        annal_log *log = open_fresh(base, "append", r);
        double start = now_ns();
        for (size_t i = 0; i < events; i++) {
            CHECK(annal_log_append(log, payload, event_bytes, ANNAL_DURABILITY_WRITTEN, NULL));
        }
        append[r] = (now_ns() - start) / (double)events;

        /* Reads of what was just appended: one event per call, then batches. */
        annal_reader *reader = NULL;
        size_t bytes = 0;
        start = now_ns();
        CHECK(annal_log_read_from(log, 0, ANNAL_VISIBILITY_WRITTEN, &reader));
        annal_event_view view;
        while (annal_reader_next(reader, &view) == ANNAL_STATUS_OK) {
            bytes += view.payload_len;
        }
        read[r] = (now_ns() - start) / (double)events;
        CHECK(annal_reader_free(reader));
        start = now_ns();
        CHECK(annal_log_read_from(log, 0, ANNAL_VISIBILITY_WRITTEN, &reader));
        size_t count = 0;
        while (annal_reader_next_batch(reader, views, batch, &count) == ANNAL_STATUS_OK) {
            for (size_t i = 0; i < count; i++) {
                bytes += views[i].payload_len;
            }
        }
        read_batch[r] = (now_ns() - start) / (double)events;
        /* The boundary alone: a call that does almost nothing behind it. */
        uint64_t position = 0;
        uint64_t positions = 0;
        start = now_ns();
        for (size_t i = 0; i < events; i++) {
            CHECK(annal_reader_position(reader, &position));
            positions += position;
        }
        call[r] = (now_ns() - start) / (double)events;
        CHECK(annal_reader_free(reader));
        if (positions != events * events) {
            fprintf(stderr, "positions %llu\n", (unsigned long long)positions);
            return 1;
        }
        if (bytes != 2 * events * event_bytes) {
            fprintf(stderr, "read %zu bytes, want %zu\n", bytes, 2 * events * event_bytes);
            return 1;
        }
        CHECK(annal_log_close(log));

        log = open_fresh(base, "append-batch", r);
        start = now_ns();
        for (size_t i = 0; i < events; i += batch) {
            CHECK(annal_log_append_batch(log, slices, batch, ANNAL_DURABILITY_WRITTEN, NULL));
        }
        append_batch[r] = (now_ns() - start) / (double)events;
        CHECK(annal_log_close(log));
    }
    const char *names[] = {"append", "append_batch", "read", "read_batch", "call"};
    double *figures[] = {append, append_batch, read, read_batch, call};
    for (int w = 0; w < 5; w++) {
        printf("%s", names[w]);
        for (int r = 0; r < repetitions; r++) {
            printf(" %.2f", figures[w][r]);
        }
        printf("\n");
    }
    free(payload);
    free(slices);
    free(views);
    free(append);
    free(append_batch);
    free(read);
    free(read_batch);
    free(call);
    return 0;
}
