/*
 * A hidden layer's element-wise work for the stacked trainer (CPU, float32): normalization,
 * activation and dropout, forward and backward, in two passes each over the layer's
 * [B, W] block per model; the matmuls around them stay torch.bmm.
 *
 * Why: after batching, a small model's step is mostly element-wise passes through memory,
 * not arithmetic; here a layer's forward is one statistics pass and one pass computing the
 * normalization, the activation (and its derivative), the dropout mask from the model's
 * SplitMix64 stream and the running statistics; its backward is one pass for the sums
 * BatchNorm's gradient needs and one for the gradient itself.
 *
 * The activation is each model's own register program, run by the interpreter generated
 * from the operator table (symact.formula.ccode) over tiles of about TILE elements, so any
 * number of different formulas share one stack and one compiled library. relu(x) alone
 * keeps its own loop (mode 0): its backward needs only h > 0.
 *
 * The per-unit parametric form x + a * (f(x) - x) (kernels.h) is one more step in the same
 * passes: the forward blends and keeps what the backward needs, the backward sums a's
 * gradient in its first pass.
 *
 * Statistics are accumulated in double. See kernels.h for the arguments.
 */
#include <stdlib.h>

#include "kernels.h"

#define TILE 512
#define MODEL(k, f) models[6 * (k) + (f)]
enum { CODE_START, N_INSTR, N_REGS, N_CONSTS, OUT_REG, MODE };

/* SplitMix64 output number `counter` (1-based) of the stream seeded with `key`. */
static inline uint64_t symact_splitmix64(uint64_t key, uint64_t counter) {
    uint64_t z = key + counter * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/*
 * The keep factors (scale or 0) of positions pos0 .. pos0+n-1 of a model's step, as
 * StackedModel.draw_keep_masks reads them: the step's 64-bit words are the SplitMix64
 * outputs after `drawn` earlier ones; position p is the p % 4-th little-endian int16 of word
 * p / 4, kept when >= keep_from. words holds n / 4 + 2 entries.
 */
static void symact_keep(uint64_t key, int64_t drawn, int64_t pos0, int64_t n, int32_t keep_from,
                        float scale, uint64_t *words, float *keep) {
    int64_t first = pos0 / 4, last = (pos0 + n - 1) / 4;
#pragma omp simd
    for (int64_t i = first; i <= last; i++) {
        words[i - first] = symact_splitmix64(key, (uint64_t)(drawn + i + 1));
    }
    const int16_t *r = (const int16_t *)words + (pos0 - 4 * first);
    /* a loop of its own: gcc does not vectorize int16 compares beside vector calls */
#pragma omp simd
    for (int64_t i = 0; i < n; i++) keep[i] = r[i] >= keep_from ? scale : 0.0f;
}

/* Scratch of one call: interpreter registers and the per-tile buffers. */
typedef struct {
    float *R, *D, *keep;
    uint64_t *words;
    double *acc, *acc2;
    float *scale;
    int64_t stride;
} symact_scratch;

static void symact_scratch_free(symact_scratch *s) {
    free(s->R);
    free(s->D);
    free(s->keep);
    free(s->words);
    free(s->acc);
    free(s->acc2);
    free(s->scale);
}

static int symact_scratch_alloc(symact_scratch *s, int64_t k0, int64_t k1, int64_t W,
                                const int64_t *models) {
    int64_t regs = 1;
    for (int64_t k = k0; k < k1; k++) regs = MODEL(k, N_REGS) > regs ? MODEL(k, N_REGS) : regs;
    int64_t rows = W >= TILE ? 1 : TILE / W;
    s->stride = rows * W;
    size_t t = (size_t)s->stride;
    s->R = malloc(sizeof(float) * t * (size_t)regs);
    s->D = malloc(sizeof(float) * t * (size_t)regs);
    s->keep = malloc(sizeof(float) * (t + 2 * (size_t)W)); /* + BatchNorm's coefficients */
    s->words = malloc(sizeof(uint64_t) * (t / 4 + 2));
    s->acc = malloc(sizeof(double) * (size_t)W);
    s->acc2 = malloc(sizeof(double) * (size_t)W);
    s->scale = malloc(sizeof(float) * (size_t)W);
    if (!s->R || !s->D || !s->keep || !s->words || !s->acc || !s->acc2 || !s->scale) {
        symact_scratch_free(s);
        return 1;
    }
    return 0;
}

/* Registers 1 .. n_consts of a model hold its constants for every element of a tile. */
static void symact_fill_constants(const float *c, int64_t n_consts, int64_t n, int64_t stride,
                                  float *R) {
    for (int64_t j = 0; j < n_consts; j++) {
        float *r = R + (1 + j) * stride, value = c[j];
        for (int64_t i = 0; i < n; i++) r[i] = value;
    }
}

/* y = normalized (or biased) z of rows b0 .. b0 + rows - 1, into y. */
static void symact_normalized(const float *zk, int64_t b0, int64_t rows, int64_t W, int32_t norm,
                              const float *mk, const float *scale, const float *bk,
                              const float *biask, float *y) {
    for (int64_t b = 0; b < rows; b++) {
        const float *zr = zk + (b0 + b) * W;
        float *yr = y + b * W;
        if (norm) {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) yr[j] = (zr[j] - mk[j]) * scale[j] + bk[j];
        } else {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) yr[j] = zr[j] + biask[j];
        }
    }
}

