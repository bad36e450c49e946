/* Integration: the token endpoint (JSON and RFC 6749 form), uniform credential failures, refresh
 * rotation and reuse detection, and every way a bad credential is presented. One server. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <sodium.h>

#include "harness.h"

static struct h_server srv;

#define PW "correct horse battery staple"

static int setup(void **state)
{
    (void)state;
    return h_server_start(&srv, NULL);
}

static int teardown(void **state)
{
    (void)state;
    int code = h_server_stop(&srv);
    h_server_free(&srv);
    return code == 0 ? 0 : -1;
}

static void urlencode(const char *in, char *out, size_t size)
{
    char *e = curl_easy_escape(NULL, in, 0);
    assert_non_null(e);
    snprintf(out, size, "%s", e);
    curl_free(e);
}

static void assert_token_body(const struct h_response *r)
{
    h_assert_json_response(r, 200);
    assert_true(json_is_string(json_object_get(r->json, "access_token")));
    assert_true(json_is_string(json_object_get(r->json, "refresh_token")));
    assert_string_equal(json_string_value(json_object_get(r->json, "token_type")), "Bearer");
    assert_true(json_is_integer(json_object_get(r->json, "expires_in")));
    assert_true(json_integer_value(json_object_get(r->json, "expires_in")) > 0);
}

static void assert_oauth_error(const struct h_response *r, const char *error)
{
    h_assert_problem(&srv, r, 400);
    const char *e = json_string_value(json_object_get(r->json, "error"));
    if (!e || strcmp(e, error) != 0)
        fail_msg("want \"error\":\"%s\", body %s", error, r->body);
}

static void test_form_password_grant(void **state)
{
    (void)state;
    char email[128], enc[256], form[1024];
    h_unique_email("form", email, sizeof email);
    assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
    urlencode(email, enc, sizeof enc);
    struct h_response r;

    /* success, with unknown parameters ignored (scope, client_id as sent by OAuth2 forms) */
    snprintf(form, sizeof form,
             "grant_type=password&username=%s&password=correct+horse+battery+staple&scope=&"
             "client_id=web&unknown_thing=1",
             enc);
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    assert_token_body(&r);
    char access[1024], refresh[128];
    snprintf(access, sizeof access, "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    snprintf(refresh, sizeof refresh, "%s",
             json_string_value(json_object_get(r.json, "refresh_token")));
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, access), 200);

    /* wrong password → 400 invalid_grant (RFC 6749 §5.2) */
    snprintf(form, sizeof form, "grant_type=password&username=%s&password=wrong+password+here",
             enc);
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    assert_oauth_error(&r, "invalid_grant");
    h_response_free(&r);
    /* unknown user → identical answer */
    assert_int_equal(h_post_form(&srv, "/v1/token",
                                 "grant_type=password&username=nobody%40example.com&password=x",
                                 &r),
                     0);
    assert_oauth_error(&r, "invalid_grant");
    h_response_free(&r);

    /* missing parameters → invalid_request */
    snprintf(form, sizeof form, "grant_type=password&username=%s", enc);
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    assert_oauth_error(&r, "invalid_request");
    h_response_free(&r);
    assert_int_equal(h_post_form(&srv, "/v1/token", "grant_type=password&password=x", &r), 0);
    assert_oauth_error(&r, "invalid_request");
    h_response_free(&r);
    snprintf(form, sizeof form, "username=%s&password=correct+horse+battery+staple", enc);
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    assert_oauth_error(&r, "invalid_request");
    h_response_free(&r);
    assert_int_equal(h_post_form(&srv, "/v1/token", "grant_type=refresh_token", &r), 0);
    assert_oauth_error(&r, "invalid_request");
    h_response_free(&r);

    /* unsupported grant types */
    assert_int_equal(h_post_form(&srv, "/v1/token", "grant_type=client_credentials", &r), 0);
    assert_oauth_error(&r, "unsupported_grant_type");
    h_response_free(&r);
    assert_int_equal(
        h_post_form(&srv, "/v1/token", "grant_type=authorization_code&code=abc&redirect_uri=x", &r),
        0);
    assert_oauth_error(&r, "unsupported_grant_type");
    h_response_free(&r);

    /* a duplicated parameter → 400 (RFC 6749 §3.2), even when both values are right */
    snprintf(form, sizeof form,
             "grant_type=password&username=%s&password=correct+horse+battery+staple&"
             "password=correct+horse+battery+staple",
             enc);
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    assert_oauth_error(&r, "invalid_request");
    h_response_free(&r);
    snprintf(form, sizeof form,
             "grant_type=password&grant_type=password&username=%s&password=correct+horse+"
             "battery+staple",
             enc);
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    h_assert_problem(&srv, &r, 400);
    h_response_free(&r);

    /* bad percent-encoding / not UTF-8 → 400 */
    assert_int_equal(
        h_post_form(&srv, "/v1/token", "grant_type=password&username=%ff%fe&password=x", &r), 0);
    h_assert_problem(&srv, &r, 400);
    h_response_free(&r);

    /* grant_type=refresh_token on /v1/token */
    snprintf(form, sizeof form, "grant_type=refresh_token&refresh_token=%s&client_id=web", refresh);
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    assert_token_body(&r);
    char access2[1024];
    snprintf(access2, sizeof access2, "%s",
             json_string_value(json_object_get(r.json, "access_token")));
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, access2), 200);
    /* and the used one is dead (this also revokes the family) */
    assert_int_equal(h_post_form(&srv, "/v1/token", form, &r), 0);
    assert_oauth_error(&r, "invalid_grant");
    h_response_free(&r);
    assert_int_equal(h_me_status(&srv, access2), 401);
}

