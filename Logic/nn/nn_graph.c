/*
 * nn_graph.c - the forward and backward passes of QSMRim-Net, APRL-NN and RimNet, written as
 * calls through the context's backend table (no backend-specific code here).
 *
 * Training forward keeps what backward needs (llm.c style, one buffer per activation); the
 * backward pass walks the same layers in reverse with a few scratch gradient buffers:
 *   gA, gB  ping-pong gradients of block inputs/outputs (largest 5D activation)
 *   gC, gD  scratch inside a block (and RimNet's branch-crossing gradients)
 *   g2[]    2D gradient scratch (samples x features)
 * Inference folds every BatchNorm into its convolution's epilogue (scale, shift, residual, ReLU)
 * so a ResNet block is three convolution calls.
 *
 * ResNet BasicBlock, training:              backward (dy = gradient of the block output):
 *   c1 = conv1(x)                            X  = relu'(out) dy
 *   r1 = relu(bn1(c1))                       dx = ds ? conv_ds'(bn_ds'(X)) : X
 *   c2 = conv2(r1)                           Y  = bn2'(X);  X = conv2'(Y);  X = relu'(r1) X
 *   out = relu(bn2(c2) + (ds ? bn_ds(conv_ds(x)) : x))        Y = bn1'(X);  dx += conv1'(Y)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn_internal.h"

#define BE (ctx->be)

/* ------------------------------------------------------------------------------------------ */
/* Workspace layout                                                                           */
/* ------------------------------------------------------------------------------------------ */

typedef struct bump {
    char *base;
    size_t off;
} bump;

static void *take(bump *b, size_t bytes) {
    size_t o = (b->off + 63) & ~(size_t)63;
    b->off = o + bytes;
    return b->base ? (void *)(b->base + o) : NULL;
}
#define TAKEF(b, n) ((float *)take(b, sizeof(float) * (size_t)(n)))
#define TAKEI(b, n) ((int32_t *)take(b, sizeof(int32_t) * (size_t)(n)))

static int64_t conv_out_numel(const qr_nn_conv *g) { return (int64_t)g->cout * g->od * g->oh * g->ow; }
static int64_t conv_in_numel(const qr_nn_conv *g) { return (int64_t)g->cin * g->id * g->ih * g->iw; }
static int64_t pool_out_numel(const qr_nn_pool *p) { return (int64_t)p->c * p->od * p->oh * p->ow; }

static void mlp_layout(bump *b, qr_nn_mlp_acts *a, const qr_nn_mlp2 *m, int64_t n, int training) {
    a->l1 = TAKEF(b, n * m->l1.fout);
    a->b1 = TAKEF(b, n * m->l1.fout);
    a->s1 = TAKEF(b, n * m->l1.fout);
    a->d1 = training ? TAKEF(b, n * m->l1.fout) : NULL;
    a->l2 = TAKEF(b, n * m->l2.fout);
    a->b2 = TAKEF(b, n * m->l2.fout);
    a->s2 = TAKEF(b, n * m->l2.fout);
    a->m1 = TAKEF(b, m->l1.fout);
    a->r1 = TAKEF(b, m->l1.fout);
    a->m2 = TAKEF(b, m->l2.fout);
    a->r2 = TAKEF(b, m->l2.fout);
}

