/* report.c - metrics.json, predictions.tsv, summary.tsv and the HTML report (contents: report.h). */
#include "report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/fileutil.h"
#include "../core/tsv.h"

/* ---- the published numbers (Zhang et al. 2022, Tables 2 and 3) ---- */

typedef struct paper_row {
    const char *id;
    const char *name;
    int table; /* 2 or 3 (qsmrimnet is in both) */
    double v[QR_SUM_COUNT];
} paper_row;

#define NA NAN
static const paper_row PAPER[] = {
    /*                                              pROC   PR     F1     sens   spec   PPV    acc  r     MSE   review */
    {"qsmrimnet", "QSMRim-Net", 2, {0.760, 0.704, 0.703, 0.680, 0.989, 0.732, NA, 0.89, 0.98, NA}},
    {"rimnet", "RimNet (on QSM)", 2, {0.726, 0.641, 0.641, 0.655, 0.983, 0.627, NA, 0.75, 2.47, NA}},
    {"aprl-rf", "APRL (RF)", 2, {0.628, 0.440, 0.571, 0.593, 0.978, 0.550, NA, 0.77, 2.26, NA}},
    {"aprl-nn", "APRL (NN)", 2, {NA, NA, 0.614, 0.588, 0.985, 0.642, NA, 0.88, 1.02, NA}},
    {"ablation-two-branch", "image only, two-branch fusion (RimNet-style)", 3, {NA, NA, 0.639, NA, NA, NA, NA, NA, NA, NA}},
    {"ablation-image", "image only, channel-concatenated QSM + FLAIR", 3, {NA, NA, 0.645, NA, NA, NA, NA, NA, NA, NA}},
    {"ablation-radiomics", "+ radiomic features (no DeepSMOTE)", 3, {NA, NA, 0.685, NA, NA, NA, NA, NA, NA, NA}},
};
#define NPAPER (int)(sizeof PAPER / sizeof PAPER[0])
static const char *TABLE3_ORDER[4] = {"ablation-two-branch", "ablation-image", "ablation-radiomics", "qsmrimnet"};
static const char *TABLE3_NAMES[4] = {"image only, two-branch fusion (RimNet-style)", "image only, channel-concatenated",
                                      "+ radiomic features", "+ DeepSMOTE (QSMRim-Net)"};
static const char *TABLE2_ORDER[4] = {"qsmrimnet", "rimnet", "aprl-rf", "aprl-nn"};

double qr_paper_value(const char *method, int column) {
    if (!method || column < 0 || column >= QR_SUM_COUNT) return NAN;
    for (int i = 0; i < NPAPER; i++)
        if (!strcmp(PAPER[i].id, method)) return PAPER[i].v[column];
    return NAN;
}

const char *qr_method_display_name(const char *method) {
    for (int i = 0; i < NPAPER; i++)
        if (!strcmp(PAPER[i].id, method)) return PAPER[i].name;
    return method;
}

static const char *SUM_KEYS[QR_SUM_COUNT] = {"proc_auc", "pr_auc", "f1", "sensitivity", "specificity", "ppv",
                                             "accuracy", "count_r", "count_mse", "review_fraction_at_high_sensitivity"};
static const char *SUM_TITLES[QR_SUM_COUNT] = {"pROC AUC", "PR AUC", "F1", "sens", "spec", "PPV", "accuracy",
                                               "count r", "count MSE", "review share"};

const char *qr_summary_key(int column) { return column >= 0 && column < QR_SUM_COUNT ? SUM_KEYS[column] : ""; }

qr_summary_row qr_summary_of(const qr_eval_result *r, const qr_report_info *info) {
    qr_summary_row s;
    memset(&s, 0, sizeof s);
    snprintf(s.method, sizeof s.method, "%s", info && info->method ? info->method : "model");
    snprintf(s.description, sizeof s.description, "%s", info && info->description ? info->description : "");
    snprintf(s.data_note, sizeof s.data_note, "%s", info && info->data_note ? info->data_note : "");
    s.n_subjects = r->n_subjects;
    s.n_lesions = r->n_lesions;
    s.n_rimpos = r->n_rimpos;
    const qr_ci_value *v[QR_SUM_COUNT] = {&r->proc_auc, &r->pr_auc, &r->f1, &r->sensitivity, &r->specificity, &r->ppv,
                                          &r->accuracy, &r->count_r, &r->count_mse, &r->review_fraction};
    for (int c = 0; c < QR_SUM_COUNT; c++) {
        s.value[c] = v[c]->value;
        s.lo[c] = v[c]->lo;
        s.hi[c] = v[c]->hi;
    }
    s.tp = r->confusion.tp;
    s.fp = r->confusion.fp;
    s.fn = r->confusion.fn;
    s.tn = r->confusion.tn;
    return s;
}

