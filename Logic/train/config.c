/* config.c - the flat YAML training settings (keys and defaults in config.h). */
#include "config.h"

#include "../core/fileutil.h"
#include "../core/yamlkeys.h"
#include "../nn/nn.h"
#include "lesion_draw.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

qr_train_config qr_train_config_default(void) {
    qr_train_config c;
    memset(&c, 0, sizeof c);
    c.width = 64;
    snprintf(c.fusion, sizeof c.fusion, "add");
    snprintf(c.image_fusion, sizeof c.image_fusion, "channels");
    snprintf(c.deepsmote, sizeof c.deepsmote, "released");
    c.use_radiomics = 1;
    c.layer4_stride = 1;
    c.epochs = 40;
    c.batch_size = 64;
    c.learning_rate = 1e-4;
    c.n_milestones = 3;
    c.milestones[0] = 0.5;
    c.milestones[1] = 0.7;
    c.milestones[2] = 0.9;
    c.lr_gamma = 0.1;
    snprintf(c.lr_schedule, sizeof c.lr_schedule, "auto");
    c.n_plateau_rates = 3;
    c.plateau_rates[0] = 5e-5;
    c.plateau_rates[1] = 2.5e-5;
    c.plateau_rates[2] = 1e-5;
    c.plateau_patience = 10;
    c.plateau_min_delta = 1e-4;
    c.augment = 1;
    snprintf(c.patch_sampling, sizeof c.patch_sampling, "auto");
    snprintf(c.rimnet_turns, sizeof c.rimnet_turns, "%s", qr_turns_name(QR_TURNS_POSITIVES));
    c.p_flip = c.p_affine = c.p_blur = 0.5;
    c.rimnet_class_weight = 0;
    c.rimnet_conv_l2 = 1e-3;
    c.rimnet_pool_stride = 1;
    c.rf_trees = 500;
    c.n_mtry = 10;
    for (int k = 0; k < 10; k++) c.rf_mtry[k] = k + 1;
    c.rf_inner_folds = 5;
    c.rf_tune_trees = 100;
    c.smote_k = 5;
    c.holdout = 0.2;
    return c;
}

/* ---- scalar parsing ---- */

static qr_status as_double(const char *what, const char *key, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (!v[0] || *end || errno || !isfinite(d))
        return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must be a number, got '%s'", what, key, v);
    if (d < lo || d > hi) return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must be in [%g, %g], got %g", what, key, lo, hi, d);
    *out = d;
    return QR_OK;
}

static qr_status as_int(const char *what, const char *key, const char *v, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long d = strtol(v, &end, 10);
    if (!v[0] || *end || errno) return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must be an integer, got '%s'", what, key, v);
    if (d < lo || d > hi) return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must be in [%ld, %ld], got %ld", what, key, lo, hi, d);
    *out = (int)d;
    return QR_OK;
}

static qr_status as_bool(const char *what, const char *key, const char *v, int *out) {
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcmp(v, "1")) *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcmp(v, "0")) *out = 0;
    else return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must be true or false, got '%s'", what, key, v);
    return QR_OK;
}

static qr_status as_choice(const char *what, const char *key, const char *v, const char *const *choices, int n, char *out,
                           size_t outlen) {
    for (int k = 0; k < n; k++)
        if (!strcmp(v, choices[k])) {
            snprintf(out, outlen, "%s", v);
            return QR_OK;
        }
    char list[128] = "";
    for (int k = 0; k < n; k++) {
        strncat(list, choices[k], sizeof list - strlen(list) - 1);
        if (k + 1 < n) strncat(list, " | ", sizeof list - strlen(list) - 1);
    }
    return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must be one of %s, got '%s'", what, key, list, v);
}

/* A file a setting names. From a settings file (`file` not NULL) a relative name is taken from
 * that file's folder, as a manifest's paths are from the manifest's, and the file must be there,
 * so that a run started from another folder reads the same file or fails naming the setting;
 * from text the name stays as written. */