/* Assign every pointer of ws for n samples (sizes only when b->base is NULL). */
static void ws_layout(const qr_nn_spec *s, qr_nn_ws *ws, bump *b, int64_t n, int training) {
    const qr_nn_config *c = &s->cfg;
    const int64_t ntot = training ? 4 * n : n; /* DeepSMOTE adds at most 3 rows per sample */
    int64_t max5 = 0, max2 = 0;
    ws->loss = TAKEF(b, 2);
    ws->fold = TAKEF(b, s->n_fold > 0 ? s->n_fold : 1);
    ws->lbl = TAKEF(b, ntot);
    if (c->arch == QR_NN_ARCH_QSMRIMNET) {
        for (int e = 0; e < s->n_enc; e++) {
            const qr_nn_encoder *E = &s->enc[e];
            qr_nn_encoder_acts *A = &ws->enc[e];
            A->x = TAKEF(b, n * conv_in_numel(&E->stem.g));
            int64_t so = n * conv_out_numel(&E->stem.g);
            A->c0 = training ? TAKEF(b, so) : NULL;
            A->r0 = TAKEF(b, so);
            A->p0 = TAKEF(b, n * pool_out_numel(&E->stem_pool));
            A->arg0 = TAKEI(b, n * pool_out_numel(&E->stem_pool));
            A->m0 = TAKEF(b, E->stem.g.cout);
            A->s0 = TAKEF(b, E->stem.g.cout);
            if (so > max5) max5 = so;
            for (int i = 0; i < 8; i++) {
                const qr_nn_block *B = &E->blocks[i];
                qr_nn_block_acts *a = &A->b[i];
                int64_t mid = n * conv_out_numel(&B->c1.g), out = n * conv_out_numel(&B->c2.g);
                a->c1 = training ? TAKEF(b, mid) : NULL;
                a->r1 = TAKEF(b, mid);
                a->c2 = training ? TAKEF(b, out) : NULL;
                a->out = TAKEF(b, out);
                a->dsc = training && B->has_ds ? TAKEF(b, out) : NULL;
                a->dsn = B->has_ds ? TAKEF(b, out) : NULL;
                int co = B->c1.g.cout;
                a->m1 = TAKEF(b, co);
                a->s1 = TAKEF(b, co);
                a->m2 = TAKEF(b, co);
                a->s2 = TAKEF(b, co);
                a->mds = TAKEF(b, co);
                a->sds = TAKEF(b, co);
                if (mid > max5) max5 = mid;
                if (out > max5) max5 = out;
                int64_t in = n * conv_in_numel(&B->c1.g);
                if (in > max5) max5 = in;
            }
            A->g = TAKEF(b, n * E->feat.c);
        }
        ws->gimg = s->n_enc == 1 ? ws->enc[0].g : TAKEF(b, n * s->img);
        ws->z = TAKEF(b, n * s->fused);
        mlp_layout(b, &ws->sa, &s->smote, n, training);
        max2 = n * s->fused;
    }
    if (c->arch == QR_NN_ARCH_QSMRIMNET || c->arch == QR_NN_ARCH_APRL_NN) {
        ws->rad = TAKEF(b, n * c->n_radiomic);
        mlp_layout(b, &ws->ra, &s->rad, n, training);
        ws->mask_rad = training ? TAKEF(b, n * s->rad.l1.fout) : NULL;
        ws->e = TAKEF(b, ntot * s->cls1.fin);
        ws->pairs = TAKEI(b, 2 * ntot);
        ws->pw = TAKEF(b, ntot);
        ws->h1 = TAKEF(b, ntot * s->cls1.fout);
        ws->hs = TAKEF(b, ntot * s->cls1.fout);
        ws->hd = training ? TAKEF(b, ntot * s->cls1.fout) : NULL;
        ws->mask_cls = training ? TAKEF(b, ntot * s->cls1.fout) : NULL;
        ws->o = TAKEF(b, ntot);
        int64_t m2 = ntot * s->cls1.fin;
        if (m2 > max2) max2 = m2;
        if (n * s->rad.l1.fout > max2) max2 = n * s->rad.l1.fout;
    }
    if (c->arch == QR_NN_ARCH_RIMNET) {
        for (int br = 0; br < 2; br++) {
            const qr_nn_rimnet_branch *R = &s->rn[br];
            ws->rx[br] = TAKEF(b, n * conv_in_numel(&R->conv[0][0].g) / R->conv[0][0].g.cin);
            for (int k = 0; k < 3; k++) {
                for (int j = 0; j < 2; j++) {
                    int64_t o = n * conv_out_numel(&R->conv[k][j].g);
                    ws->rc[br][k][j] = TAKEF(b, o);
                    if (o > max5) max5 = o;
                }
                int64_t po = n * pool_out_numel(&R->pool[k]);
                ws->rp[br][k] = TAKEF(b, po);
                ws->rarg[br][k] = TAKEI(b, po);
                if (po > max5) max5 = po;
            }
            ws->rr[br] = TAKEF(b, n * conv_out_numel(&R->reduce.g));
        }
        int64_t cat = n * conv_in_numel(&s->rn[0].conv[1][0].g);
        ws->rcat = TAKEF(b, cat);
        if (cat > max5) max5 = cat;
        int64_t fl = n * s->fc[0].fin;
        ws->rflat_in = TAKEF(b, fl);
        ws->rflat = TAKEF(b, fl);
        for (int i = 0; i < 4; i++) {
            ws->fc[i] = TAKEF(b, n * s->fc[i].fout);
            if (n * s->fc[i].fout > max2) max2 = n * s->fc[i].fout;
        }
        ws->o = ws->fc[3];
        if (fl > max2) max2 = fl;
    }
    if (training) {
        if (max5 > 0) {
            ws->gA = TAKEF(b, max5);
            ws->gB = TAKEF(b, max5);
            ws->gC = TAKEF(b, max5);
            ws->gD = TAKEF(b, max5);
        }
        for (int i = 0; i < 6; i++) ws->g2[i] = TAKEF(b, max2 > 0 ? max2 : 1);
    }
}

qr_status qr_nn_ws_reserve(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_ws *ws, int64_t n, int training) {
    if (ws->mem && ws->n_cap >= n && ws->training == training) return QR_OK;
    qr_nn_ws_free(ctx, ws);
    bump b = {NULL, 0};
    ws_layout(s, ws, &b, n, training);
    void *mem = BE->alloc(ctx, b.off + 64);
    if (!mem) { /* a device failure already pending is the cause, not the memory */
        const qr_status st = qr_nn_backend_check(ctx);
        return st != QR_OK ? st
                           : qr_fail(QR_ERR_NOMEM, "out of memory: %.1f MB of activations for a batch of %lld",
                                     (double)b.off / 1048576.0, (long long)n);
    }
    memset(ws, 0, sizeof *ws);
    b.base = mem;
    b.off = 0;
    ws_layout(s, ws, &b, n, training);
    ws->mem = mem;
    ws->n_cap = n;
    ws->training = training;
    return QR_OK;
}

void qr_nn_ws_free(qr_nn_context *ctx, qr_nn_ws *ws) {
    if (ws->mem) BE->free(ctx, ws->mem);
    memset(ws, 0, sizeof *ws);
}

/* ------------------------------------------------------------------------------------------ */
/* Inputs                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* A batch of 256 QSMRim-Net patches is 8.4 M values: a branch per value (isfinite with an early
 * exit) took 20-40 ms here, more than a GPU needs for the whole batch. So first a branch-free scan
 * (a float is NaN or Inf exactly when its exponent bits are all ones; it vectorises and runs on
 * the OpenMP threads), and only when it finds one the exact search that names the sample. */
