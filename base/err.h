/* Squall error codes.
 *
 * Every command in Squall returns an `int` that is SQ_OK (0) or one of the positive codes below.
 * errno, LMDB, verbs and OpenSSL errors are translated where they are met; the detail goes into
 * the failing object's error-message buffer, never into the code. */
#ifndef SQ_BASE_ERR_H
#define SQ_BASE_ERR_H

/* X(name, text): the single table of codes. Append only: codes are logged and may be persisted. */
#define SQ_ERR_TABLE(X)                                                                            \
    X(SQ_OK, "success")                                                                            \
    X(SQ_ENOMEM, "out of memory")                                                                  \
    X(SQ_EINVAL, "invalid argument")                                                               \
    X(SQ_EIO, "input/output error")                                                                \
    X(SQ_ENOSPC, "no space left")                                                                  \
    X(SQ_ECORRUPT, "malformed or corrupt data")                                                    \
    X(SQ_ETIMEDOUT, "timed out")                                                                   \
    X(SQ_EPEER, "peer failed or misbehaved")                                                       \
    X(SQ_EVIEW, "wrong or changed view")                                                           \
    X(SQ_EBADSIG, "bad signature")                                                                 \
    X(SQ_ETOOBIG, "too big")                                                                       \
    X(SQ_EAGAIN, "try again later")                                                                \
    X(SQ_EFULL, "queue or table full")                                                             \
    X(SQ_ENOTFOUND, "not found")                                                                   \
    X(SQ_EEXIST, "already exists")                                                                 \
    X(SQ_EPERM, "not permitted")                                                                   \
    X(SQ_EAUTH, "authentication failed")                                                           \
    X(SQ_ECLOSED, "closed")                                                                        \
    X(SQ_ENODEV, "no such device")                                                                 \
    X(SQ_EUNSUPPORTED, "not supported")                                                            \
    X(SQ_ECRYPTO, "cryptographic library failure")                                                 \
    X(SQ_ESTATE, "wrong state for this operation")                                                 \
    X(SQ_EVERSION, "unsupported format version")                                                   \
    X(SQ_EDUP, "duplicate")                                                                        \
    X(SQ_EPROOF, "proof does not verify")

enum sq_err {
#define SQ_ERR_ENUM_(name, text) name,
    SQ_ERR_TABLE(SQ_ERR_ENUM_)
#undef SQ_ERR_ENUM_
        SQ_ERR_COUNT_
};

/* The fixed English text of `err`; "unknown error" for a value outside the table. The returned
 * string is static. Any thread. */
const char *sq_strerror(int err);

/* The code's symbolic name ("SQ_EINVAL"); "SQ_E?" for a value outside the table. Static. */
const char *sq_errname(int err);

/* Translates an errno value into the closest sq_err code (ENOMEM -> SQ_ENOMEM, ENOSPC/EDQUOT ->
 * SQ_ENOSPC, ETIMEDOUT -> SQ_ETIMEDOUT, EAGAIN -> SQ_EAGAIN, ECONNRESET/EPIPE -> SQ_EPEER, ...,
 * anything else -> SQ_EIO). Any thread. */
int sq_err_from_errno(int errnum);

#endif
