/* Shared main for every Check test program: each program defines suite(). */
#include <check.h>
#include <stdlib.h>

Suite *suite(void);

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