/* ---- JSON ---- */

/* Shortest of %.15g / %.17g that reads back exactly; null for NaN / Inf. */
static void jnum(FILE *f, double v) {
    if (!isfinite(v)) {
        fputs("null", f);
        return;
    }
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    fputs(buf, f);
}

/* Report text as UTF-8 (qr_utf8_copy: stray bytes read as Latin-1), in a new buffer; NULL when
 * out of memory (the caller then writes the text as it is). */
static char *utf8_dup(const char *text) {
    const size_t n = 2 * strlen(text ? text : "") + 1; /* a Latin-1 byte becomes two */
    char *u = malloc(n);
    if (u) qr_utf8_copy(u, n, text);
    return u;
}

static void jstr(FILE *f, const char *text) {
    char *u = utf8_dup(text);
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(u ? u : text ? text : ""); *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
    free(u);
}

static void jkey_num(FILE *f, const char *key, double v) {
    fprintf(f, "  \"%s\": ", key);
    jnum(f, v);
    fputs(",\n", f);
}

static void jkey_ci(FILE *f, const char *key, const qr_ci_value *v) {
    jkey_num(f, key, v->value);
    fprintf(f, "  \"%s_ci\": [", key);
    jnum(f, v->lo);
    fputs(", ", f);
    jnum(f, v->hi);
    fputs("],\n", f);
}

