// Works around URLSession's busy polling on Linux while it waits for an answer on a new connection.
//
// FoundationNetworking drives libcurl's multi interface with libdispatch: libcurl's socket callback
// (CURLMOPT_SOCKETFUNCTION) says which readiness it wants on a socket, and FoundationNetworking's
// callback (_MultiHandle.register) creates a dispatch read and/or write source for it. It only ever
// adds sources: when libcurl narrows what it wants -- CURL_POLL_OUT while connecting and sending, then
// CURL_POLL_IN while the answer is awaited -- the write source stays armed. A connected socket is always
// writable, so the source fires without pause, each time running curl_multi_socket_action() for nothing,
// and the process burns about one CPU until the answer arrives (docs/behaviour.md). Sources are only
// cancelled on CURL_POLL_REMOVE.
//
// This file defines curl_multi_setopt() in the executable, so FoundationNetworking's call to it resolves
// here first. When the socket function is set, it installs a wrapper in front of it. The wrapper remembers
// what each socket was last registered for; when a callback drops a direction that was registered (OUT
// -> IN, INOUT -> IN, INOUT -> OUT, IN -> OUT), it first passes CURL_POLL_REMOVE, which makes
// FoundationNetworking cancel both sources and release its per-socket object, and then passes the new
// registration with no per-socket object, so FoundationNetworking creates fresh sources for exactly what
// libcurl wants and stores its new object with curl_multi_assign(). That is the sequence libcurl itself
// produces when a transfer unregisters a socket and another registers it again, which FoundationNetworking
// handles (it defers creating the new sources until the old ones are cancelled). Every other call, and
// every other option, goes to libcurl's curl_multi_setopt() unchanged.
#define _GNU_SOURCE
#include "CCurlPollFix.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

// From <curl/multi.h> and <curl/curl.h>; written out so that building needs no libcurl headers. These
// values are part of libcurl's ABI and have not changed since libcurl 7.
enum {
    POLL_NONE = 0,
    POLL_IN = 1,
    POLL_OUT = 2,
    POLL_INOUT = 3,
    POLL_REMOVE = 4,
    OPTTYPE_OBJECTPOINT = 10000,
    OPTTYPE_FUNCTIONPOINT = 20000,
    OPTTYPE_OFF_T = 30000,
    OPTTYPE_BLOB = 40000,
    MOPT_SOCKETFUNCTION = OPTTYPE_FUNCTIONPOINT + 1,
};

typedef int (*socket_function)(void *easy, int socket, int what, void *clientp, void *socketp);
typedef int (*multi_setopt_function)(void *multi, int option, ...);

static multi_setopt_function real_multi_setopt;
static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;

static void resolve(void) { real_multi_setopt = (multi_setopt_function)dlsym(RTLD_NEXT, "curl_multi_setopt"); }

// The socket function the wrapper stands in front of: the first one set. FoundationNetworking sets the same
// function on every multi handle; any other function set later is passed to libcurl unwrapped.
static _Atomic(socket_function) wrapped;

// What each socket descriptor was last registered for (POLL_NONE..POLL_INOUT). A socket belongs to one multi
// handle, and libcurl calls a multi handle's socket function from one thread at a time, so each slot has one
// writer at a time; the slots are atomic only so that reusing a descriptor number on another thread is sound.
// libcurl unregisters a socket (POLL_REMOVE) before it closes it, which resets the slot for the next user of
// the number. Descriptors past the table are passed through unchanged.
#define TRACKED_SOCKETS 65536
static _Atomic unsigned char registered[TRACKED_SOCKETS];
// Per peer port (IPv4 or IPv6), so that a test can count its own server's transfers while other tests in the
// process use URLSession too.
static _Atomic long narrowed_to_port[65536];

static void count_narrowing(int socket) {
    struct sockaddr_storage peer;
    socklen_t length = sizeof peer;
    if (getpeername(socket, (struct sockaddr *)&peer, &length) != 0) return;
    unsigned port;
    if (peer.ss_family == AF_INET) {
        port = ntohs(((struct sockaddr_in *)&peer)->sin_port);
    } else if (peer.ss_family == AF_INET6) {
        port = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
    } else {
        return;
    }
    atomic_fetch_add_explicit(&narrowed_to_port[port & 0xffff], 1, memory_order_relaxed);
}

static int narrowing_socket_function(void *easy, int socket, int what, void *clientp, void *socketp) {
    socket_function original = atomic_load_explicit(&wrapped, memory_order_acquire);
    if (socket < 0 || socket >= TRACKED_SOCKETS || what < POLL_NONE || what > POLL_REMOVE) {
        return original(easy, socket, what, clientp, socketp);
    }
    if (what == POLL_REMOVE) {
        atomic_store_explicit(&registered[socket], POLL_NONE, memory_order_relaxed);
        return original(easy, socket, what, clientp, socketp);
    }
    int before = atomic_exchange_explicit(&registered[socket], (unsigned char)what, memory_order_relaxed);
    int dropped = before & ~what;
    // POLL_NONE keeps the socket registered with no interest; FoundationNetworking stores no new per-socket
    // object for it, so the old one must stay: pass it through as it is.
    if (dropped == 0 || what == POLL_NONE || socketp == NULL) {
        return original(easy, socket, what, clientp, socketp);
    }
    count_narrowing(socket);
    int removed = original(easy, socket, POLL_REMOVE, clientp, socketp);
    if (removed != 0) return removed;
    return original(easy, socket, what, clientp, NULL);
}

int curl_multi_setopt(void *multi, int option, ...) {
    pthread_once(&resolve_once, resolve);
    if (real_multi_setopt == NULL) return 1;  // CURLM_BAD_HANDLE: no libcurl behind this definition.
    va_list arguments;
    va_start(arguments, option);
    int result;
    if (option < OPTTYPE_OBJECTPOINT) {
        long value = va_arg(arguments, long);
        result = real_multi_setopt(multi, option, value);
    } else if (option < OPTTYPE_FUNCTIONPOINT || option >= OPTTYPE_BLOB) {
        void *value = va_arg(arguments, void *);
        result = real_multi_setopt(multi, option, value);
    } else if (option < OPTTYPE_OFF_T) {
        socket_function function = va_arg(arguments, socket_function);
        if (option == MOPT_SOCKETFUNCTION && function != NULL) {
            socket_function expected = NULL;
            atomic_compare_exchange_strong(&wrapped, &expected, function);
            if (atomic_load(&wrapped) == function) function = narrowing_socket_function;
        }
        result = real_multi_setopt(multi, option, function);
    } else {
        long long value = va_arg(arguments, long long);
        result = real_multi_setopt(multi, option, value);
    }
    va_end(arguments);
    return result;
}

int billing_curl_poll_fix_active(void) {
    pthread_once(&resolve_once, resolve);
    return real_multi_setopt != NULL;
}

long billing_curl_poll_narrowed_to_port(int port) {
    if (port < 0 || port > 65535) return 0;
    return atomic_load_explicit(&narrowed_to_port[port], memory_order_relaxed);
}
