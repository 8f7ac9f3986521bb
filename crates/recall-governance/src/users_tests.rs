//! Sign-in, lockout, sealed TOTP secrets (and the migration of clear ones), role checks,
//! and the session records.
#![allow(clippy::unwrap_used)]

use super::*;
use recall_crypto::Kek;

fn open_users(dir: &Path) -> (Users, Keystore) {
    let ks = Keystore::create(&dir.join("keystore.db"), Kek::from_bytes([5; 32])).unwrap();
    (Users::open(&dir.join(USERS_FILE), &ks).unwrap(), ks)
}

fn new<'a>(name: &'a str, role: Role, password: &'a str) -> NewUser<'a> {
    NewUser {
        name,
        tenant: "t1",
        role,
        password,
        patient_binding: None,
        patient: None,
    }
}

fn code(uri: &str, now: i64) -> String {
    Totp::from_url(uri)
        .unwrap()
        .generate(now as u64)
        .to_string()
}

#[test]
fn sign_in_needs_password_and_fresh_code_and_locks() {
    let dir = tempfile::tempdir().unwrap();
    let (users, _ks) = open_users(dir.path());
    let uri = users
        .create(&new("po", Role::PrivacyOfficer, "correct horse battery"))
        .unwrap()
        .expect("PHI roles get a second factor");
    assert!(
        users
            .create(&new("admin1", Role::Admin, "correct horse battery"))
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        users.create(&new("po", Role::Admin, "correct horse battery")),
        Err(UserError::Exists)
    ));
    assert!(matches!(
        users.create(&new("x", Role::Admin, "short")),
        Err(UserError::Invalid {
            field: "password",
            ..
        })
    ));
    let now = 1_800_000_000;
    let ok = users
        .sign_in("po", "correct horse battery", &code(&uri, now), now)
        .unwrap();
    assert!(matches!(ok, SignIn::Accepted(ref u) if u.role == Role::PrivacyOfficer));
    // The same step again is a replay.
    let again = users
        .sign_in("po", "correct horse battery", &code(&uri, now), now)
        .unwrap();
    assert!(matches!(
        again,
        SignIn::Refused {
            locked_now: false,
            ..
        }
    ));
    let no_code = users
        .sign_in("po", "correct horse battery", "", now + 60)
        .unwrap();
    assert!(matches!(no_code, SignIn::Refused { .. }));
    for i in 0..3 {
        let r = users
            .sign_in("po", "wrong password!!", "000000", now + i)
            .unwrap();
        // Two failures above (the replay, the missing code), three here: locked.
        assert!(
            matches!(r, SignIn::Refused { user: Some(_), locked_now } if locked_now == (i == 2))
        );
    }
    let locked = users
        .sign_in(
            "po",
            "correct horse battery",
            &code(&uri, now + 90),
            now + 90,
        )
        .unwrap();
    assert!(matches!(locked, SignIn::Locked(_)));
    let uri = users.reset_totp("po").unwrap();
    let t = now + LOCK_SECS;
    assert!(matches!(
        users
            .sign_in("po", "correct horse battery", &code(&uri, t), t)
            .unwrap(),
        SignIn::Accepted(_)
    ));
    users.disable("po").unwrap();
    let t = t + 60;
    assert!(matches!(
        users
            .sign_in("po", "correct horse battery", &code(&uri, t), t)
            .unwrap(),
        SignIn::Refused { .. }
    ));
    assert!(matches!(
        users.sign_in("nobody", "x", "", t).unwrap(),
        SignIn::Refused { user: None, .. }
    ));
    assert_eq!(users.list().unwrap().len(), 2);
}

#[test]
fn session_acts_are_valid_events_without_secrets() {
    use crate::{Act, SessionAct, Via, Who};
    let who = Who {
        id: "user:po".into(),
        role: Some("privacy_officer".into()),
        kind: "user",
    };
    let via = Via::http("POST /login", Some("127.0.0.1".parse().unwrap()));
    let cases = [
        (SessionAct::Login, "login", "success", "110122"),
        (SessionAct::LoginFailed, "login", "failure", "110122"),
        (SessionAct::Logout, "logout", "success", "110123"),
        (SessionAct::Lockout, "lock", "success", "110137"),
    ];
    for (act, action, outcome, code) in cases {
        let e = Act::ConsoleSession(act)
            .event(&who, &via, jiff::Timestamp::now())
            .unwrap();
        assert_eq!((e.action.as_str(), e.outcome.as_str()), (action, outcome));
        assert_eq!(e.actor.id, "user:po");
        let detail = e.detail.unwrap();
        assert_eq!(detail["dicom_type"], code);
        assert_eq!(detail.len(), 3, "endpoint and DICOM codes only: {detail:?}");
    }
}