static qr_status as_path(const char *what, const char *file, const char *key, const char *v, char *out, size_t outlen) {
    const int fits = file ? qr_path_beside(file, v, out, outlen) == 0 : snprintf(out, outlen, "%s", v) < (int)outlen;
    if (!fits) return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s': the path is too long", what, key);
    if (!file) return QR_OK;
    if (qr_path_is_dir(out)) return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s': %s is a folder, not a file", what, key, out);
    FILE *f = fopen(out, "rb");
    if (!f) return qr_fail(QR_ERR_IO, "%s: '%s': cannot open %s (%s)", what, key, out, strerror(errno));
    fclose(f);
    return QR_OK;
}

/* ---- one key ---- */

static qr_status set_scalar(qr_train_config *c, const char *what, const char *file, const char *k, const char *v,
                            int is_null) {
    /* the choices are the engine's own names (Logic/nn/nn.h) */
    const char *fusions[QR_NN_FUSION_COUNT], *smotes[QR_NN_SMOTE_COUNT], *image_fusions[QR_NN_IMAGE_FUSION_COUNT];
    for (int i = 0; i < QR_NN_FUSION_COUNT; i++) fusions[i] = qr_nn_fusion_name((qr_nn_fusion)i);
    for (int i = 0; i < QR_NN_SMOTE_COUNT; i++) smotes[i] = qr_nn_smote_name((qr_nn_smote)i);
    for (int i = 0; i < QR_NN_IMAGE_FUSION_COUNT; i++) image_fusions[i] = qr_nn_image_fusion_name((qr_nn_image_fusion)i);
    if (!strcmp(k, "radiomics")) {
        if (is_null || !v[0]) c->radiomics[0] = '\0';
        else return as_path(what, file, k, v, c->radiomics, sizeof c->radiomics);
        return QR_OK;
    }
    if (!strcmp(k, "rimnet_class_weight") && (is_null || !strcmp(v, "auto"))) {
        c->rimnet_class_weight = 0;
        return QR_OK;
    }
    if (is_null) return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' needs a value", what, k);
    if (!strcmp(k, "width")) {
        c->width_set = 1;
        return as_int(what, k, v, 1, 1024, &c->width);
    }
    if (!strcmp(k, "fusion")) return as_choice(what, k, v, fusions, QR_NN_FUSION_COUNT, c->fusion, sizeof c->fusion);
    if (!strcmp(k, "deepsmote")) return as_choice(what, k, v, smotes, QR_NN_SMOTE_COUNT, c->deepsmote, sizeof c->deepsmote);
    if (!strcmp(k, "image_fusion"))
        return as_choice(what, k, v, image_fusions, QR_NN_IMAGE_FUSION_COUNT, c->image_fusion, sizeof c->image_fusion);
    if (!strcmp(k, "use_radiomics")) return as_bool(what, k, v, &c->use_radiomics);
    if (!strcmp(k, "layer4_stride")) {
        QR_TRY(as_int(what, k, v, 1, 2, &c->layer4_stride));
        return QR_OK;
    }
    if (!strcmp(k, "epochs")) return as_int(what, k, v, 1, 100000, &c->epochs);
    if (!strcmp(k, "batch_size")) {
        c->batch_size_set = 1;
        return as_int(what, k, v, 2, 65536, &c->batch_size);
    }
    if (!strcmp(k, "lr_schedule")) {
        static const char *const schedules[] = {"auto", "multistep", "plateau"};
        return as_choice(what, k, v, schedules, 3, c->lr_schedule, sizeof c->lr_schedule);
    }
    if (!strcmp(k, "lr_plateau_patience")) return as_int(what, k, v, 1, 100000, &c->plateau_patience);
    if (!strcmp(k, "lr_plateau_min_delta")) return as_double(what, k, v, 0, 1e6, &c->plateau_min_delta);
    if (!strcmp(k, "learning_rate")) return as_double(what, k, v, 1e-12, 10, &c->learning_rate);
    if (!strcmp(k, "lr_gamma")) return as_double(what, k, v, 1e-6, 1, &c->lr_gamma);
    if (!strcmp(k, "weight_decay")) return as_double(what, k, v, 0, 1, &c->weight_decay);
    if (!strcmp(k, "augment")) return as_bool(what, k, v, &c->augment);
    if (!strcmp(k, "rimnet_turns")) {
        const char *turns[QR_TURNS_COUNT];
        for (int i = 0; i < QR_TURNS_COUNT; i++) turns[i] = qr_turns_name((qr_turns)i);
        return as_choice(what, k, v, turns, QR_TURNS_COUNT, c->rimnet_turns, sizeof c->rimnet_turns);
    }
    if (!strcmp(k, "patch_sampling")) {
        static const char *const where[] = {"auto", "host"};
        return as_choice(what, k, v, where, 2, c->patch_sampling, sizeof c->patch_sampling);
    }
    if (!strcmp(k, "p_flip")) return as_double(what, k, v, 0, 1, &c->p_flip);
    if (!strcmp(k, "p_affine")) return as_double(what, k, v, 0, 1, &c->p_affine);
    if (!strcmp(k, "p_blur")) return as_double(what, k, v, 0, 1, &c->p_blur);
    if (!strcmp(k, "rimnet_class_weight")) return as_double(what, k, v, 1e-6, 1e6, &c->rimnet_class_weight);
    if (!strcmp(k, "rimnet_conv_l2")) return as_double(what, k, v, 0, 1, &c->rimnet_conv_l2);
    if (!strcmp(k, "rimnet_pool_stride")) return as_int(what, k, v, 1, 2, &c->rimnet_pool_stride);
    if (!strcmp(k, "rf_trees")) return as_int(what, k, v, 1, 100000, &c->rf_trees);
    if (!strcmp(k, "rf_inner_folds")) return as_int(what, k, v, 2, 100, &c->rf_inner_folds);
    if (!strcmp(k, "rf_tune_trees")) return as_int(what, k, v, 1, 100000, &c->rf_tune_trees);
    if (!strcmp(k, "smote_k")) return as_int(what, k, v, 1, 100, &c->smote_k);
    if (!strcmp(k, "threads")) return as_int(what, k, v, 0, 4096, &c->threads);
    if (!strcmp(k, "holdout")) return as_double(what, k, v, 0, 0.5, &c->holdout);
    if (!strcmp(k, "rf_mtry")) { /* a single value */
        c->n_mtry = 1;
        return as_int(what, k, v, 1, 100000, &c->rf_mtry[0]);
    }
    if (!strcmp(k, "lr_milestones") || !strcmp(k, "lr_plateau_rates"))
        return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must be a list", what, k);
    return qr_fail(QR_ERR_INVALID_ARG, "%s: unknown setting '%s'", what, k);
}

