/* libFuzzer entry for the native build of the kernel (see fuzz.sh).
 *
 * Beyond the sanitizers' checks it asserts the kernel's own invariants: an
 * error names a known rule and a short field, and a canonical ballot is a
 * fixed point (judging it again gives the same bytes).
 */
#include <string.h>

#include "kernel.h"

int32_t ballot(uint32_t len, uint32_t year_now);
uint8_t *input_ptr(void);
uint8_t *output_ptr(void);

#define YEAR_NOW 2026u

static uint8_t first[OUTPUT_CAPACITY];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint32_t len = size > MAX_BODY ? MAX_BODY + 1 : (uint32_t)size;
    memcpy(input_ptr(), data, size > MAX_BODY ? MAX_BODY : size);
    int32_t result = ballot(len, YEAR_NOW);
    if (result < 0) {
        uint32_t code = (uint32_t)-result;
        if ((code >> 16) == RULE_OK || (code >> 16) >= RULE_COUNT) __builtin_trap();
        if ((code & 0xFFFF) > 4 * 64) __builtin_trap(); /* a key label: <= 64 code points */
        return 0;
    }
    if ((uint32_t)result > OUTPUT_CAPACITY) __builtin_trap();
    memcpy(first, output_ptr(), (size_t)result);
    memcpy(input_ptr(), first, (size_t)result);
    if (ballot((uint32_t)result, YEAR_NOW) != result) __builtin_trap();
    if (memcmp(first, output_ptr(), (size_t)result) != 0) __builtin_trap();
    return 0;
}
