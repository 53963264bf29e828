/* Shared main for every Check test program: each program defines suite(). A program
 * whose tests need what a machine may lack also defines suite_skip_reason(): NULL when
 * all is there, else why not, and the program is skipped (exit 77, meson's skip). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite *suite(void);
const char *suite_skip_reason(void) __attribute__((weak));

int main(void)
{
    const char *why = suite_skip_reason ? suite_skip_reason() : NULL;
    if (why) {
        printf("skipped: %s\n", why);
        return 77;
    }
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
