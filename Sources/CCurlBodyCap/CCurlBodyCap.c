// Caps the body bytes libcurl delivers to URLSession on Linux, counted after any Content-Encoding is undone.
//
// FoundationNetworking enables libcurl's automatic decompression on every transfer and hands each chunk
// to its delegate asynchronously, so neither a delegate nor a cancelled task stops a transfer in time: a
// 200 KB gzip answer that inflates to 200 MB is inflated and queued whole (measured: 255 MB resident)
// before the first cancel is seen. The only place a transfer can be stopped as the bytes come is libcurl's
// write callback.
//
// This file defines curl_easy_setopt() and curl_easy_cleanup() in the executable, so FoundationNetworking's
// calls resolve here first. When a write function or write data is set on an easy handle, the handle gets a
// small record holding FoundationNetworking's function and data, and libcurl is given capped_write with the
// record instead. capped_write counts the bytes of the transfer and returns 0 once they would pass the cap,
// which makes libcurl abort it (CURLE_WRITE_ERROR); otherwise it calls FoundationNetworking's function with
// its own data. Setting the URL starts a new count. Every other option, and every other call, goes to
// libcurl unchanged. curl_easy_duphandle() would copy the record pointer; FoundationNetworking never calls it.
#define _GNU_SOURCE
#include "CCurlBodyCap.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

// From <curl/curl.h>; written out so that building needs no libcurl headers. Part of libcurl's ABI.
enum {
    OPTTYPE_OBJECTPOINT = 10000,
    OPTTYPE_FUNCTIONPOINT = 20000,
    OPTTYPE_OFF_T = 30000,
    OPTTYPE_BLOB = 40000,
    OPT_WRITEDATA = OPTTYPE_OBJECTPOINT + 1,
    OPT_URL = OPTTYPE_OBJECTPOINT + 2,
    OPT_WRITEFUNCTION = OPTTYPE_FUNCTIONPOINT + 11,
    E_OK = 0,
    E_OUT_OF_MEMORY = 27,
    E_FAILED_INIT = 2,
};

typedef size_t (*write_function)(char *data, size_t size, size_t count, void *user);
typedef int (*easy_setopt_function)(void *easy, int option, ...);
typedef void (*easy_cleanup_function)(void *easy);

static easy_setopt_function real_setopt;
static easy_cleanup_function real_cleanup;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve(void) {
    real_setopt = (easy_setopt_function)dlsym(RTLD_NEXT, "curl_easy_setopt");
    real_cleanup = (easy_cleanup_function)dlsym(RTLD_NEXT, "curl_easy_cleanup");
}

static _Atomic size_t cap;
static _Atomic long aborted;

// One record per easy handle that has a write function or write data, in a list searched by handle. A
// process has as many handles as transfers in flight (at most the workers), and the list is only searched
// when options are set and when a handle is cleaned up, never per chunk.
struct record {
    void *easy;
    write_function write;
    void *data;
    size_t received;
    struct record *next;
};
static struct record *records;
static pthread_mutex_t records_lock = PTHREAD_MUTEX_INITIALIZER;

static struct record *record_for(void *easy, int create) {
    for (struct record *r = records; r != NULL; r = r->next) {
        if (r->easy == easy) return r;
    }
    if (!create) return NULL;
    struct record *r = calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->easy = easy;
    r->next = records;
    records = r;
    return r;
}

static size_t capped_write(char *data, size_t size, size_t count, void *user) {
    struct record *r = user;
    size_t limit = atomic_load_explicit(&cap, memory_order_relaxed);
    size_t bytes = size * count;
    if (limit != 0 && (bytes > limit || r->received > limit - bytes)) {
        atomic_fetch_add_explicit(&aborted, 1, memory_order_relaxed);
        return 0;  // Fewer bytes than offered: libcurl aborts the transfer.
    }
    r->received += bytes;
    if (r->write != NULL) return r->write(data, size, count, r->data);
    return fwrite(data, size, count, r->data != NULL ? r->data : stdout);  // libcurl's default
}

int curl_easy_setopt(void *easy, int option, ...) {
    pthread_once(&resolve_once, resolve);
    if (real_setopt == NULL) return E_FAILED_INIT;
    va_list arguments;
    va_start(arguments, option);
    int result;
    if (option == OPT_WRITEFUNCTION || option == OPT_WRITEDATA) {
        void *value = option == OPT_WRITEFUNCTION ? (void *)va_arg(arguments, write_function)
                                                   : va_arg(arguments, void *);
        pthread_mutex_lock(&records_lock);
        struct record *r = record_for(easy, 1);
        if (r == NULL) {
            result = E_OUT_OF_MEMORY;
        } else {
            if (option == OPT_WRITEFUNCTION) r->write = (write_function)value;
            else r->data = value;
            result = real_setopt(easy, OPT_WRITEFUNCTION, capped_write);
            if (result == E_OK) result = real_setopt(easy, OPT_WRITEDATA, (void *)r);
        }
        pthread_mutex_unlock(&records_lock);
    } else if (option < OPTTYPE_OBJECTPOINT) {
        long value = va_arg(arguments, long);
        result = real_setopt(easy, option, value);
    } else if (option < OPTTYPE_FUNCTIONPOINT || option >= OPTTYPE_BLOB) {
        void *value = va_arg(arguments, void *);
        if (option == OPT_URL) {
            pthread_mutex_lock(&records_lock);
            struct record *r = record_for(easy, 0);
            if (r != NULL) r->received = 0;
            pthread_mutex_unlock(&records_lock);
        }
        result = real_setopt(easy, option, value);
    } else if (option < OPTTYPE_OFF_T) {
        void (*value)(void) = va_arg(arguments, void (*)(void));
        result = real_setopt(easy, option, value);
    } else {
        long long value = va_arg(arguments, long long);
        result = real_setopt(easy, option, value);
    }
    va_end(arguments);
    return result;
}

void curl_easy_cleanup(void *easy) {
    pthread_once(&resolve_once, resolve);
    if (real_cleanup == NULL) return;
    real_cleanup(easy);
    pthread_mutex_lock(&records_lock);
    for (struct record **link = &records; *link != NULL; link = &(*link)->next) {
        if ((*link)->easy == easy) {
            struct record *r = *link;
            *link = r->next;
            free(r);
            break;
        }
    }
    pthread_mutex_unlock(&records_lock);
}

void billing_curl_body_cap_set(size_t bytes) { atomic_store_explicit(&cap, bytes, memory_order_relaxed); }

int billing_curl_body_cap_active(void) {
    pthread_once(&resolve_once, resolve);
    return real_setopt != NULL && real_cleanup != NULL;
}

long billing_curl_body_cap_aborted(void) { return atomic_load_explicit(&aborted, memory_order_relaxed); }
