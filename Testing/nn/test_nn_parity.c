/*
 * test_nn_parity.c - the whole network against a PyTorch state file (make_parity_state.py):
 * inference logits, training-mode logits and loss, every parameter gradient, the parameters and
 * BatchNorm running statistics after the file's Adam steps, on one device.
 *
 *   test_nn_parity [STATE.h5 [DEVICE (ref|cpu|cuda)]] [--threads T]
 * (default: the committed width-2 state Testing/nn/data/parity_w2.h5 on the CPU backend;
 * test_cuda_emu_parity is the same program with device cuda, and its default, on the CUDA
 * backend's sources running on the CPU emulation of CUDA)
 *
 * Tolerances (scale-relative: max |c - torch| / max |torch| per tensor): forward 1e-4,
 * gradients 1e-3, parameters after Adam 1e-5, running statistics 1e-4.
 *
 * Two facts of the network shape the parameter checks:
 *  - Gauge biases: a Linear bias followed by a BatchNorm in training mode has an exactly zero
 *    gradient (the BN subtracts the batch mean). Both PyTorch and we compute rounding noise
 *    (~1e-9) there; its gradient is checked against the scale of the layer's weight gradient, and
 *    the BN's running mean after the steps may differ by the bias difference.
 *  - Adam divides by sqrt(v), so an element's update carries its gradient's relative error:
 *    where a gradient element is small against its tensor's largest (< 1e-2 of it in some step,
 *    flagged by the state file's adam_sensitive mask) float rounding in either implementation
 *    moves the update by more than 1e-5. Those elements are held to Adam's step bound
 *    (|diff| <= 2 lr steps), all others to 1e-5. A second test runs our Adam on PyTorch's own
 *    gradients (when the file has every step's) and holds every element to 1e-5.
 *  - Parameters that start at zero (RimNet's biases) are compared on the scale of how far Adam
 *    can move them (20 lr steps), not on their own tiny size.
 *  - Gradient tolerance: 1e-3 of max(the tensor's largest |gradient|, 1e-2 of the largest
 *    |gradient| of the whole network in that step), so tiny tensors whose values come from
 *    cancelling sums (BatchNorm weights of nearly dead channels) are not held below float
 *    rounding of the sums that produce them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <cmocka.h>

#include "nn/nn.h"
#include "nn/nn_internal.h"
#include "nn_test_util.h"
#ifdef QR_CUDA_EMULATED
#include "cuda/cuda_test_util.h"
#endif

static const char *g_state = NULL;
#ifdef QR_CUDA_EMULATED
static const char *g_device = "cuda";
#else
static const char *g_device = "cpu";
#endif
static int g_threads = 2;

/* the context on g_device; built against the CUDA emulation (test_cuda_emu_parity), "cuda" is
 * the CUDA backend's sources running on the emulated device */
static void make_context(qr_nn_context **ctx) {
#ifdef QR_CUDA_EMULATED
    if (!strcmp(g_device, "cuda")) {
        assert_int_equal(cuda_test_context(ctx), QR_OK);
        return;
    }
#endif
    qr_nn_context_options co = qr_nn_context_options_default();
    assert_int_equal(qr_nn_device_parse(g_device, &co.device), QR_OK);
    co.threads = g_threads;
    assert_int_equal(qr_nn_context_create(&co, ctx), QR_OK);
}

#define TOL_FWD 1e-4
#define TOL_GRAD 1e-3
#define TOL_PARAM 1e-5
#define TOL_STAT 1e-4

static double worst_fwd, worst_grad, worst_param, worst_stat;
static int failures;

static void check_floor(const char *what, const float *c, const float *t, int64_t n, double tol, double *worst,
                        double floor) {
    double e = tu_rel_err(c, t, n, floor > 1e-6 ? floor : 1e-6);
    if (e > *worst) *worst = e;
    if (e > tol) {
        fprintf(stderr, "FAIL %s: scale-relative error %.3g > %.1g\n", what, e, tol);
        int64_t wi = 0; double wd = 0;
        for (int64_t i = 0; i < n; i++) if (fabs((double)c[i]-t[i]) > wd) { wd = fabs((double)c[i]-t[i]); wi = i; }
        fprintf(stderr, "   worst [%lld] c %.8g torch %.8g\n", (long long)wi, c[wi], t[wi]);
        for (int64_t i = 0; i < n && i < 4; i++) fprintf(stderr, "   [%lld] c %.8g torch %.8g\n", (long long)i, c[i], t[i]);
        failures++;
    }
}

