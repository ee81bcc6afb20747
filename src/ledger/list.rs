//! A customer's registrations, page by page (`GET /v1/registrations`): found by order, period and
//! stored status, oldest first, each read whole as [`Ledger::registration`] reads one.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Ledger, Registration};

/// Filters of [`Ledger::registrations`]; `None` means any.
#[derive(Debug, Clone)]
pub struct RegistrationFilter {
    /// The customer whose registrations are listed (always given).
    pub customer_id: Uuid,
    pub order_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl Ledger {
    /// One page of the registrations matching `filter`, oldest first, and how many match in all.
    /// A page reads each of its registrations as [`Ledger::registration`] does (at most the page's
    /// limit of reads, each by primary key).
    pub async fn registrations(
        &self,
        filter: &RegistrationFilter,
        start: i64,
        limit: i64,
    ) -> anyhow::Result<(i64, Vec<Registration>)> {
        let mut tx = crate::db::begin(self.db()).await?;
        let total = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM registrations
               WHERE customer_id = $1 AND ($2::text IS NULL OR order_id = $2)
                 AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)"#,
            filter.customer_id,
            filter.order_id,
            filter.from,
            filter.to
        )
        .fetch_one(&mut *tx)
        .await?;
        let ids = sqlx::query_scalar!(
            r#"SELECT id FROM registrations
               WHERE customer_id = $1 AND ($2::text IS NULL OR order_id = $2)
                 AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
               ORDER BY created_at, id OFFSET $5 LIMIT $6"#,
            filter.customer_id,
            filter.order_id,
            filter.from,
            filter.to,
            start,
            limit
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut page = Vec::with_capacity(ids.len());
        for id in ids {
            // Gone meanwhile (never deleted today) would simply be left out.
            if let Some(registration) = self.registration(id).await? {
                page.push(registration);
            }
        }
        Ok((total, page))
    }
}
