/*
 * nn.h - the qsmrim neural-network engine: QSMRim-Net, RimNet and the APRL network in C, with
 * forward and backward passes, DeepSMOTE, Adam, HDF5 model files and training checkpoints.
 *
 * Everything runs inside a context (qr_nn_context) that owns the compute backend, chosen once
 * from a device name ("auto", "cpu", "cuda[:N]", "ref") and the thread count. A model
 * (qr_nn_model) lives on one context: its parameters are in the backend's memory. A model has
 * one or more members (an ensemble: folds, seeds) sharing one architecture; each member has its
 * own parameters and preprocessing. A trainer (qr_nn_trainer) trains one member in place.
 *
 * Inputs are raw: patches (N, C, D, H, W) float32 in NCDHW order (D = slice axis; QSMRim-Net:
 * C = 2 with channel 0 QSM and channel 1 FLAIR, D = 16, H = W = 32) and radiomic vectors (N, F)
 * float32. The model applies its own stored preprocessing inside forward:
 *     patch'[c]   = (patch[c] - intensity_shift[c]) * intensity_scale[c]
 *     radiomic'[f] = (radiomic[f] - radiomic_mean[f]) / radiomic_sd[f]      (sd <= 0 -> 1)
 * (identity for a freshly created or imported model). Outputs are logits; P(rim+) = sigmoid.
 *
 * Inference:
 *     qr_nn_context_options co = qr_nn_context_options_default();
 *     QR_TRY(qr_nn_device_parse("auto", &co.device));
 *     qr_nn_context *ctx;  QR_TRY(qr_nn_context_create(&co, &ctx));
 *     qr_nn_model *m;      QR_TRY(qr_nn_model_load(ctx, "model.h5", &m));
 *     qr_nn_batch b = {.n = n, .patches = x, .radiomics = r};
 *     float *logits = malloc(sizeof(float) * n * qr_nn_model_members(m));
 *     QR_TRY(qr_nn_model_infer(m, &b, logits));          // logits[member * n + i]
 *     float p = qr_nn_ensemble_probability(logits, qr_nn_model_members(m), n, i);
 *     qr_nn_model_free(m); qr_nn_context_free(ctx);
 *
 * Training:
 *     qr_nn_config cfg = qr_nn_config_default(QR_NN_ARCH_QSMRIMNET);
 *     qr_nn_model *m;   QR_TRY(qr_nn_model_create(ctx, &cfg, seed, &m));
 *     QR_TRY(qr_nn_model_set_preprocess(m, 0, shift, scale, rad_mean, rad_sd));
 *     qr_nn_train_options to = qr_nn_train_options_default();  to.seed = seed;
 *     to.n_milestones = 3; to.milestones = {20, 28, 36};       // epochs (lr x 0.1 each)
 *     qr_nn_trainer *t; QR_TRY(qr_nn_trainer_create(m, 0, &to, &t));
 *     for (epoch ...) { qr_nn_trainer_set_epoch(t, epoch);
 *         for (batch ...) { qr_nn_batch b = {n, x, r, labels}; QR_TRY(qr_nn_trainer_step(t, &b, &st)); }
 *         QR_TRY(qr_nn_checkpoint_save(t, "ckpt.h5", fields, nfields)); }
 *     qr_nn_trainer_free(t);  QR_TRY(qr_nn_model_save(m, "model.h5"));
 *   Resume: create the model and trainer the same way, then qr_nn_checkpoint_load(t, ...).
 *
 * Determinism: the same seed, inputs and thread count give bit-identical results on the CPU
 * backends (every reduction has a fixed order; the CPU backend's results do not even depend on
 * the thread count). Errors: every fallible call returns a qr_status and sets qr_last_error().
 * Thread safety: a context and its models are used by one thread at a time; the engine itself
 * spreads work over the context's threads.
 */
#ifndef QR_NN_H
#define QR_NN_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QR_NN_MAX_CHANNELS 8  /* image channels a model may take */
#define QR_NN_MAX_MILESTONES 16
/* How the notice begins that device `auto` logs when it finds no working GPU and runs on the CPU
 * (QR_LOG_NOTICE; QR_LOG_INFO in a build without a GPU backend); the command line holds it back until the run shows anything else, so that a
 * run that fails before that prints its one error line alone. */
