/* preset.c - the QSMRim-Net parameter file, compiled in so that an installed qsmrim needs no
 * resource files. Must equal Resources/radiomics/qsmrimnet.yaml byte for byte (a test checks). */
#include "radiomics.h"

static const char PRESET[] =
    "# QSMRim-Net radiomics preset: the PyRadiomics parameter file released with QSMRim-Net\n"
    "# (Zhang et al., NeuroImage: Clinical 34:102979, 2022), as described in its methods:\n"
    "# Original + Wavelet (coif1, level 1, start_level 0: 8 decompositions), classes shape, firstorder,\n"
    "# glcm and glrlm with all non-deprecated features, bin width 25, label 1, no resampling, no distance\n"
    "# weighting. Current PyRadiomics yields 14 + 9 x (18 + 24 + 16) = 536 features for it.\n"
    "# qsmrim compiles this text in (Logic/radiomics/preset.c); a test keeps the two identical.\n"
    "imageType:\n"
    "  Original: {}\n"
    "  Wavelet: {}\n"
    "\n"
    "featureClass:\n"
    "  shape:\n"
    "  firstorder:\n"
    "  glcm:\n"
    "  glrlm:\n"
    "\n"
    "setting:\n"
    "  binWidth: 25\n"
    "  label: 1\n"
    "  interpolator: 'sitkBSpline'\n"
    "  resampledPixelSpacing:\n"
    "  weightingNorm:\n";

const char *qr_radiomics_preset_text(void) { return PRESET; }
