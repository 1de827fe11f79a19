// Works around a per-request leak in swift-corelibs-foundation's URLSession on Linux.
//
// FoundationNetworking's CFURLSessionCurlHostIsEqual (called for every request from _EasyHandle.set(url:))
// makes a libcurl URL handle with curl_url(), parses the request URL into it, and then releases it with
// curl_free() instead of curl_url_cleanup(). curl_free() frees the handle's struct but not the strings
// curl_url_set() allocated for the URL's parts: about 54 bytes in three allocations per request, for the
// life of the process (measured with heaptrack; see docs/performance.md).
//
// This file defines curl_url, curl_url_dup, curl_url_cleanup and curl_free in the executable. The dynamic
// linker resolves every call to them -- FoundationNetworking's and libcurl's own calls through its PLT -- to
// these definitions first. They remember which pointers are live URL handles, forward to libcurl's real
// functions (found with dlsym(RTLD_NEXT)), and turn curl_free() of a live URL handle into curl_url_cleanup().
// Any other pointer passed to curl_free() goes to libcurl's curl_free() unchanged.
#define _GNU_SOURCE
#include "CCurlLeakFix.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

typedef void *(*curl_url_fn)(void);
typedef void *(*curl_url_dup_fn)(const void *);
typedef void (*curl_url_cleanup_fn)(void *);
typedef void (*curl_free_fn)(void *);

static curl_url_fn real_curl_url;
static curl_url_dup_fn real_curl_url_dup;
static curl_url_cleanup_fn real_curl_url_cleanup;
static curl_free_fn real_curl_free;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve(void) {
    real_curl_url = (curl_url_fn)dlsym(RTLD_NEXT, "curl_url");
    real_curl_url_dup = (curl_url_dup_fn)dlsym(RTLD_NEXT, "curl_url_dup");
    real_curl_url_cleanup = (curl_url_cleanup_fn)dlsym(RTLD_NEXT, "curl_url_cleanup");
    real_curl_free = (curl_free_fn)dlsym(RTLD_NEXT, "curl_free");
}

// The set of live URL handles: a chained hash table under one mutex. Handles live for one URL parse, so the
// set stays as small as the number of requests being started at once.
#define BUCKETS 1024u

struct node {
    const void *handle;
    struct node *next;
};

static struct node *buckets[BUCKETS];
static long live;
static long created;
static long rescued;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned bucket_of(const void *handle) {
    uintptr_t bits = (uintptr_t)handle;
    return (unsigned)((bits >> 4) ^ (bits >> 14)) % BUCKETS;
}

static void remember(const void *handle) {
    struct node *entry = malloc(sizeof *entry);
    if (entry == NULL) return;  // Not remembered: a later curl_free() of it leaks, as it would without this file.
    entry->handle = handle;
    pthread_mutex_lock(&lock);
    unsigned index = bucket_of(handle);
    entry->next = buckets[index];
    buckets[index] = entry;
    live += 1;
    created += 1;
    pthread_mutex_unlock(&lock);
}

/// Removes `handle` from the set; returns whether it was there, and then counts it in `tally` when given.
static int forget(const void *handle, long *tally) {
    struct node *found = NULL;
    pthread_mutex_lock(&lock);
    for (struct node **link = &buckets[bucket_of(handle)]; *link != NULL; link = &(*link)->next) {
        if ((*link)->handle == handle) {
            found = *link;
            *link = found->next;
            live -= 1;
            if (tally != NULL) *tally += 1;
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    free(found);
    return found != NULL;
}

void *curl_url(void) {
    pthread_once(&resolve_once, resolve);
    void *handle = real_curl_url ? real_curl_url() : NULL;
    if (handle != NULL) remember(handle);
    return handle;
}

void *curl_url_dup(const void *source) {
    pthread_once(&resolve_once, resolve);
    void *handle = real_curl_url_dup ? real_curl_url_dup(source) : NULL;
    if (handle != NULL) remember(handle);
    return handle;
}

void curl_url_cleanup(void *handle) {
    pthread_once(&resolve_once, resolve);
    if (handle != NULL) forget(handle, NULL);
    if (real_curl_url_cleanup) real_curl_url_cleanup(handle);
}

void curl_free(void *pointer) {
    pthread_once(&resolve_once, resolve);
    if (pointer != NULL && forget(pointer, &rescued)) {
        if (real_curl_url_cleanup) real_curl_url_cleanup(pointer);
        return;
    }
    if (real_curl_free) real_curl_free(pointer);
}

static long read_counter(const long *counter) {
    pthread_mutex_lock(&lock);
    long value = *counter;
    pthread_mutex_unlock(&lock);
    return value;
}

long billing_curlu_live_handles(void) { return read_counter(&live); }

long billing_curlu_created_handles(void) { return read_counter(&created); }

long billing_curlu_rescued_handles(void) { return read_counter(&rescued); }

int billing_curlu_fix_active(void) {
    pthread_once(&resolve_once, resolve);
    return real_curl_url != NULL && real_curl_free != NULL && real_curl_url_cleanup != NULL;
}
