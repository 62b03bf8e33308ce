/* squalld: the Squall validator. Subcommands: init, testnet, start, version. Every subcommand
 * takes --help. docs/operator.md is the operator's guide. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/secret.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "node/config.h"
#include "node/node.h"
#include "node/testnet.h"

#define EXIT_USAGE 2

static void usage_main(FILE *f)
{
    fprintf(f, "Usage: squalld COMMAND [OPTIONS]\n"
               "\n"
               "The Squall validator node.\n"
               "\n"
               "Commands:\n"
               "  init      create a validator home: key file and commented config.ini\n"
               "  testnet   create keys, genesis and configs for a local network\n"
               "  start     run a validator\n"
               "  version   print the version\n"
               "\n"
               "Run 'squalld COMMAND --help' for a command's options.\n");
}

static void usage_init(FILE *f)
{
    fprintf(f,
            "Usage: squalld init --home DIR --id N [OPTIONS]\n"
            "\n"
            "Creates DIR with a new Ed25519 validator key (validator.key) and a commented\n"
            "config.ini, and prints the validator's public key for the genesis file.\n"
            "The key is encrypted with a passphrase (Argon2id + XChaCha20-Poly1305) unless\n"
            "--insecure-plain-key is given.\n"
            "\n"
            "Options:\n"
            "  --home DIR               the validator's home folder (created; must not hold a "
            "config)\n"
            "  --id N                   this validator's id, as it will appear in genesis\n"
            "  --listen HOST:PORT       validator-to-validator address (default 127.0.0.1:26000+id)\n"
            "  --rpc HOST:PORT          HTTP API address (default 127.0.0.1:8500+id)\n"
            "  --passphrase-file FILE   read the key's passphrase from FILE (first line)\n"
            "                           (otherwise SQUALL_PASSPHRASE, otherwise a prompt)\n"
            "  --insecure-plain-key     store the key unencrypted (tests and throwaway networks)\n"
            "  -h, --help               show this help\n");
}

static void usage_testnet(FILE *f)
{
    fprintf(f,
            "Usage: squalld testnet --validators N --out DIR [OPTIONS]\n"
            "\n"
            "Creates everything a local network needs in DIR: genesis.json, and for each\n"
            "validator i a home DIR/vi (validator.key, config.ini, genesis.json) listening on\n"
            "HOST:(p2p-base+i) with its API on HOST:(rpc-base+i), plus DIR/accounts with an\n"
            "issuer key, a governance key and client keys. Keys are written UNENCRYPTED: a\n"
            "testnet is a throwaway network on one machine. Start each validator with\n"
            "'squalld start --home DIR/vi'.\n"
            "\n"
            "Options:\n"
            "  --validators N       number of validators (1..%u)\n"
            "  --out DIR            output folder (created; must not hold a genesis.json)\n"
            "  --chain-id ID        chain id (default squall-local)\n"
            "  --host ADDR          IPv4 address every validator uses (default 127.0.0.1)\n"
            "  --p2p-base PORT      validator i listens on PORT+i (default 26000)\n"
            "  --rpc-base PORT      validator i serves its API on PORT+i (default 8500)\n"
            "  --accounts K         client keys to create in DIR/accounts (default 2)\n"
            "  --balance B          genesis balance of each client key (default 0)\n"
            "  --open               anyone may send transfers (no client list in genesis)\n"
            "  --batch-delay-ms MS  the validators' [batch] delay_ms (default 2)\n"
            "  --log-level LEVEL    the validators' log level (default info)\n"
            "  -h, --help           show this help\n",
            SQ_MEMBERS_MAX);
}

static void usage_start(FILE *f)
{
    fprintf(f, "Usage: squalld start --home DIR [OPTIONS]\n"
               "\n"
               "Runs the validator whose config.ini is in DIR: catches up from the other\n"
               "validators, forms the group with them, serves the HTTP API. Stops cleanly on\n"
               "SIGINT or SIGTERM (everything applied is made durable first). Logs go to\n"
               "standard error, one key=value line per event.\n"
               "\n"
               "Options:\n"
               "  --home DIR               the validator's home folder (holds config.ini)\n"
               "  --passphrase-file FILE   the key's passphrase (overrides node.passphrase_file;\n"
               "                           otherwise SQUALL_PASSPHRASE, otherwise a prompt)\n"
               "  -h, --help               show this help\n"
               "\n"
               "Exit status: 0 after a clean stop, 1 after a fatal error (the log says which),\n"
               "2 for a usage error.\n");
}

static int parse_uint(const char *cmd, const char *name, const char *text, unsigned long max,
                      unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || end == text || text[0] == '-' || v > max) {
        fprintf(stderr, "squalld %s: %s must be a whole number up to %lu, not '%s'\n", cmd, name,
                max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int cmd_testnet(int argc, char **argv)
{
    static const struct option opts[] = {
        {"validators", required_argument, NULL, 'n'},
        {"out", required_argument, NULL, 'o'},
        {"chain-id", required_argument, NULL, 'c'},
        {"host", required_argument, NULL, 'H'},
        {"p2p-base", required_argument, NULL, 'p'},
        {"rpc-base", required_argument, NULL, 'r'},
        {"accounts", required_argument, NULL, 'a'},
        {"balance", required_argument, NULL, 'b'},
        {"open", no_argument, NULL, 'O'},
        {"batch-delay-ms", required_argument, NULL, 'd'},
        {"log-level", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct node_testnet_opts o;
    memset(&o, 0, sizeof(o));
    o.accounts = 2;
    unsigned long v;
    char extra[256] = "";
    const char *delay = NULL, *level = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (parse_uint("testnet", "--validators", optarg, SQ_MEMBERS_MAX, &v) != 0) {
                return EXIT_USAGE;
            }
            o.validators = (uint32_t)v;
            break;
        case 'o':
            o.out = optarg;
            break;
        case 'c':
            o.chain_id = optarg;
            break;
        case 'H': {
            struct node_addr a;
            char probe[NODE_HOST_MAX + 8];
            snprintf(probe, sizeof(probe), "%s:1", optarg);
            if (node_addr_parse(&a, probe) != SQ_OK) {
                fprintf(stderr, "squalld testnet: --host must be an IPv4 address, not '%s'\n",
                        optarg);
                return EXIT_USAGE;
            }
            o.host = optarg;
            break;
        }
        case 'p':
            if (parse_uint("testnet", "--p2p-base", optarg, 65535 - SQ_MEMBERS_MAX, &v) != 0) {
                return EXIT_USAGE;
            }
            o.p2p_base = (uint16_t)v;
            break;
        case 'r':
            if (parse_uint("testnet", "--rpc-base", optarg, 65535 - SQ_MEMBERS_MAX, &v) != 0) {
                return EXIT_USAGE;
            }
            o.rpc_base = (uint16_t)v;
            break;
        case 'a':
            if (parse_uint("testnet", "--accounts", optarg, 100000, &v) != 0) {
                return EXIT_USAGE;
            }
            o.accounts = (uint32_t)v;
            break;
        case 'b':
            errno = 0;
            if (optarg[0] == '-' || (o.balance = strtoull(optarg, NULL, 10), errno != 0)) {
                fprintf(stderr, "squalld testnet: --balance must be a whole number\n");
                return EXIT_USAGE;
            }
            break;
        case 'O':
            o.clients_open = true;
            break;
        case 'd':
            if (parse_uint("testnet", "--batch-delay-ms", optarg, 10000, &v) != 0) {
                return EXIT_USAGE;
            }
            delay = optarg;
            break;
        case 'l': {
            enum sq_log_level lv;
            if (sq_log_level_parse(optarg, &lv) != SQ_OK) {
                fprintf(stderr, "squalld testnet: --log-level must be trace, debug, info, warn, "
                                "error or off, not '%s'\n",
                        optarg);
                return EXIT_USAGE;
            }
            level = optarg;
            break;
        }
        case 'h':
            usage_testnet(stdout);
            return 0;
        default:
            usage_testnet(stderr);
            return EXIT_USAGE;
        }
    }
    if (o.validators == 0 || o.out == NULL || optind != argc) {
        fprintf(stderr, "squalld testnet: --validators (1..%u) and --out are required\n",
                SQ_MEMBERS_MAX);
        usage_testnet(stderr);
        return EXIT_USAGE;
    }
    if (delay != NULL || level != NULL) {
        int len = 0;
        if (level != NULL) {
            len += snprintf(extra + len, sizeof(extra) - (size_t)len, "[node]\nlog_level = %s\n",
                            level);
        }
        if (delay != NULL) {
            snprintf(extra + len, sizeof(extra) - (size_t)len, "[batch]\ndelay_ms = %s\n", delay);
        }
        o.config_extra = extra;
    }
    char err[512] = "";
    int rc = node_testnet_make(&o, err, sizeof(err));
    if (rc != SQ_OK) {
        fprintf(stderr, "squalld testnet: %s\n", err);
        return 1;
    }
    printf("created a %u-validator network in %s (chain %s)\n", o.validators, o.out,
           o.chain_id ? o.chain_id : "squall-local");
    for (uint32_t i = 1; i <= o.validators; i++) {
        printf("  squalld start --home %s/v%u\n", o.out, i);
    }
    printf("accounts (unencrypted keys): %s/accounts\n", o.out);
    return 0;
}

static int read_key(const struct node_config *cfg, const char *pass_file, struct sqc_keypair *kp)
{
    FILE *f = fopen(cfg->key_file, "rb");
    if (f == NULL) {
        fprintf(stderr, "squalld start: cannot open the key file %s: %s\n", cfg->key_file,
                strerror(errno));
        return -1;
    }
    uint8_t buf[SQ_KEYFILE_BYTES_MAX];
    size_t size = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    bool encrypted = sqc_keyfile_is_encrypted(buf, size);
    sqc_wipe(buf, sizeof(buf));
    char *pass = NULL;
    size_t pass_len = 0;
    char err[256] = "";
    int rc = SQ_OK;
    if (encrypted) {
        pass = sqc_secure_alloc(SQ_PASSPHRASE_BYTES_MAX + 1);
        if (pass == NULL) {
            fprintf(stderr, "squalld: out of secure memory\n");
            return -1;
        }
        const char *file = pass_file != NULL           ? pass_file
                           : cfg->passphrase_file[0] ? cfg->passphrase_file
                                                      : NULL;
        if (file != NULL) {
            rc = sq_passphrase_from_file(file, pass, SQ_PASSPHRASE_BYTES_MAX + 1, &pass_len, err,
                                         sizeof(err));
        } else {
            rc = sq_passphrase_from_env("SQUALL_PASSPHRASE", pass, SQ_PASSPHRASE_BYTES_MAX + 1,
                                        &pass_len);
            if (rc == SQ_ENOTFOUND) {
                rc = sq_passphrase_prompt("Passphrase for the validator key: ", false, pass,
                                          SQ_PASSPHRASE_BYTES_MAX + 1, &pass_len, err,
                                          sizeof(err));
            } else if (rc != SQ_OK) {
                snprintf(err, sizeof(err), "SQUALL_PASSPHRASE is empty or too long");
            }
        }
        if (rc != SQ_OK) {
            fprintf(stderr, "squalld start: %s\n", err);
            sqc_secure_free(pass);
            return -1;
        }
    }
    rc = sqc_keyfile_read(cfg->key_file, pass, pass_len, kp, err, sizeof(err));
    if (pass != NULL) {
        sqc_secure_free(pass);
    }
    if (rc != SQ_OK) {
        fprintf(stderr, "squalld start: cannot read the key file %s: %s\n", cfg->key_file,
                err[0] ? err : sq_strerror(rc));
        return -1;
    }
    return 0;
}

static int cmd_start(int argc, char **argv)
{
    static const struct option opts[] = {
        {"home", required_argument, NULL, 'H'},
        {"passphrase-file", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *home = NULL, *pass_file = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            home = optarg;
            break;
        case 'p':
            pass_file = optarg;
            break;
        case 'h':
            usage_start(stdout);
            return 0;
        default:
            usage_start(stderr);
            return EXIT_USAGE;
        }
    }
    if (home == NULL || optind != argc) {
        fprintf(stderr, "squalld start: --home is required\n");
        usage_start(stderr);
        return EXIT_USAGE;
    }
    struct node_config cfg;
    node_config_defaults(&cfg, 0, home);
    char err[512] = "";
    int rc = node_config_load(&cfg, home, err, sizeof(err));
    if (rc != SQ_OK) {
        fprintf(stderr, "squalld start: %s\n", err);
        return 1;
    }
    sq_log_set_level(cfg.log_level);
    char label[32];
    snprintf(label, sizeof(label), "v%u", cfg.id);
    sq_log_set_node(label);
    if (sqc_init() != SQ_OK) {
        fprintf(stderr, "squalld: cannot initialise the crypto libraries\n");
        return 1;
    }
    struct ldg_genesis *g = NULL;
    rc = ldg_genesis_load(cfg.genesis_file, &g);
    if (rc != SQ_OK) {
        fprintf(stderr, "squalld start: %s\n", ldg_errmsg());
        return 1;
    }
    struct sqc_keypair kp = {0};
    if (read_key(&cfg, pass_file, &kp) != 0) {
        ldg_genesis_free(g);
        return 1;
    }
    /* Every thread started from here on inherits the mask; node_run takes the signals through a
     * signalfd. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    struct node *n = NULL;
    rc = node_create(&n, &cfg, g, &kp, err, sizeof(err));
    if (rc != SQ_OK) {
        fprintf(stderr, "squalld start: %s\n", err);
        sqc_keypair_free(&kp);
        ldg_genesis_free(g);
        return 1;
    }
    int code = node_run(n);
    node_destroy(n);
    return code;
}

static int cmd_version(void)
{
    printf("squalld %s\n", SQ_VERSION);
    return 0;
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        return 0;
    }
    fprintf(stderr, "squalld: cannot create %s: %s\n", path, strerror(errno));
    return -1;
}

static int write_new_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wx");
    if (f == NULL) {
        fprintf(stderr, "squalld: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(text, 1, len, f);
    if (w != len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fprintf(stderr, "squalld: cannot write %s: %s\n", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static int cmd_init(int argc, char **argv)
{
    static const struct option opts[] = {
        {"home", required_argument, NULL, 'H'},
        {"id", required_argument, NULL, 'i'},
        {"listen", required_argument, NULL, 'l'},
        {"rpc", required_argument, NULL, 'r'},
        {"passphrase-file", required_argument, NULL, 'p'},
        {"insecure-plain-key", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *home = NULL, *listen = NULL, *rpc = NULL, *pass_file = NULL;
    long id = -1;
    int plain = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'H':
            home = optarg;
            break;
        case 'i': {
            char *end;
            errno = 0;
            id = strtol(optarg, &end, 10);
            if (errno || *end || id < 0 || id > 0x7fffffff) {
                fprintf(stderr, "squalld init: --id must be a whole number, not '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        }
        case 'l':
            listen = optarg;
            break;
        case 'r':
            rpc = optarg;
            break;
        case 'p':
            pass_file = optarg;
            break;
        case 'P':
            plain = 1;
            break;
        case 'h':
            usage_init(stdout);
            return 0;
        default:
            usage_init(stderr);
            return EXIT_USAGE;
        }
    }
    if (home == NULL || id < 0 || optind != argc) {
        fprintf(stderr, "squalld init: --home and --id are required\n");
        usage_init(stderr);
        return EXIT_USAGE;
    }
    struct node_config cfg;
    node_config_defaults(&cfg, (uint32_t)id, home);
    if (listen != NULL && node_addr_parse(&cfg.listen, listen) != SQ_OK) {
        fprintf(stderr, "squalld init: --listen must be IPv4:port, not '%s'\n", listen);
        return EXIT_USAGE;
    }
    if (rpc != NULL && node_addr_parse(&cfg.rpc_listen, rpc) != SQ_OK) {
        fprintf(stderr, "squalld init: --rpc must be IPv4:port, not '%s'\n", rpc);
        return EXIT_USAGE;
    }
    if (pass_file != NULL) {
        snprintf(cfg.passphrase_file, sizeof(cfg.passphrase_file), "%s", pass_file);
    }
    if (sqc_init() != SQ_OK) {
        fprintf(stderr, "squalld: cannot initialise the crypto libraries\n");
        return 1;
    }
    if (make_dir(home) != 0) {
        return 1;
    }
    char path[NODE_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/config.ini", home);
    struct stat st;
    if (stat(path, &st) == 0) {
        fprintf(stderr, "squalld init: %s already exists; refusing to overwrite a validator\n",
                path);
        return 1;
    }

    char *pass = NULL;
    size_t pass_len = 0;
    char err[256] = "";
    if (!plain) {
        pass = sqc_secure_alloc(SQ_PASSPHRASE_BYTES_MAX + 1);
        if (pass == NULL) {
            fprintf(stderr, "squalld: out of secure memory\n");
            return 1;
        }
        int rc;
        if (pass_file != NULL) {
            rc = sq_passphrase_from_file(pass_file, pass, SQ_PASSPHRASE_BYTES_MAX + 1, &pass_len,
                                         err, sizeof(err));
        } else {
            rc = sq_passphrase_from_env("SQUALL_PASSPHRASE", pass, SQ_PASSPHRASE_BYTES_MAX + 1,
                                        &pass_len);
            if (rc == SQ_ENOTFOUND) {
                rc = sq_passphrase_prompt("Passphrase for the new validator key: ", true, pass,
                                          SQ_PASSPHRASE_BYTES_MAX + 1, &pass_len, err,
                                          sizeof(err));
            } else if (rc != SQ_OK) {
                snprintf(err, sizeof(err), "SQUALL_PASSPHRASE is empty or too long");
            }
        }
        if (rc != SQ_OK) {
            fprintf(stderr, "squalld init: %s\n", err);
            sqc_secure_free(pass);
            return 1;
        }
    }
    struct sqc_keypair kp = {0};
    int rc = sqc_keypair_generate(&kp);
    if (rc == SQ_OK) {
        rc = sqc_keyfile_write(cfg.key_file, &kp, pass, pass_len, SQC_KDF_INTERACTIVE, err,
                               sizeof(err));
    }
    if (pass != NULL) {
        sqc_secure_free(pass);
    }
    if (rc != SQ_OK) {
        fprintf(stderr, "squalld init: cannot write the key file %s: %s\n", cfg.key_file,
                err[0] ? err : sq_strerror(rc));
        sqc_keypair_free(&kp);
        return 1;
    }
    char text[8192];
    size_t n = node_config_render(&cfg, text, sizeof(text));
    if (n >= sizeof(text) || write_new_file(path, text, n) != 0) {
        sqc_keypair_free(&kp);
        return 1;
    }
    char hex[2 * SQC_PK_BYTES + 1];
    sqc_hex_encode(hex, sizeof(hex), kp.pk, SQC_PK_BYTES);
    sqc_keypair_free(&kp);
    printf("initialised validator %ld in %s\n", id, home);
    printf("  key file:   %s (%s)\n", cfg.key_file, plain ? "PLAIN, unencrypted" : "encrypted");
    printf("  config:     %s\n", path);
    printf("  public key: %s\n", hex);
    printf("Add this validator (id, public key, listen address %s:%u) to the network's "
           "genesis.json.\n",
           cfg.listen.host, (unsigned)cfg.listen.port);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
            printf("Usage: squalld version\n\nPrints squalld's version.\n");
            return 0;
        }
        if (argc > 2) {
            fprintf(stderr, "squalld version: takes no arguments\n");
            return EXIT_USAGE;
        }
        return cmd_version();
    }
    if (strcmp(cmd, "init") == 0) {
        return cmd_init(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "testnet") == 0) {
        return cmd_testnet(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "start") == 0) {
        return cmd_start(argc - 1, argv + 1);
    }
    fprintf(stderr, "squalld: unknown command '%s'\n\n", cmd);
    usage_main(stderr);
    return EXIT_USAGE;
}