#define QR_NN_CPU_FALLBACK_NOTICE "no usable GPU"

/* ------------------------------------------------------------------------------------------ */
/* Device and context                                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef enum qr_nn_device_kind {
    QR_NN_DEVICE_AUTO = 0, /* a working GPU if this build has one, otherwise the CPU (with a notice) */
    QR_NN_DEVICE_CPU,      /* the optimised CPU backend */
    QR_NN_DEVICE_CUDA,     /* an NVIDIA GPU (index selects which) */
    QR_NN_DEVICE_REF,      /* the plain reference implementation (the specification; slow) */
    QR_NN_DEVICE_COUNT
} qr_nn_device_kind;

typedef struct qr_nn_device {
    qr_nn_device_kind kind;
    int index; /* GPU index for CUDA (default 0) */
} qr_nn_device;

/* Parse "auto", "cpu", "cuda", "cuda:N" or "ref" (the one place device names are read). */
qr_status qr_nn_device_parse(const char *text, qr_nn_device *out);
const char *qr_nn_device_kind_name(qr_nn_device_kind k);

/* Arithmetic of convolutions and linear layers (everything else is float32 in every mode).
 *   FP32: float32 operands and sums.
 *   TF32: operands rounded to TF32 (float32 with 10 mantissa bits, round to nearest even), sums in
 *         float32 - the numerics of NVIDIA tensor cores (Ampere and later), which run these layers
 *         several times faster than float32 math. On a GPU it is the speed option; the CPU
 *         backends emulate the rounding (same numbers as a GPU in TF32 up to summation order, at
 *         no gain in speed), so that its effect can be studied and reproduced on any machine. */
typedef enum qr_nn_precision {
    QR_NN_PRECISION_FP32 = 0,
    QR_NN_PRECISION_TF32,
    QR_NN_PRECISION_COUNT,
    QR_NN_PRECISION_INVALID = -1 /* an unreadable QSMRIM_PRECISION: context creation fails */
} qr_nn_precision;

/* Parse "fp32" or "tf32". */
qr_status qr_nn_precision_parse(const char *text, qr_nn_precision *out);
const char *qr_nn_precision_name(qr_nn_precision p);
/* The precision of qr_nn_context_options_default(): set by this call (a command's --precision;
 * call it before any thread creates contexts), otherwise the environment variable
 * QSMRIM_PRECISION (fp32 or tf32), otherwise FP32. */
void qr_nn_set_default_precision(qr_nn_precision p);
qr_nn_precision qr_nn_default_precision(void);

typedef struct qr_nn_context_options {
    qr_nn_device device;       /* default: auto */
    int threads;               /* CPU threads; <= 0: all cores (OpenMP default) */
    qr_nn_precision precision; /* default: qr_nn_default_precision() */
} qr_nn_context_options;

qr_nn_context_options qr_nn_context_options_default(void);

typedef struct qr_nn_context qr_nn_context;

/* Create a context. QR_ERR_DEVICE with a one-line reason if the requested device does not exist
 * or does not work (e.g. "cuda:0: this build has no CUDA backend"); AUTO never fails for lack of
 * a GPU: it falls back to the CPU and logs one notice (qr_log). */
qr_status qr_nn_context_create(const qr_nn_context_options *opt, qr_nn_context **out);
void qr_nn_context_free(qr_nn_context *ctx);
/* One line: backend, device, threads and precision ("cpu (AVX-512 kernels, 2 threads)"; TF32
 * adds ", TF32 rounding emulated" on the CPU backends, the CUDA line names its math). */
const char *qr_nn_context_describe(const qr_nn_context *ctx);
qr_nn_device_kind qr_nn_context_device(const qr_nn_context *ctx);
/* The context's host threads: those of the CPU backend's kernels; on a GPU, those of the host
 * work around it (cutting patches); 1 for the reference backend. */
int qr_nn_context_threads(const qr_nn_context *ctx);
qr_nn_precision qr_nn_context_precision(const qr_nn_context *ctx);

