/*
 * test_cuda_patches.c - training patches sampled on the GPU (patch banks, nn.h; kernels in
 * Logic/nn/cuda/patch.cu) against the host sampler they replace (Logic/data/patch.c,
 * Logic/data/lesion_inputs.c), draw for draw (Logic/train/lesion_draw.h):
 *   sampler   masked lesion crops (one voxel, at the patch border, larger than the patch,
 *             anisotropic voxels) under plain reads, the test-time flips, drawn augmentations and
 *             every augmentation at once; RimNet context windows (shifts, flips, quarter turns,
 *             a flat channel). Integer reads and the min-max rescaling must agree to 1e-6; the
 *             trilinear interpolation and the blur (float on the GPU, double on the host) to
 *             1e-5 of the patch's largest value + 1e-5 |host|.
 *   batches   a model's inference logits and a training step's loss from bank samples against
 *             the same model fed the host's patches (QSMRim-Net with channel and two-branch
 *             image fusion, RimNet); a repeated sampling is bit-identical.
 *   errors    no bank on a CPU backend, non-finite crops, bad samples, a bank of the wrong
 *             channel count or of another context: clear errors.
 *
 * Exit 77 (skipped) when no CUDA context can be created. Built a second time against the CPU
 * emulation of CUDA (test_cuda_emu_patches, see cuda_test_util.h), it runs everywhere.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/rng.h"
#include "data/lesion_inputs.h"
#include "data/patch.h"
#include "nn/nn.h"
#include "train/lesion_draw.h"
#include "cuda_test_util.h"

static qr_nn_context *G;
static const int PATCH[3] = {QR_PATCH_D, QR_PATCH_H, QR_PATCH_W};

/* ---- synthetic crops ---- */

/* A masked lesion: an ellipsoid blob of radii r (voxels) in a crop of `size`, QSM-like values in
 * channel 0 (a brighter shell: a rim), FLAIR-ratio-like values in channel 1; 0 outside. */
static qr_lesion_crop lesion_crop(qr_rng *g, const int64_t size[3], const double spacing[3], const int64_t shift[3]) {
    qr_lesion_crop c;
    memset(&c, 0, sizeof c);
    static const int S[3] = {QR_PATCH_W, QR_PATCH_H, QR_PATCH_D};
    for (int a = 0; a < 3; a++) {
        c.origin[a] = 40 + 3 * a;
        c.size[a] = size[a];
        c.spacing[a] = spacing[a];
        double centre = (double)c.origin[a] + (double)(size[a] - 1) / 2.0 + 0.3 * (a - 1);
        c.patch_origin[a] = (int64_t)floor(centre - (S[a] - 1) / 2.0 + 0.5) + shift[a];
    }
    int64_t nv = size[0] * size[1] * size[2];
    c.data = calloc((size_t)(2 * nv), sizeof *c.data);
    assert_non_null(c.data);
    for (int64_t k = 0; k < size[2]; k++)
        for (int64_t j = 0; j < size[1]; j++)
            for (int64_t i = 0; i < size[0]; i++) {
                double q = 0;
                const int64_t ijk[3] = {i, j, k};
                for (int a = 0; a < 3; a++) {
                    double r = size[a] > 1 ? (size[a] - 1) / 2.0 : 0.5, u = ((double)ijk[a] - (size[a] - 1) / 2.0) / r;
                    q += u * u;
                }
                if (q > 1.0 && nv > 1) continue;
                int64_t v = i + size[0] * (j + size[1] * k);
                c.data[v] = (float)(20.0 * (q > 0.5 ? 2.0 : 0.3) + 5.0 * qr_rng_normal(g));
                c.data[nv + v] = (float)(1.6 + 0.2 * qr_rng_normal(g));
                c.voxels++;
            }
    return c;
}

