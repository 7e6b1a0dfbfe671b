/*
 * test_picture.c - the prediction summary PNG: lesions drawn in their decision colours at the
 * right place and in the radiological orientation (patient right on the picture's left), the
 * same picture whatever the images' storage order.
 */
#define _GNU_SOURCE
#include <cairo.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/geometry.h"
#include "render/picture.h"

/* A 64x64x8 grid, 1 mm in-plane, 3 mm slices, LPS identity direction. Two lesions in slice 4:
 * lesion 1 (rim+) at i = 10..15 (patient right: small LPS x = right), lesion 2 (rim-) at
 * i = 45..50 (patient left). */
static void make_prediction(qr_prediction *p, qr_volume *qsm, qr_volume *flair) {
    memset(p, 0, sizeof *p);
    qr_geometry g = qr_geometry_identity(64, 64, 8);
    g.spacing[2] = 3.0;
    assert_int_equal(qr_volume_alloc(qsm, &g, QR_FLOAT32), QR_OK);
    assert_int_equal(qr_volume_alloc(flair, &g, QR_FLOAT32), QR_OK);
    for (int64_t i = 0; i < qr_volume_nvox(qsm); i++) {
        qr_volume_f32(qsm)[i] = 0.0f;
        qr_volume_f32(flair)[i] = 100.0f + (float)(i % 7);
    }
    assert_int_equal(qr_volume_alloc(&p->labels, &g, QR_INT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&p->overlay, &g, QR_INT32), QR_OK);
    assert_int_equal(qr_volume_alloc(&p->probability, &g, QR_FLOAT32), QR_OK);
    for (int j = 20; j <= 25; j++)
        for (int i = 10; i <= 15; i++) {
            int64_t v = qr_geometry_index(&g, i, j, 4);
            qr_volume_i32(&p->labels)[v] = 1;
            qr_volume_i32(&p->overlay)[v] = QR_DECISION_RIM_POS;
        }
    for (int j = 20; j <= 25; j++)
        for (int i = 45; i <= 50; i++) {
            int64_t v = qr_geometry_index(&g, i, j, 4);
            qr_volume_i32(&p->labels)[v] = 2;
            qr_volume_i32(&p->overlay)[v] = QR_DECISION_RIM_NEG;
        }
    p->n = 2;
    p->lesions = calloc(2, sizeof *p->lesions);
    double c1[3] = {12.5, 22.5, 4}, c2[3] = {47.5, 22.5, 4};
    p->lesions[0].id = 1;
    p->lesions[0].probability = 0.9;
    p->lesions[0].decision = QR_DECISION_RIM_POS;
    qr_geometry_index_to_ras(&g, c1, p->lesions[0].center_ras);
    p->lesions[1].id = 2;
    p->lesions[1].probability = 0.1;
    p->lesions[1].decision = QR_DECISION_RIM_NEG;
    qr_geometry_index_to_ras(&g, c2, p->lesions[1].center_ras);
    p->n_rim_positive = 1;
    p->threshold_used = 0.5;
    p->threshold_sensitive = 0.3;
}

/* Count pixels of colour c in columns x0..x1 below the headings (y >= y0), left and right halves. */
static void count_color(cairo_surface_t *s, const unsigned char c[3], int x0, int x1, int y0, int *left, int *right) {
    unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s), h = cairo_image_surface_get_height(s);
    *left = *right = 0;
    for (int y = y0; y < h; y++)
        for (int x = x0; x < x1; x++) {
            uint32_t px = ((uint32_t *)(d + (size_t)y * stride))[x];
            if (((px >> 16) & 255) == c[0] && ((px >> 8) & 255) == c[1] && (px & 255) == c[2]) {
                if (x < (x0 + x1) / 2)
                    (*left)++;
                else
                    (*right)++;
            }
        }
}

