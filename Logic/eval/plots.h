/*
 * plots.h - PNG figures of an evaluation, drawn with cairo (DejaVu Sans), written atomically.
 *
 *   ROC      left: the whole ROC; right: FPR 0..max_fpr (the pROC region). Each fold's curve
 *            thin and light, the mean curve thick; the chance line dashed.
 *   PR       precision against recall, folds light and the mean step curve thick; the rim+
 *            prevalence as a dashed line (a random classifier's precision).
 *   counts   predicted against expert rim+ count per subject (points slightly jittered when they
 *            coincide), the identity line, Pearson r with its 95% CI and the MSE in the title.
 */
#ifndef QR_PLOTS_H
#define QR_PLOTS_H

#include "../core/status.h"
#include "evaluation.h"

#ifdef __cplusplus
extern "C" {
#endif

qr_status qr_plot_roc(const char *png_path, const qr_eval_result *r, double max_fpr, const char *title);
qr_status qr_plot_pr(const char *png_path, const qr_eval_result *r, const char *title);
qr_status qr_plot_counts(const char *png_path, const qr_eval_result *r, const char *title);

#ifdef __cplusplus
}
#endif
#endif
