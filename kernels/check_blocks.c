/* check_blocks: compiles quant_blocks.h (its static assertions are the
 * check) and prints the block sizes for a quick look. */
#include <stdio.h>

#include "quant_blocks.h"

#define SHOW(t) printf("%-12s %4zu bytes\n", #t, sizeof(t))

int main(void) {
    SHOW(block_q4_0);
    SHOW(block_q4_1);
    SHOW(block_q5_0);
    SHOW(block_q5_1);
    SHOW(block_q8_0);
    SHOW(block_q8_1);
    SHOW(block_q2_K);
    SHOW(block_q3_K);
    SHOW(block_q4_K);
    SHOW(block_q5_K);
    SHOW(block_q6_K);
    SHOW(block_q8_K);
    SHOW(block_mxfp4);
    return 0;
}