qr_status qr_report_write_metrics_json(const char *path, const qr_eval_result *r, const qr_report_info *info) {
    qr_atomic a;
    QR_TRY(qr_atomic_open(&a, path));
    FILE *f = a.fp;
    fputs("{\n", f);
    fputs("  \"method\": ", f);
    jstr(f, info && info->method ? info->method : "model");
    fputs(",\n  \"description\": ", f);
    jstr(f, info ? info->description : "");
    fputs(",\n  \"data\": ", f);
    jstr(f, info ? info->data_note : "");
    fputs(",\n  \"manifest\": ", f);
    jstr(f, info ? info->manifest : "");
    fputs(",\n  \"command\": ", f);
    jstr(f, info ? info->command : "");
    fputs(",\n  \"threshold_source\": ", f);
    jstr(f, info ? info->threshold_source : "");
    fputs(",\n", f);
    fprintf(f, "  \"n_subjects\": %d,\n  \"n_lesions\": %lld,\n  \"n_rimpos\": %lld,\n", r->n_subjects,
            (long long)r->n_lesions, (long long)r->n_rimpos);
    fprintf(f, "  \"n_folds\": %d,\n  \"n_seeds\": %d,\n  \"bootstrap_resamples\": %d,\n  \"seed\": %llu,\n", r->nfolds,
            r->nmembers, info ? info->bootstrap : 0, (unsigned long long)(info ? info->seed : 0));
    jkey_ci(f, "proc_auc", &r->proc_auc);
    jkey_ci(f, "proc_auc_normalized", &r->proc_auc_normalized);
    jkey_ci(f, "pr_auc", &r->pr_auc);
    jkey_ci(f, "roc_auc", &r->roc_auc);
    jkey_ci(f, "f1", &r->f1);
    jkey_ci(f, "sensitivity", &r->sensitivity);
    jkey_ci(f, "specificity", &r->specificity);
    jkey_ci(f, "ppv", &r->ppv);
    jkey_ci(f, "accuracy", &r->accuracy);
    fprintf(f, "  \"tp\": %lld,\n  \"fp\": %lld,\n  \"fn\": %lld,\n  \"tn\": %lld,\n", (long long)llround(r->confusion.tp),
            (long long)llround(r->confusion.fp), (long long)llround(r->confusion.fn), (long long)llround(r->confusion.tn));
    jkey_num(f, "count_r", r->count_r.value);
    fputs("  \"count_r_ci\": [", f);
    jnum(f, r->count_r_ci[0]);
    fputs(", ", f);
    jnum(f, r->count_r_ci[1]);
    fputs("],\n  \"count_r_bootstrap_ci\": [", f);
    jnum(f, r->count_r.lo);
    fputs(", ", f);
    jnum(f, r->count_r.hi);
    fputs("],\n", f);
    jkey_ci(f, "count_mse", &r->count_mse);
    jkey_ci(f, "review_fraction_at_high_sensitivity", &r->review_fraction);
    fprintf(f, "  \"n_review_at_high_sensitivity\": %lld,\n", (long long)r->n_review);
    jkey_ci(f, "sensitivity_at_high_sensitivity", &r->sensitivity_high);
    jkey_ci(f, "specificity_at_high_sensitivity", &r->specificity_high);
    /* the resamples each interval was taken over: those in which the metric is defined */
    const char *ci_names[QR_CI_COUNT];
    const qr_ci_value *ci_vals[QR_CI_COUNT];
    qr_eval_ci_list(r, ci_names, ci_vals);
    fputs("  \"bootstrap_defined\": {", f);
    for (int k = 0; k < QR_CI_COUNT; k++) fprintf(f, "%s\"%s\": %d", k ? ", " : "", ci_names[k], ci_vals[k]->resamples);
    fputs("},\n", f);
    jkey_num(f, "seconds", info ? info->seconds : NAN);
    fputs("  \"folds\": [\n", f);
    for (int k = 0; k < r->nfolds; k++) {
        const qr_eval_fold *fo = &r->folds[k];
        fprintf(f, "    {\"fold\": %d, \"n_lesions\": %lld, \"n_rimpos\": %lld, \"proc_auc\": ", k + 1, (long long)fo->n,
                (long long)fo->npos);
        jnum(f, fo->proc_auc);
        fputs(", \"proc_auc_normalized\": ", f);
        jnum(f, fo->proc_auc_normalized);
        fputs(", \"pr_auc\": ", f);
        jnum(f, fo->pr_auc);
        fputs(", \"roc_auc\": ", f);
        jnum(f, fo->roc_auc);
        fputs(", \"threshold_f1\": [", f);
        for (int m = 0; m < r->nmembers; m++) {
            if (m) fputs(", ", f);
            jnum(f, fo->threshold_f1[m]);
        }
        fputs("], \"threshold_sensitive\": ", f);
        jnum(f, fo->threshold_sensitive);
        fprintf(f, "}%s\n", k + 1 < r->nfolds ? "," : "");
    }
    fputs("  ]\n}\n", f);
    if (ferror(f)) {
        qr_atomic_abort(&a);
        return qr_fail(QR_ERR_IO, "cannot write %s", path);
    }
    return qr_atomic_commit(&a);
}

/* predictions.tsv holds exactly the contract's columns; decisions.tsv the calls beside them. */
static qr_status write_lesion_table(const char *path, int calls, const qr_eval_input *in, const qr_eval_result *r,
                                    const char *const *subject_names, const int32_t *lesion_id) {
    qr_atomic a;
    QR_TRY(qr_atomic_open(&a, path));
    FILE *f = a.fp;
    fputs(calls ? "subject\tlesion_id\tfold\tdecision\treview" : "subject\tlesion_id\tfold\tlabel\tprobability", f);
    if (calls && in->nmembers > 1)
        for (int m = 0; m < in->nmembers; m++) fprintf(f, "\tprobability_seed%d", m + 1);
    fputc('\n', f);
    for (int64_t i = 0; i < in->n; i++) {
        fprintf(f, "%s\t%d\t%d", subject_names[in->subject[i]], lesion_id[i], in->fold[i] + 1);
        if (!calls) {
            fprintf(f, "\t%d\t%.9g\n", in->label[i], r->prob[i]);
            continue;
        }
        fprintf(f, "\t%d\t%d", r->decision[i], r->review[i]);
        if (in->nmembers > 1)
            for (int m = 0; m < in->nmembers; m++) fprintf(f, "\t%.9g", in->member_prob[i * in->nmembers + m]);
        fputc('\n', f);
    }
    if (ferror(f)) {
        qr_atomic_abort(&a);
        return qr_fail(QR_ERR_IO, "cannot write %s", path);
    }
    return qr_atomic_commit(&a);
}

