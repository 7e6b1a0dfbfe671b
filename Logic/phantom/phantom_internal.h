/*
 * phantom_internal.h - the pieces of the phantom generator (not a public API).
 *
 * Frames and grids (mm):
 *   MNI      the anatomy's frame: RAS millimetres of the open_ms_data images (182 x 218 x 182, 1 mm).
 *   subject  RAS millimetres of the generated subject; the output grid is centred on (0,0,0).
 *   pose     subject -> MNI: mni = cb + A (s - t) + disp(s)   (ph_pose; A = rotation * scale).
 *   fine     the simulation grid: PH_NX x PH_NY x (PH_NZ * PH_SUB) voxels of PH_H mm, the same
 *            in-plane voxels as the output, PH_SUB thin slices per output slice.
 *            index (i, j, m), linear i + PH_NX (j + PH_NY m); subject position
 *            s = (-(ox + h i), -(oy + h j), oz + h m)   (LPS index axes, as the output).
 *   output   PH_NX x PH_NY x PH_NZ, voxel (i, j, k) covers fine slices PH_SUB k .. PH_SUB k + 3.
 */
#ifndef QR_PHANTOM_INTERNAL_H
#define QR_PHANTOM_INTERNAL_H

#include <stdint.h>

#include "../core/rng.h"
#include "phantom.h"
#include "phantom_params.h"

/* ---- anatomy (anatomy.c) ---- */
enum { PH_CH_CHI = 0, PH_CH_BRAIN, PH_CH_WM, PH_CH_CSF, PH_CH_FLAIR, PH_NCH };

typedef struct ph_anatomy {
    int64_t n[3];          /* voxels along the anatomy's index axes */
    double ras_to_ijk[12]; /* row-major 3x4: ijk = M (ras, 1) */
    float *maps;           /* n0 n1 n2 x PH_NCH interleaved: chi (ppb), brain (0/1), wm, csf (fractions), flair */
    uint8_t *near;         /* n0 n1 n2: 1 within 2 voxels of the brain (where sampling can give non-zero) */
    double flair_nawm;     /* median FLAIR of normal-appearing white matter */
    double brain_center[3];/* MNI centre of the brain's bounding box */
} ph_anatomy;

qr_status ph_anatomy_load(const char *dir, ph_anatomy *a);
void ph_anatomy_free(ph_anatomy *a);
/* Trilinear sample of all channels at an MNI position; outside the volume: zeros. */
void ph_anatomy_sample(const ph_anatomy *a, const double mni[3], float out[PH_NCH]);

/* ---- lesion library (library.c) ---- */
typedef struct ph_lib_lesion {
    int n[3];              /* patch size in the mask's voxels (1 mm), with one empty voxel around */
    uint8_t *mask;         /* n0 n1 n2, 1 = lesion */
    double centroid_ijk[3];/* centre of mass in patch index coordinates */
    double centroid_mni[3];/* the same point in MNI mm */
    double ras_to_ijk[9];  /* linear part: patch index offset = M (ras offset) */
    double radius_mm;      /* distance from the centre of mass to the farthest voxel corner */
    double volume_mm3;
    char source[QR_PHANTOM_NAME];
} ph_lib_lesion;

typedef struct ph_library {
    int n;
    ph_lib_lesion *items;
    int n_rimpos;          /* indices of lesions eligible as rim+ (volume >= PH_RIMPOS_MIN_MM3) */
    int *rimpos_idx;
    double *rimneg_cdf;    /* n: cumulative weights volume^PH_RIMNEG_SIZE_POWER */
} ph_library;

qr_status ph_library_build(const char *mask_dir, ph_library *lib);
void ph_library_free(ph_library *lib);
int ph_library_draw(const ph_library *lib, int rimpos, qr_rng *r);

struct qr_phantom_model {
    ph_anatomy anat;
    ph_library lib;
};

/* ---- distance transform (edt.c) ---- */
/* Squared Euclidean distance (mm^2) from every voxel with fg != 0 to the nearest voxel with
 * fg == 0 (0 on background voxels; 1e20 if there is no background). sp: voxel size per axis. */
qr_status ph_edt_sq(const uint8_t *fg, const int64_t n[3], const double sp[3], float *out);

/* ---- subject pose (pose.c) ---- */
typedef struct ph_pose {
    double cb[3];     /* MNI point at the subject origin */
    double A[9], Ainv[9];
    double t[3];
    int gn[3];        /* deformation control grid */
    double g0[3];     /* subject position of node (0,0,0) */
    double gs;        /* node spacing, mm */
    float *disp;      /* gn0 gn1 gn2 x 3, mm */
} ph_pose;

qr_status ph_pose_draw(const ph_anatomy *a, qr_rng *r, ph_pose *p);
void ph_pose_free(ph_pose *p);
void ph_pose_to_mni(const ph_pose *p, const double s[3], double mni[3]);
/* The same for many points of one line along the subject's x axis (fixed y, z): prepare the
 * deformation at the line's node columns once (nodes: gn[0] x 3), then map points of the line. */
void ph_pose_row_prepare(const ph_pose *p, double sy, double sz, double *nodes);
void ph_pose_row_to_mni(const ph_pose *p, const double *nodes, const double s[3], double mni[3]);
/* Approximate inverse (ignores the deformation, which stays below ~3 mm). */
void ph_pose_from_mni(const ph_pose *p, const double mni[3], double s[3]);

