/*
 * rx_internal.h - shared definitions of the radiomics engine (not part of the public API).
 *
 * Axis convention inside the engine: PyRadiomics works on numpy arrays of shape (z, y, x), i.e.
 * (k, j, i) of a qr_volume, with x fastest in memory. All arrays here use that layout, so
 * "dimension 0" is the slice axis k, dimension 2 the in-plane axis i, exactly as in PyRadiomics'
 * angles, force2Ddimension and spacing order (pixelSpacing = GetSpacing()[::-1]).
 *
 * Symbols used in comments throughout:
 *   Np   number of voxels in the region of interest (ROI)
 *   Ng   number of gray levels after discretisation (the highest level present)
 *   Na   number of angles (neighbour directions)
 *   eps  numpy.spacing(1) = 2.220446049250313e-16
 */
#ifndef RX_INTERNAL_H
#define RX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "radiomics.h"

#define RX_EPS 2.220446049250313e-16 /* numpy.spacing(1) */
#define RX_MAX_DIST 16               /* distances listed in a parameter file */
#define RX_MAX_TYPES 8               /* image types */
#define RX_MAX_FEATURES 32           /* features of one class */

/* ---------------------------------------------------------------- wavelets */
typedef struct rx_wavelet_filter {
    const char *name; /* PyWavelets name, "coif1" */
    int len;          /* filter length F (even) */
    double lo[12], hi[12];   /* decomposition low/high pass, double tables */
    float lo_f[12], hi_f[12]; /* PyWavelets' single-precision tables */
} rx_wavelet_filter;

extern const rx_wavelet_filter rx_wavelet_filters[]; /* terminated by name == NULL */
const rx_wavelet_filter *rx_wavelet_find(const char *name);

/* ---------------------------------------------------------------- settings */
typedef enum rx_weighting {
    RX_WEIGHT_NONE = 0,     /* weightingNorm None: features per angle, then averaged */
    RX_WEIGHT_MANHATTAN,
    RX_WEIGHT_EUCLIDEAN,
    RX_WEIGHT_INFINITY,
    RX_WEIGHT_NO_WEIGHTING, /* 'no_weighting' and any other string: weight 1, matrices summed */
} rx_weighting;

typedef enum rx_reseg_mode { RX_RESEG_ABSOLUTE = 0, RX_RESEG_RELATIVE, RX_RESEG_SIGMA } rx_reseg_mode;

/* One flat set of PyRadiomics settings, defaults as RadiomicsFeatureExtractor._getDefaultSettings()
 * and the feature classes' kwargs.get(...) defaults. */
typedef struct rx_settings {
    /* region of interest */
    int32_t label;              /* label [1] */
    int min_roi_dims;           /* minimumROIDimensions [2] */
    int64_t min_roi_size;       /* minimumROISize [None = 0]: ROI must have MORE voxels than this */
    int n_reseg;                /* resegmentRange: 0 (None), 1 or 2 thresholds */
    double reseg[2];
    rx_reseg_mode reseg_mode;   /* resegmentMode ['absolute'] */
    int reseg_shape;            /* resegmentShape [False] */
    int normalize;              /* normalize [False] */
    double normalize_scale;     /* normalizeScale [1] */
    int has_outliers;           /* removeOutliers [None] */
    double outliers;
    int precrop;                /* preCrop [False] */
    int pad_distance;           /* padDistance [5] (used by preCrop) */
    double geometry_tolerance;  /* geometryTolerance [None = 0: the project's grid tolerance] */
    /* discretisation and feature classes */
    double bin_width;           /* binWidth [25] */
    int bin_count;              /* binCount [None = 0] */
    double voxel_array_shift;   /* voxelArrayShift [0] */
    int symmetrical_glcm;       /* symmetricalGLCM [True] */
    rx_weighting weighting;     /* weightingNorm [None] */
    int n_dist;                 /* distances [[1]] */
    int dist[RX_MAX_DIST];
    double gldm_a;              /* gldm_a [0] */
    int force2d;                /* force2D [False] */
    int force2d_dim;            /* force2Ddimension [0] (numpy axis: 0 = slice axis) */
    /* wavelet image type */
    const rx_wavelet_filter *wavelet; /* wavelet ['coif1'] */
    int level;                  /* level [1] */
    int start_level;            /* start_level [0] */
} rx_settings;

void rx_settings_default(rx_settings *s);

/* ---------------------------------------------------------------- feature classes */
typedef enum rx_class_id {
    RX_SHAPE = 0,
    RX_FIRSTORDER,
    RX_GLCM,
    RX_GLRLM,
    RX_GLSZM,
    RX_GLDM,
    RX_NGTDM,
    RX_CLASS_COUNT
} rx_class_id;

enum { RX_FEAT_ENABLED = 0, RX_FEAT_DEPRECATED = 1, RX_FEAT_NO_VALUE = 2 };

