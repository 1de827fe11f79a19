/* The ceiling for this work, for scripts/bench: the threaded libfcgi handler of fcgi-static.c, but each
 * request makes the same upstream POST as billing-checkout (form body, Authorization, Stripe-Version,
 * Idempotency-Key) to STRIPE_API_BASE/v1/checkout/sessions with libcurl and answers the session's url.
 * One easy handle per thread, reused, so connections are kept alive. WORKERS threads (default 64).
 * Build: cc -O2 -o fcgi-curl fcgi-curl.c -lfcgi -lcurl -lpthread */
#include <curl/curl.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t accept_lock = PTHREAD_MUTEX_INITIALIZER;
static char endpoint[1024];
static char authorization[512];
static const char form[] =
    "mode=subscription&line_items%5B0%5D%5Bprice%5D=price_bench&line_items%5B0%5D%5Bquantity%5D=1"
    "&success_url=http%3A%2F%2Flocalhost%3A3000%2Fdashboard%3Fsuccess%3Dtrue"
    "&cancel_url=http%3A%2F%2Flocalhost%3A3000%2Fdashboard%3Fcanceled%3Dtrue"
    "&client_reference_id=user_bench&metadata%5Buser_id%5D=user_bench"
    "&subscription_data%5Bmetadata%5D%5Buser_id%5D=user_bench&customer_email=dev%40example.com";

struct buffer { char data[16384]; size_t used; };

static size_t collect(char *ptr, size_t size, size_t count, void *user) {
    struct buffer *b = user;
    size_t n = size * count;
    if (b->used + n >= sizeof b->data) n = sizeof b->data - 1 - b->used;
    memcpy(b->data + b->used, ptr, n);
    b->used += n;
    b->data[b->used] = 0;
    return size * count;
}

static void *worker(void *arg) {
    long id = (long)arg;
    FCGX_Request request;
    char body[65536];
    struct buffer upstream;
    unsigned long serial = 0;
    CURL *curl = curl_easy_init();
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
        char idempotency[96];
        snprintf(idempotency, sizeof idempotency, "Idempotency-Key: bc-bench-%ld-%lu", id, ++serial);
        struct curl_slist *headers = NULL;
        headers = curl_slist_append(headers, authorization);
        headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
        headers = curl_slist_append(headers, "Stripe-Version: 2024-06-20");
        headers = curl_slist_append(headers, "User-Agent: billing-checkout/1.0");
        headers = curl_slist_append(headers, idempotency);
        headers = curl_slist_append(headers, "Expect:");
        upstream.used = 0;
        upstream.data[0] = 0;
        curl_easy_setopt(curl, CURLOPT_URL, endpoint);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(sizeof form - 1));
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &upstream);
        CURLcode result = curl_easy_perform(curl);
        long status = 0;
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(headers);
        const char *url = result == CURLE_OK && status == 200 ? strstr(upstream.data, "\"url\":\"") : NULL;
        const char *end = url ? strchr(url + 7, '"') : NULL;
        if (url && end) {
            FCGX_FPrintF(request.out,
                         "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n\r\n"
                         "{\"url\":\"%.*s\"}", (int)(end - url - 7), url + 7);
        } else {
            FCGX_FPrintF(request.out, "Status: 502 Bad Gateway\r\nContent-Type: application/json\r\n\r\n"
                                      "{\"detail\":\"Payment provider error\"}");
        }
        FCGX_Finish_r(&request);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

int main(void) {
    const char *base = getenv("STRIPE_API_BASE");
    const char *key = getenv("STRIPE_SECRET_KEY");
    const char *env = getenv("WORKERS");
    int workers = env && atoi(env) > 0 ? atoi(env) : 64;
    snprintf(endpoint, sizeof endpoint, "%s/v1/checkout/sessions", base ? base : "http://127.0.0.1:12111");
    snprintf(authorization, sizeof authorization, "Authorization: Bearer %s", key ? key : "sk_test_bench");
    curl_global_init(CURL_GLOBAL_ALL);
    FCGX_Init();
    pthread_t *threads = calloc((size_t)workers, sizeof *threads);
    for (long i = 0; i < workers; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    for (int i = 0; i < workers; i++) pthread_join(threads[i], NULL);
    return 0;
}
