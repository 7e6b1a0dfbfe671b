/*
 * nn_spec.c - the architectures as tensor tables and layer descriptors, with the state-dict
 * names of the released QSMRim-Net code (Zhang et al. 2022) and PyTorch's default initialisations.
 *
 * QSMRim-Net (w = width, F = n_radiomic, C = in_channels), one sample:
 *   encoder.conv1          conv 7^3 /2 pad 3, C -> w            (w, C, 7, 7, 7)     Kaiming normal fan_out
 *   encoder.norm1          BN(w); ReLU; max-pool 3^3 /2 pad 1
 *   encoder.layer1..4.{0,1} BasicBlock: conv1 3^3 (stride), norm1, ReLU, conv2 3^3, norm2,
 *                          + shortcut (downsample.0 conv 1^3 (stride), downsample.1 BN) , ReLU
 *                          widths w, 2w, 4w, 8w; strides 1, 2, 2, layer4_stride
 *   global average pool -> 8w
 *   [image fusion branches: encoder on QSM only, encoder_flair.* the same on FLAIR; image
 *    feature I = [QSM 8w | FLAIR 8w] = 16w; otherwise I = 8w]
 *   encode_rad.0 Linear(F, 16w), .1 BN1d, Swish, Dropout(0.3), .4 Linear(16w, I), .5 BN1d, Swish
 *   fusion: add (I) or concat (2I)
 *   smote.fea_transform.0 Linear(fused, 8w), .1 BN1d, Swish, .3 Linear(8w, 8w), .4 BN1d, Swish
 *   classifier.0 Linear(8w, 2w), Swish, Dropout(0.5), classifier.3 Linear(2w, 1)
 * APRL-NN: encode_rad and classifier as above.
 * RimNet (w = width, 32 published), per branch b in {qsm, flair}:
 *   b.block{1,2,3}.conv{1,2}   conv 3^3 pad 1 + bias, tanh; then max-pool 2, stride s
 *   qsm.block2.conv1 takes [flair block-1 pool | qsm block-1 pool] (2w channels)
 *   b.reduce                   conv 1^3 + bias -> 1 channel (linear)
 *   fc.0..2 Linear + ReLU (256, 128, 64), fc.3 Linear(64, 2); Glorot uniform weights, zero biases
 *   (neither the paper nor its code states the activations of the reduce convolution and of the hidden FC
 *   layers: linear and ReLU are this engine's assumption; the names are this engine's own, as
 *   RimNet's code is TensorFlow)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

/* name = a + b (names are short; a truncated name would only fail to match on load) */
static void join(char *out, const char *a, const char *b) {
    int n = snprintf(out, QR_NN_NAME_MAX, "%s%s", a, b);
    if (n < 0 || n >= QR_NN_NAME_MAX) out[QR_NN_NAME_MAX - 1] = 0;
}

static int add_tensor(qr_nn_spec *s, const char *name, int ndim, const int64_t *dims, qr_nn_tensor_kind kind,
                      qr_nn_tensor_layout layout, qr_nn_init init, double a) {
    if (s->nt == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        qr_nn_tensor *t = realloc(s->t, sizeof *t * (size_t)cap);
        if (!t) {
            s->oom = 1;
            return -1;
        }
        s->t = t;
        s->cap = cap;
    }
    qr_nn_tensor *t = &s->t[s->nt];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->dims[i] = dims[i];
        t->numel *= dims[i];
    }
    t->kind = kind;
    t->layout = layout;
    t->init = init;
    t->init_a = a;
    if (kind == QR_NN_TENSOR_PARAM) {
        t->offset = s->n_params;
        s->n_params += (t->numel + 15) / 16 * 16; /* 64-byte aligned tensors */
    } else if (kind == QR_NN_TENSOR_BUFFER) {
        t->offset = s->n_buffers;
        s->n_buffers += (t->numel + 15) / 16 * 16;
    } else {
        t->offset = s->n_counts++;
    }
    return s->nt++;
}

/* A bias-free or biased cubic convolution "prefix.weight" (+ "prefix.bias"). init: kaiming
 * (fan_out, ReLU gain) for the ResNet, glorot for RimNet. */