static void check(const char *what, const float *c, const float *t, int64_t n, double tol, double *worst) {
    check_floor(what, c, t, n, tol, worst, 0);
}

/* "P.k.bias" followed by a BatchNorm "P.(k+1)": returns 1 and the weight's name. */
static int gauge_bias(const qr_nn_model *m, const char *name, char *weight, size_t wl) {
    size_t L = strlen(name);
    if (L < 6 || strcmp(name + L - 5, ".bias") != 0) return 0;
    char pre[160];
    snprintf(pre, sizeof pre, "%.*s", (int)(L - 5), name);
    char *dot = strrchr(pre, '.');
    if (!dot) return 0;
    int k = atoi(dot + 1);
    char bn[200];
    snprintf(bn, sizeof bn, "%.*s.%d.running_mean", (int)(dot - pre), pre, k + 1);
    int64_t d[5];
    if (!qr_nn_model_tensor_shape(m, bn, d)) return 0;
    snprintf(weight, wl, "%s.weight", pre);
    return 1;
}

/* BN running mean right after a gauge bias: returns the bias name. */
static int after_gauge(const qr_nn_model *m, const char *name, char *bias, size_t bl) {
    size_t L = strlen(name);
    const char *suf = ".running_mean";
    if (L < 14 || strcmp(name + L - strlen(suf), suf) != 0) return 0;
    char pre[160];
    snprintf(pre, sizeof pre, "%.*s", (int)(L - strlen(suf)), name);
    char *dot = strrchr(pre, '.');
    if (!dot) return 0;
    int k = atoi(dot + 1);
    snprintf(bias, bl, "%.*s.%d.bias", (int)(dot - pre), pre, k - 1);
    char w[200];
    return gauge_bias(m, bias, w, sizeof w);
}

