/*
 * slicer_io - what 3D Slicer does with a CLI module's volumes, for the command-level tests:
 *
 *   slicer_io export IN OUT.nrrd [--label]   write a volume as Slicer hands it to a CLI module:
 *                                            uncompressed NRRD (float32, or int32 labels)
 *   slicer_io dump VOLUME                    print "i j k value" for every non-zero voxel (the
 *                                            outputs read back as Slicer reads them: through ITK)
 */
#include <stdio.h>
#include <string.h>

#include "io/imageio.h"

int main(int argc, char **argv) {
    if (argc >= 4 && strcmp(argv[1], "export") == 0) {
        int label = argc > 4 && strcmp(argv[4], "--label") == 0;
        qr_volume v;
        if (qr_image_read(argv[2], label ? QR_INT32 : QR_FLOAT32, &v, NULL) != QR_OK ||
            qr_image_write(argv[3], &v, label ? QR_WRITE_KEEP_INT32 : 0) != QR_OK) {
            fprintf(stderr, "slicer_io: %s\n", qr_last_error());
            return 1;
        }
        qr_volume_free(&v);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "dump") == 0) {
        qr_volume v;
        if (qr_image_read(argv[2], QR_FLOAT32, &v, NULL) != QR_OK) {
            fprintf(stderr, "slicer_io: %s\n", qr_last_error());
            return 1;
        }
        const float *x = qr_volume_f32(&v);
        for (int64_t k = 0; k < v.geom.size[2]; k++)
            for (int64_t j = 0; j < v.geom.size[1]; j++)
                for (int64_t i = 0; i < v.geom.size[0]; i++) {
                    float f = x[qr_geometry_index(&v.geom, i, j, k)];
                    if (f != 0.0f) printf("%lld %lld %lld %.9g\n", (long long)i, (long long)j, (long long)k, f);
                }
        qr_volume_free(&v);
        return 0;
    }
    fprintf(stderr, "usage: slicer_io export IN OUT.nrrd [--label] | slicer_io dump VOLUME\n");
    return 2;
}
