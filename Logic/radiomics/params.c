/*
 * params.c - reading a PyRadiomics parameter file (YAML, via libyaml) into the engine's settings.
 *
 * The file is a mapping with up to three sections (PyRadiomics' paramSchema.yaml):
 *   setting:       flat settings (binWidth: 25, label: 1, ...)
 *   imageType:     {Original: {}, Wavelet: {<custom settings>}} - order kept, last duplicate wins
 *   featureClass:  {shape: null or [] (all), glcm: [Contrast, ...] (these, in this order), ...}
 * Scalars follow YAML 1.1 as PyYAML reads them (null ~, true/false/yes/no/on/off, numbers).
 * Every key is checked: a key that PyRadiomics knows but this engine does not implement, or a key
 * unknown to both, fails with QR_ERR_UNSUPPORTED naming it; a bad value fails with
 * QR_ERR_INVALID_ARG naming key and value.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "../core/yamlkeys.h"
#include "rx_internal.h"

void rx_settings_default(rx_settings *s) {
    memset(s, 0, sizeof *s);
    s->label = 1;
    s->min_roi_dims = 2;
    s->min_roi_size = 0;
    s->reseg_mode = RX_RESEG_ABSOLUTE;
    s->normalize_scale = 1;
    s->pad_distance = 5;
    s->bin_width = 25;
    s->symmetrical_glcm = 1;
    s->weighting = RX_WEIGHT_NONE;
    s->n_dist = 1;
    s->dist[0] = 1;
    s->force2d_dim = 0;
    s->wavelet = rx_wavelet_find("coif1");
    s->level = 1;
    s->start_level = 0;
}

/* ------------------------------------------------------------------ scalars */
typedef struct ctx {
    yaml_document_t *doc;
    const char *what; /* the file, for messages */
} ctx;

static int is_plain(const yaml_node_t *n) { return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE; }
static const char *sval(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static int is_null(const yaml_node_t *n) {
    if (!n) return 1;
    if (n->type != YAML_SCALAR_NODE || !is_plain(n)) return 0;
    const char *v = sval(n);
    return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static int get_bool(const yaml_node_t *n, int *out) {
    if (!n || n->type != YAML_SCALAR_NODE || !is_plain(n)) return 0;
    static const char *T[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *F[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof T / sizeof *T; i++) {
        if (!strcmp(sval(n), T[i])) return *out = 1, 1;
        if (!strcmp(sval(n), F[i])) return *out = 0, 1;
    }
    return 0;
}

static int get_int(const yaml_node_t *n, long long *out) {
    if (!n || n->type != YAML_SCALAR_NODE || !is_plain(n)) return 0;
    const char *v = sval(n);
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno) return 0;
    *out = x;
    return 1;
}

static int get_num(const yaml_node_t *n, double *out) {
    if (!n || n->type != YAML_SCALAR_NODE || !is_plain(n)) return 0;
    const char *v = sval(n);
    if (!strcmp(v, ".inf") || !strcmp(v, "+.inf")) return *out = INFINITY, 1;
    if (!strcmp(v, "-.inf")) return *out = -INFINITY, 1;
    if (!strcmp(v, ".nan")) return *out = NAN, 1;
    if (!*v || isalpha((unsigned char)v[0])) return 0;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno) return 0;
    *out = x;
    return 1;
}

static const char *get_str(const yaml_node_t *n) {
    if (!n || n->type != YAML_SCALAR_NODE || is_null(n)) return NULL;
    return sval(n);
}

static const char *describe(const yaml_node_t *n) {
    if (!n) return "(nothing)";
    if (n->type == YAML_SCALAR_NODE) return sval(n);
    return n->type == YAML_SEQUENCE_NODE ? "(a list)" : "(a mapping)";
}

#define BAD(key, node, expect)                                                                        \
    qr_fail(QR_ERR_INVALID_ARG, "%s: setting '%s' must be %s, got '%s'", c->what, key, expect, describe(node))

/* numeric list (a sequence, or a single number as PyRadiomics also tolerates for some keys) */
static int get_num_list(ctx *c, const yaml_node_t *n, double *out, int max) {
    if (n && n->type == YAML_SCALAR_NODE) return get_num(n, out) ? 1 : -1;
    if (!n || n->type != YAML_SEQUENCE_NODE) return -1;
    int k = 0;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
        if (k >= max) return -2;
        if (!get_num(yaml_document_get_node(c->doc, *it), &out[k])) return -1;
        k++;
    }
    return k;
}