/* ---- per-subject working state (subject.c) ---- */
typedef struct ph_work {
    int64_t nf;        /* fine voxels */
    int64_t nc;        /* output voxels */
    int nzf;           /* fine slices */
    double origin_lps[3]; /* fine voxel (0,0,0), LPS mm */
    float *chi;        /* fine susceptibility, ppb */
    float *flair;      /* fine FLAIR */
    uint8_t *brain;    /* fine brain mask 0/1 */
    uint8_t *wm, *csf; /* fine tissue fractions x 255 */
    int16_t *lid;      /* fine lesion index + 1 (0: none) */
    uint8_t *locc;     /* fine lesion occupancy x 255 of lesion lid */
    float *rimc;       /* output grid: rim susceptibility (ppb) */
    int16_t *rimo;     /* output grid: lesion index + 1 owning rimc */
    ph_pose pose;
} ph_work;

static inline void ph_fine_to_subject(const ph_work *w, double i, double j, double m, double s[3]) {
    s[0] = -(w->origin_lps[0] + PH_H * i);
    s[1] = -(w->origin_lps[1] + PH_H * j);
    s[2] = w->origin_lps[2] + PH_H * m;
}
static inline void ph_subject_to_fine(const ph_work *w, const double s[3], double f[3]) {
    f[0] = (-s[0] - w->origin_lps[0]) / PH_H;
    f[1] = (-s[1] - w->origin_lps[1]) / PH_H;
    f[2] = (s[2] - w->origin_lps[2]) / PH_H;
}

/* One lesion being made (lesions.c). */
typedef struct ph_lesion {
    int lib;                  /* library index */
    int rim;                  /* 1 = rim+ */
    qr_phantom_appearance app;
    unsigned conf;            /* QR_PHANTOM_CONF_* */
    double core_ppb, tex_ppb, hetero_core_ppb;
    double rim_ppb, rim_w_in, rim_w_out, rim_cover_target, rim_het;
    double flair_ratio;
    /* placement: mni = c_mni + R * scale * flip(q), q = library offset from its centre of mass */
    double R[9], scale;
    int flip;
    double c_mni[3];
    /* rasterised on the fine grid */
    int64_t b0[3], b1[3];     /* inclusive fine bounding box of occ */
    float *occ;               /* occupancy 0..1 over the box */
    double centroid[3];       /* subject mm */
    double radius_mm;
    int64_t fine_vox, own_out_vox;
    /* results */
    double rim_coverage;
    double rim_contrast;
    int64_t out_vox;
    int32_t final_id;
    int touching_with;        /* index of the lesion it was placed against, -1 */
} ph_lesion;

/* Random parameters of a lesion of the given class (no placement yet). */
void ph_lesion_draw_params(const ph_library *lib, int rimpos, qr_rng *r, ph_lesion *L);
/* Try to place L (its lib, transform and c_mni already drawn) on the fine grid: rasterise, check
 * white matter and overlaps; returns 1 and fills occ/box on success, 0 if rejected. `touch` >= 0
 * requires contact with that lesion (and no overlap). */
int ph_lesion_rasterise(const qr_phantom_model *m, ph_work *w, ph_lesion *les, int touch);
/* Paint an accepted lesion: susceptibility (core, texture, rim), FLAIR, the lesion index map and
 * the output-grid rim truth. Measures the rim coverage and adapts the rim to the class. */
qr_status ph_lesion_paint(const qr_phantom_model *m, ph_work *w, ph_lesion *les, int idx, qr_rng *r);

/* ---- veins (veins.c) ---- */
/* Add medullary, deep and cortical veins to w->chi. */
void ph_veins_background(const qr_phantom_model *m, ph_work *w, qr_rng *r);
/* A vein through the lesion's centre / along its edge. */
void ph_vein_central(ph_work *w, const ph_lesion *les, qr_rng *r);
void ph_vein_edge(ph_work *w, const ph_lesion *les, int idx, qr_rng *r);
/* Rasterise a tube (polyline of np points, subject mm, one radius) into w->chi with partial
 * volume; chi_ppb is the blood susceptibility. */
void ph_tube(ph_work *w, const double *pts, int np, double radius, double chi_ppb);

/* ---- acquisition (dipole.c) ---- */
/* From the fine susceptibility (w->chi) to the QSM on the output grid: dipole field, averaging
 * into thick slices, noise, masking, TKD inversion, re-referencing to NAWM. `mask` (output grid,
 * 0/1) is the QSM brain mask, `nawm` (0/1) the reference voxels. qsm: PH_NX*PH_NY*PH_NZ. */
qr_status ph_acquire_qsm(ph_work *w, const uint8_t *mask, const uint8_t *nawm, qr_rng *r, float *qsm);

/* ---- small helpers (util.c) ---- */
/* snprintf that fails (QR_ERR_INVALID_ARG) instead of truncating. */
qr_status ph_format(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
double ph_gamma(qr_rng *r, double shape);           /* Gamma(shape, 1) */
int ph_poisson(qr_rng *r, double lambda);
double ph_beta(qr_rng *r, double a, double b);
double ph_clamp(double x, double lo, double hi);
/* Rotation matrix (row-major) from angles about x, y, z (radians): R = Rz Ry Rx. */
void ph_rotation(double ax, double ay, double az, double R[9]);
void ph_mat3_inverse(const double M[9], double out[9]);
void ph_mat3_mul(const double A[9], const double B[9], double out[9]);

#endif
