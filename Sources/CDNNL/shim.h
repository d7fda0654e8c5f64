// Not API: oneDNN's C API (Debian's libdnnl-dev 2.6, built on OpenMP), plus the two OpenMP calls that
// set how many threads its primitives use. They are declared here rather than through <omp.h>, which
// is GCC's (not on Swift's clang include path); libgomp is the runtime libdnnl itself links.
#ifndef BERT_CDNNL_SHIM_H
#define BERT_CDNNL_SHIM_H
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h> // dnnl_status2str, for the messages of failed calls

int omp_get_max_threads(void);
void omp_set_num_threads(int count);
#endif
