/* squalld: the Squall validator. Subcommands: init, version (testnet and start join as the
 * pieces they need land). Every subcommand takes --help. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/secret.h"
#include "crypto/crypto.h"
#include "node/config.h"

#define EXIT_USAGE 2

static void usage_main(FILE *f)
{
    fprintf(f, "Usage: squalld COMMAND [OPTIONS]\n"
               "\n"
               "The Squall validator node.\n"
               "\n"
               "Commands:\n"
               "  init      create a validator home: key file and commented config.ini\n"
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
        return cmd_version();
    }
    if (strcmp(cmd, "init") == 0) {
        return cmd_init(argc - 1, argv + 1);
    }
    fprintf(stderr, "squalld: unknown command '%s'\n\n", cmd);
    usage_main(stderr);
    return EXIT_USAGE;
}
