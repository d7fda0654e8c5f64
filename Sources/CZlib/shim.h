// Not API: zlib, used to read gzip-compressed corpus files (Storage.TextInput) and to compress shard
// chunks (Corpus.ShardWriter).
// inflateInit2 is a function-like macro (it passes ZLIB_VERSION and sizeof(z_stream)), so Swift
// cannot call it; this wrapper asks for gzip framing (16 + MAX_WBITS: gzip header and CRC only).
#ifndef BERT_CZLIB_SHIM_H
#define BERT_CZLIB_SHIM_H
#include <zlib.h>

static inline int czlib_inflate_init_gzip(z_stream *stream) { return inflateInit2(stream, 16 + MAX_WBITS); }
/// Gzip-framed deflate at `level` (used by tests to make compressed fixtures without a gzip binary).
static inline int czlib_deflate_init_gzip(z_stream *stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
}
/// zlib-framed deflate (what HDF5's gzip filter stores) with the run-length strategy: matches only
/// at distance 1, so no hash chains; on byte-shuffled token ids it is faster than level 1 and smaller.
static inline int czlib_deflate_init_zlib_rle(z_stream *stream) {
    return deflateInit2(stream, 1, Z_DEFLATED, MAX_WBITS, 8, Z_RLE);
}
#endif
