/*
 * main.cxx - qsmrim-review: review rim+ / rim- lesion classifications of one subject.
 * Command line as `qsmrim-review --help` prints it; exit codes as the qsmrim tool:
 * 0 success, 1 failure (one line "qsmrim-review: error: ..." on stderr), 2 usage error.
 */
#include <clocale>
#include <cstdarg>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include <QApplication>
#include <QtGlobal>
#include <QComboBox>
#include <QSlider>
#include <QFile>
#include <QMetaObject>
#include <QStatusBar>
#include <QSurfaceFormat>
#include <QTextStream>
#include <QTimer>

#include <QVTKOpenGLNativeWidget.h>

#include "PredictWorker.h"
#include "ReviewWindow.h"
#include "ScriptRunner.h"

extern "C" {
#include "core/fileutil.h"
#include "core/h5util.h"
#include "core/status.h"
#include "nn/nn.h"
#include "predict/predict.h"
#include "review_file.h"
#include "review_subject.h"
}

static const char *USAGE =
    "usage: qsmrim-review [--qsm QSM --flair FLAIR --lesions LESIONS | --cohort COHORT.tsv [--subject NAME]]\n"
    "                     [--table TABLE.tsv [--overlay OVERLAY] [--probability PROB] | --results DIR]\n"
    "                     [--connectivity 26|6] [--lesion-input auto|mask|labels]\n"
    "                     [--review REVIEW.tsv] [--reviewer NAME]\n"
    "                     [--model MODEL.h5] [--device auto|cpu|cuda[:N]] [--precision fp32|tf32]\n"
    "                     [--threshold f1|sensitive|VALUE] [--predict]\n"
    "                     [--overlay-mode decision|probability|off] [--overlay-style outline|fill] [--opacity F]\n"
    "                     [--sort probability|uncertainty|volume|id]\n"
    "                     [--export OUT.tsv] [--script FILE]\n"
    "\n"
    "Review the rim+ / rim- classification of a subject's lesions: QSM and FLAIR in linked axial,\n"
    "coronal and sagittal views with the lesions coloured by decision or by P(rim+), a lesion queue,\n"
    "and keyboard review (n/p next/previous, r rim+, x rim-, u unsure, t note). Every decision is\n"
    "written at once, atomically, to the review file; reopening resumes at the first unreviewed lesion.\n"
    "\n"
    "  --qsm, --flair, --lesions   the subject (any format qsmrim reads); LESIONS is a binary mask or a label map\n"
    "  --cohort, --subject         take the three from a cohort manifest (qsmrim phantom); default the first\n"
    "                              subject; ] and [ open the next and previous subject\n"
    "  --table, --overlay, --probability\n"
    "                              a predict run's outputs (qsmrim predict --out-table/--out-labels/--out-probability);\n"
    "                              checked against the lesion map and each other\n"
    "  --results DIR               with --cohort: the subject's outputs of 'qsmrim predict --manifest COHORT.tsv\n"
    "                              --out-dir DIR' (DIR/SUBJECT/lesions.tsv, overlay, probability); the review\n"
    "                              file is then DIR/SUBJECT/review.tsv unless --review says otherwise; } goes to\n"
    "                              the next lesion of DIR/queue.tsv without a decision, across subjects\n"
    "  --connectivity, --lesion-input\n"
    "                              how predict read the lesion map (default 26, auto): the lesion ids\n"
    "                              depend on them; with --results they come from the run's record\n"
    "  --review                    review file (default: <lesion map without extension>_review.tsv)\n"
    "  --reviewer                  name stored with each decision (default $QSMRIM_REVIEWER, then $USER)\n"
    "  --model, --device, --precision, --threshold\n"
    "                              settings of an in-viewer prediction (Prediction > Run prediction, or --predict)\n"
    "  --overlay-mode, --overlay-style, --opacity, --sort\n"
    "                              initial display (default decision, outline, 0.7, probability)\n"
    "  --export OUT.tsv            no window: write the reviewed table (every lesion with model and review\n"
    "                              columns) and exit; with --cohort and no --subject, every subject's in\n"
    "                              one table with a first column `subject`\n"
    "  --script FILE               run window commands from FILE (automated tests, demos; the README lists them)\n";