static qr_nn_conv_layer conv_layer(qr_nn_spec *s, const char *prefix, int cin, int cout, int k, int stride, int pad,
                                   int bias, int glorot, const int in_dhw[3]) {
    qr_nn_conv_layer L;
    memset(&L, 0, sizeof L);
    char name[QR_NN_NAME_MAX];
    int64_t dims[5] = {cout, cin, k, k, k};
    double fan_in = (double)cin * k * k * k, fan_out = (double)cout * k * k * k;
    join(name, prefix, ".weight");
    if (glorot)
        L.w = add_tensor(s, name, 5, dims, QR_NN_TENSOR_PARAM, QR_NN_LAYOUT_CONV, QR_NN_INIT_UNIFORM,
                         sqrt(6.0 / (fan_in + fan_out)));
    else
        L.w = add_tensor(s, name, 5, dims, QR_NN_TENSOR_PARAM, QR_NN_LAYOUT_CONV, QR_NN_INIT_NORMAL,
                         sqrt(2.0 / fan_out));
    if (L.w >= 0) s->t[L.w].is_conv_kernel = 1;
    L.b = -1;
    if (bias) {
        join(name, prefix, ".bias");
        int64_t bd[1] = {cout};
        L.b = add_tensor(s, name, 1, bd, QR_NN_TENSOR_PARAM, QR_NN_LAYOUT_PLAIN,
                         glorot ? QR_NN_INIT_ZERO : QR_NN_INIT_UNIFORM, 1.0 / sqrt(fan_in));
    }
    L.g.cin = cin;
    L.g.cout = cout;
    L.g.k = k;
    L.g.s = stride;
    L.g.p = pad;
    L.g.id = in_dhw[0];
    L.g.ih = in_dhw[1];
    L.g.iw = in_dhw[2];
    L.g.od = qr_nn_conv_out(in_dhw[0], k, stride, pad, pad);
    L.g.oh = qr_nn_conv_out(in_dhw[1], k, stride, pad, pad);
    L.g.ow = qr_nn_conv_out(in_dhw[2], k, stride, pad, pad);
    return L;
}

static qr_nn_bn_layer bn_layer(qr_nn_spec *s, const char *prefix, int c) {
    qr_nn_bn_layer B;
    char name[QR_NN_NAME_MAX];
    int64_t d[1] = {c};
    B.c = c;
    join(name, prefix, ".weight");
    B.gamma = add_tensor(s, name, 1, d, QR_NN_TENSOR_PARAM, QR_NN_LAYOUT_PLAIN, QR_NN_INIT_ONE, 0);
    join(name, prefix, ".bias");
    B.beta = add_tensor(s, name, 1, d, QR_NN_TENSOR_PARAM, QR_NN_LAYOUT_PLAIN, QR_NN_INIT_ZERO, 0);
    join(name, prefix, ".running_mean");
    B.mean = add_tensor(s, name, 1, d, QR_NN_TENSOR_BUFFER, QR_NN_LAYOUT_PLAIN, QR_NN_INIT_ZERO, 0);
    join(name, prefix, ".running_var");
    B.var = add_tensor(s, name, 1, d, QR_NN_TENSOR_BUFFER, QR_NN_LAYOUT_PLAIN, QR_NN_INIT_ONE, 0);
    join(name, prefix, ".num_batches_tracked");
    B.count = add_tensor(s, name, 0, d, QR_NN_TENSOR_COUNT_I64, QR_NN_LAYOUT_PLAIN, QR_NN_INIT_ZERO, 0);
    B.fold = s->n_fold;
    s->n_fold += 2 * ((c + 15) / 16 * 16);
    return B;
}

/* PyTorch nn.Linear: weight and bias U(-1/sqrt(fin), 1/sqrt(fin)); glorot: Keras Dense. */
static qr_nn_linear_layer linear_layer(qr_nn_spec *s, const char *prefix, int fin, int fout, int glorot) {
    qr_nn_linear_layer L;
    char name[QR_NN_NAME_MAX];
    int64_t wd[2] = {fout, fin}, bd[1] = {fout};
    L.fin = fin;
    L.fout = fout;
    join(name, prefix, ".weight");
    L.w = add_tensor(s, name, 2, wd, QR_NN_TENSOR_PARAM, QR_NN_LAYOUT_LINEAR, QR_NN_INIT_UNIFORM,
                     glorot ? sqrt(6.0 / (fin + fout)) : 1.0 / sqrt((double)fin));
    join(name, prefix, ".bias");
    L.b = add_tensor(s, name, 1, bd, QR_NN_TENSOR_PARAM, QR_NN_LAYOUT_PLAIN,
                     glorot ? QR_NN_INIT_ZERO : QR_NN_INIT_UNIFORM, 1.0 / sqrt((double)fin));
    return L;
}

