// Not API: Debian's OpenBLAS CBLAS header plus its thread-count controls.
#ifndef BERT_CBLAS_SHIM_H
#define BERT_CBLAS_SHIM_H
#include <cblas.h>
#endif