/* A RimNet context window: unmasked noise of the patch size plus the margins (flat when asked). */
static qr_lesion_crop context_crop(qr_rng *g, int flat) {
    qr_lesion_crop c;
    memset(&c, 0, sizeof c);
    const int64_t size[3] = {QR_PATCH_W + 2 * QR_CONTEXT_MARGIN, QR_PATCH_H + 2 * QR_CONTEXT_MARGIN,
                             QR_PATCH_D + 2 * QR_CONTEXT_MARGIN_K};
    for (int a = 0; a < 3; a++) {
        c.size[a] = size[a];
        c.spacing[a] = 1;
    }
    int64_t nv = size[0] * size[1] * size[2];
    c.data = malloc(sizeof(float) * (size_t)(2 * nv));
    assert_non_null(c.data);
    for (int64_t v = 0; v < 2 * nv; v++) c.data[v] = flat && v < nv ? 3.25f : (float)(30.0 * qr_rng_normal(g));
    c.voxels = nv;
    return c;
}

static qr_nn_patch_bank *bank_of(const qr_lesion_crop *c, int64_t n) {
    qr_nn_patch_bank *b = NULL;
    qr_status st = qr_crops_patch_bank(G, c, n, &b);
    if (st != QR_OK) fprintf(stderr, "bank: %s\n", qr_last_error());
    assert_int_equal(st, QR_OK);
    return b;
}

/* |gpu - host| <= tol * scale + eps |host| with scale = the host patch's largest |value|. */
static double compare_patch(const char *what, const float *host, const float *gpu, int64_t n, double tol, double eps) {
    double scale = 0, worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(host[i]) > scale) scale = fabs(host[i]);
    if (scale == 0) scale = 1;
    for (int64_t i = 0; i < n; i++) {
        double q = fabs((double)gpu[i] - host[i]) / (tol * scale + eps * fabs(host[i]));
        if (!(q <= worst)) {
            worst = q;
            wi = i;
        }
    }
    if (worst > 1.0 || getenv("QR_TEST_VERBOSE"))
        printf("  %-52s worst %.3g of tolerance (gpu %.9g host %.9g at %lld)\n", what, worst, gpu[wi], host[wi],
               (long long)wi);
    return worst;
}

/* Sample every draw both ways and compare; returns the worst ratio. */
static double check_draws(const char *what, const qr_lesion_crop *crops, qr_nn_patch_bank *bank, const int64_t *which,
                          const qr_lesion_draw *dr, int64_t n, double tol, double eps) {
    float *host = malloc(sizeof(float) * QR_PATCH_SIZE * (size_t)n), *gpu = malloc(sizeof(float) * QR_PATCH_SIZE * (size_t)n);
    qr_nn_patch_sample *s = malloc(sizeof(*s) * (size_t)n);
    assert_true(host && gpu && s);
    for (int64_t i = 0; i < n; i++) {
        qr_lesion_draw_sample(&crops[which[i]], &dr[i], host + i * QR_PATCH_SIZE);
        qr_lesion_draw_job(&crops[which[i]], which[i], &dr[i], &s[i]);
    }
    qr_status st = qr_nn_patch_bank_sample(bank, s, n, PATCH, gpu);
    if (st != QR_OK) fprintf(stderr, "%s: %s\n", what, qr_last_error());
    assert_int_equal(st, QR_OK);
    double worst = 0;
    int64_t nonzero = 0;
    for (int64_t i = 0; i < n; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s, draw %lld", what, (long long)i);
        double w = compare_patch(name, host + i * QR_PATCH_SIZE, gpu + i * QR_PATCH_SIZE, QR_PATCH_SIZE, tol, eps);
        if (w > worst) worst = w;
    }
    for (int64_t v = 0; v < QR_PATCH_SIZE * n; v++) nonzero += host[v] != 0;
    printf("  %-44s %3lld patches, %8lld non-zero values, worst %.3g of tolerance\n", what, (long long)n,
           (long long)nonzero, worst);
    assert_true(nonzero > 0);
    /* sampling again gives the same bits */
    float *again = malloc(sizeof(float) * QR_PATCH_SIZE * (size_t)n);
    assert_int_equal(qr_nn_patch_bank_sample(bank, s, n, PATCH, again), QR_OK);
    assert_memory_equal(gpu, again, sizeof(float) * QR_PATCH_SIZE * (size_t)n);
    free(again);
    free(host);
    free(gpu);
    free(s);
    return worst;
}

