//! Authentication and the service's infrastructure: API keys (storage, verification,
//! revocation, the cache across processes), JWTs (HS256 and a JWKS file with Ed25519 and
//! ES256 keys), the `Principal` extractor, problem responses, and the listener (plain
//! HTTP refused off loopback, TLS, graceful shutdown).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
#![allow(clippy::result_large_err)] // handlers return Problem, as in the crate

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
};
use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::JsonRejection;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use recall_crypto::SecretBytes;
use recall_server::auth::{
    ApiKeys, AuthError, Authenticator, CredentialError, JwtConfig, JwtVerifier, Principal, Role,
};
use recall_server::config::ServerConfig;
use recall_server::listen::{self, ListenError};
use recall_server::problem::Problem;
use serde_json::{Value, json};
use tower::ServiceExt;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-hs256";

fn pepper(b: u8) -> SecretBytes {
    SecretBytes::from_bytes([b; 32])
}

fn keys(dir: &Path) -> ApiKeys {
    ApiKeys::open(&dir.join("auth.db"), pepper(1)).unwrap()
}

fn jwt_config() -> JwtConfig {
    JwtConfig {
        issuer: "https://idp.example".into(),
        audience: "recall".into(),
        hs256_secret_env: None,
        jwks_file: None,
        tenant_claim: "tenant".into(),
        role_claim: "role".into(),
        patient_claim: "patient".into(),
        leeway_secs: 0,
    }
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn claims() -> Value {
    json!({
        "iss": "https://idp.example",
        "aud": "recall",
        "sub": "alice",
        "exp": now() + 600,
        "nbf": now() - 10,
        "tenant": "st-marys",
        "role": "auditor",
    })
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

fn rejected(r: Result<Principal, AuthError>) -> &'static str {
    match r {
        Err(AuthError::TokenRejected(why)) => why,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

// ---------------------------------------------------------------- API keys

#[test]
fn api_key_create_verify_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let (info, text) = keys.create("st-marys", Role::Writer).unwrap();
    assert!(text.starts_with(&format!("rk_{}_", info.id)), "{text}");
    assert_eq!(info.id.len(), 16);
    let got = keys.verify(&text).unwrap().unwrap();
    assert_eq!(got, info);
    assert_eq!(keys.list().unwrap(), vec![info.clone()]);

    let (other, other_text) = keys.create("st-marys", Role::Auditor).unwrap();
    assert_ne!(other.id, info.id);
    assert_ne!(other_text, text);

    assert!(keys.revoke(&info.id).unwrap());
    assert!(!keys.revoke(&info.id).unwrap(), "revoking twice");
    assert!(!keys.revoke("0000000000000000").unwrap());
    assert_eq!(keys.verify(&text).unwrap(), None);
    assert_eq!(
        keys.verify(&other_text).unwrap().unwrap().role,
        Role::Auditor
    );
    let listed = keys.list().unwrap();
    assert!(
        listed
            .iter()
            .any(|k| k.id == info.id && k.revoked.is_some())
    );
    assert!(
        listed
            .iter()
            .any(|k| k.id == other.id && k.revoked.is_none())
    );

    // Survives reopening.
    drop(keys);
    let keys = self::keys(dir.path());
    assert_eq!(keys.verify(&text).unwrap(), None);
    assert_eq!(keys.verify(&other_text).unwrap().unwrap().id, other.id);
}

#[test]
fn wrong_tampered_and_foreign_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let (info, text) = keys.create("t1", Role::Admin).unwrap();
    // Every single-character change of the secret part.
    let secret_at = text.len() - 43;
    for i in secret_at..text.len() {
        let mut b = text.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(b).unwrap();
        assert_eq!(keys.verify(&bad).unwrap(), None, "change at {i} accepted");
    }
    // Another key's secret under this id, and this secret under another id.
    let (_, text2) = keys.create("t1", Role::Admin).unwrap();
    let spliced = format!("{}{}", &text[..secret_at], &text2[secret_at..]);
    assert_eq!(keys.verify(&spliced).unwrap(), None);
    for bad in [
        "",
        "rk_",
        "Bearer x",
        &text[..text.len() - 1],
        &format!("{text}A"),
    ] {
        assert_eq!(keys.verify(bad).unwrap(), None, "{bad:?}");
    }
    // Another pepper (the keystore's secret of another installation) verifies nothing.
    drop(keys);
    let foreign = ApiKeys::open(&dir.path().join("auth.db"), pepper(2)).unwrap();
    assert_eq!(foreign.verify(&text).unwrap(), None);
    // Under another pepper no row's MAC verifies: every key counts as tampered with.
    assert!(foreign.list().unwrap().is_empty(), "{info:?}");
    assert_eq!(foreign.tampered().len(), 2);
    // Bad tenants and roles.
    assert!(matches!(
        foreign.create("Not A Tenant", Role::Writer),
        Err(CredentialError::InvalidTenant { .. })
    ));
    assert!("root".parse::<Role>().is_err());
    for r in Role::ALL {
        assert_eq!(r.to_string().parse::<Role>().unwrap(), r);
        assert_eq!(serde_json::to_value(r).unwrap(), json!(r.as_str()));
    }
}

#[test]
fn the_database_holds_no_key_text() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let texts: Vec<String> = (0..5)
        .map(|_| keys.create("t1", Role::Writer).unwrap().1)
        .collect();
    drop(keys);
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    for text in &texts {
        let secret = &text.as_bytes()[text.len() - 43..];
        assert!(
            !bytes
                .windows(20)
                .any(|w| secret.windows(20).any(|s| s == w)),
            "a secret's bytes are in the database files"
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join("auth.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "auth.db mode {mode:o}");
}

#[test]
fn revocation_by_another_process_is_seen_within_the_refresh_interval() {
    let dir = tempfile::tempdir().unwrap();
    let server = keys(dir.path());
    let cli = keys(dir.path());
    let (info, text) = cli.create("t1", Role::Writer).unwrap();
    // A key created elsewhere appears after a refresh.
    std::thread::sleep(recall_server::auth::REFRESH + Duration::from_millis(100));
    assert!(server.verify(&text).unwrap().is_some());
    assert!(cli.revoke(&info.id).unwrap());
    std::thread::sleep(recall_server::auth::REFRESH + Duration::from_millis(100));
    assert_eq!(server.verify(&text).unwrap(), None);
}

// ---------------------------------------------------------------- JWT

#[test]
fn hs256_tokens() {
    let v = JwtVerifier::with_hs256_secret(&jwt_config(), SECRET).unwrap();
    let p = v.verify(&hs256(&claims(), SECRET)).unwrap();
    assert_eq!(
        p,
        Principal {
            tenant: "st-marys".into(),
            role: Role::Auditor,
            subject: "jwt:alice".into(),
            patient: None,
        }
    );
    let with = |k: &str, val: Value| {
        let mut c = claims();
        c[k] = val;
        hs256(&c, SECRET)
    };
    let without = |k: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(k);
        hs256(&c, SECRET)
    };
    assert_eq!(
        rejected(v.verify(&with("exp", json!(now() - 60)))),
        "expired"
    );
    assert_eq!(
        rejected(v.verify(&with("nbf", json!(now() + 600)))),
        "not yet valid"
    );
    assert_eq!(
        rejected(v.verify(&with("iss", json!("https://evil")))),
        "wrong issuer"
    );
    assert_eq!(
        rejected(v.verify(&with("aud", json!("other")))),
        "wrong audience"
    );
    assert_eq!(
        rejected(v.verify(&hs256(&claims(), b"another-secret-another-secret-32b"))),
        "bad signature"
    );
    assert_eq!(
        rejected(v.verify(&without("tenant"))),
        "missing tenant claim"
    );
    assert_eq!(
        rejected(v.verify(&with("tenant", json!(7)))),
        "missing tenant claim"
    );
    assert_eq!(
        rejected(v.verify(&with("tenant", json!("No Such")))),
        "invalid tenant claim"
    );
    assert_eq!(
        rejected(v.verify(&with("role", json!("root")))),
        "unknown role"
    );
    assert_eq!(rejected(v.verify(&without("role"))), "missing role claim");
    assert_eq!(
        rejected(v.verify(&without("exp"))),
        "a required claim is missing"
    );
    assert_eq!(
        rejected(v.verify(&without("sub"))),
        "a required claim is missing"
    );
    assert_eq!(rejected(v.verify("not.a.jwt")), "malformed");
    // A token whose header says "none" or another algorithm is refused.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    assert!(v.verify(&unsigned).is_err());
    // Custom claim names.
    let cfg = JwtConfig {
        tenant_claim: "org".into(),
        role_claim: "recall_role".into(),
        ..jwt_config()
    };
    let v = JwtVerifier::with_hs256_secret(&cfg, SECRET).unwrap();
    let mut c = claims();
    c["org"] = json!("acme");
    c["recall_role"] = json!("verifier");
    let p = v.verify(&hs256(&c, SECRET)).unwrap();
    assert_eq!((p.tenant.as_str(), p.role), ("acme", Role::Verifier));
}

#[test]
fn jwt_configuration_errors() {
    assert!(JwtVerifier::with_hs256_secret(&jwt_config(), b"short").is_err());
    let neither = JwtVerifier::from_config(&jwt_config()).unwrap_err();
    assert!(neither.to_string().contains("exactly one"), "{neither}");
    let missing = JwtVerifier::from_config(&JwtConfig {
        hs256_secret_env: Some("RECALL_TEST_SURELY_UNSET_VAR".into()),
        ..jwt_config()
    })
    .unwrap_err();
    assert!(
        missing.to_string().contains("RECALL_TEST_SURELY_UNSET_VAR"),
        "{missing}"
    );
    let no_iss = JwtConfig {
        issuer: String::new(),
        ..jwt_config()
    };
    assert!(JwtVerifier::with_hs256_secret(&no_iss, SECRET).is_err());
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    for bad in [
        "not json",
        r#"{"keys":[]}"#,
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}"#,
    ] {
        std::fs::write(&jwks, bad).unwrap();
        let cfg = JwtConfig {
            jwks_file: Some(jwks.clone()),
            ..jwt_config()
        };
        assert!(
            matches!(JwtVerifier::from_config(&cfg), Err(AuthError::Jwks { .. })),
            "{bad}"
        );
    }
}

#[test]
fn jwks_with_ed25519_and_es256_keys() {
    let rng = SystemRandom::new();
    let ed_pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ed = Ed25519KeyPair::from_pkcs8(ed_pkcs8.as_ref()).unwrap();
    let ec_pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_pkcs8.as_ref()).unwrap();
    let point = ec.public_key().as_ref(); // 0x04 ‖ x ‖ y
    assert_eq!(point.len(), 65);
    let set = json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "use": "sig",
         "x": URL_SAFE_NO_PAD.encode(ed.public_key().as_ref())},
        {"kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256",
         "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])},
    ]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    std::fs::write(&path, set.to_string()).unwrap();
    let v = JwtVerifier::from_config(&JwtConfig {
        jwks_file: Some(path),
        ..jwt_config()
    })
    .unwrap();
    let sign = |alg, kid: Option<&str>, key: &EncodingKey| {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_string);
        jsonwebtoken::encode(&h, &claims(), key).unwrap()
    };
    let ed_key = EncodingKey::from_ed_der(ed_pkcs8.as_ref());
    let ec_key = EncodingKey::from_ec_der(ec_pkcs8.as_ref());
    assert_eq!(
        v.verify(&sign(Algorithm::EdDSA, Some("ed"), &ed_key))
            .unwrap()
            .subject,
        "jwt:alice"
    );
    assert_eq!(
        v.verify(&sign(Algorithm::ES256, Some("ec"), &ec_key))
            .unwrap()
            .role,
        Role::Auditor
    );
    assert_eq!(
        rejected(v.verify(&sign(Algorithm::EdDSA, Some("nope"), &ed_key))),
        "unknown key id"
    );
    assert_eq!(
        rejected(v.verify(&sign(Algorithm::EdDSA, None, &ed_key))),
        "no key id"
    );
    // The Ed25519 key's signature presented under the EC key's id.
    assert!(
        v.verify(&sign(Algorithm::EdDSA, Some("ec"), &ed_key))
            .is_err()
    );
    // An HS256 token naming a public key's id (algorithm confusion) is refused.
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("ed".into());
    let confused = jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_secret(SECRET)).unwrap();
    assert_eq!(rejected(v.verify(&confused)), "algorithm not accepted");
}