static void test_picture_colours_and_orientation(void **state) {
    (void)state;
    qr_prediction p;
    qr_volume qsm, flair;
    make_prediction(&p, &qsm, &flair);
    /* lesion 1 bright on the QSM, so the close-up column can be checked */
    for (int64_t i = 0; i < qr_volume_nvox(&qsm); i++)
        if (qr_volume_i32(&p.labels)[i] == 1) qr_volume_f32(&qsm)[i] = 150.0f;
    char path[] = "/tmp/qsmrim-picture-XXXXXX.png";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    qr_picture_options o = qr_picture_options_default();
    o.title = "test subject";
    if (qr_picture_write(&qsm, &flair, &p, &o, path) != QR_OK) fail_msg("%s", qr_last_error());
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    /* zoom 2: tiles of 128 px; four tiles + 5 pads of 8 px */
    int tile = 128, pad = 8, ytiles = 84 + 24; /* title + summary + legend, then the column heading */
    assert_int_equal(cairo_image_surface_get_width(s), 4 * tile + 5 * pad);
    unsigned char red[3], blue[3];
    qr_decision_color(QR_DECISION_RIM_POS, red);
    qr_decision_color(QR_DECISION_RIM_NEG, blue);
    int l, r;
    /* third column: rim+ lesion (patient right, i = 10..15) appears on the picture's LEFT */
    int x0 = 3 * pad + 2 * tile, x1 = x0 + tile;
    count_color(s, red, x0, x1, ytiles, &l, &r);
    assert_true(l > 20); /* outline of a 6x6 mm lesion at zoom 2: ~ 4 * 12 * 2 px */
    count_color(s, blue, x0, x1, ytiles, &l, &r);
    assert_true(r > 20);
    /* only lesion pixels are outlined: the background just outside lesion 1 (i = 9, 1 px left of its
     * edge at i = 10; its number is drawn up and to the right) keeps the QSM grey of 0 ppb, 102 */
    {
        const unsigned char *d = cairo_image_surface_get_data(s);
        int stride = cairo_image_surface_get_stride(s);
        for (int dx = 18; dx <= 19; dx++) {
            const unsigned char *px = d + (size_t)(ytiles + 46) * stride + 4 * (x0 + dx);
            assert_int_equal(px[0], 102);
            assert_int_equal(px[1], 102);
            assert_int_equal(px[2], 102);
        }
        const unsigned char *in = d + (size_t)(ytiles + 46) * stride + 4 * (x0 + 20); /* lesion edge: red */
        assert_int_equal(in[2], red[0]);
        assert_int_equal(in[1], red[1]);
        assert_int_equal(in[0], red[2]);
    }
    /* first column (plain QSM) has no outlines */
    count_color(s, red, pad, pad + tile, ytiles, &l, &r);
    assert_int_equal(l + r, 0);
    /* fourth column: a 40 mm close-up centred on lesion 1 (6 mm wide: +-9.6 px at 3.2 px/mm),
     * QSM window -100..150 ppb: the lesion (150 ppb) white, 0 ppb around it grey (102) */
    {
        const unsigned char *d = cairo_image_surface_get_data(s);
        int stride = cairo_image_surface_get_stride(s), cx = 4 * pad + 3 * tile + tile / 2, cy = ytiles + tile / 2;
        unsigned centre = d[(size_t)cy * stride + 4 * cx], side = d[(size_t)cy * stride + 4 * (cx - 30)],
                 above = d[(size_t)(cy - 30) * stride + 4 * cx];
        assert_int_equal(centre, 255);
        assert_int_equal(side, 102);
        assert_int_equal(above, 102);
    }
    cairo_surface_destroy(s);
    if (getenv("QSMRIM_TEST_KEEP"))
        printf("picture kept: %s\n", path); /* for looking at it */
    else
        unlink(path);
    qr_prediction_free(&p);
    qr_volume_free(&qsm);
    qr_volume_free(&flair);
}