#define NCROPS 7
static void make_lesion_crops(qr_lesion_crop *c, qr_rng *g) {
    const double iso[3] = {1, 1, 1}, aniso[3] = {0.6, 0.6, 2.0};
    const int64_t zero[3] = {0, 0, 0};
    const int64_t sizes[NCROPS][3] = {{9, 11, 5}, {1, 1, 1}, {40, 38, 20}, {14, 6, 9}, {3, 4, 2}, {25, 25, 12}, {7, 7, 7}};
    for (int i = 0; i < NCROPS; i++) {
        const int64_t edge[3] = {13, -14, 6}; /* the lesion at the patch border (partly outside) */
        c[i] = lesion_crop(g, sizes[i], i % 2 ? aniso : iso, i == 4 ? edge : zero);
    }
}

static void test_sampler(void **state) {
    (void)state;
    qr_rng g;
    qr_rng_seed(&g, 2026, 11);
    qr_lesion_crop crops[NCROPS];
    make_lesion_crops(crops, &g);
    qr_nn_patch_bank *bank = bank_of(crops, NCROPS);
    printf("masked lesion crops (%d crops, %.2f MiB on the device)\n", NCROPS, qr_nn_patch_bank_bytes(bank) / 1048576.0);
    enum { PER = 6 };
    int64_t which[NCROPS * PER];
    qr_lesion_draw dr[NCROPS * PER];
    qr_augment_config ac = qr_augment_config_default(), all = ac;
    all.p_flip = all.p_affine = all.p_blur = 1.0;
    /* plain reads and the test-time flips: exact */
    int64_t k = 0;
    for (int i = 0; i < NCROPS; i++)
        for (int f = -1; f < 3; f++) {
            which[k] = i;
            qr_lesion_draw_make(0, 0, 0, &ac, QR_TURNS_POSITIVES, f, &g, &dr[k++]);
        }
    assert_true(check_draws("plain reads and flips", crops, bank, which, dr, k, 1e-7, 1e-7) <= 1.0);
    /* drawn augmentations (each part with probability 0.5) and everything at once */
    k = 0;
    for (int i = 0; i < NCROPS; i++)
        for (int r = 0; r < PER; r++) {
            which[k] = i;
            qr_lesion_draw_make(0, 0, 1, r < 3 ? &ac : &all, QR_TURNS_POSITIVES, -1, &g, &dr[k++]);
        }
    assert_true(check_draws("augmented (flip, affine, blur)", crops, bank, which, dr, k, 1e-5, 1e-5) <= 1.0);
    /* blur alone on exact reads, a wide kernel (radius capped at the patch) included */
    k = 0;
    for (int i = 0; i < NCROPS; i++) {
        which[k] = i;
        qr_lesion_draw_make(0, 0, 0, &ac, QR_TURNS_POSITIVES, i % 3 - 1, &g, &dr[k]);
        dr[k].has_aug = 1;
        dr[k].aug.sigma[0] = 0.4 + 0.1 * i;
        dr[k].aug.sigma[1] = i == 2 ? 9.0 : 0.95;
        dr[k].aug.sigma[2] = i == 3 ? 0.1 : 0.3; /* 0.1: a one-tap kernel along D (no blur) */
        k++;
    }
    assert_true(check_draws("blur on exact reads", crops, bank, which, dr, k, 1e-5, 1e-5) <= 1.0);
    qr_nn_patch_bank_free(bank);
    for (int i = 0; i < NCROPS; i++) qr_lesion_crop_free(&crops[i]);

    /* RimNet context windows */
    qr_lesion_crop ctx[3] = {context_crop(&g, 0), context_crop(&g, 0), context_crop(&g, 1)};
    bank = bank_of(ctx, 3);
    k = 0;
    for (int i = 0; i < 3; i++)
        for (int r = 0; r < 10; r++) {
            which[k] = i;
            qr_lesion_draw_make(1, r % 2, r > 0, &ac, r % 3 ? QR_TURNS_POSITIVES : QR_TURNS_ALL, -1, &g, &dr[k++]);
        }
    int turned = 0;
    for (int64_t i = 0; i < k; i++) turned += dr[i].turns > 0;
    assert_true(turned > 0);
    assert_true(check_draws("context windows (shift, flip, turns)", ctx, bank, which, dr, k, 1e-6, 1e-6) <= 1.0);
    qr_nn_patch_bank_free(bank);
    for (int i = 0; i < 3; i++) qr_lesion_crop_free(&ctx[i]);
}

