/*
 * resources.h - locating files shipped in Resources/ (radiomics presets, the demo model, the
 * colour table) from a build tree or an installed copy.
 *
 * Search order for a relative name such as "models/qsmrim_demo.h5":
 *   1. $QSMRIM_RESOURCE_DIR/<name>
 *   2. <folder of the running executable>/../share/qsmrim/<name>       (cmake --install layout)
 *   3. <folder of the running executable>/../../../share/qsmrim/<name> (Slicer lib/Slicer-X.Y/cli-modules)
 *   4. the source tree's Resources/<name> (compiled in; a build tree run)
 */
#ifndef QR_RESOURCES_H
#define QR_RESOURCES_H

#include <stddef.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Full path of an existing resource file into out; QR_ERR_IO listing the places searched. */
qr_status qr_resource_path(const char *name, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif
#endif
