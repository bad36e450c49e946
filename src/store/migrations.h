/* The numbered schema migrations, compiled in from src/store/migrations/NNNN_name.sql. */
#ifndef GH_STORE_MIGRATIONS_H
#define GH_STORE_MIGRATIONS_H

struct gh_migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct gh_migration gh_migrations[];
extern const int gh_migrations_count;

#endif
