/*
 * loss.c (reference) - losses over n samples (mean reduction); the loss is one float.
 *   BCE with logits:  l_i = max(z_i, 0) - z_i y_i + log(1 + exp(-|z_i|)),  L = sum l_i / n
 *                     dL/dz_i = (sigmoid(z_i) - y_i) / n
 *   weighted softmax CE over 2 classes (logits (n, 2), class weights w):
 *                     l_i = w[y_i] (logsumexp(z_i) - z_i[y_i]),  L = sum l_i / sum w[y_i]
 *                     dL/dz_i[k] = w[y_i] (softmax(z_i)[k] - [k = y_i]) / sum w[y_i]
 */
#include <math.h>

#include "ref.h"

void qr_nn_ref_bce_forward(qr_nn_context *ctx, int64_t n, float *loss, const float *logits, const float *labels) {
    (void)ctx;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double z = logits[i], y = labels[i];
        s += (z > 0 ? z : 0) - z * y + log1p(exp(-fabs(z)));
    }
    *loss = (float)(s / (double)n);
}

void qr_nn_ref_bce_backward(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits, const float *labels) {
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        double sg = 1.0 / (1.0 + exp(-(double)logits[i]));
        dlogits[i] = (float)((sg - labels[i]) / (double)n);
    }
}

void qr_nn_ref_softmax_ce_forward(qr_nn_context *ctx, int64_t n, float *loss, const float *logits,
                                  const float *labels, float w0, float w1) {
    (void)ctx;
    double s = 0, ws = 0;
    for (int64_t i = 0; i < n; i++) {
        double z0 = logits[2 * i], z1 = logits[2 * i + 1], mx = z0 > z1 ? z0 : z1;
        double lse = mx + log(exp(z0 - mx) + exp(z1 - mx));
        int y = labels[i] > 0.5f;
        double w = y ? w1 : w0;
        s += w * (lse - (y ? z1 : z0));
        ws += w;
    }
    *loss = (float)(ws > 0 ? s / ws : 0.0);
}

void qr_nn_ref_softmax_ce_backward(qr_nn_context *ctx, int64_t n, float *dlogits, const float *logits,
                                   const float *labels, float w0, float w1) {
    (void)ctx;
    double ws = 0;
    for (int64_t i = 0; i < n; i++) ws += labels[i] > 0.5f ? w1 : w0;
    for (int64_t i = 0; i < n; i++) {
        double z0 = logits[2 * i], z1 = logits[2 * i + 1], mx = z0 > z1 ? z0 : z1;
        double e0 = exp(z0 - mx), e1 = exp(z1 - mx), p0 = e0 / (e0 + e1), p1 = e1 / (e0 + e1);
        int y = labels[i] > 0.5f;
        double w = (y ? w1 : w0) / (ws > 0 ? ws : 1.0);
        dlogits[2 * i] = (float)(w * (p0 - (y == 0)));
        dlogits[2 * i + 1] = (float)(w * (p1 - (y == 1)));
    }
}