/* ------------------------------------------------------------------------------------------ */
/* Architecture                                                                               */
/* ------------------------------------------------------------------------------------------ */

typedef enum qr_nn_arch {
    QR_NN_ARCH_QSMRIMNET = 0, /* 3D ResNet-18 + radiomic MLP, fused, DeepSMOTE MLP, classifier */
    QR_NN_ARCH_RIMNET,        /* two-branch VGG-like 3D CNN on QSM and FLAIR, 2-class softmax */
    QR_NN_ARCH_APRL_NN,       /* radiomic MLP + classifier (no image input) */
    QR_NN_ARCH_COUNT
} qr_nn_arch;

typedef enum qr_nn_fusion {
    QR_NN_FUSION_ADD = 0, /* released code: CNN (8w) + radiomic (8w) summed, DeepSMOTE MLP 8w -> 8w */
    QR_NN_FUSION_CONCAT,  /* paper: concatenated to 16w, DeepSMOTE MLP 16w -> 8w */
    QR_NN_FUSION_COUNT
} qr_nn_fusion;

typedef enum qr_nn_image_fusion {
    QR_NN_IMAGE_CHANNELS = 0, /* paper and released code: QSM and FLAIR as channels of one encoder */
    QR_NN_IMAGE_BRANCHES,     /* the paper's Table 3 comparator, RimNet-style two-branch fusion: one
                                 encoder per contrast (1 channel each), their 8w features concatenated */
    QR_NN_IMAGE_FUSION_COUNT
} qr_nn_image_fusion;

typedef enum qr_nn_smote {
    QR_NN_SMOTE_RELEASED = 0, /* released code: 3 nearest rim+ incl. itself, N + 3n rows, if n > 2 */
    QR_NN_SMOTE_PAPER,        /* paper: 2 nearest other rim+, N + 2n rows (also only if n > 2) */
    QR_NN_SMOTE_OFF,          /* no oversampling */
    QR_NN_SMOTE_COUNT
} qr_nn_smote;

const char *qr_nn_arch_name(qr_nn_arch a);       /* "qsmrimnet", "rimnet", "aprl-nn" */
const char *qr_nn_fusion_name(qr_nn_fusion f);   /* "add", "concat" */
const char *qr_nn_smote_name(qr_nn_smote s);     /* "released", "paper", "off" */
const char *qr_nn_image_fusion_name(qr_nn_image_fusion f); /* "channels", "branches" */
qr_status qr_nn_arch_parse(const char *s, qr_nn_arch *out);
qr_status qr_nn_fusion_parse(const char *s, qr_nn_fusion *out);
qr_status qr_nn_smote_parse(const char *s, qr_nn_smote *out);
qr_status qr_nn_image_fusion_parse(const char *s, qr_nn_image_fusion *out);

/*
 * The architecture. Widths (w = width):
 *   qsmrimnet  ResNet3D-18 stages w, 2w, 4w, 8w (strides 1, 2, 2, layer4_stride) on
 *              in_channels x patch; radiomic MLP F -> 16w -> 8w; fusion; DeepSMOTE MLP
 *              (8w or 16w) -> 8w -> 8w; classifier 8w -> 2w -> 1. w = 64 is the published net.
 *              image_fusion branches (in_channels 2): a second ResNet ("encoder_flair") on the
 *              FLAIR channel, "encoder" on the QSM channel only; the image feature is the two
 *              8w vectors concatenated (I = 16w), the radiomic MLP ends in I features to match,
 *              and the DeepSMOTE MLP takes I (add) or 2I (concat).
 *   aprl-nn    radiomic MLP F -> 16w -> 8w; classifier 8w -> 2w -> 1.
 *   rimnet     per branch (QSM = channel 0, FLAIR = channel 1) conv blocks of w, 2w, 4w
 *              channels (w = 32 published), tanh, max-pool 2 with stride rimnet_pool_stride;
 *              FLAIR block-1 output concatenated in front of the QSM block-1 output; 1x1x1 conv
 *              to 1 channel per branch; flatten; FC 256, 128, 64 (ReLU), FC 2; softmax.
 */
