/*
 * test_phantom.c - unit tests of the phantom generator (Logic/phantom).
 *
 *   edt            distance transform vs brute force, anisotropic voxels
 *   distributions  gamma / beta / Poisson sample moments
 *   plan           exact totals, per-subject bounds, determinism, the skew of rim+ per subject
 *   library        size of the shipped lesion library, volume range, class-size expectations vs the
 *                  published means (rim+ 325 +- 410 mm^3, rim- 103 +- 232 mm^3)
 *   subject        one generated subject: grid and geometry, labels vs table, truth consistency,
 *                  rim coverage by class, the rim visible on the generated QSM, determinism
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "phantom/phantom.h"
#include "phantom/phantom_internal.h"

#define DATA QSMRIM_TEST_DATA "/open_ms_data"

/* ---- edt ---- */
static void test_edt_brute_force(void **state) {
    (void)state;
    const int64_t n[3] = {13, 11, 7};
    const double sp[3] = {0.75, 0.75, 2.25};
    const int64_t nv = n[0] * n[1] * n[2];
    uint8_t *fg = malloc((size_t)nv);
    float *d2 = malloc(sizeof(float) * (size_t)nv);
    qr_rng r;
    qr_rng_seed(&r, 5, 0);
    for (int64_t i = 0; i < nv; i++) fg[i] = qr_rng_uniform(&r) < 0.8;
    fg[0] = 0;
    assert_int_equal(ph_edt_sq(fg, n, sp, d2), QR_OK);
    for (int64_t v = 0; v < nv; v++) {
        int64_t i = v % n[0], j = (v / n[0]) % n[1], k = v / (n[0] * n[1]);
        double best = fg[v] ? 1e30 : 0;
        if (fg[v])
            for (int64_t u = 0; u < nv; u++) {
                if (fg[u]) continue;
                int64_t a = u % n[0], b = (u / n[0]) % n[1], c = u / (n[0] * n[1]);
                double dx = (i - a) * sp[0], dy = (j - b) * sp[1], dz = (k - c) * sp[2];
                double d = dx * dx + dy * dy + dz * dz;
                if (d < best) best = d;
            }
        assert_true(fabs(d2[v] - best) <= 1e-4 * (1 + best));
    }
    free(fg);
    free(d2);
}

/* ---- distributions ---- */
static void test_distributions(void **state) {
    (void)state;
    qr_rng r;
    qr_rng_seed(&r, 11, 3);
    const int N = 200000;
    double sg = 0, sg2 = 0, sgs = 0, sb = 0, sp = 0, sp2 = 0;
    for (int i = 0; i < N; i++) {
        double g = ph_gamma(&r, 3.0), gs = ph_gamma(&r, 0.35);
        sg += g, sg2 += g * g, sgs += gs;
        sb += ph_beta(&r, 1.3, 1.7);
        int p = ph_poisson(&r, 4.5);
        sp += p, sp2 += (double)p * p;
    }
    double mg = sg / N, vg = sg2 / N - mg * mg, mp = sp / N, vp = sp2 / N - mp * mp;
    assert_true(fabs(mg - 3.0) < 0.03);         /* Gamma(3): mean 3, variance 3 */
    assert_true(fabs(vg - 3.0) < 0.08);
    assert_true(fabs(sgs / N - 0.35) < 0.01);   /* Gamma(0.35): mean 0.35 */
    assert_true(fabs(sb / N - 1.3 / 3.0) < 0.005); /* Beta(1.3, 1.7): mean 1.3 / 3 */
    assert_true(fabs(mp - 4.5) < 0.03);          /* Poisson(4.5): mean = variance = 4.5 */
    assert_true(fabs(vp - 4.5) < 0.1);
}