/* The parametric form on a tile of rows x W (i = row * W + j, unit j): from y and
   f = f(y) (and df = f'(y), NULL for relu: then f'(y) = y > 0), h = (y + a (f - y)) keep,
   fx = (f - y) keep and, where deriv is kept, d = (1 - a + a f'(y)) keep. */
static void symact_parametric_tile(int64_t rows, int64_t W, const float *ak, const float *y,
                                   const float *f, const float *df, const float *keep,
                                   float *ht, float *ft, float *dt) {
    for (int64_t b = 0; b < rows; b++) {
        const int64_t o = b * W;
        if (!f) { /* relu */
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                float x = y[o + j], r = x < 0.0f ? 0.0f : x, a = ak[j], kp = keep[o + j];
                ht[o + j] = (x + a * (r - x)) * kp;
                ft[o + j] = (r - x) * kp;
                dt[o + j] = (1.0f - a + (x > 0.0f ? a : 0.0f)) * kp;
            }
        } else {
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                float x = y[o + j], v = f[o + j], a = ak[j], kp = keep[o + j];
                ht[o + j] = (x + a * (v - x)) * kp;
                ft[o + j] = (v - x) * kp;
                dt[o + j] = (df ? 1.0f - a + a * df[o + j] : 1.0f) * kp;
            }
        }
    }
}