typedef struct qr_nn_config {
    qr_nn_arch arch;
    qr_nn_fusion fusion;      /* qsmrimnet: image with radiomic features */
    qr_nn_image_fusion image_fusion; /* qsmrimnet: QSM with FLAIR (channels) */
    int width;                /* base width w (64; rimnet 32) */
    int layer4_stride;        /* qsmrimnet: 1 (released) or 2 (standard ResNet) */
    int in_channels;          /* image channels (2: QSM, FLAIR); rimnet needs exactly 2 */
    int n_radiomic;           /* radiomic vector length F (536 or 527; 0 for rimnet) */
    int patch[3];             /* D, H, W of the patches (16, 32, 32; rimnet 28, 28, 28) */
    float dropout_radiomic;   /* dropout after the first radiomic layer (0.3) */
    float dropout_classifier; /* dropout in the classifier (0.5) */
    int rimnet_pool_stride;   /* rimnet: 1 (released code; 'same' padding keeps the size) or 2 */
} qr_nn_config;

/* The published configuration of an architecture (QSMRim-Net as released: fusion add, layer4
 * stride 1, 536 radiomic features - the current PyRadiomics count). */
qr_nn_config qr_nn_config_default(qr_nn_arch arch);
/* Check a configuration; QR_ERR_INVALID_ARG naming the first field out of range. */
qr_status qr_nn_config_check(const qr_nn_config *cfg);
/* Multiply-adds of one sample's forward pass: total and without taps on zero padding. */
void qr_nn_config_macs(const qr_nn_config *cfg, double *total, double *useful);

/* ------------------------------------------------------------------------------------------ */
/* Models                                                                                     */
/* ------------------------------------------------------------------------------------------ */

typedef struct qr_nn_model qr_nn_model;

/* Model-level facts stored in the model file beside the parameters. */
typedef struct qr_nn_model_meta {
    double threshold_f1;        /* P(rim+) threshold that maximised F1 (NAN: not set) */
    double threshold_sensitive; /* high-sensitivity threshold (NAN: not set) */
    char channel_names[64];     /* image channel order, comma separated ("QSM,FLAIR") */
    char training_data[256];    /* provenance: what it was trained on */
    char commit[64];            /* source revision that trained it */
    char date[32];              /* ISO 8601 date of training */
    char smote[16];             /* DeepSMOTE variant used in training ("released", ...) */
    char notes[256];            /* free text (e.g. "imported from a PyTorch state dict") */
    int64_t seed;               /* training seed (-1: unknown) */
    double voxel_mm[3];         /* training voxel size along L, P, S in mm (0 0 0: not recorded) */
    const uint64_t *training_qsm; /* written when set (borrowed while saving; not read back) */
    int64_t n_training_qsm;
    int checkpoint;             /* loading only: the file is a training checkpoint (it holds optimizer state) */
} qr_nn_model_meta;

/* A member's preprocessing (pointers into the model; n = in_channels / n_radiomic). */
typedef struct qr_nn_preprocess {
    const float *intensity_shift; /* (C) */
    const float *intensity_scale; /* (C) */
    const float *radiomic_mean;   /* (F) */
    const float *radiomic_sd;     /* (F) */
} qr_nn_preprocess;

/* A new one-member model with PyTorch's default initialisation drawn from `seed` (Kaiming
 * normal fan_out for the ResNet convolutions, U(+-1/sqrt(fan_in)) for linear layers, BN 1/0,
 * Glorot uniform for RimNet as in its Keras code), identity preprocessing, meta cleared. */
qr_status qr_nn_model_create(qr_nn_context *ctx, const qr_nn_config *cfg, uint64_t seed, qr_nn_model **out);
/* Load a model file (or a checkpoint). Every dataset's shape is checked against the stored
 * architecture; the message names what does not fit. QR_ERR_IO: cannot open; QR_ERR_FORMAT:
 * not HDF5 / not a qsmrim model; QR_ERR_UNSUPPORTED: a newer format version; QR_ERR_MODEL:
 * unknown architecture, missing, misshapen or unexpected tensors; QR_ERR_NONFINITE: a tensor
 * holds NaN/Inf. */