/* ---- acquisition: dipole field, thick slices, noise, TKD inversion, NAWM reference ----
 * One plane wave of susceptibility chi = C cos(2 pi (a i / 256 + c m / 192)) on the simulation grid
 * (mask everywhere). By the definitions in dipole.c, the QSM is that wave on the output grid, scaled by
 *   A D(k) Dinv(k):  A = mean over the 4 thin slices of cos(2 pi fz h (m - 1.5)) (thick-slice average),
 *   D = 1/3 - fz^2 / |k|^2 (B0 along the grid's k axis), Dinv = sign(D) / d0 inside the cone |D| <= d0,
 * plus noise of variance mean_v sigma(v)^2 * mean_k Dinv(k)^2 (Parseval, white noise through the
 * inverse filter), minus the NAWM mean. k is chosen inside the cone with D < 0, where the TKD's
 * sign matters and where a B0 along another axis would give D = 1/3 (no truncation). */
static double kernel_inv(double fx, double fy, double fz) {
    double k2 = fx * fx + fy * fy + fz * fz;
    if (k2 == 0) return 0;
    double D = 1.0 / 3.0 - fz * fz / k2;
    return fabs(D) > PH_TKD_THRESHOLD ? 1.0 / D : (D >= 0 ? 1.0 : -1.0) / PH_TKD_THRESHOLD;
}

static void test_acquire_plane_wave(void **state) {
    (void)state;
    const int a = 8, c = 5, nzf = PH_NZ * PH_SUB;
    const double C = 100.0, TWO_PI = 6.283185307179586;
    const int64_t nxy = (int64_t)PH_NX * PH_NY, nc = nxy * PH_NZ;
    ph_work w;
    memset(&w, 0, sizeof w);
    w.nzf = nzf;
    w.nf = nxy * nzf;
    w.nc = nc;
    w.chi = malloc(sizeof(float) * (size_t)w.nf);
    uint8_t *mask = malloc((size_t)nc), *nawm = malloc((size_t)nc);
    float *q = malloc(sizeof(float) * (size_t)nc);
    double *ph = malloc(sizeof(double) * (size_t)nc);
    assert_non_null(w.chi);
    assert_non_null(mask);
    assert_non_null(nawm);
    assert_non_null(q);
    assert_non_null(ph);
    for (int64_t m = 0; m < nzf; m++)
        for (int64_t j = 0; j < PH_NY; j++)
            for (int64_t i = 0; i < PH_NX; i++)
                w.chi[i + PH_NX * j + nxy * m] = (float)(C * cos(TWO_PI * ((double)(a * i) / PH_NX + (double)(c * m) / nzf)));
    /* the output voxel k averages thin slices 4k .. 4k+3: its phase is that of slice 4k + 1.5 */
    int64_t n_nawm = 0;
    for (int64_t k = 0; k < PH_NZ; k++)
        for (int64_t j = 0; j < PH_NY; j++)
            for (int64_t i = 0; i < PH_NX; i++) {
                int64_t v = i + PH_NX * j + nxy * k;
                ph[v] = TWO_PI * ((double)(a * i) / PH_NX + c * (PH_SUB * k + 1.5) / nzf);
                mask[v] = 1;
                nawm[v] = cos(ph[v]) > 0.5; /* a NAWM whose mean of the wave is far from 0 */
                n_nawm += nawm[v];
            }
    qr_rng r;
    qr_rng_seed(&r, 77, 1);
    assert_int_equal(ph_acquire_qsm(&w, mask, nawm, &r, q), QR_OK);

    /* expected amplitude, from the definitions */
    const double fx = a / (PH_NX * PH_H), fz = c / (nzf * PH_H), k2 = fx * fx + fz * fz;
    const double D = 1.0 / 3.0 - fz * fz / k2;
    assert_true(D < 0 && fabs(D) <= PH_TKD_THRESHOLD); /* inside the cone, negative */
    double A = 0;
    for (int s = 0; s < PH_SUB; s++) A += cos(TWO_PI * fz * PH_H * (s - 1.5)) / PH_SUB;
    const double want = C * A * D * kernel_inv(fx, 0, fz);
    /* projections on the wave: cos gives the amplitude, sin ~ 0 (no phase shift) */
    double pc = 0, ps = 0, mean_nawm = 0;
    for (int64_t v = 0; v < nc; v++) {
        pc += q[v] * cos(ph[v]);
        ps += q[v] * sin(ph[v]);
        if (nawm[v]) mean_nawm += q[v];
    }
    pc *= 2.0 / (double)nc;
    ps *= 2.0 / (double)nc;
    mean_nawm /= (double)n_nawm;
    print_message("plane wave: QSM amplitude %.3f ppb (expected %.3f), quadrature %.3f, NAWM mean %.2g\n", pc, want, ps,
                  mean_nawm);
    assert_true(want > 30.0 && want < 50.0);
    assert_true(fabs(pc - want) < 0.2);
    assert_true(fabs(ps) < 0.2);
    assert_true(fabs(mean_nawm) < 0.01); /* re-referenced: NAWM mean 0 */
    /* the mean of the QSM over all voxels before re-referencing is 0 (Dinv(0) = 0): so the NAWM
     * reference equals minus the mean of the output, and the wave's mean over the NAWM */
    double mean_all = 0, wave_nawm = 0;
    for (int64_t v = 0; v < nc; v++) {
        mean_all += q[v];
        if (nawm[v]) wave_nawm += cos(ph[v]);
    }
    mean_all /= (double)nc;
    wave_nawm /= (double)n_nawm;
    assert_true(fabs(mean_all + want * wave_nawm) < 0.5);

    /* noise: the residual's variance is mean_v sigma(v)^2 * mean_k Dinv(k)^2 */
    double res2 = 0, sig2 = 0;
    for (int64_t k = 0; k < PH_NZ; k++)
        for (int64_t j = 0; j < PH_NY; j++)
            for (int64_t i = 0; i < PH_NX; i++) {
                int64_t v = i + PH_NX * j + nxy * k;
                double e = q[v] - (pc * cos(ph[v]) + ps * sin(ph[v]) + mean_all);
                res2 += e * e;
                double chi = C * A * cos(ph[v]); /* the mean chi of the 4 thin slices */
                double x = (i - 0.5 * (PH_NX - 1)) * PH_H, y = (j - 0.5 * (PH_NY - 1)) * PH_H;
                double sg = PH_NOISE_FIELD_PPB * (0.8 + 0.5 * exp(-(x * x + y * y) / (2.0 * 60.0 * 60.0))) *
                            (1.0 + ph_clamp(chi / 150.0, 0, 3));
                sig2 += sg * sg;
            }
    res2 /= (double)nc;
    sig2 /= (double)nc;
    double gain = 0;
    for (int64_t k = 0; k < PH_NZ; k++)
        for (int64_t j = 0; j < PH_NY; j++)
            for (int64_t i = 0; i < PH_NX; i++) {
                double gx = (i <= PH_NX / 2 ? i : i - PH_NX) / (PH_NX * PH_H);
                double gy = (j <= PH_NY / 2 ? j : j - PH_NY) / (PH_NY * PH_H);
                double gz = (k <= PH_NZ / 2 ? k : k - PH_NZ) / (PH_NZ * PH_SLICE);
                double g = kernel_inv(gx, gy, gz);
                gain += g * g;
            }
    gain /= (double)nc;
    print_message("plane wave: residual variance %.3f ppb^2, expected %.3f\n", res2, sig2 * gain);
    assert_true(fabs(res2 / (sig2 * gain) - 1.0) < 0.01);
    free(w.chi);
    free(mask);
    free(nawm);
    free(q);
    free(ph);
}

