/* HTTP client on libcurl: one easy handle per client, reused across requests (keep-alive). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "base/assert.h"
#include "base/err.h"
#include "rpc/rpc.h"

struct rpc_client {
    CURL *curl;
    char *base_url;
    unsigned timeout_ms;
};

struct buf {
    char *data;
    size_t len;
    size_t cap;
    bool too_big;
};

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct buf *b = arg;
    size_t n = size * nmemb;
    if (n > RPC_RESPONSE_BYTES_MAX - b->len) {
        b->too_big = true;
        return 0; /* makes libcurl abort the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

int rpc_client_create(struct rpc_client **out, const char *base_url, unsigned timeout_ms)
{
    static bool global_done;
    if (!global_done) {
        /* Not thread-safe by libcurl's own rule: the first client is made before threads. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            return SQ_EIO;
        }
        global_done = true;
    }
    struct rpc_client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return SQ_ENOMEM;
    }
    size_t n = strlen(base_url);
    while (n > 0 && base_url[n - 1] == '/') {
        n--; /* "http://h:1/" and "http://h:1" mean the same */
    }
    c->base_url = strndup(base_url, n);
    c->curl = curl_easy_init();
    if (c->base_url == NULL || c->curl == NULL) {
        rpc_client_destroy(c);
        return SQ_ENOMEM;
    }
    c->timeout_ms = timeout_ms ? timeout_ms : 30000;
    *out = c;
    return SQ_OK;
}

void rpc_client_destroy(struct rpc_client *client)
{
    if (client == NULL) {
        return;
    }
    if (client->curl != NULL) {
        curl_easy_cleanup(client->curl);
    }
    free(client->base_url);
    free(client);
}

void rpc_client_set_timeout(struct rpc_client *client, unsigned timeout_ms)
{
    client->timeout_ms = timeout_ms ? timeout_ms : 30000;
}

static int perform(struct rpc_client *c, const char *path, const char *post_body, long *status,
                   struct buf *b, char *errbuf, size_t errbuf_size)
{
    char url[2048];
    int un = snprintf(url, sizeof(url), "%s%s%s", c->base_url, path[0] == '/' ? "" : "/", path);
    if (un < 0 || (size_t)un >= sizeof(url)) {
        snprintf(errbuf, errbuf_size, "URL too long");
        return SQ_EINVAL;
    }
    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->timeout_ms < 5000 ? c->timeout_ms : 5000));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    struct curl_slist *hdrs = NULL;
    if (post_body != NULL) {
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post_body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(post_body));
    }
    char cerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    if (b->too_big) {
        snprintf(errbuf, errbuf_size, "response from %s exceeds %u bytes", url,
                 RPC_RESPONSE_BYTES_MAX);
        return SQ_ETOOBIG;
    }
    if (rc != CURLE_OK) {
        snprintf(errbuf, errbuf_size, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
        return rc == CURLE_OPERATION_TIMEDOUT ? SQ_ETIMEDOUT : SQ_EPEER;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return SQ_OK;
}

static int parse(struct buf *b, json_t **out, char *errbuf, size_t errbuf_size)
{
    json_error_t jerr;
    json_t *j = json_loadb(b->data ? b->data : "", b->len, 0, &jerr);
    if (j == NULL) {
        snprintf(errbuf, errbuf_size, "response is not JSON: %s", jerr.text);
        return SQ_ECORRUPT;
    }
    *out = j;
    return SQ_OK;
}

int rpc_client_get(struct rpc_client *client, const char *path, long *status, json_t **out,
                   char *errbuf, size_t errbuf_size)
{
    struct buf b = {0};
    *out = NULL;
    int rc = perform(client, path, NULL, status, &b, errbuf, errbuf_size);
    if (rc == SQ_OK) {
        rc = parse(&b, out, errbuf, errbuf_size);
    }
    free(b.data);
    return rc;
}

int rpc_client_post(struct rpc_client *client, const char *path, const json_t *body, long *status,
                    json_t **out, char *errbuf, size_t errbuf_size)
{
    *out = NULL;
    char *text = json_dumps(body, JSON_COMPACT);
    if (text == NULL) {
        snprintf(errbuf, errbuf_size, "cannot encode the request as JSON");
        return SQ_ENOMEM;
    }
    struct buf b = {0};
    int rc = perform(client, path, text, status, &b, errbuf, errbuf_size);
    free(text);
    if (rc == SQ_OK) {
        rc = parse(&b, out, errbuf, errbuf_size);
    }
    free(b.data);
    return rc;
}

int rpc_client_get_raw(struct rpc_client *client, const char *path, long *status, char **data,
                       size_t *size, char *errbuf, size_t errbuf_size)
{
    struct buf b = {0};
    *data = NULL;
    *size = 0;
    int rc = perform(client, path, NULL, status, &b, errbuf, errbuf_size);
    if (rc != SQ_OK) {
        free(b.data);
        return rc;
    }
    if (b.data == NULL) {
        b.data = calloc(1, 1);
        if (b.data == NULL) {
            return SQ_ENOMEM;
        }
    }
    *data = b.data;
    *size = b.len;
    return SQ_OK;
}
