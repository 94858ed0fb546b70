/* Strict UTF-8 and an RFC 8259 JSON parser with a depth limit.
 *
 * It accepts exactly what Python's json.loads accepts (no NaN/Infinity, no
 * trailing data, whitespace only space/tab/CR/LF, raw control characters
 * refused inside strings) and keeps, for the top-level object, each member's
 * key and value: strings decoded to code points (escaped surrogate pairs
 * joined, lone surrogates kept), numbers as written.
 */
#include "kernel.h"

int utf8_valid(const uint8_t *s, uint32_t n) {
    uint32_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        uint32_t need;
        uint8_t low = 0x80, high = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) low = 0xA0;  /* overlong */
            if (c == 0xED) high = 0x9F; /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) low = 0x90;  /* overlong */
            if (c == 0xF4) high = 0x8F; /* above U+10FFFF */
        } else {
            return 0;
        }
        if (n - i - 1 < need) return 0;
        if (s[i + 1] < low || s[i + 1] > high) return 0;
        for (uint32_t k = 2; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        }
        i += need + 1;
    }
    return 1;
}

struct parser {
    const uint8_t *s;
    uint32_t n, i;
    struct document *doc;
};

static void skip_ws(struct parser *p) {
    while (p->i < p->n) {
        uint8_t c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        p->i++;
    }
}

static int hex4(struct parser *p, uint32_t at, uint32_t *out) {
    if (at > p->n || p->n - at < 4) return 0;
    uint32_t v = 0;
    for (uint32_t k = 0; k < 4; k++) {
        uint8_t c = p->s[at + k];
        uint32_t d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* Decode the UTF-8 sequence at s[i] (already validated); return its length. */
static uint32_t utf8_decode(const uint8_t *s, uint32_t i, uint32_t *cp) {
    uint8_t c = s[i];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = (uint32_t)(c & 0x1F) << 6 | (s[i + 1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        *cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
        return 3;
    }
    *cp = (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[i + 1] & 0x3F) << 12 |
          (uint32_t)(s[i + 2] & 0x3F) << 6 | (s[i + 3] & 0x3F);
    return 4;
}

/* A string at s[i] == '"'; when keep, its code points are appended to the pool. */
static int parse_string(struct parser *p, int keep, uint32_t *start, uint32_t *len) {
    struct document *doc = p->doc;
    uint32_t first = doc->pool_len;
    p->i++;
    for (;;) {
        if (p->i >= p->n) return 0;
        uint8_t c = p->s[p->i];
        uint32_t cp;
        if (c == '"') {
            p->i++;
            break;
        }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (p->i + 1 >= p->n) return 0;
            uint8_t e = p->s[p->i + 1];
            p->i += 2;
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                if (!hex4(p, p->i, &cp)) return 0;
                p->i += 4;
                uint32_t low;
                if (cp >= 0xD800 && cp <= 0xDBFF && p->n - p->i >= 6 && p->s[p->i] == '\\' &&
                    p->s[p->i + 1] == 'u' && hex4(p, p->i + 2, &low) && low >= 0xDC00 &&
                    low <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    p->i += 6;
                }
                break;
            }
            default:
                return 0;
            }
        } else {
            p->i += utf8_decode(p->s, p->i, &cp);
        }
        if (keep) {
            if (doc->pool_len >= POOL_CAPACITY) __builtin_trap();
            doc->pool[doc->pool_len++] = cp;
        }
    }
    *start = first;
    *len = keep ? doc->pool_len - first : 0;
    return 1;
}

static int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int parse_number(struct parser *p) {
    if (p->s[p->i] == '-') p->i++;
    if (p->i >= p->n) return 0;
    if (p->s[p->i] == '0') {
        p->i++;
    } else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    } else {
        return 0;
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        p->i++;
        if (p->i >= p->n || !is_digit(p->s[p->i])) return 0;
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || !is_digit(p->s[p->i])) return 0;
        while (p->i < p->n && is_digit(p->s[p->i])) p->i++;
    }
    return 1;
}

