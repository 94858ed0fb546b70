/* The ballot kernel: docs/vote-contract.md steps 1-7, freestanding C for wasm32 and native fuzzing.
 *
 * Shared declarations of the kernel's parts: json.c (UTF-8 and JSON), nfc.c (Unicode NFC)
 * and ballot.c (the field rules, the canonical bytes and the exported ABI).
 */
#ifndef CERTAMEN_KERNEL_H
#define CERTAMEN_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#define MAX_BODY 4096u
#define MAX_DEPTH 32
#define MAX_MEMBERS 1024u
/* A decoded string never has more code points than the body has bytes. */
#define POOL_CAPACITY MAX_BODY
/* NFD of n code points taken from n or more UTF-8 bytes is at most 1.5 n long. */
#define NFC_CAPACITY (2u * MAX_BODY)
#define OUTPUT_CAPACITY 2048u

/* Rule codes; the names are exported by the module (rule_name) in this order. */
enum rule {
    RULE_OK = 0,
    RULE_TOO_LARGE,
    RULE_UTF8,
    RULE_JSON,
    RULE_TYPE,
    RULE_DUPLICATE,
    RULE_UNKNOWN_FIELD,
    RULE_REQUIRED,
    RULE_INVALID_UNICODE,
    RULE_CONTROL_CHARACTER,
    RULE_EMPTY,
    RULE_TOO_LONG,
    RULE_FORMAT,
    RULE_RANGE,
    RULE_PRECISION,
    RULE_COUNT
};

enum kind { KIND_NONE = 0, KIND_STRING, KIND_NUMBER, KIND_OBJECT, KIND_OTHER };

/* A value of a top-level member: a string's code points in the pool, or a number's bytes. */
struct value {
    uint8_t kind;
    uint32_t start, len;
};

struct member {
    uint32_t key_start, key_len, key_hash;
    struct value value;
};

/* The parsed top level: its kind and, for an object, its members in document order. */
struct document {
    struct value top;
    uint32_t count;
    struct member members[MAX_MEMBERS];
    uint32_t pool[POOL_CAPACITY];
    uint32_t pool_len;
};

int utf8_valid(const uint8_t *s, uint32_t n);
/* Parse one JSON text; returns RULE_OK or RULE_JSON. */
int json_parse(const uint8_t *s, uint32_t n, struct document *doc);
/* NFC of in[0..n) into out (capacity NFC_CAPACITY); returns the length. */
uint32_t nfc(const uint32_t *in, uint32_t n, uint32_t *out);
/* The Unicode version of the NFC tables, as Python's unicodedata.unidata_version. */
const char *nfc_unidata_version(void);

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);

#endif
