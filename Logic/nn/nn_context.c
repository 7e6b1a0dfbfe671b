/*
 * nn_context.c - device names, the context (backend chosen once), enum names, and the
 * architecture configuration (defaults, checks, multiply-add counts).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef QSMRIM_HAVE_OPENMP
#include <omp.h>
#endif

#include "nn_internal.h"

/* ---- device ---- */

static const char *DEVICE_NAMES[QR_NN_DEVICE_COUNT] = {"auto", "cpu", "cuda", "ref"};

const char *qr_nn_device_kind_name(qr_nn_device_kind k) {
    return k >= 0 && k < QR_NN_DEVICE_COUNT ? DEVICE_NAMES[k] : "?";
}

qr_status qr_nn_device_parse(const char *text, qr_nn_device *out) {
    if (!text || !out) return qr_fail(QR_ERR_INVALID_ARG, "no device name given");
    out->index = 0;
    if (!strcmp(text, "auto")) out->kind = QR_NN_DEVICE_AUTO;
    else if (!strcmp(text, "cpu")) out->kind = QR_NN_DEVICE_CPU;
    else if (!strcmp(text, "ref")) out->kind = QR_NN_DEVICE_REF;
    else if (!strcmp(text, "cuda")) out->kind = QR_NN_DEVICE_CUDA;
    else if (!strncmp(text, "cuda:", 5)) {
        const char *d = text + 5;
        char *end;
        errno = 0;
        long v = strtol(d, &end, 10);
        if (!*d || *end || errno || v < 0 || v > 1023 || !isdigit((unsigned char)*d))
            return qr_fail(QR_ERR_INVALID_ARG, "device '%s': expected cuda:N with N a GPU index", text);
        out->kind = QR_NN_DEVICE_CUDA;
        out->index = (int)v;
    } else
        return qr_fail(QR_ERR_INVALID_ARG, "unknown device '%s' (auto, cpu, cuda, cuda:N or ref)", text);
    return QR_OK;
}

/* ---- precision ---- */

static const char *PRECISION_NAMES[QR_NN_PRECISION_COUNT] = {"fp32", "tf32"};
static int g_precision_set = 0;
static qr_nn_precision g_precision = QR_NN_PRECISION_FP32;

const char *qr_nn_precision_name(qr_nn_precision p) {
    return p >= 0 && p < QR_NN_PRECISION_COUNT ? PRECISION_NAMES[p] : "?";
}

qr_status qr_nn_precision_parse(const char *text, qr_nn_precision *out) {
    for (int i = 0; text && i < QR_NN_PRECISION_COUNT; i++)
        if (!strcmp(text, PRECISION_NAMES[i])) {
            *out = (qr_nn_precision)i;
            return QR_OK;
        }
    return qr_fail(QR_ERR_INVALID_ARG, "unknown precision '%s' (fp32 or tf32)", text ? text : "");
}

void qr_nn_set_default_precision(qr_nn_precision p) {
    g_precision = p;
    g_precision_set = 1;
}

qr_nn_precision qr_nn_default_precision(void) {
    if (g_precision_set) return g_precision;
    const char *e = getenv("QSMRIM_PRECISION");
    if (!e || !*e) return QR_NN_PRECISION_FP32;
    qr_nn_precision p;
    return qr_nn_precision_parse(e, &p) == QR_OK ? p : QR_NN_PRECISION_INVALID;
}

/* ---- context ---- */

qr_nn_context_options qr_nn_context_options_default(void) {
    qr_nn_context_options o;
    o.device.kind = QR_NN_DEVICE_AUTO;
    o.device.index = 0;
    o.threads = 0;
    o.precision = qr_nn_default_precision();
    return o;
}

static int default_threads(void) {
#ifdef QSMRIM_HAVE_OPENMP
    int n = omp_get_max_threads();
#else
    int n = 1;
#endif
    return n > 0 ? n : 1;
}

static qr_status start(qr_nn_context *ctx, const qr_nn_backend *be, qr_nn_device dev, int threads) {
    ctx->be = be;
    ctx->device = dev;
    ctx->threads = threads;
    ctx->be_state = NULL;
    ctx->description[0] = 0;
    qr_status s = be->init(ctx);
    /* host memory backends get TF32 numerics from the emulation layer; CUDA uses tensor cores */
    if (s == QR_OK && ctx->precision == QR_NN_PRECISION_TF32 && dev.kind != QR_NN_DEVICE_CUDA)
        qr_nn_tf32_install(ctx);
    return s;
}