static void test_parity(void **state) {
    (void)state;
    qr_nn_context *ctx;
    make_context(&ctx);
    qr_nn_model *m;
    qr_status s = qr_nn_model_load(ctx, g_state, &m);
    if (s != QR_OK) fprintf(stderr, "%s\n", qr_last_error());
    assert_int_equal(s, QR_OK);
    const qr_nn_config *cfg = qr_nn_model_config(m);
    int64_t n, nr = 0, nl;
    float *patches = tu_read_f32(g_state, "parity/patches", &n, NULL, NULL);
    float *rad = tu_read_f32(g_state, "parity/radiomics", &nr, NULL, NULL);
    float *labels = tu_read_f32(g_state, "parity/labels", &nl, NULL, NULL);
    assert_non_null(labels);
    const int64_t N = nl;
    qr_nn_batch b = {N, patches, rad, NULL, NULL, NULL};
    printf("state %s: %s width %d fusion %s, image %s, batch %lld, device %s\n", g_state, qr_nn_arch_name(cfg->arch),
           cfg->width, qr_nn_fusion_name(cfg->fusion), qr_nn_image_fusion_name(cfg->image_fusion), (long long)N,
           qr_nn_context_describe(ctx));

    /* inference */
    float *logits = calloc((size_t)N, sizeof(float));
    int64_t cnt;
    float *ref = tu_read_f32(g_state, "parity/logits_eval", &cnt, NULL, NULL);
    assert_int_equal(cnt, N);
    assert_int_equal(qr_nn_model_infer(m, &b, logits), QR_OK);
    check("eval logits", logits, ref, N, TOL_FWD, &worst_fwd);
    free(ref);
    free(logits);

    /* training steps */
    char smote[32] = "released";
    tu_attr_str(g_state, "parity", "smote", smote, sizeof smote);
    qr_nn_train_options to = qr_nn_train_options_default();
    to.lr = tu_attr_num(g_state, "parity", "lr", 1e-3);
    assert_int_equal(qr_nn_smote_parse(smote, &to.smote), QR_OK);
    to.max_batch = (int)N;
    qr_nn_trainer *t;
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
    const int steps = (int)tu_attr_num(g_state, "parity", "steps", 3);
    b.labels = labels;
    float *tl = calloc((size_t)(8 * N), sizeof(float));
    for (int k = 1; k <= steps; k++) {
        char p[256];
        int64_t nw = 0, nd1 = 0, nd2 = 0;
        snprintf(p, sizeof p, "parity/step_%d/smote_weights", k);
        float *sw = tu_read_f32(g_state, p, &nw, NULL, NULL);
        snprintf(p, sizeof p, "parity/step_%d/dropout_radiomic", k);
        float *d1 = tu_read_f32(g_state, p, &nd1, NULL, NULL);
        snprintf(p, sizeof p, "parity/step_%d/dropout_classifier", k);
        float *d2 = tu_read_f32(g_state, p, &nd2, NULL, NULL);
        assert_int_equal(qr_nn_trainer_fix_draws(t, sw, nw, d1, nd1, d2, nd2), QR_OK);
        qr_nn_step_stats st;
        s = qr_nn_trainer_forward_backward(t, &b, &st, tl, 8 * N);
        if (s != QR_OK) fprintf(stderr, "%s\n", qr_last_error());
        assert_int_equal(s, QR_OK);
        snprintf(p, sizeof p, "parity/step_%d/logits", k);
        ref = tu_read_f32(g_state, p, &cnt, NULL, NULL);
        int64_t per = cfg->arch == QR_NN_ARCH_RIMNET ? 2 : 1;
        assert_int_equal(cnt, (st.n_real + st.n_synth) * per);
        snprintf(p, sizeof p, "step %d training logits", k);
        check(p, tl, ref, cnt, TOL_FWD, &worst_fwd);
        free(ref);
        snprintf(p, sizeof p, "parity/step_%d/loss", k);
        ref = tu_read_f32(g_state, p, &cnt, NULL, NULL);
        float lc = (float)st.loss;
        snprintf(p, sizeof p, "step %d loss", k);
        check(p, &lc, ref, 1, TOL_FWD, &worst_fwd);
        printf("step %d: loss c %.7f torch %.7f, %lld synthetic rows\n", k, lc, ref[0], (long long)st.n_synth);
        free(ref);
        /* gradients; G = the network's largest |gradient| in this step */
        double G = 0;
        for (int i = 0; i < qr_nn_model_tensor_count(m); i++) {
            snprintf(p, sizeof p, "parity/step_%d/grads/%s", k, qr_nn_model_tensor_name(m, i));
            if (!tu_exists(g_state, p)) continue;
            float *tg = tu_read_f32(g_state, p, &cnt, NULL, NULL);
            for (int64_t j = 0; j < cnt; j++)
                if (fabs(tg[j]) > G) G = fabs(tg[j]);
            free(tg);
        }
        for (int i = 0; i < qr_nn_model_tensor_count(m); i++) {
            const char *name = qr_nn_model_tensor_name(m, i);
            snprintf(p, sizeof p, "parity/step_%d/grads/%s", k, name);
            if (!tu_exists(g_state, p)) continue;
            float *tg = tu_read_f32(g_state, p, &cnt, NULL, NULL);
            float *cg = malloc(sizeof(float) * (size_t)cnt);
            assert_int_equal(qr_nn_trainer_get_grad(t, name, cg, cnt), QR_OK);
            snprintf(p, sizeof p, "step %d grad %s", k, name);
            char wname[200];
            double floor = 1e-2 * G;
            if (gauge_bias(m, name, wname, sizeof wname)) {
                char q[256];
                snprintf(q, sizeof q, "parity/step_%d/grads/%s", k, wname);
                int64_t nw;
                float *gw = tu_read_f32(g_state, q, &nw, NULL, NULL);
                for (int64_t j = 0; j < nw; j++)
                    if (fabs(gw[j]) > floor) floor = fabs(gw[j]);
                free(gw);
            }
            check_floor(p, cg, tg, cnt, TOL_GRAD, &worst_grad, floor);
            free(tg);
            free(cg);
        }
        assert_int_equal(qr_nn_trainer_update(t), QR_OK);
        free(sw);
        free(d1);
        free(d2);
    }
    /* parameters and running statistics after the steps */
    const double lr = to.lr, bound = 2.0 * lr * steps;
    int64_t n_sensitive = 0, n_elements = 0;
    double max_dbias[64];
    char bias_names[64][160];
    int n_bias = 0;
    for (int i = 0; i < qr_nn_model_tensor_count(m); i++) {
        const char *name = qr_nn_model_tensor_name(m, i);
        char p[256], other[200];
        int is_buf = strstr(name, "running_") || strstr(name, "num_batches");
        snprintf(p, sizeof p, "parity/%s/%s", is_buf ? "buffers_after" : "params_after", name);
        assert_true(tu_exists(g_state, p));
        float *tv = tu_read_f32(g_state, p, &cnt, NULL, NULL);
        if (cnt == 0) cnt = 1;
        float *cv = malloc(sizeof(float) * (size_t)cnt);
        assert_int_equal(qr_nn_model_get_tensor(m, 0, name, cv, cnt), QR_OK);
        /* scale floor for parameters that start at zero (biases): the distance Adam can move */
        double scale = is_buf ? 1e-6 : 10.0 * bound, worst = 0, dmax = 0;
        for (int64_t j = 0; j < cnt; j++)
            if (fabs(tv[j]) > scale) scale = fabs(tv[j]);
        if (is_buf) {
            double allow = 0;
            if (after_gauge(m, name, other, sizeof other))
                for (int q = 0; q < n_bias; q++)
                    if (!strcmp(bias_names[q], other)) allow = max_dbias[q];
            for (int64_t j = 0; j < cnt; j++) {
                double d = fabs((double)cv[j] - tv[j]);
                double e = (d > allow ? d - allow : 0) / scale;
                if (!(e <= worst)) worst = e;
            }
            if (worst > worst_stat) worst_stat = worst;
            if (worst > TOL_STAT) {
                fprintf(stderr, "FAIL after %d steps %s: scale-relative error %.3g > %.1g (allowance %.3g)\n", steps, name,
                        worst, TOL_STAT, allow);
                failures++;
            }
        } else {
            snprintf(p, sizeof p, "parity/adam_sensitive/%s", name);
            int64_t ns = 0;
            int32_t *sens = tu_read_i32(g_state, p, &ns);
            int gauge = gauge_bias(m, name, other, sizeof other);
            int64_t bad = 0;
            for (int64_t j = 0; j < cnt; j++) {
                double d = fabs((double)cv[j] - tv[j]);
                if (d > dmax) dmax = d;
                int sensitive = gauge || (sens && ns == cnt && sens[j]);
                n_sensitive += sensitive;
                n_elements++;
                if (sensitive) {
                    if (!(d <= bound)) bad++;
                } else {
                    if (!(d / scale <= worst)) worst = d / scale;
                    if (!(d <= TOL_PARAM * scale)) bad++;
                }
            }
            if (worst > worst_param) worst_param = worst;
            if (bad) {
                fprintf(stderr, "FAIL after %d steps %s: %lld elements off (worst well-conditioned %.3g > %.1g)\n", steps,
                        name, (long long)bad, worst, TOL_PARAM);
                failures++;
            }
            if (gauge && n_bias < 64) {
                snprintf(bias_names[n_bias], sizeof bias_names[0], "%s", name);
                max_dbias[n_bias++] = dmax;
            }
            free(sens);
        }
        free(tv);
        free(cv);
    }
    printf("parameters: %lld of %lld elements are Adam-sensitive (held to |diff| <= %.1g)\n", (long long)n_sensitive,
           (long long)n_elements, bound);
    printf("worst scale-relative errors: forward %.3g (tol %.0g), gradients %.3g (tol %.0g), parameters after "
           "Adam (well-conditioned elements) %.3g (tol %.0g), running statistics %.3g (tol %.0g)\n",
           worst_fwd, TOL_FWD, worst_grad, TOL_GRAD, worst_param, TOL_PARAM, worst_stat, TOL_STAT);
    assert_int_equal(failures, 0);
    free(tl);
    qr_nn_trainer_free(t);
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
    free(patches);
    free(rad);
    free(labels);
}

