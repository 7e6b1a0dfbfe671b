/*
 * yamlkeys.h - YAML mappings that give a key twice. libyaml loads both pairs of such a mapping, and
 * a reader that takes the first or the last one would drop the other without a word (YAML itself
 * says keys are unique), so qsmrim's settings and parameter files refuse them.
 */
#ifndef QR_YAMLKEYS_H
#define QR_YAMLKEYS_H

#include <yaml.h>

#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* QR_ERR_FORMAT naming `what`, the key and both lines when any mapping of `doc` (nested ones too)
 * gives a plain key twice; QR_OK otherwise. */
qr_status qr_yaml_unique_keys(yaml_document_t *doc, const char *what);

#ifdef __cplusplus
}
#endif
#endif
