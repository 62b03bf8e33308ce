#include "base/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"

const double sq_metrics_latency_bounds_s[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                              0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                              1.0,    2.5,     5.0,    10.0};
const unsigned sq_metrics_latency_bounds_count =
    (unsigned)(sizeof(sq_metrics_latency_bounds_s) / sizeof(sq_metrics_latency_bounds_s[0]));

static struct sq_metric *add(struct sq_metrics *reg, const char *name, const char *help,
                             const char *labels, enum sq_metric_kind kind)
{
    if (reg->count >= SQ_METRICS_MAX) {
        return NULL;
    }
    struct sq_metric *m = &reg->items[reg->count++];
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->help = help;
    m->labels = labels;
    m->kind = kind;
    return m;
}

struct sq_metric *sq_metrics_counter(struct sq_metrics *reg, const char *name, const char *help,
                                     const char *labels)
{
    return add(reg, name, help, labels, SQ_METRIC_COUNTER);
}

struct sq_metric *sq_metrics_gauge(struct sq_metrics *reg, const char *name, const char *help,
                                   const char *labels)
{
    return add(reg, name, help, labels, SQ_METRIC_GAUGE);
}

struct sq_metric *sq_metrics_histogram(struct sq_metrics *reg, const char *name, const char *help,
                                       const char *labels, const double *bounds,
                                       unsigned bound_count)
{
    SQ_ASSERT(bound_count <= SQ_HISTOGRAM_BUCKETS_MAX);
    for (unsigned i = 1; i < bound_count; i++) {
        SQ_ASSERT(bounds[i - 1] < bounds[i]);
    }
    struct sq_metric *m = add(reg, name, help, labels, SQ_METRIC_HISTOGRAM);
    if (m != NULL) {
        m->bucket_count = bound_count;
        memcpy(m->bounds, bounds, bound_count * sizeof(double));
    }
    return m;
}

void sq_metric_add(struct sq_metric *m, int64_t delta)
{
    SQ_ASSERT(m->kind != SQ_METRIC_HISTOGRAM);
    SQ_ASSERT(m->kind != SQ_METRIC_COUNTER || delta >= 0);
    __atomic_fetch_add(&m->value, delta, __ATOMIC_RELAXED);
}

void sq_metric_set(struct sq_metric *m, int64_t value)
{
    SQ_ASSERT(m->kind == SQ_METRIC_GAUGE);
    __atomic_store_n(&m->value, value, __ATOMIC_RELAXED);
}

int64_t sq_metric_get(const struct sq_metric *m)
{
    return __atomic_load_n(&m->value, __ATOMIC_RELAXED);
}

void sq_metric_observe(struct sq_metric *m, double value)
{
    SQ_ASSERT(m->kind == SQ_METRIC_HISTOGRAM);
    unsigned i = 0;
    while (i < m->bucket_count && value > m->bounds[i]) {
        i++;
    }
    __atomic_fetch_add(&m->buckets[i], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&m->count, 1, __ATOMIC_RELAXED);
    double micro = value * 1e6;
    uint64_t add_micro = micro > 0 ? (uint64_t)(micro + 0.5) : 0;
    __atomic_fetch_add(&m->sum_micro, add_micro, __ATOMIC_RELAXED);
}

struct out {
    char *buf;
    size_t cap;
    size_t len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = o->len < o->cap ? o->buf + o->len : NULL;
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        o->len += (size_t)n;
    }
}

static const char *kind_name(enum sq_metric_kind k)
{
    switch (k) {
    case SQ_METRIC_COUNTER:
        return "counter";
    case SQ_METRIC_GAUGE:
        return "gauge";
    default:
        return "histogram";
    }
}

size_t sq_metrics_render(const struct sq_metrics *reg, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0};
    for (unsigned i = 0; i < reg->count; i++) {
        const struct sq_metric *m = &reg->items[i];
        /* HELP and TYPE once per name: metrics sharing a name (different labels) are adjacent. */
        if (i == 0 || strcmp(reg->items[i - 1].name, m->name) != 0) {
            put(&o, "# HELP %s %s\n# TYPE %s %s\n", m->name, m->help, m->name,
                kind_name(m->kind));
        }
        const char *lb = m->labels ? m->labels : "";
        const char *sep = m->labels ? "," : "";
        if (m->kind != SQ_METRIC_HISTOGRAM) {
            if (m->labels) {
                put(&o, "%s{%s} %lld\n", m->name, lb, (long long)sq_metric_get(m));
            } else {
                put(&o, "%s %lld\n", m->name, (long long)sq_metric_get(m));
            }
            continue;
        }
        uint64_t cum = 0;
        for (unsigned b = 0; b <= m->bucket_count; b++) {
            cum += __atomic_load_n(&m->buckets[b], __ATOMIC_RELAXED);
            if (b < m->bucket_count) {
                put(&o, "%s_bucket{%s%sle=\"%g\"} %llu\n", m->name, lb, sep, m->bounds[b],
                    (unsigned long long)cum);
            } else {
                put(&o, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", m->name, lb, sep,
                    (unsigned long long)cum);
            }
        }
        double sum = (double)__atomic_load_n(&m->sum_micro, __ATOMIC_RELAXED) / 1e6;
        uint64_t count = __atomic_load_n(&m->count, __ATOMIC_RELAXED);
        if (m->labels) {
            put(&o, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", m->name, lb, sum, m->name, lb,
                (unsigned long long)count);
        } else {
            put(&o, "%s_sum %.6f\n%s_count %llu\n", m->name, sum, m->name,
                (unsigned long long)count);
        }
    }
    return o.len;
}
