// The GELU and bf16 loops, cloned for AVX-512, AVX2 + FMA and the baseline (see CKernels.h for why).
#include "CKernels.h"

#if defined(__x86_64__) && defined(__linux__)
#define CLONED __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CLONED
#endif

static const float inverse_sqrt2 = 0.70710677f;
static const float inverse_sqrt_2pi = 0.3989423f;    // 1/√(2π)
static const float sqrt_2_over_pi = 0.79788456f;     // √(2/π)

static inline float gelu(float v, int tanh_form) {
    return tanh_form ? 0.5f * v * (1 + bp_fast_tanh(sqrt_2_over_pi * (v + 0.044715f * v * v * v)))
                     : 0.5f * v * (1 + bp_fast_erf(v * inverse_sqrt2));
}

// Separate buffers and in place are two loops: for one loop over possibly-equal pointers the
// vectoriser adds an overlap check, and equal pointers "overlap", which selects the scalar loop.
CLONED static void gelu_separate(float *restrict out, const float *restrict x, long count, int tanh_form) {
    if (tanh_form) { for (long i = 0; i < count; i++) out[i] = gelu(x[i], 1); }
    else { for (long i = 0; i < count; i++) out[i] = gelu(x[i], 0); }
}

CLONED static void gelu_in_place(float *x, long count, int tanh_form) {
    if (tanh_form) { for (long i = 0; i < count; i++) x[i] = gelu(x[i], 1); }
    else { for (long i = 0; i < count; i++) x[i] = gelu(x[i], 0); }
}

void bp_gelu_forward(float *out, const float *x, long count, int tanh_form) {
    if (out == x) gelu_in_place(out, count, tanh_form);
    else gelu_separate(out, x, count, tanh_form);
}

CLONED void bp_gelu_backward(float *restrict grad, const float *restrict x, long count, int tanh_form) {
    if (tanh_form) {
        for (long i = 0; i < count; i++) {
            float v = x[i];
            float th = bp_fast_tanh(sqrt_2_over_pi * (v + 0.044715f * v * v * v));
            float d_inner = sqrt_2_over_pi * (1 + 3 * 0.044715f * v * v);
            grad[i] *= 0.5f * (1 + th) + 0.5f * v * (1 - th * th) * d_inner;
        }
    } else {
        // d/dx xΦ(x) = Φ(x) + x·φ(x)
        for (long i = 0; i < count; i++) {
            float v = x[i];
            float cdf = 0.5f * (1 + bp_fast_erf(v * inverse_sqrt2));
            float pdf = inverse_sqrt_2pi * bp_fast_exp(-0.5f * v * v);
            grad[i] *= cdf + v * pdf;
        }
    }
}

CLONED void bp_round_rows_bf16(float *restrict out, const float *restrict x, long rows, long columns, long ld) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        float *o = out + r * columns;
        for (long c = 0; c < columns; c++) {
            uint32_t bits = (uint32_t)bp_bf16_bits(row[c]) << 16;
            memcpy(o + c, &bits, 4);
        }
    }
}

CLONED void bp_convert_rows_bf16(uint16_t *restrict out, const float *restrict x, long rows, long columns, long ld) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * ld;
        uint16_t *o = out + r * columns;
        for (long c = 0; c < columns; c++) o[c] = bp_bf16_bits(row[c]);
    }
}
