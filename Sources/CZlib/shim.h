// Not API: zlib, used only to read gzip-compressed corpus files (Storage.TextInput).
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
#endif
