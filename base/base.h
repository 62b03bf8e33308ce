/* base/: the foundation every module stands on. Including this header includes them all. */
#ifndef SQ_BASE_BASE_H
#define SQ_BASE_BASE_H

#include "base/assert.h"
#include "base/clock.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "base/prng.h"

#endif