/* ------------------------------------------------------------------ settings */
/* keys that only make sense for the extraction as a whole (not inside an image type) */
static const char *const ROI_KEYS[] = {"minimumROIDimensions", "minimumROISize", "geometryTolerance", "correctMask",
                                       "additionalInfo", "label", "label_channel", "normalize", "normalizeScale",
                                       "removeOutliers", "resampledPixelSpacing", "interpolator", "padDistance",
                                       "resegmentRange", "resegmentMode", "resegmentShape", "preCrop", NULL};
/* keys PyRadiomics knows that belong to parts not implemented here */
static const char *const UNIMPLEMENTED[] = {"sigma", "gradientUseSpacing", "lbp2DRadius", "lbp2DSamples", "lbp2DMethod",
                                            "lbp3DLevels", "lbp3DIcosphereRadius", "lbp3DIcosphereSubdivision",
                                            "kernelRadius", "maskedKernel", "initValue", NULL};

typedef struct resample_state {
    int interpolator_set;
    int spacing_set;
} resample_state;

static qr_status apply_setting(ctx *c, rx_settings *s, const char *key, const yaml_node_t *v, const char *image_type,
                               resample_state *rs) {
    long long i;
    double d;
    int b;
    if (image_type)
        for (const char *const *k = ROI_KEYS; *k; k++)
            if (!strcmp(key, *k))
                return qr_fail(QR_ERR_UNSUPPORTED,
                               "%s: setting '%s' inside imageType %s is not supported (give it under 'setting')",
                               c->what, key, image_type);
    for (const char *const *k = UNIMPLEMENTED; *k; k++)
        if (!strcmp(key, *k))
            return qr_fail(QR_ERR_UNSUPPORTED, "%s: setting '%s' belongs to a PyRadiomics feature that is not implemented",
                           c->what, key);

    if (!strcmp(key, "minimumROIDimensions")) {
        if (!get_int(v, &i) || i < 1 || i > 3) return BAD(key, v, "an integer 1..3");
        s->min_roi_dims = (int)i;
    } else if (!strcmp(key, "minimumROISize")) {
        if (is_null(v)) s->min_roi_size = 0;
        else if (!get_int(v, &i) || i < 1) return BAD(key, v, "an integer > 0 or null");
        else s->min_roi_size = i;
    } else if (!strcmp(key, "geometryTolerance")) {
        if (is_null(v)) s->geometry_tolerance = 0;
        else if (!get_num(v, &d) || !(d > 0)) return BAD(key, v, "a number > 0 or null");
        else s->geometry_tolerance = d;
    } else if (!strcmp(key, "correctMask")) {
        if (!get_bool(v, &b)) return BAD(key, v, "true or false");
        if (b)
            return qr_fail(QR_ERR_UNSUPPORTED,
                           "%s: setting 'correctMask: true' (resampling the mask onto the image) is not supported; "
                           "give the mask on the image's grid",
                           c->what);
    } else if (!strcmp(key, "additionalInfo")) {
        if (!get_bool(v, &b)) return BAD(key, v, "true or false"); /* diagnostics are never written */
    } else if (!strcmp(key, "label")) {
        if (!get_int(v, &i) || i < 1 || i > INT32_MAX) return BAD(key, v, "an integer > 0");
        s->label = (int32_t)i;
    } else if (!strcmp(key, "label_channel")) {
        if (!get_int(v, &i) || i < 0) return BAD(key, v, "an integer >= 0");
        if (i != 0)
            return qr_fail(QR_ERR_UNSUPPORTED, "%s: setting 'label_channel: %lld' needs a vector segmentation, which is not supported",
                           c->what, i);
    } else if (!strcmp(key, "binWidth")) {
        if (!get_num(v, &d) || !(d > 0) || !isfinite(d)) return BAD(key, v, "a number > 0");
        s->bin_width = d;
    } else if (!strcmp(key, "binCount")) {
        if (is_null(v)) s->bin_count = 0;
        else if (!get_int(v, &i) || i < 1 || i > 1000000) return BAD(key, v, "an integer from 1 to 1000000, or null");
        else s->bin_count = (int)i;
    } else if (!strcmp(key, "normalize")) {
        if (!get_bool(v, &b)) return BAD(key, v, "true or false");
        s->normalize = b;
    } else if (!strcmp(key, "normalizeScale")) {
        if (!get_num(v, &d) || !(d > 0) || !isfinite(d)) return BAD(key, v, "a number > 0");
        s->normalize_scale = d;
    } else if (!strcmp(key, "removeOutliers")) {
        if (is_null(v)) s->has_outliers = 0;
        else if (!get_num(v, &d) || !(d > 0)) return BAD(key, v, "a number > 0 or null");
        else s->has_outliers = 1, s->outliers = d;
    } else if (!strcmp(key, "resampledPixelSpacing")) {
        if (is_null(v)) rs->spacing_set = 0;
        else if (v->type != YAML_SEQUENCE_NODE) return BAD(key, v, "a list of 3 spacings or null");
        else rs->spacing_set = 1;
    } else if (!strcmp(key, "interpolator")) {
        rs->interpolator_set = !is_null(v); /* only matters together with resampledPixelSpacing */
    } else if (!strcmp(key, "padDistance")) {
        if (!get_int(v, &i) || i < 0 || i > 100000) return BAD(key, v, "an integer >= 0");
        s->pad_distance = (int)i;
    } else if (!strcmp(key, "distances")) {
        double dl[RX_MAX_DIST];
        int k = get_num_list(c, v, dl, RX_MAX_DIST);
        if (k < 1) return BAD(key, v, "a list of integers > 0");
        for (int t = 0; t < k; t++) {
            if (!(dl[t] >= 1) || dl[t] != floor(dl[t]) || dl[t] > 1000) return BAD(key, v, "a list of integers > 0");
            s->dist[t] = (int)dl[t];
        }
        s->n_dist = k;
    } else if (!strcmp(key, "force2D")) {
        if (!get_bool(v, &b)) return BAD(key, v, "true or false");
        s->force2d = b;
    } else if (!strcmp(key, "force2Ddimension")) {
        if (!get_int(v, &i) || i < 0 || i > 2) return BAD(key, v, "0, 1 or 2");
        s->force2d_dim = (int)i;
    } else if (!strcmp(key, "resegmentRange")) {
        if (is_null(v)) {
            s->n_reseg = 0;
        } else {
            double r[2];
            int k = get_num_list(c, v, r, 2);
            if (k < 1) return BAD(key, v, "a list of 1 or 2 numbers, or null");
            s->n_reseg = k;
            s->reseg[0] = r[0];
            s->reseg[1] = k > 1 ? r[1] : 0;
        }
    } else if (!strcmp(key, "resegmentMode")) {
        const char *m = get_str(v);
        if (m && !strcmp(m, "absolute")) s->reseg_mode = RX_RESEG_ABSOLUTE;
        else if (m && !strcmp(m, "relative")) s->reseg_mode = RX_RESEG_RELATIVE;
        else if (m && !strcmp(m, "sigma")) s->reseg_mode = RX_RESEG_SIGMA;
        else return BAD(key, v, "absolute, relative or sigma");
    } else if (!strcmp(key, "resegmentShape")) {
        if (!get_bool(v, &b)) return BAD(key, v, "true or false");
        s->reseg_shape = b;
    } else if (!strcmp(key, "preCrop")) {
        if (!get_bool(v, &b)) return BAD(key, v, "true or false");
        s->precrop = b;
    } else if (!strcmp(key, "start_level")) {
        if (!get_int(v, &i) || i < 0 || i > 8) return BAD(key, v, "an integer 0..8");
        s->start_level = (int)i;
    } else if (!strcmp(key, "level")) {
        if (!get_int(v, &i) || i < 1 || i > 8) return BAD(key, v, "an integer 1..8");
        s->level = (int)i;
    } else if (!strcmp(key, "wavelet")) {
        const char *w = get_str(v);
        if (!w) return BAD(key, v, "a wavelet name");
        s->wavelet = rx_wavelet_find(w);
        if (!s->wavelet)
            return qr_fail(QR_ERR_UNSUPPORTED,
                           "%s: wavelet '%s' is not implemented (available: haar, db1-db4, sym2-sym4, coif1, coif2)",
                           c->what, w);
    } else if (!strcmp(key, "voxelArrayShift")) {
        if (!get_num(v, &d) || !isfinite(d)) return BAD(key, v, "a number");
        s->voxel_array_shift = d;
    } else if (!strcmp(key, "symmetricalGLCM")) {
        if (!get_bool(v, &b)) return BAD(key, v, "true or false");
        s->symmetrical_glcm = b;
    } else if (!strcmp(key, "weightingNorm")) {
        const char *w = get_str(v);
        if (!w || !strcmp(w, "None")) s->weighting = RX_WEIGHT_NONE;
        else if (!strcmp(w, "manhattan")) s->weighting = RX_WEIGHT_MANHATTAN;
        else if (!strcmp(w, "euclidean")) s->weighting = RX_WEIGHT_EUCLIDEAN;
        else if (!strcmp(w, "infinity")) s->weighting = RX_WEIGHT_INFINITY;
        else if (!strcmp(w, "no_weighting")) s->weighting = RX_WEIGHT_NO_WEIGHTING;
        else return BAD(key, v, "manhattan, euclidean, infinity, no_weighting or null");
    } else if (!strcmp(key, "gldm_a")) {
        if (!get_int(v, &i) || i < 0) return BAD(key, v, "an integer >= 0");
        s->gldm_a = (double)i;
    } else {
        return qr_fail(QR_ERR_UNSUPPORTED, "%s: unknown setting '%s'%s%s", c->what, key, image_type ? " in imageType " : "",
                       image_type ? image_type : "");
    }
    return QR_OK;
}