qr_status qr_nn_model_load(qr_nn_context *ctx, const char *path, qr_nn_model **out);
/* The same without checking the file's seal again (core/h5util.h), for a caller that has just
 * checked it: the learner checks once before telling a forest file from a network file. */
qr_status qr_nn_model_load_checked(qr_nn_context *ctx, const char *path, qr_nn_model **out);
/* Write the model file atomically (HDF5; layout in nn_file.c). */
qr_status qr_nn_model_save(const qr_nn_model *m, const char *path);
void qr_nn_model_free(qr_nn_model *m);

const qr_nn_config *qr_nn_model_config(const qr_nn_model *m);
int qr_nn_model_members(const qr_nn_model *m);
qr_nn_model_meta *qr_nn_model_meta_of(qr_nn_model *m); /* editable in place */
const qr_nn_model_meta *qr_nn_model_meta_const(const qr_nn_model *m);
qr_nn_context *qr_nn_model_context(const qr_nn_model *m);
/* Trainable parameter count of one member. */
int64_t qr_nn_model_param_count(const qr_nn_model *m);

/* Preprocessing of a member. Any pointer may be NULL (keeps that part). */
qr_status qr_nn_model_set_preprocess(qr_nn_model *m, int member, const float *intensity_shift,
                                     const float *intensity_scale, const float *radiomic_mean,
                                     const float *radiomic_sd);
qr_status qr_nn_model_get_preprocess(const qr_nn_model *m, int member, qr_nn_preprocess *out);
/* Names of the radiomic features in input order (shared by all members; optional). */
qr_status qr_nn_model_set_radiomic_names(qr_nn_model *m, const char *const *names, int n);
const char *qr_nn_model_radiomic_name(const qr_nn_model *m, int i); /* NULL if unset */
/* Per-member labels stored with the member (fold, seed; -1 unknown). */
qr_status qr_nn_model_set_member_info(qr_nn_model *m, int member, int fold, int64_t seed);
qr_status qr_nn_model_get_member_info(const qr_nn_model *m, int member, int *fold, int64_t *seed);

/* Append all members of `src` to `dst` (same architecture and radiomic size, same context). */
qr_status qr_nn_model_append(qr_nn_model *dst, const qr_nn_model *src);

/* Named tensors in PyTorch state-dict layout (e.g. "encoder.layer1.0.conv1.weight",
 * "encode_rad.1.running_mean"), as float32; count must equal the tensor's element count.
 * num_batches_tracked tensors are int64 in files and are read/written as floats here. */
int qr_nn_model_tensor_count(const qr_nn_model *m);
const char *qr_nn_model_tensor_name(const qr_nn_model *m, int i);
/* Shape of a named tensor; returns the number of dimensions (0 if unknown). */
int qr_nn_model_tensor_shape(const qr_nn_model *m, const char *name, int64_t dims[5]);
qr_status qr_nn_model_get_tensor(const qr_nn_model *m, int member, const char *name, float *out, int64_t count);
qr_status qr_nn_model_set_tensor(qr_nn_model *m, int member, const char *name, const float *in, int64_t count);

/* ------------------------------------------------------------------------------------------ */
/* Patches sampled on the compute device                                                      */
/* ------------------------------------------------------------------------------------------ */

/* A patch bank holds lesion crops in the context's memory (on a GPU: device memory), so that a
 * training batch's patches - with their augmentation - are sampled where the network runs,
 * instead of being sampled on the host and copied over for every step. Only backends that
 * implement the sampler have banks (qr_nn_context_samples_patches: the CUDA backend); the CPU
 * backends take host patches (Logic/data/patch.h samples them).
 *
 * A sample reads one crop (C channels, each (size[2], size[1], size[0]), W fastest) into a patch
 * (C, D, H, W) of the model's patch size. For output position p = (w, h, d):
 *   1. flip: p[flip] = S[flip] - 1 - p[flip]                         (flip = -1: none)
 *   2. by mode:
 *      GRID     value = crop[base + p]                               (0 outside the crop)
 *      AFFINE   value = trilinear crop at centre + A (p - (S - 1) / 2) (0 outside)
 *      CONTEXT  `turns` in-plane quarter turns (w, h) -> (h, W - 1 - w), then crop[base + p];
 *               afterwards each channel of the patch is min-max rescaled to [-1, 1] (0 if flat)
 *   3. GRID and AFFINE: separable Gaussian blur along W, H, D with sigma[] voxels (0 = none;
 *      kernel radius floor(4 sigma + 0.5) capped at S - 1, normalised, zero beyond the patch)
 * These are the operations of qr_patch_sample and qr_context_patch_sample (Logic/data), which
 * are the reference the sampler is tested against. */
