/*
 * ScriptRunner.h - `qsmrim-review --script FILE`: drive the open window from a text file, for
 * automated tests and unattended demos. Every command acts through the same path as a person:
 * keys are key events sent to the focused widget (so they pass the window's key handling), mouse
 * commands are mouse events sent to a view, controls are set on their widgets.
 *
 * One command per line; '#' starts a comment. VIEW is qsm|flair - axial|coronal|sagittal
 * (qsm-axial, flair-coronal, ...).
 *   select ID                  select lesion ID in the queue (as a click on its row)
 *   key NAME [COUNT]           press and release a key: a letter (r, n, ...) or a Qt key name
 *                              (Return, Escape, Up, Down, PgUp, PgDown, Home, Plus, Minus)
 *   type TEXT                  type the rest of the line into the focused widget
 *   focus VIEW|queue|note      give the keyboard focus to a widget
 *   click VIEW FX FY           left click at a fraction (0..1) of the view's width and height
 *   wheel VIEW STEPS [ctrl|shift]      mouse wheel steps (positive = forward)
 *   drag VIEW left|middle|right DX DY  press at the view's centre, move by (DX, DY) px, release
 *   overlay decision|probability|off   style outline|fill     opacity F (0..1)
 *   preset qsm|flair INDEX
 *   sort probability|uncertainty|volume|id                    filter NAME (see the window)
 *   state PATH                 write the window's state as JSON (lesion, order, views, ...)
 *   screenshot PATH            the whole window as PNG
 *   screenshot-view VIEW PATH  one view as PNG (pixels = widget pixels)
 *   export PATH                export the reviewed table
 *   predict | cancel           start / cancel a prediction
 *   predict cancel             start a prediction cancelled before its thread starts: its outcome
 *                              is "cancelled" whatever the load (a separate `cancel` line races
 *                              a run that fails or ends quickly)
 *   wait-predict [SECONDS]     wait until the prediction ends (default 600 s)
 *   save-prediction DIR        what File > Save prediction outputs writes, without its dialog
 *   wait MS                    let the event loop run MS milliseconds
 *   echo TEXT                  print TEXT on stdout (a marker for the caller)
 *   hold                       stop reading the script and stay open
 *   quit                       close the window, exit 0
 * A malformed line or a failing command prints "qsmrim-review: script line N: ..." and exits 1.
 */
#ifndef QSMRIM_SCRIPTRUNNER_H
#define QSMRIM_SCRIPTRUNNER_H

#include <QObject>
#include <QStringList>

class ReviewWindow;

class ScriptRunner : public QObject {
    Q_OBJECT
public:
    ScriptRunner(ReviewWindow *window, const QStringList &lines, QObject *parent = nullptr);
    void start();

private slots:
    void runNext();

private:
    bool runLine(const QString &line, QString *error, int *delayMs, bool *stop);
    void fail(const QString &message);
    ReviewWindow *w_;
    QStringList lines_;
    int next_ = 0;
    bool waitingPredict_ = false;
};

#endif