qr_status qr_nn_context_create(const qr_nn_context_options *opt, qr_nn_context **out) {
    qr_nn_context_options o = opt ? *opt : qr_nn_context_options_default();
    *out = NULL;
    int threads = o.threads > 0 ? o.threads : default_threads();
#ifndef QSMRIM_HAVE_OPENMP
    threads = 1;
#endif
    if (o.precision < 0 || o.precision >= QR_NN_PRECISION_COUNT) {
        const char *e = getenv("QSMRIM_PRECISION");
        if (e && *e) return qr_fail(QR_ERR_INVALID_ARG, "QSMRIM_PRECISION='%s': expected fp32 or tf32", e);
        return qr_fail(QR_ERR_INVALID_ARG, "invalid precision %d (fp32 or tf32)", (int)o.precision);
    }
    qr_nn_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return qr_fail(QR_ERR_NOMEM, "out of memory creating the compute context");
    ctx->precision = o.precision;
    qr_status s = QR_OK;
    qr_nn_device dev = o.device;
    switch (dev.kind) {
    case QR_NN_DEVICE_REF: s = start(ctx, qr_nn_backend_ref(), dev, 1); break;
    case QR_NN_DEVICE_CPU: s = start(ctx, qr_nn_backend_cpu(), dev, threads); break;
    case QR_NN_DEVICE_CUDA:
        if (!qr_nn_backend_cuda()) {
            s = qr_fail(QR_ERR_DEVICE,
                        "device cuda:%d: this build has no CUDA backend yet (CPU only); use --device cpu or auto",
                        dev.index);
            break;
        }
        s = start(ctx, qr_nn_backend_cuda(), dev, threads);
        break;
    case QR_NN_DEVICE_AUTO:
    default:
        if (qr_nn_backend_cuda()) {
            qr_nn_device g = {QR_NN_DEVICE_CUDA, dev.index};
            s = start(ctx, qr_nn_backend_cuda(), g, threads);
            if (s == QR_OK) break;
            qr_log(QR_LOG_NOTICE, QR_NN_CPU_FALLBACK_NOTICE " (%s); running on the CPU", qr_last_error());
            qr_clear_error();
        } else {
            qr_log(QR_LOG_INFO, QR_NN_CPU_FALLBACK_NOTICE " (this build has no GPU backend); running on the CPU");
        }
        s = start(ctx, qr_nn_backend_cpu(), (qr_nn_device){QR_NN_DEVICE_CPU, 0}, threads);
        break;
    }
    if (s != QR_OK) {
        free(ctx);
        return s;
    }
    *out = ctx;
    return QR_OK;
}

void qr_nn_context_free(qr_nn_context *ctx) {
    if (!ctx) return;
    if (ctx->be && ctx->be->shutdown) ctx->be->shutdown(ctx);
    free(ctx);
}

const char *qr_nn_context_describe(const qr_nn_context *ctx) { return ctx ? ctx->description : ""; }
qr_nn_device_kind qr_nn_context_device(const qr_nn_context *ctx) { return ctx->device.kind; }
int qr_nn_context_threads(const qr_nn_context *ctx) { return ctx->threads; }
qr_nn_precision qr_nn_context_precision(const qr_nn_context *ctx) { return ctx->precision; }

#ifndef QSMRIM_HAVE_CUDA
const qr_nn_backend *qr_nn_backend_cuda(void) { return NULL; }
#endif

/* ---- names ---- */

static const char *ARCH_NAMES[QR_NN_ARCH_COUNT] = {"qsmrimnet", "rimnet", "aprl-nn"};
static const char *FUSION_NAMES[QR_NN_FUSION_COUNT] = {"add", "concat"};
static const char *SMOTE_NAMES[QR_NN_SMOTE_COUNT] = {"released", "paper", "off"};
static const char *IMAGE_FUSION_NAMES[QR_NN_IMAGE_FUSION_COUNT] = {"channels", "branches"};

const char *qr_nn_arch_name(qr_nn_arch a) { return a >= 0 && a < QR_NN_ARCH_COUNT ? ARCH_NAMES[a] : "?"; }
const char *qr_nn_fusion_name(qr_nn_fusion f) { return f >= 0 && f < QR_NN_FUSION_COUNT ? FUSION_NAMES[f] : "?"; }
const char *qr_nn_smote_name(qr_nn_smote s) { return s >= 0 && s < QR_NN_SMOTE_COUNT ? SMOTE_NAMES[s] : "?"; }
const char *qr_nn_image_fusion_name(qr_nn_image_fusion f) {
    return f >= 0 && f < QR_NN_IMAGE_FUSION_COUNT ? IMAGE_FUSION_NAMES[f] : "?";
}