/* A list of at most `cap` numbers in [lo, hi] that increase (dir +1) or decrease (dir -1) strictly:
 * into out[0..*n) when it is valid (`items` says what it lists in the message). */
static qr_status number_list(const char *what, const char *k, yaml_document_t *doc, yaml_node_t *seq, const char *items,
                             double lo, double hi, int dir, int cap, double *out, int *n) {
    const int m = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (m > cap) return qr_fail(QR_ERR_INVALID_ARG, "%s: at most %d '%s'", what, cap, k);
    double v[QR_TRAIN_MAX_MILESTONES > QR_TRAIN_MAX_PLATEAU_RATES ? QR_TRAIN_MAX_MILESTONES : QR_TRAIN_MAX_PLATEAU_RATES];
    for (int i = 0; i < m; i++) {
        yaml_node_t *it = yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
        if (!it || it->type != YAML_SCALAR_NODE) return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must list %s", what, k, items);
        QR_TRY(as_double(what, k, (const char *)it->data.scalar.value, lo, hi, &v[i]));
        if (i > 0 && !(dir * (v[i] - v[i - 1]) > 0))
            return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' must %s", what, k, dir > 0 ? "increase" : "decrease");
    }
    memcpy(out, v, (size_t)m * sizeof *v);
    *n = m;
    return QR_OK;
}

