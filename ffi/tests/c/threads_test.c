/* threads_test.c: proves the thread-safety the header states: several threads append
 * through one log handle at once (sharing fsyncs) and every event lands once; a thread
 * blocked in annal_subscription_next with no timeout is woken with ANNAL_STATUS_CLOSED
 * when another thread closes the log. Usage: threads_test DIR */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>

#include "check.h"

#define THREADS 4
#define EVENTS_PER_THREAD 50

static annal_log *shared_log;

static void *appender(void *arg) {
    (void)arg;
    for (int i = 0; i < EVENTS_PER_THREAD; i++) {
        OK(annal_log_append(shared_log, BYTES("concurrent"), ANNAL_DURABILITY_SYNCED, NULL));
    }
    return NULL;
}

struct follower {
    annal_subscription *subscription;
    int delivered;
    annal_status final_status;
};

static void *follow(void *arg) {
    struct follower *f = arg;
    annal_event_view view;
    for (;;) {
        annal_status status = annal_subscription_next(f->subscription, UINT64_MAX, &view);
        if (status != ANNAL_STATUS_OK) {
            f->final_status = status;
            return NULL;
        }
        f->delivered++;
    }
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.segment_bytes = 1 << 20;
    OK(annal_log_open(argv[1], &options, &shared_log));

    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_create(&threads[i], NULL, appender, NULL) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
    }
    annal_log_info state;
    OK(annal_log_state(shared_log, &state));
    CHECK(state.next_position == THREADS * EVENTS_PER_THREAD);
    CHECK(state.synced_position == THREADS * EVENTS_PER_THREAD);

    annal_subscribe_options from_end;
    memset(&from_end, 0, sizeof from_end);
    from_end.struct_size = sizeof from_end;
    from_end.start = ANNAL_START_END;
    struct follower f = {NULL, 0, ANNAL_STATUS_OK};
    OK(annal_log_subscribe(shared_log, &from_end, &f.subscription));
    pthread_t follower_thread;
    CHECK(pthread_create(&follower_thread, NULL, follow, &f) == 0);
    sleep_ms(50);
    OK(annal_log_append(shared_log, BYTES("wake"), ANNAL_DURABILITY_SYNCED, NULL));
    sleep_ms(50);
    OK(annal_log_close(shared_log));
    CHECK(pthread_join(follower_thread, NULL) == 0);
    CHECK(f.delivered == 1);
    EXPECT(f.final_status, ANNAL_STATUS_CLOSED);
    OK(annal_subscription_free(f.subscription));
    printf("threads_test: ok\n");
    return 0;
}