static int find_name(const char *const *names, int n, const char *s) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

qr_status qr_nn_arch_parse(const char *s, qr_nn_arch *out) {
    int i = find_name(ARCH_NAMES, QR_NN_ARCH_COUNT, s);
    if (i < 0) return qr_fail(QR_ERR_INVALID_ARG, "unknown architecture '%s' (qsmrimnet, rimnet or aprl-nn)", s ? s : "");
    *out = (qr_nn_arch)i;
    return QR_OK;
}
qr_status qr_nn_fusion_parse(const char *s, qr_nn_fusion *out) {
    int i = find_name(FUSION_NAMES, QR_NN_FUSION_COUNT, s);
    if (i < 0) return qr_fail(QR_ERR_INVALID_ARG, "unknown fusion '%s' (add or concat)", s ? s : "");
    *out = (qr_nn_fusion)i;
    return QR_OK;
}
qr_status qr_nn_smote_parse(const char *s, qr_nn_smote *out) {
    int i = find_name(SMOTE_NAMES, QR_NN_SMOTE_COUNT, s);
    if (i < 0) return qr_fail(QR_ERR_INVALID_ARG, "unknown DeepSMOTE variant '%s' (released, paper or off)", s ? s : "");
    *out = (qr_nn_smote)i;
    return QR_OK;
}
qr_status qr_nn_image_fusion_parse(const char *s, qr_nn_image_fusion *out) {
    int i = find_name(IMAGE_FUSION_NAMES, QR_NN_IMAGE_FUSION_COUNT, s);
    if (i < 0) return qr_fail(QR_ERR_INVALID_ARG, "unknown image fusion '%s' (channels or branches)", s ? s : "");
    *out = (qr_nn_image_fusion)i;
    return QR_OK;
}

/* ---- configuration ---- */

qr_nn_config qr_nn_config_default(qr_nn_arch arch) {
    qr_nn_config c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.fusion = QR_NN_FUSION_ADD;
    c.width = arch == QR_NN_ARCH_RIMNET ? 32 : 64;
    c.layer4_stride = 1;
    c.in_channels = arch == QR_NN_ARCH_APRL_NN ? 0 : 2;
    c.n_radiomic = arch == QR_NN_ARCH_RIMNET ? 0 : 536;
    if (arch == QR_NN_ARCH_RIMNET) c.patch[0] = c.patch[1] = c.patch[2] = 28;
    else if (arch == QR_NN_ARCH_QSMRIMNET) {
        c.patch[0] = 16;
        c.patch[1] = c.patch[2] = 32;
    }
    c.dropout_radiomic = 0.3f;
    c.dropout_classifier = 0.5f;
    c.rimnet_pool_stride = 1;
    return c;
}

