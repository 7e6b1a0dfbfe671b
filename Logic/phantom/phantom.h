/*
 * phantom.h - a simulated QSM + FLAIR cohort of multiple sclerosis lesions with known rim status.
 *
 * No public QSM data with paramagnetic-rim annotations exists, so training, evaluation, the demo
 * and the tests run on subjects made here. Everything that can be real is real; what is simulated
 * is said so in the annotation table.
 *
 *   real:       anatomy (one patient's MNI-space FLAIR and T1: tissue classes from T1 intensities,
 *               the FLAIR itself as the FLAIR background) and lesion shapes (the consensus lesion
 *               masks of the other patients, confluent lesions split) from the open_ms_data set
 *               (Lesjak et al. 2017, CC-BY; ExternalData/open_ms_data/PROVENANCE.md).
 *   simulated:  the susceptibility of tissue, veins and lesions (values from published QSM studies,
 *               see phantom_params.h), each subject's head pose and a mild smooth deformation, the
 *               placement of lesions in white matter, the rim of rim+ lesions and the confounders
 *               that make reading hard, and the QSM acquisition itself:
 *                 chi (0.75 mm isotropic)  --dipole kernel-->  field  --3 mm slices, noise-->
 *                 measured field  --thresholded k-space division (TKD)-->  QSM (0.75 x 0.75 x 3 mm)
 *               so that streaking, blooming and partial-volume loss come from the physics.
 *
 * Output grid: 256 x 256 x 48 voxels of 0.75 x 0.75 x 3 mm (192 x 192 x 144 mm, the whole brain),
 * axial slices, index axes along LPS (i -> patient left, j -> posterior, k -> superior; the usual
 * DICOM axial orientation), centred on the brain. Per subject:
 *   QSM     float32, ppb relative to normal-appearing white matter (0 outside the brain mask)
 *   FLAIR   float32, arbitrary units (the real FLAIR, white matter ~ 90)
 *   labels  int32, one label 1..n per lesion (touching lesions keep separate labels)
 *   table   lesion_id rim + the generator's truth (qr_phantom_lesion below)
 *
 * Determinism: a subject is a function of (seed, cohort size, subject index) and this version;
 * it has its own random stream, so the bytes written do not depend on the number of threads.
 *
 * Usage:
 *   qr_phantom_model *m;
 *   QR_TRY(qr_phantom_model_load(NULL, &m));          // shipped data, found automatically
 *   qr_phantom_plan plan;
 *   QR_TRY(qr_phantom_plan_cohort(seed, 172, &plan)); // lesions and rim+ lesions per subject
 *   qr_phantom_subject s;
 *   QR_TRY(qr_phantom_subject_generate(m, seed, 0, plan.n_lesions[0], plan.n_rimpos[0], &s));
 *   ... s.qsm, s.flair, s.labels, s.lesions[] ...
 *   qr_phantom_subject_free(&s); qr_phantom_plan_free(&plan); qr_phantom_model_free(m);
 * or the whole cohort on disk: qr_phantom_cohort_write().
 */
#ifndef QR_PHANTOM_H
#define QR_PHANTOM_H

#include <stdint.h>

#include "../core/volume.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the model: anatomy + lesion library, loaded once, read-only, shared by threads ---- */
typedef struct qr_phantom_model qr_phantom_model;

/* Load the anatomy and build the lesion library from `data_dir` (a folder holding masks/ and
 * patient07/ as in ExternalData/open_ms_data). NULL: $QSMRIM_PHANTOM_DATA, then the installed
 * share/qsmrim/open_ms_data, then the source tree's ExternalData/open_ms_data. */
qr_status qr_phantom_model_load(const char *data_dir, qr_phantom_model **out);
void qr_phantom_model_free(qr_phantom_model *m);

/* The data folder that qr_phantom_model_load(NULL) would use. */
qr_status qr_phantom_data_dir(char *out, size_t outlen);

/* Number of library lesions (after splitting confluent lesions and the size filter), and the
 * volume (mm^3) and source ("patientNN:index") of one of them. */
int qr_phantom_library_size(const qr_phantom_model *m);
double qr_phantom_library_volume(const qr_phantom_model *m, int index);
const char *qr_phantom_library_source(const qr_phantom_model *m, int index);

/* ---- the cohort plan: how many lesions and rim+ lesions each subject gets ---- */
typedef struct qr_phantom_plan {
    int n_subjects;
    int *n_lesions; /* n_subjects counts */
    int *n_rimpos;  /* n_subjects counts, n_rimpos[s] <= n_lesions[s] */
} qr_phantom_plan;

/* Draw the per-subject counts from `seed` (stream 0) and adjust them so that the totals are the
 * paper's rates scaled to the cohort size: round(N * 4163/172) lesions, round(N * 177/172) rim+. */
qr_status qr_phantom_plan_cohort(uint64_t seed, int n_subjects, qr_phantom_plan *plan);
void qr_phantom_plan_free(qr_phantom_plan *plan);

/* ---- one subject ---- */
enum { QR_PHANTOM_NAME = 48 };

/* Lesion appearance on QSM (what was simulated inside the lesion). */
typedef enum qr_phantom_appearance {
    QR_PHANTOM_APP_RIM = 0,     /* rim+: paramagnetic rim on >= 50% of the edge, core -10..+10 ppb */
    QR_PHANTOM_APP_ISO,         /* rim-: isointense (chronic lesion) */
    QR_PHANTOM_APP_HYPO,        /* rim-: hypointense */
    QR_PHANTOM_APP_HYPER,       /* rim-: diffusely hyperintense (early lesion) */
    QR_PHANTOM_APP_PARTIAL_RIM, /* rim-: a paramagnetic arc on < 50% of the edge */
    QR_PHANTOM_APP_COUNT
} qr_phantom_appearance;
const char *qr_phantom_appearance_name(qr_phantom_appearance a); /* "rim", "iso", ... */

