/*
 * test_config.c - TRAIN.yaml settings: defaults as the paper (40 epochs, batch 64, lr 1e-4,
 * milestones at 50/70/90%), every key read, unknown keys and bad values refused with the key named;
 * a relative 'radiomics' file is taken from the settings file's folder, whatever the current folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "train/config.h"
#include "train/learner.h"

static void test_defaults(void **state) {
    (void)state;
    qr_train_config c = qr_train_config_default();
    assert_int_equal(c.epochs, 40);
    assert_int_equal(c.batch_size, 64);
    assert_true(c.learning_rate == 1e-4);
    int m[8];
    assert_int_equal(qr_train_config_milestone_epochs(&c, m, 8), 3);
    assert_int_equal(m[0], 20);
    assert_int_equal(m[1], 28);
    assert_int_equal(m[2], 36);
    assert_int_equal(c.rf_trees, 500);
    assert_int_equal(c.n_mtry, 10);
    assert_string_equal(c.fusion, "add");
    assert_string_equal(c.image_fusion, "channels");
    assert_string_equal(c.deepsmote, "released");
    assert_string_equal(c.patch_sampling, "auto");
    assert_string_equal(c.rimnet_turns, "positives");
}

static void test_parse(void **state) {
    (void)state;
    qr_train_config c = qr_train_config_default();
    const char *text = "# a comment\n"
                       "width: 8\nfusion: concat\nimage_fusion: branches\ndeepsmote: paper\nuse_radiomics: false\nepochs: 3\n"
                       "batch_size: 16\nlearning_rate: 3.0e-4\nlr_milestones: [0.5]\nlr_gamma: 0.5\n"
                       "augment: no\np_flip: 0.25\nrf_mtry: [2, 4]\nrf_trees: 50\nradiomics: params.yaml\n"
                       "holdout: 0\nthreads: 2\nrimnet_class_weight: auto\nrimnet_pool_stride: 2\npatch_sampling: host\nrimnet_turns: all\n";
    assert_int_equal(qr_train_config_parse(text, "t.yaml", &c), QR_OK);
    assert_int_equal(c.width, 8);
    assert_int_equal(c.width_set, 1);
    assert_string_equal(c.fusion, "concat");
    assert_string_equal(c.image_fusion, "branches");
    assert_string_equal(c.deepsmote, "paper");
    assert_int_equal(c.use_radiomics, 0);
    assert_int_equal(c.epochs, 3);
    assert_int_equal(c.batch_size, 16);
    assert_true(c.learning_rate == 3e-4);
    assert_int_equal(c.n_milestones, 1);
    assert_int_equal(c.augment, 0);
    assert_true(c.p_flip == 0.25);
    assert_int_equal(c.n_mtry, 2);
    assert_int_equal(c.rf_mtry[1], 4);
    assert_string_equal(c.radiomics, "params.yaml");
    assert_true(c.holdout == 0);
    assert_int_equal(c.rimnet_pool_stride, 2);
    assert_string_equal(c.patch_sampling, "host");
    assert_string_equal(c.rimnet_turns, "all");
    int m[8];
    assert_int_equal(qr_train_config_milestone_epochs(&c, m, 8), 1);
    assert_int_equal(m[0], 2);
    /* config.h: round(fraction * epochs), strictly increasing, within 1..epochs-1. With 10 epochs,
     * 0.01 -> 0 (before any step), 0.3 and 0.31 -> 3 twice (once: the rate is not cut twice at
     * epoch 3), 1.0 -> 10 (never reached): only epoch 3 */
    c.epochs = 10;
    c.n_milestones = 4;
    c.milestones[0] = 0.01, c.milestones[1] = 0.3, c.milestones[2] = 0.31, c.milestones[3] = 1.0;
    assert_int_equal(qr_train_config_milestone_epochs(&c, m, 8), 1);
    assert_int_equal(m[0], 3);
}