static qr_status set_list(qr_train_config *c, const char *what, const char *k, yaml_document_t *doc, yaml_node_t *seq) {
    int n = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (!strcmp(k, "rf_mtry")) {
        if (n < 1 || n > QR_TRAIN_MAX_MTRY)
            return qr_fail(QR_ERR_INVALID_ARG, "%s: 'rf_mtry' needs 1 to %d candidates", what, QR_TRAIN_MAX_MTRY);
        for (int i = 0; i < n; i++) {
            yaml_node_t *it = yaml_document_get_node(doc, seq->data.sequence.items.start[i]);
            if (!it || it->type != YAML_SCALAR_NODE) return qr_fail(QR_ERR_INVALID_ARG, "%s: 'rf_mtry' must list integers", what);
            QR_TRY(as_int(what, k, (const char *)it->data.scalar.value, 1, 100000, &c->rf_mtry[i]));
        }
        c->n_mtry = n;
        return QR_OK;
    }
    if (!strcmp(k, "lr_milestones"))
        return number_list(what, k, doc, seq, "fractions of the epochs", 0, 1, +1, QR_TRAIN_MAX_MILESTONES, c->milestones,
                           &c->n_milestones);
    if (!strcmp(k, "lr_plateau_rates"))
        return number_list(what, k, doc, seq, "learning rates", 1e-12, 10, -1, QR_TRAIN_MAX_PLATEAU_RATES, c->plateau_rates,
                           &c->n_plateau_rates);
    return qr_fail(QR_ERR_INVALID_ARG, "%s: '%s' does not take a list", what, k);
}

/* The settings in `text`; `file` is the settings file they come from (NULL: none), `what` names
 * them in messages. */
static qr_status parse(const char *text, const char *what, const char *file, qr_train_config *cfg) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return qr_fail(QR_ERR_NOMEM, "cannot start the YAML parser: out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, strlen(text));
    if (!yaml_parser_load(&parser, &doc)) {
        qr_status st = qr_fail(QR_ERR_FORMAT, "%s: not valid YAML (line %lu: %s)", what,
                               (unsigned long)parser.problem_mark.line + 1, parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);
    qr_status st = qr_yaml_unique_keys(&doc, what);
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (st == QR_OK && root && root->type != YAML_MAPPING_NODE)
        st = qr_fail(QR_ERR_FORMAT, "%s: must be a mapping of settings", what);
    for (yaml_node_pair_t *p = root && st == QR_OK ? root->data.mapping.pairs.start : NULL;
         p && p < root->data.mapping.pairs.top && st == QR_OK; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE) {
            st = qr_fail(QR_ERR_FORMAT, "%s: setting names must be plain words", what);
            break;
        }
        const char *key = (const char *)k->data.scalar.value;
        if (v->type == YAML_SEQUENCE_NODE) {
            st = set_list(cfg, what, key, &doc, v);
        } else if (v->type == YAML_SCALAR_NODE) {
            const char *val = (const char *)v->data.scalar.value;
            int is_null = v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                          (!strcmp(val, "null") || !strcmp(val, "~") || !val[0]);
            st = set_scalar(cfg, what, file, key, val, is_null);
        } else {
            st = qr_fail(QR_ERR_FORMAT, "%s: '%s' must be a value or a list", what, key);
        }
    }
    yaml_document_delete(&doc);
    return st;
}

qr_status qr_train_config_parse(const char *text, const char *what, qr_train_config *cfg) {
    return parse(text, what, NULL, cfg);
}

