/* cmd_predict.c - `qsmrim predict`: not part of this build yet (its issue is open). */
#include "cli.h"
#include "commands.h"

int cmd_predict(int argc, char **argv) {
    (void)argc;
    (void)argv;
    qr_fail(QR_ERR_UNSUPPORTED, "'predict' is not available in this build yet");
    return cli_fail(QR_ERR_UNSUPPORTED);
}
