/* The numbered schema migrations, compiled in from src/store/migrations/NNNN_name.sql (SQLite)
 * and src/store/migrations_pg/NNNN_name.sql (PostgreSQL: same versions, same meaning). */
#ifndef GH_STORE_MIGRATIONS_H
#define GH_STORE_MIGRATIONS_H

struct gh_migration {
    int version;
    const char *name;
    const char *sql;
};

extern const struct gh_migration gh_migrations[];
extern const int gh_migrations_count;
extern const struct gh_migration gh_pg_migrations[];
extern const int gh_pg_migrations_count;

#endif