static qr_nn_mlp2 mlp2(qr_nn_spec *s, const char *prefix, int i1, int i2, int i3, int i4, int fin, int fmid,
                       int fout) {
    qr_nn_mlp2 M;
    char name[QR_NN_NAME_MAX];
    snprintf(name, sizeof name, "%s.%d", prefix, i1);
    M.l1 = linear_layer(s, name, fin, fmid, 0);
    snprintf(name, sizeof name, "%s.%d", prefix, i2);
    M.b1 = bn_layer(s, name, fmid);
    snprintf(name, sizeof name, "%s.%d", prefix, i3);
    M.l2 = linear_layer(s, name, fmid, fout, 0);
    snprintf(name, sizeof name, "%s.%d", prefix, i4);
    M.b2 = bn_layer(s, name, fout);
    return M;
}

/* One ResNet3D-18 named `name` ("encoder", "encoder_flair") on `cin` channels. */
static void build_encoder(qr_nn_spec *s, qr_nn_encoder *E, const char *name, int cin) {
    const qr_nn_config *c = &s->cfg;
    const int w = c->width;
    int dhw[3] = {c->patch[0], c->patch[1], c->patch[2]};
    char pre[QR_NN_NAME_MAX], lname[QR_NN_NAME_MAX];
    join(lname, name, ".conv1");
    E->stem = conv_layer(s, lname, cin, w, 7, 2, 3, 0, 0, dhw);
    join(lname, name, ".norm1");
    E->stem_bn = bn_layer(s, lname, w);
    qr_nn_pool *P = &E->stem_pool;
    P->c = w;
    P->id = E->stem.g.od;
    P->ih = E->stem.g.oh;
    P->iw = E->stem.g.ow;
    P->k = 3;
    P->s = 2;
    P->pad_lo = P->pad_hi = 1;
    P->od = qr_nn_conv_out(P->id, 3, 2, 1, 1);
    P->oh = qr_nn_conv_out(P->ih, 3, 2, 1, 1);
    P->ow = qr_nn_conv_out(P->iw, 3, 2, 1, 1);
    int cur[3] = {P->od, P->oh, P->ow};
    cin = w;
    const int widths[4] = {w, 2 * w, 4 * w, 8 * w}, strides[4] = {1, 2, 2, c->layer4_stride};
    for (int L = 0; L < 4; L++)
        for (int bi = 0; bi < 2; bi++) {
            qr_nn_block *B = &E->blocks[2 * L + bi];
            int stride = bi == 0 ? strides[L] : 1, cout = widths[L];
            snprintf(pre, sizeof pre, "%s.layer%d.%d", name, L + 1, bi);
            join(lname, pre, ".conv1");
            B->c1 = conv_layer(s, lname, cin, cout, 3, stride, 1, 0, 0, cur);
            join(lname, pre, ".norm1");
            B->n1 = bn_layer(s, lname, cout);
            int mid[3] = {B->c1.g.od, B->c1.g.oh, B->c1.g.ow};
            join(lname, pre, ".conv2");
            B->c2 = conv_layer(s, lname, cout, cout, 3, 1, 1, 0, 0, mid);
            join(lname, pre, ".norm2");
            B->n2 = bn_layer(s, lname, cout);
            B->has_ds = stride != 1 || cin != cout;
            if (B->has_ds) {
                join(lname, pre, ".downsample.0");
                B->ds = conv_layer(s, lname, cin, cout, 1, stride, 0, 0, 0, cur);
                join(lname, pre, ".downsample.1");
                B->nds = bn_layer(s, lname, cout);
            } else {
                B->ds.w = B->ds.b = -1;
            }
            memcpy(cur, mid, sizeof cur);
            cin = cout;
        }
    E->feat = (qr_nn_shape5){1, 8 * w, cur[0], cur[1], cur[2]};
}

static void build_qsmrimnet(qr_nn_spec *s) {
    const qr_nn_config *c = &s->cfg;
    const int w = c->width;
    if (c->image_fusion == QR_NN_IMAGE_BRANCHES) {
        s->n_enc = 2;
        build_encoder(s, &s->enc[0], "encoder", 1);
        build_encoder(s, &s->enc[1], "encoder_flair", 1);
    } else {
        s->n_enc = 1;
        build_encoder(s, &s->enc[0], "encoder", c->in_channels);
    }
    s->img = s->n_enc * 8 * w;
    s->rad = mlp2(s, "encode_rad", 0, 1, 4, 5, c->n_radiomic, 16 * w, s->img);
    s->fused = c->fusion == QR_NN_FUSION_ADD ? s->img : 2 * s->img;
    s->smote = mlp2(s, "smote.fea_transform", 0, 1, 3, 4, s->fused, 8 * w, 8 * w);
    s->cls1 = linear_layer(s, "classifier.0", 8 * w, 2 * w, 0);
    s->cls2 = linear_layer(s, "classifier.3", 2 * w, 1, 0);
}