/* ---- a model fed from the bank against the same model fed host patches ---- */

static void batch_case(const char *name, qr_nn_arch arch, qr_nn_image_fusion image_fusion) {
    qr_rng g;
    qr_rng_seed(&g, 5, (uint64_t)arch * 10 + (uint64_t)image_fusion);
    const int rimnet = arch == QR_NN_ARCH_RIMNET;
    enum { N = 6, F = 5 };
    qr_lesion_crop crops[NCROPS];
    if (rimnet)
        for (int i = 0; i < NCROPS; i++) crops[i] = context_crop(&g, 0);
    else make_lesion_crops(crops, &g);
    qr_nn_patch_bank *bank = bank_of(crops, NCROPS);
    qr_nn_config cfg = qr_nn_config_default(arch);
    cfg.width = 2;
    cfg.in_channels = 2;
    cfg.n_radiomic = rimnet ? 0 : F;
    cfg.image_fusion = image_fusion;
    if (rimnet) cfg.rimnet_pool_stride = 2;
    cfg.patch[0] = QR_PATCH_D, cfg.patch[1] = QR_PATCH_H, cfg.patch[2] = QR_PATCH_W;
    assert_int_equal(qr_nn_config_check(&cfg), QR_OK);
    qr_augment_config ac = qr_augment_config_default();
    qr_lesion_draw dr[N];
    qr_nn_patch_sample s[N];
    float *x = malloc(sizeof(float) * QR_PATCH_SIZE * N), rad[N * F], y[N];
    for (int i = 0; i < N; i++) {
        qr_lesion_draw_make(rimnet, i % 2, 1, &ac, QR_TURNS_POSITIVES, -1, &g, &dr[i]);
        qr_lesion_draw_sample(&crops[i], &dr[i], x + i * QR_PATCH_SIZE);
        qr_lesion_draw_job(&crops[i], i, &dr[i], &s[i]);
        y[i] = (float)(i % 2);
    }
    for (int i = 0; i < N * F; i++) rad[i] = (float)qr_rng_normal(&g);
    const float shift[2] = {0, 0}, scale[2] = {0.05f, 0.7f}, rmean[F] = {0}, rsd[F] = {1, 1, 1, 1, 1};
    float logits[2][N];
    double loss[2];
    for (int way = 0; way < 2; way++) {
        qr_nn_model *m;
        assert_int_equal(qr_nn_model_create(G, &cfg, 31, &m), QR_OK);
        assert_int_equal(qr_nn_model_set_preprocess(m, 0, shift, rimnet ? NULL : scale, rimnet ? NULL : rmean,
                                                    rimnet ? NULL : rsd),
                         QR_OK);
        qr_nn_batch b = {N, way ? NULL : x, rimnet ? NULL : rad, y, way ? bank : NULL, way ? s : NULL};
        qr_status st = qr_nn_model_infer(m, &b, logits[way]);
        if (st != QR_OK) fprintf(stderr, "%s: %s\n", name, qr_last_error());
        assert_int_equal(st, QR_OK);
        qr_nn_train_options to = qr_nn_train_options_default();
        to.seed = 3;
        to.max_batch = N;
        qr_nn_trainer *t;
        assert_int_equal(qr_nn_trainer_create(m, 0, &to, &t), QR_OK);
        qr_nn_step_stats ss;
        assert_int_equal(qr_nn_trainer_step(t, &b, &ss), QR_OK);
        loss[way] = ss.loss;
        qr_nn_trainer_free(t);
        qr_nn_model_free(m);
    }
    double worst = 0, scale_l = 0;
    for (int i = 0; i < N; i++) scale_l = fmax(scale_l, fabs(logits[0][i]));
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(logits[1][i] - logits[0][i]) / (1e-4 * scale_l + 1e-6));
    double dl = fabs(loss[1] - loss[0]) / (1e-5 + 1e-4 * fabs(loss[0]));
    printf("  %-30s logits worst %.3g of 1e-4 (scale %.3g); step loss %.7f vs %.7f (%.3g of tolerance)\n", name, worst,
           scale_l, loss[1], loss[0], dl);
    assert_true(worst <= 1.0);
    assert_true(dl <= 1.0);
    free(x);
    qr_nn_patch_bank_free(bank);
    for (int i = 0; i < NCROPS; i++) qr_lesion_crop_free(&crops[i]);
}