typedef struct rx_class_info {
    const char *name;           /* "glcm" */
    int n;                      /* number of feature functions (incl. deprecated ones) */
    const char *const *names;   /* in PyRadiomics' order: sorted by method name */
    const unsigned char *flags; /* RX_FEAT_DEPRECATED: not enabled by "all"; RX_FEAT_NO_VALUE:
                                   deprecated and raising DeprecationWarning (no output) */
} rx_class_info;

extern const rx_class_info rx_shape_info, rx_firstorder_info, rx_glcm_info, rx_glrlm_info, rx_glszm_info,
    rx_gldm_info, rx_ngtdm_info;
/* class info by id; id of a class name (-1 if unknown) */
const rx_class_info *rx_class_get(rx_class_id c);
int rx_class_find(const char *name);

/* ---------------------------------------------------------------- the loaded configuration */
typedef enum rx_image_kind { RX_IMAGE_ORIGINAL = 0, RX_IMAGE_WAVELET } rx_image_kind;

typedef struct rx_image_type {
    rx_image_kind kind;
    rx_settings s; /* global settings updated with this image type's custom settings */
} rx_image_type;

typedef struct rx_class_sel {
    rx_class_id cls;
    int n;                     /* features in output order */
    int ids[RX_MAX_FEATURES];  /* indices into rx_classes[cls].names */
} rx_class_sel;

struct qr_radiomics {
    rx_settings global;
    int n_types;
    rx_image_type types[RX_MAX_TYPES];
    int n_classes;
    rx_class_sel classes[RX_CLASS_COUNT]; /* parameter-file order, shape included */
    int64_t count;                        /* output features */
    char **names;                         /* count names */
};

/* parser (params.c): fills everything but names/count */
qr_status rx_parse_params(const char *text, const char *what, qr_radiomics *r);

/* ---------------------------------------------------------------- one image, cropped to the ROI */
/* A (derived) image cropped to the ROI bounding box, as a feature class receives it. */
typedef struct rx_image {
    int64_t size[3];       /* (nz, ny, nx) bounding-box size */
    const double *values;  /* gray values, x fastest; only ROI voxels are read */
    const uint8_t *mask;   /* 1 inside the ROI */
    int64_t np;            /* ROI voxel count Np */
    double spacing[3];     /* (sz, sy, sx) mm */
    int values_f32;        /* the values are float32 numbers (PyRadiomics held a float32 array) */
} rx_image;

/* Discretised ROI (imageoperations.binImage): gray levels 1..ng, 0 outside the ROI. */
typedef struct rx_binned {
    int32_t *gl;      /* bounding-box array */
    int ng;           /* highest gray level present (PyRadiomics' coefficient Ng) */
    int n_present;    /* number of distinct gray levels present */
    int *present;     /* the distinct levels, ascending (PyRadiomics' grayLevels) */
    uint8_t *is_present; /* [ng + 1] */
} rx_binned;

/* binning.c */
/* Most gray levels a fixed bin width may give (PyRadiomics has no limit). The texture classes
 * hold tables indexed by gray level; a region whose values span 10^6 bin widths (a corrupt voxel,
 * values in the wrong units) is refused at once instead of allocating and scanning millions of
 * empty levels. The presets' ranges give tens of levels. */
#define RX_MAX_GRAY_LEVELS 1000000
/* Bin edges as imageoperations.getBinEdges() computes them for `values` (n > 0): fixed bin width
 * (numpy.arange from the floor-aligned minimum) or fixed bin count (numpy.histogram's linspace
 * edges, last edge + 1). edges_f32: round the binCount edges to float32 as numpy does for a
 * float32 array. Returns the number of edges in *nedges; *edges is malloc'ed. */
qr_status rx_bin_edges(const double *values, int64_t n, const rx_settings *s, int edges_f32, double **edges,
                       int64_t *nedges);
/* numpy.digitize(x, edges) for increasing edges: i such that edges[i-1] <= x < edges[i]. */
int64_t rx_digitize(double x, const double *edges, int64_t nedges);
qr_status rx_bin_image(const rx_image *img, const rx_settings *s, rx_binned *out);
void rx_binned_free(rx_binned *b);

/* numpy.sum / numpy.mean of a contiguous float64 array, in numpy's pairwise order (npmath.c). */
double rx_np_sum(const double *a, int64_t n);
double rx_np_mean(const double *a, int64_t n);

/* numpy.percentile(x, q) (linear interpolation) of a sorted array. */
double rx_percentile_sorted(const double *sorted, int64_t n, double q);

/* ---------------------------------------------------------------- angles (cmatrices.c) */
/* Angles of PyRadiomics' generate_angles for a bounding box of `size`, the given distances,
 * mono- or bi-directional, excluding moves along force2d_dim (or -1). Returns Na; *angles holds
 * Na x 3 offsets (dz, dy, dx), malloc'ed. */