/* Messages are one line: a line break or other control character in a file name or a value is
 * written as \n, \xNN (qr_fput_line_text), as the command-line tools do. */
static void printLine(const char *prefix, const char *text) {
    flockfile(stderr); /* one whole line, also from the library's worker threads */
    fputs(prefix, stderr);
    qr_fput_line_text(stderr, text);
    fputc('\n', stderr);
    funlockfile(stderr);
}

__attribute__((format(printf, 1, 2))) static int usageError(const char *fmt, ...) {
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    printLine("qsmrim-review: ", (std::string(text) + " (see 'qsmrim-review --help')").c_str());
    return 2;
}

static int failure(const QString &message) {
    printLine("qsmrim-review: error: ", message.toUtf8().constData());
    return 1;
}

/* What Qt says while it opens the display is held back: when no display can be opened, Qt prints
 * several lines and aborts the process. The viewer says so in one line and exits 1 instead (nothing
 * is open yet: no review file, no output); for another cause (a platform plugin that does not load)
 * it prints Qt's own lines, then its one, and exits 1. Once the display is open the held lines are
 * printed. */
static QStringList g_startup, g_startupText; /* as printed; the messages alone */
static void startupMessage(QtMsgType type, const QMessageLogContext &context, const QString &message) {
    if (type != QtFatalMsg) {
        g_startup << (context.category && strcmp(context.category, "default") != 0
                          ? QString("%1: %2").arg(context.category, message)
                          : message);
        g_startupText << message.trimmed();
        return;
    }
    QString reason;
    for (const QString &m : g_startupText)
        if (m.contains("could not connect to display", Qt::CaseInsensitive)) reason = m;
    if (reason.isEmpty()) { /* another cause (a platform plugin that does not load): Qt's own words, all */
        for (const QString &m : g_startup) fprintf(stderr, "%s\n", m.toUtf8().constData());
        fprintf(stderr, "%s\nqsmrim-review: error: cannot open the window (see above)\n", message.toUtf8().constData());
    } else {
        const char *display = getenv("DISPLAY");
        fprintf(stderr,
                "qsmrim-review: error: cannot open the window: %s (DISPLAY is %s%s%s); run it in a desktop session or "
                "with a display (ssh -X, Xvfb), or use --export, which needs none\n",
                reason.toUtf8().constData(), display ? "'" : "not set", display ? display : "", display ? "'" : "");
    }
    fflush(stderr);
    _exit(1);
}

static ReviewWindow *g_window = nullptr;

/* Library notices: stderr, and the status bar of the window (queued: may come from a worker). */
static void logSink(qr_log_level level, const char *message, void *) {
    if (level < QR_LOG_NOTICE) return;
    printLine(level == QR_LOG_WARNING ? "qsmrim-review: warning: " : "qsmrim-review: ", message);
    if (g_window) {
        QString text = QString::fromUtf8(message);
        QMetaObject::invokeMethod(
            g_window, [text] { g_window->statusBar()->showMessage(text, 8000); }, Qt::QueuedConnection);
    }
}

struct Options {
    SubjectPaths paths;
    QString cohort, subject, results, review, reviewer, exportPath, script, overlayMode, overlayStyle, sort;
    double opacity = -1;
    bool predict = false;
    bool connectivityGiven = false, lesionInputGiven = false;
    PredictSettings predictSettings;
};

/* Qt's own command-line options (QApplication / QGuiApplication), left to Qt. */
static int qtOptionArity(const QString &a) {
    static const char *withValue[] = {"-platform", "-platformpluginpath", "-platformtheme", "-plugin", "-qwindowgeometry",
                                      "-qwindowtitle", "-qwindowicon", "-display", "-geometry", "-style", "-stylesheet",
                                      "-session", "-name", "-title", "-visual"};
    static const char *flags[] = {"-reverse", "-widgetcount", "-nograb", "-dograb", "-sync"};
    for (const char *q : withValue)
        if (a == q) return 2;
    for (const char *q : flags)
        if (a == q) return 1;
    return 0;
}

/* Parse argv before Qt starts (usage errors need no display). Returns -1 to go on, else an exit
 * code. */
