//! Settling a registration whose outcome is unknown, by looking at UiTPAS.
//!
//! **Whose sale it is.** Every sale is sent with a marker of its own in `regularPriceLabel`
//! (`uc-` and 16 hex digits of our ticket-sale id; UiTPAS stores the label and returns it, and it
//! shows in the organizer's financial reports after the shop's own label). Only a sale that
//! carries the marker of one of this registration's lines is adopted: a sale of the box office or
//! of another shop, for the same pass, event, tariff and price, never is.
//!
//! **Reading only what is needed.** A sale of ours can only have been created after the
//! registration was stored, so only the event's sales created since then (less a margin for the
//! clocks) are read: newest first, page by overlapping page, each page checked to hold the first
//! sale of the page before it, so a sale added or cancelled meanwhile shifts the list without
//! hiding anything. A busy event costs the pages since the order, not all its sales.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::uitpas::{RegisteredTicketSale, TicketSalePage};

/// The page size used to read an event's sales (UiTPAS's maximum).
pub const PAGE: u32 = 500;
/// How many sales consecutive pages share, so a shift of the list shows.
pub const OVERLAP: u32 = 50;
/// The most pages one look reads per event, newest first; every page read is checked.
pub const MAX_PAGES: usize = 23;
/// A look concludes on an event with fewer sales than this since the floor: [`MAX_PAGES`]
/// overlapping pages hold 10 400 sales, and the last must show one older than the floor.
pub const MAX_SALES: u32 = PAGE + (MAX_PAGES as u32 - 1) * (PAGE - OVERLAP);
/// How far UiTPAS's clock may be behind PostgreSQL's.
pub const CLOCK_MARGIN: chrono::Duration = chrono::Duration::seconds(60);

/// The marker of one of our sales, as sent in `regularPriceLabel`.
pub fn marker(ticket_sale_id: Uuid) -> String {
    let hex = ticket_sale_id.simple().to_string();
    format!("uc-{}", &hex[..16])
}

/// The `regularPriceLabel` sent to UiTPAS: the shop's label, then our marker.
pub fn label_with_marker(label: Option<&str>, ticket_sale_id: Uuid) -> String {
    match label {
        Some(label) => format!("{label} ({})", marker(ticket_sale_id)),
        None => marker(ticket_sale_id),
    }
}

