// Not API: libdeflate (Debian: libdeflate-dev), a fast whole-buffer DEFLATE compressor. The shard
// writer uses it for the chunks of int32 datasets (Corpus.ShardWriter); its zlib-framed output is
// what HDF5's gzip filter reads.
#ifndef BERT_CDEFLATE_SHIM_H
#define BERT_CDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
