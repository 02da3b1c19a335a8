/* store_test.c: proves the event store's C API: appends with every expected-revision
 * kind, event ids and retries, metadata, multi-stream appends, stream reads both ways,
 * temporal, category and whole-log reads, truncate and delete, stream info, checkpoints,
 * filtered subscriptions, and a subscription and a list outliving their store's close.
 * Usage: store_test DIR */
#include "check.h"

static void appends(annal_store *store) {
    annal_new_event created = text_event("OrderCreated", "{\"id\":42}");
    static const uint8_t id[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    created.id = id;
    created.metadata = (const uint8_t *)"corr-1";
    created.metadata_len = 6;
    annal_write_result result;
    OK(annal_store_append(store, BYTES("order-42"), ANNAL_EXPECTED_NO_STREAM, 0, &created, 1,
                          ANNAL_DURABILITY_SYNCED, &result));
    CHECK(result.first_revision == 0 && result.first_position == 0);
    /* A retry with the same id writes nothing and returns the original result. */
    annal_write_result retry;
    OK(annal_store_append(store, BYTES("order-42"), ANNAL_EXPECTED_NO_STREAM, 0, &created, 1,
                          ANNAL_DURABILITY_SYNCED, &retry));
    CHECK(retry.first_position == 0 && retry.last_revision == 0);

    annal_new_event paid = text_event("OrderPaid", "{}");
    annal_write_result untouched = {7, 7, 7, 7};
    EXPECT(annal_store_append(store, BYTES("order-42"), ANNAL_EXPECTED_NO_STREAM, 0, &paid, 1,
                              ANNAL_DURABILITY_SYNCED, &untouched),
           ANNAL_STATUS_WRONG_EXPECTED_REVISION);
    CHECK(untouched.first_revision == 7);
    EXPECT(annal_store_append(store, BYTES("order-42"), ANNAL_EXPECTED_EXACT, 5, &paid, 1,
                              ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_WRONG_EXPECTED_REVISION);
    OK(annal_store_append(store, BYTES("order-42"), ANNAL_EXPECTED_EXACT, 0, &paid, 1,
                          ANNAL_DURABILITY_SYNCED, &result));
    CHECK(result.first_revision == 1 && result.first_position == 1);
    annal_new_event shipped = text_event("OrderShipped", "{}");
    OK(annal_store_append(store, BYTES("order-42"), ANNAL_EXPECTED_STREAM_EXISTS, 0, &shipped,
                          1, ANNAL_DURABILITY_WRITTEN, NULL));
    EXPECT(annal_store_append(store, BYTES("order-7"), ANNAL_EXPECTED_STREAM_EXISTS, 0, &paid,
                              1, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_WRONG_EXPECTED_REVISION);
    OK(annal_store_append(store, BYTES("customer-7"), ANNAL_EXPECTED_ANY, 0, &paid, 1,
                          ANNAL_DURABILITY_SYNCED, NULL));

    /* Two streams at once, all or nothing. */
    annal_new_event reserved = text_event("CreditReserved", "100");
    annal_new_event placed = text_event("OrderCreated", "{\"id\":43}");
    annal_stream_append multi[2];
    memset(multi, 0, sizeof multi);
    multi[0].stream = (const uint8_t *)"customer-7";
    multi[0].stream_len = 10;
    multi[0].expected_kind = ANNAL_EXPECTED_EXACT;
    multi[0].expected_revision = 0;
    multi[0].events = &reserved;
    multi[0].event_count = 1;
    multi[1].stream = (const uint8_t *)"order-43";
    multi[1].stream_len = 8;
    multi[1].expected_kind = ANNAL_EXPECTED_NO_STREAM;
    multi[1].events = &placed;
    multi[1].event_count = 1;
    annal_write_result results[2];
    OK(annal_store_append_multi(store, multi, 2, ANNAL_DURABILITY_SYNCED, results));
    CHECK(results[0].first_revision == 1 && results[0].first_position == 4);
    CHECK(results[1].first_revision == 0 && results[1].first_position == 5);
    /* A failed expectation on one stream writes neither. */
    multi[1].stream = (const uint8_t *)"order-44";
    EXPECT(annal_store_append_multi(store, multi, 2, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_WRONG_EXPECTED_REVISION);
    uint64_t next = 0;
    OK(annal_store_next_position(store, &next));
    CHECK(next == 6);
}

static void reads(annal_store *store) {
    annal_event_list *list = NULL;
    OK(annal_store_read_stream(store, BYTES("order-42"), 0, ANNAL_DIRECTION_FORWARDS, 100,
                               &list));
    size_t count = 0;
    OK(annal_event_list_count(list, &count));
    CHECK(count == 3);
    annal_recorded_event e;
    OK(annal_event_list_get(list, 0, &e));
    CHECK(view_equals(e.stream, e.stream_len, "order-42") && e.revision == 0);
    CHECK(view_equals(e.event_type, e.event_type_len, "OrderCreated"));
    CHECK(view_equals(e.data, e.data_len, "{\"id\":42}"));
    CHECK(view_equals(e.metadata, e.metadata_len, "corr-1"));
    CHECK(e.has_id == 1 && e.id[0] == 1 && e.id[15] == 16 && e.timestamp_ns > 0);
    uint64_t created_ns = e.timestamp_ns;
    OK(annal_event_list_get(list, 2, &e));
    CHECK(e.has_id == 0 && view_equals(e.event_type, e.event_type_len, "OrderShipped"));
    EXPECT(annal_event_list_get(list, 3, &e), ANNAL_STATUS_INVALID_LENGTH);
    OK(annal_event_list_free(list));
    EXPECT(annal_event_list_count(list, &count), ANNAL_STATUS_USE_AFTER_CLOSE);

    OK(annal_store_read_stream(store, BYTES("order-42"), 2, ANNAL_DIRECTION_BACKWARDS, 2,
                               &list));
    OK(annal_event_list_count(list, &count));
    CHECK(count == 2);
    OK(annal_event_list_get(list, 0, &e));
    CHECK(e.revision == 2);
    OK(annal_event_list_get(list, 1, &e));
    CHECK(e.revision == 1);
    OK(annal_event_list_free(list));

    /* As of position 2: revisions 0 and 1 only. */
    OK(annal_store_read_stream_as_of(store, BYTES("order-42"), 2, 0, ANNAL_DIRECTION_FORWARDS,
                                     100, &list));
    OK(annal_event_list_count(list, &count));
    CHECK(count == 2);
    OK(annal_event_list_free(list));
    uint64_t position = 0;
    OK(annal_store_position_after_time(store, created_ns, &position));
    CHECK(position >= 1);
    OK(annal_store_read_stream_at_time(store, BYTES("order-42"), created_ns, 100, &list));
    OK(annal_event_list_count(list, &count));
    CHECK(count >= 1);
    OK(annal_event_list_get(list, 0, &e));
    CHECK(e.revision == 0);
    OK(annal_event_list_free(list));

    OK(annal_store_read_category(store, BYTES("order"), 0, ANNAL_DIRECTION_FORWARDS, 100,
                                 &list));
    OK(annal_event_list_count(list, &count));
    CHECK(count == 4);
    OK(annal_event_list_free(list));
    OK(annal_store_read_all(store, 0, ANNAL_DIRECTION_FORWARDS, 100, &list));
    OK(annal_event_list_count(list, &count));
    CHECK(count == 6);
    OK(annal_event_list_free(list));
    OK(annal_store_read_all(store, 5, ANNAL_DIRECTION_BACKWARDS, 1, &list));
    OK(annal_event_list_get(list, 0, &e));
    CHECK(e.position == 5 && view_equals(e.stream, e.stream_len, "order-43"));
    OK(annal_event_list_free(list));
    OK(annal_event_list_free(NULL));

    list = NULL;
    EXPECT(annal_store_read_stream(store, BYTES("order-99"), 0, ANNAL_DIRECTION_FORWARDS, 10,
                                   &list),
           ANNAL_STATUS_STREAM_NOT_FOUND);
    CHECK(list == NULL);
}

static void lifecycle(annal_store *store) {
    annal_stream_info info;
    OK(annal_store_stream_info(store, BYTES("order-42"), &info));
    CHECK(info.has_revision == 1 && info.revision == 2 && info.deleted == 0);
    OK(annal_store_truncate_stream(store, BYTES("order-42"), 1));
    OK(annal_store_stream_info(store, BYTES("order-42"), &info));
    CHECK(info.truncate_before == 1);
    annal_event_list *list = NULL;
    OK(annal_store_read_stream(store, BYTES("order-42"), 0, ANNAL_DIRECTION_FORWARDS, 100,
                               &list));
    size_t count = 0;
    OK(annal_event_list_count(list, &count));
    CHECK(count == 2);
    OK(annal_event_list_free(list));
    OK(annal_store_delete_stream(store, BYTES("order-43")));
    EXPECT(annal_store_read_stream(store, BYTES("order-43"), 0, ANNAL_DIRECTION_FORWARDS, 10,
                                   &list),
           ANNAL_STATUS_STREAM_DELETED);
    annal_new_event late = text_event("OrderPaid", "{}");
    EXPECT(annal_store_append(store, BYTES("order-43"), ANNAL_EXPECTED_ANY, 0, &late, 1,
                              ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_STREAM_DELETED);
    EXPECT(annal_store_stream_info(store, BYTES("nobody-1"), &info), ANNAL_STATUS_STREAM_NOT_FOUND);
    OK(annal_store_checkpoint(store));
}

static void subscriptions(const char *dir, const annal_open_options *reopen, annal_store *store) {
    annal_subscribe_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.filter = ANNAL_FILTER_CATEGORY;
    options.filter_value = (const uint8_t *)"customer";
    options.filter_len = 8;
    annal_store_subscription *customers = NULL;
    OK(annal_store_subscribe(store, &options, &customers));
    annal_recorded_event e;
    OK(annal_store_subscription_next(customers, 1000, &e));
    CHECK(view_equals(e.stream, e.stream_len, "customer-7") && e.revision == 0);
    OK(annal_store_subscription_poll(customers, &e));
    CHECK(view_equals(e.event_type, e.event_type_len, "CreditReserved"));
    EXPECT(annal_store_subscription_poll(customers, &e), ANNAL_STATUS_NO_EVENT);
    EXPECT(annal_store_subscription_next(customers, 10, &e), ANNAL_STATUS_NO_EVENT);
    uint64_t position = 0;
    OK(annal_store_subscription_position(customers, &position));
    CHECK(position >= 6);

    options.filter = ANNAL_FILTER_EVENT_TYPE;
    options.filter_value = (const uint8_t *)"OrderCreated";
    options.filter_len = 12;
    annal_store_subscription *created = NULL;
    OK(annal_store_subscribe(store, &options, &created));
    OK(annal_store_subscription_poll(created, &e));
    CHECK(view_equals(e.stream, e.stream_len, "order-42"));

    options.filter = ANNAL_FILTER_STREAM_PREFIX;
    options.filter_value = (const uint8_t *)"order-4";
    options.filter_len = 7;
    annal_store_subscription *orders = NULL;
    OK(annal_store_subscribe(store, &options, &orders));
    OK(annal_store_subscription_poll(orders, &e));
    CHECK(view_equals(e.stream, e.stream_len, "order-42") && e.revision == 0);
    OK(annal_store_subscription_free(orders));

    annal_event_list *list = NULL;
    OK(annal_store_read_all(store, 0, ANNAL_DIRECTION_FORWARDS, 100, &list));

    /* A new event, then the store closes: the subscription delivers it, then CLOSED. */
    annal_new_event more = text_event("CreditReleased", "100");
    OK(annal_store_append(store, BYTES("customer-7"), ANNAL_EXPECTED_ANY, 0, &more, 1,
                          ANNAL_DURABILITY_SYNCED, NULL));
    OK(annal_store_close(store));
    OK(annal_store_subscription_next(customers, 1000, &e));
    CHECK(view_equals(e.event_type, e.event_type_len, "CreditReleased"));
    EXPECT(annal_store_subscription_next(customers, 1000, &e), ANNAL_STATUS_CLOSED);
    EXPECT(annal_store_subscription_poll(customers, &e), ANNAL_STATUS_CLOSED);
    /* A list read before the close stays readable until freed. */
    OK(annal_event_list_get(list, 0, &e));
    CHECK(view_equals(e.stream, e.stream_len, "order-42"));
    OK(annal_event_list_free(list));
    OK(annal_store_subscription_free(customers));
    EXPECT(annal_store_subscription_free(customers), ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_store_subscription_free(created));
    OK(annal_store_subscription_free(NULL));
    EXPECT(annal_store_close(store), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_store_checkpoint(store), ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_store_close(NULL));

    /* Reopened: the index remembers every stream. */
    OK(annal_store_open(dir, reopen, &store));
    annal_stream_info info;
    OK(annal_store_stream_info(store, BYTES("customer-7"), &info));
    CHECK(info.revision == 2);
    OK(annal_store_close(store));
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
    options.index_checkpoint_events = 1000;
    annal_store *store = NULL;
    OK(annal_store_open(argv[1], &options, &store));
    appends(store);
    reads(store);
    lifecycle(store);
    subscriptions(argv[1], &options, store);
    printf("store_test: ok\n");
    return 0;
}
