/*
 * nn_internal.h - what the engine's own files share: the tensor table of an architecture, the
 * layer descriptors of the three networks, members, workspaces, and the model/trainer structs.
 * Not a public header (callers use nn.h).
 *
 * One allocation per role (llm.c): each member keeps its trainable parameters in one backend
 * block (params) and its BatchNorm running statistics in another (buffers); a trainer keeps
 * gradients and Adam's two moments in blocks of the same layout, so the optimiser is one flat
 * loop. The tensor table maps state-dict names to (block, offset, shape).
 */
#ifndef QR_NN_INTERNAL_H
#define QR_NN_INTERNAL_H

#include <stdint.h>

#include "core/rng.h"
#include "nn.h"
#include "nn_backend.h"

#define QR_NN_NAME_MAX 96

typedef enum qr_nn_init {
    QR_NN_INIT_ZERO = 0,
    QR_NN_INIT_ONE,
    QR_NN_INIT_NORMAL,  /* N(0, a^2) (Kaiming normal: a = sqrt(2 / fan_out)) */
    QR_NN_INIT_UNIFORM  /* U(-a, a) (PyTorch Linear: a = 1/sqrt(fan_in); Glorot: sqrt(6/(in+out))) */
} qr_nn_init;

typedef enum qr_nn_tensor_kind {
    QR_NN_TENSOR_PARAM = 0, /* trainable, in the params block */
    QR_NN_TENSOR_BUFFER,    /* BatchNorm running mean/var, in the buffers block */
    QR_NN_TENSOR_COUNT_I64  /* num_batches_tracked: a host int64 counter */
} qr_nn_tensor_kind;

typedef struct qr_nn_tensor {
    char name[QR_NN_NAME_MAX]; /* state-dict key */
    int ndim;
    int64_t dims[5];
    int64_t numel;
    qr_nn_tensor_kind kind;
    qr_nn_tensor_layout layout;
    int64_t offset; /* element offset in its block (index for counters) */
    qr_nn_init init;
    double init_a;
    int is_conv_kernel; /* for conv_l2 */
} qr_nn_tensor;

/* Layer descriptors (indices into the tensor table; -1 = absent). */
typedef struct qr_nn_conv_layer {
    qr_nn_conv g; /* per-sample shape (g.n set at run time) */
    int w, b;
} qr_nn_conv_layer;

typedef struct qr_nn_bn_layer {
    int c;
    int gamma, beta, mean, var, count;
    int fold; /* offset of this layer's folded scale/shift in the fold vector (inference) */
} qr_nn_bn_layer;

typedef struct qr_nn_linear_layer {
    int fin, fout;
    int w, b;
} qr_nn_linear_layer;

typedef struct qr_nn_block {
    qr_nn_conv_layer c1, c2, ds;
    qr_nn_bn_layer n1, n2, nds;
    int has_ds;
} qr_nn_block;

/* The radiomic MLP, the DeepSMOTE MLP and the classifier (QSMRim-Net and APRL). */
typedef struct qr_nn_mlp2 {
    qr_nn_linear_layer l1, l2;
    qr_nn_bn_layer b1, b2;
} qr_nn_mlp2;

/* A 3D ResNet-18 image encoder (QSMRim-Net has one, or two with two-branch image fusion). */
typedef struct qr_nn_encoder {
    qr_nn_conv_layer stem;
    qr_nn_bn_layer stem_bn;
    qr_nn_pool stem_pool;
    qr_nn_block blocks[8];
    qr_nn_shape5 feat; /* per-sample shape of the ResNet output */
} qr_nn_encoder;

typedef struct qr_nn_rimnet_branch {
    qr_nn_conv_layer conv[3][2];
    qr_nn_pool pool[3];
    qr_nn_conv_layer reduce;
} qr_nn_rimnet_branch;

/* The architecture: config, tensor table and layer descriptors (shared by all members). */
typedef struct qr_nn_spec {
    qr_nn_config cfg;
    qr_nn_tensor *t;
    int nt, cap;
    int oom;
    int64_t n_params, n_buffers;
    int n_counts;
    int n_fold; /* floats of folded BN scale+shift */
    /* qsmrimnet */
    qr_nn_encoder enc[2]; /* enc[0] "encoder" (all channels, or QSM); enc[1] "encoder_flair" */
    int n_enc;            /* 1 (channels) or 2 (branches) */
    int img;              /* width of the image feature (8w per encoder) */
    /* qsmrimnet and aprl-nn */
    qr_nn_mlp2 rad;   /* encode_rad.{0,1,4,5} */
    qr_nn_mlp2 smote; /* smote.fea_transform.{0,1,3,4} */
    qr_nn_linear_layer cls1, cls2;
    int fused; /* width of the fused vector (img add, img + img concat) */
    /* rimnet */
    qr_nn_rimnet_branch rn[2]; /* 0 = QSM (main), 1 = FLAIR */
    qr_nn_linear_layer fc[4];
    qr_nn_shape5 rn_final; /* per-sample shape after the last pool (c = 1 after reduce) */
} qr_nn_spec;