/* Remove request_id so two problem bodies can be compared. */
static json_t *without_request_id(json_t *o)
{
    json_t *c = json_deep_copy(o);
    json_object_del(c, "request_id");
    return c;
}

static void test_same_401_for_unknown_email_and_wrong_password(void **state)
{
    (void)state;
    char email[128], unknown[128];
    h_unique_email("uniform", email, sizeof email);
    h_unique_email("ghost", unknown, sizeof unknown);
    assert_int_equal(h_register(&srv, email, PW, NULL, NULL), 201);
    struct h_response a, b, c;
    assert_int_equal(
        h_post_json(&srv, "/v1/token", NULL,
                    json_pack("{s:s,s:s}", "email", email, "password", "wrong password!!"), &a),
        0);
    assert_int_equal(
        h_post_json(&srv, "/v1/token", NULL,
                    json_pack("{s:s,s:s}", "email", unknown, "password", "wrong password!!"), &b),
        0);
    /* a malformed email cannot have an account: same answer again */
    assert_int_equal(
        h_post_json(&srv, "/v1/token", NULL,
                    json_pack("{s:s,s:s}", "email", "not an email", "password", "wrong password!!"),
                    &c),
        0);
    h_assert_problem(&srv, &a, 401);
    h_assert_problem(&srv, &b, 401);
    h_assert_problem(&srv, &c, 401);
    assert_string_equal(json_string_value(json_object_get(a.json, "error")), "invalid_grant");
    json_t *ja = without_request_id(a.json), *jb = without_request_id(b.json),
           *jc = without_request_id(c.json);
    if (!json_equal(ja, jb) || !json_equal(ja, jc))
        fail_msg("bodies differ:\n%s\n%s\n%s", a.body, b.body, c.body);
    json_decref(ja);
    json_decref(jb);
    json_decref(jc);
    /* the headers that matter are the same too */
    const char *hs[] = {"Content-Type", "WWW-Authenticate", "Cache-Control", NULL};
    for (size_t i = 0; hs[i]; i++) {
        const char *x = h_header(&a, hs[i]), *y = h_header(&b, hs[i]);
        assert_true((x == NULL) == (y == NULL));
        if (x)
            assert_string_equal(x, y);
    }
    h_response_free(&a);
    h_response_free(&b);
    h_response_free(&c);
}

static void test_refresh_reuse_revokes_family(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens a, b;
    h_user_session(&srv, "reuse", PW, email, sizeof email, &a);
    assert_int_equal(h_refresh(&srv, a.refresh, &b), 200);
    assert_int_equal(h_me_status(&srv, b.access), 200);

    /* present A's refresh token again: refused, and the whole family dies */
    struct h_response r;
    assert_int_equal(h_post_json(&srv, "/v1/token/refresh", NULL,
                                 json_pack("{s:s}", "refresh_token", a.refresh), &r),
                     0);
    h_assert_problem(&srv, &r, 401);
    assert_string_equal(json_string_value(json_object_get(r.json, "error")), "invalid_grant");
    h_response_free(&r);
    assert_int_equal(h_refresh(&srv, b.refresh, NULL), 401);
    assert_int_equal(h_me_status(&srv, b.access), 401);
    assert_int_equal(h_me_status(&srv, a.access), 401);

    /* a new login is unaffected */
    struct h_tokens c;
    assert_int_equal(h_login(&srv, email, PW, &c), 200);
    assert_int_equal(h_me_status(&srv, c.access), 200);

    /* the security event is logged (the log is written before the response) */
    h_sleep_ms(100);
    char *log = h_read_file(srv.log_path, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "\"event\":\"refresh_reuse\""));
    free(log);
}

