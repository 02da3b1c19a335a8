/* stream_handle_test.c: proves stream handles through C: appends through a handle land
 * in its stream with the revisions, results, retries and errors annal_store_append gives,
 * across appends by name and an index checkpoint, and are read back; a handle is shared
 * by threads; and bad input is a status and a message, never a crash: NULL store,
 * handle, name, events and out-pointers, invalid names (empty, a NUL inside, too long), a
 * handle of the wrong kind, a freed handle, a double free, a handle of another store
 * (also once its own store is closed), and a store used after it was closed.
 * Usage: stream_handle_test DIR */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>

#include "check.h"

#define THREADS 4
#define EVENTS_PER_THREAD 25

static const annal_open_options *small(void) {
    static annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.segment_bytes = 1 << 20;
    return &options;
}

static annal_store *open_in(const char *base, const char *name) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", base, name);
    annal_store *store = NULL;
    OK(annal_store_open(dir, small(), &store));
    return store;
}

/* Whether the calling thread's last error message contains `text`. */
static int last_error_says(const char *text) {
    char message[1024] = {0};
    size_t length = 0;
    OK(annal_last_error_message(message, sizeof message, &length));
    if (strstr(message, text) == NULL) {
        fprintf(stderr, "last error \"%s\" does not say \"%s\"\n", message, text);
        return 0;
    }
    return 1;
}

static size_t stream_length(annal_store *store, const uint8_t *stream, size_t stream_len) {
    annal_event_list *list = NULL;
    OK(annal_store_read_stream(store, stream, stream_len, 0, ANNAL_DIRECTION_FORWARDS, 1000,
                               &list));
    size_t count = 0;
    OK(annal_event_list_count(list, &count));
    OK(annal_event_list_free(list));
    return count;
}

