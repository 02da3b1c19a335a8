/* store_consumer_test.c: proves the C API of what the engine grew after the first ABI:
 * the event store's durable consumers (create, open, list, subscribe from the
 * checkpoint with a filter, commit, the exactly-once append_and_commit and its retry,
 * resuming after a reopen, delete, a consumer outliving its store), store retention
 * (truncate_before held back by a consumer, then forced), the last events of a stream,
 * the recovery report (a clean open, a torn tail cut and quarantined, the index
 * checkpoint loaded), the io path option, metrics, index memory, a follower's refresh
 * and the limits; each with its bad input (NULL, enum values
 * out of range, bad lengths, use after free and close, a handle of the wrong kind).
 * Usage: store_consumer_test DIR */
#include "check.h"

static annal_open_options options_with(uint32_t io_path) {
    annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.segment_bytes = 64 << 10;
    options.io_path = io_path;
    return options;
}

static annal_new_event event(const char *type, const char *data, const uint8_t *id) {
    annal_new_event e;
    memset(&e, 0, sizeof e);
    e.event_type = (const uint8_t *)type;
    e.event_type_len = strlen(type);
    e.data = (const uint8_t *)data;
    e.data_len = strlen(data);
    e.id = id;
    return e;
}

static void append(annal_store *store, const char *stream, const char *type) {
    annal_new_event e = event(type, "{}", NULL);
    OK(annal_store_append(store, (const uint8_t *)stream, strlen(stream), ANNAL_EXPECTED_ANY,
                          0, &e, 1, ANNAL_DURABILITY_WRITTEN, NULL));
}

static annal_stream_append one_stream(const char *stream, uint32_t kind, uint64_t revision,
                                      const annal_new_event *events, size_t count) {
    annal_stream_append a;
    memset(&a, 0, sizeof a);
    a.stream = (const uint8_t *)stream;
    a.stream_len = strlen(stream);
    a.expected_kind = kind;
    a.expected_revision = revision;
    a.events = events;
    a.event_count = count;
    return a;
}

/* The exactly-once loop: billing reacts to each order event with an invoice, appended
 * with its checkpoint in one record; a retry writes nothing twice. */
