// CKernels: the element-wise math of the model in C, for two reasons Swift cannot serve:
//  - target_clones: the loops over whole activations (GELU forward and backward, the bf16 rounding) are
//    compiled three times, for x86-64-v4 (AVX-512: 16 floats a vector), x86-64-v3 (AVX2 + FMA: 8) and
//    the baseline (SSE2: 4), and the loader picks the clone the CPU runs (an ifunc). Swift compiles for
//    the baseline only, so these loops ran 4 wide without FMA: bert-tiny fine-tuning spent 22 % of its
//    step in GELU (perf). The AVX-512 clone: bert-small bf16 step 13.5 -> 14.3 seq/s, embed bf16 +4 %,
//    outputs bit for bit the same (2-core AVX512-BF16 EPYC, 1 thread).
//  - one home for the fast exp/erf/tanh: the static inline functions below are also what the Swift
//    code calls (softmax, the pooler's tanh), imported from this header.
#ifndef BERT_PRETRAIN_CKERNELS_H
#define BERT_PRETRAIN_CKERNELS_H

#include <stdint.h>
#include <string.h>

/// e^x, relative error about 2 ulp; 0 below -87.3, inputs above 88.3 clamped (callers pass
/// non-positive arguments — softmax, erf — or tanh's clamped ±40). Branch-free, so loops vectorise.
static inline float bp_fast_exp(float x) {
    float clamped = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
    // x = n·ln2 + r, |r| ≤ ln2/2; n rounded to nearest by adding and subtracting 1.5·2²³.
    const float magic = 12582912.0f;
    float shifted = clamped * 1.44269504f + magic;
    float n = shifted - magic;
    // ln2 split in two (Cody-Waite) so n·ln2_hi is exact.
    float r = (clamped - n * 0.69314575f) - n * 1.4286068e-6f;
    // e^r by its Taylor polynomial to degree 7 (truncation < 1e-9 on |r| ≤ 0.347).
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1;
    p = p * r + 1;
    // 2^n from the exponent bits: the low mantissa bits of `shifted` hold n (two's complement).
    uint32_t s, m;
    memcpy(&s, &shifted, 4);
    memcpy(&m, &magic, 4);
    uint32_t bits = (s - m + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    float result = p * scale;
    return x < -87.3f ? 0.0f : result;
}

/// erf(x), absolute error below 2e-7. |x| ≤ 1: x·P(x²), P of degree 6; 1 < |x| ≤ 4:
/// 1 − exp(−x² + R(|x| − 2.5)), R of degree 8; beyond 4 erf rounds to ±1 in Float. Coefficients:
/// least-squares fits on Chebyshev nodes by Tests/BERTTests/Fixtures/fit_erf.py.
static inline float bp_fast_erf(float x) {
    float a = x < 0 ? -x : x;
    float t = a < 4.0f ? a : 4.0f;
    float s = t * t;
    float small = 7.9333502e-05f;
    small = small * s - 0.00080348048f;
    small = small * s + 0.0051912138f;
    small = small * s - 0.026855397f;
    small = small * s + 0.11283626f;
    small = small * s - 0.3761263f;
    small = small * s + 1.1283792f;
    small *= t;
    float u = t - 2.5f;
    float q = 1.6140493e-06f;
    q = q * u - 1.3309406e-05f;
    q = q * u + 7.7394474e-05f;
    q = q * u - 0.00042014451f;
    q = q * u + 0.0021651603f;
    q = q * u - 0.010858517f;
    q = q * u + 0.05610636f;
    q = q * u - 0.35268068f;
    q = q * u - 1.5568153f;
    float large = 1 - bp_fast_exp(q - s);
    float magnitude = t <= 1 ? small : large;
    return x < 0 ? -magnitude : magnitude;
}

/// tanh(x) = 1 − 2/(e^{2x} + 1), a few ulp away from 0, ~1e-7 absolute near 0.
static inline float bp_fast_tanh(float x) {
    float c = x < -20.0f ? -20.0f : (x > 20.0f ? 20.0f : x);   // tanh(±20) = ±1 in Float
    float e = bp_fast_exp(2 * c);
    return 1 - 2 / (e + 1);
}

/// out[i] = gelu(x[i]) for i < count; out may equal x (in place). tanh_form: HF's gelu_new/gelu_pytorch_tanh.
void bp_gelu_forward(float *out, const float *x, long count, int tanh_form);

/// grad[i] *= gelu'(x[i]) for i < count.
void bp_gelu_backward(float *grad, const float *x, long count, int tanh_form);

/// The bfloat16 bit pattern of x (its upper 16 bits), rounded to nearest even as PyTorch and oneDNN
/// round; a NaN stays a (quiet) NaN, ±inf and values that round past the largest finite bf16 become ±inf.
static inline uint16_t bp_bf16_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t nan = (u & 0x7fffffffu) > 0x7f800000u;
    uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)((nan ? (u | 0x00400000u) : rounded) >> 16);
}

/// Rows of a strided float matrix view, rounded to bf16: out (row stride `columns`) gets rows × columns
/// values of x (row stride ld). `bp_round_rows_bf16` keeps them as float32 (exact: a bf16 value is a float
/// with 16 zero low bits), the operand of an emulated bf16 product; `bp_convert_rows_bf16` writes the bit
/// patterns, the operand oneDNN reads.
void bp_round_rows_bf16(float *out, const float *x, long rows, long columns, long ld);
void bp_convert_rows_bf16(uint16_t *out, const float *x, long rows, long columns, long ld);

#endif
