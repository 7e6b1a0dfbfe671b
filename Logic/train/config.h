/*
 * config.h - training settings: what `qsmrim train --config TRAIN.yaml` and `qsmrim evaluate
 * --config` read. One flat YAML mapping; every key is optional (defaults below, which follow the
 * QSMRim-Net paper, Zhang et al., NeuroImage: Clinical 34:102979, 2022, and its authors' released
 * code, as the notes say); an unknown key or a value out of range is an error naming the key,
 * never ignored.
 *
 *   key                 default      meaning
 *   ---- networks (qsmrimnet, rimnet, aprl-nn) ----
 *   width               64           base width w (ResNet stages w, 2w, 4w, 8w; radiomic MLP 16w, 8w);
 *                                    rimnet: its first block's channels (published 32)
 *   fusion              add          add (released code) | concat (paper)
 *   image_fusion        channels     channels (QSM and FLAIR as the two channels of one ResNet) |
 *                                    branches (one ResNet per contrast, features concatenated:
 *                                    the paper's RimNet-style Table 3 comparator)
 *   deepsmote           released     released | paper | off
 *   use_radiomics       true         false: image-only ablation (the radiomic input is held at 0,
 *                                    so that branch adds a learned constant)
 *   layer4_stride       1            1 (released code) | 2 (standard ResNet)
 *   epochs              40
 *   batch_size          64           rimnet: 32 (its published batch)
 *   learning_rate       1.0e-4       Adam
 *   lr_schedule         auto         multistep | plateau; auto: plateau for rimnet (published), else
 *                                    multistep (QSMRim-Net's released code)
 *   lr_milestones       [0.5, 0.7, 0.9]  multistep: fractions of the epochs where the rate is
 *   lr_gamma            0.1              multiplied by lr_gamma
 *   lr_plateau_rates    [5.0e-5, 2.5e-5, 1.0e-5]  plateau: the rates that follow learning_rate,
 *                                    one step on each plateau (RimNet: 1e-4 -> 5e-5 -> 2.5e-5 -> 1e-5)
 *   lr_plateau_patience 10           plateau: epochs without the epoch's mean training loss falling
 *   lr_plateau_min_delta 1.0e-4      by more than this before the next rate (Keras'
 *                                    ReduceLROnPlateau defaults: RimNet's own values are not
 *                                    published; there is no validation loss inside a fold)
 *   weight_decay        0            Adam's L2 term
 *   augment             true         flip / affine (+-5 degrees, scale 0.95-1.05) / blur, as the
 *                                    paper describes them (Logic/data/patch.h)
 *   p_flip, p_affine, p_blur  0.5    probability of each augmentation per lesion and epoch
 *   patch_sampling      auto         auto: on a GPU the training patches (and their augmentation)
 *                                    are sampled on the GPU from lesion crops kept there; elsewhere,
 *                                    and with host, on the CPU threads (the reference; the GPU
 *                                    sampler differs from it by float rounding only)
 *   rimnet_class_weight auto         rimnet: weight of the rim+ class in the cross-entropy; auto =
 *                                    n_rim- / n_rim+ of the training set
 *   rimnet_conv_l2      1.0e-3       rimnet: L2 on convolution kernels (its released code)
 *   rimnet_pool_stride  1            rimnet: 1 (released code: maps keep the patch size) | 2 (halving
 *                                    after each block, as the paper's figure draws it; far cheaper)
 *   rimnet_turns        positives    rimnet: quarter turns about the slice axis in the augmentation,
 *                                    for rim+ windows only (as published, which turns about all three
 *                                    axes: lesion_draw.h) | all windows | none
 *   ---- features ----
 *   radiomics           null         PyRadiomics parameter file (null: the QSMRim-Net preset); a
 *                                    relative path is taken from the folder of the settings file
 *                                    (qr_train_config_read), as manifest paths are from the manifest's
 *   ---- aprl-rf ----
 *   rf_trees            500
 *   rf_mtry             [1, 2, ..., 10]  candidates for mtry, chosen by inner cross-validation
 *   rf_inner_folds      5
 *   rf_tune_trees       100          trees per forest while tuning mtry
 *   smote_k             5            SMOTE neighbours
 *   ---- run ----
 *   threads             0            0 = all cores
 *   holdout             0.2          `qsmrim train`: share of subjects held out (stratified) to
 *                                    choose the decision thresholds and report held-out metrics,
 *                                    0..0.5: one fold of a k-fold split, k = round(1/holdout);
 *                                    0 = train on all subjects (thresholds then come from the
 *                                    training predictions, and a notice says so)
 */