int rx_angles(const int64_t size[3], const int *dist, int n_dist, int bidirectional, int force2d_dim,
              int **angles);
/* rx_angles for a texture class (its name in messages) under the settings' force2D. No angle
 * (a region one voxel thick in every in-plane direction) is QR_ERR_EMPTY, as PyRadiomics fails
 * the extraction ("Error getting angle count"); *na is then 0 and *angles NULL. */
qr_status rx_class_angles(const char *cls, const int64_t size[3], const int *dist, int n_dist, int bidirectional,
                          const struct rx_settings *s, int **angles, int *na);

/* ---------------------------------------------------------------- feature classes */
/* Each computes every feature of its class into vals[rx_classes[cls].n] (NaN where PyRadiomics
 * yields NaN); `want` (same length) may skip expensive ones (0 = not needed). */
qr_status rx_firstorder(const rx_image *img, const rx_settings *s, const unsigned char *want, double *vals);
qr_status rx_glcm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                  double *vals);
qr_status rx_glrlm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                   double *vals);
qr_status rx_glszm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                   double *vals);
qr_status rx_gldm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                  double *vals);
qr_status rx_ngtdm(const rx_image *img, const rx_binned *b, const rx_settings *s, const unsigned char *want,
                   double *vals);
/* shape: mask is the ROI bounding-box crop; spacing (sz, sy, sx) */
qr_status rx_shape(const uint8_t *mask, const int64_t size[3], const double spacing[3], const unsigned char *want,
                   double *vals);

/* MCC's second largest eigenvalue of Q for one normalised GLCM p (n x n gray levels present, n >= 2)
 * with marginals px, py (glcm.c). Up to RX_MCC_GENERAL_MAX levels as PyRadiomics computes it
 * (numpy.linalg.eigvals of Q, sorted as numpy sorts complex numbers: returns 1 when the spectrum came
 * out complex); beyond, from a symmetric matrix with the same spectrum: always real (returns 0),
 * 10-15 times faster at 320-1000 levels (BENCHMARKS.md). q: n*n + 1 doubles, wr, wi: n + 1 each. -1 no result, -2 out of memory. */
#define RX_MCC_GENERAL_MAX 128
int rx_mcc_eigenvalue(const double *p, const double *px, const double *py, int n, double *q, double *wr, double *wi,
                      double *l2re, double *l2im);

/* ---------------------------------------------------------------- small linear algebra (eigen.c) */
/* Eigenvalues of a general real n x n matrix (row-major, destroyed): wr/wi real and imaginary
 * parts. Returns 0 on success, -1 if the QR iteration did not converge, -2 out of memory. */
int rx_eigenvalues_general(double *a, int n, double *wr, double *wi);
/* The k-th smallest (k = 0 .. n-1, counted with multiplicity) eigenvalue of a symmetric n x n matrix
 * (row-major, both triangles, destroyed), to within a few units in the last place of the largest
 * eigenvalue's magnitude: Householder tridiagonalisation, then bisection. Returns 0, -1 for a bad
 * k, -2 out of memory. */
int rx_eigenvalue_symmetric(double *a, int n, int k, double *out);
/* Eigenvalues of a symmetric 3x3 matrix, ascending. */
void rx_eigenvalues_sym3(const double a[9], double w[3]);

/* ---------------------------------------------------------------- wavelet transform (wavelet.c) */
/* One working volume (whole image, or the preCrop box) in numpy order and a box inside it. */
typedef struct rx_swt_request {
    int64_t dims[3];      /* working volume (nz, ny, nx) */
    int64_t lo[3], hi[3]; /* inclusive output box (the ROI bounding box) in working coordinates */
    int naxes;            /* 3, or 2 with force2D */
    int axes[3];          /* numpy axes in transform order: (2, 1, 0), or without force2d_dim */
    const rx_wavelet_filter *w;
    int level, start_level;
    int single;           /* 1: PyWavelets' float32 arithmetic; 0: float64 */
} rx_swt_request;

/* Reader of the working volume: value at working coordinates (z, y, x). */
typedef double (*rx_voxel_fn)(const void *ctx, int64_t z, int64_t y, int64_t x);

/* Number of output images: level * (2^naxes - 1) details + 1 approximation. */
int rx_swt_count(const rx_swt_request *q);
/* Name suffix of output image n ("LLH", ..., approximation last) and its level (1-based). */
void rx_swt_name(const rx_swt_request *q, int n, char *name, int *level);
/* Run the transform; out[n] receives output image n over the box (x fastest), malloc'ed by the
 * caller with box size each. *nonfinite counts non-finite input voxels read. */
qr_status rx_swt(const rx_swt_request *q, rx_voxel_fn get, const void *ctx, double **out, int64_t *nonfinite);

#endif
