/*
 * header_twice.c - the header can be included twice in one translation unit
 * (its include guard works) and compiles as strict C99.
 *
 *   cc -std=c99 -Wall -Wextra -Werror -pedantic -I include tests/c/header_twice.c -L target/debug -lotlpmetric
 */
#include "otlpmetric.h"
#include "otlpmetric.h"

#include <stdio.h>

int main(void) {
    const char *v = otlpmetric_version();
    if (!v) return 1;
    printf("otlpmetric %s (header %d.%d.%d)\n", v, OTLPMETRIC_VERSION_MAJOR, OTLPMETRIC_VERSION_MINOR,
           OTLPMETRIC_VERSION_PATCH);
    return 0;
}
