/* ScriptRunner.cxx - automation of the review window (ScriptRunner.h). */
#include "ScriptRunner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <QApplication>
#include <QComboBox>
#include <QElapsedTimer>
#include <QKeyEvent>
#include <QKeySequence>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMouseEvent>
#include <QSaveFile>
#include <QSlider>
#include <QTableView>
#include <QTimer>
#include <QWheelEvent>

#include "ReviewWindow.h"

ScriptRunner::ScriptRunner(ReviewWindow *window, const QStringList &lines, QObject *parent)
    : QObject(parent), w_(window), lines_(lines) {}

void ScriptRunner::start() { QTimer::singleShot(0, this, &ScriptRunner::runNext); }

void ScriptRunner::fail(const QString &message) {
    fprintf(stderr, "qsmrim-review: script line %d: %s\n", next_, message.toUtf8().constData());
    fflush(stderr);
    QApplication::exit(1);
}

void ScriptRunner::runNext() {
    static QElapsedTimer predictClock;
    static int predictLimitMs = 0;
    if (waitingPredict_) {
        if (w_->predictionRunning()) {
            if (predictClock.elapsed() > predictLimitMs) {
                fail("the prediction did not finish in time");
                return;
            }
            QTimer::singleShot(100, this, &ScriptRunner::runNext);
            return;
        }
        waitingPredict_ = false;
    }
    while (next_ < lines_.size()) {
        QString line = lines_[next_++].trimmed();
        if (line.isEmpty() || line.startsWith('#')) continue;
        if (line.startsWith("wait-predict")) {
            QStringList a = line.split(' ', Qt::SkipEmptyParts);
            double seconds = a.size() > 1 ? a[1].toDouble() : 600.0;
            predictLimitMs = (int)(seconds * 1000);
            predictClock.start();
            waitingPredict_ = true;
            QTimer::singleShot(50, this, &ScriptRunner::runNext);
            return;
        }
        QString error;
        int delay = 0;
        bool stop = false;
        if (!runLine(line, &error, &delay, &stop)) {
            fail(error);
            return;
        }
        if (stop) return;
        /* let the window process what the command caused (rendering, queued signals) */
        QTimer::singleShot(delay, this, &ScriptRunner::runNext);
        return;
    }
}

static SliceView *findView(ReviewWindow *w, const QString &name, QString *error) {
    SliceView *v = w->view(name);
    if (!v) {
        QStringList names;
        for (SliceView *u : w->views()) names << u->name();
        *error = QString("no view '%1' (%2)").arg(name).arg(names.join(", "));
    }
    return v;
}

static bool setCombo(QComboBox *box, const QString &data, QString *error) {
    int k = box->findData(data);
    if (k < 0) {
        QStringList names;
        for (int i = 0; i < box->count(); i++) names << box->itemData(i).toString();
        *error = QString("'%1' is not one of %2").arg(data).arg(names.join(", "));
        return false;
    }
    box->setCurrentIndex(k);
    return true;
}

static void sendKey(ReviewWindow *w, int key, Qt::KeyboardModifiers mods, const QString &text) {
    QWidget *target = QApplication::focusWidget();
    if (!target) target = w->focusWidget();
    if (!target) target = w;
    QKeyEvent press(QEvent::KeyPress, key, mods, text);
    QApplication::sendEvent(target, &press);
    QWidget *after = QApplication::focusWidget() ? QApplication::focusWidget() : w->focusWidget();
    QKeyEvent release(QEvent::KeyRelease, key, mods, text);
    QApplication::sendEvent(after ? after : w, &release);
}

/* The menu entry whose text (without its key hint, after two blanks, and without '&') is `name`.
 * Entries that open a dialog (their text ends in "...") would wait for a person, so are refused. */
static bool triggerMenu(QMainWindow *w, const QString &name, QString *error) {
    QStringList known;
    for (QAction *top : w->menuBar()->actions()) {
        if (!top->menu()) continue;
        for (QAction *act : top->menu()->actions()) {
            if (act->isSeparator()) continue;
            QString text = act->text().remove('&');
            const int hint = (int)text.indexOf("  ");
            if (hint >= 0) text.truncate(hint);
            text = text.trimmed();
            if (text.endsWith("...")) continue;
            if (text != name) {
                known << text;
                continue;
            }
            if (!act->isEnabled()) {
                *error = QString("menu entry '%1' is disabled now").arg(name);
                return false;
            }
            act->trigger();
            return true;
        }
    }
    *error = QString("no menu entry '%1' (entries without a dialog: %2)").arg(name, known.join(", "));
    return false;
}