/* Confounders (bit flags; the paper's failure modes). */
enum {
    QR_PHANTOM_CONF_FAINT_RIM = 1,          /* rim+ with a faint, narrow rim on little more than half the edge */
    QR_PHANTOM_CONF_HETEROGENEOUS_RIM = 2,  /* rim+ with a patchy rim and a patchy hyperintense core */
    QR_PHANTOM_CONF_VEIN_EDGE = 4,          /* a vein runs along the lesion's edge */
    QR_PHANTOM_CONF_TOUCHING = 8,           /* placed touching another lesion */
    QR_PHANTOM_CONF_CENTRAL_VEIN = 16       /* a vein runs through the lesion (central vein sign) */
};
/* "none" or the flags joined by '+' ("vein_edge+touching") into buf. */
const char *qr_phantom_confounders_string(unsigned flags, char *buf, size_t buflen);

/* One lesion's truth: a row of the annotation table. */
typedef struct qr_phantom_lesion {
    int32_t id;                 /* label in the label map (1..n, numbered by first voxel in memory order) */
    int rim;                    /* 1 = rim+, 0 = rim- */
    qr_phantom_appearance appearance;
    unsigned confounders;       /* QR_PHANTOM_CONF_* flags */
    double rim_coverage;        /* share of the lesion's in-plane edge voxels carrying the simulated rim
                                   (measured on the output grid; 0 without rim) */
    double rim_ppb;             /* simulated rim susceptibility above NAWM (0 without rim) */
    double rim_width_mm;        /* simulated rim thickness inside the lesion edge (0 without rim) */
    double core_ppb;            /* simulated mean susceptibility of the lesion core */
    double rim_contrast_ppb;    /* measured on the generated QSM: mean over the rim voxels minus mean
                                   over the other lesion voxels (0 without rim) */
    int64_t voxels;             /* voxels in the label map */
    double volume_mm3;          /* voxels x voxel volume */
    char source[QR_PHANTOM_NAME]; /* library lesion it was made from: "patient03:12" */
} qr_phantom_lesion;

typedef struct qr_phantom_subject {
    qr_volume qsm;    /* float32, ppb */
    qr_volume flair;  /* float32 */
    qr_volume labels; /* int32, 0 = background, 1..n lesions */
    qr_volume chi;    /* float32 truth: noise-free susceptibility on the output grid (ppb) */
    qr_volume rim;    /* int32 truth: lesion id on the voxels of its simulated rim, else 0 */
    int n_lesions;
    qr_phantom_lesion *lesions; /* n_lesions rows, sorted by id */
} qr_phantom_subject;

/* Generate subject `index` (0-based) of a cohort drawn from `seed` with the given counts.
 * `cancel` (may be NULL) is polled; when it becomes non-zero the call returns QR_ERR_CANCELLED. */
qr_status qr_phantom_subject_generate(const qr_phantom_model *m, uint64_t seed, int index, int n_lesions,
                                      int n_rimpos, const volatile int *cancel, qr_phantom_subject *out);
void qr_phantom_subject_free(qr_phantom_subject *s);

/* Write the annotation table (TSV, atomically): header
 * lesion_id rim appearance confounders rim_coverage rim_ppb rim_width_mm core_ppb rim_contrast_ppb
 * voxels volume_mm3 source */
qr_status qr_phantom_annotations_write(const qr_phantom_subject *s, const char *path);

/* ---- the cohort on disk ---- */
typedef struct qr_phantom_options {
    int n_subjects;       /* >= 1 */
    uint64_t seed;
    int threads;          /* worker threads (>= 1); the output does not depend on it */
    const char *data_dir; /* NULL: see qr_phantom_model_load */
    int write_truth;      /* also write <subject>_chi.nii.gz and <subject>_rim.nii.gz */
    int overwrite;        /* allowed to replace an existing cohort in the folder */
    /* progress (called from the calling thread), may be NULL */
    void (*progress)(int done, int total, void *user);
    void *progress_user;
    const volatile int *cancel; /* polled; non-zero stops after the subjects being written */
} qr_phantom_options;

qr_phantom_options qr_phantom_options_default(void);

/* Totals of a written cohort. */
typedef struct qr_phantom_summary {
    int n_subjects;
    int64_t n_lesions;
    int64_t n_rimpos;
    int max_rimpos_per_subject;
    int subjects_without_rimpos;
} qr_phantom_summary;

/* Generate the cohort into `out_dir`:
 *   out_dir/phantom_info.txt                 settings, totals, attribution (written first and last)
 *   out_dir/sub-NNN/sub-NNN_qsm.nii.gz       QSM
 *   out_dir/sub-NNN/sub-NNN_flair.nii.gz     FLAIR
 *   out_dir/sub-NNN/sub-NNN_lesions.nii.gz   label map
 *   out_dir/sub-NNN/sub-NNN_annotations.tsv  annotation table
 *   out_dir/cohort.tsv                       manifest, written last (its presence marks a complete cohort)
 * Folder rules: a missing or empty folder is used; a folder holding cohort.tsv is refused unless
 * `overwrite` (cohort.tsv is then removed first, so an interrupted run is never mistaken for a
 * complete one); a non-empty folder without cohort.tsv is used only if it holds phantom_info.txt
 * (an interrupted run) or `overwrite` is set. Files other than the generator's own are never touched. */
qr_status qr_phantom_cohort_write(const char *out_dir, const qr_phantom_options *opt, qr_phantom_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
