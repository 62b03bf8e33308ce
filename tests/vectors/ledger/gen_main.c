/* Writes the ledger's golden vectors into a directory (normally tests/vectors/ledger/):
 *     ledger_gen_vectors DIR
 * Only run it when a format changes on purpose; test_ledger_vectors checks the files. */
#include <stdio.h>
#include <stdlib.h>

#include "base/err.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "vectors.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    const char *tmp = getenv("TMPDIR");
    struct ldg_vec *v;
    size_t count;
    int rc = ldg_vec_generate(tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", &v, &count);
    if (rc != SQ_OK) {
        fprintf(stderr, "generate: %s: %s\n", sq_errname(rc), ldg_errmsg());
        return 1;
    }
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", argv[1], v[i].name);
        FILE *f = fopen(path, "w");
        if (f == NULL) {
            perror(path);
            return 1;
        }
        if (v[i].text) {
            fwrite(v[i].data, 1, v[i].size, f);
            fputc('\n', f);
        } else {
            for (size_t j = 0; j < v[i].size; j++) {
                fprintf(f, "%02x", v[i].data[j]);
            }
            fputc('\n', f);
        }
        if (fclose(f) != 0) {
            perror(path);
            return 1;
        }
        printf("%s: %zu bytes\n", v[i].name, v[i].size);
    }
    ldg_vec_free(v, count);
    return 0;
}