typedef enum qr_nn_sample_mode { QR_NN_SAMPLE_GRID = 0, QR_NN_SAMPLE_AFFINE, QR_NN_SAMPLE_CONTEXT } qr_nn_sample_mode;

typedef struct qr_nn_patch_sample {
    int64_t crop;          /* index into the bank */
    qr_nn_sample_mode mode;
    int flip;              /* -1, 0 (W), 1 (H), 2 (D) */
    int turns;             /* CONTEXT: quarter turns 0..3 (needs H = W) */
    int64_t base[3];       /* GRID, CONTEXT: crop index (i, j, k) read by position (0, 0, 0) */
    double centre[3];      /* AFFINE: crop index (i, j, k) of the patch centre */
    double A[3][3];        /* AFFINE: index-space matrix (row r = crop axis, column = patch axis) */
    double sigma[3];       /* blur along W (i), H (j), D (k) in voxels */
} qr_nn_patch_sample;

/* One crop handed to qr_nn_patch_bank_create: channels x size[2] x size[1] x size[0] floats. */
typedef struct qr_nn_crop_ref {
    const float *data;
    int64_t size[3];
} qr_nn_crop_ref;

typedef struct qr_nn_patch_bank qr_nn_patch_bank;

/* 1 when the context's backend samples patches itself (banks can be created on it). */
int qr_nn_context_samples_patches(const qr_nn_context *ctx);
/* Copy n crops of `channels` channels into the context's memory. The values must be finite
 * (QR_ERR_NONFINITE names the crop); QR_ERR_NOMEM when the device has too little memory (the
 * caller may fall back to host patches); QR_ERR_UNSUPPORTED on a backend without a sampler. */
qr_status qr_nn_patch_bank_create(qr_nn_context *ctx, const qr_nn_crop_ref *crops, int64_t n, int channels,
                                  qr_nn_patch_bank **out);
void qr_nn_patch_bank_free(qr_nn_patch_bank *b); /* before its context is freed */
int64_t qr_nn_patch_bank_count(const qr_nn_patch_bank *b);
size_t qr_nn_patch_bank_bytes(const qr_nn_patch_bank *b); /* device memory it holds */
/* Sample n patches of size (D, H, W) to host memory (n, channels, D, H, W): for tests and
 * benchmarks; a model's forward pass samples straight into its input (qr_nn_batch.bank).
 * out = NULL: the patches stay in device memory and the call returns when they are done (timing). */
qr_status qr_nn_patch_bank_sample(qr_nn_patch_bank *b, const qr_nn_patch_sample *s, int64_t n, const int patch[3],
                                  float *out);

/* A mini-batch. Patches are NULL for aprl-nn, radiomics NULL for rimnet; labels (0/1) are read
 * only by training. All arrays stay owned by the caller. Instead of patches, image networks
 * may take `bank` and `samples` (n entries): the patches are then sampled on the context's
 * device (qr_nn_patch_bank above), with the bank's channels as the input channels. */
typedef struct qr_nn_batch {
    int64_t n;              /* samples */
    const float *patches;   /* (n, C, D, H, W) raw intensities */
    const float *radiomics; /* (n, F) raw feature values */
    const float *labels;    /* (n) 1 = rim+, 0 = rim- */
    qr_nn_patch_bank *bank; /* or NULL */
    const qr_nn_patch_sample *samples;
} qr_nn_batch;

/* Inference (BatchNorm running statistics, no dropout, no oversampling) of every member:
 * logits[member * n + i]. RimNet's logit is z1 - z0 (its softmax P(rim+) = sigmoid(logit)).
 * QR_ERR_NONFINITE if an input holds NaN/Inf (the message names the sample). Batches of any
 * size are accepted (processed in chunks). */
