/* log_test.c: proves the raw log's C API round-trips: open, appends, flush, sync, reads
 * by position, readers, state, retention, subscriptions and durable consumers, including
 * a consumer that resumes after the log is closed and reopened, and a read-only follower
 * of the open log. Usage: log_test DIR */
#include "check.h"

static annal_log *open_log(const char *dir) {
    annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.segment_bytes = 1 << 20;
    annal_log *log = NULL;
    OK(annal_log_open(dir, &options, &log));
    CHECK(log != NULL);
    return log;
}

static void appends_and_reads(annal_log *log) {
    annal_appended appended;
    OK(annal_log_append(log, BYTES("first"), ANNAL_DURABILITY_SYNCED, &appended));
    CHECK(appended.first_position == 0 && appended.last_position == 0);
    OK(annal_log_append(log, BYTES("second"), ANNAL_DURABILITY_WRITTEN, NULL));

    annal_bytes batch[3] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"bb", 2}, {NULL, 0}};
    OK(annal_log_append_batch(log, batch, 3, ANNAL_DURABILITY_BUFFERED, &appended));
    CHECK(appended.first_position == 2 && appended.last_position == 4);
    OK(annal_log_flush(log));
    OK(annal_log_sync(log));

    annal_log_info state;
    OK(annal_log_state(log, &state));
    CHECK(state.first_position == 0 && state.next_position == 5);
    CHECK(state.written_position == 5 && state.synced_position == 5);
    CHECK(state.poisoned == 0);

    size_t size = 0;
    OK(annal_log_read_size(log, 1, &size));
    CHECK(size == 6);
    char buffer[16];
    size_t length = 0;
    OK(annal_log_read(log, 1, (uint8_t *)buffer, sizeof buffer, &length));
    CHECK(view_equals((const uint8_t *)buffer, length, "second"));
    OK(annal_log_read(log, 4, NULL, 0, &length));
    CHECK(length == 0);
    /* Too small: nothing written, the size stays what it was. */
    length = 99;
    EXPECT(annal_log_read(log, 1, (uint8_t *)buffer, 3, &length), ANNAL_STATUS_BUFFER_TOO_SMALL);
    CHECK(length == 99);
    EXPECT(annal_log_read(log, 5, (uint8_t *)buffer, sizeof buffer, &length),
           ANNAL_STATUS_POSITION_OUT_OF_RANGE);

    annal_reader *reader = NULL;
    OK(annal_log_read_from(log, 1, ANNAL_VISIBILITY_WRITTEN, &reader));
    annal_event_view view;
    OK(annal_reader_next(reader, &view));
    CHECK(view.position == 1 && view_equals(view.payload, view.payload_len, "second"));
    uint64_t position = 0;
    OK(annal_reader_position(reader, &position));
    CHECK(position == 2);
    annal_event_view views[8];
    size_t count = 0;
    OK(annal_reader_next_batch(reader, views, 8, &count));
    CHECK(count == 3);
    CHECK(views[0].position == 2 && view_equals(views[0].payload, views[0].payload_len, "a"));
    CHECK(views[1].position == 3 && view_equals(views[1].payload, views[1].payload_len, "bb"));
    CHECK(views[2].position == 4 && views[2].payload_len == 0 && views[2].payload == NULL);
    EXPECT(annal_reader_next(reader, &view), ANNAL_STATUS_NO_EVENT);
    EXPECT(annal_reader_next_batch(reader, views, 8, &count), ANNAL_STATUS_NO_EVENT);
    /* A reader sees what is appended after it reached the end. */
    OK(annal_log_append(log, BYTES("later"), ANNAL_DURABILITY_SYNCED, NULL));
    OK(annal_reader_next(reader, &view));
    CHECK(view.position == 5 && view_equals(view.payload, view.payload_len, "later"));
    OK(annal_reader_free(reader));
    EXPECT(annal_reader_free(reader), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_reader_next(reader, &view), ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_reader_free(NULL));

    OK(annal_log_read_from(log, 0, ANNAL_VISIBILITY_SYNCED, &reader));
    OK(annal_reader_next(reader, &view));
    CHECK(view.position == 0 && view_equals(view.payload, view.payload_len, "first"));
    OK(annal_reader_free(reader));
}

