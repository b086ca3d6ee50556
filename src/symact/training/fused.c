/*
 * symact's fused element-wise kernels for the stacked trainer (CPU, float32).
 *
 * Why this file exists: in the stacked trainer the matmuls already run at the machine's
 * matmul speed; what is left is ~20 element-wise passes per hidden layer and step
 * (BatchNorm statistics, normalization, activation and its derivative, dropout masks, and
 * their backward), each a trip through memory. Here one layer's forward is two passes
 * over its pre-activations and its backward two, with the dropout bits and the activation's
 * derivative computed on the way.
 *
 * kernels.py builds one shared library per activation from this file: it prepends the
 * activation as ``static inline float act(float y, float *d)`` (value, and derivative into
 * *d) plus ``#define SYMACT_HAS_DERIV`` (0 for ReLU, whose backward reads its own output),
 * compiles it with the system C compiler and loads it with ctypes.
 * Never edited at run time; activations come from formula trees (symact.formula.ccode) or a
 * fixed table of built-in modules, never from user text.
 *
 * Layout: every tensor is [K, B, W] row-major (model, row, unit), per-model vectors [K, W].
 * Each call handles models k0 <= k < k1, so Python can split a stack across threads.
 * Statistics are accumulated in double. Kernels return 0, or 1 when scratch memory could not
 * be allocated (Python raises MemoryError).
 */
#include <stdint.h>
#include <stdlib.h>

#ifndef SYMACT_HAS_DERIV
#error "kernels.py defines SYMACT_HAS_DERIV before including the kernels"
#endif

/* SplitMix64 output number `counter` (1-based) of the stream seeded with `key`. */
static inline uint64_t symact_splitmix64(uint64_t key, uint64_t counter) {
    uint64_t z = key + counter * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/*
 * The 16-bit dropout draws of positions pos0 .. pos0+n-1 of a model's step, as
 * StackedMLP.draw_keep_masks reads them: the step's 64-bit words are the SplitMix64 outputs
 * after `drawn` earlier ones, and position p is the p % 4-th little-endian int16 of word p / 4.
 * Returns a pointer to position pos0's draw inside `words`.
 */
static const int16_t *symact_draws(uint64_t key, int64_t drawn, int64_t pos0, int64_t n,
                                   uint64_t *words) {
    int64_t first = pos0 / 4, last = (pos0 + n - 1) / 4;
#pragma omp simd
    for (int64_t i = first; i <= last; i++) {
        words[i - first] = symact_splitmix64(key, (uint64_t)(drawn + i + 1));
    }
    return (const int16_t *)words + (pos0 - 4 * first);
}

/*
 * Forward of one hidden layer after its matmul: z (pre-BatchNorm, bias left out: it cancels)
 * -> batch statistics -> y = (z - mean) * gamma * rstd + beta -> a = act(y) ->
 * h = a * keep * scale (dropout's 1/(1-p) applied here), and deriv = act'(y) * keep * scale
 * when SYMACT_HAS_DERIV. mean and var (biased) are kept for the backward; the running
 * statistics are updated as nn.BatchNorm1d does (momentum; unbiased variance; the pre-BN
 * bias, left out of z, added back to the running mean). keys == NULL means no dropout.
 */
int symact_forward(int64_t k0, int64_t k1, int64_t B, int64_t W, const float *z,
                    const float *gamma, const float *beta, float eps, const int64_t *keys,
                    int64_t drawn, int64_t pos0, int32_t keep_from, float scale_out, float *h,
                    float *deriv, float *mean, float *var, const float *bias, float momentum,
                    float *running_mean, float *running_var) {
    double *acc = malloc(sizeof(double) * (size_t)W), *acc2 = malloc(sizeof(double) * (size_t)W);
    float *scale = malloc(sizeof(float) * (size_t)W), *keep = malloc(sizeof(float) * (size_t)W);
    uint64_t *words = keys ? malloc(sizeof(uint64_t) * (size_t)(W / 4 + 2)) : NULL;
    if (!acc || !acc2 || !scale || !keep || (keys && !words)) {
        free(acc);
        free(acc2);
        free(scale);
        free(keep);
        free(words);
        return 1;
    }
    const float unbias = (float)B / (float)(B > 1 ? B - 1 : 1);
    for (int64_t k = k0; k < k1; k++) {
        const float *zk = z + k * B * W;
        float *hk = h + k * B * W, *mk = mean + k * W, *vk = var + k * W;
        const float *gk = gamma + k * W, *bk = beta + k * W;
        float *rmk = running_mean + k * W, *rvk = running_var + k * W;
        /* one pass: sums of z and z^2 in double (the variance's cancellation costs ~1e-16
           of mean^2 / var in double: nothing at the scales BatchNorm sees) */
        for (int64_t j = 0; j < W; j++) acc[j] = acc2[j] = 0.0;
        for (int64_t b = 0; b < B; b++) {
            const float *zr = zk + b * W;
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                double v = (double)zr[j];
                acc[j] += v;
                acc2[j] += v * v;
            }
        }
        for (int64_t j = 0; j < W; j++) {
            double m = acc[j] / (double)B, v = acc2[j] / (double)B - m * m;
            mk[j] = (float)m;
            vk[j] = (float)(v > 0.0 ? v : 0.0);
            float rstd = 1.0f / __builtin_sqrtf(vk[j] + eps);
            scale[j] = gk[j] * rstd;
            /* torch: running_mean.lerp_(mean + bias, momentum); running_var * (1 - momentum)
               + momentum * unbiased var */
            rmk[j] += momentum * ((mk[j] + bias[k * W + j]) - rmk[j]);
            rvk[j] = rvk[j] * (1.0f - momentum) + vk[j] * (momentum * unbias);
        }
        float *dk = SYMACT_HAS_DERIV ? deriv + k * B * W : 0;
        for (int64_t b = 0; b < B; b++) {
            const float *zr = zk + b * W;
            float *hr = hk + b * W;
            float *dr = SYMACT_HAS_DERIV ? dk + b * W : 0;
            if (keys) {
                const int16_t *rr = symact_draws((uint64_t)keys[k], drawn, pos0 + b * W, W, words);
                /* a separate loop: gcc does not vectorize int16 compares beside vector calls */
#pragma omp simd
                for (int64_t j = 0; j < W; j++) keep[j] = rr[j] >= keep_from ? scale_out : 0.0f;
#pragma omp simd
                for (int64_t j = 0; j < W; j++) {
                    float d, y = (zr[j] - mk[j]) * scale[j] + bk[j];
                    float a = act(y, &d);
                    hr[j] = a * keep[j];
                    if (SYMACT_HAS_DERIV) dr[j] = d * keep[j];
                }
            } else {
#pragma omp simd
                for (int64_t j = 0; j < W; j++) {
                    float d, y = (zr[j] - mk[j]) * scale[j] + bk[j];
                    hr[j] = act(y, &d) * scale_out;
                    if (SYMACT_HAS_DERIV) dr[j] = d * scale_out;
                }
            }
        }
    }
    free(acc);
    free(acc2);
    free(scale);
    free(keep);
    free(words);
    return 0;
}