/* Render a prediction to a PNG and return it as an image surface (the file removed). */
static cairo_surface_t *render(const qr_volume *qsm, const qr_volume *flair, const qr_prediction *p) {
    char path[] = "/tmp/qsmrim-picture-XXXXXX.png";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    close(fd);
    qr_picture_options o = qr_picture_options_default();
    if (qr_picture_write(qsm, flair, p, &o, path) != QR_OK) fail_msg("%s", qr_last_error());
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    unlink(path);
    assert_int_equal(cairo_surface_status(s), CAIRO_STATUS_SUCCESS);
    return s;
}

/* The same images stored in another axis order (slices along the old j axis, two axes mirrored):
 * the same picture, pixel for pixel - the slice axis is the one closest to S, not index k. */
static void test_picture_storage_order(void **state) {
    (void)state;
    qr_prediction p, q;
    qr_volume qsm, flair, qsm2, flair2;
    make_prediction(&p, &qsm, &flair);
    for (int64_t i = 0; i < qr_volume_nvox(&qsm); i++) qr_volume_f32(&qsm)[i] = (float)(i % 11) * 10.0f;
    /* in-plane voxels of 0.8 x 1 mm; lesion centres between slice centres (S 1 mm above slice 4) */
    qr_volume *all[5] = {&qsm, &flair, &p.labels, &p.overlay, &p.probability};
    for (int v = 0; v < 5; v++) all[v]->geom.spacing[0] = 0.8;
    const double c[2][3] = {{12.5, 22.5, 4.0 + 1.0 / 3.0}, {47.5, 22.5, 4.0 + 1.0 / 3.0}};
    for (int u = 0; u < 2; u++) qr_geometry_index_to_ras(&qsm.geom, c[u], p.lesions[u].center_ras);
    const qr_axis_order order = {{2, 1, 0}, {1, 0, 1}}; /* slices along the old i axis (0.8 mm) */
    q = p;
    assert_int_equal(qr_volume_reorder(&qsm, &order, &qsm2), QR_OK);
    assert_int_equal(qr_volume_reorder(&flair, &order, &flair2), QR_OK);
    assert_int_equal(qr_volume_reorder(&p.labels, &order, &q.labels), QR_OK);
    assert_int_equal(qr_volume_reorder(&p.overlay, &order, &q.overlay), QR_OK);
    assert_int_equal(qr_volume_reorder(&p.probability, &order, &q.probability), QR_OK);
    assert_true(qsm2.geom.size[2] == 64 && qsm2.geom.spacing[0] == 3.0 && qsm2.geom.spacing[2] == 0.8);
    cairo_surface_t *a = render(&qsm, &flair, &p), *b = render(&qsm2, &flair2, &q);
    const int w = cairo_image_surface_get_width(a), h = cairo_image_surface_get_height(a);
    assert_int_equal(cairo_image_surface_get_width(b), w);
    assert_int_equal(cairo_image_surface_get_height(b), h);
    const int sa = cairo_image_surface_get_stride(a), sb = cairo_image_surface_get_stride(b);
    int differ = 0;
    for (int y = 0; y < h; y++)
        differ += memcmp(cairo_image_surface_get_data(a) + (size_t)y * sa, cairo_image_surface_get_data(b) + (size_t)y * sb,
                         (size_t)w * 4) != 0;
    assert_int_equal(differ, 0);
    cairo_surface_destroy(a);
    cairo_surface_destroy(b);
    qr_volume_free(&q.labels);
    qr_volume_free(&q.overlay);
    qr_volume_free(&q.probability);
    qr_prediction_free(&p);
    qr_volume_free(&qsm);
    qr_volume_free(&flair);
    qr_volume_free(&qsm2);
    qr_volume_free(&flair2);
}