/* ---- plan ---- */
static void test_plan_totals(void **state) {
    (void)state;
    const int sizes[] = {1, 3, 5, 40, 172, 500};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        int N = sizes[t];
        qr_phantom_plan p;
        assert_int_equal(qr_phantom_plan_cohort(7, N, &p), QR_OK);
        int64_t L = 0, R = 0;
        for (int s = 0; s < N; s++) {
            assert_true(p.n_lesions[s] >= PH_LESIONS_MIN && p.n_lesions[s] <= PH_LESIONS_MAX);
            assert_true(p.n_rimpos[s] >= 0 && p.n_rimpos[s] <= floor(PH_RIMPOS_MAX_SHARE * p.n_lesions[s]));
            assert_true(p.n_rimpos[s] <= PH_RIMPOS_MAX);
            L += p.n_lesions[s];
            R += p.n_rimpos[s];
        }
        assert_int_equal(L, (int64_t)floor(N * 4163.0 / 172.0 + 0.5));
        assert_int_equal(R, (int64_t)floor(N * 177.0 / 172.0 + 0.5));
        qr_phantom_plan_free(&p);
    }
    qr_phantom_plan p;
    assert_int_equal(qr_phantom_plan_cohort(7, 0, &p), QR_ERR_INVALID_ARG);
}