qr_status qr_report_write_predictions(const char *path, const qr_eval_input *in, const qr_eval_result *r,
                                      const char *const *subject_names, const int32_t *lesion_id) {
    return write_lesion_table(path, 0, in, r, subject_names, lesion_id);
}

qr_status qr_report_write_decisions(const char *path, const qr_eval_input *in, const qr_eval_result *r,
                                    const char *const *subject_names, const int32_t *lesion_id) {
    return write_lesion_table(path, 1, in, r, subject_names, lesion_id);
}

/* ---- summary.tsv ---- */

static void clean_cell(char *s) {
    for (; *s; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r') *s = ' ';
}

qr_status qr_report_write_summary(const char *path, const qr_summary_row *row) {
    qr_atomic a;
    QR_TRY(qr_atomic_open(&a, path));
    FILE *f = a.fp;
    fputs("method\tdescription\tdata\tn_subjects\tn_lesions\tn_rimpos\ttp\tfp\tfn\ttn", f);
    for (int c = 0; c < QR_SUM_COUNT; c++) fprintf(f, "\t%s\t%s_lo\t%s_hi", SUM_KEYS[c], SUM_KEYS[c], SUM_KEYS[c]);
    char m[64], d[512], n[512];
    qr_utf8_copy(m, sizeof m, row->method);
    qr_utf8_copy(d, sizeof d, row->description);
    qr_utf8_copy(n, sizeof n, row->data_note);
    clean_cell(m);
    clean_cell(d);
    clean_cell(n);
    fprintf(f, "\n%s\t%s\t%s\t%lld\t%lld\t%lld\t%.0f\t%.0f\t%.0f\t%.0f", m, d[0] ? d : "-", n[0] ? n : "-",
            (long long)row->n_subjects, (long long)row->n_lesions, (long long)row->n_rimpos, row->tp, row->fp, row->fn,
            row->tn);
    for (int c = 0; c < QR_SUM_COUNT; c++) fprintf(f, "\t%.17g\t%.17g\t%.17g", row->value[c], row->lo[c], row->hi[c]);
    fputc('\n', f);
    return qr_atomic_commit(&a);
}

static double cell_double(const qr_tsv *t, int col) {
    const char *s = qr_tsv_cell(t, 0, col);
    char *end;
    double v = strtod(s, &end);
    return (end == s) ? NAN : v;
}

qr_status qr_report_read_summary(const char *path, qr_summary_row *row) {
    memset(row, 0, sizeof *row);
    qr_tsv t;
    QR_TRY(qr_tsv_read(path, &t));
    qr_status st = QR_OK;
    if (t.nrows != 1) st = qr_fail(QR_ERR_FORMAT, "%s: expected one summary row, found %lld", path, (long long)t.nrows);
    int cm = qr_tsv_column(&t, "method"), cd = qr_tsv_column(&t, "description"), cn = qr_tsv_column(&t, "data");
    if (st == QR_OK && (cm < 0 || cd < 0))
        st = qr_fail(QR_ERR_FORMAT, "%s: not a qsmrim evaluation summary (no method column)", path);
    if (st == QR_OK) {
        snprintf(row->method, sizeof row->method, "%s", qr_tsv_cell(&t, 0, cm));
        snprintf(row->description, sizeof row->description, "%s", qr_tsv_cell(&t, 0, cd));
        if (cn >= 0) snprintf(row->data_note, sizeof row->data_note, "%s", qr_tsv_cell(&t, 0, cn));
        const char *ints[7] = {"n_subjects", "n_lesions", "n_rimpos", "tp", "fp", "fn", "tn"};
        double iv[7];
        for (int k = 0; k < 7 && st == QR_OK; k++) {
            int c = qr_tsv_column(&t, ints[k]);
            if (c < 0) st = qr_fail(QR_ERR_FORMAT, "%s: column %s is missing", path, ints[k]);
            else if (!((iv[k] = cell_double(&t, c)) >= 0 && iv[k] <= 1e15 && iv[k] == floor(iv[k])))
                st = qr_fail(QR_ERR_FORMAT, "%s: %s is '%s', not a count", path, ints[k], qr_tsv_cell(&t, 0, c));
        }
        if (st == QR_OK) {
            row->n_subjects = (int64_t)iv[0];
            row->n_lesions = (int64_t)iv[1];
            row->n_rimpos = (int64_t)iv[2];
            row->tp = iv[3];
            row->fp = iv[4];
            row->fn = iv[5];
            row->tn = iv[6];
        }
        for (int c = 0; c < QR_SUM_COUNT && st == QR_OK; c++) {
            char k[96];
            int cv = qr_tsv_column(&t, SUM_KEYS[c]);
            snprintf(k, sizeof k, "%s_lo", SUM_KEYS[c]);
            int cl = qr_tsv_column(&t, k);
            snprintf(k, sizeof k, "%s_hi", SUM_KEYS[c]);
            int ch = qr_tsv_column(&t, k);
            if (cv < 0 || cl < 0 || ch < 0) {
                st = qr_fail(QR_ERR_FORMAT, "%s: column %s is missing", path, SUM_KEYS[c]);
                break;
            }
            row->value[c] = cell_double(&t, cv);
            row->lo[c] = cell_double(&t, cl);
            row->hi[c] = cell_double(&t, ch);
        }
    }
    qr_tsv_free(&t);
    return st;
}

/* ---- HTML ---- */

static void html_text(FILE *f, const char *text) {
    char *u = utf8_dup(text); /* the page declares UTF-8 */
    for (const char *s = u ? u : text; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
    free(u);
}

static void html_num(FILE *f, double v, int digits) {
    if (isnan(v)) fputs("&ndash;", f);
    else fprintf(f, "%.*f", digits, v);
}

static int digits_of(int c) { return (c == QR_SUM_COUNT_R || c == QR_SUM_COUNT_MSE) ? 2 : 3; }

static void html_value_ci(FILE *f, const qr_summary_row *r, int c) {
    html_num(f, r->value[c], digits_of(c));
    if (!isnan(r->lo[c])) {
        fputs("<br><span class=ci>", f);
        html_num(f, r->lo[c], digits_of(c));
        fputs("&ndash;", f);
        html_num(f, r->hi[c], digits_of(c));
        fputs("</span>", f);
    }
}

static qr_status embed_png(FILE *f, const char *path, const char *alt) {
    if (!path) return QR_OK;
    FILE *in = fopen(path, "rb");
    if (!in) return qr_fail(QR_ERR_IO, "cannot read the figure %s", path);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fputs("<img alt=\"", f);
    html_text(f, alt);
    fputs("\" src=\"data:image/png;base64,", f);
    unsigned char buf[3];
    size_t got;
    while ((got = fread(buf, 1, 3, in)) > 0) {
        unsigned v = (unsigned)buf[0] << 16 | (got > 1 ? (unsigned)buf[1] << 8 : 0) | (got > 2 ? buf[2] : 0);
        fputc(b64[(v >> 18) & 63], f);
        fputc(b64[(v >> 12) & 63], f);
        fputc(got > 1 ? b64[(v >> 6) & 63] : '=', f);
        fputc(got > 2 ? b64[v & 63] : '=', f);
    }
    fclose(in);
    fputs("\">\n", f);
    return QR_OK;
}

static const qr_report_section *find_section(const qr_report_section *s, int n, const char *method) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s[i].row.method, method)) return &s[i];
    return NULL;
}