qr_status qr_nn_spec_build(const qr_nn_config *cfg, qr_nn_spec *out);
void qr_nn_spec_free(qr_nn_spec *s);
int qr_nn_spec_find(const qr_nn_spec *s, const char *name);

/* One ensemble member: parameters and buffers in backend memory, counters and preprocessing on
 * the host. */
typedef struct qr_nn_member {
    float *params;  /* n_params */
    float *buffers; /* n_buffers */
    int64_t *counts;
    float shift[QR_NN_MAX_CHANNELS], scale[QR_NN_MAX_CHANNELS];
    float *rmean, *rsd; /* host, n_radiomic */
    int fold;
    int64_t seed;
} qr_nn_member;

/* Activations of one forward (and backward) pass for up to n_cap samples. Pointers into one
 * backend allocation; `training` adds what backward needs and the gradient buffers. */
typedef struct qr_nn_block_acts {
    float *c1, *r1, *c2, *out, *dsc, *dsn;
    float *m1, *s1, *m2, *s2, *mds, *sds; /* saved BN mean / rstd */
} qr_nn_block_acts;

typedef struct qr_nn_mlp_acts {
    float *l1, *b1, *s1, *d1, *l2, *b2, *s2;
    float *m1, *r1, *m2, *r2; /* saved BN mean / rstd */
} qr_nn_mlp_acts;

typedef struct qr_nn_encoder_acts {
    float *x; /* (N, C_e, D, H, W) encoder input, backend layout */
    float *c0, *r0, *p0;
    int32_t *arg0;
    float *m0, *s0;
    qr_nn_block_acts b[8];
    float *g; /* pooled features (N, 8w) */
} qr_nn_encoder_acts;

typedef struct qr_nn_ws {
    int64_t n_cap;
    int training;
    void *mem;
    /* inputs (the image input is enc[e].x) */
    float *rad; /* (N, F) */
    float *lbl; /* (Ntot) labels incl. synthetic */
    /* qsmrimnet */
    qr_nn_encoder_acts enc[2];
    float *gimg; /* image feature (N, img): enc[0].g, or the encoders' features concatenated */
    qr_nn_mlp_acts ra, sa;
    float *mask_rad; /* (N, 16w) */
    float *z;        /* fused (N, fused) */
    float *e;        /* after DeepSMOTE (Ntot, 8w) */
    int32_t *pairs;
    float *pw;
    float *h1, *hs, *hd, *mask_cls, *o; /* classifier (Ntot, 2w) ... (Ntot, 1 or 2) */
    float *fold;  /* folded BN scale/shift */
    float *loss;  /* 1 float (+1 for the L2 term) */
    /* rimnet */
    float *rx[2];          /* per-branch inputs (N, 1, D, H, W) */
    float *rc[2][3][2];    /* conv outputs (tanh applied in place) */
    float *rp[2][3];       /* pool outputs */
    int32_t *rarg[2][3];
    float *rcat;           /* block-2 input of the main branch (FLAIR | QSM) */
    float *rr[2];          /* reduce outputs */
    float *rflat_in;       /* (N, 2, d, h, w) */
    float *rflat;          /* (N, 2 d h w) */
    float *fc[4], *fr[3];  /* FC outputs and ReLU outputs */
    /* gradients (training) */
    float *gA, *gB, *gC, *gD; /* scratch of the largest 5D activation */
    float *g2[6];             /* scratch of the largest 2D activation */
} qr_nn_ws;

struct qr_nn_model {
    qr_nn_context *ctx;
    qr_nn_spec spec;
    qr_nn_model_meta meta;
    char **rad_names; /* n_radiomic or NULL */
    qr_nn_member *members;
    int n_members;
    qr_nn_ws ws; /* inference workspace (shared by the members) */
    int training_member; /* member a trainer is attached to (-1 none) */
};

struct qr_nn_trainer {
    qr_nn_model *model;
    int member;
    qr_nn_train_options opt;
    float *grads, *m, *v; /* n_params each */
    qr_nn_ws ws;
    qr_rng rng;
    int64_t step;
    int epoch;
    double lr;
    /* fixed draws for the next forward_backward (tests) */
    float *fix_smote, *fix_drop_rad, *fix_drop_cls;
    int64_t n_fix_smote, n_fix_drop_rad, n_fix_drop_cls;
    int64_t last_ntot; /* rows after DeepSMOTE in the last forward */
};

