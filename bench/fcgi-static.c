/* FastCGI ceiling for scripts/bench: a libfcgi handler that reads the request body and answers a fixed
 * {"url":…}. Threaded like billing-checkout: WORKERS threads (default 64) share the listening socket on
 * fd 0 (handed over by lighttpd), each accepting under a mutex as in libfcgi's threaded example.
 * Build: cc -O2 -o fcgi-static fcgi-static.c -lfcgi -lpthread */
#include <fcgiapp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static const char answer[] =
    "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n\r\n"
    "{\"url\":\"https://checkout.stripe.com/c/pay/cs_test_bench\"}";

static void *worker(void *unused) {
    (void)unused;
    FCGX_Request request;
    char body[65536];
    FCGX_InitRequest(&request, 0, 0);
    for (;;) {
        pthread_mutex_lock(&accept_lock);
        int rc = FCGX_Accept_r(&request);
        pthread_mutex_unlock(&accept_lock);
        if (rc < 0) break;
        const char *length = FCGX_GetParam("CONTENT_LENGTH", request.envp);
        long want = length ? strtol(length, NULL, 10) : 0;
        while (want > 0) {
            int n = FCGX_GetStr(body, want > (long)sizeof body ? (int)sizeof body : (int)want, request.in);
            if (n <= 0) break;
            want -= n;
        }
        FCGX_PutStr(answer, (int)sizeof answer - 1, request.out);
        FCGX_Finish_r(&request);
    }
    return NULL;
}

int main(void) {
    const char *env = getenv("WORKERS");
    int workers = env && atoi(env) > 0 ? atoi(env) : 64;
    FCGX_Init();
    pthread_t *threads = calloc((size_t)workers, sizeof *threads);
    for (int i = 0; i < workers; i++) pthread_create(&threads[i], NULL, worker, NULL);
    for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);
    return 0;
}
