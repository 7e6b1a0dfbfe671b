/* forest_io.c - a random forest in an HDF5 group (layout in forest.h). */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "../core/h5util.h"
#include "forest.h"

static herr_t write_1d(hid_t g, const char *name, hid_t file_type, hid_t mem_type, hsize_t n, const void *data) {
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t ds = qr_h5_dataset_create(g, name, file_type, sp, H5P_DEFAULT);
    herr_t e = ds >= 0 ? H5Dwrite(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    return e;
}

qr_status qr_forest_write_h5(const qr_forest *f, int64_t group) {
    hid_t g = (hid_t)group;
    int64_t total = 0;
    for (int t = 0; t < f->ntrees; t++) total += f->trees[t].nnodes;
    int64_t *off = malloc((size_t)(f->ntrees + 1) * sizeof *off);
    int32_t *feat = malloc((size_t)(total ? total : 1) * sizeof *feat), *left = malloc((size_t)(total ? total : 1) * sizeof *left),
            *right = malloc((size_t)(total ? total : 1) * sizeof *right);
    double *thr = malloc((size_t)(total ? total : 1) * sizeof *thr);
    float *vote = malloc((size_t)(total ? total : 1) * sizeof *vote);
    qr_status st = QR_OK;
    if (!off || !feat || !left || !right || !thr || !vote) st = qr_fail(QR_ERR_NOMEM, "out of memory writing a forest");
    if (st == QR_OK) {
        int64_t k = 0;
        off[0] = 0;
        for (int t = 0; t < f->ntrees; t++) {
            for (int32_t i = 0; i < f->trees[t].nnodes; i++, k++) {
                const qr_tree_node *nd = &f->trees[t].nodes[i];
                feat[k] = nd->feature;
                left[k] = nd->left;
                right[k] = nd->right;
                thr[k] = nd->threshold;
                vote[k] = nd->vote;
            }
            off[t + 1] = k;
        }
        herr_t e = 0;
        e |= write_1d(g, "tree_offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, (hsize_t)f->ntrees + 1, off);
        e |= write_1d(g, "feature", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)total, feat);
        e |= write_1d(g, "left", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)total, left);
        e |= write_1d(g, "right", H5T_STD_I32LE, H5T_NATIVE_INT32, (hsize_t)total, right);
        e |= write_1d(g, "threshold", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, (hsize_t)total, thr);
        e |= write_1d(g, "vote", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (hsize_t)total, vote);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t at = H5Acreate2(g, "nfeatures", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        e |= at >= 0 ? H5Awrite(at, H5T_NATIVE_INT, &f->nfeatures) : -1;
        if (at >= 0) H5Aclose(at);
        H5Sclose(sp);
        if (e < 0) st = qr_fail(QR_ERR_IO, "cannot write a random forest to the model file");
    }
    free(off);
    free(feat);
    free(left);
    free(right);
    free(thr);
    free(vote);
    return st;
}

/* Read a 1-D dataset of n elements (n from the file when *n < 0). */
static int read_1d(hid_t g, const char *name, hid_t mem_type, size_t elem, int64_t *n, void **out) {
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t dims[1] = {0};
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1;
    if (ok) H5Sget_simple_extent_dims(sp, dims, NULL);
    if (ok && *n >= 0 && (int64_t)dims[0] != *n) ok = 0;
    if (ok) {
        *n = (int64_t)dims[0];
        *out = malloc((size_t)(dims[0] ? dims[0] : 1) * elem);
        if (!*out) qr_note_out_of_memory();
        ok = *out && (dims[0] == 0 || H5Dread(ds, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) >= 0);
    }
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return ok ? 0 : -1;
}

qr_status qr_forest_read_h5(int64_t group, const char *what, qr_forest *out) {
    memset(out, 0, sizeof *out);
    hid_t g = (hid_t)group;
    int64_t nt = -1, total = -1, n2, n3, n4, n5;
    int64_t *off = NULL;
    int32_t *feat = NULL, *left = NULL, *right = NULL;
    double *thr = NULL;
    float *vote = NULL;
    int nfeat = 0;
    qr_status st = QR_OK;
    QR_H5_READ_BEGIN {
        if (read_1d(g, "tree_offsets", H5T_NATIVE_INT64, sizeof *off, &nt, (void **)&off) < 0 ||
            read_1d(g, "feature", H5T_NATIVE_INT32, sizeof *feat, &total, (void **)&feat) < 0)
            st = qr_fail(QR_ERR_MODEL, "%s: the random forest lacks its tree arrays", what);
        n2 = n3 = n4 = n5 = total;
        if (st == QR_OK && (read_1d(g, "left", H5T_NATIVE_INT32, sizeof *left, &n2, (void **)&left) < 0 ||
                            read_1d(g, "right", H5T_NATIVE_INT32, sizeof *right, &n3, (void **)&right) < 0 ||
                            read_1d(g, "threshold", H5T_NATIVE_DOUBLE, sizeof *thr, &n4, (void **)&thr) < 0 ||
                            read_1d(g, "vote", H5T_NATIVE_FLOAT, sizeof *vote, &n5, (void **)&vote) < 0))
            st = qr_fail(QR_ERR_MODEL, "%s: the random forest's node arrays are missing or of unequal length", what);
        if (st == QR_OK && (qr_h5_attr_scalar(g, "nfeatures", H5T_NATIVE_INT, &nfeat) != QR_H5_OK || nfeat < 1))
            st = qr_fail(QR_ERR_MODEL, "%s: the random forest has no feature count", what);
    }
    QR_H5_READ_END;
    if (st == QR_OK && (nt < 2 || off[0] != 0 || off[nt - 1] != total))
        st = qr_fail(QR_ERR_MODEL, "%s: the random forest's tree offsets are inconsistent", what);
    if (st == QR_OK) {
        out->ntrees = (int)(nt - 1);
        out->nfeatures = nfeat;
        out->trees = calloc((size_t)out->ntrees, sizeof *out->trees);
        if (!out->trees) st = qr_fail(QR_ERR_NOMEM, "out of memory reading %s", what);
    }
    for (int t = 0; st == QR_OK && t < out->ntrees; t++) {
        int64_t a = off[t], b = off[t + 1];
        if (b <= a) {
            st = qr_fail(QR_ERR_MODEL, "%s: tree %d is empty", what, t);
            break;
        }
        qr_tree *tr = &out->trees[t];
        tr->nnodes = (int32_t)(b - a);
        tr->nodes = malloc((size_t)tr->nnodes * sizeof *tr->nodes);
        if (!tr->nodes) {
            st = qr_fail(QR_ERR_NOMEM, "out of memory reading %s", what);
            break;
        }
        for (int32_t i = 0; i < tr->nnodes; i++) {
            qr_tree_node *nd = &tr->nodes[i];
            nd->feature = feat[a + i];
            nd->left = left[a + i];
            nd->right = right[a + i];
            nd->threshold = thr[a + i];
            nd->vote = vote[a + i];
            /* children must point forward inside the tree (no cycles), features inside range */
            if (nd->feature >= 0 && (nd->feature >= nfeat || nd->left <= i || nd->right <= i || nd->left >= tr->nnodes ||
                                     nd->right >= tr->nnodes)) {
                st = qr_fail(QR_ERR_MODEL, "%s: tree %d node %d points outside the tree", what, t, i);
                break;
            }
            if (nd->feature < 0 && !(nd->vote >= 0.0f && nd->vote <= 1.0f)) { /* a leaf's vote is a P(rim+) */
                st = qr_fail(QR_ERR_MODEL, "%s: tree %d leaf %d votes %g, not a probability", what, t, i, (double)nd->vote);
                break;
            }
        }
    }
    free(off);
    free(feat);
    free(left);
    free(right);
    free(thr);
    free(vote);
    if (st != QR_OK) qr_forest_free(out);
    return st;
}