int symact_hidden_forward(int64_t k0, int64_t k1, int64_t B, int64_t W, const float *z,
                          int32_t norm, const float *gamma, const float *beta,
                          const float *bias, float eps, float momentum, float *mean,
                          float *var, float *running_mean, float *running_var,
                          const int64_t *keys, int64_t drawn, int64_t pos0, int32_t keep_from,
                          float scale, const int64_t *models, const int32_t *code,
                          const int64_t *consts, float *h, float *deriv, const float *alpha,
                          float *fx) {
    symact_scratch s;
    if (symact_scratch_alloc(&s, k0, k1, W, models)) return 1;
    const float unbias = (float)B / (float)(B > 1 ? B - 1 : 1);
    const int64_t T = s.stride, tile_rows = T / W;
    for (int64_t k = k0; k < k1; k++) {
        const float *zk = z + k * B * W;
        float *hk = h + k * B * W, *dk = deriv ? deriv + k * B * W : 0;
        const float *ak = alpha ? alpha + k * W : 0;
        float *fk = alpha ? fx + k * B * W : 0;
        float *mk = norm ? mean + k * W : 0;
        const float *bk = norm ? beta + k * W : 0, *biask = bias + k * W;
        if (norm) {
            /* one pass: sums of z and z^2 in double */
            for (int64_t j = 0; j < W; j++) s.acc[j] = s.acc2[j] = 0.0;
            for (int64_t b = 0; b < B; b++) {
                const float *zr = zk + b * W;
#pragma omp simd
                for (int64_t j = 0; j < W; j++) {
                    double v = (double)zr[j];
                    s.acc[j] += v;
                    s.acc2[j] += v * v;
                }
            }
            float *vk = var + k * W, *rmk = running_mean + k * W, *rvk = running_var + k * W;
            for (int64_t j = 0; j < W; j++) {
                double m = s.acc[j] / (double)B, v = s.acc2[j] / (double)B - m * m;
                mk[j] = (float)m;
                vk[j] = (float)(v > 0.0 ? v : 0.0);
                s.scale[j] = gamma[k * W + j] / __builtin_sqrtf(vk[j] + eps);
                /* torch: running_mean.lerp_(mean + bias, momentum); running_var * (1 -
                   momentum) + momentum * unbiased var. The pre-BN bias is left out of z (it
                   cancels) and added back here. */
                rmk[j] += momentum * ((mk[j] + biask[j]) - rmk[j]);
                rvk[j] = rvk[j] * (1.0f - momentum) + vk[j] * (momentum * unbias);
            }
        }
        const int64_t mode = MODEL(k, MODE), n_instr = MODEL(k, N_INSTR);
        const int32_t *prog = code + 4 * MODEL(k, CODE_START);
        float *X = s.R, *out = s.R + MODEL(k, OUT_REG) * T, *dout = s.D + MODEL(k, OUT_REG) * T;
        if (mode != 0) {
            symact_fill_constants((const float *)(intptr_t)consts[k], MODEL(k, N_CONSTS), T, T,
                                  s.R);
            for (int64_t i = 0; i < T; i++) s.D[i] = 1.0f; /* dx/dx */
            for (int64_t i = T; i < (1 + MODEL(k, N_CONSTS)) * T; i++) s.D[i] = 0.0f;
        }
        for (int64_t b0 = 0; b0 < B; b0 += tile_rows) {
            int64_t rows = B - b0 < tile_rows ? B - b0 : tile_rows, n = rows * W;
            float *ht = hk + b0 * W, *dt = dk ? dk + b0 * W : 0;
            symact_normalized(zk, b0, rows, W, norm, mk, s.scale, bk, biask, X);
            if (keys) {
                symact_keep((uint64_t)keys[k], drawn, pos0 + b0 * W, n, keep_from, scale,
                            s.words, s.keep);
            } else {
                for (int64_t i = 0; i < n; i++) s.keep[i] = scale;
            }
            const float *keep = s.keep;
            if (ak) {
                const float *f = mode == 0 ? 0 : out, *df = mode == 1 ? dout : 0;
                if (mode == 1) symact_run_tangent(prog, n_instr, n, T, s.R, s.D);
                if (mode == 2) symact_run_value(prog, n_instr, n, T, s.R);
                symact_parametric_tile(rows, W, ak, X, f, df, keep, ht, fk + b0 * W, dt);
            } else if (mode == 0) {
#pragma omp simd
                for (int64_t i = 0; i < n; i++) ht[i] = (X[i] < 0.0f ? 0.0f : X[i]) * keep[i];
            } else if (mode == 1 && dt) {
                symact_run_tangent(prog, n_instr, n, T, s.R, s.D);
#pragma omp simd
                for (int64_t i = 0; i < n; i++) {
                    ht[i] = out[i] * keep[i];
                    dt[i] = dout[i] * keep[i];
                }
            } else {
                symact_run_value(prog, n_instr, n, T, s.R);
                if (dt) {
#pragma omp simd
                    for (int64_t i = 0; i < n; i++) {
                        ht[i] = out[i] * keep[i];
                        dt[i] = keep[i];
                    }
                } else { /* no deriv: the values alone (an evaluation, no backward follows) */
#pragma omp simd
                    for (int64_t i = 0; i < n; i++) ht[i] = out[i] * keep[i];
                }
            }
        }
    }
    symact_scratch_free(&s);
    return 0;
}

