#include "base/err.h"

#include <errno.h>

static const char *const err_text[] = {
#define SQ_ERR_TEXT_(name, text) [name] = text,
    SQ_ERR_TABLE(SQ_ERR_TEXT_)
#undef SQ_ERR_TEXT_
};

static const char *const err_name[] = {
#define SQ_ERR_NAME_(name, text) [name] = #name,
    SQ_ERR_TABLE(SQ_ERR_NAME_)
#undef SQ_ERR_NAME_
};

const char *sq_strerror(int err)
{
    if (err < 0 || err >= SQ_ERR_COUNT_) {
        return "unknown error";
    }
    return err_text[err];
}

const char *sq_errname(int err)
{
    if (err < 0 || err >= SQ_ERR_COUNT_) {
        return "SQ_E?";
    }
    return err_name[err];
}

int sq_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return SQ_OK;
    case ENOMEM:
        return SQ_ENOMEM;
    case EINVAL:
        return SQ_EINVAL;
    case ENOSPC:
    case EDQUOT:
        return SQ_ENOSPC;
    case ETIMEDOUT:
        return SQ_ETIMEDOUT;
    case EAGAIN:
    case EINTR:
        return SQ_EAGAIN;
    case ECONNRESET:
    case ECONNREFUSED:
    case ECONNABORTED:
    case EPIPE:
    case EHOSTUNREACH:
    case ENETUNREACH:
        return SQ_EPEER;
    case ENOENT:
        return SQ_ENOTFOUND;
    case EEXIST:
        return SQ_EEXIST;
    case EACCES:
    case EPERM:
        return SQ_EPERM;
    case ENODEV:
    case ENXIO:
        return SQ_ENODEV;
    case EMSGSIZE:
    case E2BIG:
    case EFBIG:
        return SQ_ETOOBIG;
    case EOPNOTSUPP:
        return SQ_EUNSUPPORTED;
    default:
        return SQ_EIO;
    }
}
