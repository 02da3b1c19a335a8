/* orders.c: the C API in one program. An order service appends to stream order-42 with
 * an expected revision and reads the stream back; an invoicing consumer of the store
 * reacts to each order event exactly once (its invoice and its checkpoint in one record),
 * is stopped, reopened, and resumes; then a billing consumer follows a raw log, commits
 * its checkpoint, "restarts" (the log is closed and reopened), and resumes where it left
 * off. Usage: orders DIR (DIR is created; it must not hold a log already). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annal.h"

/* Prints the failing call, its status and the last error, and exits. */
static void check(annal_status status, const char *call) {
    if (status == ANNAL_STATUS_OK) {
        return;
    }
    char message[512] = {0};
    size_t length = 0;
    annal_last_error_message(message, sizeof message, &length);
    fprintf(stderr, "%s: %s: %s\n", call, annal_status_name(status), message);
    exit(1);
}
#define CHECK(call) check((call), #call)

static annal_new_event new_event(const char *type, const char *data) {
    annal_new_event event;
    memset(&event, 0, sizeof event);
    event.event_type = (const uint8_t *)type;
    event.event_type_len = strlen(type);
    event.data = (const uint8_t *)data;
    event.data_len = strlen(data);
    return event;
}

static void order_service(const char *dir, const annal_open_options *options) {
    annal_store *store = NULL;
    CHECK(annal_store_open(dir, options, &store));
    const char *stream = "order-42";
    annal_new_event created[2] = {new_event("OrderCreated", "{\"total\":30}"),
                                  new_event("ItemAdded", "{\"sku\":\"tea\"}")};
    annal_write_result result;
    CHECK(annal_store_append(store, (const uint8_t *)stream, strlen(stream),
                             ANNAL_EXPECTED_NO_STREAM, 0, created, 2, ANNAL_DURABILITY_SYNCED,
                             &result));
    annal_new_event paid = new_event("OrderPaid", "{\"amount\":30}");
    CHECK(annal_store_append(store, (const uint8_t *)stream, strlen(stream), ANNAL_EXPECTED_EXACT,
                             result.last_revision, &paid, 1, ANNAL_DURABILITY_SYNCED, NULL));
    /* Someone else's stale view of the stream is refused. */
    annal_status stale = annal_store_append(store, (const uint8_t *)stream, strlen(stream),
                                            ANNAL_EXPECTED_EXACT, 0, &paid, 1,
                                            ANNAL_DURABILITY_SYNCED, NULL);
    printf("stale append: %s\n", annal_status_name(stale));

    annal_event_list *events = NULL;
    CHECK(annal_store_read_stream(store, (const uint8_t *)stream, strlen(stream), 0,
                                  ANNAL_DIRECTION_FORWARDS, 100, &events));
    size_t count = 0;
    CHECK(annal_event_list_count(events, &count));
    for (size_t i = 0; i < count; i++) {
        annal_recorded_event event;
        CHECK(annal_event_list_get(events, i, &event));
        printf("%.*s@%llu %.*s %.*s\n", (int)event.stream_len, (const char *)event.stream,
               (unsigned long long)event.revision, (int)event.event_type_len,
               (const char *)event.event_type, (int)event.data_len, (const char *)event.data);
    }
    CHECK(annal_event_list_free(events));
    CHECK(annal_store_close(store));
}

/* The store consumer "invoicing" reacts to at most `budget` order events: for each, an
 * InvoiceIssued event with an id derived from the order's position, appended together
 * with the checkpoint past the order (a retry after a crash would write nothing twice). */