static qr_status apply_settings_map(ctx *c, rx_settings *s, const yaml_node_t *map, const char *image_type,
                                    resample_state *rs) {
    if (is_null(map)) return QR_OK;
    if (map->type != YAML_MAPPING_NODE)
        return qr_fail(QR_ERR_INVALID_ARG, "%s: %s%s must be a mapping of settings", c->what,
                       image_type ? "imageType " : "setting", image_type ? image_type : "");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE) return qr_fail(QR_ERR_INVALID_ARG, "%s: a setting name is not text", c->what);
        QR_TRY(apply_setting(c, s, sval(k), v, image_type, rs));
    }
    return QR_OK;
}

/* ------------------------------------------------------------------ sections */
static const char *const ALL_CLASS_ORDER[] = {"firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape", NULL};

static qr_status parse_feature_classes(ctx *c, qr_radiomics *r, const yaml_node_t *map) {
    r->n_classes = 0;
    if (is_null(map) || (map->type == YAML_MAPPING_NODE && map->data.mapping.pairs.top == map->data.mapping.pairs.start)) {
        /* PyRadiomics: all classes, in the order of its module names. Its list includes shape2D,
         * which it computes (or fails on) under force2D; that class is not implemented here, so
         * the engine refuses rather than return fewer features than PyRadiomics would. Without
         * force2D PyRadiomics skips shape2D with a warning, as the list below does. */
        if (r->global.force2d)
            return qr_fail(QR_ERR_UNSUPPORTED,
                           "%s: force2D with every feature class enabled includes 'shape2D', which is not implemented; "
                           "list the wanted classes under featureClass",
                           c->what);
        for (const char *const *n = ALL_CLASS_ORDER; *n; n++) {
            rx_class_sel *sel = &r->classes[r->n_classes++];
            sel->cls = (rx_class_id)rx_class_find(*n);
            const rx_class_info *ci = rx_class_get(sel->cls);
            sel->n = 0;
            for (int f = 0; f < ci->n; f++)
                if (!(ci->flags[f] & RX_FEAT_DEPRECATED)) sel->ids[sel->n++] = f;
        }
        return QR_OK;
    }
    if (map->type != YAML_MAPPING_NODE) return qr_fail(QR_ERR_INVALID_ARG, "%s: featureClass must be a mapping", c->what);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        const char *name = k && k->type == YAML_SCALAR_NODE ? sval(k) : "";
        int cls = rx_class_find(name);
        if (cls < 0) {
            if (!strcmp(name, "shape2D"))
                return qr_fail(QR_ERR_UNSUPPORTED, "%s: feature class 'shape2D' is not implemented", c->what);
            return qr_fail(QR_ERR_UNSUPPORTED, "%s: unknown feature class '%s'", c->what, name);
        }
        const rx_class_info *ci = rx_class_get((rx_class_id)cls);
        rx_class_sel tmp = {.cls = (rx_class_id)cls, .n = 0};
        if (is_null(v) || (v->type == YAML_SEQUENCE_NODE && v->data.sequence.items.top == v->data.sequence.items.start)) {
            for (int f = 0; f < ci->n; f++)
                if (!(ci->flags[f] & RX_FEAT_DEPRECATED)) tmp.ids[tmp.n++] = f;
        } else if (v->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                const char *fname = get_str(yaml_document_get_node(c->doc, *it));
                int f = -1;
                for (int t = 0; fname && t < ci->n; t++)
                    if (!strcmp(ci->names[t], fname)) f = t;
                if (f < 0)
                    return qr_fail(QR_ERR_UNSUPPORTED, "%s: feature class %s has no feature '%s'", c->what, name,
                                   fname ? fname : "(null)");
                int dup = 0;
                for (int t = 0; t < tmp.n; t++) dup |= tmp.ids[t] == f;
                /* deprecated features that PyRadiomics refuses to compute give no output */
                if (!dup && !(ci->flags[f] & RX_FEAT_NO_VALUE)) tmp.ids[tmp.n++] = f;
            }
        } else {
            return qr_fail(QR_ERR_INVALID_ARG, "%s: featureClass %s must be null or a list of feature names", c->what, name);
        }
        int at = -1; /* a repeated class keeps its first position, takes the last list */
        for (int t = 0; t < r->n_classes; t++)
            if ((int)r->classes[t].cls == cls) at = t;
        if (at < 0) at = r->n_classes++;
        r->classes[at] = tmp;
    }
    return QR_OK;
}

