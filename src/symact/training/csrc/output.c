/*
 * The output layers and losses of the stacked trainer (CPU, float32), and the batch gather.
 * See kernels.h for the arguments.
 */
#include <stdlib.h>

#include "kernels.h"

/*
 * Width-1 output and binary cross-entropy, forward and backward:
 * logit = h . w + bias; loss = BCE with logits (summed in double, returned as the mean);
 * dlogit = (sigmoid(logit) - y) / B; gw = sum dlogit * h, gbias = sum dlogit, dh = dlogit * w.
 * Three passes per model (logits; loss and dlogit over the rows, vectorized; gradients), so
 * the transcendental functions run on whole vectors of rows. A multiply-and-sum is far
 * faster than a matmul with one column.
 */
int symact_binary_output(int64_t k0, int64_t k1, int64_t B, int64_t W, const float *h,
                         const float *w, const float *bias, const float *y, float *dh,
                         float *gw, float *gbias, double *loss) {
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
           -log_sigmoid(l) = max(-l, 0) + log1p(exp(-|l|)) */
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

/* Softmax cross-entropy, as torch's cross_entropy (log_softmax with the row maximum
   subtracted, then the mean negative log-likelihood). */
int symact_softmax_loss(int64_t k0, int64_t k1, int64_t B, int64_t C, const float *logits,
                        const float *y, float *dlogits, double *loss) {
    int status = 0;
    for (int64_t k = k0; k < k1; k++) {
        double sum_loss = 0.0;
        for (int64_t b = 0; b < B; b++) {
            const float *l = logits + (k * B + b) * C;
            float *d = dlogits + (k * B + b) * C;
            int64_t t = (int64_t)y[k * B + b];
            float m = l[0];
            for (int64_t c = 1; c < C; c++) m = l[c] > m ? l[c] : m;
            float sum = 0.0f;
            for (int64_t c = 0; c < C; c++) {
                d[c] = expf(l[c] - m);
                sum += d[c];
            }
            float log_sum = logf(sum), inv = 1.0f / sum;
            sum_loss += (double)(log_sum - (l[t] - m));
            for (int64_t c = 0; c < C; c++) d[c] = (d[c] * inv - (c == t ? 1.0f : 0.0f)) / (float)B;
        }
        loss[k] = sum_loss / (double)B;
        if (!(loss[k] - loss[k] == 0.0)) status = 2;
    }
    return status;
}

/* torch.index_select copies each row with a call to memmove, and its source rows are
   scattered over a training set that does not fit the core's cache; a plain loop with the
   next rows prefetched moves them ~30% faster. */
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

/* x * 0 is 0 for finite x and NaN for inf or NaN, so the sum is NaN exactly when some value
   is not finite (and cannot overflow). */
int symact_all_finite(int64_t n, const float *x) {
    float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
    for (int64_t i = 0; i < n; i++) acc += x[i] * 0.0f;
    return acc == 0.0f;
}

const char *symact_interface(void) { return SYMACT_INTERFACE_HASH; }
