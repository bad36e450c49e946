/* `gatehouse doctor`: a deployment checked against the guidelines it can see. */
#ifndef GH_API_DOCTOR_H
#define GH_API_DOCTOR_H

#include <stdio.h>

#include "core/config.h"
#include "data/keywrap.h"
#include "store/store.h"

/* Print one PASS/WARN/FAIL line per guideline to f; returns 0 (all pass), 1 (a warning) or
 * 2 (a failure). s and kw may be NULL when they could not be opened (reported as FAIL). */
int gh_doctor_run(const struct gh_config *cfg, struct gh_store *s, struct gh_keywrap *kw,
                  FILE *f);

#endif