/// The marker in a label UiTPAS returned, if it has one (the last, should there be several).
pub fn marker_in(label: &str) -> Option<&str> {
    let bytes = label.as_bytes();
    label
        .rmatch_indices("uc-")
        .map(|(i, _)| i)
        .find(|&i| {
            let hex = bytes.get(i + 3..i + 19);
            hex.is_some_and(|h| h.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
                && bytes.get(i + 19).is_none_or(|b| !b.is_ascii_alphanumeric())
                && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        })
        .map(|i| &label[i..i + 19])
}

/// One page of an event's sales, as UiTPAS lists them.
pub trait Pages {
    fn page(&mut self, start: u32, limit: u32) -> impl Future<Output = anyhow::Result<TicketSalePage>> + Send;
}

/// What one read of an event's sales found.
#[derive(Debug)]
pub enum Scan {
    /// Every sale created since the floor (and maybe older ones).
    Complete(Vec<RegisteredTicketSale>),
    /// The reading cannot be trusted to be complete: look again later.
    Inconclusive(&'static str),
    /// More sales since the floor than one look reads ([`MAX_SALES`]): no later look can do
    /// better, since sales only accumulate after the floor.
    TooBusy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    OldestFirst,
    NewestFirst,
}

fn order_of(sales: &[RegisteredTicketSale]) -> Option<Order> {
    let dates: Vec<DateTime<Utc>> = sales.iter().map(|s| s.creation_date).collect::<Option<_>>()?;
    if dates.windows(2).all(|w| w[0] <= w[1]) {
        Some(Order::OldestFirst)
    } else if dates.windows(2).all(|w| w[0] >= w[1]) {
        Some(Order::NewestFirst)
    } else {
        None
    }
}

fn sorted(sales: &[RegisteredTicketSale], order: Order) -> bool {
    order_of(sales).is_some_and(|o| o == order || sales.windows(2).all(|w| w[0].creation_date == w[1].creation_date))
}

fn older_than(sale: Option<&RegisteredTicketSale>, floor: DateTime<Utc>) -> bool {
    sale.and_then(|s| s.creation_date).is_some_and(|d| d < floor)
}

/// Reads the sales of one event created since `floor`, newest first, at most [`MAX_PAGES`]
/// pages.
pub async fn sales_since<P: Pages>(pages: &mut P, floor: DateTime<Utc>) -> anyhow::Result<Scan> {
    let first = pages.page(0, PAGE).await?;
    let total = first.total_items;
    if first.member.len() as u32 >= total {
        return Ok(Scan::Complete(first.member));
    }
    if first.member.is_empty() {
        return Ok(Scan::Inconclusive(
            "UiTPAS counted sales of the event that it did not list",
        ));
    }
    match order_of(&first.member) {
        Some(Order::OldestFirst) => newest_at_the_end(pages, first, floor).await,
        Some(Order::NewestFirst) => newest_at_the_start(pages, first, floor).await,
        None => every_page(pages, first).await,
    }
}

/// Sales listed oldest first: read from the end backwards until a page starts before the floor.
async fn newest_at_the_end<P: Pages>(
    pages: &mut P,
    first: TicketSalePage,
    floor: DateTime<Utc>,
) -> anyhow::Result<Scan> {
    let first_newest = first.member.last().and_then(|s| s.creation_date);
    let mut seen = first.member;
    let mut start = first.total_items.saturating_sub(PAGE);
    let mut page = pages.page(start, PAGE).await?.member;
    if !sorted(&page, Order::OldestFirst) || page.last().and_then(|s| s.creation_date) < first_newest {
        return Ok(Scan::Inconclusive(
            "UiTPAS lists this event's sales in no order of creation",
        ));
    }
    // `read`: the pages read from the end so far, each checked before the next is read.
    for read in 1.. {
        let Some(anchor) = page.first().map(|s| s.id.clone()) else {
            return Ok(Scan::Inconclusive("a page of the event's sales came back empty"));
        };
        let done = start == 0 || older_than(page.first(), floor);
        seen.append(&mut page);
        if done {
            return Ok(Scan::Complete(seen));
        }
        if read == MAX_PAGES {
            break;
        }
        start = start.saturating_sub(PAGE - OVERLAP);
        page = pages.page(start, PAGE).await?.member;
        if !sorted(&page, Order::OldestFirst) || !page.iter().any(|s| s.id == anchor) {
            return Ok(Scan::Inconclusive(
                "the event's sales moved more than a page while they were read",
            ));
        }
    }
    Ok(Scan::TooBusy)
}

/// Sales listed newest first: read forwards until a page ends before the floor.
async fn newest_at_the_start<P: Pages>(
    pages: &mut P,
    first: TicketSalePage,
    floor: DateTime<Utc>,
) -> anyhow::Result<Scan> {
    let total = first.total_items;
    let mut start = 0;
    let mut page = first.member;
    let mut seen = Vec::new();
    for read in 1.. {
        let Some(anchor) = page.last().map(|s| s.id.clone()) else {
            return Ok(Scan::Inconclusive("a page of the event's sales came back empty"));
        };
        let len = page.len() as u32;
        let done = start + len >= total || older_than(page.last(), floor);
        seen.append(&mut page);
        if done {
            return Ok(Scan::Complete(seen));
        }
        if read == MAX_PAGES {
            break;
        }
        start = start + len - OVERLAP.min(len);
        page = pages.page(start, PAGE).await?.member;
        if !sorted(&page, Order::NewestFirst) || !page.iter().any(|s| s.id == anchor) {
            return Ok(Scan::Inconclusive(
                "the event's sales moved more than a page while they were read",
            ));
        }
    }
    Ok(Scan::TooBusy)
}

/// Sales in no known order: every page, and the reading holds only if the total stayed the same.
async fn every_page<P: Pages>(pages: &mut P, first: TicketSalePage) -> anyhow::Result<Scan> {
    let total = first.total_items;
    let mut start = first.member.len() as u32;
    let mut seen = first.member;
    for _ in 1..MAX_PAGES {
        if start >= total {
            return Ok(Scan::Complete(seen));
        }
        let page = pages.page(start, PAGE).await?;
        if page.total_items != total {
            return Ok(Scan::Inconclusive("the event's sales changed while they were read"));
        }
        if page.member.is_empty() {
            return Ok(Scan::Inconclusive("a page of the event's sales came back empty"));
        }
        start += page.member.len() as u32;
        seen.extend(page.member);
    }
    if start >= total {
        Ok(Scan::Complete(seen))
    } else {
        Ok(Scan::TooBusy)
    }
}

/// The sales found per marker among `sales`, oldest first (an extra one is a double).
pub fn by_marker(sales: Vec<RegisteredTicketSale>) -> HashMap<String, Vec<RegisteredTicketSale>> {
    let mut found: HashMap<String, Vec<RegisteredTicketSale>> = HashMap::new();
    let mut ids = std::collections::HashSet::new();
    for sale in sales {
        // Overlapping pages list some sales twice.
        if !ids.insert(sale.id.clone()) {
            continue;
        }
        if let Some(m) = sale.regular_price_label.as_deref().and_then(marker_in) {
            found.entry(m.to_owned()).or_default().push(sale);
        }
    }
    for list in found.values_mut() {
        list.sort_by(|a, b| (a.creation_date, &a.id).cmp(&(b.creation_date, &b.id)));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Money;
    use crate::uitpas::ConfirmedTariff;

    #[test]
    fn markers_are_found_in_labels_and_nothing_else_is() {
        let id = Uuid::parse_str("3f2a9c0d-1e2b-4a5f-9c0d-1e2b4a5f9c0d").unwrap();
        assert_eq!(marker(id), "uc-3f2a9c0d1e2b4a5f");
        let label = label_with_marker(Some("Volwassenen"), id);
        assert_eq!(label, "Volwassenen (uc-3f2a9c0d1e2b4a5f)");
        assert_eq!(marker_in(&label), Some("uc-3f2a9c0d1e2b4a5f"));
        assert_eq!(marker_in(&marker(id)), Some("uc-3f2a9c0d1e2b4a5f"));
        assert_eq!(marker_in("Volwassenen"), None);
        assert_eq!(marker_in("uc-3f2a9c0d1e2b4a5"), None, "too short");
        assert_eq!(marker_in("xuc-3f2a9c0d1e2b4a5f"), None, "inside a word");
        assert_eq!(marker_in("uc-3f2a9c0d1e2b4a5fz"), None, "longer");
        assert_eq!(marker_in("uc-3F2A9C0D1E2B4A5F"), None, "ours are lower case");
        assert_eq!(marker_in("Kind € 5 uc-0000000000000001"), Some("uc-0000000000000001"));
    }

    fn sale(n: u32, at: i64) -> RegisteredTicketSale {
        RegisteredTicketSale {
            id: format!("s{n}"),
            event_id: "e".into(),
            uitpas_number: "0900000067513".into(),
            regular_price: Money::from_cents(1000).unwrap(),
            regular_price_label: Some(format!("uc-{n:016x}")),
            creation_date: DateTime::from_timestamp(at, 0),
            tariff: ConfirmedTariff {
                id: "t".into(),
                name: None,
                price: None,
                kind: None,
            },
        }
    }

    /// An event's sales, listed by creation, that other clients add to (and cancel) between reads.
    struct Busy {
        sales: Vec<RegisteredTicketSale>,
        newest_first: bool,
        next: u32,
        clock: i64,
        added_per_read: u32,
        cancelled_per_read: usize,
        reads: usize,
    }

    impl Busy {
        fn new(n: u32, newest_first: bool) -> Self {
            Busy {
                sales: (0..n).map(|i| sale(i, i64::from(i))).collect(),
                newest_first,
                next: n,
                clock: i64::from(n),
                added_per_read: 0,
                cancelled_per_read: 0,
                reads: 0,
            }
        }
    }

    impl Pages for Busy {
        async fn page(&mut self, start: u32, limit: u32) -> anyhow::Result<TicketSalePage> {
            self.reads += 1;
            let mut list = self.sales.clone();
            if self.newest_first {
                list.reverse();
            }
            let page = TicketSalePage {
                total_items: list.len() as u32,
                member: list.into_iter().skip(start as usize).take(limit as usize).collect(),
            };
            for _ in 0..self.added_per_read {
                self.sales.push(sale(self.next, self.clock));
                self.next += 1;
                self.clock += 1;
            }
            for _ in 0..self.cancelled_per_read {
                // An old sale, refunded at the box office.
                self.sales.remove(10);
            }
            Ok(page)
        }
    }

    async fn scan(busy: &mut Busy, floor: i64) -> Scan {
        sales_since(busy, DateTime::from_timestamp(floor, 0).unwrap())
            .await
            .unwrap()
    }

    fn has(scan: &Scan, n: u32) -> bool {
        matches!(scan, Scan::Complete(s) if s.iter().any(|s| s.id == format!("s{n}")))
    }

    #[tokio::test]
    async fn a_small_event_is_read_in_one_page() {
        let mut busy = Busy::new(300, false);
        let found = scan(&mut busy, 0).await;
        assert!(has(&found, 0) && has(&found, 299));
        assert_eq!(busy.reads, 1);
    }

    #[tokio::test]
    async fn a_busy_event_is_read_from_its_newest_sales_back_to_the_order_only() {
        for newest_first in [false, true] {
            let mut busy = Busy::new(20_000, newest_first);
            busy.added_per_read = 40;
            busy.cancelled_per_read = 3;
            let found = scan(&mut busy, 18_900).await;
            assert!(has(&found, 18_950), "newest first: {newest_first}: {found:?}");
            assert!(has(&found, 19_999), "newest first: {newest_first}");
            assert!(busy.reads <= 5, "read {} pages", busy.reads);
        }
    }

    #[tokio::test]
    async fn every_sale_since_the_floor_is_seen_while_sales_come_and_go() {
        for newest_first in [false, true] {
            let mut busy = Busy::new(5_000, newest_first);
            busy.added_per_read = 100;
            busy.cancelled_per_read = 20;
            let found = scan(&mut busy, 3_000).await;
            let Scan::Complete(seen) = &found else {
                panic!("inconclusive: {found:?}")
            };
            for n in 3_000..5_000 {
                assert!(
                    seen.iter().any(|s| s.id == format!("s{n}")),
                    "s{n} missed (newest first: {newest_first})"
                );
            }
        }
    }

    #[tokio::test]
    async fn too_many_sales_since_the_order_is_too_busy_not_absent() {
        for newest_first in [false, true] {
            let mut busy = Busy::new(20_000, newest_first);
            let found = scan(&mut busy, 0).await;
            assert!(matches!(found, Scan::TooBusy), "{found:?}");
            let first = usize::from(!newest_first);
            assert_eq!(busy.reads, MAX_PAGES + first, "newest first: {newest_first}");
        }
    }

    #[tokio::test]
    async fn a_look_reads_every_sale_up_to_its_bound_and_checks_every_page_it_reads() {
        assert_eq!(MAX_SALES, 10_400);
        for newest_first in [false, true] {
            // One less than the bound since the floor (the last page shows an older sale): complete.
            let mut busy = Busy::new(30_000, newest_first);
            let floor = 30_000 - i64::from(MAX_SALES) + 1;
            let found = scan(&mut busy, floor).await;
            assert!(
                has(&found, 30_000 - MAX_SALES + 1),
                "newest first: {newest_first}: {found:?}"
            );
            assert!(busy.reads <= MAX_PAGES + 1);
            assert!(has(&found, 29_999));
            // One more since the floor: beyond the bound, and said so.
            let mut busy = Busy::new(30_000, newest_first);
            let found = scan(&mut busy, floor - 1).await;
            assert!(
                matches!(found, Scan::TooBusy),
                "newest first: {newest_first}: {found:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_list_in_no_order_is_read_whole_and_inconclusive_when_it_changes() {
        let mut busy = Busy::new(1_200, false);
        busy.sales.swap(3, 700);
        let found = scan(&mut busy, 1_000).await;
        assert!(has(&found, 3) && has(&found, 1_199), "read whole");
        let mut busy = Busy::new(1_200, false);
        busy.sales.swap(3, 700);
        busy.added_per_read = 1;
        assert!(matches!(scan(&mut busy, 1_000).await, Scan::Inconclusive(_)));
    }

    #[test]
    fn doubles_are_grouped_under_their_marker_oldest_first() {
        let mut double = sale(7, 50);
        double.id = "s7-again".into();
        let found = by_marker(vec![double, sale(7, 10), sale(7, 10), sale(8, 11)]);
        let sevens: Vec<&str> = found["uc-0000000000000007"].iter().map(|s| s.id.as_str()).collect();
        assert_eq!(sevens, ["s7", "s7-again"]);
        assert_eq!(found["uc-0000000000000008"].len(), 1);
    }
}