/* nn_patches.c: a batch's samples resolved into backend jobs (valid until the bank's next stage) */
typedef struct qr_nn_patch_stage {
    const qr_nn_patch_job *jobs; /* backend memory */
    const float *data;           /* the bank's crops, backend memory */
    int channels;
    int any_blur, any_context;
} qr_nn_patch_stage;
qr_status qr_nn_patch_bank_stage(qr_nn_patch_bank *b, const qr_nn_patch_sample *s, int64_t n, const int patch[3],
                                 qr_nn_patch_stage *out);
/* Sample channels [channel0, channel0 + s->c) of the staged patches into out (backend layout). */
void qr_nn_patch_stage_run(qr_nn_context *ctx, const qr_nn_patch_stage *st, const qr_nn_shape5 *s, int channel0,
                           float *out);
qr_nn_context *qr_nn_patch_bank_context(const qr_nn_patch_bank *b);
int qr_nn_patch_bank_channels(const qr_nn_patch_bank *b);

/* nn_graph.c: workspaces and passes */
qr_status qr_nn_ws_reserve(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_ws *ws, int64_t n, int training);
void qr_nn_ws_free(qr_nn_context *ctx, qr_nn_ws *ws);
/* Check that a batch has the inputs the architecture needs, all finite (QR_ERR_NONFINITE names
 * the sample). */
qr_status qr_nn_check_batch(const qr_nn_context *ctx, const qr_nn_spec *s, const qr_nn_batch *b);
/* Upload and preprocess a checked batch into ws (x, rad). */
qr_status qr_nn_upload_batch(qr_nn_context *ctx, const qr_nn_spec *s, const qr_nn_member *mb, qr_nn_ws *ws,
                             const qr_nn_batch *b);
/* Inference: logits (host) of n samples. */
qr_status qr_nn_forward_infer(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws, int64_t n,
                              float *logits);
/* Training forward up to the logits: returns the number of rows after DeepSMOTE (ntot); the
 * trainer provides the draws. */
typedef struct qr_nn_draws {
    const float *mask_rad;   /* host (n x 16w) or NULL (no dropout) */
    const float *mask_cls;   /* host (ntot x 2w) or NULL */
    const int32_t *pairs;    /* host (m x 2) */
    const float *weights;    /* host (m) */
    int64_t m;
} qr_nn_draws;
/* Forward until the fused features after the DeepSMOTE MLP (qsmrimnet) / radiomic branch (aprl):
 * features are in ws->sa.s2 / ws->ra.s2 (n x 8w); the trainer then selects neighbours. */
void qr_nn_forward_train_features(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws, int64_t n,
                                  const float *mask_rad);
/* The rest: DeepSMOTE rows, classifier, loss, and the full backward into grads. */
qr_status qr_nn_forward_backward_rest(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, qr_nn_ws *ws,
                                      int64_t n, const qr_nn_draws *d, const float *labels_host,
                                      const qr_nn_train_options *opt, float *grads, double *loss);
/* Device pointer of a latent feature matrix (n x 8w) for neighbour search. */
const float *qr_nn_latent(const qr_nn_spec *s, const qr_nn_ws *ws);

/* nn_smote.c: neighbour selection on the host. latent (n, k) rim+ rows selected by labels;
 * pairs (i, j) in batch indices, appended in the order of the synthetic rows; returns m. */
int64_t qr_nn_smote_pairs(qr_nn_smote variant, const float *latent, int64_t n, int k, const float *labels,
                          int32_t *pairs);
/* Synthetic rows produced by a variant for n_pos rim+ samples. */
int64_t qr_nn_smote_rows(qr_nn_smote variant, int64_t n_pos);

/* nn_model.c helpers */
qr_status qr_nn_model_alloc(qr_nn_context *ctx, const qr_nn_config *cfg, qr_nn_model **out);
qr_status qr_nn_member_add(qr_nn_model *m, int *index);
float *qr_nn_member_tensor_ptr(const qr_nn_spec *s, const qr_nn_member *mb, int ti);
/* Host copy of a member's tensor in PyTorch layout. */
void qr_nn_member_get(qr_nn_context *ctx, const qr_nn_spec *s, const qr_nn_member *mb, int ti, float *out);
void qr_nn_member_set(qr_nn_context *ctx, const qr_nn_spec *s, qr_nn_member *mb, int ti, const float *in);

/* 1 if two configurations build the same tensors (models can be joined, checkpoints resumed). */
int qr_nn_config_same_arch(const qr_nn_config *a, const qr_nn_config *b);

/* 1 if every character is allowed in a dataset/field name. */
int qr_nn_name_ok(const char *s);

#endif