static int literal(struct parser *p, const char *word, uint32_t len) {
    if (p->n - p->i < len) return 0;
    for (uint32_t k = 0; k < len; k++) {
        if (p->s[p->i + k] != (uint8_t)word[k]) return 0;
    }
    p->i += len;
    return 1;
}

static uint32_t hash_key(const uint32_t *cps, uint32_t len) {
    uint32_t h = 2166136261u;
    for (uint32_t k = 0; k < len; k++) h = (h ^ cps[k]) * 16777619u;
    return h;
}

static int parse_value(struct parser *p, int depth, int top, struct value *out);

/* An object; at the top level its members are recorded. */
static int parse_object(struct parser *p, int depth, int top) {
    struct document *doc = p->doc;
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return 1;
    }
    for (;;) {
        if (p->i >= p->n || p->s[p->i] != '"') return 0;
        struct member m;
        if (!parse_string(p, top, &m.key_start, &m.key_len)) return 0;
        skip_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':') return 0;
        p->i++;
        skip_ws(p);
        if (!parse_value(p, depth, top, &m.value)) return 0;
        if (top) {
            if (doc->count >= MAX_MEMBERS) __builtin_trap();
            m.key_hash = hash_key(doc->pool + m.key_start, m.key_len);
            doc->members[doc->count++] = m;
        }
        skip_ws(p);
        if (p->i >= p->n) return 0;
        if (p->s[p->i] == '}') {
            p->i++;
            return 1;
        }
        if (p->s[p->i] != ',') return 0;
        p->i++;
        skip_ws(p);
    }
}

static int parse_array(struct parser *p, int depth) {
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return 1;
    }
    for (;;) {
        if (!parse_value(p, depth, 0, 0)) return 0;
        skip_ws(p);
        if (p->i >= p->n) return 0;
        if (p->s[p->i] == ']') {
            p->i++;
            return 1;
        }
        if (p->s[p->i] != ',') return 0;
        p->i++;
        skip_ws(p);
    }
}

/* A value at s[i] (whitespace skipped); `keep` says whether its text is recorded in `out`. */
static int parse_value(struct parser *p, int depth, int keep, struct value *out) {
    struct value v = {KIND_OTHER, 0, 0};
    if (p->i >= p->n) return 0;
    uint8_t c = p->s[p->i];
    if (c == '{' || c == '[') {
        if (depth + 1 > MAX_DEPTH) return 0;
        v.kind = c == '{' ? KIND_OBJECT : KIND_OTHER;
        if (c == '{' ? !parse_object(p, depth + 1, 0) : !parse_array(p, depth + 1)) return 0;
    } else if (c == '"') {
        v.kind = KIND_STRING;
        if (!parse_string(p, keep, &v.start, &v.len)) return 0;
    } else if (c == '-' || is_digit(c)) {
        v.kind = KIND_NUMBER;
        v.start = p->i;
        if (!parse_number(p)) return 0;
        v.len = p->i - v.start;
    } else if (!literal(p, "true", 4) && !literal(p, "false", 5) && !literal(p, "null", 4)) {
        return 0;
    }
    if (out) *out = v;
    return 1;
}

int json_parse(const uint8_t *s, uint32_t n, struct document *doc) {
    struct parser p = {s, n, 0, doc};
    doc->count = 0;
    doc->pool_len = 0;
    doc->top.kind = KIND_NONE;
    skip_ws(&p);
    if (p.i < p.n && s[p.i] == '{') {
        doc->top.kind = KIND_OBJECT;
        if (!parse_object(&p, 1, 1)) return RULE_JSON;
    } else if (!parse_value(&p, 0, 0, &doc->top)) {
        return RULE_JSON;
    }
    skip_ws(&p);
    return p.i == p.n ? RULE_OK : RULE_JSON;
}