static void subscriptions(annal_log *log) {
    annal_subscribe_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.start = ANNAL_START_AT;
    options.start_position = 4;
    annal_subscription *subscription = NULL;
    OK(annal_log_subscribe(log, &options, &subscription));
    annal_event_view view;
    OK(annal_subscription_poll(subscription, &view));
    CHECK(view.position == 4);
    OK(annal_subscription_next(subscription, 1000, &view));
    CHECK(view.position == 5 && view_equals(view.payload, view.payload_len, "later"));
    EXPECT(annal_subscription_poll(subscription, &view), ANNAL_STATUS_NO_EVENT);
    EXPECT(annal_subscription_next(subscription, 10, &view), ANNAL_STATUS_NO_EVENT);
    OK(annal_log_append(log, BYTES("live"), ANNAL_DURABILITY_SYNCED, NULL));
    OK(annal_subscription_next(subscription, 5000, &view));
    CHECK(view.position == 6 && view_equals(view.payload, view.payload_len, "live"));
    uint64_t position = 0;
    OK(annal_subscription_position(subscription, &position));
    CHECK(position == 7);
    OK(annal_subscription_free(subscription));
    EXPECT(annal_subscription_free(subscription), ANNAL_STATUS_USE_AFTER_CLOSE);

    /* NULL options: from the beginning. End: only new events. */
    OK(annal_log_subscribe(log, NULL, &subscription));
    OK(annal_subscription_poll(subscription, &view));
    CHECK(view.position == 0);
    OK(annal_subscription_free(subscription));
    options.start = ANNAL_START_END;
    OK(annal_log_subscribe(log, &options, &subscription));
    EXPECT(annal_subscription_poll(subscription, &view), ANNAL_STATUS_NO_EVENT);
    OK(annal_subscription_free(subscription));

    /* Raw-log subscriptions take no filter. */
    options.start = ANNAL_START_BEGINNING;
    options.filter = ANNAL_FILTER_CATEGORY;
    options.filter_value = (const uint8_t *)"order";
    options.filter_len = 5;
    subscription = NULL;
    EXPECT(annal_log_subscribe(log, &options, &subscription), ANNAL_STATUS_INVALID_ARGUMENT);
    CHECK(subscription == NULL);
}

static void consumers(annal_log *log) {
    annal_consumer *billing = NULL;
    OK(annal_consumer_create(log, "billing", ANNAL_START_BEGINNING, 0, &billing));
    annal_consumer *again = NULL;
    EXPECT(annal_consumer_create(log, "BILLING", ANNAL_START_BEGINNING, 0, &again),
           ANNAL_STATUS_CONSUMER_EXISTS);
    EXPECT(annal_consumer_create(log, ".hidden", ANNAL_START_BEGINNING, 0, &again),
           ANNAL_STATUS_INVALID_CONSUMER_NAME);
    EXPECT(annal_consumer_open(log, "nobody", &again), ANNAL_STATUS_UNKNOWN_CONSUMER);
    CHECK(again == NULL);

    uint64_t checkpoint = 99;
    OK(annal_consumer_checkpoint(billing, &checkpoint));
    CHECK(checkpoint == 0);
    annal_subscription *subscription = NULL;
    OK(annal_consumer_subscribe(billing, ANNAL_VISIBILITY_SYNCED, &subscription));
    annal_event_view view;
    OK(annal_subscription_next(subscription, 1000, &view));
    CHECK(view.position == 0);
    OK(annal_consumer_commit(billing, 1));
    EXPECT(annal_consumer_commit(billing, 0), ANNAL_STATUS_CHECKPOINT_REGRESSION);
    EXPECT(annal_consumer_commit(billing, 1000), ANNAL_STATUS_POSITION_OUT_OF_RANGE);
    annal_bytes invoice = {(const uint8_t *)"invoice", 7};
    annal_appended appended;
    OK(annal_consumer_append_and_commit(billing, &invoice, 1, 2, ANNAL_DURABILITY_SYNCED,
                                        &appended));
    CHECK(appended.first_position == 7);
    OK(annal_consumer_checkpoint(billing, &checkpoint));
    CHECK(checkpoint == 2);
    OK(annal_subscription_free(subscription));

    annal_consumer *audit = NULL;
    OK(annal_consumer_create(log, "audit", ANNAL_START_END, 0, &audit));
    annal_consumer_list *list = NULL;
    OK(annal_log_consumers(log, &list));
    size_t count = 0;
    OK(annal_consumer_list_count(list, &count));
    CHECK(count == 2);
    int seen = 0;
    for (size_t i = 0; i < count; i++) {
        annal_consumer_info info;
        OK(annal_consumer_list_get(list, i, &info));
        if (view_equals(info.name, info.name_len, "billing")) {
            CHECK(info.checkpoint == 2);
            seen |= 1;
        } else if (view_equals(info.name, info.name_len, "audit")) {
            CHECK(info.checkpoint == 8);
            seen |= 2;
        }
    }
    CHECK(seen == 3);
    annal_consumer_info info;
    EXPECT(annal_consumer_list_get(list, 2, &info), ANNAL_STATUS_INVALID_LENGTH);
    OK(annal_consumer_list_free(list));
    EXPECT(annal_consumer_list_free(list), ANNAL_STATUS_USE_AFTER_CLOSE);

    OK(annal_consumer_delete(log, "audit"));
    EXPECT(annal_consumer_checkpoint(audit, &checkpoint), ANNAL_STATUS_UNKNOWN_CONSUMER);
    OK(annal_consumer_free(audit));
    EXPECT(annal_consumer_free(audit), ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_consumer_free(NULL));
    OK(annal_consumer_free(billing));
}