#ifndef QR_TRAIN_CONFIG_H
#define QR_TRAIN_CONFIG_H

#include "../core/fileutil.h"
#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QR_TRAIN_MAX_MTRY 32
#define QR_TRAIN_MAX_MILESTONES 8
#define QR_TRAIN_MAX_PLATEAU_RATES 8

typedef struct qr_train_config {
    int width;
    char fusion[16];
    char image_fusion[16];
    char deepsmote[16];
    int use_radiomics;
    int layer4_stride;
    int epochs;
    int batch_size;
    double learning_rate;
    int n_milestones;
    double milestones[QR_TRAIN_MAX_MILESTONES];
    double lr_gamma;
    char lr_schedule[16]; /* auto | multistep | plateau */
    int n_plateau_rates;
    double plateau_rates[QR_TRAIN_MAX_PLATEAU_RATES];
    int plateau_patience;
    double plateau_min_delta;
    double weight_decay;
    int augment;
    double p_flip, p_affine, p_blur;
    char patch_sampling[8]; /* auto | host */
    double rimnet_class_weight; /* <= 0: auto */
    double rimnet_conv_l2;
    int rimnet_pool_stride;
    char rimnet_turns[16]; /* positives | all | none */
    char radiomics[QR_PATH_MAX]; /* "" = preset */
    int rf_trees;
    int n_mtry;
    int rf_mtry[QR_TRAIN_MAX_MTRY];
    int rf_inner_folds;
    int rf_tune_trees;
    int smote_k;
    int threads;
    double holdout;
    int width_set; /* 1 if the file set the width (rimnet's default differs) */
    int batch_size_set; /* 1 if the file set the batch size (likewise) */
} qr_train_config;

qr_train_config qr_train_config_default(void);
/* The settings as architecture `arch` (qr_arch_to_name) uses them: its own defaults for what the
 * file left unset (rimnet: width 32, batch 32), and lr_schedule auto made multistep or plateau.
 * Training, its settings record and its description all see this. */
qr_train_config qr_train_config_for(const qr_train_config *cfg, const char *arch);

/* Read a YAML file over the defaults already in *cfg. A file a setting names (radiomics) is taken
 * from the folder of `path` when relative and must be readable: an error names `path` and the key. */
qr_status qr_train_config_read(const char *path, qr_train_config *cfg);
/* The same from text (`what` names it in messages); file names are kept as written, unchecked. */
qr_status qr_train_config_parse(const char *text, const char *what, qr_train_config *cfg);

/* Milestone epochs for `epochs` (round(fraction * epochs), strictly increasing, within 1..epochs-1
 * where possible). Returns their count. */
int qr_train_config_milestone_epochs(const qr_train_config *cfg, int *out, int cap);

/* One line describing the settings that matter for an architecture ("width 16, fusion add, ..."). */
void qr_train_config_describe(const qr_train_config *cfg, const char *arch, char *buf, size_t n);
/* Every setting that changes what training computes (given as qr_train_config_for made them), one "key: value" line each (all but threads,
 * which changes no result, and holdout, which the caller adds where it matters), to recognise a
 * resumed run's settings (crossval.h, learner.h). A buffer of QR_SETTINGS_MAX (8 KiB, learner.h)
 * holds it with the pipeline's lines. Returns what snprintf returns. */
int qr_train_config_fingerprint(const qr_train_config *cfg, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