/* Count pixels of colour c in the box [x0, x1) x [y0, y1). */
static int count_in_box(cairo_surface_t *s, const unsigned char c[3], int x0, int x1, int y0, int y1) {
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s), n = 0;
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            uint32_t px = ((const uint32_t *)(d + (size_t)y * stride))[x];
            n += ((px >> 16) & 255) == c[0] && ((px >> 8) & 255) == c[1] && (px & 255) == c[2];
        }
    return n;
}

/* Each lesion's number is written beside its own lesion, in its decision colour, whatever the
 * labels' values and the order of the lesion list: lesions listed 70000 (rim+, patient right),
 * then 3 (rim-, patient left), and a label of the map that the list does not hold. */
static void test_picture_lesion_numbers(void **state) {
    (void)state;
    qr_prediction p;
    qr_volume qsm, flair;
    make_prediction(&p, &qsm, &flair);
    for (int64_t i = 0; i < qr_volume_nvox(&qsm); i++) {
        int32_t *lab = &qr_volume_i32(&p.labels)[i];
        *lab = *lab == 1 ? 70000 : *lab == 2 ? 3 : *lab;
    }
    qr_volume_i32(&p.labels)[qr_geometry_index(&p.labels.geom, 30, 50, 4)] = 5; /* in no list */
    p.lesions[0].id = 70000;
    p.lesions[1].id = 3;
    cairo_surface_t *s = render(&qsm, &flair, &p);
    unsigned char red[3], blue[3];
    qr_decision_color(QR_DECISION_RIM_POS, red);
    qr_decision_color(QR_DECISION_RIM_NEG, blue);
    /* third column from x = 3 pad + 2 tiles; tiles from y = 60 + 24 (no title); 0.5 mm pixels with
     * the patient's right (LPS i = 0) at x = 1: lesion 70000 (i 10..15, j 20..25) centred near
     * (26, 46), lesion 3 (i 45..50) near (96, 46). A number starts 8 px right of the centre with
     * its baseline 8 px above it, clear of the outline. */
    const int x0 = 3 * 8 + 2 * 128, y0 = 60 + 24, cy = 46, cx[2] = {26, 96};
    for (int u = 0; u < 2; u++) {
        int bx = x0 + cx[u] + 6, by = y0 + cy - 22;
        int nred = count_in_box(s, red, bx, bx + 40, by, by + 14), nblue = count_in_box(s, blue, bx, bx + 40, by, by + 14);
        if (u == 0) {
            assert_true(nred > 10);
            assert_int_equal(nblue, 0);
        } else {
            assert_true(nblue > 10);
            assert_int_equal(nred, 0);
        }
    }
    cairo_surface_destroy(s);
    qr_prediction_free(&p);
    qr_volume_free(&qsm);
    qr_volume_free(&flair);
}

/* The decision colours are those of the 3D Slicer colour table the overlays are loaded with
 * (Resources/QSMRimLesions.ctbl): rim- blue, review amber, rim+ red, each distinct. */
static void test_picture_colours_match_slicer_table(void **state) {
    (void)state;
    FILE *f = fopen(QSMRIM_SOURCE_DIR "/Resources/QSMRimLesions.ctbl", "r");
    assert_non_null(f);
    char line[256];
    int seen = 0;
    while (fgets(line, sizeof line, f)) {
        int id, r, g, b, a;
        char name[64];
        if (line[0] == '#' || sscanf(line, "%d %63s %d %d %d %d", &id, name, &r, &g, &b, &a) != 6) continue;
        unsigned char c[3];
        qr_decision_color(id, c);
        print_message("decision %d (%s): table %d %d %d, picture %d %d %d\n", id, name, r, g, b, c[0], c[1], c[2]);
        assert_int_equal(c[0], r);
        assert_int_equal(c[1], g);
        assert_int_equal(c[2], b);
        seen |= 1 << id;
    }
    fclose(f);
    assert_int_equal(seen, 0xF); /* codes 0 (background) to 3 (rim+) */
}