static void test_refresh_with_garbage(void **state)
{
    (void)state;
    const char *bad[] = {"", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "not/base64url+at+all!!!!!!!!!!!!!!!!!!!!!!!", NULL};
    for (size_t i = 0; bad[i]; i++) {
        struct h_response r;
        assert_int_equal(h_post_json(&srv, "/v1/token/refresh", NULL,
                                     json_pack("{s:s}", "refresh_token", bad[i]), &r),
                         0);
        h_assert_problem(&srv, &r, 401);
        h_response_free(&r);
    }
}

static void expect_bearer_refused(const char *authorization, bool expect_invalid_token)
{
    struct h_response r;
    const char *hdrs[] = {authorization, NULL};
    assert_int_equal(
        h_request(&srv, "GET", "/v1/me", authorization ? hdrs : NULL, NULL, 0, NULL, &r), 0);
    h_assert_problem(&srv, &r, 401);
    const char *wa = h_header(&r, "WWW-Authenticate");
    if (!wa)
        fail_msg("401 without WWW-Authenticate for '%.60s'", authorization ? authorization : "");
    assert_true(strncmp(wa, "Bearer", 6) == 0);
    if (expect_invalid_token)
        assert_non_null(strstr(wa, "invalid_token"));
    h_response_free(&r);
}

static void bearer_line(const char *tok, char *out, size_t size)
{
    snprintf(out, size, "Authorization: Bearer %s", tok);
}

