/*
 * The interface of symact's training kernels: the one declaration of every kernel and its
 * arguments. The C sources include this file, so a definition that differs from it does not
 * compile; kernels.py reads it to build the ctypes signatures, and Python binds arguments
 * by these parameter names (never by position), checking each tensor's dtype against the
 * declared pointer type. The library also returns this file's hash (symact_interface), and
 * kernels.py refuses a library built from another version of it.
 *
 * Conventions: tensors are row-major [K, B, W] (model, row, unit), per-model vectors
 * [K, W]; a call handles models k0 <= k < k1, so Python can split a stack over threads.
 * Kernels return 0, 1 when scratch memory could not be allocated (Python raises
 * MemoryError), or 2 where noted.
 *
 * Activations are register programs (symact.formula.program), one per model:
 * `models` is [K, 6] int64 rows (code_start, n_instr, n_regs, n_consts, out_reg, mode)
 * into `code` (int32, 4 per instruction: op, dst, a, b). mode 0: relu(x) alone (backward
 * reads h > 0; no derivative kept); 1: fixed constants, the derivative computed with the
 * value and kept in `deriv`; 2: learnable constants, `deriv` keeps the dropout mask and the
 * backward recomputes the program and sweeps it in reverse for d/dx and d/dconstants.
 * `consts` and `gconsts` are [K] addresses of each model's constants for this layer and of
 * their gradients (0 where mode != 2), as int64.
 *
 * The per-unit parametric form (ModelSpec.parametric, RealMLP's x + a * (f(x) - x)): with
 * `alpha` ([K, W], NULL without the form) the forward keeps (f(y) - y) * keep in `fx` and, in
 * modes 0 and 1, (1 - a + a f'(y)) * keep in `deriv` (mode 0 then needs `deriv` too); the
 * backward writes sum over rows of dh * fx into `galpha` ([K, W]).
 */
#ifndef SYMACT_KERNELS_H
#define SYMACT_KERNELS_H
#include <stdint.h>

/* One hidden layer after its matmul: z -> normalization -> activation -> dropout -> h. */
int symact_hidden_forward(int64_t k0, int64_t k1, int64_t B, int64_t W, const float *z,
                          int32_t norm, const float *gamma, const float *beta,
                          const float *bias, float eps, float momentum, float *mean,
                          float *var, float *running_mean, float *running_var,
                          const int64_t *keys, int64_t drawn, int64_t pos0, int32_t keep_from,
                          float scale, const int64_t *models, const int32_t *code,
                          const int64_t *consts, float *h, float *deriv, const float *alpha,
                          float *fx);

/* Its backward: dh (gradient at h) is overwritten by the gradient at z; with norm, ggamma
   and gbeta receive the affine gradients, without it gbias the bias gradient. */
int symact_hidden_backward(int64_t k0, int64_t k1, int64_t B, int64_t W, float *dh,
                           const float *h, const float *deriv, const float *z, int32_t norm,
                           const float *mean, const float *var, const float *gamma,
                           const float *beta, const float *bias, float eps, float scale,
                           float *ggamma, float *gbeta, float *gbias, const int64_t *models,
                           const int32_t *code, const int64_t *consts,
                           const int64_t *gconsts, const float *alpha, const float *fx,
                           float *galpha);

/* The width-1 output layer with sigmoid + binary cross-entropy, forward and backward.
   Returns 2 when some model's loss is not finite. */
int symact_binary_output(int64_t k0, int64_t k1, int64_t B, int64_t W, const float *h,
                         const float *w, const float *bias, const float *y, float *dh,
                         float *gw, float *gbias, double *loss);

/* Softmax cross-entropy on logits [K, B, C] with class indices y [K, B] (as floats):
   dlogits = (softmax - onehot) / B, loss = mean. Returns 2 when a loss is not finite. */
int symact_softmax_loss(int64_t k0, int64_t k1, int64_t B, int64_t C, const float *logits,
                        const float *y, float *dlogits, double *loss);

/* A batch for each of m models: rows idx[j * stride + i] of src [*, d] into dst. */
void symact_gather(int64_t m, int64_t rows, int64_t d, const float *src, const float *ysrc,
                   const int64_t *idx, int64_t stride, float *dst, float *ydst);

/* 1 if all n values are finite. */
int symact_all_finite(int64_t n, const float *x);

/* One activation program applied to n values: a = f(y), d = f'(y) (tests, benchmarks). */
void symact_eval(int64_t n, const float *y, const int64_t *models, const int32_t *code,
                 const int64_t *consts, float *a, float *d);

/* Reverse mode over one program (tests): gx = g * f'(y) element-wise, and gc[j] += sum of
   g * df/dc_j over the elements (double). */
void symact_eval_reverse(int64_t n, const float *y, const float *g, const int64_t *models,
                         const int32_t *code, const int64_t *consts, float *gx, double *gc);

/* The hash of this header the library was built from. */
const char *symact_interface(void);

#endif
