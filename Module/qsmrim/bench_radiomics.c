/* bench_radiomics.c - `qsmrim bench radiomics`: not part of this build yet (its issue is open). */
#include "bench.h"
#include "cli.h"

int bench_radiomics(int argc, char **argv) {
    (void)argc;
    (void)argv;
    qr_fail(QR_ERR_UNSUPPORTED, "'bench radiomics' is not available in this build yet");
    return cli_fail(QR_ERR_UNSUPPORTED);
}
