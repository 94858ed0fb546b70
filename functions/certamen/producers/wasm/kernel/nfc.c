/* Unicode Normalization Form C with the tables of Python 3.11's unicodedata (Unicode 14.0).
 *
 * The three steps of UAX #15: full canonical decomposition (Hangul syllables
 * algorithmically), canonical ordering of combining marks (a stable sort by
 * combining class), then canonical composition of primary composites.
 */
#include "kernel.h"
#include "unicode_tables.h"

#define S_BASE 0xAC00u
#define L_BASE 0x1100u
#define V_BASE 0x1161u
#define T_BASE 0x11A7u
#define L_COUNT 19u
#define V_COUNT 21u
#define T_COUNT 28u
#define N_COUNT (V_COUNT * T_COUNT)
#define S_COUNT (L_COUNT * N_COUNT)

static uint8_t classes[NFC_CAPACITY];
static uint32_t sorted[NFC_CAPACITY];

static uint8_t combining_class(uint32_t cp) {
    if (cp < NFC_INERT_BELOW) return 0;
    uint32_t lo = 0, hi = CLASS_RANGE_COUNT;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cp < CLASS_RANGES[mid].first) hi = mid;
        else if (cp > CLASS_RANGES[mid].last) lo = mid + 1;
        else return CLASS_RANGES[mid].ccc;
    }
    return 0;
}

static int32_t find_decomposition(uint32_t cp) {
    uint32_t lo = 0, hi = DECOMP_COUNT;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cp < DECOMP_KEYS[mid]) hi = mid;
        else if (cp > DECOMP_KEYS[mid]) lo = mid + 1;
        else return (int32_t)mid;
    }
    return -1;
}

/* The primary composite of first + second, or 0. */
static uint32_t compose_pair(uint32_t first, uint32_t second) {
    if (first - L_BASE < L_COUNT && second - V_BASE < V_COUNT) {
        return S_BASE + ((first - L_BASE) * V_COUNT + (second - V_BASE)) * T_COUNT;
    }
    if (first - S_BASE < S_COUNT && (first - S_BASE) % T_COUNT == 0 && second > T_BASE &&
        second - T_BASE < T_COUNT) {
        return first + (second - T_BASE);
    }
    if (first >= 1u << 21 || second >= 1u << 21) return 0;
    uint64_t key = (uint64_t)first << 21 | second;
    uint32_t lo = 0, hi = PAIR_COUNT;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (key < PAIR_KEYS[mid]) hi = mid;
        else if (key > PAIR_KEYS[mid]) lo = mid + 1;
        else return PAIR_VALUES[mid];
    }
    return 0;
}

static uint32_t decompose(const uint32_t *in, uint32_t n, uint32_t *out) {
    uint32_t len = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t cp = in[k];
        if (len + 4 > NFC_CAPACITY) __builtin_trap();
        if (cp - S_BASE < S_COUNT) {
            uint32_t index = cp - S_BASE;
            out[len++] = L_BASE + index / N_COUNT;
            out[len++] = V_BASE + (index % N_COUNT) / T_COUNT;
            if (index % T_COUNT) out[len++] = T_BASE + index % T_COUNT;
            continue;
        }
        /* Not NFC_INERT_BELOW: that bounds whole strings that are already NFC, while
         * precomposed letters below it (U+00C0 on) must still be decomposed here, or marks
         * that follow them are neither reordered nor composed with their own marks. */
        int32_t found = cp < DECOMP_KEYS[0] ? -1 : find_decomposition(cp);
        if (found < 0) {
            out[len++] = cp;
            continue;
        }
        uint32_t info = DECOMP_INFO[found];
        for (uint32_t j = 0; j < (info & 7); j++) out[len++] = DECOMP_DATA[(info >> 3) + j];
    }
    return len;
}

/* Stable sort of out[from..to) by combining class (a counting sort: linear on hostile input). */
static void sort_run(uint32_t *out, uint32_t from, uint32_t to) {
    if (to - from < 2) return;
    uint32_t count[256];
    memset(count, 0, sizeof count);
    for (uint32_t k = from; k < to; k++) count[classes[k]]++;
    uint32_t at = 0;
    for (uint32_t c = 0; c < 256; c++) {
        uint32_t here = count[c];
        count[c] = at;
        at += here;
    }
    for (uint32_t k = from; k < to; k++) sorted[count[classes[k]]++] = out[k];
    for (uint32_t k = from; k < to; k++) {
        out[k] = sorted[k - from];
        classes[k] = combining_class(out[k]);
    }
}

static void reorder(uint32_t *out, uint32_t len) {
    uint32_t k = 0;
    while (k < len) {
        if (classes[k] == 0) {
            k++;
            continue;
        }
        uint32_t from = k;
        int ordered = 1;
        while (k < len && classes[k] != 0) {
            if (k > from && classes[k - 1] > classes[k]) ordered = 0;
            k++;
        }
        if (!ordered) sort_run(out, from, k);
    }
}

static uint32_t compose(uint32_t *out, uint32_t len) {
    if (len == 0) return 0;
    uint32_t starter = 0, kept = 1;
    uint32_t last_class = classes[0] ? 256 : 0;
    for (uint32_t k = 1; k < len; k++) {
        uint32_t cp = out[k];
        uint32_t cc = classes[k];
        uint32_t composite = compose_pair(out[starter], cp);
        if (composite && (last_class < cc || last_class == 0)) {
            out[starter] = composite;
            continue;
        }
        if (cc == 0) starter = kept;
        last_class = cc;
        out[kept++] = cp;
    }
    return kept;
}

uint32_t nfc(const uint32_t *in, uint32_t n, uint32_t *out) {
    int inert = 1;
    for (uint32_t k = 0; k < n; k++) {
        if (in[k] >= NFC_INERT_BELOW) inert = 0;
    }
    if (inert) {
        memcpy(out, in, n * sizeof *in);
        return n;
    }
    uint32_t len = decompose(in, n, out);
    for (uint32_t k = 0; k < len; k++) classes[k] = combining_class(out[k]);
    reorder(out, len);
    return compose(out, len);
}

const char *nfc_unidata_version(void) { return UNIDATA_VERSION; }
