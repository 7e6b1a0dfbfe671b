/* cmd_evaluate.c - `qsmrim evaluate`: not part of this build yet (its issue is open). */
#include "cli.h"
#include "commands.h"

int cmd_evaluate(int argc, char **argv) {
    (void)argc;
    (void)argv;
    qr_fail(QR_ERR_UNSUPPORTED, "'evaluate' is not available in this build yet");
    return cli_fail(QR_ERR_UNSUPPORTED);
}