static void test_plan_default_cohort(void **state) {
    (void)state;
    /* the paper's cohort: 4163 lesions, 177 rim+; rim+ per subject skewed: many subjects without,
     * a tail to ~17. Bands (stated in the README) hold for every seed tried. */
    for (uint64_t seed = 1; seed <= 40; seed++) {
        qr_phantom_plan p, q;
        assert_int_equal(qr_phantom_plan_cohort(seed, 172, &p), QR_OK);
        assert_int_equal(qr_phantom_plan_cohort(seed, 172, &q), QR_OK);
        int zero = 0, mx = 0, g13 = 0, g46 = 0, g7 = 0;
        for (int s = 0; s < 172; s++) {
            assert_int_equal(p.n_lesions[s], q.n_lesions[s]);
            assert_int_equal(p.n_rimpos[s], q.n_rimpos[s]);
            int r = p.n_rimpos[s];
            zero += r == 0;
            g13 += r >= 1 && r <= 3;
            g46 += r >= 4 && r <= 6;
            g7 += r > 6;
            if (r > mx) mx = r;
        }
        assert_true(zero >= 86 && zero <= 138); /* 50 - 80% of subjects without rim+ */
        assert_true(mx >= 8 && mx <= PH_RIMPOS_MAX);
        assert_true(g13 >= 10 && g46 >= 3 && g7 >= 1); /* every stratification group is populated */
        qr_phantom_plan_free(&p);
        qr_phantom_plan_free(&q);
    }
    qr_phantom_plan a, b;
    assert_int_equal(qr_phantom_plan_cohort(1, 172, &a), QR_OK);
    assert_int_equal(qr_phantom_plan_cohort(2, 172, &b), QR_OK);
    assert_memory_not_equal(a.n_lesions, b.n_lesions, sizeof(int) * 172);
    qr_phantom_plan_free(&a);
    qr_phantom_plan_free(&b);
}

/* ---- model (shared by the tests below) ---- */
static qr_phantom_model *g_model = NULL;

static int setup_model(void **state) {
    (void)state;
    if (qr_phantom_model_load(DATA, &g_model) != QR_OK) {
        print_error("cannot load the phantom model: %s\n", qr_last_error());
        return -1;
    }
    return 0;
}

static int teardown_model(void **state) {
    (void)state;
    qr_phantom_model_free(g_model);
    g_model = NULL;
    return 0;
}

static void test_library(void **state) {
    (void)state;
    const qr_phantom_model *m = g_model;
    int n = qr_phantom_library_size(m);
    assert_true(n >= 1300 && n <= 1700); /* 18 masks, confluent lesions split, 10..3000 mm^3 */
    double wneg = 0, sneg = 0, sneg2 = 0, spos = 0, spos2 = 0;
    int npos = 0;
    for (int i = 0; i < n; i++) {
        double v = qr_phantom_library_volume(m, i);
        assert_true(v >= PH_LIB_MIN_MM3 && v <= PH_LIB_MAX_MM3);
        assert_true(strncmp(qr_phantom_library_source(m, i), "patient", 7) == 0);
        assert_true(strncmp(qr_phantom_library_source(m, i), "patient07", 9) != 0);
        double w = pow(v, PH_RIMNEG_SIZE_POWER);
        wneg += w, sneg += w * v, sneg2 += w * v * v;
        if (v >= PH_RIMPOS_MIN_MM3) spos += v, spos2 += v * v, npos++;
    }
    /* expected class sizes before the random scaling (mean of a^3 over U(0.88, 1.12) ~ 1.01) */
    double mneg = sneg / wneg, sdneg = sqrt(sneg2 / wneg - mneg * mneg);
    double mpos = spos / npos, sdpos = sqrt(spos2 / npos - mpos * mpos);
    print_message("library: %d lesions; rim- draw %.0f +- %.0f mm^3, rim+ draw %.0f +- %.0f mm^3\n", n, mneg, sdneg, mpos, sdpos);
    assert_true(mneg > 80 && mneg < 125);   /* published rim- 103 +- 232 */
    assert_true(sdneg > 170 && sdneg < 290);
    assert_true(mpos > 280 && mpos < 400);  /* published rim+ 325 +- 410 */
    assert_true(sdpos > 330 && sdpos < 500);
}