static void table_header(FILE *f, const int *cols, int ncols) {
    fputs("<tr><th>method</th><th>source</th>", f);
    for (int k = 0; k < ncols; k++) fprintf(f, "<th>%s</th>", SUM_TITLES[cols[k]]);
    fputs("</tr>\n", f);
}

static void row_ours(FILE *f, const char *name, const qr_summary_row *r, const int *cols, int ncols, int rowspan) {
    fputs("<tr class=ours>", f);
    if (rowspan) {
        fprintf(f, "<td rowspan=%d>", rowspan);
        html_text(f, name);
        fputs("</td>", f);
    }
    fputs("<td>this report", f);
    if (r->description[0] && strcmp(r->description, "-")) {
        fputs("<br><span class=ci>", f);
        html_text(f, r->description);
        fputs("</span>", f);
    }
    fputs("</td>", f);
    for (int k = 0; k < ncols; k++) {
        fputs("<td>", f);
        html_value_ci(f, r, cols[k]);
        fputs("</td>", f);
    }
    fputs("</tr>\n", f);
}

static void row_paper(FILE *f, const char *name, const char *method, const int *cols, int ncols, int rowspan) {
    fputs("<tr class=paper>", f);
    if (rowspan) {
        fprintf(f, "<td rowspan=%d>", rowspan);
        html_text(f, name);
        fputs("</td>", f);
    }
    fputs("<td>paper (Zhang et al. 2022)</td>", f);
    for (int k = 0; k < ncols; k++) {
        fputs("<td>", f);
        html_num(f, qr_paper_value(method, cols[k]), digits_of(cols[k]));
        fputs("</td>", f);
    }
    fputs("</tr>\n", f);
}