static int parseArgs(const QStringList &args, Options *o) {
    for (int i = 1; i < args.size(); i++) {
        const QString &a = args[i];
        if (int n = qtOptionArity(a)) {
            i += n - 1;
            continue;
        }
        if (a == "--help" || a == "-h") {
            fputs(USAGE, stdout);
            return 0;
        }
        if (a == "--predict") {
            o->predict = true;
            continue;
        }
        static const char *withValue[] = {"--qsm",   "--flair",  "--lesions",      "--table",   "--overlay",  "--probability",
                                          "--cohort", "--subject", "--connectivity", "--lesion-input", "--review",  "--reviewer", "--model",
                                          "--device", "--precision", "--threshold", "--overlay-mode", "--overlay-style", "--opacity", "--sort",     "--export",
                                          "--script", "--results"};
        bool known = false;
        for (const char *w : withValue) known = known || a == w;
        if (!known) return usageError("unknown option '%s'", a.toUtf8().constData());
        if (i + 1 >= args.size()) return usageError("option %s needs a value", a.toUtf8().constData());
        const QString v = args[++i];
        if (a == "--qsm") o->paths.qsm = v;
        else if (a == "--flair") o->paths.flair = v;
        else if (a == "--lesions") o->paths.lesions = v;
        else if (a == "--table") o->paths.table = v;
        else if (a == "--overlay") o->paths.overlay = v;
        else if (a == "--probability") o->paths.probability = v;
        else if (a == "--cohort") o->cohort = v;
        else if (a == "--subject") {
            if (v.isEmpty()) return usageError("--subject needs a subject name of the cohort%s", "");
            o->subject = v;
        }
        else if (a == "--results") o->results = v;
        else if (a == "--connectivity") {
            if (v != "6" && v != "26") return usageError("--connectivity must be 6 or 26, not '%s'", v.toUtf8().constData());
            o->paths.connectivity = v.toInt();
            o->connectivityGiven = true;
        } else if (a == "--lesion-input") {
            qr_lesion_input li;
            if (qr_lesion_input_parse(v.toUtf8().constData(), "--lesion-input", &li) != QR_OK)
                return usageError("%s", qr_last_error());
            o->paths.lesionInput = (int)li;
            o->lesionInputGiven = true;
        } else if (a == "--review") o->review = v;
        else if (a == "--reviewer") o->reviewer = v;
        else if (a == "--model") o->predictSettings.model = v;
        else if (a == "--device") {
            qr_nn_device d;
            if (qr_nn_device_parse(v.toUtf8().constData(), &d) != QR_OK) return usageError("--device: %s", qr_last_error());
            o->predictSettings.device = v;
        }
        else if (a == "--precision") {
            qr_nn_precision p;
            if (qr_nn_precision_parse(v.toUtf8().constData(), &p) != QR_OK) return usageError("--precision: %s", qr_last_error());
            qr_nn_set_default_precision(p); /* every prediction of this session */
        }
        else if (a == "--threshold") {
            qr_threshold_mode mode;
            double value;
            if (qr_threshold_parse(v.toUtf8().constData(), &mode, &value) != QR_OK)
                return usageError("--threshold: %s", qr_last_error());
            o->predictSettings.threshold = v;
        }
        else if (a == "--overlay-mode") {
            if (v != "decision" && v != "probability" && v != "off")
                return usageError("--overlay-mode must be decision, probability or off, not '%s'", v.toUtf8().constData());
            o->overlayMode = v;
        } else if (a == "--overlay-style") {
            if (v != "outline" && v != "fill")
                return usageError("--overlay-style must be outline or fill, not '%s'", v.toUtf8().constData());
            o->overlayStyle = v;
        } else if (a == "--opacity") {
            bool ok = false;
            o->opacity = v.toDouble(&ok);
            if (!ok || !(o->opacity >= 0.0 && o->opacity <= 1.0))
                return usageError("--opacity must be a number between 0 and 1, not '%s'", v.toUtf8().constData());
        } else if (a == "--sort") {
            if (v != "probability" && v != "uncertainty" && v != "volume" && v != "id")
                return usageError("--sort must be probability, uncertainty, volume or id, not '%s'", v.toUtf8().constData());
            o->sort = v;
        } else if (a == "--export") o->exportPath = v;
        else if (a == "--script") o->script = v;
    }
    if (o->reviewer.isEmpty()) {
        const char *env[] = {"QSMRIM_REVIEWER", "USER", "LOGNAME"};
        for (const char *e : env)
            if (getenv(e) && *getenv(e)) {
                o->reviewer = QString::fromUtf8(getenv(e));
                break;
            }
        if (o->reviewer.isEmpty()) o->reviewer = "reviewer";
    }
    if (o->reviewer.contains('\t') || o->reviewer.contains('\n') || o->reviewer.contains('\r'))
        return usageError("--reviewer must not contain tabs or line breaks%s", "");
    /* as the review file stores it (blanks around dropped), so that the name compares with its rows */
    o->reviewer = o->reviewer.trimmed();
    if (o->reviewer.isEmpty()) return usageError("--reviewer needs a name, not only blanks%s", "");
    bool anySubject = !o->paths.qsm.isEmpty() || !o->paths.flair.isEmpty() || !o->paths.lesions.isEmpty();
    if (!o->cohort.isEmpty() && anySubject) return usageError("give either --cohort or --qsm/--flair/--lesions%s", "");
    if (!o->subject.isEmpty() && o->cohort.isEmpty()) return usageError("--subject names a subject of a --cohort manifest%s", "");
    if (!o->predictSettings.model.isEmpty() && !QFile::exists(o->predictSettings.model))
        return failure(QString("--model %1: no such file").arg(o->predictSettings.model));
    if (anySubject && (o->paths.qsm.isEmpty() || o->paths.flair.isEmpty() || o->paths.lesions.isEmpty()))
        return usageError("a subject needs all of --qsm, --flair and --lesions%s", "");
    if (!o->results.isEmpty() && o->cohort.isEmpty())
        return usageError("--results is the --out-dir of a cohort's prediction: give its --cohort too%s", "");
    if (!o->results.isEmpty() && (!o->paths.table.isEmpty() || !o->paths.overlay.isEmpty() || !o->paths.probability.isEmpty()))
        return usageError("--results takes the table, overlay and probability from DIR/SUBJECT: drop --table, --overlay and --probability%s", "");
    if (!o->results.isEmpty() && (o->connectivityGiven || o->lesionInputGiven))
        return usageError("--results reads how each subject's lesion map was read from its run's record: drop %s",
                          o->connectivityGiven ? "--connectivity" : "--lesion-input");
    if ((!o->paths.overlay.isEmpty() || !o->paths.probability.isEmpty()) && o->paths.table.isEmpty())
        return usageError("--overlay and --probability need the --table of the same predict run%s", "");
    if (!o->exportPath.isEmpty() && !anySubject && o->cohort.isEmpty())
        return usageError("--export needs a subject (--qsm/--flair/--lesions or --cohort)%s", "");
    if (!o->exportPath.isEmpty() && !o->cohort.isEmpty() && o->subject.isEmpty() &&
        (!o->paths.table.isEmpty() || !o->review.isEmpty()))
        return usageError("--export of a whole --cohort takes each subject's own outputs and review file: name one with "
                          "--subject to give --table or --review%s", "");
    if (!o->exportPath.isEmpty() && (!o->script.isEmpty() || o->predict))
        return usageError("--export runs without a window; it does not combine with --script or --predict%s", "");
    return -1;
}

