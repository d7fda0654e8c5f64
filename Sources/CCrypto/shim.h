// Not API: OpenSSL's libcrypto, used only for SHA-256 fingerprints of vocabularies and files.
#ifndef BERT_CCRYPTO_SHIM_H
#define BERT_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#endif