static void test_errors(void **state) {
    (void)state;
    qr_train_config c = qr_train_config_default();
    assert_int_equal(qr_train_config_parse("epocs: 3\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "unknown setting 'epocs'"));
    assert_int_equal(qr_train_config_parse("fusion: sum\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "'fusion' must be one of add | concat"));
    assert_int_equal(qr_train_config_parse("image_fusion: both\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "'image_fusion' must be one of channels | branches"));
    assert_int_equal(qr_train_config_parse("patch_sampling: gpu\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "'patch_sampling' must be one of auto | host"));
    assert_int_equal(qr_train_config_parse("rimnet_turns: some\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "'rimnet_turns' must be one of positives | all | none"));
    assert_int_equal(qr_train_config_parse("epochs: -1\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_train_config_parse("learning_rate: fast\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_train_config_parse("lr_milestones: [0.7, 0.5]\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_int_equal(qr_train_config_parse("lr_schedule: cosine\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "'lr_schedule' must be one of auto | multistep | plateau"));
    assert_int_equal(qr_train_config_parse("lr_plateau_rates: [1.0e-5, 5.0e-5]\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "'lr_plateau_rates' must decrease"));
    assert_int_equal(qr_train_config_parse("lr_plateau_rates: 1.0e-5\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "'lr_plateau_rates' must be a list"));
    assert_int_equal(qr_train_config_parse("lr_plateau_patience: 0\n", "t.yaml", &c), QR_ERR_INVALID_ARG);
    /* a setting given twice is refused (it took the last value without a word) */
    assert_int_equal(qr_train_config_parse("width: 2\nepochs: 2\nepochs: 3\n", "t.yaml", &c), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "t.yaml: line 3: 'epochs' is given twice (also on line 2); keep one"));
    assert_int_equal(qr_train_config_parse("rf_mtry: 3\nrf_mtry: [4, 5]\n", "t.yaml", &c), QR_ERR_FORMAT);
    assert_int_equal(qr_train_config_parse("[1, 2]\n", "t.yaml", &c), QR_ERR_FORMAT);
    assert_int_equal(qr_train_config_parse("width: [1\n", "t.yaml", &c), QR_ERR_FORMAT);
    assert_non_null(strstr(qr_last_error(), "not valid YAML"));
    assert_int_equal(qr_train_config_read("/nonexistent/train.yaml", &c), QR_ERR_IO);
    assert_int_equal(qr_train_config_parse("", "empty.yaml", &c), QR_OK); /* empty file: defaults */
}

/* sub/train.yaml names "params.yaml", the file beside it, while the current folder holds another
 * params.yaml: read from the parent folder and from elsewhere, the one beside the settings is used. */
static void test_relative_paths(void **state) {
    (void)state;
    char dir[512], cwd[1024], p[1024], want[1024], cmd[4096];
    snprintf(dir, sizeof dir, "%s/tests/config_%d", QSMRIM_BINARY_DIR, (int)getpid());
    snprintf(cmd, sizeof cmd,
             "rm -rf %s && mkdir -p %s/sub && cd %s && printf 'epochs: 2\\nradiomics: params.yaml\\n' >sub/train.yaml && "
             "printf 'setting:\\n  binWidth: 25\\n' >sub/params.yaml && printf 'setting:\\n  binWidth: 5\\n' >params.yaml && "
             "printf 'radiomics: gone.yaml\\n' >sub/bad.yaml && printf 'radiomics: .\\n' >sub/folder.yaml && "
             "printf 'radiomics: %s/params.yaml\\n' >sub/abs.yaml",
             dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    assert_non_null(getcwd(cwd, sizeof cwd));

    assert_int_equal(chdir(dir), 0);
    qr_train_config c = qr_train_config_default();
    assert_int_equal(qr_train_config_read("sub/train.yaml", &c), QR_OK);
    assert_string_equal(c.radiomics, "sub/params.yaml");
    c = qr_train_config_default();
    assert_int_equal(qr_train_config_read("sub/bad.yaml", &c), QR_ERR_IO);
    assert_non_null(strstr(qr_last_error(), "sub/bad.yaml: 'radiomics': cannot open sub/gone.yaml"));
    assert_int_equal(qr_train_config_read("sub/folder.yaml", &c), QR_ERR_INVALID_ARG);
    assert_non_null(strstr(qr_last_error(), "sub/folder.yaml: 'radiomics': sub/. is a folder"));
    /* from the settings file's own folder the name stays as written */
    assert_int_equal(chdir("sub"), 0);
    c = qr_train_config_default();
    assert_int_equal(qr_train_config_read("train.yaml", &c), QR_OK);
    assert_string_equal(c.radiomics, "params.yaml");
    /* from another folder, by its full path */
    assert_int_equal(chdir("/"), 0);
    snprintf(p, sizeof p, "%s/sub/train.yaml", dir);
    snprintf(want, sizeof want, "%s/sub/params.yaml", dir);
    c = qr_train_config_default();
    assert_int_equal(qr_train_config_read(p, &c), QR_OK);
    assert_string_equal(c.radiomics, want);
    /* an absolute name stays */
    snprintf(p, sizeof p, "%s/sub/abs.yaml", dir);
    snprintf(want, sizeof want, "%s/params.yaml", dir);
    assert_int_equal(qr_train_config_read(p, &c), QR_OK);
    assert_string_equal(c.radiomics, want);

    assert_int_equal(chdir(cwd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* The one-line description names the settings each architecture uses, and only those. */
static void test_describe(void **state) {
    (void)state;
    qr_train_config c = qr_train_config_default();
    char buf[512];
    assert_int_equal(qr_train_config_parse("width: 8\nepochs: 20\nimage_fusion: branches\ndeepsmote: off\n", "t.yaml", &c),
                     QR_OK);
    qr_train_config_describe(&c, "qsmrimnet", buf, sizeof buf);
    assert_string_equal(buf, "width 8, 20 epochs, batch 64, lr 0.0001, two-branch image fusion, fusion add, DeepSMOTE off, "
                             "augmented");
    /* RimNet's own defaults where the file is silent: width 32, batch 32, the plateau schedule */
    c = qr_train_config_default();
    qr_train_config_describe(&c, "rimnet", buf, sizeof buf);
    assert_string_equal(buf, "width 32, 40 epochs, batch 32, lr 0.0001 -> 5e-05 -> 2.5e-05 -> 1e-05 on plateaus of 10 epochs, "
                             "pool stride 1, rim+ class weight auto, conv L2 0.001, augmented");
    qr_train_config_describe(&c, "qsmrimnet", buf, sizeof buf);
    assert_non_null(strstr(buf, "width 64, 40 epochs, batch 64, lr 0.0001, "));
    assert_int_equal(qr_train_config_parse("width: 4\nepochs: 8\nbatch_size: 64\nrimnet_pool_stride: 2\nlr_schedule: multistep\n",
                                           "t.yaml", &c), QR_OK);
    qr_train_config_describe(&c, "rimnet", buf, sizeof buf);
    assert_string_equal(buf, "width 4, 8 epochs, batch 64, lr 0.0001, pool stride 2, rim+ class weight auto, conv L2 0.001, "
                             "augmented");
    assert_int_equal(qr_train_config_parse("lr_schedule: plateau\nlr_plateau_rates: [1.0e-5]\nlr_plateau_patience: 3\n",
                                           "t.yaml", &c), QR_OK);
    qr_train_config_describe(&c, "aprl-nn", buf, sizeof buf);
    assert_string_equal(buf, "width 4, 8 epochs, batch 64, lr 0.0001 -> 1e-05 on plateaus of 3 epochs, augmented");
    /* the record of a run's settings names the plateau schedule; a multistep one is recorded as it
     * always was (checkpoints written before the schedule existed resume) */
    char fp[4096];
    qr_train_config r = qr_train_config_for(&c, "aprl-nn");
    qr_train_config_fingerprint(&r, fp, sizeof fp);
    assert_non_null(strstr(fp, "lr_schedule: plateau\nlr_plateau_rates: 1.0000000000000001e-05\nlr_plateau_patience: 3\n"));
    /* ... and not the multistep schedule's settings, which it does not use: a plateau run whose
     * lr_milestones were edited still resumes */
    assert_null(strstr(fp, "lr_milestones"));
    assert_null(strstr(fp, "lr_gamma"));
    char fp2[4096];
    assert_int_equal(qr_train_config_parse("lr_milestones: [0.3, 0.6]\nlr_gamma: 0.5\n", "t.yaml", &c), QR_OK);
    r = qr_train_config_for(&c, "aprl-nn");
    qr_train_config_fingerprint(&r, fp2, sizeof fp2);
    assert_string_equal(fp, fp2);
    c = qr_train_config_default();
    r = qr_train_config_for(&c, "qsmrimnet");
    qr_train_config_fingerprint(&r, fp, sizeof fp);
    assert_null(strstr(fp, "lr_schedule"));
    assert_non_null(strstr(fp, "width: 64 (default)\n"));
    assert_non_null(strstr(fp, "learning_rate: 0.0001\nlr_milestones: 0.5 0.69999999999999996 0.90000000000000002\nlr_gamma: 0.10000000000000001\n"));
    c = qr_train_config_default();
    assert_int_equal(qr_train_config_parse("width: 4\nepochs: 8\nrimnet_pool_stride: 2\nlr_schedule: multistep\n", "t.yaml", &c),
                     QR_OK);
    assert_int_equal(qr_train_config_parse("rimnet_turns: all\n", "t.yaml", &c), QR_OK);
    qr_train_config_describe(&c, "rimnet", buf, sizeof buf);
    assert_non_null(strstr(buf, "augmented (quarter turns: all windows)"));
    qr_train_config_describe(&c, "aprl-nn", buf, sizeof buf);
    assert_null(strstr(buf, "fusion"));
    assert_null(strstr(buf, "DeepSMOTE"));
}

/* The first differing line of two settings records, numbers in their shortest exact form: the
 * records keep 17 digits, which showed 0.2 as 0.20000000000000001. */
static void test_first_difference(void **state) {
    (void)state;
    static const struct {
        const char *there, *now, *want;
    } cases[] = {
        {"arch: qsmrimnet\nholdout: 0.20000000000000001\n", "arch: qsmrimnet\nholdout: 0.29999999999999999\n",
         "'holdout: 0.2' there, 'holdout: 0.3' now"},
        {"lr_milestones: 0.5 0.69999999999999996 0.90000000000000002\nx: 1\n",
         "lr_milestones: 0.5 0.69999999999999996 0.80000000000000004\nx: 1\n",
         "'lr_milestones: 0.5 0.7 0.9' there, 'lr_milestones: 0.5 0.7 0.8' now"},
        /* numbers that differ only beyond 15 digits stay apart; other words as written */
        {"learning_rate: 0.10000000000000001\n", "learning_rate: 0.10000000000000002\n",
         "'learning_rate: 0.1' there, 'learning_rate: 0.10000000000000002' now"},
        {"cohort: 0123456789abcdef0123\n", "cohort: 1123456789abcdef0123\n",
         "'cohort: 0123456789abcdef0123' there, 'cohort: 1123456789abcdef0123' now"},
        /* hexadecimal fingerprints that read as numbers stay as written */
        {"fingerprint 1234567890123e45\nimage content: 9876543210987655\n",
         "fingerprint 1234567890123e46\nimage content: 9876543210987655\n",
         "'fingerprint 1234567890123e45' there, 'fingerprint 1234567890123e46' now"},
        {"radiomics_sha256: 0000012345678901\n", "radiomics_sha256: 9876543210987655\n",
         "'radiomics_sha256: 0000012345678901' there, 'radiomics_sha256: 9876543210987655' now"},
        {"a: 1\n", "a: 1\n", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[512];
        qr_settings_first_difference(cases[i].there, cases[i].now, buf, sizeof buf);
        assert_string_equal(buf, cases[i].want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_defaults), cmocka_unit_test(test_parse),
                                       cmocka_unit_test(test_errors), cmocka_unit_test(test_relative_paths),
                                       cmocka_unit_test(test_describe), cmocka_unit_test(test_first_difference)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