int symact_hidden_backward(int64_t k0, int64_t k1, int64_t B, int64_t W, float *dh,
                           const float *h, const float *deriv, const float *z, int32_t norm,
                           const float *mean, const float *var, const float *gamma,
                           const float *beta, const float *bias, float eps, float scale,
                           float *ggamma, float *gbeta, float *gbias, const int64_t *models,
                           const int32_t *code, const int64_t *consts,
                           const int64_t *gconsts, const float *alpha, const float *fx,
                           float *galpha) {
    symact_scratch s;
    if (symact_scratch_alloc(&s, k0, k1, W, models)) return 1;
    const int64_t T = s.stride, tile_rows = T / W;
    for (int64_t k = k0; k < k1; k++) {
        float *gk = dh + k * B * W;
        const float *hk = h + k * B * W, *dk = deriv ? deriv + k * B * W : 0, *zk = z + k * B * W;
        const float *mk = norm ? mean + k * W : 0, *vk = norm ? var + k * W : 0;
        const float *bk = norm ? beta + k * W : 0, *biask = bias + k * W;
        const int64_t mode = MODEL(k, MODE);
        const float *ak = alpha ? alpha + k * W : 0, *fk = alpha ? fx + k * B * W : 0;
        if (ak) { /* a's gradient: sum over rows of dh * fx (before dh is overwritten) */
            for (int64_t j = 0; j < W; j++) s.acc[j] = 0.0;
            for (int64_t b = 0; b < B; b++) {
                float *gr = gk + b * W;
                const float *fr = fk + b * W, *dr = dk + b * W;
                if (mode == 2) {
#pragma omp simd
                    for (int64_t j = 0; j < W; j++) s.acc[j] += (double)(gr[j] * fr[j]);
                } else { /* and pass 1 with it: dy = dh * (1 - a + a f'(y)) keep */
#pragma omp simd
                    for (int64_t j = 0; j < W; j++) {
                        s.acc[j] += (double)(gr[j] * fr[j]);
                        gr[j] *= dr[j];
                    }
                }
            }
            for (int64_t j = 0; j < W; j++) galpha[k * W + j] = (float)s.acc[j];
        }
        if (norm) {
            for (int64_t j = 0; j < W; j++) s.scale[j] = gamma[k * W + j] / __builtin_sqrtf(vk[j] + eps);
        }
        /* pass 1: dy (the gradient at the activation's input) over dh, in place */
        if (mode == 0 && !ak) {
#pragma omp simd
            for (int64_t i = 0; i < B * W; i++) gk[i] = hk[i] > 0.0f ? gk[i] * scale : 0.0f;
        } else if (mode == 1 && !ak) {
#pragma omp simd
            for (int64_t i = 0; i < B * W; i++) gk[i] *= dk[i];
        } else if (mode == 2) { /* (with the form, modes 0 and 1 ran pass 1 above) */
            const int64_t n_instr = MODEL(k, N_INSTR), nc = MODEL(k, N_CONSTS);
            const int64_t out_reg = MODEL(k, OUT_REG), n_regs = MODEL(k, N_REGS);
            const int32_t *prog = code + 4 * MODEL(k, CODE_START);
            float *gc = (float *)(intptr_t)gconsts[k];
            double gsum[64] = {0};
            double *gacc = nc <= 64 ? gsum : calloc((size_t)nc, sizeof(double));
            if (!gacc) {
                symact_scratch_free(&s);
                return 1;
            }
            symact_fill_constants((const float *)(intptr_t)consts[k], nc, T, T, s.R);
            for (int64_t b0 = 0; b0 < B; b0 += tile_rows) {
                int64_t rows = B - b0 < tile_rows ? B - b0 : tile_rows, n = rows * W;
                float *gt = gk + b0 * W;
                const float *dt = dk + b0 * W;
                symact_normalized(zk, b0, rows, W, norm, mk, s.scale, bk, biask, s.R);
                symact_run_value(prog, n_instr, n, T, s.R);
                for (int64_t i = 0; i < n_regs * T; i++) s.D[i] = 0.0f;
                float *seed = s.D + out_reg * T;
                if (ak) { /* d/df = g a, plus the direct path g (1 - a) */
                    for (int64_t b = 0; b < rows; b++) {
                        for (int64_t j = 0; j < W; j++) {
                            seed[b * W + j] += gt[b * W + j] * dt[b * W + j] * ak[j];
                        }
                    }
                    symact_run_adjoint(prog, n_instr, n, T, s.R, s.D);
                    for (int64_t b = 0; b < rows; b++) {
                        for (int64_t j = 0; j < W; j++) {
                            const int64_t i = b * W + j;
                            gt[i] = s.D[i] + gt[i] * dt[i] * (1.0f - ak[j]);
                        }
                    }
                } else {
                    for (int64_t i = 0; i < n; i++) seed[i] += gt[i] * dt[i];
                    symact_run_adjoint(prog, n_instr, n, T, s.R, s.D);
                    for (int64_t i = 0; i < n; i++) gt[i] = s.D[i];
                }
                for (int64_t j = 0; j < nc; j++) {
                    const float *g = s.D + (1 + j) * T;
                    double acc = 0.0;
                    for (int64_t i = 0; i < n; i++) acc += (double)g[i];
                    gacc[j] += acc;
                }
            }
            for (int64_t j = 0; j < nc; j++) gc[j] = (float)gacc[j];
            if (gacc != gsum) free(gacc);
        }
        if (!norm) { /* dz = dy; the bias gradient is its sum */
            for (int64_t j = 0; j < W; j++) s.acc[j] = 0.0;
            for (int64_t b = 0; b < B; b++) {
                const float *gr = gk + b * W;
#pragma omp simd
                for (int64_t j = 0; j < W; j++) s.acc[j] += (double)gr[j];
            }
            for (int64_t j = 0; j < W; j++) gbias[k * W + j] = (float)s.acc[j];
            continue;
        }
        /* pass 2: the sums BatchNorm's backward needs; pass 3: dz over dy */
        for (int64_t j = 0; j < W; j++) s.acc[j] = s.acc2[j] = 0.0;
        for (int64_t b = 0; b < B; b++) {
            const float *gr = gk + b * W, *zr = zk + b * W;
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                s.acc[j] += (double)gr[j];
                s.acc2[j] += (double)(gr[j] * (zr[j] - mk[j]));
            }
        }
        float *c_0 = s.keep + T, *c_x = s.keep + T + W;
        for (int64_t j = 0; j < W; j++) {
            float rstd = 1.0f / __builtin_sqrtf(vk[j] + eps);
            float sum_dy = (float)s.acc[j], sum_dyx = (float)s.acc2[j];
            gbeta[k * W + j] = sum_dy;
            ggamma[k * W + j] = sum_dyx * rstd;
            c_0[j] = -s.scale[j] * sum_dy / (float)B;
            c_x[j] = -s.scale[j] * rstd * rstd * sum_dyx / (float)B;
        }
        for (int64_t b = 0; b < B; b++) {
            float *gr = gk + b * W;
            const float *zr = zk + b * W;
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                gr[j] = gr[j] * s.scale[j] + c_0[j] + (zr[j] - mk[j]) * c_x[j];
            }
        }
    }
    symact_scratch_free(&s);
    return 0;
}