/* A consumer resumes from its committed checkpoint after the log is closed and reopened. */
static void consumer_resumes_after_restart(const char *dir) {
    annal_log *log = open_log(dir);
    annal_consumer *billing = NULL;
    OK(annal_consumer_open(log, "billing", &billing));
    uint64_t checkpoint = 0;
    OK(annal_consumer_checkpoint(billing, &checkpoint));
    CHECK(checkpoint == 2);
    annal_subscription *subscription = NULL;
    OK(annal_consumer_subscribe(billing, ANNAL_VISIBILITY_SYNCED, &subscription));
    annal_event_view view;
    OK(annal_subscription_poll(subscription, &view));
    CHECK(view.position == 2 && view_equals(view.payload, view.payload_len, "a"));

    uint64_t first = 99;
    OK(annal_log_truncate_before(log, 0, &first));
    CHECK(first == 0);

    /* Closing the log under a live subscription and consumer: both return CLOSED. */
    OK(annal_log_close(log));
    for (int delivered = 0;; delivered++) {
        annal_status status = annal_subscription_poll(subscription, &view);
        if (status == ANNAL_STATUS_CLOSED) {
            break;
        }
        OK(status);
        CHECK(delivered < 100);
    }
    EXPECT(annal_subscription_next(subscription, 10, &view), ANNAL_STATUS_CLOSED);
    EXPECT(annal_consumer_commit(billing, 3), ANNAL_STATUS_CLOSED);
    OK(annal_subscription_free(subscription));
    OK(annal_consumer_free(billing));
    EXPECT(annal_log_close(log), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_log_append(log, BYTES("x"), ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_USE_AFTER_CLOSE);
}

/* A read-only follower beside the writer: it reads what is written, follows later
 * appends, and refuses changes with ANNAL_STATUS_READ_ONLY. */
static void read_only_follower(annal_log *writer, const char *dir) {
    annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.segment_bytes = 1 << 20;
    options.read_only = 1;
    annal_log *follower = NULL;
    OK(annal_log_open(dir, &options, &follower));
    annal_log_info before;
    OK(annal_log_state(follower, &before));
    OK(annal_log_append(writer, BYTES("for the follower"), ANNAL_DURABILITY_SYNCED, NULL));
    uint8_t buffer[64];
    size_t length = 0;
    OK(annal_log_read(follower, before.next_position, buffer, sizeof buffer, &length));
    CHECK(view_equals(buffer, length, "for the follower"));
    EXPECT(annal_log_append(follower, BYTES("nope"), ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_READ_ONLY);
    EXPECT(annal_log_sync(follower), ANNAL_STATUS_READ_ONLY);
    OK(annal_log_close(follower));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    annal_log *log = open_log(dir);
    annal_log *second = NULL;
    EXPECT(annal_log_open(dir, NULL, &second), ANNAL_STATUS_LOCKED);
    appends_and_reads(log);
    subscriptions(log);
    consumers(log);
    read_only_follower(log, dir);
    OK(annal_log_close(log));
    OK(annal_log_close(NULL));
    consumer_resumes_after_restart(dir);
    printf("log_test: ok\n");
    return 0;
}
