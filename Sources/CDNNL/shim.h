// Not API: oneDNN's C API (Debian's libdnnl-dev 2.6, built on OpenMP), plus the two OpenMP calls that
// set how many threads its primitives use. They are declared here rather than through <omp.h>, which
// is GCC's (not on Swift's clang include path); libgomp is the runtime libdnnl itself links.
#ifndef BERT_CDNNL_SHIM_H
#define BERT_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h> // dnnl_status2str, for the messages of failed calls

/// DNNL_RUNTIME_DIM_VAL (a macro over INT64_MIN, which Swift does not import): a size or stride given at each call.
static inline int64_t bp_dnnl_runtime_dim(void) { return DNNL_RUNTIME_DIM_VAL; }

int omp_get_max_threads(void);
void omp_set_num_threads(int count);
#endif