qr_status qr_train_config_read(const char *path, qr_train_config *cfg) {
    QR_TRY(qr_input_file_check(path)); /* a pipe would block the reader */
    FILE *f = fopen(path, "rb");
    if (!f) return qr_fail(QR_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    if (n < 0 || n > (1 << 20)) {
        fclose(f);
        return qr_fail(QR_ERR_FORMAT, "%s: not a settings file", path);
    }
    char *text = malloc((size_t)n + 1);
    if (!text) {
        fclose(f);
        return qr_fail(QR_ERR_NOMEM, "out of memory reading %s", path);
    }
    size_t got = fread(text, 1, (size_t)n, f);
    fclose(f);
    text[got] = '\0';
    qr_status st = parse(text, path, path, cfg);
    free(text);
    return st;
}

int qr_train_config_milestone_epochs(const qr_train_config *cfg, int *out, int cap) {
    int m = 0;
    for (int k = 0; k < cfg->n_milestones && m < cap; k++) {
        int e = (int)lround(cfg->milestones[k] * cfg->epochs);
        if (e < 1 || e >= cfg->epochs) continue; /* would never apply, or applies before any step */
        if (m > 0 && e <= out[m - 1]) continue;
        out[m++] = e;
    }
    return m;
}

qr_train_config qr_train_config_for(const qr_train_config *cfg, const char *arch) {
    qr_train_config c = *cfg;
    const int rimnet = !strcmp(arch, "rimnet");
    if (rimnet && !c.width_set) c.width = 32;
    if (rimnet && !c.batch_size_set) c.batch_size = 32;
    if (!strcmp(c.lr_schedule, "auto")) snprintf(c.lr_schedule, sizeof c.lr_schedule, "%s", rimnet ? "plateau" : "multistep");
    return c;
}

/* The learning-rate schedule in words: "lr 0.0001" (multistep: its milestones are in the run's
 * settings record) or "lr 0.0001 -> 5e-05 -> 1e-05 on plateaus of 10 epochs". */
static void describe_lr(const qr_train_config *c, char *buf, size_t n) {
    int k = snprintf(buf, n, "lr %g", c->learning_rate);
    if (!strcmp(c->lr_schedule, "plateau")) {
        for (int i = 0; i < c->n_plateau_rates && k >= 0 && (size_t)k < n; i++)
            k += snprintf(buf + k, n - (size_t)k, " -> %g", c->plateau_rates[i]);
        if (k >= 0 && (size_t)k < n) snprintf(buf + k, n - (size_t)k, " on plateaus of %d epoch%s", c->plateau_patience, c->plateau_patience == 1 ? "" : "s");
    }
}

void qr_train_config_describe(const qr_train_config *given, const char *arch, char *buf, size_t n) {
    const qr_train_config resolved = qr_train_config_for(given, arch), *cfg = &resolved;
    char lr[160];
    describe_lr(cfg, lr, sizeof lr);
    if (!strcmp(arch, "aprl-rf")) {
        snprintf(buf, n, "random forest of %d trees on first-order features, SMOTE k=%d, mtry by %d-fold inner CV",
                 cfg->rf_trees, cfg->smote_k, cfg->rf_inner_folds);
        return;
    }
    const char *aug = cfg->augment ? ", augmented" : "";
    if (!strcmp(arch, "rimnet")) {
        char cw[32];
        if (cfg->rimnet_class_weight > 0) snprintf(cw, sizeof cw, "%g", cfg->rimnet_class_weight);
        else snprintf(cw, sizeof cw, "auto");
        char turns[48] = "";
        if (cfg->augment && strcmp(cfg->rimnet_turns, "positives") != 0)
            snprintf(turns, sizeof turns, " (quarter turns: %s)", !strcmp(cfg->rimnet_turns, "all") ? "all windows" : "none");
        snprintf(buf, n, "width %d, %d epochs, batch %d, %s, pool stride %d, rim+ class weight %s, conv L2 %g%s%s",
                 cfg->width, cfg->epochs, cfg->batch_size, lr, cfg->rimnet_pool_stride, cw, cfg->rimnet_conv_l2, aug, turns);
        return;
    }
    if (!strcmp(arch, "aprl-nn")) {
        snprintf(buf, n, "width %d, %d epochs, batch %d, %s%s", cfg->width, cfg->epochs, cfg->batch_size, lr, aug);
        return;
    }
    snprintf(buf, n, "width %d, %d epochs, batch %d, %s, %s%s, fusion %s, DeepSMOTE %s%s", cfg->width, cfg->epochs,
             cfg->batch_size, lr,
             !strcmp(cfg->image_fusion, "branches") ? "two-branch image fusion" : "QSM+FLAIR as channels",
             cfg->use_radiomics ? "" : ", image only", cfg->fusion, cfg->deepsmote, aug);
}

int qr_train_config_fingerprint(const qr_train_config *cfg, char *buf, size_t n) {
    char ms[256] = "", mtry[256] = "", plateau[400] = "";
    for (int k = 0; k < cfg->n_milestones; k++) {
        const size_t used = strlen(ms);
        snprintf(ms + used, sizeof ms - used, "%s%.17g", k ? " " : "", cfg->milestones[k]);
    }
    for (int k = 0; k < cfg->n_mtry; k++) {
        const size_t used = strlen(mtry);
        snprintf(mtry + used, sizeof mtry - used, "%s%d", k ? " " : "", cfg->rf_mtry[k]);
    }
    char multistep[400] = ""; /* the multistep schedule's settings, of that schedule only */
    const int plateau_run = !strcmp(cfg->lr_schedule, "plateau");
    if (!plateau_run) snprintf(multistep, sizeof multistep, "lr_milestones: %s\nlr_gamma: %.17g\n", ms, cfg->lr_gamma);
    if (plateau_run) { /* (multistep, the older default, adds no line) */
        int k = snprintf(plateau, sizeof plateau, "lr_schedule: plateau\nlr_plateau_rates:");
        for (int i = 0; i < cfg->n_plateau_rates && k >= 0 && (size_t)k < sizeof plateau; i++)
            k += snprintf(plateau + k, sizeof plateau - (size_t)k, " %.17g", cfg->plateau_rates[i]);
        if (k >= 0 && (size_t)k < sizeof plateau)
            snprintf(plateau + k, sizeof plateau - (size_t)k, "\nlr_plateau_patience: %d\nlr_plateau_min_delta: %.17g\n",
                     cfg->plateau_patience, cfg->plateau_min_delta);
    }
    return snprintf(buf, n,
             "width: %d%s\nfusion: %s\nimage_fusion: %s\ndeepsmote: %s\nuse_radiomics: %d\nlayer4_stride: %d\n"
             "epochs: %d\nbatch_size: %d\nlearning_rate: %.17g\n%s"
             "weight_decay: %.17g\naugment: %d\np_flip: %.17g\np_affine: %.17g\np_blur: %.17g\n"
             "patch_sampling: %s\nrimnet_class_weight: %.17g\nrimnet_conv_l2: %.17g\nrimnet_pool_stride: %d\n"
             "rimnet_turns: %s\nradiomics: %s\nrf_trees: %d\nrf_mtry: %s\nrf_inner_folds: %d\nrf_tune_trees: %d\n"
             "smote_k: %d\n%s",
             cfg->width, cfg->width_set ? "" : " (default)", cfg->fusion, cfg->image_fusion, cfg->deepsmote,
             cfg->use_radiomics, cfg->layer4_stride, cfg->epochs, cfg->batch_size, cfg->learning_rate, multistep,
             cfg->weight_decay, cfg->augment, cfg->p_flip, cfg->p_affine, cfg->p_blur, cfg->patch_sampling,
             cfg->rimnet_class_weight, cfg->rimnet_conv_l2, cfg->rimnet_pool_stride, cfg->rimnet_turns,
             cfg->radiomics[0] ? cfg->radiomics : "(preset)", cfg->rf_trees, mtry, cfg->rf_inner_folds,
             cfg->rf_tune_trees, cfg->smote_k, plateau);
}