// ---------------------------------------------------------------- extractor

async fn writers_only(p: Principal) -> Result<String, Problem> {
    p.require(&[Role::Writer])?;
    p.require_tenant("t1")?;
    Ok(p.subject)
}

async fn anyone(p: Option<Principal>) -> String {
    p.map_or_else(|| "anonymous".into(), |p| p.subject)
}

fn router(auth: Authenticator) -> Router {
    Router::new()
        .route("/append", post(writers_only))
        .route("/open", post(anyone))
        .with_state(Arc::new(auth))
}

async fn call(app: &Router, bearer: Option<&str>) -> Response {
    let mut req = Request::post("/append");
    if let Some(b) = bearer {
        req = req.header(header::AUTHORIZATION, b);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body_json(r: Response) -> Value {
    let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_extractor_answers_401_and_403() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(dir.path());
    let (info, writer) = keys.create("t1", Role::Writer).unwrap();
    let (_, auditor) = keys.create("t1", Role::Auditor).unwrap();
    let (_, other_tenant) = keys.create("t2", Role::Writer).unwrap();
    let jwt = JwtVerifier::with_hs256_secret(&jwt_config(), SECRET).unwrap();
    let app = router(Authenticator::new(Some(keys), Some(jwt)));

    for bad in [
        None,
        Some("Bearer rk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Some("Bearer nonsense"),
        Some(&format!("Basic {writer}")),
        Some("Bearer"),
    ] {
        let r = call(&app, bad).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{bad:?}");
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let body = body_json(r).await;
        assert_eq!(body["status"], 401);
        // Nothing of the presented credential is echoed.
        assert!(!body.to_string().contains(&writer[3..19]), "{body}");
    }
    let ok = call(&app, Some(&format!("Bearer {writer}"))).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let bytes = axum::body::to_bytes(ok.into_body(), 1024).await.unwrap();
    assert_eq!(bytes, format!("key:{}", info.id).as_bytes());
    // The scheme is case-insensitive.
    assert_eq!(
        call(&app, Some(&format!("bearer {writer}"))).await.status(),
        StatusCode::OK
    );

    let r = call(&app, Some(&format!("Bearer {auditor}"))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        body_json(r).await["detail"]
            .as_str()
            .unwrap()
            .contains("auditor")
    );
    let r = call(&app, Some(&format!("Bearer {other_tenant}"))).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(!body_json(r).await.to_string().contains("t1"));

    // A JWT: an auditor gets 403, a writer of t1 gets through; an expired one 401.
    let token = hs256(&claims(), SECRET);
    assert_eq!(
        call(&app, Some(&format!("Bearer {token}"))).await.status(),
        StatusCode::FORBIDDEN
    );
    let mut c = claims();
    c["role"] = json!("writer");
    c["tenant"] = json!("t1");
    let r = call(&app, Some(&format!("Bearer {}", hs256(&c, SECRET)))).await;
    assert_eq!(r.status(), StatusCode::OK);
    c["exp"] = json!(now() - 100);
    let r = call(&app, Some(&format!("Bearer {}", hs256(&c, SECRET)))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        body_json(r).await["detail"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Option<Principal>: none without a header, 401 for a bad credential.
    let open = |bearer: Option<String>| {
        let app = app.clone();
        async move {
            let mut req = Request::post("/open");
            if let Some(b) = bearer {
                req = req.header(header::AUTHORIZATION, b);
            }
            app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap()
        }
    };
    let r = open(None).await;
    assert_eq!(
        axum::body::to_bytes(r.into_body(), 64).await.unwrap(),
        "anonymous"
    );
    assert_eq!(
        open(Some("Bearer bad".into())).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = open(Some(format!("Bearer {auditor}"))).await;
    assert_eq!(r.status(), StatusCode::OK);

    // No credential source configured: everything is 401.
    let none = router(Authenticator::new(None, None));
    assert_eq!(
        call(&none, Some(&format!("Bearer {writer}")))
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

// ---------------------------------------------------------------- problems

#[tokio::test]
async fn problem_json_shape_and_headers() {
    let r = Problem::bad_request("actor.id is required")
        .field("actor.id")
        .index(3)
        .into_response();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert!(r.headers().get(header::RETRY_AFTER).is_none());
    assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(
        body_json(r).await,
        json!({"type": "about:blank", "title": "Bad Request", "status": 400,
               "detail": "actor.id is required", "field": "actor.id", "index": 3})
    );
    let r = Problem::too_many(5).into_response();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()[header::RETRY_AFTER], "5");
    assert_eq!(
        body_json(r).await,
        json!({"type": "about:blank", "title": "Too Many Requests", "status": 429})
    );
    let r = Problem::unavailable(2).into_response();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()[header::RETRY_AFTER], "2");
    let r = Problem::payload_too_large(1024).into_response();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body_json(r).await["detail"]
            .as_str()
            .unwrap()
            .contains("1024")
    );
    for (p, s) in [
        (Problem::forbidden(), 403),
        (Problem::not_found(), 404),
        (Problem::internal(), 500),
        (
            Problem::new(StatusCode::CONFLICT, "Conflict").detail("x"),
            409,
        ),
    ] {
        assert_eq!(p.into_response().status().as_u16(), s);
    }
}

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Body1 {
    limit: u32,
}

async fn json_handler(
    body: Result<axum::Json<Body1>, JsonRejection>,
) -> Result<&'static str, Problem> {
    let axum::Json(_) = body?;
    Ok("ok")
}

#[tokio::test]
async fn rejections_become_problems() {
    let app = Router::new()
        .route("/j", post(json_handler))
        .layer(DefaultBodyLimit::max(64));
    let send = |ct: Option<&'static str>, body: String| {
        let app = app.clone();
        async move {
            let mut req = Request::post("/j");
            if let Some(ct) = ct {
                req = req.header(header::CONTENT_TYPE, ct);
            }
            app.oneshot(req.body(Body::from(body)).unwrap())
                .await
                .unwrap()
        }
    };
    let json = Some("application/json");
    assert_eq!(
        send(json, r#"{"limit":5}"#.into()).await.status(),
        StatusCode::OK
    );
    let r = send(json, r#"{"limit":"MRN-SECRET-1"}"#.into()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = body_json(r).await;
    assert_eq!(body["field"], "limit", "{body}");
    assert!(!body.to_string().contains("MRN-SECRET-1"), "{body}");
    assert_eq!(
        send(json, "{nope".into()).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(None, r#"{"limit":5}"#.into()).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let big = format!(r#"{{"limit":5,"pad":"{}"}}"#, "x".repeat(100));
    let r = send(json, big).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
}

// ---------------------------------------------------------------- listener

fn plain(listen: &str) -> ServerConfig {
    ServerConfig {
        listen: listen.into(),
        request_timeout_secs: 5,
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn plain_http_is_refused_off_loopback() {
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let err = listen::serve(Router::new(), &plain(addr), |_| {}, async {})
            .await
            .unwrap_err();
        assert!(matches!(err, ListenError::PlainHttpRefused { .. }), "{err}");
        assert!(err.to_string().contains("insecure_http"), "{err}");
    }
    let half = ServerConfig {
        tls_cert: Some("/nonexistent.pem".into()),
        ..plain("127.0.0.1:0")
    };
    assert!(matches!(
        listen::serve(Router::new(), &half, |_| {}, async {}).await,
        Err(ListenError::TlsIncomplete)
    ));
    let missing = ServerConfig {
        tls_cert: Some("/nonexistent/cert.pem".into()),
        tls_key: Some("/nonexistent/key.pem".into()),
        ..plain("127.0.0.1:0")
    };
    assert!(matches!(
        listen::serve(Router::new(), &missing, |_| {}, async {}).await,
        Err(ListenError::Certificate { .. })
    ));
}

fn hello() -> Router {
    Router::new().route("/hello", get(|| async { "hi" })).route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            "done"
        }),
    )
}

/// Starts `serve` on a task; returns the bound address, the shutdown trigger and the task.
async fn start(
    cfg: ServerConfig,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ListenError>>,
) {
    let (bound_tx, bound_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        listen::serve(
            hello(),
            &cfg,
            move |addr| {
                let _ = bound_tx.send(addr);
            },
            async move {
                let _ = stop_rx.await;
            },
        )
        .await
    });
    (bound_rx.await.unwrap(), stop_tx, task)
}

#[tokio::test]
async fn serves_tls_with_a_self_signed_certificate() {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
    let cfg = ServerConfig {
        tls_cert: Some(cert),
        tls_key: Some(key.clone()),
        ..plain("127.0.0.1:0")
    };
    let (addr, stop, task) = start(cfg).await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(made.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/hello", addr.port());
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hi");
    // Plain HTTP to the TLS port gets no answer.
    let plain_url = format!("http://127.0.0.1:{}/hello", addr.port());
    let answered = reqwest::get(&plain_url)
        .await
        .is_ok_and(|r| r.status().is_success());
    assert!(!answered);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();

    // A key file without a key is refused with the path named.
    std::fs::write(&key, "not a key").unwrap();
    let cert2 = dir.path().join("cert.pem");
    let err = listen::tls_config(&cert2, &key).unwrap_err();
    assert!(matches!(err, ListenError::PrivateKey { .. }), "{err}");
}

#[tokio::test]
async fn graceful_shutdown_lets_in_flight_requests_finish() {
    let (addr, stop, task) = start(plain("127.0.0.1:0")).await;
    let base = format!("http://{addr}");
    assert_eq!(
        reqwest::get(format!("{base}/hello"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "hi"
    );
    let slow = tokio::spawn(reqwest::get(format!("{base}/slow")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    let r = slow.await.unwrap().unwrap();
    assert_eq!(r.text().await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // Stopped: nothing accepts connections any more.
    assert!(reqwest::get(format!("{base}/hello")).await.is_err());
}

// ------------------------------------------------- hostile tokens and requests

/// An HS256 token with a header of our choosing (jsonwebtoken's `Header` has no `crit`).
fn hs256_with_header(header: &Value, claims: &Value) -> String {
    let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signing_input = format!("{}.{}", enc(header), enc(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[test]
fn odd_subjects_and_critical_headers_are_refused_at_sign_in() {
    let v = JwtVerifier::with_hs256_secret(&jwt_config(), SECRET).unwrap();
    let with_sub = |sub: &str| {
        let mut c = claims();
        c["sub"] = json!(sub);
        hs256(&c, SECRET)
    };
    // The longest subject that still names the caller in its audit events is accepted.
    let longest = "s".repeat(124);
    assert_eq!(
        v.verify(&with_sub(&longest)).unwrap().subject,
        format!("jwt:{longest}")
    );
    for bad in [
        "s".repeat(125),
        "a\nb".into(),
        " alice".into(),
        "nul\u{0}".into(),
    ] {
        assert!(
            rejected(v.verify(&with_sub(&bad))).contains("sub claim"),
            "{bad:?}"
        );
    }
    // The same token, well signed: accepted without `crit`, refused with it.
    let plain = json!({"alg": "HS256", "typ": "JWT"});
    assert!(v.verify(&hs256_with_header(&plain, &claims())).is_ok());
    let critical = json!({"alg": "HS256", "typ": "JWT", "crit": ["x-ext"], "x-ext": 1});
    assert_eq!(
        rejected(v.verify(&hs256_with_header(&critical, &claims()))),
        "critical header parameters are not supported"
    );
}
