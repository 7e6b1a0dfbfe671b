/*
 * lesion_draw.h - the image input of one lesion in one epoch, as a draw that either side can
 * sample: the host (Logic/data: qr_patch_sample, qr_context_patch_sample) or the compute device
 * from a patch bank (Logic/nn/nn.h, qr_nn_patch_sample). Training draws the augmentation from
 * the lesion's own random stream, so both sides see the same augmentation; they differ only by
 * float rounding (the device interpolates and blurs in float, the host in double).
 *
 * Augmentation (learn_nn.c has the schedule):
 *   qsmrimnet, aprl-nn  data/patch.h: flip, affine (trilinear), blur, each with its probability
 *   rimnet              shift U{-2..2} in-plane and U{-1..1} along the slice axis, a flip along a
 *                       random axis with probability p_flip, and for rim+ lesions a random number
 *                       of in-plane quarter turns (rimnet_turns: or every lesion, or none); then
 *                       min-max rescaling to [-1, 1]
 *                       Published (Barquero et al. 2020), on 28^3 patches: 90/180/270 degree turns on
 *                       the three axes and +-2 voxel shifts. Here the window is the 16 x 32 x 32 patch
 *                       of the other networks, of 3 mm slices and 0.75 mm pixels (28 slices would
 *                       span 84 mm): a turn about an in-plane axis would lay the slices in-plane, so
 *                       turns are about the slice axis only, and shifts along it are +-1 slice (3 mm).
 */
#ifndef QR_LESION_DRAW_H
#define QR_LESION_DRAW_H

#include <stdint.h>

#include "../core/rng.h"
#include "../data/patch.h"
#include "../nn/nn.h"
#include "dataset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_lesion_draw {
    int context;          /* 1: RimNet context window (shift, flip, turns); 0: masked crop (aug) */
    int shift[3], flip, turns;
    int has_aug;          /* masked crop: 0 = exact voxel reads (aug.flip_axis still applies) */
    qr_augment aug;
} qr_lesion_draw;

/* Which context windows the RimNet augmentation turns (TRAIN.yaml rimnet_turns). */
typedef enum qr_turns { QR_TURNS_POSITIVES = 0, QR_TURNS_ALL, QR_TURNS_NONE, QR_TURNS_COUNT } qr_turns;
const char *qr_turns_name(qr_turns t); /* "positives", "all", "none" */
qr_turns qr_turns_parse(const char *s); /* a name above; anything else: positives */

/* The draw of one lesion: augment = 0 gives the plain input (with flip_axis, -1 none: the
 * test-time flips); otherwise the augmentation from `rng` (ac: the masked crop's probabilities;
 * p_flip, `turns` and the label for the context window; the same draws are taken whatever
 * `turns` says, so the random streams stay aligned). */
void qr_lesion_draw_make(int context, int label, int augment, const qr_augment_config *ac, qr_turns turns,
                         int flip_axis, qr_rng *rng, qr_lesion_draw *out);

/* The draws of a batch: row r is lesion idx[r] with label label[idx[r]], its draw taken from
 * random stream (seed, (epoch + 1) << 32 ^ idx[r]) - the lesion's own stream of that epoch. */
void qr_lesion_draws_make(int context, const int *label, const int64_t *idx, int64_t m, int augment,
                          const qr_augment_config *ac, qr_turns turns, int flip_axis, uint64_t seed, int epoch,
                          qr_lesion_draw *out);

/* Sample on the host: QR_PATCH_SIZE floats, unscaled (the network scales its input). */
void qr_lesion_draw_sample(const qr_lesion_crop *c, const qr_lesion_draw *dr, float *patch);

/* The same draw for the device sampler; crop = the crop's index in the bank. */
void qr_lesion_draw_job(const qr_lesion_crop *c, int64_t crop, const qr_lesion_draw *dr, qr_nn_patch_sample *out);

/* Batches: row r is lesion idx[r] of `crops` under draw dr[r]. Host sampling spreads the rows
 * over `threads` threads (0: all; the result does not depend on it); jobs name crop idx[r] (a bank
 * made by qr_dataset_patch_bank). */
void qr_lesion_draws_sample(const qr_lesion_crop *crops, const int64_t *idx, const qr_lesion_draw *dr, int64_t m,
                            int threads, float *patches);
void qr_lesion_draws_jobs(const qr_lesion_crop *crops, const int64_t *idx, const qr_lesion_draw *dr, int64_t m,
                          qr_nn_patch_sample *out);

/* A patch bank of n crops (both channels; bank index = crop index). */
qr_status qr_crops_patch_bank(qr_nn_context *ctx, const qr_lesion_crop *crops, int64_t n, qr_nn_patch_bank **out);

/* A patch bank of every lesion of the dataset (bank index = lesion index): the masked crops, or
 * the context windows when `context` is set. */
qr_status qr_dataset_patch_bank(qr_nn_context *ctx, const qr_dataset *d, int context, qr_nn_patch_bank **out);

#ifdef __cplusplus
}
#endif
#endif
