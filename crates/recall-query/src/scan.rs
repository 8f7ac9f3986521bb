//! Every event that matches a filter, below a seq horizon, oldest first: what reports
//! computed outside this crate (recall-governance's access review) walk. The caller keeps
//! its own state; this holds only the walk's bounded chunk of hits.
//!
//! Two scans with the same horizon see the same events: entries below a watermark never
//! change.

use recall_model::Event;

use crate::db::Db;
use crate::error::QueryError;
use crate::search::{Compiled, Filter, Order, Walk};

impl Db {
    /// Calls `visit` with every event of `tenant` matching `filter` whose seq is below
    /// `horizon` (take it from [`Db::indexed`] once, before the first scan), oldest first.
    pub fn scan(
        &self,
        tenant: &str,
        filter: &Filter,
        horizon: u64,
        visit: &mut dyn FnMut(Event) -> Result<(), QueryError>,
    ) -> Result<(), QueryError> {
        let Some(t) = self.tenant(tenant)? else {
            return Ok(());
        };
        let filter = Compiled::new(filter)?;
        let walk = Walk {
            tenant,
            t: &t,
            filter: &filter,
            order: Order::Asc,
            after: None,
            horizon,
            want: usize::MAX,
        };
        self.walk(&walk, &mut |hit| {
            visit(hit.event()?)?;
            Ok(true)
        })
    }
}