/* One subject's rows of the reviewed table into fp (subject: the value of a first `subject`
 * column, or null); *lesions receives their count. False with *error when the subject's files or
 * its review file cannot be read. */
static bool exportRows(FILE *fp, const SubjectPaths &paths, const QString &reviewPath, const char *subject,
                       int64_t *lesions, QString *error) {
    QByteArray q = paths.qsm.toUtf8(), f = paths.flair.toUtf8(), l = paths.lesions.toUtf8();
    QByteArray t = paths.table.toUtf8(), ov = paths.overlay.toUtf8(), p = paths.probability.toUtf8();
    qr_review_inputs in;
    std::memset(&in, 0, sizeof in);
    in.qsm = q.constData();
    in.flair = f.constData();
    in.lesions = l.constData();
    in.table = paths.table.isEmpty() ? nullptr : t.constData();
    in.overlay = paths.overlay.isEmpty() ? nullptr : ov.constData();
    in.probability = paths.probability.isEmpty() ? nullptr : p.constData();
    in.connectivity = paths.connectivity;
    in.lesion_input = paths.lesionInput;
    qr_review_subject s;
    if (qr_review_subject_load(&in, &s) != QR_OK) {
        *error = QString::fromUtf8(qr_last_error());
        return false;
    }
    qr_review r;
    bool ok = qr_review_read(reviewPath.toUtf8().constData(), &r) == QR_OK;
    if (ok) {
        qr_review_warn_mismatches(&r, &s.queue, "not exported");
        ok = qr_review_export_rows(fp, &s.queue, &r, subject) == QR_OK;
        *lesions = s.queue.n;
        qr_review_close(&r);
    }
    if (!ok) *error = QString::fromUtf8(qr_last_error());
    qr_review_subject_free(&s);
    return ok;
}