/* The FLAIR column's automatic window is the 1st to the 99.5th percentile of the FLAIR's non-zero
 * voxels. (a) 3% of them at 1, the rest 100 and 106: window [1, 106], so 100 is drawn
 * 255 * 99 / 105 -> 240 and 106 white. (b) One voxel far above the rest (bulk 100..106 in one of
 * the 4096 histogram bins): the window still spans the bulk, whose values keep distinct greys. */
static void test_picture_flair_window(void **state) {
    (void)state;
    qr_prediction p;
    qr_volume qsm, flair;
    make_prediction(&p, &qsm, &flair);
    const qr_geometry *g = &flair.geom;
    float *fl = qr_volume_f32(&flair);
    int64_t low = 0;
    for (int k = 0; k < 8; k++)
        for (int j = 0; j < 64; j++)
            for (int i = 0; i < 64; i++) {
                int64_t v = qr_geometry_index(g, i, j, k);
                fl[v] = i < 32 ? 100.0f : 106.0f;
                if (k == 0 && low < (int64_t)(0.03 * 64 * 64 * 8)) fl[v] = 1.0f, low++;
            }
    /* the FLAIR tile (second column, zoom 2, no title: tiles start at y = 60 + 24); patient right
     * (small i) on the left */
    const int tile = 128, pad = 8, x0 = 2 * pad + tile, y0 = 60 + 24;
    cairo_surface_t *s = render(&qsm, &flair, &p);
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    unsigned left = d[(size_t)(y0 + 64) * stride + 4 * (x0 + 20)], right = d[(size_t)(y0 + 64) * stride + 4 * (x0 + 108)];
    print_message("FLAIR window (a): 100 drawn %u, 106 drawn %u\n", left, right);
    assert_int_equal(left, 240);
    assert_int_equal(right, 255);
    cairo_surface_destroy(s);

    /* (b) */
    for (int64_t v = 0; v < qr_volume_nvox(&flair); v++) fl[v] = 100.0f + (float)(v % 7);
    fl[qr_geometry_index(g, 0, 0, 0)] = 100.0f + 4096.0f * 10.0f;
    s = render(&qsm, &flair, &p);
    d = cairo_image_surface_get_data(s);
    stride = cairo_image_surface_get_stride(s);
    int used[256] = {0}, levels = 0;
    for (int y = 4; y < tile - 4; y++)
        for (int x = 4; x < tile - 4; x++) used[d[(size_t)(y0 + y) * stride + 4 * (x0 + x)]] = 1;
    for (int k = 0; k < 256; k++) levels += used[k];
    print_message("FLAIR window (b): %d grey levels for the 7 FLAIR values\n", levels);
    assert_true(levels >= 6);
    cairo_surface_destroy(s);
    qr_prediction_free(&p);
    qr_volume_free(&qsm);
    qr_volume_free(&flair);
}

/* The picture is PNG whatever the name: a name that says otherwise is refused, naming the path. */
static void test_picture_path_check(void **state) {
    (void)state;
    assert_int_equal(qr_picture_path_check("out/picture.png"), QR_OK);
    assert_int_equal(qr_picture_path_check("out/PICTURE.PNG"), QR_OK);
    const char *bad[] = {"out/picture.jpg", "out/picture.nrrd", "out/picture", "png", "out/picture.png.tmp"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(qr_picture_path_check(bad[i]), QR_ERR_INVALID_ARG);
        assert_non_null(strstr(qr_last_error(), bad[i]));
        assert_non_null(strstr(qr_last_error(), "ending in .png"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_picture_colours_and_orientation),
                                       cmocka_unit_test(test_picture_storage_order),
                                       cmocka_unit_test(test_picture_lesion_numbers),
                                       cmocka_unit_test(test_picture_path_check),
                                       cmocka_unit_test(test_picture_colours_match_slicer_table),
                                       cmocka_unit_test(test_picture_flair_window)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