static int invoicing(annal_store *store, int budget) {
    annal_store_consumer *consumer = NULL;
    if (annal_store_consumer_open(store, "invoicing", &consumer) ==
        ANNAL_STATUS_UNKNOWN_CONSUMER) {
        CHECK(annal_store_consumer_create(store, "invoicing", ANNAL_START_BEGINNING, 0,
                                          &consumer));
    }
    annal_subscribe_options orders;
    memset(&orders, 0, sizeof orders);
    orders.struct_size = sizeof orders;
    orders.filter = ANNAL_FILTER_CATEGORY;
    orders.filter_value = (const uint8_t *)"order";
    orders.filter_len = 5;
    annal_store_subscription *subscription = NULL;
    CHECK(annal_store_consumer_subscribe(consumer, &orders, &subscription));
    int handled = 0;
    annal_recorded_event event;
    while (handled < budget) {
        annal_status status = annal_store_subscription_next(subscription, 100, &event);
        if (status == ANNAL_STATUS_NO_EVENT) {
            break;
        }
        CHECK(status);
        uint64_t after = 0;
        CHECK(annal_store_subscription_position(subscription, &after));
        uint8_t id[16] = {'i', 'n', 'v'};
        memcpy(id + 8, &event.position, sizeof event.position);
        annal_new_event invoice = new_event("InvoiceIssued", "{}");
        invoice.id = id;
        annal_stream_append reaction;
        memset(&reaction, 0, sizeof reaction);
        reaction.stream = (const uint8_t *)"invoice-42";
        reaction.stream_len = strlen("invoice-42");
        reaction.expected_kind = ANNAL_EXPECTED_ANY;
        reaction.events = &invoice;
        reaction.event_count = 1;
        annal_write_result written;
        CHECK(annal_store_consumer_append_and_commit(consumer, &reaction, 1, after,
                                                     ANNAL_DURABILITY_SYNCED, &written));
        printf("invoicing: %.*s@%llu -> invoice-42@%llu\n", (int)event.stream_len,
               (const char *)event.stream, (unsigned long long)event.revision,
               (unsigned long long)written.last_revision);
        handled++;
    }
    CHECK(annal_store_subscription_free(subscription));
    CHECK(annal_store_consumer_free(consumer));
    return handled;
}

static void invoicing_resumes(const char *dir, const annal_open_options *options) {
    annal_store *store = NULL;
    CHECK(annal_store_open(dir, options, &store));
    int first = invoicing(store, 2);
    CHECK(annal_store_close(store));
    printf("invoicing stopped after %d events; restarting\n", first);
    CHECK(annal_store_open(dir, options, &store));
    int second = invoicing(store, 100);
    annal_stream_info info;
    CHECK(annal_store_stream_info(store, (const uint8_t *)"invoice-42", 10, &info));
    CHECK(annal_store_close(store));
    printf("invoicing resumed and handled %d more\n", second);
    if (first + second != 3 || info.revision != 2) {
        fprintf(stderr, "expected 3 orders invoiced once each, got %d and revision %llu\n",
                first + second, (unsigned long long)info.revision);
        exit(1);
    }
}

/* Handles at most `budget` events, committing after each; returns how many it handled. */
static int billing(annal_log *log, int budget) {
    annal_consumer *consumer = NULL;
    if (annal_consumer_open(log, "billing", &consumer) == ANNAL_STATUS_UNKNOWN_CONSUMER) {
        CHECK(annal_consumer_create(log, "billing", ANNAL_START_BEGINNING, 0, &consumer));
    }
    annal_subscription *subscription = NULL;
    CHECK(annal_consumer_subscribe(consumer, ANNAL_VISIBILITY_SYNCED, &subscription));
    int handled = 0;
    annal_event_view event;
    while (handled < budget) {
        annal_status status = annal_subscription_next(subscription, 100, &event);
        if (status == ANNAL_STATUS_NO_EVENT) {
            break;
        }
        CHECK(status);
        printf("billing handles position %llu: %.*s\n", (unsigned long long)event.position,
               (int)event.payload_len, (const char *)event.payload);
        CHECK(annal_consumer_commit(consumer, event.position + 1));
        handled++;
    }
    CHECK(annal_subscription_free(subscription));
    CHECK(annal_consumer_free(consumer));
    return handled;
}

static void billing_resumes(const char *dir, const annal_open_options *options) {
    annal_log *log = NULL;
    CHECK(annal_log_open(dir, options, &log));
    const char *invoices[] = {"invoice 1", "invoice 2", "invoice 3", "invoice 4"};
    for (size_t i = 0; i < 4; i++) {
        CHECK(annal_log_append(log, (const uint8_t *)invoices[i], strlen(invoices[i]),
                               ANNAL_DURABILITY_SYNCED, NULL));
    }
    int first = billing(log, 2);
    CHECK(annal_log_close(log));
    printf("billing stopped after %d events; restarting\n", first);

    CHECK(annal_log_open(dir, options, &log));
    int second = billing(log, 100);
    CHECK(annal_log_close(log));
    printf("billing resumed and handled %d more\n", second);
    if (first + second != 4) {
        fprintf(stderr, "expected 4 events in all, handled %d\n", first + second);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    printf("annal %s, on-disk format %u\n", annal_version(), annal_format_version());
    annal_open_options options;
    memset(&options, 0, sizeof options);
    options.struct_size = sizeof options;
    options.segment_bytes = 1 << 20;
    char store_dir[4200];
    char log_dir[4200];
    snprintf(store_dir, sizeof store_dir, "%s/store", argv[1]);
    snprintf(log_dir, sizeof log_dir, "%s/log", argv[1]);
    order_service(store_dir, &options);
    invoicing_resumes(store_dir, &options);
    billing_resumes(log_dir, &options);
    return 0;
}