/* The random appearance of rim+ lesions, against phantom_params.h: rims that are not faint have
 * rim_ppb = PH_RIM_PPB_MIN + (PH_RIM_PPB_MAX - PH_RIM_PPB_MIN) Beta(1.3, 1.7), whose mean is
 * 25 + 65 * 1.3 / 3 = 53.2 ppb; faint ones U(25, 38), mean 31.5; shares 30% faint, 20% heterogeneous. */
static void test_rim_appearance_draws(void **state) {
    (void)state;
    qr_rng r;
    qr_rng_seed(&r, 5, 9);
    const int N = 20000;
    double s_strong = 0, s_faint = 0;
    int n_strong = 0, n_faint = 0, n_het = 0;
    for (int i = 0; i < N; i++) {
        ph_lesion L;
        ph_lesion_draw_params(&g_model->lib, 1, &r, &L);
        assert_int_equal(L.app, QR_PHANTOM_APP_RIM);
        if (L.conf & QR_PHANTOM_CONF_FAINT_RIM) s_faint += L.rim_ppb, n_faint++;
        else s_strong += L.rim_ppb, n_strong++;
        n_het += (L.conf & QR_PHANTOM_CONF_HETEROGENEOUS_RIM) != 0;
    }
    const double want = PH_RIM_PPB_MIN + (PH_RIM_PPB_MAX - PH_RIM_PPB_MIN) * 1.3 / 3.0;
    print_message("rim+ draws: rim %.2f ppb (expected %.2f), faint %.2f (expected %.2f), %d faint, %d heterogeneous\n",
                  s_strong / n_strong, want, s_faint / n_faint, 0.5 * (PH_RIM_PPB_MIN + PH_FAINT_RIM_PPB_MAX), n_faint, n_het);
    /* sd of Beta(1.3, 1.7) * 65 is ~16 ppb: the mean of ~14000 draws is within 0.14 ppb (1 sd) */
    assert_true(fabs(s_strong / n_strong - want) < 0.7);
    assert_true(fabs(s_faint / n_faint - 0.5 * (PH_RIM_PPB_MIN + PH_FAINT_RIM_PPB_MAX)) < 0.3);
    assert_true(fabs((double)n_faint / N - PH_P_FAINT_RIM) < 0.02);
    assert_true(fabs((double)n_het / N - PH_P_HETERO_RIM) < 0.02);
    /* rim- lesions below 30 mm^3 never get a partial rim (too small to show one: they are iso) */
    int small = 0, small_partial = 0, partial = 0;
    for (int i = 0; i < N; i++) {
        ph_lesion L;
        ph_lesion_draw_params(&g_model->lib, 0, &r, &L);
        const double vol = g_model->lib.items[L.lib].volume_mm3;
        partial += L.app == QR_PHANTOM_APP_PARTIAL_RIM;
        if (vol < 30.0) small++, small_partial += L.app == QR_PHANTOM_APP_PARTIAL_RIM;
    }
    print_message("rim- draws: %d partial rims, %d lesions below 30 mm^3, %d of them partial\n", partial, small, small_partial);
    assert_true(small > 1000 && partial > 500);
    assert_int_equal(small_partial, 0);
}

static void test_bad_data_dir(void **state) {
    (void)state;
    qr_phantom_model *m = (qr_phantom_model *)1;
    assert_int_equal(qr_phantom_model_load("/nonexistent/phantom-data", &m), QR_ERR_IO);
    assert_null(m);
    assert_non_null(strstr(qr_last_error(), "/nonexistent/phantom-data"));
}