static qr_status check_finite(const float *v, int64_t n, int64_t per_sample, const char *what, int threads) {
    unsigned bad = 0;
    (void)threads;
#ifdef QSMRIM_HAVE_OPENMP
#pragma omp parallel for num_threads(threads) reduction(| : bad) schedule(static) if (n > 65536)
#endif
    for (int64_t i = 0; i < n; i++) {
        uint32_t w;
        memcpy(&w, &v[i], sizeof w);
        bad |= (w & 0x7f800000u) == 0x7f800000u;
    }
    if (!bad) return QR_OK;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return qr_fail(QR_ERR_NONFINITE, "%s of sample %lld hold a non-finite value (%s)", what,
                           (long long)(i / per_sample), isnan(v[i]) ? "NaN" : "Inf");
    return QR_OK;
}

qr_status qr_nn_check_batch(const qr_nn_context *ctx, const qr_nn_spec *s, const qr_nn_batch *b) {
    const int threads = qr_nn_context_threads(ctx);
    const qr_nn_config *c = &s->cfg;
    const int64_t n = b->n;
    const int64_t P = (int64_t)c->patch[0] * c->patch[1] * c->patch[2];
    if (c->arch != QR_NN_ARCH_APRL_NN && b->bank) {
        /* sampled on the device from crops checked when the bank was made */
        if (!b->samples) return qr_fail(QR_ERR_INVALID_ARG, "a batch with a patch bank needs its samples");
        if (qr_nn_patch_bank_channels(b->bank) != c->in_channels)
            return qr_fail(QR_ERR_INVALID_ARG, "the patch bank has %d channels; the %s model takes %d",
                           qr_nn_patch_bank_channels(b->bank), qr_nn_arch_name(c->arch), c->in_channels);
    } else if (c->arch != QR_NN_ARCH_APRL_NN) {
        if (!b->patches) return qr_fail(QR_ERR_INVALID_ARG, "%s needs image patches; none given", qr_nn_arch_name(c->arch));
        QR_TRY(check_finite(b->patches, n * c->in_channels * P, c->in_channels * P, "patches", threads));
    }
    if (c->arch != QR_NN_ARCH_RIMNET) {
        if (!b->radiomics)
            return qr_fail(QR_ERR_INVALID_ARG, "%s needs radiomic vectors; none given", qr_nn_arch_name(c->arch));
        QR_TRY(check_finite(b->radiomics, n * c->n_radiomic, c->n_radiomic, "radiomic features", threads));
    }
    return QR_OK;
}

