/* check.h: assertions for the C suite; a failed one prints the status's name and the
 * calling thread's last error message, then exits 1. */
#ifndef ANNAL_TEST_CHECK_H
#define ANNAL_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "annal.h"

static inline void expect_status(annal_status got, annal_status want, const char *call,
                                 const char *file, int line) {
    if (got == want) {
        return;
    }
    char message[1024] = {0};
    size_t length = 0;
    annal_last_error_message(message, sizeof message, &length);
    fprintf(stderr, "%s:%d: %s\n  returned %s (%d), want %s (%d)\n  last error: %s\n", file,
            line, call, annal_status_name(got), (int)got, annal_status_name(want), (int)want,
            message);
    exit(1);
}

#define EXPECT(call, want) expect_status((call), (want), #call, __FILE__, __LINE__)
#define OK(call) EXPECT(call, ANNAL_STATUS_OK)
#define CHECK(condition)                                                               \
    do {                                                                               \
        if (!(condition)) {                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #condition); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* A string literal as the (pointer, length) pair the API takes for byte strings. */
#define BYTES(literal) (const uint8_t *)(literal), (sizeof(literal) - 1)

/* An event of type `type` with `data` (both NUL-terminated text), no id, no metadata. */
static inline annal_new_event text_event(const char *type, const char *data) {
    annal_new_event e;
    memset(&e, 0, sizeof e);
    e.event_type = (const uint8_t *)type;
    e.event_type_len = strlen(type);
    e.data = (const uint8_t *)data;
    e.data_len = strlen(data);
    return e;
}

static inline int view_equals(const uint8_t *ptr, size_t len, const char *text) {
    return len == strlen(text) && (len == 0 || memcmp(ptr, text, len) == 0);
}

#endif
