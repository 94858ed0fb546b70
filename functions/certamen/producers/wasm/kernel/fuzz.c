/* libFuzzer entry for the native build of the kernel (see fuzz.sh).
 *
 * Beyond the sanitizers' checks it asserts the kernel's own invariants: an
 * error names a known rule and a short field, a canonical ballot is a fixed
 * point (judging it again gives the same bytes), and a body judged again after
 * another call gets the same answer (no state carried over between calls).
 * What the kernel must answer is the Python contract's business: fuzz.sh
 * replays the corpus through both afterwards.
 */
#include <string.h>

#include "kernel.h"

int32_t ballot(uint32_t len, uint32_t year_now);
uint8_t *input_ptr(void);
uint8_t *output_ptr(void);

#define YEAR_NOW 2026u

static uint8_t first[OUTPUT_CAPACITY];
/* Judged between two calls on a body that failed, so that the second one follows another. */
static const char OTHER[] = "{\"name\":\"\\u00e9\\u0323 x\",\"album\":\"y\",\"year\":1999,\"rank\":1}";

static int32_t judge(const uint8_t *data, size_t size) {
    uint32_t len = size > MAX_BODY ? MAX_BODY + 1 : (uint32_t)size;
    memcpy(input_ptr(), data, size > MAX_BODY ? MAX_BODY : size);
    return ballot(len, YEAR_NOW);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int32_t result = judge(data, size);
    size_t n;
    if (result < 0) {
        uint32_t code = (uint32_t)-result;
        if ((code >> 16) == RULE_OK || (code >> 16) >= RULE_COUNT) __builtin_trap();
        if ((code & 0xFFFF) > 4 * 64) __builtin_trap(); /* a key label: <= 64 code points */
        n = code & 0xFFFF;
        memcpy(first, output_ptr(), n);
        if (judge((const uint8_t *)OTHER, sizeof OTHER - 1) < 0) __builtin_trap();
    } else {
        if ((uint32_t)result > OUTPUT_CAPACITY) __builtin_trap();
        n = (size_t)result;
        memcpy(first, output_ptr(), n);
        memcpy(input_ptr(), first, n);
        if (ballot((uint32_t)n, YEAR_NOW) != result) __builtin_trap();
        if (memcmp(first, output_ptr(), n) != 0) __builtin_trap();
    }
    if (judge(data, size) != result) __builtin_trap();
    if (memcmp(first, output_ptr(), n) != 0) __builtin_trap();
    return 0;
}
