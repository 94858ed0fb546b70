/* The ballot rules of docs/vote-contract.md and the module's exported ABI.
 *
 * ABI (all offsets in linear memory, all buffers static):
 *   input_ptr()             where the host writes the body (MAX_BODY bytes)
 *   output_ptr()            where the kernel writes its answer (OUTPUT_CAPACITY bytes)
 *   ballot(len, year_now)   >= 0: the canonical ballot, that many bytes at output_ptr();
 *                           <  0: -(rule << 16 | n): the error's field, n UTF-8 bytes at output_ptr()
 *   rule_name(rule)         NUL-terminated name of a rule code
 *   unidata_version()       NUL-terminated Unicode version of the NFC tables
 *   abi_version()           bumped when any of the above changes
 */
#include "kernel.h"

#define ABI_VERSION 1
#define MAX_TEXT 120u
#define MAX_LABEL 64u
#define YEAR_MIN 1900

static uint8_t input[MAX_BODY];
static uint8_t output[OUTPUT_CAPACITY];
static uint32_t output_len;
static struct document doc;
static uint32_t text[NFC_CAPACITY];

static const char *const RULE_NAMES[RULE_COUNT] = {
    "ok",          "too_large",       "utf8",       "json",     "type",
    "duplicate",   "unknown_field",   "required",   "invalid_unicode",
    "control_character", "empty",     "too_long",   "format",   "range",
    "precision",
};

static const char *const FIELDS[] = {"name", "album", "year", "rank", "vote_id"};
#define FIELD_COUNT 5

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))

/* Freestanding: the compiler may emit calls to these two. */
void *memcpy(void *dst, const void *src, size_t n) {
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n) {
    uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}
#else
#define EXPORT(name)
#endif

static void put_byte(uint8_t b) {
    if (output_len >= OUTPUT_CAPACITY) __builtin_trap();
    output[output_len++] = b;
}

static void put_ascii(const char *s) {
    while (*s) put_byte((uint8_t)*s++);
}

