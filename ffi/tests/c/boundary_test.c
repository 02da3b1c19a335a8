/* boundary_test.c: proves bad input at the C boundary gets a status, never undefined
 * behaviour: NULL arguments, out-of-range enum values, impossible lengths and struct
 * sizes, oversized events, invalid UTF-8 and empty paths, handles of the wrong kind or
 * never issued, use after close and double close; and that versions, status names and
 * the last-error message work; and that zeroed options take the engine's default open
 * checks. Usage: boundary_test DIR */
#include <stdint.h>

#include "check.h"

/* Small segments: a test opening logs with the 64 MiB default spends its time (and
 * valgrind's) scanning preallocated zeros at each reopen. */
static const annal_open_options *small(void) {
    static annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.segment_bytes = 1 << 20;
    return &options;
}

static void versions_and_names(void) {
    CHECK(strlen(annal_version()) >= 5);
    CHECK(annal_format_version() == ANNAL_FORMAT_VERSION);
    CHECK(strcmp(annal_status_name(ANNAL_STATUS_OK), "ANNAL_STATUS_OK") == 0);
    CHECK(strcmp(annal_status_name(ANNAL_STATUS_WRONG_EXPECTED_REVISION),
                 "ANNAL_STATUS_WRONG_EXPECTED_REVISION") == 0);
    CHECK(strcmp(annal_status_name(ANNAL_STATUS_NO_EVENT), "ANNAL_STATUS_NO_EVENT") == 0);
    CHECK(strcmp(annal_status_name(-5), "ANNAL_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(annal_status_name(25), "ANNAL_STATUS_UNKNOWN") == 0);
    CHECK(strcmp(annal_status_name(ANNAL_STATUS_IO_URING_UNAVAILABLE),
                 "ANNAL_STATUS_IO_URING_UNAVAILABLE") == 0);
}

static void last_error(const char *dir) {
    annal_log *log = NULL;
    EXPECT(annal_log_open(NULL, NULL, &log), ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(annal_last_error_status() == ANNAL_STATUS_NULL_ARGUMENT);
    size_t length = 0;
    OK(annal_last_error_length(&length));
    CHECK(length == strlen("dir is NULL"));
    char message[64];
    size_t written = 0;
    OK(annal_last_error_message(message, sizeof message, &written));
    CHECK(written == length && strcmp(message, "dir is NULL") == 0);
    /* Too small for the message and its NUL: nothing written, the last error kept. */
    char tiny[4] = {'x', 'x', 'x', 'x'};
    written = 77;
    EXPECT(annal_last_error_message(tiny, sizeof tiny, &written),
           ANNAL_STATUS_BUFFER_TOO_SMALL);
    CHECK(written == 77 && tiny[0] == 'x');
    EXPECT(annal_last_error_message(NULL, 10, &written), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_last_error_message(message, sizeof message, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_last_error_length(NULL), ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(annal_last_error_status() == ANNAL_STATUS_NULL_ARGUMENT);
    /* A success leaves the last error as it was. */
    OK(annal_log_open(dir, small(), &log));
    CHECK(annal_last_error_status() == ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_log_close(log));
}

/* Flips one byte in the first record of `path` (its payload: past the segment header
 * and the record header). */
static void flip_first_record(const char *path) {
    FILE *file = fopen(path, "r+b");
    CHECK(file != NULL);
    CHECK(fseek(file, 160, SEEK_SET) == 0);
    int byte = fgetc(file);
    CHECK(byte != EOF);
    CHECK(fseek(file, 160, SEEK_SET) == 0);
    CHECK(fputc(byte ^ 0xff, file) != EOF);
    CHECK(fclose(file) == 0);
}

/* Zeroed options open with the engine's default checks (the tail only): damage in a
 * sealed segment is not read at open but refused by the read that reaches it, and
 * ANNAL_OPEN_CHECKS_ALL_SEGMENTS refuses it at open. */
static void open_checks_default(const char *base) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sealed-damage", base);
    annal_log *log = NULL;
    OK(annal_log_open(dir, small(), &log));
    uint8_t payload[1000];
    memset(payload, 7, sizeof payload);
    for (int i = 0; i < 4000; i++) {
        OK(annal_log_append(log, payload, sizeof payload, ANNAL_DURABILITY_BUFFERED, NULL));
    }
    OK(annal_log_sync(log));
    OK(annal_log_close(log));
    char segment[4200];
    snprintf(segment, sizeof segment, "%s/00000000000000000000.log", dir);
    flip_first_record(segment);

    annal_open_options options = *small();
    options.open_checks = ANNAL_OPEN_CHECKS_ALL_SEGMENTS;
    log = NULL;
    EXPECT(annal_log_open(dir, &options, &log), ANNAL_STATUS_CORRUPT);
    CHECK(log == NULL);

    OK(annal_log_open(dir, small(), &log));
    annal_reader *reader = NULL;
    OK(annal_log_read_from(log, 0, ANNAL_VISIBILITY_WRITTEN, &reader));
    annal_event_view view;
    EXPECT(annal_reader_next(reader, &view), ANNAL_STATUS_CORRUPT);
    OK(annal_reader_free(reader));
    OK(annal_log_close(log));
}

static void open_options(const char *dir, const char *base) {
    annal_log *log = NULL;
    EXPECT(annal_log_open("", NULL, &log), ANNAL_STATUS_INVALID_PATH);
    EXPECT(annal_log_open(dir, NULL, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = 3;
    EXPECT(annal_log_open(dir, &options, &log), ANNAL_STATUS_INVALID_LENGTH);
    options.struct_size = sizeof options;
    options.recovery = 7;
    EXPECT(annal_log_open(dir, &options, &log), ANNAL_STATUS_INVALID_ENUM);
    options.recovery = ANNAL_RECOVERY_TRUNCATE_AT_DAMAGE;
    options.open_checks = 9;
    EXPECT(annal_log_open(dir, &options, &log), ANNAL_STATUS_INVALID_ENUM);
    options.open_checks = ANNAL_OPEN_CHECKS_LAST_SEGMENT;
    options.verify_reads = 2;
    EXPECT(annal_log_open(dir, &options, &log), ANNAL_STATUS_INVALID_ENUM);
    options.verify_reads = 1;
    options.read_only = 3;
    EXPECT(annal_log_open(dir, &options, &log), ANNAL_STATUS_INVALID_ENUM);
    options.read_only = 0;
    options.segment_bytes = 1000;
    EXPECT(annal_log_open(dir, &options, &log), ANNAL_STATUS_INVALID_OPTIONS);
    CHECK(log == NULL);

    /* A caller with a newer, bigger struct: unknown fields must be zero. */
    struct {
        annal_open_options known;
        uint64_t newer_field;
    } bigger;
    memset(&bigger, 0, sizeof bigger);
    bigger.known.struct_size = sizeof bigger;
    bigger.known.segment_bytes = 1 << 20;
    bigger.newer_field = 1;
    EXPECT(annal_log_open(dir, &bigger.known, &log), ANNAL_STATUS_INVALID_LENGTH);
    bigger.newer_field = 0;
    OK(annal_log_open(dir, &bigger.known, &log));
    OK(annal_log_close(log));
    /* An older, smaller struct: the missing fields take their defaults. */
    options.struct_size = sizeof(size_t) + sizeof(uint64_t);
    options.segment_bytes = 1 << 20;
    options.verify_reads = 99; /* past struct_size: not read */
    OK(annal_log_open(dir, &options, &log));
    OK(annal_log_close(log));

    annal_store *store = NULL;
    /* NULL options: every default (on a fresh directory, never reopened). */
    char fresh[4200];
    snprintf(fresh, sizeof fresh, "%s/defaults", base);
    OK(annal_store_open(fresh, NULL, &store));
    OK(annal_store_close(store));
    EXPECT(annal_store_open(NULL, NULL, &store), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_open("", NULL, &store), ANNAL_STATUS_INVALID_PATH);
}

static void log_arguments(annal_log *log) {
    annal_appended appended = {5, 5};
    EXPECT(annal_log_append(log, NULL, 3, ANNAL_DURABILITY_SYNCED, &appended),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_log_append(log, BYTES("x"), 3, &appended), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_log_append(log, BYTES("x"), 0xFFFFFFFFu, &appended), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_log_append(log, (const uint8_t *)"x", SIZE_MAX, ANNAL_DURABILITY_SYNCED,
                            &appended),
           ANNAL_STATUS_INVALID_LENGTH);
    /* One byte over the 16 MiB event limit. */
    size_t oversized = (16u << 20) + 1;
    uint8_t *big = calloc(oversized, 1);
    CHECK(big != NULL);
    EXPECT(annal_log_append(log, big, oversized, ANNAL_DURABILITY_SYNCED, &appended),
           ANNAL_STATUS_LIMIT_EXCEEDED);
    free(big);
    EXPECT(annal_log_append_batch(log, NULL, 0, ANNAL_DURABILITY_SYNCED, &appended),
           ANNAL_STATUS_EMPTY_BATCH);
    EXPECT(annal_log_append_batch(log, NULL, 2, ANNAL_DURABILITY_SYNCED, &appended),
           ANNAL_STATUS_NULL_ARGUMENT);
    annal_bytes bad[2] = {{(const uint8_t *)"ok", 2}, {NULL, 4}};
    EXPECT(annal_log_append_batch(log, bad, 2, ANNAL_DURABILITY_SYNCED, &appended),
           ANNAL_STATUS_NULL_ARGUMENT);
    CHECK(appended.first_position == 5);
    OK(annal_log_append(log, BYTES("x"), ANNAL_DURABILITY_SYNCED, &appended));

    size_t size = 0;
    EXPECT(annal_log_read_size(log, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_log_read_size(log, 10, &size), ANNAL_STATUS_POSITION_OUT_OF_RANGE);
    EXPECT(annal_log_read(log, 0, NULL, 8, &size), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_log_read(log, 0, NULL, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_log_state(log, NULL), ANNAL_STATUS_NULL_ARGUMENT);

    annal_reader *reader = NULL;
    EXPECT(annal_log_read_from(log, 0, 2, &reader), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_log_read_from(log, 0, ANNAL_VISIBILITY_WRITTEN, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_log_read_from(log, 99, ANNAL_VISIBILITY_WRITTEN, &reader),
           ANNAL_STATUS_POSITION_OUT_OF_RANGE);
    OK(annal_log_read_from(log, 0, ANNAL_VISIBILITY_WRITTEN, &reader));
    annal_event_view views[2];
    size_t count = 0;
    EXPECT(annal_reader_next_batch(reader, views, 0, &count), ANNAL_STATUS_INVALID_LENGTH);
    EXPECT(annal_reader_next_batch(reader, NULL, 2, &count), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_reader_next_batch(reader, views, 2, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_reader_next(reader, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_reader_position(reader, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_reader_free(reader));

    annal_subscribe_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.start = 3;
    annal_subscription *subscription = NULL;
    EXPECT(annal_log_subscribe(log, &options, &subscription), ANNAL_STATUS_INVALID_ENUM);
    options.start = ANNAL_START_AT;
    options.start_position = 1000;
    EXPECT(annal_log_subscribe(log, &options, &subscription),
           ANNAL_STATUS_POSITION_OUT_OF_RANGE);
    options.start = ANNAL_START_BEGINNING;
    options.visibility = 5;
    EXPECT(annal_log_subscribe(log, &options, &subscription), ANNAL_STATUS_INVALID_ENUM);
    options.visibility = ANNAL_VISIBILITY_SYNCED;
    options.filter = 9;
    EXPECT(annal_log_subscribe(log, &options, &subscription), ANNAL_STATUS_INVALID_ENUM);
    options.filter = ANNAL_FILTER_ALL;
    options.filter_len = 4;
    EXPECT(annal_log_subscribe(log, &options, &subscription), ANNAL_STATUS_NULL_ARGUMENT);
    options.filter_len = 0;
    EXPECT(annal_log_subscribe(log, &options, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_log_subscribe(log, &options, &subscription));
    EXPECT(annal_subscription_next(subscription, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_subscription_poll(subscription, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_subscription_position(subscription, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_subscription_free(subscription));

    annal_consumer *consumer = NULL;
    EXPECT(annal_consumer_create(log, NULL, ANNAL_START_BEGINNING, 0, &consumer),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_consumer_create(log, "\xff\xfe", ANNAL_START_BEGINNING, 0, &consumer),
           ANNAL_STATUS_INVALID_UTF8);
    EXPECT(annal_consumer_create(log, "", ANNAL_START_BEGINNING, 0, &consumer),
           ANNAL_STATUS_INVALID_CONSUMER_NAME);
    EXPECT(annal_consumer_create(log, "ok", 4, 0, &consumer), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_consumer_open(log, "a/b", &consumer), ANNAL_STATUS_INVALID_CONSUMER_NAME);
    EXPECT(annal_consumer_delete(log, "nobody"), ANNAL_STATUS_UNKNOWN_CONSUMER);
    EXPECT(annal_consumer_delete(log, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_consumer_create(log, "ok", ANNAL_START_BEGINNING, 0, &consumer));
    EXPECT(annal_consumer_subscribe(consumer, 7, &subscription), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_consumer_append_and_commit(consumer, NULL, 0, 0, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_EMPTY_BATCH);
    annal_bytes one = {(const uint8_t *)"e", 1};
    EXPECT(annal_consumer_append_and_commit(consumer, &one, 1, 0, 9, NULL),
           ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_consumer_checkpoint(consumer, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_consumer_free(consumer));
    annal_consumer_list *list = NULL;
    EXPECT(annal_log_consumers(log, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_log_consumers(log, &list));
    EXPECT(annal_consumer_list_count(list, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_consumer_list_get(list, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_consumer_list_free(list));
}

static void store_arguments(annal_store *store) {
    annal_new_event e;
    memset(&e, 0, sizeof e);
    e.event_type = (const uint8_t *)"T";
    e.event_type_len = 1;
    EXPECT(annal_store_append(store, BYTES("s-1"), 4, 0, &e, 1, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_append(store, BYTES("s-1"), ANNAL_EXPECTED_ANY, 0, &e, 1, 3, NULL),
           ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_append(store, NULL, 3, ANNAL_EXPECTED_ANY, 0, &e, 1,
                              ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_append(store, (const uint8_t *)"", 0, ANNAL_EXPECTED_ANY, 0, &e, 1,
                              ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_ARGUMENT);
    EXPECT(annal_store_append(store, BYTES("s-1"), ANNAL_EXPECTED_ANY, 0, NULL, 1,
                              ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    annal_new_event bad = e;
    bad.data_len = 10;
    EXPECT(annal_store_append(store, BYTES("s-1"), ANNAL_EXPECTED_ANY, 0, &bad, 1,
                              ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    bad = e;
    bad.metadata_len = 1;
    EXPECT(annal_store_append(store, BYTES("s-1"), ANNAL_EXPECTED_ANY, 0, &bad, 1,
                              ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    char long_name[300];
    memset(long_name, 'n', sizeof long_name);
    EXPECT(annal_store_append(store, (const uint8_t *)long_name, sizeof long_name,
                              ANNAL_EXPECTED_ANY, 0, &e, 1, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_ARGUMENT);
    size_t oversized = (16u << 20) + 1;
    uint8_t *big = calloc(oversized, 1);
    CHECK(big != NULL);
    bad = e;
    bad.data = big;
    bad.data_len = oversized;
    EXPECT(annal_store_append(store, BYTES("s-1"), ANNAL_EXPECTED_ANY, 0, &bad, 1,
                              ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_LIMIT_EXCEEDED);
    free(big);
    annal_stream_append multi;
    memset(&multi, 0, sizeof multi);
    multi.stream = (const uint8_t *)"s-1";
    multi.stream_len = 3;
    multi.expected_kind = 9;
    multi.events = &e;
    multi.event_count = 1;
    EXPECT(annal_store_append_multi(store, &multi, 1, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_append_multi(store, NULL, 1, ANNAL_DURABILITY_SYNCED, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_store_append(store, BYTES("s-1"), ANNAL_EXPECTED_ANY, 0, &e, 1,
                          ANNAL_DURABILITY_SYNCED, NULL));

    annal_event_list *list = NULL;
    EXPECT(annal_store_read_stream(store, BYTES("s-1"), 0, 2, 10, &list), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_read_stream(store, BYTES("s-1"), 0, ANNAL_DIRECTION_FORWARDS, 10, NULL),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_read_stream_as_of(store, BYTES("s-1"), 0, 0, 7, 10, &list),
           ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_read_stream_at_time(store, NULL, 1, 0, 10, &list),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_read_all(store, 0, 2, 10, &list), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_read_category(store, NULL, 5, 0, ANNAL_DIRECTION_FORWARDS, 10, &list),
           ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_position_after_time(store, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_stream_info(store, BYTES("s-1"), NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_next_position(store, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_truncate_stream(store, NULL, 2, 0), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_delete_stream(store, BYTES("nobody-1")), ANNAL_STATUS_STREAM_NOT_FOUND);
    OK(annal_store_read_all(store, 0, ANNAL_DIRECTION_FORWARDS, 10, &list));
    annal_recorded_event view;
    EXPECT(annal_event_list_get(list, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_event_list_get(list, SIZE_MAX, &view), ANNAL_STATUS_INVALID_LENGTH);
    OK(annal_event_list_free(list));

    annal_subscribe_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.filter = 4;
    annal_store_subscription *subscription = NULL;
    EXPECT(annal_store_subscribe(store, &options, &subscription), ANNAL_STATUS_INVALID_ENUM);
    EXPECT(annal_store_subscribe(store, NULL, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_store_subscribe(store, NULL, &subscription));
    EXPECT(annal_store_subscription_next(subscription, 0, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_subscription_poll(subscription, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_store_subscription_position(subscription, NULL), ANNAL_STATUS_NULL_ARGUMENT);
    OK(annal_store_subscription_free(subscription));
}

/* Handles of the wrong kind, never issued, NULL, closed, closed twice. */
static void handles(const char *log_dir, const char *store_dir) {
    annal_log *log = NULL;
    annal_store *store = NULL;
    OK(annal_log_open(log_dir, small(), &log));
    OK(annal_store_open(store_dir, small(), &store));
    annal_log_info state;
    EXPECT(annal_log_state((const annal_log *)store, &state), ANNAL_STATUS_INVALID_HANDLE);
    EXPECT(annal_store_checkpoint((const annal_store *)log), ANNAL_STATUS_INVALID_HANDLE);
    EXPECT(annal_log_state((const annal_log *)(uintptr_t)0x1000, &state),
           ANNAL_STATUS_INVALID_HANDLE);
    EXPECT(annal_log_state((const annal_log *)&state, &state), ANNAL_STATUS_INVALID_HANDLE);
    EXPECT(annal_log_state(NULL, &state), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_log_flush(NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_log_sync(NULL), ANNAL_STATUS_NULL_ARGUMENT);
    EXPECT(annal_reader_free((annal_reader *)log), ANNAL_STATUS_INVALID_HANDLE);
    EXPECT(annal_subscription_free((annal_subscription *)store), ANNAL_STATUS_INVALID_HANDLE);
    EXPECT(annal_consumer_commit(NULL, 0), ANNAL_STATUS_NULL_ARGUMENT);

    OK(annal_log_close(log));
    EXPECT(annal_log_close(log), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_log_state(log, &state), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_log_flush(log), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_log_sync(log), ANNAL_STATUS_USE_AFTER_CLOSE);
    annal_consumer_list *list = NULL;
    EXPECT(annal_log_consumers(log, &list), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_log_truncate_before(log, 0, NULL), ANNAL_STATUS_USE_AFTER_CLOSE);
    CHECK(list == NULL);
    OK(annal_store_close(store));
    EXPECT(annal_store_close(store), ANNAL_STATUS_USE_AFTER_CLOSE);
    uint64_t position = 0;
    EXPECT(annal_store_next_position(store, &position), ANNAL_STATUS_USE_AFTER_CLOSE);

    /* A freed handle stays dead when its slot is reused by a new handle of the same kind. */
    OK(annal_log_open(log_dir, small(), &log));
    annal_reader *first = NULL;
    annal_reader *second = NULL;
    OK(annal_log_read_from(log, 0, ANNAL_VISIBILITY_WRITTEN, &first));
    OK(annal_reader_free(first));
    OK(annal_log_read_from(log, 0, ANNAL_VISIBILITY_WRITTEN, &second));
    CHECK(second != first);
    EXPECT(annal_reader_position(first, &position), ANNAL_STATUS_USE_AFTER_CLOSE);
    EXPECT(annal_reader_free(first), ANNAL_STATUS_USE_AFTER_CLOSE);
    OK(annal_reader_position(second, &position));
    CHECK(position == 0);
    OK(annal_reader_free(second));
    OK(annal_log_close(log));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char log_dir[4096];
    char store_dir[4096];
    snprintf(log_dir, sizeof log_dir, "%s/log", argv[1]);
    snprintf(store_dir, sizeof store_dir, "%s/store", argv[1]);
    versions_and_names();
    last_error(log_dir);
    open_options(log_dir, argv[1]);
    open_checks_default(argv[1]);
    annal_log *log = NULL;
    OK(annal_log_open(log_dir, small(), &log));
    log_arguments(log);
    OK(annal_log_close(log));
    annal_store *store = NULL;
    OK(annal_store_open(store_dir, small(), &store));
    store_arguments(store);
    OK(annal_store_close(store));
    handles(log_dir, store_dir);
    printf("boundary_test: ok\n");
    return 0;
}