void symact_eval(int64_t n, const float *y, const int64_t *models, const int32_t *code,
                 const int64_t *consts, float *a, float *d) {
    symact_scratch s;
    if (symact_scratch_alloc(&s, 0, 1, 1, models)) return;
    const int64_t T = s.stride;
    const int32_t *prog = code + 4 * MODEL(0, CODE_START);
    const int64_t nc = MODEL(0, N_CONSTS), out_reg = MODEL(0, OUT_REG);
    symact_fill_constants((const float *)(intptr_t)consts[0], nc, T, T, s.R);
    for (int64_t i = 0; i < T; i++) s.D[i] = 1.0f;
    for (int64_t i = T; i < (1 + nc) * T; i++) s.D[i] = 0.0f;
    for (int64_t i0 = 0; i0 < n; i0 += T) {
        int64_t m = n - i0 < T ? n - i0 : T;
        for (int64_t i = 0; i < m; i++) s.R[i] = y[i0 + i];
        symact_run_tangent(prog, MODEL(0, N_INSTR), m, T, s.R, s.D);
        for (int64_t i = 0; i < m; i++) {
            a[i0 + i] = s.R[out_reg * T + i];
            d[i0 + i] = s.D[out_reg * T + i];
        }
    }
    symact_scratch_free(&s);
}

void symact_eval_reverse(int64_t n, const float *y, const float *g, const int64_t *models,
                         const int32_t *code, const int64_t *consts, float *gx, double *gc) {
    symact_scratch s;
    if (symact_scratch_alloc(&s, 0, 1, 1, models)) return;
    const int64_t T = s.stride;
    const int32_t *prog = code + 4 * MODEL(0, CODE_START);
    const int64_t nc = MODEL(0, N_CONSTS), out_reg = MODEL(0, OUT_REG), n_regs = MODEL(0, N_REGS);
    symact_fill_constants((const float *)(intptr_t)consts[0], nc, T, T, s.R);
    for (int64_t i0 = 0; i0 < n; i0 += T) {
        int64_t m = n - i0 < T ? n - i0 : T;
        for (int64_t i = 0; i < m; i++) s.R[i] = y[i0 + i];
        symact_run_value(prog, MODEL(0, N_INSTR), m, T, s.R);
        for (int64_t i = 0; i < n_regs * T; i++) s.D[i] = 0.0f;
        for (int64_t i = 0; i < m; i++) s.D[out_reg * T + i] += g[i0 + i];
        symact_run_adjoint(prog, MODEL(0, N_INSTR), m, T, s.R, s.D);
        for (int64_t i = 0; i < m; i++) gx[i0 + i] = s.D[i];
        for (int64_t j = 0; j < nc; j++) {
            for (int64_t i = 0; i < m; i++) gc[j] += (double)s.D[(1 + j) * T + i];
        }
    }
    symact_scratch_free(&s);
}
