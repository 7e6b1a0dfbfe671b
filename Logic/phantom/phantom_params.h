/*
 * phantom_params.h - every number the phantom generator uses, with where it comes from.
 *
 * Susceptibilities are in ppb relative to normal-appearing white matter (NAWM). Sources:
 *   [Q]  the project's notes on published QSM values (Chen et al. Radiology 2014; Zhang AJNR 2019;
 *        Wisnieff JMRI 2015; Harrison AJNR 2016; Jain MRM 2012; Barquero 2020; the QSMRim-Net
 *        paper), summarised in README.md "Phantom cohort";
 *   [M]  measured here on the open_ms_data masks and images;
 *   [A]  assumption (no reachable source); chosen to look like clinical 3 T QSM and stated as such.
 */
#ifndef QR_PHANTOM_PARAMS_H
#define QR_PHANTOM_PARAMS_H

/* ---- grids ---- */
#define PH_NX 256          /* output grid: 256 x 256 x 48 voxels of 0.75 x 0.75 x 3 mm [QSMRim-Net] */
#define PH_NY 256
#define PH_NZ 48
#define PH_H 0.75          /* in-plane voxel size and the isotropic simulation grid spacing, mm */
#define PH_SLICE 3.0       /* slice thickness, mm */
#define PH_SUB 4           /* simulation slices per output slice (3 / 0.75) */

