/* Built when rdma-core's headers are absent: the verbs transport reports that it is missing. */
#include <stdio.h>

#include "base/err.h"
#include "net/net.h"

int net_verbs_create(struct net **out, const struct net_verbs_config *cfg,
                     const struct net_handler *handler, char *errbuf, size_t errbuf_size)
{
    (void)out;
    (void)cfg;
    (void)handler;
    if (errbuf != NULL && errbuf_size > 0) {
        snprintf(errbuf, errbuf_size,
                 "transport=verbs: this build has no RDMA support (rdma-core headers "
                 "libibverbs/librdmacm were not found at configure time)");
    }
    return SQ_EUNSUPPORTED;
}

bool net_verbs_available(void)
{
    return false;
}