/* --export: no window, no display needed. */
static int exportHeadless(const Options &o) {
    QString rp = o.review.isEmpty() ? ReviewWindow::defaultReviewPath(o.paths.lesions) : o.review;
    QString err;
    if (!ReviewWindow::checkExportPath(o.paths, rp, o.exportPath, &err)) return failure(err);
    qr_atomic f;
    if (qr_atomic_open(&f, o.exportPath.toUtf8().constData()) != QR_OK) return failure(QString::fromUtf8(qr_last_error()));
    qr_review_export_header(f.fp, 0);
    int64_t n = 0;
    if (!exportRows(f.fp, o.paths, rp, nullptr, &n, &err)) {
        qr_atomic_abort(&f);
        return failure(err);
    }
    return qr_atomic_commit(&f) == QR_OK ? 0 : failure(QString::fromUtf8(qr_last_error()));
}

/* --export with --cohort and no --subject: every subject's reviewed table in one, with a first
 * column `subject`, in manifest order. A subject that cannot be read (with --results: no finished
 * prediction, or inputs changed since) is left out with a warning, and the exit code is then 1. */
static int exportCohort(const Options &o) {
    QStringList names;
    QString err;
    if (!ReviewWindow::cohortNames(o.cohort, &names, &err)) return failure(err);
    struct Item {
        QString name, review;
        SubjectPaths paths;
    };
    std::vector<Item> items;
    QStringList left;
    auto leaveOut = [&left](const QString &name, const QString &why) {
        printLine("qsmrim-review: warning: ",
                  QString("subject '%1' left out: %2").arg(name, why).toUtf8().constData());
        left << name;
    };
    for (const QString &name : names) { /* every path first: the export must be none of them */
        Item it;
        it.name = name;
        if (!ReviewWindow::cohortSubject(o.cohort, name, &it.paths, &err)) return failure(err);
        it.paths.connectivity = o.paths.connectivity;
        it.paths.lesionInput = o.paths.lesionInput;
        if (!o.results.isEmpty() && !ReviewWindow::resultsPaths(o.results, name, &it.paths, &it.review, &err)) {
            leaveOut(name, err);
            continue;
        }
        if (it.review.isEmpty()) it.review = ReviewWindow::defaultReviewPath(it.paths.lesions);
        if (!ReviewWindow::checkExportPath(it.paths, it.review, o.exportPath, &err)) return failure(err);
        items.push_back(it);
    }
    qr_atomic f;
    if (qr_atomic_open(&f, o.exportPath.toUtf8().constData()) != QR_OK) return failure(QString::fromUtf8(qr_last_error()));
    qr_review_export_header(f.fp, 1);
    int64_t lesions = 0;
    int done = 0;
    for (const Item &it : items) {
        int64_t n = 0;
        if (exportRows(f.fp, it.paths, it.review, it.name.toUtf8().constData(), &n, &err)) {
            lesions += n;
            done++;
        } else {
            leaveOut(it.name, err);
        }
    }
    if (qr_atomic_commit(&f) != QR_OK) return failure(QString::fromUtf8(qr_last_error()));
    printLine("qsmrim-review: ", QString("%1 subject%2, %3 lesions -> %4")
                                     .arg(done)
                                     .arg(done == 1 ? "" : "s")
                                     .arg((qlonglong)lesions)
                                     .arg(o.exportPath)
                                     .toUtf8()
                                     .constData());
    if (!left.isEmpty())
        return failure(QString("%1 of %2 subjects left out (%3); the table holds the others")
                           .arg(left.size())
                           .arg(names.size())
                           .arg(left.join(", ")));
    return 0;
}