static qr_status parse_image_types(ctx *c, qr_radiomics *r, const yaml_node_t *map, resample_state *rs) {
    r->n_types = 0;
    if (is_null(map) || (map->type == YAML_MAPPING_NODE && map->data.mapping.pairs.top == map->data.mapping.pairs.start)) {
        r->types[0].kind = RX_IMAGE_ORIGINAL;
        r->types[0].s = r->global;
        r->n_types = 1;
        return QR_OK;
    }
    if (map->type != YAML_MAPPING_NODE) return qr_fail(QR_ERR_INVALID_ARG, "%s: imageType must be a mapping", c->what);
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key), *v = yaml_document_get_node(c->doc, p->value);
        const char *name = k && k->type == YAML_SCALAR_NODE ? sval(k) : "";
        rx_image_type t;
        if (!strcmp(name, "Original")) t.kind = RX_IMAGE_ORIGINAL;
        else if (!strcmp(name, "Wavelet")) t.kind = RX_IMAGE_WAVELET;
        else {
            static const char *const KNOWN[] = {"LoG", "Square", "SquareRoot", "Logarithm", "Exponential",
                                                "Gradient", "LBP2D", "LBP3D", NULL};
            for (const char *const *kn = KNOWN; *kn; kn++)
                if (!strcmp(name, *kn))
                    return qr_fail(QR_ERR_UNSUPPORTED, "%s: image type '%s' is not implemented (Original and Wavelet are)",
                                   c->what, name);
            return qr_fail(QR_ERR_UNSUPPORTED, "%s: unknown image type '%s'", c->what, name);
        }
        t.s = r->global;
        QR_TRY(apply_settings_map(c, &t.s, v, name, rs));
        int at = -1;
        for (int u = 0; u < r->n_types; u++)
            if (r->types[u].kind == t.kind) at = u;
        if (at < 0) {
            if (r->n_types >= RX_MAX_TYPES) return qr_fail(QR_ERR_INVALID_ARG, "%s: too many image types", c->what);
            at = r->n_types++;
        }
        r->types[at] = t;
    }
    return QR_OK;
}