static void put_utf8(uint32_t cp) {
    if (cp < 0x80) {
        put_byte((uint8_t)cp);
    } else if (cp < 0x800) {
        put_byte((uint8_t)(0xC0 | cp >> 6));
        put_byte((uint8_t)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        put_byte((uint8_t)(0xE0 | cp >> 12));
        put_byte((uint8_t)(0x80 | (cp >> 6 & 0x3F)));
        put_byte((uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        put_byte((uint8_t)(0xF0 | cp >> 18));
        put_byte((uint8_t)(0x80 | (cp >> 12 & 0x3F)));
        put_byte((uint8_t)(0x80 | (cp >> 6 & 0x3F)));
        put_byte((uint8_t)(0x80 | (cp & 0x3F)));
    }
}

static void put_uint(uint32_t v) {
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) put_byte((uint8_t)digits[--n]);
}

static int is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

/* An error whose field is an ASCII name. */
static int32_t fail(const char *field, int rule) {
    output_len = 0;
    put_ascii(field);
    return -(int32_t)((uint32_t)rule << 16 | output_len);
}

/* An error on a member's key: the key cut to 64 code points, lone surrogates as U+FFFD. */
static int32_t fail_key(const struct member *m, int rule) {
    output_len = 0;
    uint32_t len = m->key_len < MAX_LABEL ? m->key_len : MAX_LABEL;
    for (uint32_t k = 0; k < len; k++) {
        uint32_t cp = doc.pool[m->key_start + k];
        put_utf8(is_surrogate(cp) ? 0xFFFD : cp);
    }
    return -(int32_t)((uint32_t)rule << 16 | output_len);
}

static int key_is(const struct member *m, const char *name) {
    uint32_t k = 0;
    for (; name[k]; k++) {
        if (k >= m->key_len || doc.pool[m->key_start + k] != (uint8_t)name[k]) return 0;
    }
    return k == m->key_len;
}

static int same_key(const struct member *a, const struct member *b) {
    if (a->key_hash != b->key_hash || a->key_len != b->key_len) return 0;
    for (uint32_t k = 0; k < a->key_len; k++) {
        if (doc.pool[a->key_start + k] != doc.pool[b->key_start + k]) return 0;
    }
    return 1;
}

static const struct member *find(const char *name) {
    for (uint32_t k = 0; k < doc.count; k++) {
        if (key_is(&doc.members[k], name)) return &doc.members[k];
    }
    return 0;
}

static int is_space(uint32_t cp) {
    return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static void put_json_string(const uint32_t *cps, uint32_t len) {
    put_byte('"');
    for (uint32_t k = 0; k < len; k++) {
        if (cps[k] == '"' || cps[k] == '\\') put_byte('\\');
        put_utf8(cps[k]);
    }
    put_byte('"');
}

/* Check, normalize and write a band or album name; 0 or a rule. */
static int text_field(const struct member *m) {
    if (!m) return RULE_REQUIRED;
    if (m->value.kind != KIND_STRING) return RULE_TYPE;
    const uint32_t *cps = doc.pool + m->value.start;
    uint32_t n = m->value.len;
    for (uint32_t k = 0; k < n; k++) {
        if (is_surrogate(cps[k])) return RULE_INVALID_UNICODE;
    }
    for (uint32_t k = 0; k < n; k++) {
        if (cps[k] < 0x20 || (cps[k] >= 0x7F && cps[k] <= 0x9F)) return RULE_CONTROL_CHARACTER;
    }
    uint32_t len = nfc(cps, n, text);
    uint32_t kept = 0;
    for (uint32_t k = 0; k < len; k++) {
        if (!is_space(text[k])) {
            text[kept++] = text[k];
        } else if (kept && text[kept - 1] != ' ') {
            text[kept++] = ' ';
        }
    }
    if (kept && text[kept - 1] == ' ') kept--;
    if (!kept) return RULE_EMPTY;
    if (kept > MAX_TEXT) return RULE_TOO_LONG;
    put_json_string(text, kept);
    return RULE_OK;
}

/* The text of a year or rank: a string's code points, or a number's bytes, in `text`. */
static int number_text(const struct member *m, uint32_t *len) {
    if (!m) return RULE_REQUIRED;
    if (m->value.kind == KIND_STRING) {
        memcpy(text, doc.pool + m->value.start, m->value.len * sizeof *text);
    } else if (m->value.kind == KIND_NUMBER) {
        for (uint32_t k = 0; k < m->value.len; k++) text[k] = input[m->value.start + k];
    } else {
        return RULE_TYPE;
    }
    *len = m->value.len;
    return RULE_OK;
}

static int is_digit(uint32_t cp) { return cp >= '0' && cp <= '9'; }

static int year_field(const struct member *m, uint32_t year_now) {
    uint32_t len;
    int rule = number_text(m, &len);
    if (rule) return rule;
    if (len != 4) return RULE_FORMAT;
    uint32_t year = 0;
    for (uint32_t k = 0; k < 4; k++) {
        if (!is_digit(text[k])) return RULE_FORMAT;
        year = year * 10 + (text[k] - '0');
    }
    if (year < YEAR_MIN || year > year_now) return RULE_RANGE;
    put_uint(year);
    return RULE_OK;
}

static int rank_field(const struct member *m) {
    uint32_t len;
    int rule = number_text(m, &len);
    if (rule) return rule;
    uint32_t k = 0, negative = 0;
    if (k < len && text[k] == '-') {
        negative = 1;
        k++;
    }
    uint32_t whole = k;
    while (k < len && is_digit(text[k])) k++;
    uint32_t whole_end = k, fraction = k, fraction_end = k;
    if (whole_end == whole) return RULE_FORMAT;
    if (k < len && text[k] == '.') {
        fraction = ++k;
        while (k < len && is_digit(text[k])) k++;
        fraction_end = k;
        if (fraction_end == fraction) return RULE_FORMAT;
    }
    if (k != len) return RULE_FORMAT;
    if (negative) return RULE_RANGE;
    if (fraction_end - fraction > 2) return RULE_PRECISION;
    while (whole + 1 < whole_end && text[whole] == '0') whole++;
    while (fraction_end > fraction && text[fraction_end - 1] == '0') fraction_end--;
    if (whole_end - whole > 3) return RULE_RANGE;
    uint32_t value = 0;
    for (uint32_t j = whole; j < whole_end; j++) value = value * 10 + (text[j] - '0');
    if (value > 100 || (value == 100 && fraction_end > fraction)) return RULE_RANGE;
    put_uint(value);
    if (fraction_end > fraction) {
        put_byte('.');
        for (uint32_t j = fraction; j < fraction_end; j++) put_byte((uint8_t)text[j]);
    }
    return RULE_OK;
}

static int key_char(uint32_t cp) {
    return (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') || is_digit(cp) || cp == '.' ||
           cp == '_' || cp == ':' || cp == '-';
}

static int vote_id_field(const struct member *m) {
    if (m->value.kind != KIND_STRING) return RULE_TYPE;
    const uint32_t *cps = doc.pool + m->value.start;
    uint32_t n = m->value.len;
    if (n < 8 || n > 128) return RULE_FORMAT;
    for (uint32_t k = 0; k < n; k++) {
        if (!key_char(cps[k])) return RULE_FORMAT;
    }
    put_json_string(cps, n);
    return RULE_OK;
}

static int32_t check(uint32_t len, uint32_t year_now) {
    if (len > MAX_BODY) return fail("body", RULE_TOO_LARGE);
    if (!utf8_valid(input, len)) return fail("body", RULE_UTF8);
    if (json_parse(input, len, &doc) != RULE_OK) return fail("body", RULE_JSON);
    if (doc.top.kind != KIND_OBJECT) return fail("body", RULE_TYPE);
    for (uint32_t k = 1; k < doc.count; k++) {
        for (uint32_t j = 0; j < k; j++) {
            if (same_key(&doc.members[j], &doc.members[k])) {
                return fail_key(&doc.members[k], RULE_DUPLICATE);
            }
        }
    }
    for (uint32_t k = 0; k < doc.count; k++) {
        int known = 0;
        for (uint32_t f = 0; f < FIELD_COUNT; f++) known |= key_is(&doc.members[k], FIELDS[f]);
        if (!known) return fail_key(&doc.members[k], RULE_UNKNOWN_FIELD);
    }
    const struct member *name = find("name"), *album = find("album"), *year = find("year"),
                        *rank = find("rank"), *vote_id = find("vote_id");
    int rule;
    output_len = 0;
    put_ascii("{\"name\":");
    if ((rule = text_field(name))) return fail("name", rule);
    put_ascii(",\"album\":");
    if ((rule = text_field(album))) return fail("album", rule);
    put_ascii(",\"year\":");
    if ((rule = year_field(year, year_now))) return fail("year", rule);
    put_ascii(",\"rank\":");
    if ((rule = rank_field(rank))) return fail("rank", rule);
    if (vote_id) {
        put_ascii(",\"vote_id\":");
        if ((rule = vote_id_field(vote_id))) return fail("vote_id", rule);
    }
    put_byte('}');
    return (int32_t)output_len;
}

EXPORT("ballot") int32_t ballot(uint32_t len, uint32_t year_now) {
    return check(len, year_now);
}

EXPORT("input_ptr") uint8_t *input_ptr(void) { return input; }

EXPORT("output_ptr") uint8_t *output_ptr(void) { return output; }

EXPORT("rule_name") const char *rule_name(uint32_t rule) {
    return rule < RULE_COUNT ? RULE_NAMES[rule] : "";
}

EXPORT("unidata_version") const char *unidata_version(void) {
    return nfc_unidata_version();
}

EXPORT("abi_version") int32_t abi_version(void) { return ABI_VERSION; }