static void build_aprl(qr_nn_spec *s) {
    const int w = s->cfg.width;
    s->rad = mlp2(s, "encode_rad", 0, 1, 4, 5, s->cfg.n_radiomic, 16 * w, 8 * w);
    s->cls1 = linear_layer(s, "classifier.0", 8 * w, 2 * w, 0);
    s->cls2 = linear_layer(s, "classifier.3", 2 * w, 1, 0);
}

static void build_rimnet(qr_nn_spec *s) {
    const qr_nn_config *c = &s->cfg;
    const int w = c->width, ps = c->rimnet_pool_stride;
    const char *names[2] = {"qsm", "flair"};
    const int widths[3] = {w, 2 * w, 4 * w};
    int final[3] = {0, 0, 0};
    for (int b = 0; b < 2; b++) {
        qr_nn_rimnet_branch *R = &s->rn[b];
        int cur[3] = {c->patch[0], c->patch[1], c->patch[2]}, cin = 1;
        for (int k = 0; k < 3; k++) {
            char name[QR_NN_NAME_MAX];
            if (b == 0 && k == 1) cin = 2 * w; /* FLAIR block-1 output | QSM block-1 output */
            snprintf(name, sizeof name, "%s.block%d.conv1", names[b], k + 1);
            R->conv[k][0] = conv_layer(s, name, cin, widths[k], 3, 1, 1, 1, 1, cur);
            snprintf(name, sizeof name, "%s.block%d.conv2", names[b], k + 1);
            R->conv[k][1] = conv_layer(s, name, widths[k], widths[k], 3, 1, 1, 1, 1, cur);
            qr_nn_pool *P = &R->pool[k];
            P->c = widths[k];
            P->id = cur[0];
            P->ih = cur[1];
            P->iw = cur[2];
            P->k = 2;
            P->s = ps;
            P->pad_lo = 0;
            P->pad_hi = ps == 1 ? 1 : 0; /* TF 'same' for stride 1, 'valid' for stride 2 */
            P->od = qr_nn_conv_out(cur[0], 2, ps, 0, P->pad_hi);
            P->oh = qr_nn_conv_out(cur[1], 2, ps, 0, P->pad_hi);
            P->ow = qr_nn_conv_out(cur[2], 2, ps, 0, P->pad_hi);
            cur[0] = P->od;
            cur[1] = P->oh;
            cur[2] = P->ow;
            cin = widths[k];
        }
        char name[QR_NN_NAME_MAX];
        snprintf(name, sizeof name, "%s.reduce", names[b]);
        R->reduce = conv_layer(s, name, 4 * w, 1, 1, 1, 0, 1, 1, cur);
        memcpy(final, cur, sizeof final);
    }
    s->rn_final = (qr_nn_shape5){1, 2, final[0], final[1], final[2]};
    const int flat = 2 * final[0] * final[1] * final[2];
    const int sizes[5] = {flat, 256, 128, 64, 2};
    for (int i = 0; i < 4; i++) {
        char name[QR_NN_NAME_MAX];
        snprintf(name, sizeof name, "fc.%d", i);
        s->fc[i] = linear_layer(s, name, sizes[i], sizes[i + 1], 1);
    }
}

qr_status qr_nn_spec_build(const qr_nn_config *cfg, qr_nn_spec *out) {
    QR_TRY(qr_nn_config_check(cfg));
    memset(out, 0, sizeof *out);
    out->cfg = *cfg;
    if (cfg->arch == QR_NN_ARCH_QSMRIMNET) build_qsmrimnet(out);
    else if (cfg->arch == QR_NN_ARCH_APRL_NN) build_aprl(out);
    else build_rimnet(out);
    if (out->oom || !out->t) {
        qr_nn_spec_free(out);
        return qr_fail(QR_ERR_NOMEM, "out of memory building the network");
    }
    return QR_OK;
}

void qr_nn_spec_free(qr_nn_spec *s) {
    if (!s) return;
    free(s->t);
    s->t = NULL;
    s->nt = s->cap = 0;
}

int qr_nn_spec_find(const qr_nn_spec *s, const char *name) {
    for (int i = 0; i < s->nt; i++)
        if (!strcmp(s->t[i].name, name)) return i;
    return -1;
}