/* ---- one subject ---- */
static void check_geometry(const qr_volume *v, qr_dtype t) {
    assert_int_equal(v->dtype, t);
    assert_int_equal(v->geom.size[0], 256);
    assert_int_equal(v->geom.size[1], 256);
    assert_int_equal(v->geom.size[2], 48);
    assert_true(fabs(v->geom.spacing[0] - 0.75) < 1e-12 && fabs(v->geom.spacing[1] - 0.75) < 1e-12);
    assert_true(fabs(v->geom.spacing[2] - 3.0) < 1e-12);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) assert_true(v->geom.direction[3 * r + c] == (r == c ? 1.0 : 0.0));
    /* centred on the origin */
    double mid[3] = {127.5, 127.5, 23.5}, lps[3];
    qr_geometry_index_to_lps(&v->geom, mid, lps);
    for (int r = 0; r < 3; r++) assert_true(fabs(lps[r]) < 1e-9);
}

static void test_subject(void **state) {
    (void)state;
    const int NL = 24, NR = 8;
    qr_phantom_subject s, t;
    assert_int_equal(qr_phantom_subject_generate(g_model, 42, 3, NL, NR, NULL, &s), QR_OK);
    check_geometry(&s.qsm, QR_FLOAT32);
    check_geometry(&s.flair, QR_FLOAT32);
    check_geometry(&s.labels, QR_INT32);
    check_geometry(&s.chi, QR_FLOAT32);
    check_geometry(&s.rim, QR_INT32);
    assert_int_equal(s.n_lesions, NL);
    assert_int_equal(qr_volume_count_nonfinite(&s.qsm), 0);
    assert_int_equal(qr_volume_count_nonfinite(&s.flair), 0);

    const int64_t nv = qr_volume_nvox(&s.labels);
    const int32_t *lab = qr_volume_i32(&s.labels), *rim = qr_volume_i32(&s.rim);
    const float *q = qr_volume_f32(&s.qsm), *fl = qr_volume_f32(&s.flair);
    int64_t cnt[NL + 1];
    memset(cnt, 0, sizeof cnt);
    double rsum[NL + 1], csum[NL + 1];
    int64_t rn[NL + 1], cn[NL + 1];
    memset(rsum, 0, sizeof rsum), memset(csum, 0, sizeof csum), memset(rn, 0, sizeof rn), memset(cn, 0, sizeof cn);
    int64_t brain = 0;
    for (int64_t i = 0; i < nv; i++) {
        assert_true(lab[i] >= 0 && lab[i] <= NL);
        cnt[lab[i]]++;
        if (lab[i]) {
            assert_true(q[i] != 0.0f); /* lesions are inside the QSM mask */
            assert_true(fl[i] > 0.0f);
            if (rim[i] == lab[i]) rsum[lab[i]] += q[i], rn[lab[i]]++;
            else csum[lab[i]] += q[i], cn[lab[i]]++;
        }
        brain += q[i] != 0.0f;
    }
    assert_true(brain > 500000 && brain < 1600000); /* ~1.1 l of brain at 1.6875 mm^3 per voxel */
    /* labels 1..n, first voxels in memory order increasing, table sorted by id and consistent */
    int32_t last = 0;
    for (int64_t i = 0; i < nv; i++)
        if (lab[i] > last) {
            assert_int_equal(lab[i], last + 1);
            last = lab[i];
        }
    assert_int_equal(last, NL);
    int nrim = 0, rim_pos_contrast = 0;
    double contrast_sum = 0;
    for (int l = 0; l < NL; l++) {
        const qr_phantom_lesion *L = &s.lesions[l];
        assert_int_equal(L->id, l + 1);
        assert_int_equal(L->voxels, cnt[l + 1]);
        assert_true(L->voxels >= 1);
        assert_true(fabs(L->volume_mm3 - L->voxels * 0.75 * 0.75 * 3.0) < 1e-6);
        assert_true(L->appearance >= 0 && L->appearance < QR_PHANTOM_APP_COUNT);
        if (L->rim) {
            nrim++;
            assert_int_equal(L->appearance, QR_PHANTOM_APP_RIM);
            assert_true(L->rim_coverage >= 0.5 && L->rim_coverage <= 1.0); /* the reading criterion */
            assert_true(L->rim_ppb >= PH_RIM_PPB_MIN && L->rim_ppb <= PH_RIM_PPB_MAX);
            assert_true(L->core_ppb >= PH_RIM_CORE_MIN && L->core_ppb <= PH_RIM_CORE_MAX);
            assert_true(L->volume_mm3 >= 20.0); /* rim+ lesions come from library lesions >= 50 mm^3 */
            assert_true(rn[l + 1] > 0);
            /* the rim on the generated QSM: rim voxels minus the lesion's other voxels */
            if (cn[l + 1] > 0) {
                double c = rsum[l + 1] / rn[l + 1] - csum[l + 1] / cn[l + 1];
                contrast_sum += c;
                rim_pos_contrast += c > 0;
                assert_true(fabs(c - L->rim_contrast_ppb) < 0.05 + 1e-3 * fabs(c));
            }
        } else {
            assert_int_not_equal(L->appearance, QR_PHANTOM_APP_RIM);
            assert_true(L->rim_coverage < 0.5);
            if (L->appearance != QR_PHANTOM_APP_PARTIAL_RIM) assert_true(L->rim_ppb == 0.0 && L->rim_coverage == 0.0);
        }
    }
    assert_int_equal(nrim, NR);
    print_message("rim+ lesions: mean rim-minus-core contrast on the QSM %.1f ppb, positive in %d of %d\n",
                  contrast_sum / NR, rim_pos_contrast, NR);
    assert_true(contrast_sum / NR > 8.0);
    assert_true(rim_pos_contrast >= NR - 1);
    /* rim truth voxels belong to rim-carrying lesions only */
    for (int64_t i = 0; i < nv; i++)
        if (rim[i]) assert_true(s.lesions[rim[i] - 1].rim_ppb > 0);

    /* determinism: the same subject again, bit for bit */
    assert_int_equal(qr_phantom_subject_generate(g_model, 42, 3, NL, NR, NULL, &t), QR_OK);
    assert_memory_equal(s.qsm.data, t.qsm.data, sizeof(float) * (size_t)nv);
    assert_memory_equal(s.flair.data, t.flair.data, sizeof(float) * (size_t)nv);
    assert_memory_equal(s.labels.data, t.labels.data, sizeof(int32_t) * (size_t)nv);
    qr_phantom_subject_free(&t);
    /* another subject index differs */
    assert_int_equal(qr_phantom_subject_generate(g_model, 42, 4, NL, NR, NULL, &t), QR_OK);
    assert_memory_not_equal(s.qsm.data, t.qsm.data, sizeof(float) * (size_t)nv);
    qr_phantom_subject_free(&t);
    qr_phantom_subject_free(&s);
}

