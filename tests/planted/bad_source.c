/* Planted known-bad code: the source gate (tests/check_source.sh) must flag every line below.
 * It is never compiled. */
#include <stdio.h>
#include <string.h>

void planted(char *out, size_t n, const char *email, char *buf)
{
    snprintf(out, n, "SELECT id FROM users WHERE email = '%s'", email);
    strcpy(buf, email);
    int x = atoi(email);
    (void)x;
}