qr_status rx_parse_params(const char *text, const char *what, qr_radiomics *r) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return qr_fail(QR_ERR_NOMEM, "cannot start the YAML parser: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&parser, &doc)) {
        qr_status s = qr_fail(QR_ERR_FORMAT, "%s: not a valid YAML parameter file: %s at line %zu", what,
                              parser.problem ? parser.problem : "syntax error", parser.problem_mark.line + 1);
        yaml_parser_delete(&parser);
        return s;
    }
    ctx c = {&doc, what};
    qr_status st = qr_yaml_unique_keys(&doc, what);
    resample_state rs = {1, 0}; /* PyRadiomics default interpolator: sitkBSpline */
    rx_settings_default(&r->global);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    const yaml_node_t *setting = NULL, *image = NULL, *feature = NULL;
    if (st == QR_OK && root && !is_null(root)) {
        if (root->type != YAML_MAPPING_NODE) {
            st = qr_fail(QR_ERR_FORMAT, "%s: a parameter file must be a mapping (setting, imageType, featureClass)", what);
        } else {
            for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && st == QR_OK; p++) {
                yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
                const char *key = k && k->type == YAML_SCALAR_NODE ? sval(k) : "";
                if (!strcmp(key, "setting")) setting = v;
                else if (!strcmp(key, "imageType")) image = v;
                else if (!strcmp(key, "featureClass")) feature = v;
                else if (!strcmp(key, "voxelSetting"))
                    st = qr_fail(QR_ERR_UNSUPPORTED, "%s: 'voxelSetting' (voxel-based extraction) is not implemented", what);
                else st = qr_fail(QR_ERR_UNSUPPORTED, "%s: unknown section '%s' (expected setting, imageType, featureClass)",
                                  what, key);
            }
        }
    }
    if (st == QR_OK) st = apply_settings_map(&c, &r->global, setting, NULL, &rs);
    if (st == QR_OK) st = parse_image_types(&c, r, image, &rs);
    if (st == QR_OK) st = parse_feature_classes(&c, r, feature);
    if (st == QR_OK && rs.interpolator_set && rs.spacing_set)
        st = qr_fail(QR_ERR_UNSUPPORTED,
                     "%s: setting 'resampledPixelSpacing' (resampling before extraction) is not supported; resample "
                     "the image beforehand or set it to null",
                     what);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return st;
}