/*
 * Backward of the same layer: dh (gradient at h) -> dy = dh * act'(y) * keep * scale ->
 * BatchNorm's input gradient dz, written over dh; ggamma and gbeta [K, W] receive the affine
 * gradients. With SYMACT_HAS_DERIV == 0 (ReLU) the gradient passes, times scale, where h > 0
 * (kept and y > 0).
 */
int symact_backward(int64_t k0, int64_t k1, int64_t B, int64_t W, float *dh, const float *h,
                     const float *deriv, const float *z, const float *mean, const float *var,
                     const float *gamma, float eps, float scale_out, float *ggamma,
                     float *gbeta) {
    double *sdy = malloc(sizeof(double) * (size_t)W), *sdyx = malloc(sizeof(double) * (size_t)W);
    float *c_dy = malloc(sizeof(float) * (size_t)W), *c_x = malloc(sizeof(float) * (size_t)W),
          *c_0 = malloc(sizeof(float) * (size_t)W);
    if (!sdy || !sdyx || !c_dy || !c_x || !c_0) {
        free(sdy);
        free(sdyx);
        free(c_dy);
        free(c_x);
        free(c_0);
        return 1;
    }
    for (int64_t k = k0; k < k1; k++) {
        float *gk = dh + k * B * W;
        const float *zk = z + k * B * W, *mk = mean + k * W, *vk = var + k * W;
        const float *sk = SYMACT_HAS_DERIV ? deriv + k * B * W : h + k * B * W;
        for (int64_t j = 0; j < W; j++) sdy[j] = sdyx[j] = 0.0;
        for (int64_t b = 0; b < B; b++) {
            const float *gr = gk + b * W, *zr = zk + b * W, *sr = sk + b * W;
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                float dy = SYMACT_HAS_DERIV ? gr[j] * sr[j] : (sr[j] > 0.0f ? gr[j] : 0.0f);
                sdy[j] += (double)dy;
                sdyx[j] += (double)(dy * (zr[j] - mk[j]));
            }
        }
        if (!SYMACT_HAS_DERIV) { /* ReLU: dy carries dropout's scale (h > 0 only if kept) */
            for (int64_t j = 0; j < W; j++) {
                sdy[j] *= (double)scale_out;
                sdyx[j] *= (double)scale_out;
            }
        }
        for (int64_t j = 0; j < W; j++) {
            float rstd = 1.0f / __builtin_sqrtf(vk[j] + eps);
            float s = gamma[k * W + j] * rstd;
            float sum_dy = (float)sdy[j], sum_dyx = (float)sdyx[j];
            gbeta[k * W + j] = sum_dy;
            ggamma[k * W + j] = sum_dyx * rstd;
            c_dy[j] = SYMACT_HAS_DERIV ? s : s * scale_out; /* ReLU's dy below lacks the scale */
            c_0[j] = -s * sum_dy / (float)B;
            c_x[j] = -s * rstd * rstd * sum_dyx / (float)B;
        }
        for (int64_t b = 0; b < B; b++) {
            float *gr = gk + b * W;
            const float *zr = zk + b * W, *sr = sk + b * W;
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                float dy = SYMACT_HAS_DERIV ? gr[j] * sr[j] : (sr[j] > 0.0f ? gr[j] : 0.0f);
                gr[j] = dy * c_dy[j] + c_0[j] + (zr[j] - mk[j]) * c_x[j];
            }
        }
    }
    free(sdy);
    free(sdyx);
    free(c_dy);
    free(c_x);
    free(c_0);
    return 0;
}

/* The activation and its derivative on n values (for tests and the activation benchmark). */
void symact_eval(int64_t n, const float *y, float *a, float *d) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float di;
        a[i] = act(y[i], &di);
        d[i] = di;
    }
}
