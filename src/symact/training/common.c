/*
 * symact's activation-independent kernels for the stacked trainer (CPU, float32): the
 * width-1 output layer with the loss, Adam, and the batch gather. Built once into their own
 * library by kernels.py (beside one library per activation from fused.c), so a new
 * activation compiles only what depends on it. Same conventions as fused.c: [K, B, W]
 * row-major tensors, calls over models k0 <= k < k1, 0 or 1 (no scratch memory) returned.
 */
#include <stdint.h>
#include <stdlib.h>

/*
 * The width-1 output layer and the loss, forward and backward:
 * logit = h . w + bias; loss = BCE with logits (summed in double, returned as the mean);
 * dlogit = (sigmoid(logit) - y) / B; gw = sum dlogit * h, gbias = sum dlogit, dh = dlogit * w.
 * Three passes per model (logits; loss and dlogit over the B rows, vectorized; gradients),
 * so the transcendental functions run on whole vectors of rows.
 * h, dh [K, B, W]; w, gw [K, W]; bias, gbias [K]; y [K, B]; loss [K] (double).
 * Returns 2 when some model's loss is not finite (the trainer then looks closer), else 0.
 */
int symact_output(int64_t k0, int64_t k1, int64_t B, int64_t W, const float *h,
                   const float *w, const float *bias, const float *y, float *dh, float *gw,
                   float *gbias, double *loss) {
    double *acc = malloc(sizeof(double) * (size_t)W);
    float *dl = malloc(sizeof(float) * (size_t)B), *lrow = malloc(sizeof(float) * (size_t)B);
    if (!acc || !dl || !lrow) {
        free(acc);
        free(dl);
        free(lrow);
        return 1;
    }
    int status = 0;
    for (int64_t k = k0; k < k1; k++) {
        const float *wk = w + k * W, *yk = y + k * B;
        for (int64_t b = 0; b < B; b++) {
            const float *hr = h + (k * B + b) * W;
            float logit = 0.0f;
#pragma omp simd reduction(+ : logit)
            for (int64_t j = 0; j < W; j++) logit += hr[j] * wk[j];
            dl[b] = logit + bias[k];
        }
        /* torch's binary_cross_entropy_with_logits: (1 - t) * l - log_sigmoid(l), with
           -log_sigmoid(l) = max(-l, 0) + log1p(exp(-|l|)); a loop with no reduction, so
           that it vectorizes (exp and log1p included), then the sums in double */
#pragma omp simd
        for (int64_t b = 0; b < B; b++) {
            float l = dl[b], t = yk[b];
            float neg = -l > 0.0f ? -l : 0.0f;
            lrow[b] = (1.0f - t) * l + neg + log1pf(expf(-__builtin_fabsf(l)));
            dl[b] = (1.0f / (1.0f + expf(-l)) - t) / (float)B;
        }
        double sum_loss = 0.0, sum_d = 0.0;
        for (int64_t b = 0; b < B; b++) {
            sum_loss += (double)lrow[b];
            sum_d += (double)dl[b];
        }
        for (int64_t j = 0; j < W; j++) acc[j] = 0.0;
        for (int64_t b = 0; b < B; b++) {
            const float *hr = h + (k * B + b) * W;
            float *dr = dh + (k * B + b) * W, d = dl[b];
#pragma omp simd
            for (int64_t j = 0; j < W; j++) {
                acc[j] += (double)(d * hr[j]);
                dr[j] = d * wk[j];
            }
        }
        for (int64_t j = 0; j < W; j++) gw[k * W + j] = (float)acc[j];
        gbias[k] = (float)sum_d;
        loss[k] = sum_loss / (double)B;
        if (!(loss[k] - loss[k] == 0.0)) status = 2; /* NaN or inf */
    }
    free(acc);
    free(dl);
    free(lrow);
    return status;
}

/* A batch for each of m models: model j's rows idx[j * stride + i], i < rows, of src [*, d]
   into dst [m, rows, d], and their labels into ydst [m, rows]. torch.index_select copies
   each row with a call to memmove, and its source rows are scattered over a training set
   that does not fit the core's cache; a plain loop with the next rows prefetched moves them
   ~30% faster. */
void symact_gather(int64_t m, int64_t rows, int64_t d, const float *src, const float *ysrc,
                   const int64_t *idx, int64_t stride, float *dst, float *ydst) {
    for (int64_t j = 0; j < m; j++) {
        const int64_t *ij = idx + j * stride;
        float *oj = dst + j * rows * d, *yj = ydst + j * rows;
        for (int64_t i = 0; i < rows; i++) {
            if (i + 8 < rows) __builtin_prefetch(src + ij[i + 8] * d);
            const float *s = src + ij[i] * d;
            float *o = oj + i * d;
#pragma omp simd
            for (int64_t c = 0; c < d; c++) o[c] = s[c];
            yj[i] = ysrc[ij[i]];
        }
    }
}

/* 1 if all n values are finite: x * 0 is 0 for finite x and NaN for inf or NaN, so the sum
   is NaN exactly when some value is not finite (and cannot overflow). */
int symact_all_finite(int64_t n, const float *x) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) acc += x[i] * 0.0f;
    return acc == 0.0f;
}

/* torch.optim.Adam's update (single-tensor, no amsgrad, no weight decay) on n floats:
   m.lerp_(g, 1 - beta1); v = v * beta2 + (1 - beta2) * g * g;
   p += -step_size * m / (sqrt(v) / bias_c2_sqrt + eps). */
void symact_adam(int64_t n, float *p, const float *g, float *m, float *v, float beta1,
                 float beta2, float step_size, float bias_c2_sqrt, float eps) {
    const float w = 1.0f - beta1, w2 = 1.0f - beta2;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = m[i] + w * (gi - m[i]);
        float vi = v[i] * beta2 + w2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] += -step_size * (mi / (__builtin_sqrtf(vi) / bias_c2_sqrt + eps));
    }
}