static void round_trip(annal_store *store) {
    annal_stream_handle *order = NULL;
    annal_stream_handle *customer = NULL;
    OK(annal_store_stream_handle(store, BYTES("order-1"), &order));
    OK(annal_store_stream_handle(store, BYTES("customer-1"), &customer));
    CHECK(order != NULL && customer != NULL && order != customer);

    annal_new_event placed = text_event("OrderPlaced", "{\"total\":10}");
    annal_write_result result;
    OK(annal_store_append_to(store, order, ANNAL_EXPECTED_NO_STREAM, 0, &placed, 1,
                             ANNAL_DURABILITY_SYNCED, &result));
    CHECK(result.first_revision == 0 && result.last_revision == 0);
    CHECK(result.first_position == 0 && result.last_position == 0);
    /* Another stream between, through its own handle and by name. */
    annal_new_event noted = text_event("CustomerNoted", "");
    OK(annal_store_append_to(store, customer, ANNAL_EXPECTED_ANY, 0, &noted, 1,
                             ANNAL_DURABILITY_BUFFERED, NULL));
    OK(annal_store_append(store, BYTES("order-1"), ANNAL_EXPECTED_EXACT, 0, &noted, 1,
                          ANNAL_DURABILITY_BUFFERED, NULL));
    annal_new_event paid = text_event("OrderPaid", "{}");
    OK(annal_store_append_to(store, order, ANNAL_EXPECTED_EXACT, 1, &paid, 1,
                             ANNAL_DURABILITY_WRITTEN, &result));
    CHECK(result.first_revision == 2 && result.first_position == 3);

    /* A failed expectation writes nothing and leaves the result untouched. */
    annal_write_result untouched = {7, 7, 7, 7};
    EXPECT(annal_store_append_to(store, order, ANNAL_EXPECTED_NO_STREAM, 0, &paid, 1,
                                 ANNAL_DURABILITY_SYNCED, &untouched),
           ANNAL_STATUS_WRONG_EXPECTED_REVISION);
    CHECK(untouched.first_revision == 7 && untouched.last_position == 7);
    CHECK(last_error_says("order-1"));

    /* Several events at once, and an event with an id retried: the original result. */
    annal_new_event batch[2] = {text_event("LineAdded", "a"), text_event("LineAdded", "b")};
    OK(annal_store_append_to(store, order, ANNAL_EXPECTED_STREAM_EXISTS, 0, batch, 2,
                             ANNAL_DURABILITY_BUFFERED, &result));
    CHECK(result.first_revision == 3 && result.last_revision == 4);
    annal_new_event shipped = text_event("OrderShipped", "{}");
    static const uint8_t id[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
    shipped.id = id;
    OK(annal_store_append_to(store, order, ANNAL_EXPECTED_ANY, 0, &shipped, 1,
                             ANNAL_DURABILITY_SYNCED, &result));
    annal_write_result retry;
    OK(annal_store_append_to(store, order, ANNAL_EXPECTED_ANY, 0, &shipped, 1,
                             ANNAL_DURABILITY_SYNCED, &retry));
    CHECK(retry.first_position == result.first_position && retry.last_revision == 5);

    /* The index renumbered by a checkpoint: the handle still appends to its own stream. */
    OK(annal_store_checkpoint(store));
    OK(annal_store_append_to(store, customer, ANNAL_EXPECTED_EXACT, 0, &noted, 1,
                             ANNAL_DURABILITY_SYNCED, &result));
    CHECK(result.first_revision == 1);
    OK(annal_store_append_to(store, order, ANNAL_EXPECTED_EXACT, 5, &paid, 1,
                             ANNAL_DURABILITY_SYNCED, &result));
    CHECK(result.first_revision == 6);

    annal_event_list *list = NULL;
    OK(annal_store_read_stream(store, BYTES("order-1"), 0, ANNAL_DIRECTION_FORWARDS, 100,
                               &list));
    size_t count = 0;
    OK(annal_event_list_count(list, &count));
    CHECK(count == 7);
    static const char *const types[7] = {"OrderPlaced", "CustomerNoted", "OrderPaid",
                                         "LineAdded",   "LineAdded",     "OrderShipped",
                                         "OrderPaid"};
    for (size_t i = 0; i < count; i++) {
        annal_recorded_event e;
        OK(annal_event_list_get(list, i, &e));
        CHECK(e.revision == i && view_equals(e.stream, e.stream_len, "order-1"));
        CHECK(view_equals(e.event_type, e.event_type_len, types[i]));
    }
    annal_recorded_event first;
    OK(annal_event_list_get(list, 0, &first));
    CHECK(view_equals(first.data, first.data_len, "{\"total\":10}"));
    annal_recorded_event last;
    OK(annal_event_list_get(list, 5, &last));
    CHECK(last.has_id == 1 && memcmp(last.id, id, 16) == 0);
    OK(annal_event_list_free(list));
    CHECK(stream_length(store, BYTES("customer-1")) == 2);

    OK(annal_stream_handle_free(order));
    OK(annal_stream_handle_free(customer));
}

struct shared {
    annal_store *store;
    annal_stream_handle *handle;
};

static void *appender(void *arg) {
    struct shared *s = arg;
    annal_new_event e = text_event("Counted", "1");
    for (int i = 0; i < EVENTS_PER_THREAD; i++) {
        OK(annal_store_append(s->store, BYTES("other-1"), ANNAL_EXPECTED_ANY, 0, &e, 1,
                              ANNAL_DURABILITY_BUFFERED, NULL));
        OK(annal_store_append_to(s->store, s->handle, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_BUFFERED, NULL));
    }
    return NULL;
}

/* One handle, several threads at once: every event lands once, in its stream. */
static void threads(annal_store *store) {
    struct shared s = {store, NULL};
    OK(annal_store_stream_handle(store, BYTES("counter-1"), &s.handle));
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_create(&threads[i], NULL, appender, &s) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
    }
    OK(annal_store_flush(store));
    annal_stream_info info;
    OK(annal_store_stream_info(store, BYTES("counter-1"), &info));
    CHECK(info.has_revision == 1 && info.revision == THREADS * EVENTS_PER_THREAD - 1);
    CHECK(stream_length(store, BYTES("counter-1")) == THREADS * EVENTS_PER_THREAD);
    OK(annal_stream_handle_free(s.handle));
}