/* ---- cohort [Q: QSMRim-Net, 172 patients, 4163 lesions, 177 rim+] ---- */
#define PH_PAPER_SUBJECTS 172
#define PH_PAPER_LESIONS 4163
#define PH_PAPER_RIMPOS 177
#define PH_LESIONS_NB_R 3.0      /* lesions per subject ~ negative binomial, dispersion r [A] */
#define PH_LESIONS_MIN 5         /* per subject [A] */
#define PH_LESIONS_MAX 90
#define PH_RIMPOS_GAMMA_K 0.35   /* rim+ per subject ~ Poisson(Gamma(k)) scaled by the lesion load:
                                    ~65% of subjects without rim+, a tail to ~15-20 [A, fits the
                                    paper's skewed histogram] */
#define PH_RIMPOS_MAX_SHARE 0.7  /* at most this share of a subject's lesions are rim+ [A] */
#define PH_RIMPOS_MAX 20         /* and at most this many (the paper's histogram ends near 17) */

/* ---- lesion library [M: open_ms_data consensus masks, 1 mm MNI] ---- */
#define PH_LIB_MIN_MM3 10.0      /* smaller components are not used (about 6 output voxels) */
#define PH_LIB_MAX_MM3 3000.0    /* larger (unsplittable confluent) components are not used */
#define PH_SPLIT_MIN_MM3 300.0   /* components at least this large are examined for confluence */
#define PH_SPLIT_CORE_MIN_VOX 8  /* a distance-map core must have this many voxels to seed a lesion */
#define PH_RIMNEG_SIZE_POWER (-0.3) /* rim- lesions drawn with weight volume^p: mean 101 +- 224 mm^3,
                                       as rim- 103 +- 232 mm^3 [Q: Barquero 2020] */
#define PH_RIMPOS_MIN_MM3 50.0   /* rim+ lesions drawn uniformly from library lesions >= this:
                                    mean 335 +- 435 mm^3, as rim+ 325 +- 410 mm^3 [Q] */
#define PH_SCALE_MIN 0.88        /* random isotropic scaling of a library lesion [A] */
#define PH_SCALE_MAX 1.12
#define PH_ROT_DEG 15.0          /* random rotation about each axis, +- degrees [A] */
#define PH_MIN_OUT_VOXELS 4      /* a placed lesion keeps at least this many output voxels */
#define PH_WM_SHARE_MIN 0.6      /* share of a lesion's voxels that must lie in white matter [A] */
#define PH_CSF_SHARE_MAX 0.1     /* ... and at most this share in CSF */

/* ---- tissue susceptibility, ppb vs NAWM ---- */
#define PH_CHI_CSF 25.0          /* WM is diamagnetic relative to CSF by ~ -25 ppb [A] */
#define PH_CHI_CORTEX 25.0       /* cortical grey matter [A] */
#define PH_CHI_WM_T1_SLOPE 3.0   /* NAWM texture: -3 ppb per standard deviation of T1 within WM
                                    (more myelin, brighter T1, more diamagnetic) [A]; with noise
                                    and streaking NAWM sd ~ 10-12 ppb [Q] */
#define PH_CHI_TRACT (-28.0)     /* nearby WM tracts -18 .. -42 ppb [Q] */
/* deep grey nuclei (typical 3 T values) [A]: caudate 60, putamen 70, globus pallidus 160,
 * thalamus 15, red nucleus 110, substantia nigra 130, dentate 100 - see anatomy.c */

/* ---- veins [Q: chi(deoxy - oxy) 3.43 ppm (SI), vein ~ Hct (1 - Y) 3.43 ppm ~ 0.55 ppm] ---- */
#define PH_CHI_VEIN_MIN 450.0
#define PH_CHI_VEIN_MAX 650.0
#define PH_MEDULLARY_MIN 120     /* medullary veins per subject [A] */
#define PH_MEDULLARY_MAX 220
#define PH_CORTICAL_MIN 18       /* cortical surface veins per subject [A] */
#define PH_CORTICAL_MAX 32

/* ---- lesions on QSM ---- */
#define PH_RIM_PPB_MIN 25.0      /* simulated rim susceptibility above NAWM. Rims measure +15 .. +60 ppb on
                                    QSM images [Q]; thin rims lose ~40% to partial volume in 3 mm slices
                                    and to the inversion here (measured: QSM over the rim voxels ~0.6 of
                                    the simulated value), so 25 .. 90 gives ~ +15 .. +55 on the QSM */
#define PH_RIM_PPB_MAX 90.0
#define PH_FAINT_RIM_PPB_MAX 38.0 /* faint rims: 25 .. 38 ppb simulated, ~ +15 .. +23 on the QSM */
#define PH_RIM_WIDTH_MIN 0.75    /* rim 1 - 2 in-plane voxels [Q] */
#define PH_RIM_WIDTH_MAX 1.5
#define PH_RIM_Z_STRETCH 3.0     /* the rim's thickness across slices is 1/3 of its in-plane thickness [A] */
#define PH_RIM_COVER_MIN 0.5     /* rim on 50 - 100% of the edge [Q: reading criterion] */
#define PH_RIM_CORE_MIN (-10.0)  /* rim+ core -10 .. +10 ppb [Q] */
#define PH_RIM_CORE_MAX 10.0
#define PH_P_FAINT_RIM 0.30      /* share of rim+ that are faint [A] */
#define PH_P_HETERO_RIM 0.20     /* share of rim+ that are heterogeneous [A] */
/* rim- appearance shares [A, guided by Q: chronic 4.7 +- 3.2 ppb, early 38.4 +- 13.0 ppb, 7 T
 * lesions median -10 (-62 .. +52) ppb, 83% solid / 17% shell-like] */
#define PH_P_ISO 0.52
#define PH_P_HYPO 0.10
#define PH_P_HYPER 0.28
#define PH_P_PARTIAL 0.10        /* partial rims on 15 - 40% of the edge, below the criterion */
#define PH_ISO_MEAN 4.7          /* [Q: chronic lesions] */
#define PH_ISO_SD 3.2
#define PH_HYPO_MIN (-25.0)
#define PH_HYPO_MAX (-6.0)
#define PH_HYPER_MEAN 30.0       /* [Q: early lesions 38.4 +- 13, "up to ~+40"] */
#define PH_HYPER_SD 10.0
#define PH_HYPER_MIN 12.0
#define PH_HYPER_MAX 45.0
#define PH_P_VEIN_EDGE 0.15      /* rim- lesions >= 20 mm^3 with a vein along the edge [A] */
#define PH_P_TOUCHING 0.08       /* lesions placed touching another [A] */
#define PH_P_CENTRAL_VEIN 0.45   /* lesions >= 15 mm^3 with a central vein [A] */

/* ---- FLAIR ---- */
#define PH_FLAIR_RATIO_MIN 1.45  /* lesion tissue / NAWM; calibrated so that lesion mean / surrounding ring on
                                    the output grid matches real lesions measured the same way [M] */
#define PH_FLAIR_RATIO_MAX 1.60

/* ---- acquisition ---- */
#define PH_NOISE_FIELD_PPB 1.3   /* field noise sd (ppb of B0) per output voxel; with the texture the
                                    QSM of NAWM has sd ~11 ppb, as 10-12 ppb [Q] (tuned) */
#define PH_TKD_THRESHOLD 0.19    /* truncation of the inverse dipole kernel [A, common choice] */

#endif