/* Our Adam on PyTorch's gradients (every step's stored): every parameter element to 1e-5. */
static void test_adam_on_torch_grads(void **state) {
    (void)state;
    char last[64];
    snprintf(last, sizeof last, "parity/step_%d/grads", (int)tu_attr_num(g_state, "parity", "steps", 3));
    if (!tu_exists(g_state, last)) {
        printf("state file has only step-1 gradients; Adam-alone check not applicable\n");
        return;
    }
    qr_nn_context *ctx;
    make_context(&ctx);
    qr_nn_model *m;
    assert_int_equal(qr_nn_model_load(ctx, g_state, &m), QR_OK);
    qr_nn_train_options to = qr_nn_train_options_default();
    to.lr = tu_attr_num(g_state, "parity", "lr", 1e-3);
    to.max_batch = 2;
    qr_nn_trainer *t;
    assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
    const int steps = (int)tu_attr_num(g_state, "parity", "steps", 3);
    const qr_nn_spec *s = &m->spec;
    for (int k = 1; k <= steps; k++) {
        for (int i = 0; i < s->nt; i++) {
            const qr_nn_tensor *x = &s->t[i];
            if (x->kind != QR_NN_TENSOR_PARAM) continue;
            char p[256];
            snprintf(p, sizeof p, "parity/step_%d/grads/%s", k, x->name);
            int64_t cnt;
            float *g = tu_read_f32(g_state, p, &cnt, NULL, NULL);
            assert_non_null(g);
            assert_int_equal(cnt, x->numel);
            ctx->be->weight_upload(ctx, x->layout, x->dims, t->grads + x->offset, g);
            free(g);
        }
        assert_int_equal(qr_nn_trainer_update(t), QR_OK);
    }
    double worst = 0;
    for (int i = 0; i < s->nt; i++) {
        const qr_nn_tensor *x = &s->t[i];
        if (x->kind != QR_NN_TENSOR_PARAM) continue;
        char p[256];
        snprintf(p, sizeof p, "parity/params_after/%s", x->name);
        int64_t cnt;
        float *tv = tu_read_f32(g_state, p, &cnt, NULL, NULL);
        float *cv = malloc(sizeof(float) * (size_t)cnt);
        assert_int_equal(qr_nn_model_get_tensor(m, 0, x->name, cv, cnt), QR_OK);
        double e = tu_rel_err(cv, tv, cnt, 1e-6);
        if (e > worst) worst = e;
        if (e > TOL_PARAM) fprintf(stderr, "FAIL Adam on torch gradients %s: %.3g > %.0g\n", x->name, e, TOL_PARAM);
        assert_true(e <= TOL_PARAM);
        free(tv);
        free(cv);
    }
    printf("Adam on PyTorch's gradients, %d steps: worst scale-relative parameter error %.3g (tol %.0g)\n", steps, worst,
           TOL_PARAM);
    qr_nn_trainer_free(t);
    qr_nn_model_free(m);
    qr_nn_context_free(ctx);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) g_threads = atoi(argv[++i]);
        else if (!g_state) g_state = argv[i];
        else g_device = argv[i];
    }
    if (!g_state) g_state = QSMRIM_SOURCE_DIR "/Testing/nn/data/parity_w2.h5"; /* the committed state */
    FILE *f = fopen(g_state, "rb");
    if (!f) {
        fprintf(stderr, "no state file %s (skipped)\n", g_state);
        return 77;
    }
    fclose(f);
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_parity), cmocka_unit_test(test_adam_on_torch_grads)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
