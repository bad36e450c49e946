/* The built-in pages' table (generated into gh_web.c) and its size. */
#include "api/web.h"
#include "core/banned.h"

size_t gh_web_asset_count(void)
{
    size_t n = 0;
    while (gh_web_assets[n].path)
        n++;
    return n;
}
