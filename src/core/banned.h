/* Functions that are too easy to misuse. Include last in every .c file (after system headers),
 * as git does: a use becomes a compile error that names the function. */
#ifndef GH_CORE_BANNED_H
#define GH_CORE_BANNED_H

#define GH_BANNED(func) sorry_##func##_is_banned_in_gatehouse

#undef strcpy
#define strcpy(x, y) GH_BANNED(strcpy)
#undef strcat
#define strcat(x, y) GH_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) GH_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) GH_BANNED(strncat)
#undef sprintf
#define sprintf(...) GH_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) GH_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) GH_BANNED(strtok)
#undef gets
#define gets(x) GH_BANNED(gets)
#undef atoi
#define atoi(x) GH_BANNED(atoi)
#undef atol
#define atol(x) GH_BANNED(atol)
#undef atoll
#define atoll(x) GH_BANNED(atoll)
#undef sqlite3_exec
#define sqlite3_exec(...) GH_BANNED(sqlite3_exec)
#undef sqlite3_mprintf
#define sqlite3_mprintf(...) GH_BANNED(sqlite3_mprintf)

#endif
