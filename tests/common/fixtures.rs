//! The test dataset by name (publiq's, as the sandbox plays it: see
//! `uitpas_checkout::sandbox::dataset`) and the request bodies the tests send: orders, their
//! ticket lines, holds and activities.

use serde_json::{Value, json};
use uitpas_checkout::sandbox::dataset;

/// "Permanente UiTPAS Test Festiviteit": 100 social-tariff sales per passholder per week.
pub const TEST_EVENT: &str = dataset::TEST_EVENT;
/// "Test event met beperkte aankoop": one social-tariff sale per passholder per week.
pub const LIMITED_EVENT: &str = dataset::LIMITED_EVENT;
/// "Test event with no permission": another organizer's event (customer B's in the tests).
pub const NO_PERMISSION_EVENT: &str = dataset::NO_PERMISSION_EVENT;
/// The test organizer, for which the test client has every permission.
pub const TEST_ORGANIZER: &str = dataset::TEST_ORGANIZER;
/// The dataset's place in UiTdatabank.
pub const PLACE: &str = "85b04295-479c-40f5-b3dd-469dfb4387b3";

/// The social tariff of card system Gent.
pub const GENT: &str = "kansentarief-regio-gent";
/// The social tariff of card system Paspartoe.
pub const PASPARTOE: &str = "kansentarief-paspartoe";

/// Social tariff active (Gent).
pub const ACTIVE_PASS: &str = "0900000067513";
/// Social tariff active (Gent), in its grace period (ACTIVE past its end date, with a message).
pub const GRACE_PASS: &str = "0900010959113";
/// Social tariff expired.
pub const EXPIRED_PASS: &str = "0900000058918";
/// Social tariff active in Paspartoe, not in Gent.
pub const PASPARTOE_PASS: &str = "0900000093204";
/// A group pass with a social tariff.
pub const GROUP_PASS: &str = "0900000045410";

/// A ticket line of `event` for pass `number` at the Gent social tariff, regular price € 10.
pub fn ticket_for(event: &str, number: &str) -> Value {
    json!({"eventId": event, "uitpasNumber": number, "tariffId": GENT, "regularPrice": 10})
}

/// A ticket line of the test event for pass `number` at the Gent social tariff, € 10.
pub fn ticket(number: &str) -> Value {
    ticket_for(TEST_EVENT, number)
}

/// An order of these ticket lines.
pub fn order_of(id: &str, tickets: Vec<Value>) -> Value {
    json!({"orderId": id, "tickets": tickets})
}

/// An order of one ticket of the test event for pass `number` ([`ticket`]).
pub fn order(id: &str, number: &str) -> Value {
    order_of(id, vec![ticket(number)])
}

/// [`order`] held for payment for `expires_in` seconds.
pub fn hold(id: &str, number: &str, expires_in: u32) -> Value {
    with(order(id, number), json!({"hold": {"expiresIn": expires_in}}))
}

/// An activity of the test organizer at the dataset's place: a permanent camp, € 10.
pub fn activity() -> Value {
    json!({
        "name": {"nl": "Zomerkamp"},
        "mainLanguage": "nl",
        "calendar": {"type": "permanent"},
        "locationId": PLACE,
        "organizerId": TEST_ORGANIZER,
        "eventTypeId": "0.57.0.0.0",
        "basePrice": 10
    })
}

/// `body` with the members of `changes` put in (replacing those of the same name).
pub fn with(mut body: Value, changes: Value) -> Value {
    let Value::Object(changes) = changes else {
        panic!("changes are an object: {changes}")
    };
    let members = body.as_object_mut().expect("a body that is an object");
    members.extend(changes);
    body
}

/// A ticket sale in UiTPAS's own words (as another client sells at the sandbox) of an order's
/// ticket line.
pub fn uitpas_sale(line: &Value) -> Value {
    json!({"uitpasNumber": line["uitpasNumber"], "eventId": line["eventId"],
        "regularPrice": line["regularPrice"], "tariff": {"id": line["tariffId"]}})
}