static void test_batches(void **state) {
    (void)state;
    printf("models fed from the bank vs host patches (width 2)\n");
    batch_case("qsmrimnet, channel fusion", QR_NN_ARCH_QSMRIMNET, QR_NN_IMAGE_CHANNELS);
    batch_case("qsmrimnet, two branches", QR_NN_ARCH_QSMRIMNET, QR_NN_IMAGE_BRANCHES);
    batch_case("rimnet", QR_NN_ARCH_RIMNET, QR_NN_IMAGE_CHANNELS);
}

/* ---- errors ---- */

static void test_errors(void **state) {
    (void)state;
    float good[8] = {1, 2, 3, 4, 5, 6, 7, 8}, bad[8] = {1, 2, 3, NAN, 5, 6, 7, 8};
    qr_nn_crop_ref ref = {good, {2, 2, 1}};
    qr_nn_patch_bank *b = NULL;

    qr_nn_context_options o = qr_nn_context_options_default();
    o.device.kind = QR_NN_DEVICE_CPU;
    qr_nn_context *cpu;
    assert_int_equal(qr_nn_context_create(&o, &cpu), QR_OK);
    assert_int_equal(qr_nn_context_samples_patches(cpu), 0);
    assert_int_equal(qr_nn_context_samples_patches(G), 1);
    assert_int_equal(qr_nn_patch_bank_create(cpu, &ref, 1, 2, &b), QR_ERR_UNSUPPORTED);
    printf("  CPU context: %s\n", qr_last_error());

    qr_nn_crop_ref nan_ref = {bad, {2, 2, 1}};
    qr_nn_crop_ref two[2] = {ref, nan_ref};
    assert_int_equal(qr_nn_patch_bank_create(G, two, 2, 2, &b), QR_ERR_NONFINITE);
    assert_non_null(strstr(qr_last_error(), "crop 1"));
    printf("  NaN crop: %s\n", qr_last_error());
    qr_nn_crop_ref empty = {good, {2, 0, 1}};
    assert_int_equal(qr_nn_patch_bank_create(G, &empty, 1, 2, &b), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_nn_patch_bank_create(G, &ref, 0, 2, &b), QR_ERR_EMPTY);
    assert_null(b);

    assert_int_equal(qr_nn_patch_bank_create(G, &ref, 1, 2, &b), QR_OK);
    float out[2 * QR_PATCH_VOXELS];
    qr_nn_patch_sample s;
    memset(&s, 0, sizeof s);
    s.flip = -1;
    s.crop = 1;
    assert_int_equal(qr_nn_patch_bank_sample(b, &s, 1, PATCH, out), QR_ERR_INVALID_ARG);
    printf("  bad crop index: %s\n", qr_last_error());
    s.crop = 0;
    s.flip = 3;
    assert_int_equal(qr_nn_patch_bank_sample(b, &s, 1, PATCH, out), QR_ERR_INVALID_ARG);
    s.flip = -1;
    s.mode = QR_NN_SAMPLE_CONTEXT;
    s.turns = 1;
    const int oblong[3] = {16, 32, 24};
    assert_int_equal(qr_nn_patch_bank_sample(b, &s, 1, oblong, out), QR_ERR_INVALID_ARG);
    printf("  turns of an oblong patch: %s\n", qr_last_error());
    s.mode = QR_NN_SAMPLE_GRID;
    s.turns = 0;
    s.sigma[1] = NAN;
    assert_int_equal(qr_nn_patch_bank_sample(b, &s, 1, PATCH, out), QR_ERR_NONFINITE);
    s.sigma[1] = 0;
    /* a one-voxel read: the value lands where the base puts it, everything else is 0 */
    s.base[0] = -5, s.base[1] = -7, s.base[2] = -3;
    assert_int_equal(qr_nn_patch_bank_sample(b, &s, 1, PATCH, out), QR_OK);
    int64_t at = 5 + QR_PATCH_W * (7 + QR_PATCH_H * 3);
    assert_float_equal(out[at], 1.0f, 0);
    assert_float_equal(out[at + 1], 2.0f, 0);
    assert_float_equal(out[QR_PATCH_VOXELS + at], 5.0f, 0);
    double sum = 0;
    for (int v = 0; v < 2 * QR_PATCH_VOXELS; v++) sum += out[v];
    assert_float_equal(sum, 36.0, 0);

    /* a model whose input does not fit the bank, and a bank of another context */
    qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_RIMNET);
    cfg.width = 2;
    cfg.in_channels = 2;
    cfg.n_radiomic = 0;
    cfg.rimnet_pool_stride = 2;
    qr_nn_model *m;
    assert_int_equal(qr_nn_model_create(cpu, &cfg, 1, &m), QR_OK);
    float logit[1];
    qr_nn_batch batch = {1, NULL, NULL, NULL, b, &s};
    assert_int_equal(qr_nn_model_infer(m, &batch, logit), QR_ERR_INVALID_ARG);
    printf("  bank of another context: %s\n", qr_last_error());
    qr_nn_model_free(m);
    qr_nn_patch_bank *b1 = NULL;
    assert_int_equal(qr_nn_patch_bank_create(G, &ref, 1, 1, &b1), QR_OK);
    assert_int_equal(qr_nn_model_create(G, &cfg, 1, &m), QR_OK);
    batch.bank = b1;
    assert_int_equal(qr_nn_model_infer(m, &batch, logit), QR_ERR_INVALID_ARG);
    printf("  one-channel bank, two-channel model: %s\n", qr_last_error());
    batch.bank = b;
    batch.samples = NULL;
    assert_int_equal(qr_nn_model_infer(m, &batch, logit), QR_ERR_INVALID_ARG);
    qr_nn_model_free(m);
    qr_nn_patch_bank_free(b1);
    qr_nn_patch_bank_free(b);
    qr_nn_context_free(cpu);
}

int main(void) {
    if (cuda_test_context(&G) != QR_OK) {
        printf("no usable GPU: %s (skipped)\n", qr_last_error());
        return 77;
    }
    printf("GPU: %s\n", qr_nn_context_describe(G));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampler),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    qr_nn_context_free(G);
    return rc;
}