qr_status qr_nn_config_check(const qr_nn_config *c) {
    if (!c) return qr_fail(QR_ERR_INVALID_ARG, "no network configuration");
    if (c->arch < 0 || c->arch >= QR_NN_ARCH_COUNT) return qr_fail(QR_ERR_INVALID_ARG, "unknown architecture %d", (int)c->arch);
    const char *a = qr_nn_arch_name(c->arch);
    if (c->width < 1 || c->width > 1024) return qr_fail(QR_ERR_INVALID_ARG, "%s: width %d out of range 1..1024", a, c->width);
    if (!(c->dropout_radiomic >= 0 && c->dropout_radiomic < 1) || !(c->dropout_classifier >= 0 && c->dropout_classifier < 1))
        return qr_fail(QR_ERR_INVALID_ARG, "%s: dropout probabilities must be in [0, 1)", a);
    if (c->arch != QR_NN_ARCH_RIMNET && (c->n_radiomic < 1 || c->n_radiomic > 100000))
        return qr_fail(QR_ERR_INVALID_ARG, "%s: radiomic input size %d out of range 1..100000", a, c->n_radiomic);
    if (c->arch == QR_NN_ARCH_APRL_NN) return QR_OK;
    for (int i = 0; i < 3; i++)
        if (c->patch[i] < 1 || c->patch[i] > 512)
            return qr_fail(QR_ERR_INVALID_ARG, "%s: patch size %dx%dx%d out of range", a, c->patch[0], c->patch[1], c->patch[2]);
    if (c->arch == QR_NN_ARCH_QSMRIMNET) {
        if (c->fusion < 0 || c->fusion >= QR_NN_FUSION_COUNT) return qr_fail(QR_ERR_INVALID_ARG, "%s: unknown fusion", a);
        if (c->image_fusion < 0 || c->image_fusion >= QR_NN_IMAGE_FUSION_COUNT)
            return qr_fail(QR_ERR_INVALID_ARG, "%s: unknown image fusion", a);
        if (c->image_fusion == QR_NN_IMAGE_BRANCHES && c->in_channels != 2)
            return qr_fail(QR_ERR_INVALID_ARG, "%s: two-branch image fusion takes 2 channels (QSM, FLAIR), got %d", a,
                           c->in_channels);
        if (c->layer4_stride != 1 && c->layer4_stride != 2)
            return qr_fail(QR_ERR_INVALID_ARG, "%s: layer4 stride must be 1 or 2, got %d", a, c->layer4_stride);
        if (c->in_channels < 1 || c->in_channels > QR_NN_MAX_CHANNELS)
            return qr_fail(QR_ERR_INVALID_ARG, "%s: %d input channels (1..%d)", a, c->in_channels, QR_NN_MAX_CHANNELS);
        if (c->width * 16 > 65536) return qr_fail(QR_ERR_INVALID_ARG, "%s: width %d too large", a, c->width);
    } else {
        if (c->in_channels != 2) return qr_fail(QR_ERR_INVALID_ARG, "rimnet takes 2 channels (QSM, FLAIR), got %d", c->in_channels);
        if (c->rimnet_pool_stride != 1 && c->rimnet_pool_stride != 2)
            return qr_fail(QR_ERR_INVALID_ARG, "rimnet: pool stride must be 1 or 2, got %d", c->rimnet_pool_stride);
        if (c->rimnet_pool_stride == 2)
            for (int i = 0; i < 3; i++)
                if (c->patch[i] < 8) return qr_fail(QR_ERR_INVALID_ARG, "rimnet: patch side %d too small for three stride-2 pools", c->patch[i]);
    }
    return QR_OK;
}

/* Multiply-adds of one convolution sample: all taps and the taps inside the input. */
static void conv_macs(const qr_nn_conv *g, double *total, double *useful) {
    double outs = (double)g->od * g->oh * g->ow, taps = 0;
    int cnt[3];
    const int in[3] = {g->id, g->ih, g->iw}, out[3] = {g->od, g->oh, g->ow};
    for (int ax = 0; ax < 3; ax++) {
        cnt[ax] = 0;
        for (int o = 0; o < out[ax]; o++)
            for (int k = 0; k < g->k; k++) {
                int i = o * g->s + k - g->p;
                cnt[ax] += i >= 0 && i < in[ax];
            }
    }
    taps = (double)cnt[0] * cnt[1] * cnt[2];
    *total += outs * g->k * g->k * g->k * g->cin * g->cout;
    *useful += taps * g->cin * g->cout;
}

void qr_nn_config_macs(const qr_nn_config *cfg, double *total, double *useful) {
    *total = *useful = 0;
    qr_nn_spec s;
    if (qr_nn_spec_build(cfg, &s) != QR_OK) return;
    if (cfg->arch == QR_NN_ARCH_QSMRIMNET) {
        for (int e = 0; e < s.n_enc; e++) {
            const qr_nn_encoder *E = &s.enc[e];
            conv_macs(&E->stem.g, total, useful);
            for (int b = 0; b < 8; b++) {
                conv_macs(&E->blocks[b].c1.g, total, useful);
                conv_macs(&E->blocks[b].c2.g, total, useful);
                if (E->blocks[b].has_ds) conv_macs(&E->blocks[b].ds.g, total, useful);
            }
        }
    } else if (cfg->arch == QR_NN_ARCH_RIMNET) {
        for (int b = 0; b < 2; b++) {
            for (int k = 0; k < 3; k++)
                for (int j = 0; j < 2; j++) conv_macs(&s.rn[b].conv[k][j].g, total, useful);
            conv_macs(&s.rn[b].reduce.g, total, useful);
        }
    }
    double lin = 0;
    for (int i = 0; i < s.nt; i++)
        if (s.t[i].layout == QR_NN_LAYOUT_LINEAR) lin += (double)s.t[i].numel;
    *total += lin;
    *useful += lin;
    qr_nn_spec_free(&s);
}