static void consumers(const char *dir) {
    annal_open_options options = options_with(ANNAL_IO_PATH_AUTO);
    annal_store *store = NULL;
    OK(annal_store_open(dir, &options, &store));
    append(store, "order-1", "OrderPlaced");
    append(store, "customer-1", "Registered");
    append(store, "order-2", "OrderPlaced");

    annal_store_consumer *billing = NULL;
    OK(annal_store_consumer_create(store, "billing", ANNAL_START_BEGINNING, 0, &billing));
    annal_store_consumer *again = NULL;
    EXPECT(annal_store_consumer_create(store, "billing", ANNAL_START_BEGINNING, 0, &again),
           ANNAL_STATUS_CONSUMER_EXISTS);
    CHECK(again == NULL);
    uint64_t checkpoint = 99;
    OK(annal_store_consumer_checkpoint(billing, &checkpoint));
    CHECK(checkpoint == 0);

    annal_subscribe_options only_orders;
    memset(&only_orders, 0, sizeof only_orders);
    only_orders.struct_size = sizeof only_orders;
    only_orders.visibility = ANNAL_VISIBILITY_WRITTEN;
    only_orders.filter = ANNAL_FILTER_CATEGORY;
    only_orders.filter_value = (const uint8_t *)"order";
    only_orders.filter_len = 5;
    annal_store_subscription *sub = NULL;
    OK(annal_store_consumer_subscribe(billing, &only_orders, &sub));
    annal_recorded_event e;
    OK(annal_store_subscription_next(sub, 1000, &e));
    CHECK(view_equals(e.stream, e.stream_len, "order-1"));
    uint64_t after = 0;
    OK(annal_store_subscription_position(sub, &after));
    CHECK(after == 1);

    static const uint8_t invoice_id[16] = {'i', 'n', 'v', 'o', 'i', 'c', 'e', '-', '1'};
    annal_new_event invoice = event("InvoiceIssued", "10 EUR", invoice_id);
    annal_stream_append reaction =
        one_stream("invoice-1", ANNAL_EXPECTED_NO_STREAM, 0, &invoice, 1);
    annal_write_result result;
    OK(annal_store_consumer_append_and_commit(billing, &reaction, 1, after,
                                              ANNAL_DURABILITY_SYNCED, &result));
    CHECK(result.first_revision == 0 && result.first_position == 3);
    OK(annal_store_consumer_checkpoint(billing, &checkpoint));
    CHECK(checkpoint == 1);
    /* The retry (same id) returns the original result and writes nothing. */
    annal_write_result retry = {7, 7, 7, 7};
    OK(annal_store_consumer_append_and_commit(billing, &reaction, 1, after,
                                              ANNAL_DURABILITY_SYNCED, &retry));
    CHECK(retry.first_position == 3);
    uint64_t next = 0;
    OK(annal_store_next_position(store, &next));
    CHECK(next == 4);
    /* A failed expectation writes nothing and leaves the checkpoint. */
    annal_new_event other = event("InvoiceIssued", "11 EUR", NULL);
    annal_stream_append wrong = one_stream("invoice-1", ANNAL_EXPECTED_NO_STREAM, 0, &other, 1);
    EXPECT(annal_store_consumer_append_and_commit(billing, &wrong, 1, 3,
                                                  ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_WRONG_EXPECTED_REVISION);
    OK(annal_store_consumer_checkpoint(billing, &checkpoint));
    CHECK(checkpoint == 1);

    /* The next order event, committed alone. */
    OK(annal_store_subscription_next(sub, 1000, &e));
    CHECK(view_equals(e.stream, e.stream_len, "order-2"));
    OK(annal_store_subscription_position(sub, &after));
    OK(annal_store_consumer_commit(billing, after));
    EXPECT(annal_store_consumer_commit(billing, 1), ANNAL_STATUS_CHECKPOINT_REGRESSION);
    EXPECT(annal_store_consumer_commit(billing, 1000), ANNAL_STATUS_POSITION_OUT_OF_RANGE);
    OK(annal_store_subscription_free(sub));

    /* Listed with the store's consumers. */
    annal_store_consumer *audit = NULL;
    OK(annal_store_consumer_create(store, "audit", ANNAL_START_AT, 2, &audit));
    annal_consumer_list *list = NULL;
    OK(annal_store_consumers(store, &list));
    size_t count = 0;
    OK(annal_consumer_list_count(list, &count));
    CHECK(count == 2);
    OK(annal_consumer_list_free(list));
    OK(annal_store_consumer_free(audit));
    OK(annal_store_consumer_delete(store, "audit"));
    EXPECT(annal_store_consumer_open(store, "audit", &audit), ANNAL_STATUS_UNKNOWN_CONSUMER);
    OK(annal_store_consumer_free(billing));
    OK(annal_store_close(store));

    /* Reopened: billing resumes at its checkpoint, past both orders and the invoice. */
    OK(annal_store_open(dir, &options, &store));
    OK(annal_store_consumer_open(store, "billing", &billing));
    OK(annal_store_consumer_checkpoint(billing, &checkpoint));
    CHECK(checkpoint == after);
    OK(annal_store_consumer_subscribe(billing, NULL, &sub));
    OK(annal_store_subscription_poll(sub, &e));
    CHECK(view_equals(e.stream, e.stream_len, "invoice-1"));
    EXPECT(annal_store_subscription_poll(sub, &e), ANNAL_STATUS_NO_EVENT);
    /* The store closed under the consumer and its subscription: statuses, not crashes. */
    OK(annal_store_close(store));
    EXPECT(annal_store_consumer_checkpoint(billing, &checkpoint), ANNAL_STATUS_CLOSED);
    EXPECT(annal_store_consumer_commit(billing, 0), ANNAL_STATUS_CLOSED);
    EXPECT(annal_store_consumer_subscribe(billing, NULL, &sub), ANNAL_STATUS_CLOSED);
    EXPECT(annal_store_consumer_append_and_commit(billing, &reaction, 1, 0,
                                                  ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_CLOSED);
    EXPECT(annal_store_subscription_poll(sub, &e), ANNAL_STATUS_CLOSED);
    OK(annal_store_subscription_free(sub));
    OK(annal_store_consumer_free(billing));
}

static void consumer_bad_input(const char *dir) {
    annal_open_options options = options_with(ANNAL_IO_PATH_AUTO);
    annal_store *store = NULL;
    OK(annal_store_open(dir, &options, &store));
    append(store, "order-1", "OrderPlaced");
    annal_store_consumer *c = NULL;
    EXPECT(annal_store_consumer_create(NULL, "c", 0, 0, &c), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumer_create(store, NULL, 0, 0, &c), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumer_create(store, "c", 0, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumer_create(store, "c", 3, 0, &c), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_consumer_create(store, "\xff\xfe", 0, 0, &c), ANNAL_STATUS_INVALID_UTF8);
    EXPECT(annal_store_consumer_create(store, "no spaces", 0, 0, &c),
           ANNAL_STATUS_INVALID_CONSUMER_NAME);
    EXPECT(annal_store_consumer_open(store, NULL, &c), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumer_open(store, "c", NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumer_delete(store, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumer_delete(store, "nobody"), ANNAL_STATUS_UNKNOWN_CONSUMER);
    EXPECT(annal_store_consumers(store, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumers(NULL, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(c == NULL);

    OK(annal_store_consumer_create(store, "c", ANNAL_START_END, 0, &c));
    EXPECT(annal_store_consumer_checkpoint(c, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumer_checkpoint(NULL, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    uint64_t checkpoint = 0;
    /* A store handle is not a consumer handle. */
    EXPECT(annal_store_consumer_checkpoint((annal_store_consumer *)store, &checkpoint),
           ANNAL_STATUS_INVALID_HANDLE);
    annal_store_subscription *sub = NULL;
    EXPECT(annal_store_consumer_subscribe(c, NULL, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    annal_subscribe_options start_at;
    memset(&start_at, 0, sizeof start_at);
    start_at.struct_size = sizeof start_at;
    start_at.start = ANNAL_START_AT;
    EXPECT(annal_store_consumer_subscribe(c, &start_at, &sub), ANNAL_STATUS_INVALID_ARGUMENT);
    start_at.start = 0;
    start_at.start_position = 5;
    EXPECT(annal_store_consumer_subscribe(c, &start_at, &sub), ANNAL_STATUS_INVALID_ARGUMENT);
    start_at.start_position = 0;
    start_at.visibility = 9;
    EXPECT(annal_store_consumer_subscribe(c, &start_at, &sub), ANNAL_STATUS_INVALID_ENUM);
    start_at.visibility = 0;
    start_at.struct_size = 3;
    EXPECT(annal_store_consumer_subscribe(c, &start_at, &sub), ANNAL_STATUS_INVALID_LENGTH);
    CHECK(sub == NULL);

    annal_new_event e = event("T", "", NULL);
    annal_stream_append a = one_stream("order-1", ANNAL_EXPECTED_ANY, 0, &e, 1);
    EXPECT(annal_store_consumer_append_and_commit(c, &a, 1, 2, 7, NULL),
           ANNAL_STATUS_INVALID_ENUM);
    a.expected_kind = 9;
    EXPECT(annal_store_consumer_append_and_commit(c, &a, 1, 2, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_ENUM);
    a.expected_kind = ANNAL_EXPECTED_ANY;
    EXPECT(annal_store_consumer_append_and_commit(c, NULL, 1, 2, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_consumer_append_and_commit(c, &a, SIZE_MAX, 2, ANNAL_DURABILITY_SYNCED,
                                                  NULL),
           ANNAL_STATUS_INVALID_LENGTH);
    a.stream_len = SIZE_MAX;
    EXPECT(annal_store_consumer_append_and_commit(c, &a, 1, 2, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_LENGTH);
    a.stream_len = 7;
    a.stream = NULL;
    EXPECT(annal_store_consumer_append_and_commit(c, &a, 1, 2, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    uint64_t next = 0;
    OK(annal_store_next_position(store, &next));
    CHECK(next == 1); /* nothing was written */

    /* Deleted under its handle, then freed, then freed again. */
    OK(annal_store_consumer_delete(store, "c"));
    EXPECT(annal_store_consumer_checkpoint(c, &checkpoint), ANNAL_STATUS_UNKNOWN_CONSUMER);
    OK(annal_store_consumer_free(c));
    EXPECT(annal_store_consumer_checkpoint(c, &checkpoint), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_store_consumer_commit(c, 0), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_store_consumer_free(c), ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_store_consumer_free(NULL));
    OK(annal_store_close(store));
    EXPECT(annal_store_consumer_create(store, "d", 0, 0, &c), ANNAL_STATUS_USE_AFTER_CLOSE);
}

/* Retention held back for a consumer, then forced; the last events of a stream. */
static void retention_and_last(const char *dir) {
    annal_open_options options = options_with(ANNAL_IO_PATH_PWRITE);
    annal_store *store = NULL;
    OK(annal_store_open(dir, &options, &store));
    uint32_t io_path = 77;
    OK(annal_store_io_path(store, &io_path));
    CHECK(io_path == ANNAL_IO_PATH_PWRITE);
    char data[400];
    memset(data, 'x', sizeof data - 1);
    data[sizeof data - 1] = 0;
    for (int i = 0; i < 600; i++) {
        char stream[32];
        snprintf(stream, sizeof stream, "clock-%d", i % 3);
        annal_new_event e = event("Ticked", data, NULL);
        OK(annal_store_append(store, (const uint8_t *)stream, strlen(stream),
                              ANNAL_EXPECTED_ANY, 0, &e, 1, ANNAL_DURABILITY_WRITTEN, NULL));
    }
    annal_store_consumer *audit = NULL;
    OK(annal_store_consumer_create(store, "audit", ANNAL_START_AT, 300, &audit));
    uint64_t first = 12345;
    OK(annal_store_truncate_before(store, 500, ANNAL_TRUNCATION_BEHIND_CONSUMERS, &first));
    CHECK(first > 0 && first <= 300);
    uint64_t held = first;
    OK(annal_store_first_position(store, &first));
    CHECK(first == held);
    OK(annal_store_truncate_before(store, 500, ANNAL_TRUNCATION_FORCED, NULL));
    OK(annal_store_first_position(store, &first));
    CHECK(first > 300 && first <= 500);
    uint64_t untouched = 5;
    EXPECT(annal_store_truncate_before(store, 500, 2, &untouched), ANNAL_STATUS_INVALID_ENUM);
    CHECK(untouched == 5);
    EXPECT(annal_store_truncate_before(NULL, 500, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_first_position(store, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    /* The left-behind consumer cannot subscribe from its checkpoint. */
    annal_store_subscription *sub = NULL;
    EXPECT(annal_store_consumer_subscribe(audit, NULL, &sub), ANNAL_STATUS_POSITION_OUT_OF_RANGE);
    OK(annal_store_consumer_free(audit));

    annal_event_list *list = NULL;
    OK(annal_store_read_stream_last(store, BYTES("clock-1"), 3, &list));
    size_t count = 0;
    OK(annal_event_list_count(list, &count));
    CHECK(count == 3);
    annal_recorded_event a, b;
    OK(annal_event_list_get(list, 0, &a));
    OK(annal_event_list_get(list, 2, &b));
    CHECK(a.revision + 2 == b.revision && b.revision == 199);
    OK(annal_event_list_free(list));
    OK(annal_store_read_stream_last(store, BYTES("clock-1"), 0, &list));
    OK(annal_event_list_count(list, &count));
    CHECK(count == 0);
    OK(annal_event_list_free(list));
    list = NULL;
    EXPECT(annal_store_read_stream_last(store, NULL, 7, 3, &list), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_read_stream_last(store, BYTES("clock-1"), 3, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_read_stream_last(store, BYTES("nobody-1"), 3, &list),
           ANNAL_STATUS_STREAM_NOT_FOUND);
    CHECK(list == NULL);
    annal_metrics metrics;
    OK(annal_store_metrics(store, &metrics));
    CHECK(metrics.events >= 600 && metrics.appends >= 600 && metrics.rolls >= 3);
    CHECK(metrics.located_reads >= 3);
    annal_index_memory memory;
    OK(annal_store_index_memory(store, &memory));
    CHECK(memory.streams == 3 && memory.heap_bytes > 0);
    EXPECT(annal_store_metrics(store, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_index_memory(store, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_store_close(store));
    EXPECT(annal_store_io_path(store, &io_path), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_store_metrics(store, &metrics), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_store_index_memory(store, &memory), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_store_truncate_before(store, 1, 0, NULL), ANNAL_STATUS_USE_AFTER_CLOSE);
}

/* Writes garbage right after the last record of the log's first segment: a torn tail. */
static void tear_tail(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/00000000000000000000.log", dir);
    FILE *file = fopen(path, "r+b");
    CHECK(file != NULL);
    CHECK(fseek(file, 0, SEEK_END) == 0);
    long size = ftell(file);
    static unsigned char bytes[64 << 10];
    CHECK(size > 0 && (size_t)size <= sizeof bytes);
    CHECK(fseek(file, 0, SEEK_SET) == 0);
    CHECK(fread(bytes, 1, (size_t)size, file) == (size_t)size);
    long end = size;
    while (end > 0 && bytes[end - 1] == 0) {
        end--;
    }
    end = (end + 7) / 8 * 8;
    unsigned char garbage[24];
    memset(garbage, 0xab, sizeof garbage);
    CHECK(fseek(file, end, SEEK_SET) == 0);
    CHECK(fwrite(garbage, 1, sizeof garbage, file) == sizeof garbage);
    CHECK(fclose(file) == 0);
}

static void recovery_reports(const char *log_dir, const char *store_dir) {
    annal_open_options options = options_with(ANNAL_IO_PATH_AUTO);
    annal_log *log = NULL;
    OK(annal_log_open(log_dir, &options, &log));
    uint32_t io_path = 77;
    OK(annal_log_io_path(log, &io_path));
    CHECK(io_path == ANNAL_IO_PATH_PWRITE || io_path == ANNAL_IO_PATH_IO_URING);
    annal_recovery_report *report = NULL;
    OK(annal_log_recovery_report(log, &report));
    annal_recovery_summary summary;
    OK(annal_recovery_report_summary(report, &summary));
    CHECK(summary.action_count == 0 && summary.io_path == io_path);
    CHECK(summary.index_recovery == ANNAL_INDEX_RECOVERY_NONE && summary.index_reason == NULL);
    annal_recovery_action action;
    EXPECT(annal_recovery_report_action(report, 0, &action), ANNAL_STATUS_INVALID_LENGTH);
    OK(annal_recovery_report_free(report));
    OK(annal_log_append(log, BYTES("acknowledged"), ANNAL_DURABILITY_SYNCED, NULL));
    OK(annal_log_close(log));

    tear_tail(log_dir);
    OK(annal_log_open(log_dir, &options, &log));
    OK(annal_log_recovery_report(log, &report));
    OK(annal_recovery_report_summary(report, &summary));
    CHECK(summary.action_count == 1 && summary.segments_scanned >= 1);
    OK(annal_recovery_report_action(report, 0, &action));
    CHECK(action.kind == ANNAL_RECOVERY_ACTION_CUT);
    CHECK(action.reason == ANNAL_CUT_REASON_TORN_TAIL && action.detail_len > 0);
    CHECK(action.bytes_cut > 0 && action.offset > 0);
    CHECK(action.segment_len > 4 &&
          memcmp(action.segment + action.segment_len - 4, ".log", 4) == 0);
    CHECK(action.quarantine != NULL && action.quarantine_len > 0);
    /* The acknowledged event is still there. */
    annal_log_info state;
    OK(annal_log_state(log, &state));
    CHECK(state.next_position == 1);
    EXPECT(annal_recovery_report_action(report, 1, &action), ANNAL_STATUS_INVALID_LENGTH);
    EXPECT(annal_recovery_report_action(report, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_recovery_report_summary(report, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_recovery_report_summary((annal_recovery_report *)log, &summary),
           ANNAL_STATUS_INVALID_HANDLE);
    OK(annal_recovery_report_free(report));
    EXPECT(annal_recovery_report_summary(report, &summary), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_recovery_report_free(report), ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_recovery_report_free(NULL));
    EXPECT(annal_log_recovery_report(log, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_log_io_path(log, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    annal_metrics metrics;
    OK(annal_log_append(log, BYTES("after"), ANNAL_DURABILITY_SYNCED, NULL));
    OK(annal_log_metrics(log, &metrics));
    CHECK(metrics.appends == 1 && metrics.events == 1 && metrics.group_syncs >= 1);
    EXPECT(annal_log_metrics(log, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    /* A log with a writer has nothing to refresh. */
    OK(annal_log_refresh(log));
    annal_log *follower = NULL;
    annal_open_options read_only = options;
    read_only.read_only = 1;
    OK(annal_log_open(log_dir, &read_only, &follower));
    OK(annal_log_append(log, BYTES("followed"), ANNAL_DURABILITY_SYNCED, NULL));
    OK(annal_log_refresh(follower));
    annal_log_info seen;
    OK(annal_log_state(follower, &seen));
    CHECK(seen.next_position == 3);
    OK(annal_log_close(follower));
    EXPECT(annal_log_refresh(follower), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_log_refresh(NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_log_close(log));
    EXPECT(annal_log_metrics(log, &metrics), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_log_recovery_report(log, &report), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_log_io_path(log, &io_path), ANNAL_STATUS_USE_AFTER_CLOSE);

    /* A store reopened after a clean close loads its index checkpoint. */
    annal_store *store = NULL;
    OK(annal_store_open(store_dir, &options, &store));
    append(store, "order-1", "OrderPlaced");
    OK(annal_store_close(store));
    OK(annal_store_open(store_dir, &options, &store));
    OK(annal_store_recovery_report(store, &report));
    OK(annal_recovery_report_summary(report, &summary));
    CHECK(summary.action_count == 0);
    CHECK(summary.index_recovery == ANNAL_INDEX_RECOVERY_LOADED);
    CHECK(summary.index_replayed_from == 1 && summary.index_reason == NULL);
    OK(annal_recovery_report_free(report));
    EXPECT(annal_store_recovery_report(store, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_recovery_report(NULL, &report), ANNAL_STATUS_NULL_ARGUMENT);

    /* A buffered append reaches a read-only store only once the writer flushes. */
    annal_open_options follower_options = options;
    follower_options.read_only = 1;
    annal_store *store_follower = NULL;
    OK(annal_store_open(store_dir, &follower_options, &store_follower));
    annal_new_event buffered = event("Buffered", "{}", NULL);
    OK(annal_store_append(store, BYTES("order-2"), ANNAL_EXPECTED_ANY, 0, &buffered, 1,
                          ANNAL_DURABILITY_BUFFERED, NULL));
    annal_stream_info info;
    EXPECT(annal_store_stream_info(store_follower, BYTES("order-2"), &info),
           ANNAL_STATUS_STREAM_NOT_FOUND);
    OK(annal_store_flush(store));
    OK(annal_store_stream_info(store_follower, BYTES("order-2"), &info));
    OK(annal_store_flush(store_follower));
    OK(annal_store_close(store_follower));
    EXPECT(annal_store_flush(store_follower), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_store_flush(NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_flush((const annal_store *)(uintptr_t)0x1000), ANNAL_STATUS_INVALID_HANDLE);
    OK(annal_store_close(store));
}

static void io_path_option(const char *dir) {
    annal_open_options options = options_with(3);
    annal_log *log = NULL;
    EXPECT(annal_log_open(dir, &options, &log), ANNAL_STATUS_INVALID_ENUM);
    annal_store *store = NULL;
    EXPECT(annal_store_open(dir, &options, &store), ANNAL_STATUS_INVALID_ENUM);
    CHECK(log == NULL && store == NULL);
    /* io_uring asked for: it opens, or says why not with its own status. */
    options = options_with(ANNAL_IO_PATH_IO_URING);
    annal_status status = annal_log_open(dir, &options, &log);
    CHECK(status == ANNAL_STATUS_OK || status == ANNAL_STATUS_IO_URING_UNAVAILABLE);
    if (status == ANNAL_STATUS_OK) {
        uint32_t io_path = 0;
        OK(annal_log_io_path(log, &io_path));
        CHECK(io_path == ANNAL_IO_PATH_IO_URING);
        OK(annal_log_close(log));
    }
    /* A caller built against the header before io_path passes a smaller struct: auto. */
    options = options_with(0);
    options.struct_size = offsetof(annal_open_options, io_path);
    OK(annal_log_open(dir, &options, &log));
    OK(annal_log_close(log));
}

static void limits(void) {
    CHECK(ANNAL_EVENT_BYTES_MAX == 16u << 20 && ANNAL_STREAM_NAME_BYTES_MAX == 255);
    CHECK(ANNAL_CONSUMER_NAME_BYTES_MAX == 64 && ANNAL_IDEMPOTENCY_WINDOW_EVENTS == 100000);
    CHECK(ANNAL_SEGMENT_BYTES_MIN <= ANNAL_SEGMENT_BYTES_MAX);
    CHECK(ANNAL_BATCH_EVENTS_MAX > 0 && ANNAL_BATCH_BYTES_MAX > ANNAL_EVENT_BYTES_MAX);
    CHECK(ANNAL_EVENT_TYPE_BYTES_MAX == 255 && ANNAL_CONSUMERS_MAX > 0);
    CHECK(ANNAL_SUBSCRIPTIONS_MAX > 0);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    const char *names[] = {"consumers", "bad", "retention", "log", "store", "io"};
    char dirs[6][4096];
    CHECK(strlen(argv[1]) < 4000);
    for (int i = 0; i < 6; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/%s", argv[1], names[i]);
    }
    limits();
    consumers(dirs[0]);
    consumer_bad_input(dirs[1]);
    retention_and_last(dirs[2]);
    recovery_reports(dirs[3], dirs[4]);
    io_path_option(dirs[5]);
    printf("store_consumer_test: ok\n");
    return 0;
}
