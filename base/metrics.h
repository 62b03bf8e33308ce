/* Metrics: counters, gauges and histograms, exposed in the Prometheus text format.
 *
 * A registry is built at start-up (registration is single-threaded and bounded by
 * SQ_METRICS_MAX); after that, updates are lock-free atomics from any thread and rendering may run
 * concurrently with updates (each value is read atomically; a rendering is not a snapshot across
 * metrics). Metric and label names are borrowed static strings. */
#ifndef SQ_BASE_METRICS_H
#define SQ_BASE_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define SQ_METRICS_MAX 128
#define SQ_HISTOGRAM_BUCKETS_MAX 24

enum sq_metric_kind {
    SQ_METRIC_COUNTER = 0,
    SQ_METRIC_GAUGE,
    SQ_METRIC_HISTOGRAM,
};

struct sq_metric {
    const char *name;
    const char *help;
    const char *labels; /* optional constant labels, e.g. "stage=\"final\"", or NULL */
    enum sq_metric_kind kind;
    int64_t value; /* counter or gauge (atomic) */
    /* histogram: cumulative counts are derived at render time from per-bucket counts */
    unsigned bucket_count;
    double bounds[SQ_HISTOGRAM_BUCKETS_MAX]; /* upper bounds, ascending; +Inf is implicit */
    uint64_t buckets[SQ_HISTOGRAM_BUCKETS_MAX + 1]; /* atomic; last is +Inf */
    uint64_t count;                                 /* atomic */
    uint64_t sum_micro;                             /* atomic: sum of observations x 1e6 */
};

struct sq_metrics {
    struct sq_metric items[SQ_METRICS_MAX];
    unsigned count;
};

/* Registers a metric and returns it (pointer stable for the registry's life), or NULL when the
 * registry is full. Histograms copy `bounds` (at most SQ_HISTOGRAM_BUCKETS_MAX, ascending). */
struct sq_metric *sq_metrics_counter(struct sq_metrics *reg, const char *name, const char *help,
                                     const char *labels);
struct sq_metric *sq_metrics_gauge(struct sq_metrics *reg, const char *name, const char *help,
                                   const char *labels);
struct sq_metric *sq_metrics_histogram(struct sq_metrics *reg, const char *name, const char *help,
                                       const char *labels, const double *bounds,
                                       unsigned bound_count);

/* Default latency buckets in seconds: 100 us .. 10 s. */
extern const double sq_metrics_latency_bounds_s[];
extern const unsigned sq_metrics_latency_bounds_count;

/* Updates; any thread. */
void sq_metric_add(struct sq_metric *m, int64_t delta);
void sq_metric_set(struct sq_metric *m, int64_t value);
void sq_metric_observe(struct sq_metric *m, double value);
int64_t sq_metric_get(const struct sq_metric *m);

/* Renders the whole registry in the Prometheus text exposition format (version 0.0.4) into buf.
 * Returns the length written (excluding the NUL), or the length that would have been needed if it
 * did not fit (like snprintf). */
size_t sq_metrics_render(const struct sq_metrics *reg, char *buf, size_t cap);

#endif