qr_status qr_nn_upload_batch(qr_nn_context *ctx, const qr_nn_spec *s, const qr_nn_member *mb, qr_nn_ws *ws,
                             const qr_nn_batch *b) {
    const qr_nn_config *c = &s->cfg;
    const int64_t n = b->n;
    const int64_t P = (int64_t)c->patch[0] * c->patch[1] * c->patch[2];
    if (c->arch != QR_NN_ARCH_APRL_NN) {
        /* The image inputs: one of all channels (QSMRim-Net), or one single-channel input per
         * branch (RimNet; QSMRim-Net with two-branch image fusion). Each is sampled from the
         * patch bank on the device, or uploaded from the host patches. */
        const int whole = c->arch == QR_NN_ARCH_QSMRIMNET && s->n_enc == 1, nin = whole ? 1 : 2;
        qr_nn_patch_stage ps;
        float *tmp = NULL;
        if (b->bank) {
            if (qr_nn_patch_bank_context(b->bank) != ctx)
                return qr_fail(QR_ERR_INVALID_ARG, "the patch bank belongs to another compute context");
            QR_TRY(qr_nn_patch_bank_stage(b->bank, b->samples, n, c->patch, &ps));
        } else if (!whole) {
            tmp = malloc(sizeof(float) * (size_t)(n * P));
            if (!tmp) return qr_fail(QR_ERR_NOMEM, "out of memory staging a batch");
        }
        for (int k = 0; k < nin; k++) {
            qr_nn_shape5 sh = {(int)n, whole ? c->in_channels : 1, c->patch[0], c->patch[1], c->patch[2]};
            float *dst = whole ? ws->enc[0].x : c->arch == QR_NN_ARCH_RIMNET ? ws->rx[k] : ws->enc[k].x;
            if (b->bank) {
                qr_nn_patch_stage_run(ctx, &ps, &sh, k, dst);
            } else if (whole) {
                BE->upload5(ctx, &sh, dst, b->patches);
            } else {
                for (int64_t i = 0; i < n; i++)
                    memcpy(tmp + i * P, b->patches + (i * c->in_channels + k) * P, sizeof(float) * (size_t)P);
                BE->upload5(ctx, &sh, dst, tmp);
            }
            BE->channel_affine5(ctx, &sh, dst, &mb->shift[k], &mb->scale[k]);
        }
        free(tmp);
    }
    if (c->arch != QR_NN_ARCH_RIMNET) {
        const int F = c->n_radiomic;
        float *tmp = malloc(sizeof(float) * (size_t)(n * F));
        if (!tmp) return qr_fail(QR_ERR_NOMEM, "out of memory staging a batch");
        for (int64_t i = 0; i < n; i++)
            for (int f = 0; f < F; f++) {
                float sd = mb->rsd[f] > 0 ? mb->rsd[f] : 1.0f;
                tmp[i * F + f] = (b->radiomics[i * F + f] - mb->rmean[f]) / sd;
            }
        BE->upload(ctx, ws->rad, tmp, sizeof(float) * (size_t)(n * F));
        free(tmp);
    }
    return QR_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Shared pieces                                                                              */
/* ------------------------------------------------------------------------------------------ */

static float *P_(const qr_nn_spec *s, const qr_nn_member *mb, int ti) { return qr_nn_member_tensor_ptr(s, mb, ti); }
#define PT(ti) P_(s, mb, (ti))
#define GT(ti) (grads + s->t[(ti)].offset)

static qr_nn_bn bn_desc(int64_t n, int c, int64_t spatial, int is5d) {
    qr_nn_bn g = {n, c, spatial, is5d, 1e-5f, 0.1f};
    return g;
}

static void bn_fwd(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, const qr_nn_bn_layer *L, qr_nn_bn g,
                   float *out, float *sm, float *sr, const float *in, int training) {
    BE->batchnorm_forward(ctx, &g, out, sm, sr, in, PT(L->gamma), PT(L->beta), PT(L->mean), PT(L->var), training);
    if (training) mb->counts[s->t[L->count].offset]++;
}

static void bn_bwd(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, float *grads, const qr_nn_bn_layer *L,
                   qr_nn_bn g, float *din, int acc, const float *dout, const float *in, const float *sm,
                   const float *sr) {
    BE->batchnorm_backward(ctx, &g, din, acc, GT(L->gamma), GT(L->beta), dout, in, sm, sr, PT(L->gamma));
}

/* fold a BN into (scale, shift) in ws->fold for the inference epilogue */
static qr_nn_epilogue fold(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws,
                           const qr_nn_bn_layer *L, const float *residual, int relu) {
    qr_nn_bn g = bn_desc(1, L->c, 1, 0);
    float *scale = ws->fold + L->fold, *shift = scale + (L->c + 15) / 16 * 16;
    BE->batchnorm_fold(ctx, &g, scale, shift, PT(L->gamma), PT(L->beta), PT(L->mean), PT(L->var));
    qr_nn_epilogue e = {scale, shift, residual, relu};
    return e;
}

static qr_nn_conv conv_at(const qr_nn_conv_layer *L, int64_t n) {
    qr_nn_conv g = L->g;
    g.n = (int)n;
    return g;
}

static void conv_fwd(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, const qr_nn_conv_layer *L, int64_t n,
                     float *out, const float *in, const qr_nn_epilogue *epi) {
    qr_nn_conv g = conv_at(L, n);
    qr_nn_epilogue bias = {NULL, L->b >= 0 ? PT(L->b) : NULL, NULL, 0};
    BE->conv3d_forward(ctx, &g, out, in, PT(L->w), epi ? epi : (L->b >= 0 ? &bias : NULL));
}

static void conv_bwd(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, float *grads,
                     const qr_nn_conv_layer *L, int64_t n, float *din, int acc, const float *dout, const float *in) {
    qr_nn_conv g = conv_at(L, n);
    BE->conv3d_backward(ctx, &g, din, acc, GT(L->w), L->b >= 0 ? GT(L->b) : NULL, dout, in, PT(L->w));
}

static void lin_fwd(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, const qr_nn_linear_layer *L, int64_t n,
                    float *out, const float *in) {
    BE->linear_forward(ctx, n, L->fin, L->fout, out, in, PT(L->w), L->b >= 0 ? PT(L->b) : NULL);
}

static void lin_bwd(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, float *grads,
                    const qr_nn_linear_layer *L, int64_t n, float *din, int acc, const float *dout, const float *in) {
    BE->linear_backward(ctx, n, L->fin, L->fout, din, acc, GT(L->w), L->b >= 0 ? GT(L->b) : NULL, dout, in, PT(L->w));
}

/* Linear BN Swish [Dropout] Linear BN Swish; returns the output (a->s2). mask NULL: no dropout. */
static const float *mlp_fwd(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, const qr_nn_mlp2 *M,
                            qr_nn_mlp_acts *a, int64_t n, const float *in, const float *mask, int training) {
    const int f1 = M->l1.fout, f2 = M->l2.fout;
    lin_fwd(ctx, s, mb, &M->l1, n, a->l1, in);
    bn_fwd(ctx, s, mb, &M->b1, bn_desc(n, f1, 1, 0), a->b1, a->m1, a->r1, a->l1, training);
    BE->swish_forward(ctx, n * f1, a->s1, a->b1);
    const float *h = a->s1;
    if (mask) {
        BE->mul_forward(ctx, n * f1, a->d1, a->s1, mask);
        h = a->d1;
    }
    lin_fwd(ctx, s, mb, &M->l2, n, a->l2, h);
    bn_fwd(ctx, s, mb, &M->b2, bn_desc(n, f2, 1, 0), a->b2, a->m2, a->r2, a->l2, training);
    BE->swish_forward(ctx, n * f2, a->s2, a->b2);
    return a->s2;
}

/* Backward of mlp_fwd: dout (n, f2) -> din (n, fin) (din NULL: no input gradient). Uses the
 * scratch t1, t2 (n x max(f1, f2)); dout is not modified. */
static void mlp_bwd(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, float *grads, const qr_nn_mlp2 *M,
                    qr_nn_mlp_acts *a, int64_t n, const float *in, const float *mask, const float *dout, float *din,
                    int acc, float *t1, float *t2) {
    const int f1 = M->l1.fout, f2 = M->l2.fout;
    BE->swish_backward(ctx, n * f2, t1, 0, dout, a->b2);
    bn_bwd(ctx, s, mb, grads, &M->b2, bn_desc(n, f2, 1, 0), t2, 0, t1, a->l2, a->m2, a->r2);
    lin_bwd(ctx, s, mb, grads, &M->l2, n, t1, 0, t2, mask ? a->d1 : a->s1);
    if (mask) BE->mul_backward(ctx, n * f1, t1, 0, t1, mask);
    BE->swish_backward(ctx, n * f1, t1, 0, t1, a->b1);
    bn_bwd(ctx, s, mb, grads, &M->b1, bn_desc(n, f1, 1, 0), t2, 0, t1, a->l1, a->m1, a->r1);
    lin_bwd(ctx, s, mb, grads, &M->l1, n, din, acc, t2, in);
}

/* ------------------------------------------------------------------------------------------ */
/* QSMRim-Net image branch                                                                    */
/* ------------------------------------------------------------------------------------------ */

static int64_t shape_spatial(const qr_nn_conv *g) { return (int64_t)g->od * g->oh * g->ow; }

/* One encoder: its input A->x -> pooled features A->g (n, 8w). */
static void resnet_forward(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws,
                           const qr_nn_encoder *E, qr_nn_encoder_acts *A, int64_t n, int training) {
    qr_nn_pool pool = E->stem_pool;
    pool.n = (int)n;
    if (training) {
        conv_fwd(ctx, s, mb, &E->stem, n, A->c0, A->x, NULL);
        bn_fwd(ctx, s, mb, &E->stem_bn, bn_desc(n, E->stem.g.cout, shape_spatial(&E->stem.g), 1), A->r0, A->m0,
               A->s0, A->c0, 1);
        BE->relu_forward(ctx, n * conv_out_numel(&E->stem.g), A->r0, A->r0);
    } else {
        qr_nn_epilogue e = fold(ctx, s, mb, ws, &E->stem_bn, NULL, 1);
        conv_fwd(ctx, s, mb, &E->stem, n, A->r0, A->x, &e);
    }
    BE->maxpool3d_forward(ctx, &pool, A->p0, A->arg0, A->r0);
    const float *x = A->p0;
    for (int i = 0; i < 8; i++) {
        const qr_nn_block *B = &E->blocks[i];
        qr_nn_block_acts *a = &A->b[i];
        const int64_t sp = shape_spatial(&B->c1.g), cnt = n * conv_out_numel(&B->c2.g);
        const int co = B->c1.g.cout;
        if (training) {
            conv_fwd(ctx, s, mb, &B->c1, n, a->c1, x, NULL);
            bn_fwd(ctx, s, mb, &B->n1, bn_desc(n, co, sp, 1), a->r1, a->m1, a->s1, a->c1, 1);
            BE->relu_forward(ctx, cnt, a->r1, a->r1);
            conv_fwd(ctx, s, mb, &B->c2, n, a->c2, a->r1, NULL);
            bn_fwd(ctx, s, mb, &B->n2, bn_desc(n, co, sp, 1), a->out, a->m2, a->s2, a->c2, 1);
            const float *shortcut = x;
            if (B->has_ds) {
                conv_fwd(ctx, s, mb, &B->ds, n, a->dsc, x, NULL);
                bn_fwd(ctx, s, mb, &B->nds, bn_desc(n, co, sp, 1), a->dsn, a->mds, a->sds, a->dsc, 1);
                shortcut = a->dsn;
            }
            BE->add_forward(ctx, cnt, a->out, a->out, shortcut);
            BE->relu_forward(ctx, cnt, a->out, a->out);
        } else {
            qr_nn_epilogue e1 = fold(ctx, s, mb, ws, &B->n1, NULL, 1);
            conv_fwd(ctx, s, mb, &B->c1, n, a->r1, x, &e1);
            const float *shortcut = x;
            if (B->has_ds) {
                qr_nn_epilogue ed = fold(ctx, s, mb, ws, &B->nds, NULL, 0);
                conv_fwd(ctx, s, mb, &B->ds, n, a->dsn, x, &ed);
                shortcut = a->dsn;
            }
            qr_nn_epilogue e2 = fold(ctx, s, mb, ws, &B->n2, shortcut, 1);
            conv_fwd(ctx, s, mb, &B->c2, n, a->out, a->r1, &e2);
        }
        x = a->out;
    }
    qr_nn_shape5 fs = E->feat;
    fs.n = (int)n;
    BE->avgpool_forward(ctx, &fs, A->g, x);
}

/* dg (n, 8w): gradient of an encoder's pooled features -> parameter gradients of that ResNet. */
static void resnet_backward(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws,
                            const qr_nn_encoder *E, qr_nn_encoder_acts *A, int64_t n, float *grads, const float *dg) {
    qr_nn_shape5 fs = E->feat;
    fs.n = (int)n;
    float *dy = ws->gA, *dx = ws->gB, *X = ws->gC, *Y = ws->gD;
    BE->avgpool_backward(ctx, &fs, dy, 0, dg);
    for (int i = 7; i >= 0; i--) {
        const qr_nn_block *B = &E->blocks[i];
        qr_nn_block_acts *a = &A->b[i];
        const float *x = i > 0 ? A->b[i - 1].out : A->p0;
        const int64_t sp = shape_spatial(&B->c1.g), cnt = n * conv_out_numel(&B->c2.g);
        const int co = B->c1.g.cout;
        BE->relu_backward(ctx, cnt, X, 0, dy, a->out);
        if (B->has_ds) {
            bn_bwd(ctx, s, mb, grads, &B->nds, bn_desc(n, co, sp, 1), Y, 0, X, a->dsc, a->mds, a->sds);
            conv_bwd(ctx, s, mb, grads, &B->ds, n, dx, 0, Y, x);
        } else {
            BE->grad_pass(ctx, cnt, dx, 0, X);
        }
        bn_bwd(ctx, s, mb, grads, &B->n2, bn_desc(n, co, sp, 1), Y, 0, X, a->c2, a->m2, a->s2);
        conv_bwd(ctx, s, mb, grads, &B->c2, n, X, 0, Y, a->r1);
        BE->relu_backward(ctx, cnt, X, 0, X, a->r1);
        bn_bwd(ctx, s, mb, grads, &B->n1, bn_desc(n, co, sp, 1), Y, 0, X, a->c1, a->m1, a->s1);
        conv_bwd(ctx, s, mb, grads, &B->c1, n, dx, 1, Y, x);
        float *t = dy;
        dy = dx;
        dx = t;
    }
    qr_nn_pool pool = E->stem_pool;
    pool.n = (int)n;
    const int64_t cnt = n * conv_out_numel(&E->stem.g);
    BE->maxpool3d_backward(ctx, &pool, X, 0, dy, A->arg0);
    BE->relu_backward(ctx, cnt, X, 0, X, A->r0);
    bn_bwd(ctx, s, mb, grads, &E->stem_bn, bn_desc(n, E->stem.g.cout, shape_spatial(&E->stem.g), 1), Y, 0, X, A->c0,
           A->m0, A->s0);
    conv_bwd(ctx, s, mb, grads, &E->stem, n, NULL, 0, Y, A->x);
}

/* ------------------------------------------------------------------------------------------ */
/* RimNet                                                                                     */
/* ------------------------------------------------------------------------------------------ */

static void rim_conv_tanh(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, const qr_nn_conv_layer *L,
                          int64_t n, float *out, const float *in) {
    conv_fwd(ctx, s, mb, L, n, out, in, NULL);
    BE->tanh_forward(ctx, n * conv_out_numel(&L->g), out, out);
}

static void rimnet_forward(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws, int64_t n) {
    /* FLAIR branch first: its block-1 output feeds the QSM branch */
    for (int br = 1; br >= 0; br--) {
        const qr_nn_rimnet_branch *R = &s->rn[br];
        const float *x = ws->rx[br];
        for (int k = 0; k < 3; k++) {
            if (br == 0 && k == 1) {
                qr_nn_shape5 sh = {(int)n, 0, R->pool[0].od, R->pool[0].oh, R->pool[0].ow};
                BE->concat5_forward(ctx, &sh, s->rn[1].pool[0].c, R->pool[0].c, ws->rcat, ws->rp[1][0], ws->rp[0][0]);
                x = ws->rcat;
            }
            rim_conv_tanh(ctx, s, mb, &R->conv[k][0], n, ws->rc[br][k][0], x);
            rim_conv_tanh(ctx, s, mb, &R->conv[k][1], n, ws->rc[br][k][1], ws->rc[br][k][0]);
            qr_nn_pool p = R->pool[k];
            p.n = (int)n;
            BE->maxpool3d_forward(ctx, &p, ws->rp[br][k], ws->rarg[br][k], ws->rc[br][k][1]);
            x = ws->rp[br][k];
        }
        conv_fwd(ctx, s, mb, &R->reduce, n, ws->rr[br], x, NULL);
    }
    qr_nn_shape5 fs = s->rn_final;
    fs.n = (int)n;
    BE->concat5_forward(ctx, &fs, 1, 1, ws->rflat_in, ws->rr[0], ws->rr[1]);
    BE->flatten5_forward(ctx, &fs, ws->rflat, ws->rflat_in);
    const float *h = ws->rflat;
    for (int i = 0; i < 4; i++) {
        lin_fwd(ctx, s, mb, &s->fc[i], n, ws->fc[i], h);
        if (i < 3) BE->relu_forward(ctx, n * s->fc[i].fout, ws->fc[i], ws->fc[i]);
        h = ws->fc[i];
    }
}

/* Backward of one RimNet branch from the gradient of its reduce output (dstart). Working
 * buffers gA, gB; gD carries the FLAIR block-1 pool gradient from the QSM branch (which is
 * processed first) to the FLAIR branch. */
static void rimnet_branch_backward(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws, int64_t n,
                                   float *grads, int br, const float *dstart) {
    const qr_nn_rimnet_branch *R = &s->rn[br];
    float *w0 = ws->gA, *w1 = ws->gB;
    conv_bwd(ctx, s, mb, grads, &R->reduce, n, w0, 0, dstart, ws->rp[br][2]);
    const float *cur = w0;
    for (int k = 2; k >= 0; k--) {
        qr_nn_pool p = R->pool[k];
        p.n = (int)n;
        BE->maxpool3d_backward(ctx, &p, w1, 0, cur, ws->rarg[br][k]);
        BE->tanh_backward(ctx, n * conv_out_numel(&R->conv[k][1].g), w1, 0, w1, ws->rc[br][k][1]);
        conv_bwd(ctx, s, mb, grads, &R->conv[k][1], n, w0, 0, w1, ws->rc[br][k][0]);
        BE->tanh_backward(ctx, n * conv_out_numel(&R->conv[k][0].g), w0, 0, w0, ws->rc[br][k][0]);
        if (k == 0) {
            conv_bwd(ctx, s, mb, grads, &R->conv[0][0], n, NULL, 0, w0, ws->rx[br]);
            break;
        }
        if (br == 0 && k == 1) {
            /* d(rcat) -> d(FLAIR pool1) kept in gD, d(QSM pool1) */
            conv_bwd(ctx, s, mb, grads, &R->conv[1][0], n, w1, 0, w0, ws->rcat);
            qr_nn_shape5 sh = {(int)n, 0, R->pool[0].od, R->pool[0].oh, R->pool[0].ow};
            BE->concat5_backward(ctx, &sh, s->rn[1].pool[0].c, R->pool[0].c, ws->gD, 0, w0, 0, w1);
            cur = w0;
        } else if (br == 1 && k == 1) {
            conv_bwd(ctx, s, mb, grads, &R->conv[1][0], n, ws->gD, 1, w0, ws->rp[1][0]);
            cur = ws->gD;
        } else {
            conv_bwd(ctx, s, mb, grads, &R->conv[k][0], n, w1, 0, w0, ws->rp[br][k - 1]);
            float *t = w0;
            w0 = w1;
            w1 = t;
            cur = w0;
        }
    }
}

static void rimnet_backward(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws, int64_t n,
                            float *grads, const float *dlogits) {
    float *t[2] = {ws->g2[0], ws->g2[1]};
    const float *d = dlogits;
    for (int i = 3; i >= 0; i--) {
        const float *in = i > 0 ? ws->fc[i - 1] : ws->rflat;
        float *din = t[i % 2];
        lin_bwd(ctx, s, mb, grads, &s->fc[i], n, din, 0, d, in);
        if (i > 0) BE->relu_backward(ctx, n * s->fc[i - 1].fout, din, 0, din, ws->fc[i - 1]);
        d = din;
    }
    qr_nn_shape5 fs = s->rn_final;
    fs.n = (int)n;
    float *dflat = t[1]; /* d is t[0] */
    BE->flatten5_backward(ctx, &fs, dflat, 0, d);
    BE->concat5_backward(ctx, &fs, 1, 1, ws->g2[2], 0, ws->g2[3], 0, dflat);
    rimnet_branch_backward(ctx, s, mb, ws, n, grads, 0, ws->g2[2]);
    rimnet_branch_backward(ctx, s, mb, ws, n, grads, 1, ws->g2[3]);
}

/* ------------------------------------------------------------------------------------------ */
/* Passes                                                                                     */
/* ------------------------------------------------------------------------------------------ */

const float *qr_nn_latent(const qr_nn_spec *s, const qr_nn_ws *ws) {
    return s->cfg.arch == QR_NN_ARCH_QSMRIMNET ? ws->sa.s2 : ws->ra.s2;
}

/* image + radiomic features up to the classifier input (n x 8w) */
static const float *features_forward(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws,
                                     int64_t n, const float *mask_rad, int training) {
    const float *r = mlp_fwd(ctx, s, mb, &s->rad, &ws->ra, n, ws->rad, mask_rad, training);
    if (s->cfg.arch == QR_NN_ARCH_APRL_NN) return r;
    for (int e = 0; e < s->n_enc; e++) resnet_forward(ctx, s, mb, ws, &s->enc[e], &ws->enc[e], n, training);
    if (s->n_enc == 2) BE->concat2_forward(ctx, n, s->enc[0].feat.c, s->enc[1].feat.c, ws->gimg, ws->enc[0].g, ws->enc[1].g);
    const float *g = ws->gimg;
    const int f = s->img;
    if (s->cfg.fusion == QR_NN_FUSION_ADD) BE->add_forward(ctx, n * f, ws->z, g, r);
    else BE->concat2_forward(ctx, n, f, s->rad.l2.fout, ws->z, g, r);
    return mlp_fwd(ctx, s, mb, &s->smote, &ws->sa, n, ws->z, NULL, training);
}

qr_status qr_nn_forward_infer(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws, int64_t n,
                              float *logits) {
    if (s->cfg.arch == QR_NN_ARCH_RIMNET) {
        rimnet_forward(ctx, s, mb, ws, n);
        float *z = malloc(sizeof(float) * (size_t)(2 * n));
        if (!z) return qr_fail(QR_ERR_NOMEM, "out of memory");
        BE->download(ctx, z, ws->fc[3], sizeof(float) * (size_t)(2 * n));
        for (int64_t i = 0; i < n; i++) logits[i] = z[2 * i + 1] - z[2 * i];
        free(z);
        return QR_OK;
    }
    const float *e = features_forward(ctx, s, mb, ws, n, NULL, 0);
    lin_fwd(ctx, s, mb, &s->cls1, n, ws->h1, e);
    BE->swish_forward(ctx, n * s->cls1.fout, ws->hs, ws->h1);
    lin_fwd(ctx, s, mb, &s->cls2, n, ws->o, ws->hs);
    BE->download(ctx, logits, ws->o, sizeof(float) * (size_t)n);
    return QR_OK;
}

void qr_nn_forward_train_features(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws, int64_t n,
                                  const float *mask_rad) {
    if (s->cfg.arch == QR_NN_ARCH_RIMNET) {
        rimnet_forward(ctx, s, mb, ws, n);
        return;
    }
    if (mask_rad) BE->upload(ctx, ws->mask_rad, mask_rad, sizeof(float) * (size_t)(n * s->rad.l1.fout));
    features_forward(ctx, s, mb, ws, n, mask_rad ? ws->mask_rad : NULL, 1);
}

qr_status qr_nn_forward_backward_rest(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws,
                                      int64_t n, const qr_nn_draws *d, const float *labels_host,
                                      const qr_nn_train_options *opt, float *grads, double *loss) {
    float loss_host[2] = {0, 0};
    if (s->cfg.arch == QR_NN_ARCH_RIMNET) {
        BE->upload(ctx, ws->lbl, labels_host, sizeof(float) * (size_t)n);
        BE->softmax_ce_forward(ctx, n, ws->loss, ws->fc[3], ws->lbl, opt->class_weight[0], opt->class_weight[1]);
        float *dlog = ws->g2[5];
        BE->softmax_ce_backward(ctx, n, dlog, ws->fc[3], ws->lbl, opt->class_weight[0], opt->class_weight[1]);
        rimnet_backward(ctx, s, mb, ws, n, grads, dlog);
    } else {
        const int64_t m = d->m, ntot = n + m;
        const int k = s->cls1.fin, h = s->cls1.fout;
        const float *lat = qr_nn_latent(s, ws);
        const float *e = lat;
        if (m > 0) {
            BE->upload(ctx, ws->pairs, d->pairs, sizeof(int32_t) * (size_t)(2 * m));
            BE->upload(ctx, ws->pw, d->weights, sizeof(float) * (size_t)m);
            BE->smote_forward(ctx, n, m, k, ws->e, lat, ws->pairs, ws->pw);
            e = ws->e;
        }
        /* labels: the batch's, then 1 for every synthetic row */
        float *lab = malloc(sizeof(float) * (size_t)ntot);
        if (!lab) return qr_fail(QR_ERR_NOMEM, "out of memory");
        memcpy(lab, labels_host, sizeof(float) * (size_t)n);
        for (int64_t i = n; i < ntot; i++) lab[i] = 1.0f;
        BE->upload(ctx, ws->lbl, lab, sizeof(float) * (size_t)ntot);
        free(lab);
        lin_fwd(ctx, s, mb, &s->cls1, ntot, ws->h1, e);
        BE->swish_forward(ctx, ntot * h, ws->hs, ws->h1);
        const float *hh = ws->hs;
        if (d->mask_cls) {
            BE->upload(ctx, ws->mask_cls, d->mask_cls, sizeof(float) * (size_t)(ntot * h));
            BE->mul_forward(ctx, ntot * h, ws->hd, ws->hs, ws->mask_cls);
            hh = ws->hd;
        }
        lin_fwd(ctx, s, mb, &s->cls2, ntot, ws->o, hh);
        BE->bce_forward(ctx, ntot, ws->loss, ws->o, ws->lbl);
        /* backward */
        float *t0 = ws->g2[0], *t1 = ws->g2[1], *t2 = ws->g2[2], *t3 = ws->g2[3], *t4 = ws->g2[4];
        BE->bce_backward(ctx, ntot, t4, ws->o, ws->lbl);
        lin_bwd(ctx, s, mb, grads, &s->cls2, ntot, t0, 0, t4, hh);
        if (d->mask_cls) BE->mul_backward(ctx, ntot * h, t0, 0, t0, ws->mask_cls);
        BE->swish_backward(ctx, ntot * h, t0, 0, t0, ws->h1);
        lin_bwd(ctx, s, mb, grads, &s->cls1, ntot, t1, 0, t0, e);
        float *dlat = t1;
        if (m > 0) {
            BE->smote_backward(ctx, n, m, k, t0, 0, t1, ws->pairs, ws->pw);
            dlat = t0;
        }
        const float *mask_rad = d->mask_rad ? ws->mask_rad : NULL;
        if (s->cfg.arch == QR_NN_ARCH_APRL_NN) {
            mlp_bwd(ctx, s, mb, grads, &s->rad, &ws->ra, n, ws->rad, mask_rad, dlat, NULL, 0, t2, t3);
        } else {
            /* DeepSMOTE MLP -> dz in t2 */
            float *dz = dlat == t0 ? t1 : t0;
            mlp_bwd(ctx, s, mb, grads, &s->smote, &ws->sa, n, ws->z, NULL, dlat, dz, 0, t2, t3);
            const int f = s->img, fr = s->rad.l2.fout;
            const float *dg = dz, *dr = dz;
            if (s->cfg.fusion == QR_NN_FUSION_CONCAT) {
                BE->concat2_backward(ctx, n, f, fr, t2, 0, t3, 0, dz);
                dg = t2;
                dr = t3;
            }
            if (s->n_enc == 1) {
                resnet_backward(ctx, s, mb, ws, &s->enc[0], &ws->enc[0], n, grads, dg);
            } else {
                /* split the image gradient (dg is t2 or dz; dz is t0 or t1; t4 and g2[5] are free) */
                float *dq = t4, *dfl = ws->g2[5];
                BE->concat2_backward(ctx, n, s->enc[0].feat.c, s->enc[1].feat.c, dq, 0, dfl, 0, dg);
                resnet_backward(ctx, s, mb, ws, &s->enc[0], &ws->enc[0], n, grads, dq);
                resnet_backward(ctx, s, mb, ws, &s->enc[1], &ws->enc[1], n, grads, dfl);
            }
            float *u1 = t4, *u2 = ws->g2[5];
            mlp_bwd(ctx, s, mb, grads, &s->rad, &ws->ra, n, ws->rad, mask_rad, dr, NULL, 0, u1, u2);
        }
    }
    double l2 = 0;
    if (opt->conv_l2 > 0) {
        for (int i = 0; i < s->nt; i++) {
            if (!s->t[i].is_conv_kernel) continue;
            BE->sumsq(ctx, s->t[i].numel, PT(i), ws->loss + 1);
            float q;
            BE->download(ctx, &q, ws->loss + 1, sizeof q);
            l2 += q;
            BE->axpy(ctx, s->t[i].numel, (float)(2.0 * opt->conv_l2), PT(i), GT(i));
        }
    }
    BE->download(ctx, loss_host, ws->loss, sizeof(float));
    *loss = (double)loss_host[0] + opt->conv_l2 * l2;
    return QR_OK;
}
