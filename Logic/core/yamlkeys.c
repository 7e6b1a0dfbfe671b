/* yamlkeys.c - YAML mappings that give a key twice (yamlkeys.h). */
#include "yamlkeys.h"

#include <string.h>

qr_status qr_yaml_unique_keys(yaml_document_t *doc, const char *what) {
    for (yaml_node_t *n = doc->nodes.start; n && n < doc->nodes.top; n++) {
        if (n->type != YAML_MAPPING_NODE) continue;
        const yaml_node_pair_t *first = n->data.mapping.pairs.start, *end = n->data.mapping.pairs.top;
        for (const yaml_node_pair_t *p = first; p < end; p++) {
            const yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (!k || k->type != YAML_SCALAR_NODE) continue;
            for (const yaml_node_pair_t *q = first; q < p; q++) {
                const yaml_node_t *e = yaml_document_get_node(doc, q->key);
                if (!e || e->type != YAML_SCALAR_NODE || e->data.scalar.length != k->data.scalar.length ||
                    memcmp(e->data.scalar.value, k->data.scalar.value, k->data.scalar.length) != 0)
                    continue;
                return qr_fail(QR_ERR_FORMAT, "%s: line %lu: '%s' is given twice (also on line %lu); keep one", what,
                               (unsigned long)k->start_mark.line + 1, (const char *)k->data.scalar.value,
                               (unsigned long)e->start_mark.line + 1);
            }
        }
    }
    return QR_OK;
}