qr_status qr_report_write_html(const char *path, const char *title, const qr_report_section *sections, int nsections) {
    qr_atomic a;
    QR_TRY(qr_atomic_open(&a, path));
    FILE *f = a.fp;
    qr_status st = QR_OK;
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>", f);
    html_text(f, title);
    fputs("</title>\n<style>\n"
          "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em;max-width:1150px;color:#222}\n"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:center}\n"
          "th{background:#eef}tr.paper td{background:#f6f6f6;color:#555}.ci{font-size:80%;color:#666}\n"
          ".note{background:#fff4d6;border:1px solid #e0b84c;padding:0.6em 1em;margin:1em 0}\n"
          "img{max-width:100%;margin:0.5em 0}code{background:#f0f0f0;padding:1px 4px}\n"
          "</style></head><body>\n<h1>",
          f);
    html_text(f, title);
    fputs("</h1>\n", f);
    /* the data notes, once each */
    for (int i = 0; i < nsections; i++) {
        const char *note = sections[i].row.data_note;
        if (!note[0] || !strcmp(note, "-")) continue;
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= !strcmp(sections[j].row.data_note, note);
        if (dup) continue;
        fputs("<div class=note><b>Data:</b> ", f);
        html_text(f, note);
        fprintf(f, " (%lld subjects, %lld lesions, %lld rim+)</div>\n", (long long)sections[i].row.n_subjects,
                (long long)sections[i].row.n_lesions, (long long)sections[i].row.n_rimpos);
    }
    /* a trained model scored on given subjects (train's held-out report, evaluate --model) is not
     * cross-validated: one "fold", thresholds fixed beforehand */
    int cv = 0, fixed = 0;
    for (int i = 0; i < nsections; i++) {
        if (sections[i].info ? sections[i].info->nfolds <= 1 : sections[i].scored) fixed = 1;
        else cv = 1;
    }
    if (cv)
        fprintf(f, "<p>Lesion-level metrics from subject-level stratified cross-validation%s: pROC AUC is the area under the "
                "ROC curve for false-positive rates up to 0.1, McClish-standardised (as scikit-learn's "
                "<code>roc_auc_score(max_fpr=0.1)</code>), of the fold-averaged curve; PR AUC the area of the "
                "fold-averaged precision-recall step curve; F1, sensitivity, specificity and PPV at each fold's "
                "F1-optimal threshold on the concatenated folds%s; ",
                fixed ? " (where a method's section says so: a trained model scored on the subjects listed)" : "",
                fixed ? " (for a scored model, at the thresholds its section states)" : "");
    else
        fputs("<p>Lesion-level metrics of a trained model scored on the subjects listed (no cross-validation): pROC AUC "
              "is the area under the ROC curve for false-positive rates up to 0.1, McClish-standardised (as "
              "scikit-learn's <code>roc_auc_score(max_fpr=0.1)</code>); PR AUC the area of the precision-recall step "
              "curve; F1, sensitivity, specificity and PPV at the thresholds each section states; ",
              f);
    fputs("count r and MSE compare predicted and expert rim+ "
          "counts per subject. Small numbers under a value: 95% interval from subject-level bootstrap resamples. "
          "Paper values: Zhang et al., NeuroImage: Clinical 34:102979 (2022), Tables 2 and 3; PR AUC of RimNet "
          "and APRL (RF) derived from the paper's relative statements.</p>\n",
          f);

    /* Table 2 */
    static const int t2cols[8] = {QR_SUM_PROC, QR_SUM_PR, QR_SUM_F1, QR_SUM_SENS, QR_SUM_SPEC, QR_SUM_PPV, QR_SUM_COUNT_R,
                                  QR_SUM_COUNT_MSE};
    int have2 = 0;
    for (int k = 0; k < 4; k++) have2 |= find_section(sections, nsections, TABLE2_ORDER[k]) != NULL;
    if (have2) {
        fputs("<h2>Table 2: comparison of methods</h2>\n<table>\n", f);
        table_header(f, t2cols, 8);
        for (int k = 0; k < 4; k++) {
            const qr_report_section *s = find_section(sections, nsections, TABLE2_ORDER[k]);
            const char *name = qr_method_display_name(TABLE2_ORDER[k]);
            if (s) row_ours(f, name, &s->row, t2cols, 8, 2);
            row_paper(f, name, TABLE2_ORDER[k], t2cols, 8, s ? 0 : 1);
        }
        fputs("</table>\n", f);
    }
    /* Table 3 */
    static const int t3cols[8] = {QR_SUM_F1, QR_SUM_PROC, QR_SUM_PR, QR_SUM_SENS, QR_SUM_SPEC, QR_SUM_PPV, QR_SUM_COUNT_R,
                                  QR_SUM_COUNT_MSE};
    int have3 = 0;
    for (int k = 0; k < 3; k++) have3 |= find_section(sections, nsections, TABLE3_ORDER[k]) != NULL;
    if (have3) {
        fputs("<h2>Table 3: ablation (image fusion, radiomic fusion, DeepSMOTE)</h2>\n<table>\n", f);
        table_header(f, t3cols, 8);
        for (int k = 0; k < 4; k++) {
            const qr_report_section *s = find_section(sections, nsections, TABLE3_ORDER[k]);
            if (s) row_ours(f, TABLE3_NAMES[k], &s->row, t3cols, 8, 2);
            row_paper(f, TABLE3_NAMES[k], TABLE3_ORDER[k], t3cols, 8, s ? 0 : 1);
        }
        fputs("</table>\n<p>The paper reports only F1 for the ablation.</p>\n", f);
    }
    /* rows that are in neither table */
    int other = 0;
    for (int i = 0; i < nsections; i++) {
        const char *m = sections[i].row.method;
        int known = 0;
        for (int k = 0; k < NPAPER; k++) known |= !strcmp(PAPER[k].id, m);
        if (known) continue;
        if (!other++) {
            fputs("<h2>Other evaluations</h2>\n<table>\n", f);
            table_header(f, t2cols, 8);
        }
        row_ours(f, m, &sections[i].row, t2cols, 8, 1);
    }
    if (other) fputs("</table>\n", f);

    /* details of the evaluations done here */
    for (int i = 0; i < nsections && st == QR_OK; i++) {
        const qr_report_section *s = &sections[i];
        if (!s->result) continue;
        const qr_eval_result *r = s->result;
        fputs("<h2>", f);
        html_text(f, qr_method_display_name(s->row.method));
        fputs(": details</h2>\n<p>", f);
        html_text(f, s->row.description);
        fputs("</p>\n", f);
        st = embed_png(f, s->roc_png, "ROC curves");
        if (st == QR_OK) st = embed_png(f, s->pr_png, "precision-recall curves");
        if (st == QR_OK) st = embed_png(f, s->counts_png, "predicted vs expert rim+ counts");
        fputs("<table><tr><th></th><th>expert rim+</th><th>expert rim-</th></tr>\n", f);
        fprintf(f, "<tr><th>called rim+</th><td>TP %.0f</td><td>FP %.0f</td></tr>\n", r->confusion.tp, r->confusion.fp);
        fprintf(f, "<tr><th>called rim-</th><td>FN %.0f</td><td>TN %.0f</td></tr></table>\n", r->confusion.fn, r->confusion.tn);
        fputs("<p>Review at high sensitivity (the lesions at or above the high-sensitivity threshold - per fold the "
              "threshold of the largest sensitivity not above 0.95, or a scored model's own - and every rim+ call): "
              "sensitivity ", f);
        html_num(f, r->sensitivity_high.value, 3);
        fputs(", specificity ", f);
        html_num(f, r->specificity_high.value, 3);
        fprintf(f, "; an expert would review %lld of %lld lesions (", (long long)r->n_review, (long long)r->n_lesions);
        html_num(f, 100 * r->review_fraction.value, 1);
        fputs("%).</p>\n<table><tr><th>fold</th><th>lesions</th><th>rim+</th><th>pROC AUC</th><th>PR AUC</th>"
              "<th>ROC AUC</th><th>F1 threshold(s)</th><th>high-sensitivity threshold</th></tr>\n",
              f);
        for (int k = 0; k < r->nfolds; k++) {
            const qr_eval_fold *fo = &r->folds[k];
            fprintf(f, "<tr><td>%d</td><td>%lld</td><td>%lld</td><td>", k + 1, (long long)fo->n, (long long)fo->npos);
            html_num(f, fo->proc_auc, 3);
            fputs("</td><td>", f);
            html_num(f, fo->pr_auc, 3);
            fputs("</td><td>", f);
            html_num(f, fo->roc_auc, 3);
            fputs("</td><td>", f);
            for (int m = 0; m < r->nmembers; m++) {
                if (m) fputs(", ", f);
                html_num(f, fo->threshold_f1[m], 3);
            }
            fputs("</td><td>", f);
            html_num(f, fo->threshold_sensitive, 3);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
        if (s->info && s->info->bootstrap > 0) { /* intervals over fewer resamples than drawn */
            const char *ci_names[QR_CI_COUNT];
            const qr_ci_value *ci_vals[QR_CI_COUNT];
            qr_eval_ci_list(r, ci_names, ci_vals);
            int said = 0;
            for (int k = 0; k < QR_CI_COUNT; k++) {
                if (ci_vals[k]->resamples >= s->info->bootstrap) continue;
                fprintf(f, "%s%s %d", said++ ? ", " : "<p>Intervals taken over fewer resamples than the ", ci_names[k],
                        ci_vals[k]->resamples);
            }
            if (said)
                fprintf(f, " of %d (the others hold no rim+ lesion, no rim+ call, no fold with both classes or, for count_r, "
                           "rim+ counts that do not vary: the metric is undefined there).</p>\n",
                        s->info->bootstrap);
        }
        if (s->info) {
            fputs("<p>", f);
            if (s->info->threshold_source) {
                fputs("Thresholds: ", f);
                html_text(f, s->info->threshold_source);
                fputs(". ", f);
            }
            if (s->info->command) {
                fputs("Command: <code>", f);
                html_text(f, s->info->command);
                fputs("</code>. ", f);
            }
            if (isfinite(s->info->seconds)) fprintf(f, "Wall time %.0f s.", s->info->seconds);
            fputs("</p>\n", f);
        }
    }
    fputs("<p class=ci>Written by qsmrim " QSMRIM_VERSION ".</p>\n</body></html>\n", f);
    if (st == QR_OK && ferror(f)) st = qr_fail(QR_ERR_IO, "cannot write %s", path);
    if (st != QR_OK) {
        qr_atomic_abort(&a);
        return st;
    }
    return qr_atomic_commit(&a);
}

/* "%.<digits>f", or "n/a" for an undefined (NaN) value. */
static const char *fmt_value(double v, int digits, char buf[32]) {
    if (isnan(v)) return "n/a";
    snprintf(buf, 32, "%.*f", digits, v);
    return buf;
}

void qr_eval_headline(const qr_eval_result *r, char *buf, size_t n) {
    char b[8][32];
    snprintf(buf, n, "pROC AUC %s, PR AUC %s, F1 %s (sens %s, spec %s, PPV %s), count r %s, count MSE %s",
             fmt_value(r->proc_auc.value, 3, b[0]), fmt_value(r->pr_auc.value, 3, b[1]), fmt_value(r->f1.value, 3, b[2]),
             fmt_value(r->sensitivity.value, 3, b[3]), fmt_value(r->specificity.value, 3, b[4]),
             fmt_value(r->ppv.value, 3, b[5]), fmt_value(r->count_r.value, 2, b[6]), fmt_value(r->count_mse.value, 2, b[7]));
}