#[test]
fn totp_secrets_are_sealed_and_clear_ones_are_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(USERS_FILE);
    // A users.db as the first release wrote it: the secret in clear, no sealing columns.
    let secret = *b"SYNTHETIC-TOTP-SEED!";
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (name TEXT PRIMARY KEY, tenant TEXT NOT NULL, role TEXT NOT NULL,
             password TEXT NOT NULL, totp BLOB, totp_step INTEGER NOT NULL DEFAULT 0,
             disabled INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0,
             locked_until INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL);",
        )
        .unwrap();
        let hash = hash_password("correct horse battery").unwrap();
        conn.execute(
            "INSERT INTO users (name, tenant, role, password, totp, created) VALUES ('old', 't1', 'auditor', ?1, ?2, 'x')",
            params![hash, secret.to_vec()],
        )
        .unwrap();
    }
    let (users, ks) = open_users(dir.path());
    let files = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|f| std::fs::read(f.unwrap().path()).unwrap())
            .collect::<Vec<_>>()
    };
    for bytes in files() {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret));
    }
    // The migrated secret still signs the user in.
    let totp = totp_of(&secret, "old").unwrap();
    let now = 1_800_000_000;
    let code = totp.generate(now as u64).to_string();
    assert!(matches!(
        users
            .sign_in("old", "correct horse battery", &code, now)
            .unwrap(),
        SignIn::Accepted(_)
    ));
    // A new user's secret is sealed too, and a sealed secret moved to another user fails.
    let uri = users
        .create(&new("po", Role::PrivacyOfficer, "correct horse battery"))
        .unwrap()
        .unwrap();
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let fresh = Secret::try_from_base32(b32).unwrap().as_ref().to_vec();
    for bytes in files() {
        assert!(!bytes.windows(fresh.len()).any(|w| w == fresh.as_slice()));
    }
    users
        .conn()
        .execute(
            "UPDATE users SET totp = (SELECT totp FROM users WHERE name = 'po') WHERE name = 'old'",
            [],
        )
        .unwrap();
    assert!(
        users
            .sign_in("old", "correct horse battery", &code, now + 30)
            .is_err()
    );
    drop(users);
    // Opening again migrates nothing more and the file opens with the same keystore.
    Users::open(&path, &ks).unwrap();
}

#[test]
fn writers_are_no_users_and_only_patients_are_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (users, _ks) = open_users(dir.path());
    let pw = "correct horse battery";
    let refused = |n: NewUser<'_>, field: &str| {
        assert!(matches!(users.create(&n), Err(UserError::Invalid { field: f, .. }) if f == field));
    };
    refused(new("w", Role::Writer, pw), "role");
    refused(new("p", Role::Patient, pw), "patient");
    let mut bound = new("a", Role::Auditor, pw);
    bound.patient_binding = Some("abc");
    refused(bound, "patient");
    let mut p = new("p", Role::Patient, pw);
    p.patient_binding = Some("abc");
    refused(p, "patient");
    p.patient = Some("MRN-SYNTH-77");
    assert!(
        users.create(&p).unwrap().is_some(),
        "a patient reads PHI: TOTP"
    );
    assert_eq!(
        users.get("p").unwrap().unwrap().patient_binding.as_deref(),
        Some("abc")
    );
    assert_eq!(
        users.patient_of("p").unwrap().as_deref(),
        Some("MRN-SYNTH-77")
    );
    assert_eq!(users.patient_of("a").unwrap(), None);
    drop(users);
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(9).any(|w| w == b"MRN-SYNTH"));
    }
}

#[test]
fn user_changes_are_valid_events_without_secrets() {
    use crate::{Act, UserChange, Via, Who};
    let dir = tempfile::tempdir().unwrap();
    let (users, _ks) = open_users(dir.path());
    let uri = users
        .create(&new("po", Role::PrivacyOfficer, "correct horse battery"))
        .unwrap()
        .unwrap();
    let user = users.get("po").unwrap().unwrap();
    let who = Who::operator("root");
    let via = Via::cli("recall users create");
    for (change, action) in [
        (UserChange::Create, "create"),
        (UserChange::Disable, "disable"),
        (UserChange::ResetTotp, "reset_totp"),
    ] {
        let act = Act::UserChanged {
            change,
            user: &user,
        };
        let e = act.event(&who, &via, jiff::Timestamp::now()).unwrap();
        assert_eq!(e.action, action);
        let resource = e.resource.as_ref().unwrap();
        assert_eq!(
            (resource.kind.as_str(), resource.id.as_deref()),
            ("ConsoleUser", Some("po"))
        );
        let detail = serde_json::to_string(&e.detail).unwrap();
        assert!(detail.contains("\"reads_phi\":true") && detail.contains("privacy_officer"));
        let secret = uri
            .split("secret=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        assert!(!format!("{e:?}").contains(secret));
    }
}
