//! Transparency (public data only, no PHI): checkpoints, C2SP tlog-tiles, proofs.
//!
//! Paths under `/v1/logs/{tenant}/`: `checkpoint`, `tile/<L>/<N>[.p/<W>]`,
//! `tile/entries/<N>[.p/<W>]`, `proof/consistency?from=&to=`, `proof/inclusion?seq=`.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use recall_ledger::{TILE_WIDTH, TilePath, tile_bytes};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::problem::Problem;
use crate::routes::json_body;
use crate::state::{AppState, blocking, internal};

/// How long a proof request waits for the writer to sign a checkpoint covering its seq.
const CHECKPOINT_WAIT: Duration = Duration::from_secs(5);

/// Lets the request through if transparency is public or the caller belongs to the tenant
/// (any role: these endpoints carry no event contents).
fn allow(state: &AppState, headers: &HeaderMap, tenant: &str) -> Result<(), Problem> {
    if state.cfg.public_transparency {
        return Ok(());
    }
    let who = state.auth.authenticate(headers)?;
    who.require_tenant(tenant)
}

fn known_tenant(state: &AppState, tenant: &str) -> Result<(), Problem> {
    match state.db.journal().store().size(tenant) {
        Ok(_) => Ok(()),
        Err(recall_store::StoreError::UnknownTenant(_)) => Err(Problem::not_found()),
        Err(e) => Err(internal(e)),
    }
}

/// `GET /v1/logs/{tenant}/checkpoint`: the latest signed checkpoint (C2SP signed note).
pub async fn checkpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    allow(&state, &headers, &tenant)?;
    known_tenant(&state, &tenant)?;
    let note = state
        .db
        .journal()
        .latest_checkpoint(&tenant)
        .map_err(internal)?
        .ok_or_else(|| Problem::not_found().detail("no checkpoint has been signed yet"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        note,
    )
        .into_response())
}

/// `GET /v1/logs/{tenant}/tile/{*path}`: a hash tile or an entry bundle.
pub async fn tile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((tenant, rest)): Path<(String, String)>,
) -> Result<Response, Problem> {
    allow(&state, &headers, &tenant)?;
    known_tenant(&state, &tenant)?;
    let path = TilePath::parse(&format!("tile/{rest}"))
        .map_err(|_| Problem::not_found().detail("not a tile path"))?;
    if path.level.is_none() {
        // Entry bundles are read through the index's frame table.
        state.await_indexed(&tenant).await?;
    }
    let db = state.db.clone();
    let bytes = blocking(move || {
        let journal = db.journal();
        let start = path.index * TILE_WIDTH;
        let count = u64::from(path.width);
        match path.level {
            Some(level) => {
                let tree_level = level * 8;
                let have = journal
                    .store()
                    .stored_hashes(&tenant, tree_level)
                    .map_err(internal)?;
                if start + count > have {
                    return Err(
                        Problem::not_found().detail("the tree does not cover this tile yet")
                    );
                }
                let hashes = journal
                    .store()
                    .read_hashes(&tenant, tree_level, start, count)
                    .map_err(internal)?;
                Ok(tile_bytes(&hashes))
            }
            None => {
                let size = journal.store().size(&tenant).map_err(internal)?;
                if start + count > size {
                    return Err(
                        Problem::not_found().detail("the log does not cover this bundle yet")
                    );
                }
                db.entry_bundle(&tenant, start, count).map_err(internal)
            }
        }
    })
    .await?;
    let cache = if path_is_full(&path) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        Body::from(bytes),
    )
        .into_response())
}

fn path_is_full(p: &TilePath) -> bool {
    u64::from(p.width) == TILE_WIDTH
}

/// Query of `proof/consistency`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    from: u64,
    to: Option<u64>,
}

/// `GET /v1/logs/{tenant}/proof/consistency?from=N[&to=M]`: RFC 9162 consistency proof
/// between two tree sizes (`to` defaults to the latest checkpoint's size).
pub async fn consistency(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    params: Result<Query<ConsistencyParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    allow(&state, &headers, &tenant)?;
    known_tenant(&state, &tenant)?;
    let Query(p) = params.map_err(Problem::from)?;
    let journal = state.db.journal().clone();
    let value = blocking(move || {
        let latest = match journal.latest_checkpoint(&tenant).map_err(internal)? {
            Some(note) => journal.parse_checkpoint(&note).map_err(internal)?.size,
            None => 0,
        };
        let to = p.to.unwrap_or(latest);
        if to > latest {
            return Err(Problem::bad_request("to is beyond the latest checkpoint").field("to"));
        }
        if p.from > to {
            return Err(Problem::bad_request("from must not exceed to").field("from"));
        }
        let hashes = journal
            .consistency_proof(&tenant, p.from, to)
            .map_err(internal)?;
        Ok(json!({
            "from": p.from,
            "to": to,
            "hashes": hashes.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
        }))
    })
    .await?;
    Ok(json_body(value))
}

/// Query of `proof/inclusion`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionParams {
    seq: u64,
}

/// `GET /v1/logs/{tenant}/proof/inclusion?seq=N`: the leaf hash of `seq`, its inclusion
/// proof and the checkpoint it leads to (no event contents).
pub async fn inclusion_route(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(tenant): Path<String>,
    params: Result<Query<InclusionParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    allow(&state, &headers, &tenant)?;
    known_tenant(&state, &tenant)?;
    let Query(p) = params.map_err(Problem::from)?;
    Ok(json_body(inclusion(&state, &tenant, p.seq).await?))
}

/// The inclusion proof of `seq` in the latest checkpoint covering it, waiting briefly for
/// the writer to sign one when the event is newer than the latest checkpoint.
pub async fn inclusion(state: &AppState, tenant: &str, seq: u64) -> Result<Value, Problem> {
    if seq >= state.log_size(tenant)? {
        return Err(Problem::not_found().detail("no event at this seq"));
    }
    let Some((note, size)) = covering_checkpoint(state, tenant, seq + 1).await? else {
        return Err(no_checkpoint("no signed checkpoint covers this event yet"));
    };
    let journal = state.db.journal().clone();
    let t = tenant.to_string();
    blocking(move || {
        let hashes = journal.inclusion_proof(&t, seq, size).map_err(internal)?;
        let leaf = journal.leaf(&t, seq).map_err(internal)?;
        Ok(json!({
            "leaf_index": seq,
            "tree_size": size,
            "leaf_hash": B64.encode(leaf),
            "hashes": hashes.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "checkpoint": note,
        }))
    })
    .await
}

/// The latest signed checkpoint (note, tree size) once it covers at least `size` entries,
/// waiting up to [`CHECKPOINT_WAIT`] for the writer to sign one; `None` if none does by then.
pub async fn covering_checkpoint(
    state: &AppState,
    tenant: &str,
    size: u64,
) -> Result<Option<(String, u64)>, Problem> {
    let deadline = tokio::time::Instant::now() + CHECKPOINT_WAIT;
    loop {
        let journal = state.db.journal().clone();
        let t = tenant.to_string();
        let found = blocking(move || {
            let Some(note) = journal.latest_checkpoint(&t).map_err(internal)? else {
                return Ok(None);
            };
            let cp = journal.parse_checkpoint(&note).map_err(internal)?;
            Ok((cp.size >= size).then_some((note, cp.size)))
        })
        .await?;
        if found.is_some() || tokio::time::Instant::now() >= deadline {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 503 with Retry-After: no signed checkpoint covers what was asked for yet.
pub fn no_checkpoint(detail: &str) -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "No checkpoint yet")
        .detail(detail)
        .retry_after(1)
}
