/* Helpers for tests and benchmarks that run real squalld processes on 127.0.0.1: a testnet in a
 * temporary folder with free ports, starting and stopping validators by PID, waiting on
 * conditions with deadlines, signed transactions, and HTTP calls. */
#ifndef SQ_TESTS_NODETEST_H
#define SQ_TESTS_NODETEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/crypto.h"
#include "ledger/ledger.h"

#define NT_MAX 8
#define NT_CLIENTS_MAX 64

struct json_t;
struct rpc_client;

struct nt_net {
    char dir[256];
    char exe[512];
    uint32_t n;
    uint16_t p2p[NT_MAX];
    uint16_t rpc[NT_MAX];
    pid_t pid[NT_MAX];
    char url[NT_MAX][64];
    struct rpc_client *cli[NT_MAX];
    char chain[SQ_CHAIN_ID_BYTES_MAX + 1];
    struct sqc_keypair issuer;
    uint32_t client_count;
    struct sqc_keypair clients[NT_CLIENTS_MAX];
    struct ldg_genesis *gen;
};

/* Makes a testnet of `n` validators in a fresh temporary folder with free ports: `accounts`
 * client keys (<= NT_CLIENTS_MAX) with `balance` each, `extra` funded keys, and `config_extra`
 * appended to every config. Returns 0 or -1 (reason on stderr). */
int nt_make(struct nt_net *net, const char *squalld, uint32_t n, uint32_t accounts,
            uint64_t balance, const struct ldg_balance *extra, size_t extra_count,
            const char *config_extra);
/* Starts validator i (0-based) as a child process; its log goes to DIR/v<i+1>.log. */
int nt_start(struct nt_net *net, uint32_t i);
/* Sends `sig` to validator i by PID and waits up to timeout_s for it to exit (SIGKILL after).
 * Returns its exit status (as from waitpid), or -1 if it was not running. */
int nt_stop(struct nt_net *net, uint32_t i, int sig, double timeout_s);
/* True once validator i answers /readyz with 200, within timeout_s. */
bool nt_wait_ready(struct nt_net *net, uint32_t i, double timeout_s);
/* Validator i's heights from /v1/status (-1 when unreachable). */
int nt_heights(struct nt_net *net, uint32_t i, uint64_t *ordered, uint64_t *persisted,
               uint64_t *final);
/* Starts every validator and waits until each is ready within timeout_s (says which is not, and
 * where the logs are, on stderr). 0 or -1. */
int nt_start_all(struct nt_net *net, double timeout_s);
/* Stops every validator with SIGTERM and expects a clean exit (status 0) from each that was
 * running; then nt_destroy, keeping the folder if one did not. 0, or -1 (reasons on stderr). */
int nt_stop_all(struct nt_net *net);
/* Lines of validator i's log (DIR/v<i+1>.log) that match a grep pattern. */
int nt_log_count(const struct nt_net *net, uint32_t i, const char *pattern);
/* Copies the last `lines` lines of every validator's log to stderr (for a failure: the folder
 * is removed at the end of the run, ctest keeps stderr). */
void nt_dump_logs(const struct nt_net *net, unsigned lines);
/* Stops every validator (SIGTERM, then SIGKILL), removes the folder, frees everything. */
void nt_destroy(struct nt_net *net, bool keep_dir);

/* HTTP to validator i: status code and parsed JSON (caller json_decref's). 0 or -1. */
int nt_get(struct nt_net *net, uint32_t i, const char *path, long *status, struct json_t **out);
int nt_post(struct nt_net *net, uint32_t i, const char *path, struct json_t *body, long *status,
            struct json_t **out);
/* Posts one transaction ({"tx": hex}) to validator i: 0 with the HTTP status, the id it was
 * given and the error code, each "" when absent (id and code may be NULL), or -1 when the
 * request could not be made. */
int nt_submit(struct nt_net *net, uint32_t i, const uint8_t *tx, size_t size, long *status,
              char id[65], char code[32]);
/* GET returning the raw body (malloc'd, NUL-terminated). */
int nt_get_raw(struct nt_net *net, uint32_t i, const char *path, long *status, char **out);
/* POST raw bytes (for malformed bodies). */
int nt_post_raw(struct nt_net *net, uint32_t i, const char *path, const char *body, size_t size,
                long *status, char *resp, size_t resp_cap);

/* A signed transfer from `from` to `to`, encoded into buf (SQ_TX_BYTES_MAX); returns its size. */
size_t nt_transfer(const struct nt_net *net, uint8_t *buf, const struct sqc_keypair *from,
                   const uint8_t to[32], uint64_t amount, uint64_t nonce, uint64_t expiry);
/* Same for a mint by the testnet's issuer. */
size_t nt_mint(const struct nt_net *net, uint8_t *buf, const uint8_t to[32], uint64_t amount,
               uint64_t nonce);
/* Hex of bytes into a fresh jansson string. */
struct json_t *nt_hex(const uint8_t *data, size_t size);

/* Monotonic seconds. */
double nt_now(void);
/* Waits (blocking in poll) for up to ms milliseconds: for pacing loops that re-check a condition
 * with a deadline, never as synchronisation by itself. */
void nt_pause_ms(unsigned ms);

#endif
