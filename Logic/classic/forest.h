/*
 * forest.h - a random forest of classification trees (Breiman, Machine Learning 45:5, 2001) for
 * two classes, as the APRL comparator uses it (500 trees, mtry tuned by inner cross-validation,
 * probability = share of trees voting rim+).
 *
 * Symbols: X is (n, p) row-major, y[i] in {0, 1}.
 * Each tree (CART, Gini impurity):
 *   - grows on a bootstrap sample (n draws with replacement) of the training rows;
 *   - at every node draws features in random order and examines them until `mtry` features with
 *     at least two distinct values in the node have been examined (as scikit-learn, the search
 *     goes on past mtry constant features, so a node with a valid split is always split);
 *   - for a feature, the candidate thresholds are the midpoints between consecutive distinct
 *     values; the split minimising  n_L * G_L + n_R * G_R  is kept, with the node Gini
 *         G = 1 - p0^2 - p1^2 ;   rows with x <= threshold go left;
 *   - stops when a node is pure, has fewer than 2 * min_leaf rows, reaches max_depth, or no
 *     feature can split it. A leaf votes for its majority class (1/2 when tied).
 * Probability of rim+ = mean vote over the trees (R randomForest's "prob" from votes).
 * Trees are independent: tree t uses its own random stream (seed, t), so the forest is the same
 * for any number of threads.
 */
#ifndef QR_FOREST_H
#define QR_FOREST_H

#include <signal.h>
#include <stdint.h>

#include "../core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qr_forest_params {
    int ntrees;      /* 500 */
    int mtry;        /* features examined per split (>= 1; capped at p) */
    int min_leaf;    /* minimum rows per leaf (1) */
    int max_depth;   /* 0 = unlimited */
    uint64_t seed;
    int threads;     /* 0 = all available */
} qr_forest_params;

qr_forest_params qr_forest_params_default(void);

typedef struct qr_tree_node {
    int32_t feature;  /* split feature, -1 for a leaf */
    int32_t left;     /* child indices into the tree's node array (leaf: unused) */
    int32_t right;
    float vote;       /* leaf: 1 (rim+), 0, or 0.5 on a tie */
    double threshold; /* x[feature] <= threshold goes left */
} qr_tree_node;

typedef struct qr_tree {
    int32_t nnodes;
    qr_tree_node *nodes; /* node 0 is the root */
} qr_tree;

typedef struct qr_forest {
    int ntrees, nfeatures;
    qr_tree *trees;
} qr_forest;

/* Train. QR_ERR_EMPTY without samples; labels must be 0/1 and features finite. `cancel` may be
 * NULL. */
qr_status qr_forest_train(const double *X, const int *y, int64_t n, int p, const qr_forest_params *prm,
                          qr_forest *out, const volatile sig_atomic_t *cancel);
/* Probability of rim+ for m rows of Xq (m, p). */
void qr_forest_predict(const qr_forest *f, const double *Xq, int64_t m, double *prob);
void qr_forest_free(qr_forest *f);

/* Write a forest into an HDF5 group (hid_t passed as int64_t so this header needs no HDF5):
 * datasets tree_offsets (ntrees + 1, int64), feature / left / right (int32), threshold (float64),
 * vote (float32), attribute nfeatures. Read it back, checking every index. */
qr_status qr_forest_write_h5(const qr_forest *f, int64_t group);
qr_status qr_forest_read_h5(int64_t group, const char *what, qr_forest *out);

/* mtry by inner cross-validation: for each candidate, forests are trained on the inner training
 * folds (after `prepare` when given, e.g. SMOTE) and scored on the held-out fold; the candidate with
 * the highest average precision of the pooled out-of-fold probabilities wins (ties: the smaller
 * mtry). `group[i]` (may be NULL) keeps rows of one subject in one inner fold; folds are
 * stratified by the rim+ count of each group. *scores (may be NULL) receives one AP per candidate. */
/* `prepare` returns new arrays in *Xout and *yout (malloc'd; the tuner frees them); when it fails
 * it frees whatever it allocated itself. */
typedef qr_status (*qr_forest_prepare_fn)(const double *X, const int *y, int64_t n, int p, uint64_t seed,
                                          double **Xout, int **yout, int64_t *nout, void *user);
qr_status qr_forest_tune_mtry(const double *X, const int *y, const int *group, int64_t n, int p, const int *candidates,
                              int ncandidates, int inner_folds, const qr_forest_params *prm, qr_forest_prepare_fn prepare,
                              void *user, int *best_mtry, double *scores, const volatile sig_atomic_t *cancel);

#ifdef __cplusplus
}
#endif
#endif