static void b64url(const void *bin, size_t len, char *out, size_t size)
{
    sodium_bin2base64(out, size, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static void test_bad_tokens_refused(void **state)
{
    (void)state;
    char email[128], line[4096], tok[3072];
    struct h_tokens t;
    h_user_session(&srv, "badtok", PW, email, sizeof email, &t);
    assert_int_equal(h_me_status(&srv, t.access), 200);

    /* refresh token as Bearer */
    bearer_line(t.refresh, line, sizeof line);
    expect_bearer_refused(line, true);

    /* access token as refresh_token */
    struct h_response r;
    assert_int_equal(h_post_json(&srv, "/v1/token/refresh", NULL,
                                 json_pack("{s:s}", "refresh_token", t.access), &r),
                     0);
    assert_true(r.status == 401 || r.status == 422);
    if (r.status != 401)
        fail_msg("access token as refresh_token: %ld (want 401) %s", r.status, r.body);
    h_assert_problem(&srv, &r, 401);
    h_response_free(&r);

    /* tampered signature: flip one character in the middle of the signature */
    snprintf(tok, sizeof tok, "%s", t.access);
    char *sig = strrchr(tok, '.');
    assert_non_null(sig);
    size_t mid = strlen(sig) / 2;
    sig[mid] = sig[mid] == 'A' ? 'B' : 'A';
    bearer_line(tok, line, sizeof line);
    expect_bearer_refused(line, true);

    /* signature removed */
    snprintf(tok, sizeof tok, "%s", t.access);
    *(strrchr(tok, '.') + 1) = '\0';
    bearer_line(tok, line, sizeof line);
    expect_bearer_refused(line, true);

    /* tampered payload (sub changed), original signature */
    json_t *hdr = h_jwt_part(t.access, 0), *pl = h_jwt_part(t.access, 1);
    assert_non_null(hdr);
    assert_non_null(pl);
    const char *first_dot = strchr(t.access, '.');
    const char *last_dot = strrchr(t.access, '.');
    char hb[512], pb[1024];
    json_t *pl2 = json_deep_copy(pl);
    json_object_set_new(pl2, "sub", json_string("AAAAAAAAAAAAAAAAAAAAAA"));
    char *pj = json_dumps(pl2, JSON_COMPACT);
    b64url(pj, strlen(pj), pb, sizeof pb);
    free(pj);
    json_decref(pl2);
    snprintf(tok, sizeof tok, "%.*s.%s%s", (int)(first_dot - t.access), t.access, pb, last_dot);
    bearer_line(tok, line, sizeof line);
    expect_bearer_refused(line, true);

    /* expired-looking: exp in the past, original signature */
    pl2 = json_deep_copy(pl);
    json_object_set_new(pl2, "exp", json_integer(1000));
    json_object_set_new(pl2, "iat", json_integer(100));
    pj = json_dumps(pl2, JSON_COMPACT);
    b64url(pj, strlen(pj), pb, sizeof pb);
    free(pj);
    json_decref(pl2);
    snprintf(tok, sizeof tok, "%.*s.%s%s", (int)(first_dot - t.access), t.access, pb, last_dot);
    bearer_line(tok, line, sizeof line);
    expect_bearer_refused(line, true);

    /* wrong aud / iss, original signature */
    const char *claims[][2] = {{"aud", "someone-else"}, {"iss", "https://evil.example"}};
    for (size_t i = 0; i < 2; i++) {
        pl2 = json_deep_copy(pl);
        json_object_set_new(pl2, claims[i][0], json_string(claims[i][1]));
        pj = json_dumps(pl2, JSON_COMPACT);
        b64url(pj, strlen(pj), pb, sizeof pb);
        free(pj);
        json_decref(pl2);
        snprintf(tok, sizeof tok, "%.*s.%s%s", (int)(first_dot - t.access), t.access, pb, last_dot);
        bearer_line(tok, line, sizeof line);
        expect_bearer_refused(line, true);
    }

    /* alg none (with and without a trailing dot) */
    json_t *none =
        json_pack("{s:s,s:s,s:O}", "alg", "none", "typ", "JWT", "kid", json_object_get(hdr, "kid"));
    char *nj = json_dumps(none, JSON_COMPACT);
    b64url(nj, strlen(nj), hb, sizeof hb);
    free(nj);
    json_decref(none);
    pj = json_dumps(pl, JSON_COMPACT);
    b64url(pj, strlen(pj), pb, sizeof pb);
    free(pj);
    snprintf(tok, sizeof tok, "%s.%s.", hb, pb);
    bearer_line(tok, line, sizeof line);
    expect_bearer_refused(line, true);
    snprintf(tok, sizeof tok, "%s.%s", hb, pb);
    bearer_line(tok, line, sizeof line);
    expect_bearer_refused(line, true);

    /* alg HS256 with the public key as the HMAC secret would be the classic confusion: the
     * header alone must not choose the algorithm */
    json_t *hs = json_pack("{s:s,s:s,s:O}", "alg", "HS256", "typ", "JWT", "kid",
                           json_object_get(hdr, "kid"));
    nj = json_dumps(hs, JSON_COMPACT);
    b64url(nj, strlen(nj), hb, sizeof hb);
    free(nj);
    json_decref(hs);
    snprintf(tok, sizeof tok, "%s.%s%s", hb, pb, last_dot);
    bearer_line(tok, line, sizeof line);
    expect_bearer_refused(line, true);
    json_decref(hdr);
    json_decref(pl);

    /* garbage */
    expect_bearer_refused("Authorization: Bearer abc.def.ghi", true);
    expect_bearer_refused("Authorization: Bearer e30.e30.", true);
    expect_bearer_refused("Authorization: Bearer ....", true);
    expect_bearer_refused("Authorization: Bearer \xff\xfe\xfd", true);

    /* Authorization without Bearer, or no Authorization at all */
    snprintf(line, sizeof line, "Authorization: %s", t.access);
    expect_bearer_refused(line, false);
    snprintf(line, sizeof line, "Authorization: Basic %s", "dXNlcjpwYXNz");
    expect_bearer_refused(line, false);
    snprintf(line, sizeof line, "Authorization: Token %s", t.access);
    expect_bearer_refused(line, false);
    expect_bearer_refused("Authorization: Bearer", false);
    expect_bearer_refused(NULL, false);

    /* an over-long token is refused cleanly */
    char *huge = malloc(9000);
    assert_non_null(huge);
    memcpy(huge, "Authorization: Bearer ", 22);
    memset(huge + 22, 'a', 8000);
    huge[8022] = '\0';
    struct h_response rr;
    const char *hh[] = {huge, NULL};
    assert_int_equal(h_request(&srv, "GET", "/v1/me", hh, NULL, 0, NULL, &rr), 0);
    free(huge);
    assert_true(rr.status == 401 || rr.status == 431 || rr.status == 413 || rr.status == 400);
    h_response_free(&rr);

    /* the genuine token still works after all that */
    assert_int_equal(h_me_status(&srv, t.access), 200);
}

static void test_token_json_errors(void **state)
{
    (void)state;
    struct h_response r;
    /* JSON login with form-style fields is a validation error */
    assert_int_equal(h_post_json(&srv, "/v1/token", NULL,
                                 json_pack("{s:s,s:s,s:s}", "grant_type", "password", "username",
                                           "a@example.com", "password", "x"),
                                 &r),
                     0);
    h_assert_problem(&srv, &r, 422);
    h_response_free(&r);
    assert_int_equal(
        h_post_json(&srv, "/v1/token", NULL, json_pack("{s:s}", "email", "a@b.co"), &r), 0);
    h_assert_problem(&srv, &r, 422);
    h_assert_errors_field(&r, "password");
    h_response_free(&r);
}

struct race_arg {
    const char *refresh;
    long status;
    struct h_tokens out;
};

static void *race_refresh(void *p)
{
    struct race_arg *a = p;
    a->status = h_refresh(&srv, a->refresh, &a->out);
    return NULL;
}

/* The same refresh token presented by several clients at once: at most one wins, and since
 * the others are reuse, the winner's new tokens die with the family. */
static void test_concurrent_refresh_reuse(void **state)
{
    (void)state;
    char email[128];
    struct h_tokens t;
    h_user_session(&srv, "race", PW, email, sizeof email, &t);
    enum { N = 6 };
    pthread_t th[N];
    struct race_arg args[N];
    for (int i = 0; i < N; i++) {
        memset(&args[i], 0, sizeof args[i]);
        args[i].refresh = t.refresh;
        assert_int_equal(pthread_create(&th[i], NULL, race_refresh, &args[i]), 0);
    }
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (args[i].status == 200)
            ok++;
        else if (args[i].status == 401)
            refused++;
        else
            fail_msg("concurrent refresh answered %ld", args[i].status);
    }
    assert_true(ok <= 1);
    assert_int_equal(ok + refused, N);
    for (int i = 0; i < N; i++) {
        if (args[i].status != 200)
            continue;
        assert_int_equal(h_me_status(&srv, args[i].out.access), 401);
        assert_int_equal(h_refresh(&srv, args[i].out.refresh, NULL), 401);
    }
    assert_int_equal(h_me_status(&srv, t.access), 401);
}

/* Per-instance settings: TTL, audience and issuer reach the tokens; tokens of another instance
 * (other keys, other iss/aud) are refused. */
static void test_other_instance_settings(void **state)
{
    (void)state;
    struct h_server other;
    const char *env[] = {"GATEHOUSE_ACCESS_TOKEN_TTL=120", "GATEHOUSE_AUDIENCE=other-api",
                         "GATEHOUSE_ISSUER=https://auth.example.test", NULL};
    if (h_server_start(&other, env) != 0) {
        h_server_free(&other);
        fail_msg("second instance did not start");
    }
    char email[128];
    h_unique_email("other", email, sizeof email);
    struct h_tokens t, mine;
    assert_int_equal(h_register(&other, email, PW, NULL, NULL), 201);
    assert_int_equal(h_login(&other, email, PW, &t), 200);
    assert_int_equal(t.expires_in, 120);
    json_t *pl = h_jwt_part(t.access, 1);
    assert_non_null(pl);
    assert_string_equal(json_string_value(json_object_get(pl, "aud")), "other-api");
    assert_string_equal(json_string_value(json_object_get(pl, "iss")), "https://auth.example.test");
    assert_int_equal(json_integer_value(json_object_get(pl, "exp")) -
                         json_integer_value(json_object_get(pl, "iat")),
                     120);
    json_decref(pl);
    assert_int_equal(h_me_status(&other, t.access), 200);
    /* cross-instance: each refuses the other's tokens */
    assert_int_equal(h_me_status(&srv, t.access), 401);
    assert_int_equal(h_refresh(&srv, t.refresh, NULL), 401);
    h_user_session(&srv, "mine", PW, email, sizeof email, &mine);
    assert_int_equal(h_me_status(&other, mine.access), 401);
    int code = h_server_stop(&other);
    h_server_free(&other);
    assert_int_equal(code, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_password_grant),
        cmocka_unit_test(test_same_401_for_unknown_email_and_wrong_password),
        cmocka_unit_test(test_refresh_reuse_revokes_family),
        cmocka_unit_test(test_refresh_with_garbage),
        cmocka_unit_test(test_bad_tokens_refused),
        cmocka_unit_test(test_token_json_errors),
        cmocka_unit_test(test_concurrent_refresh_reuse),
        cmocka_unit_test(test_other_instance_settings),
    };
    return cmocka_run_group_tests_name("integration/tokens", tests, setup, teardown);
}