int main(int argc, char **argv) {
    /* Options are parsed before Qt connects to a display: --help, usage errors and --export
     * need none. */
    QStringList raw;
    for (int i = 0; i < argc; i++) raw << QString::fromLocal8Bit(argv[i]);
    qr_set_log_sink(logSink, nullptr);
    std::signal(SIGXFSZ, SIG_IGN); /* writes past a file-size limit fail with EFBIG and are reported */
    qr_h5_skip_exit_cleanup();
    Options o;
    int rc = parseArgs(raw, &o);
    if (rc >= 0) return rc;
    if (!o.cohort.isEmpty() && o.subject.isEmpty() && !o.exportPath.isEmpty()) return exportCohort(o);
    QString subjectName; /* of a --cohort subject */
    if (!o.cohort.isEmpty()) {
        QString err;
        if (!ReviewWindow::cohortSubject(o.cohort, o.subject, &o.paths, &err, &subjectName)) return failure(err);
        /* the window looks up --results itself (openCohortSubject), and again for ] and [ */
        if (!o.exportPath.isEmpty() && !o.results.isEmpty() &&
            !ReviewWindow::resultsPaths(o.results, subjectName, &o.paths, &o.review, &err))
            return failure(err);
    }
    if (!o.exportPath.isEmpty()) return exportHeadless(o);

    QSurfaceFormat::setDefaultFormat(QVTKOpenGLNativeWidget::defaultFormat());
    qInstallMessageHandler(startupMessage);
    QApplication app(argc, argv);
    qInstallMessageHandler(nullptr);
    for (const QString &m : g_startup) fprintf(stderr, "%s\n", m.toUtf8().constData());
    g_startup.clear();
    g_startupText.clear();
    /* QApplication sets the C library's locale from the environment: under a decimal-comma locale
     * (de_DE) printf and strtod would write 0,73 into review files and fail to read the tables
     * qsmrim writes. Files use '.'; what the window shows is formatted by Qt. */
    std::setlocale(LC_NUMERIC, "C");
    app.setApplicationName("qsmrim-review");
    QStringList scriptLines;
    if (!o.script.isEmpty()) {
        QFile f(o.script);
        if (!f.open(QIODevice::ReadOnly | QIODevice::Text))
            return failure(QString("%1: cannot read the script (%2)").arg(o.script).arg(f.errorString()));
        scriptLines = QTextStream(&f).readAll().split('\n');
    }

    ReviewWindow win(o.reviewer, o.predictSettings);
    g_window = &win;
    win.setProperty("interactive", o.script.isEmpty());
    win.setLesionReading(o.paths.connectivity, o.paths.lesionInput);
    if (!o.overlayMode.isEmpty()) win.overlayModeBox()->setCurrentIndex(win.overlayModeBox()->findData(o.overlayMode));
    if (!o.overlayStyle.isEmpty()) win.overlayStyleBox()->setCurrentIndex(win.overlayStyleBox()->findData(o.overlayStyle));
    if (o.opacity >= 0) win.opacitySlider()->setValue((int)(o.opacity * 100.0 + 0.5));
    if (!o.sort.isEmpty()) win.sortBox()->setCurrentIndex(win.sortBox()->findData(o.sort));
    if (!o.paths.qsm.isEmpty()) {
        QString err;
        const bool ok = o.cohort.isEmpty() ? win.openSubject(o.paths, o.review, &err)
                                           : win.openCohortSubject(o.cohort, o.results, subjectName, o.review, &err, &o.paths);
        if (!ok) {
            g_window = nullptr;
            return failure(err);
        }
    } else if (!o.script.isEmpty()) {
        g_window = nullptr;
        return usageError("--script needs a subject (--qsm/--flair/--lesions or --cohort)%s", "");
    }
    win.show();
    win.raise();
    win.activateWindow();
    if (o.predict) win.startPrediction();
    ScriptRunner *runner = nullptr;
    if (!o.script.isEmpty()) {
        runner = new ScriptRunner(&win, scriptLines, &win);
        /* start once the window is on screen and has rendered */
        QTimer::singleShot(200, runner, &ScriptRunner::start);
    }
    rc = app.exec();
    g_window = nullptr;
    return rc;
}