static void test_subject_bad_plan(void **state) {
    (void)state;
    qr_phantom_subject s;
    assert_int_equal(qr_phantom_subject_generate(g_model, 1, 0, 5, 6, NULL, &s), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_phantom_subject_generate(g_model, 1, -1, 5, 1, NULL, &s), QR_ERR_INVALID_ARG);
    volatile int cancel = 1;
    assert_int_equal(qr_phantom_subject_generate(g_model, 1, 0, 5, 1, (const volatile int *)&cancel, &s), QR_ERR_CANCELLED);
    assert_null(s.qsm.data);
}

int main(void) {
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_edt_brute_force),
        cmocka_unit_test(test_distributions),
        cmocka_unit_test(test_plan_totals),
        cmocka_unit_test(test_plan_default_cohort),
        cmocka_unit_test(test_bad_data_dir),
        cmocka_unit_test(test_acquire_plane_wave),
    };
    const struct CMUnitTest model[] = {
        cmocka_unit_test(test_library),
        cmocka_unit_test(test_rim_appearance_draws),
        cmocka_unit_test(test_subject),
        cmocka_unit_test(test_subject_bad_plan),
    };
    int fails = cmocka_run_group_tests_name("phantom (no data)", pure, NULL, NULL);
    fails += cmocka_run_group_tests_name("phantom (model)", model, setup_model, teardown_model);
    return fails;
}