bool ScriptRunner::runLine(const QString &line, QString *error, int *delayMs, bool *stop) {
    QStringList a = line.split(' ', Qt::SkipEmptyParts);
    const QString cmd = a[0];
    auto need = [&](int n) {
        if (a.size() < n + 1) {
            *error = QString("'%1' needs %2 argument(s)").arg(cmd).arg(n);
            return false;
        }
        return true;
    };
    auto restOf = [&](int from) { return line.section(' ', from, -1, QString::SectionSkipEmpty); };
    *delayMs = 10;
    if (cmd == "select") {
        if (!need(1)) return false;
        if (!w_->selectLesionById(a[1].toInt())) {
            *error = QString("lesion %1 is not listed in the queue").arg(a[1]);
            return false;
        }
    } else if (cmd == "key") {
        if (!need(1)) return false;
        QString name = a[1];
        int count = a.size() > 2 ? a[2].toInt() : 1;
        int key;
        QString text;
        if (name.size() == 1) {
            key = QKeySequence(name.toUpper())[0];
            text = name;
        } else if (name == "Plus" || name == "Minus") { /* Qt names these keys "+" and "-" only */
            key = name == "Plus" ? Qt::Key_Plus : Qt::Key_Minus;
            text = name == "Plus" ? "+" : "-";
        } else {
            QKeySequence seq(name);
            if (seq.isEmpty() || seq[0] == Qt::Key_unknown) {
                *error = QString("unknown key '%1'").arg(name);
                return false;
            }
            key = seq[0];
            if (key == Qt::Key_Return) text = "\r";
            else if (key == Qt::Key_Escape) text = QString(QChar(27));
        }
        for (int i = 0; i < count; i++) sendKey(w_, key, Qt::NoModifier, text);
    } else if (cmd == "type") {
        QString text = restOf(1);
        for (QChar c : text) sendKey(w_, QKeySequence(QString(c).toUpper())[0], Qt::NoModifier, QString(c));
    } else if (cmd == "focus") {
        if (!need(1)) return false;
        if (a[1] == "queue") w_->queueTable()->setFocus();
        else if (a[1] == "note") w_->noteEdit()->setFocus();
        else if (SliceView *v = findView(w_, a[1], error)) v->setFocus();
        else return false;
    } else if (cmd == "click" || cmd == "wheel" || cmd == "drag") {
        if (!need(cmd == "wheel" ? 2 : 3)) return false;
        SliceView *v = findView(w_, a[1], error);
        if (!v) return false;
        QPointF centre(v->width() / 2.0, v->height() / 2.0);
        if (cmd == "click") {
            QPointF p(a[2].toDouble() * v->width(), a[3].toDouble() * v->height());
            QMouseEvent press(QEvent::MouseButtonPress, p, v->mapToGlobal(p.toPoint()), Qt::LeftButton, Qt::LeftButton,
                              Qt::NoModifier);
            QApplication::sendEvent(v, &press);
            QMouseEvent release(QEvent::MouseButtonRelease, p, v->mapToGlobal(p.toPoint()), Qt::LeftButton,
                                Qt::NoButton, Qt::NoModifier);
            QApplication::sendEvent(v, &release);
        } else if (cmd == "wheel") {
            int steps = a[2].toInt();
            Qt::KeyboardModifiers mods = Qt::NoModifier;
            if (a.size() > 3 && a[3] == "ctrl") mods = Qt::ControlModifier;
            if (a.size() > 3 && a[3] == "shift") mods = Qt::ShiftModifier;
            for (int s = 0; s < std::abs(steps); s++) {
                QWheelEvent we(centre, v->mapToGlobal(centre.toPoint()), QPoint(), QPoint(0, steps > 0 ? 120 : -120),
                               Qt::NoButton, mods, Qt::NoScrollPhase, false);
                QApplication::sendEvent(v, &we);
            }
        } else {
            Qt::MouseButton b = a[2] == "left" ? Qt::LeftButton : a[2] == "middle" ? Qt::MiddleButton : Qt::RightButton;
            if (!need(4)) return false;
            QPointF d(a[3].toDouble(), a[4].toDouble());
            QMouseEvent press(QEvent::MouseButtonPress, centre, v->mapToGlobal(centre.toPoint()), b, b, Qt::NoModifier);
            QApplication::sendEvent(v, &press);
            const int n = 10;
            for (int s = 1; s <= n; s++) {
                QPointF p = centre + d * (double)s / n;
                QMouseEvent mv(QEvent::MouseMove, p, v->mapToGlobal(p.toPoint()), Qt::NoButton, b, Qt::NoModifier);
                QApplication::sendEvent(v, &mv);
            }
            QPointF end = centre + d;
            QMouseEvent release(QEvent::MouseButtonRelease, end, v->mapToGlobal(end.toPoint()), b, Qt::NoButton,
                                Qt::NoModifier);
            QApplication::sendEvent(v, &release);
        }
    } else if (cmd == "overlay") {
        if (!need(1) || !setCombo(w_->overlayModeBox(), a[1], error)) return false;
    } else if (cmd == "style") {
        if (!need(1) || !setCombo(w_->overlayStyleBox(), a[1], error)) return false;
    } else if (cmd == "opacity") {
        if (!need(1)) return false;
        w_->opacitySlider()->setValue((int)std::lround(a[1].toDouble() * 100.0));
    } else if (cmd == "preset") {
        if (!need(2)) return false;
        QComboBox *box = w_->presetBox(a[1] == "flair" ? 1 : 0);
        int k = a[2].toInt();
        if (k < 0 || k >= box->count()) {
            *error = QString("preset %1 of %2 does not exist (0..%3)").arg(k).arg(a[1]).arg(box->count() - 1);
            return false;
        }
        box->setCurrentIndex(k);
    } else if (cmd == "sort") {
        if (!need(1) || !setCombo(w_->sortBox(), a[1], error)) return false;
    } else if (cmd == "filter") {
        if (!need(1) || !setCombo(w_->filterBox(), a[1], error)) return false;
    } else if (cmd == "state") {
        if (!need(1)) return false;
        w_->renderAll();
        QApplication::processEvents();
        if (!w_->writeState(restOf(1), error)) return false;
    } else if (cmd == "screenshot") {
        if (!need(1) || !w_->saveScreenshot(restOf(1), error)) return false;
    } else if (cmd == "screenshot-view") {
        if (!need(2)) return false;
        SliceView *v = findView(w_, a[1], error);
        if (!v) return false;
        QImage img = v->grabView();
        QString path = restOf(2);
        QSaveFile f(path);
        if (!f.open(QIODevice::WriteOnly) || !img.save(&f, "PNG") || !f.commit()) {
            *error = QString("%1: cannot write the screenshot").arg(path);
            return false;
        }
    } else if (cmd == "export") {
        if (!need(1) || !w_->exportReview(restOf(1), error)) return false;
    } else if (cmd == "menu") { /* a menu entry, as a click on it: the focused widget keeps the focus */
        if (!need(1) || !triggerMenu(w_, restOf(1), error)) return false;
    } else if (cmd == "open-cohort") { /* File > Open cohort subject, without its dialogs */
        if (!need(2) || !w_->openChosenCohortSubject(a[1], restOf(2), error)) return false;
    } else if (cmd == "predict") {
        if (a.size() > 2 || (a.size() == 2 && a[1] != "cancel")) {
            *error = "predict takes nothing or 'cancel'";
            return false;
        }
        if (a.size() == 2)
            w_->startCancelledPrediction();
        else
            w_->startPrediction();
    } else if (cmd == "save-prediction") {
        if (!need(1) || !w_->savePrediction(restOf(1), error)) return false;
    } else if (cmd == "cancel") {
        w_->cancelPrediction();
    } else if (cmd == "wait") {
        if (!need(1)) return false;
        *delayMs = std::max(0, a[1].toInt());
    } else if (cmd == "echo") {
        printf("%s\n", restOf(1).toUtf8().constData());
        fflush(stdout);
    } else if (cmd == "hold") {
        *stop = true;
    } else if (cmd == "quit") {
        if (!w_->close()) {
            *error = "the window did not close: decisions are not saved";
            return false;
        }
        *stop = true;
        QApplication::exit(0);
    } else {
        *error = QString("unknown command '%1'").arg(cmd);
        return false;
    }
    return true;
}