static void bad_names(annal_store *store) {
    annal_stream_handle *handle = NULL;
    annal_stream_handle *sentinel = (annal_stream_handle *)&handle;
    handle = sentinel;
    EXPECT(annal_store_stream_handle(NULL, BYTES("order-1"), &handle),
           ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(last_error_says("annal_store is NULL"));
    EXPECT(annal_store_stream_handle(store, NULL, 7, &handle), ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(last_error_says("stream is NULL"));
    EXPECT(annal_store_stream_handle(store, BYTES("order-1"), NULL), ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(last_error_says("handle_out is NULL"));
    EXPECT(annal_store_stream_handle(store, NULL, 0, &handle), ANNAL_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_says("empty"));
    EXPECT(annal_store_stream_handle(store, BYTES(""), &handle), ANNAL_STATUS_INVALID_ARGUMENT);
    EXPECT(annal_store_stream_handle(store, BYTES("order\0-1"), &handle),
           ANNAL_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_says("NUL"));
    uint8_t name[ANNAL_STREAM_NAME_BYTES_MAX + 1];
    memset(name, 'n', sizeof name);
    EXPECT(annal_store_stream_handle(store, name, sizeof name, &handle),
           ANNAL_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_says("255"));
    EXPECT(annal_store_stream_handle(store, name, SIZE_MAX, &handle), ANNAL_STATUS_INVALID_LENGTH);
    /* Nothing was written to the out-pointer by any refusal. */
    CHECK(handle == sentinel);
    OK(annal_store_stream_handle(store, name, ANNAL_STREAM_NAME_BYTES_MAX, &handle));
    annal_new_event e = text_event("Longest", "");
    annal_write_result result;
    OK(annal_store_append_to(store, handle, ANNAL_EXPECTED_NO_STREAM, 0, &e, 1,
                             ANNAL_DURABILITY_BUFFERED, &result));
    CHECK(result.first_revision == 0);
    OK(annal_stream_handle_free(handle));
}

static void bad_appends(annal_store *store) {
    annal_stream_handle *handle = NULL;
    OK(annal_store_stream_handle(store, BYTES("bad-1"), &handle));
    annal_new_event e = text_event("Bad", "");
    EXPECT(annal_store_append_to(NULL, handle, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_append_to(store, NULL, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(last_error_says("annal_stream_handle is NULL"));
    EXPECT(annal_store_append_to(store, handle, ANNAL_EXPECTED_ANY, 0, NULL, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(last_error_says("events is NULL"));
    EXPECT(annal_store_append_to(store, handle, ANNAL_EXPECTED_ANY, 0, NULL, 0,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_EMPTY_BATCH);
    EXPECT(annal_store_append_to(store, handle, 77, 0, &e, 1, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_append_to(store, handle, ANNAL_EXPECTED_ANY, 0, &e, 1, 9, NULL),
           ANNAL_STATUS_INVALID_ENUM);
    annal_new_event no_type = e;
    no_type.event_type = NULL;
    no_type.event_type_len = 3;
    EXPECT(annal_store_append_to(store, handle, ANNAL_EXPECTED_ANY, 0, &no_type, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    /* A handle of another kind (a store) and a store passed as a handle. */
    EXPECT(annal_store_append_to(store, (const annal_stream_handle *)store, ANNAL_EXPECTED_ANY,
                                 0, &e, 1, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_HANDLE);
    EXPECT(annal_store_append_to((const annal_store *)handle, handle, ANNAL_EXPECTED_ANY, 0, &e,
                                 1, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_HANDLE);
    EXPECT(annal_stream_handle_free((annal_stream_handle *)store), ANNAL_STATUS_INVALID_HANDLE);
    /* None of it wrote anything. */
    annal_stream_info info;
    EXPECT(annal_store_stream_info(store, BYTES("bad-1"), &info), ANNAL_STATUS_STREAM_NOT_FOUND);

    /* A freed handle, and a second free. */
    OK(annal_stream_handle_free(handle));
    EXPECT(annal_store_append_to(store, handle, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_USE_AFTER_CLOSE);
    CHECK(last_error_says("freed"));
    EXPECT(annal_stream_handle_free(handle), ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_stream_handle_free(NULL));
    /* The freed handle's slot reused by a new handle: the old value stays refused. */
    annal_stream_handle *again = NULL;
    OK(annal_store_stream_handle(store, BYTES("bad-2"), &again));
    EXPECT(annal_store_append_to(store, handle, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_stream_handle_free(again));
    EXPECT(annal_store_stream_info(store, BYTES("bad-1"), &info), ANNAL_STATUS_STREAM_NOT_FOUND);
    EXPECT(annal_store_stream_info(store, BYTES("bad-2"), &info), ANNAL_STATUS_STREAM_NOT_FOUND);
}

/* A handle belongs to the store that made it: another store refuses it, writing
 * nothing, also once the handle's own store was closed; a closed store refuses both
 * calls; a handle outliving its store is still freed. */
static void stores(const char *base) {
    annal_store *first = open_in(base, "first");
    annal_store *second = open_in(base, "second");
    annal_stream_handle *handle = NULL;
    OK(annal_store_stream_handle(first, BYTES("order-9"), &handle));
    annal_new_event e = text_event("OrderPlaced", "");
    annal_write_result untouched = {7, 7, 7, 7};
    EXPECT(annal_store_append_to(second, handle, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_SYNCED, &untouched),
           ANNAL_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_says("made by another annal_store"));
    CHECK(untouched.first_position == 7);
    annal_stream_info info;
    EXPECT(annal_store_stream_info(second, BYTES("order-9"), &info),
           ANNAL_STATUS_STREAM_NOT_FOUND);
    OK(annal_store_append_to(first, handle, ANNAL_EXPECTED_NO_STREAM, 0, &e, 1,
                             ANNAL_DURABILITY_SYNCED, NULL));

    OK(annal_store_close(first));
    EXPECT(annal_store_append_to(first, handle, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_USE_AFTER_CLOSE);
    CHECK(last_error_says("annal_store was closed"));
    annal_stream_handle *late = NULL;
    EXPECT(annal_store_stream_handle(first, BYTES("order-9"), &late),
           ANNAL_STATUS_USE_AFTER_CLOSE);
    CHECK(late == NULL);
    /* The same directory reopened is another store: the old handle is refused. */
    annal_store *reopened = open_in(base, "first");
    EXPECT(annal_store_append_to(reopened, handle, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_says("(now closed)"));
    EXPECT(annal_store_append_to(second, handle, ANNAL_EXPECTED_ANY, 0, &e, 1,
                                 ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_ARGUMENT);
    OK(annal_store_stream_info(reopened, BYTES("order-9"), &info));
    CHECK(info.has_revision == 1 && info.revision == 0);
    EXPECT(annal_store_stream_info(second, BYTES("order-9"), &info),
           ANNAL_STATUS_STREAM_NOT_FOUND);
    OK(annal_stream_handle_free(handle));
    OK(annal_store_close(reopened));
    OK(annal_store_close(second));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    annal_store *store = open_in(argv[1], "main");
    round_trip(store);
    threads(store);
    bad_names(store);
    bad_appends(store);
    OK(annal_store_close(store));
    stores(argv[1]);
    printf("stream_handle_test: ok\n");
    return 0;
}