qr_status qr_nn_model_infer(qr_nn_model *m, const qr_nn_batch *b, float *logits);
qr_status qr_nn_model_infer_member(qr_nn_model *m, int member, const qr_nn_batch *b, float *logits);

/* Ensemble probability of sample i: the mean of the members' sigmoid(logit). */
float qr_nn_ensemble_probability(const float *logits, int members, int64_t n, int64_t i);
float qr_nn_sigmoid(float x);

/* ------------------------------------------------------------------------------------------ */
/* Training                                                                                   */
/* ------------------------------------------------------------------------------------------ */

typedef struct qr_nn_train_options {
    double lr;             /* Adam learning rate (1e-4) */
    double beta1, beta2;   /* 0.9, 0.999 */
    double eps;            /* 1e-8 */
    double weight_decay;   /* torch.optim.Adam weight_decay: g += wd * p for every parameter (0) */
    double conv_l2;        /* Keras-style L2 on convolution kernels: loss += l2 * sum w^2 (0;
                              RimNet's code uses 1e-3) */
    double lr_gamma;       /* MultiStepLR factor (0.1) */
    int n_milestones;      /* MultiStepLR: lr = lr * gamma^(number of milestones <= epoch) */
    int milestones[QR_NN_MAX_MILESTONES]; /* epochs, ascending */
    qr_nn_smote smote;     /* DeepSMOTE variant (qsmrimnet only; released) */
    float class_weight[2]; /* rimnet: softmax cross-entropy class weights (1, 1) */
    uint64_t seed;         /* dropout masks and DeepSMOTE interpolation draws */
    int max_batch;         /* buffers are sized for this batch (64); larger batches grow them */
} qr_nn_train_options;

qr_nn_train_options qr_nn_train_options_default(void);

typedef struct qr_nn_trainer qr_nn_trainer;

typedef struct qr_nn_step_stats {
    double loss;       /* mean loss of the step (before the update) */
    int64_t n_real;    /* samples of the batch */
    int64_t n_synth;   /* DeepSMOTE samples added */
    int64_t n_pos;     /* rim+ samples of the batch */
    double lr;         /* learning rate used */
} qr_nn_step_stats;

/* Attach a trainer (gradients, Adam state, training activations) to a member of a model.
 * The member is trained in place: qr_nn_model_infer/save see the current parameters. */
qr_status qr_nn_trainer_create(qr_nn_model *m, int member, const qr_nn_train_options *opt, qr_nn_trainer **out);
void qr_nn_trainer_free(qr_nn_trainer *t);

/* Set the epoch (0-based) for the learning-rate schedule (the options' MultiStepLR). */
void qr_nn_trainer_set_epoch(qr_nn_trainer *t, int epoch);
/* Set the learning rate of the next steps instead (a schedule the caller runs; until the next
 * qr_nn_trainer_set_epoch). */
void qr_nn_trainer_set_lr(qr_nn_trainer *t, double lr);
int qr_nn_trainer_epoch(const qr_nn_trainer *t);
int64_t qr_nn_trainer_step_count(const qr_nn_trainer *t);
double qr_nn_trainer_lr(const qr_nn_trainer *t);

/* One training step: forward in training mode (batch statistics, running averages updated,
 * dropout, DeepSMOTE), loss (BCE with logits, mean; rimnet: class-weighted softmax CE), backward,
 * Adam update. Labels are required. */
qr_status qr_nn_trainer_step(qr_nn_trainer *t, const qr_nn_batch *b, qr_nn_step_stats *stats);

/* The step in two halves (for tests and gradient inspection): forward + backward (gradients
 * kept; logits of the N + synthetic rows to `logits` if not NULL, at most `cap` values) and the
 * Adam update. */
qr_status qr_nn_trainer_forward_backward(qr_nn_trainer *t, const qr_nn_batch *b, qr_nn_step_stats *stats,
                                         float *logits, int64_t cap);
