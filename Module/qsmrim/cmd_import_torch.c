/* cmd_import_torch.c - `qsmrim import-torch`: not part of this build yet (its issue is open). */
#include "cli.h"
#include "commands.h"

int cmd_import_torch(int argc, char **argv) {
    (void)argc;
    (void)argv;
    qr_fail(QR_ERR_UNSUPPORTED, "'import-torch' is not available in this build yet");
    return cli_fail(QR_ERR_UNSUPPORTED);
}