qr_status qr_nn_trainer_update(qr_nn_trainer *t);
/* The gradient of a named parameter after forward_backward (PyTorch layout). */
qr_status qr_nn_trainer_get_grad(const qr_nn_trainer *t, const char *name, float *out, int64_t count);
/* The Adam moments of a named parameter (exp_avg, exp_avg_sq). */
qr_status qr_nn_trainer_get_moments(const qr_nn_trainer *t, const char *name, float *m, float *v, int64_t count);

/* Tests: use these draws in the next forward_backward instead of random ones. smote_weights
 * (n_pos x k, row-major, k = 3 released / 2 paper) are the interpolation weights a;
 * dropout masks hold the multipliers (0 or 1/(1-p)) for the radiomic-branch dropout (n x 16w)
 * and the classifier dropout ((n + synthetic) x 2w). Any may be NULL (drawn as usual). */
qr_status qr_nn_trainer_fix_draws(qr_nn_trainer *t, const float *smote_weights, int64_t n_smote,
                                  const float *dropout_radiomic, int64_t n_drop_rad,
                                  const float *dropout_classifier, int64_t n_drop_cls);

/* Checkpoints: the model file of the trained member plus Adam's moments, step, epoch, the
 * trainer's random state and caller fields (named int64/float64 arrays: the caller's own RNG
 * states, fold, ...; and texts: the run's settings). Written atomically; a checkpoint also loads
 * as a model. */
typedef enum qr_nn_field_type { QR_NN_FIELD_I64 = 0, QR_NN_FIELD_F64, QR_NN_FIELD_TEXT } qr_nn_field_type;
typedef struct qr_nn_field {
    const char *name;      /* dataset name under /extra (letters, digits, '_', '.', '-') */
    qr_nn_field_type type;
    void *data;            /* int64_t[count] or double[count]; TEXT: a NUL-terminated string */
    int64_t count;         /* values; TEXT: the size of the buffer (at most 65000), a longer
                              stored text is cut to count - 1 bytes when read */
} qr_nn_field;

qr_status qr_nn_checkpoint_save(const qr_nn_trainer *t, const char *path, const qr_nn_field *fields, int n_fields);
/* Restore parameters, buffers, Adam state, step, epoch and random state into a trainer created
 * with the same architecture; fills the caller's fields (each must exist with its count). */
qr_status qr_nn_checkpoint_load(qr_nn_trainer *t, const char *path, qr_nn_field *fields, int n_fields);
/* Only the caller's fields of a checkpoint (nothing restored): to compare what a run recorded
 * before resuming from it. QR_ERR_MODEL naming a field the file lacks. */
qr_status qr_nn_checkpoint_read_fields(const char *path, qr_nn_field *fields, int n_fields);

/* Peak single-precision FMA rate of `threads` CPU threads in GFLOP/s (best of repeated short runs
 * over `seconds`); 0 where the build has no AVX-512 kernels. For reporting a share of peak. */
double qr_nn_cpu_peak_gflops(int threads, double seconds);

/* ------------------------------------------------------------------------------------------ */
/* Batch files (qsmrim forward)                                                               */
/* ------------------------------------------------------------------------------------------ */

/* A batch read from an HDF5 file, owning its arrays. */
typedef struct qr_nn_batch_file {
    qr_nn_batch batch; /* pointers into the arrays below */
    float *patches, *radiomics, *labels;
} qr_nn_batch_file;

/* Read an input file for a model: float `patches` (N, C, D, H, W) and `radiomics` (N, F) as the
 * architecture needs them (any numeric type is converted), optional `labels` (N). Shapes are
 * checked against the configuration; the message names the dataset and both shapes. */
qr_status qr_nn_batch_file_read(const char *path, const qr_nn_config *cfg, qr_nn_batch_file *out);
void qr_nn_batch_file_free(qr_nn_batch_file *b);
/* Write (atomically) float32 `logits` (N) and `probability` (N) - for several members the
 * ensemble: probability = mean of the members' sigmoid(logit), logits = its logit - plus
 * `member_logits` (members, N) when members > 1. logits holds members x n values. */
qr_status qr_nn_outputs_write(const char *path, const float *logits, int members, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
