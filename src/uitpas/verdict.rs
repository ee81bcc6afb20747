//! What an upstream answer means for the work that asked for it: one rule for every job, with the
//! caller saying which client errors are a clear "no" to its request.

use super::UpstreamError;

/// What an answer of UiTPAS or UiTdatabank means for the work that asked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A clear "no" to this request: nothing was done, and the same request will not succeed.
    Refused,
    /// It cannot succeed without a person: credentials refused with a fresh token, a missing
    /// permission (403), a token server that refuses the credentials.
    NeedsPerson,
    /// Answered, so the request ended upstream, without a clear outcome (5xx, 429): try later.
    Ended,
    /// No answer (timeout, reset), a gateway's (502, 504), or an answer this build cannot read
    /// (a 2xx whose body it does not understand): the request may have committed, or still be
    /// running upstream and commit.
    Unknown,
}

impl Verdict {
    /// The verdict on `e`; `refusal`: whether a client error (its status, other than 401, 403
    /// and 429, and whether it came with a problem document) is a clear "no" to the caller's
    /// request (UiTPAS refuses a sale with many problems; the Entry API refuses a body with 400).
    pub fn of(e: &UpstreamError, refusal: fn(u16, bool) -> bool) -> Verdict {
        let e = match e {
            UpstreamError::UiTdatabank(inner) => inner.as_ref(),
            e => e,
        };
        match e {
            UpstreamError::Problem { status: 401 | 403, .. } | UpstreamError::Status(401 | 403) => Verdict::NeedsPerson,
            UpstreamError::Token(status) if (400..500).contains(status) && *status != 429 => Verdict::NeedsPerson,
            UpstreamError::Problem { status, .. }
                if (400..500).contains(status) && *status != 429 && refusal(*status, true) =>
            {
                Verdict::Refused
            }
            UpstreamError::Status(status)
                if (400..500).contains(status) && *status != 429 && refusal(*status, false) =>
            {
                Verdict::Refused
            }
            UpstreamError::Status(502 | 504)
            | UpstreamError::Timeout
            | UpstreamError::Unreachable(_)
            | UpstreamError::Decode(_) => Verdict::Unknown,
            _ => Verdict::Ended,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(status: u16) -> UpstreamError {
        UpstreamError::Problem {
            status,
            problem: Box::new(crate::uitpas::PubliqProblem {
                kind: "https://api.publiq.be/probs/uitpas/maximum-reached".into(),
                title: "Maximum reached".into(),
                detail: None,
                end_user_message: None,
                schema_errors: Vec::new(),
                json_pointer: Some("/2".into()),
                card_status: None,
            }),
        }
    }

    fn any_but_404_408_409(status: u16, problem: bool) -> bool {
        problem && ![404, 408, 409].contains(&status)
    }

    fn only_400(status: u16, _: bool) -> bool {
        status == 400
    }

    #[test]
    fn answers_are_refusals_work_for_a_person_ended_or_unknown() {
        let v = |e: &UpstreamError| Verdict::of(e, any_but_404_408_409);
        assert_eq!(v(&problem(400)), Verdict::Refused);
        assert_eq!(v(&problem(404)), Verdict::Ended, "not a refusal for this caller");
        assert_eq!(v(&problem(401)), Verdict::NeedsPerson, "401 after a fresh token");
        assert_eq!(v(&problem(403)), Verdict::NeedsPerson, "auth/forbidden");
        assert_eq!(v(&UpstreamError::Token(401)), Verdict::NeedsPerson);
        assert_eq!(v(&UpstreamError::Token(503)), Verdict::Ended);
        assert_eq!(v(&problem(429)), Verdict::Ended);
        assert_eq!(v(&UpstreamError::Status(503)), Verdict::Ended, "answered: it ended");
        assert_eq!(
            v(&UpstreamError::Status(504)),
            Verdict::Unknown,
            "a gateway gave up: it may still commit"
        );
        assert_eq!(v(&UpstreamError::Timeout), Verdict::Unknown);
        assert_eq!(v(&UpstreamError::Unreachable("reset".into())), Verdict::Unknown);
        assert_eq!(
            v(&UpstreamError::Decode("unknown variant".into())),
            Verdict::Unknown,
            "a 2xx this build cannot read committed: never sent again without a look"
        );
    }

    #[test]
    fn the_caller_says_which_client_errors_refuse_and_uitdatabank_is_unwrapped() {
        let wrapped = |e| UpstreamError::UiTdatabank(Box::new(e));
        assert_eq!(Verdict::of(&wrapped(problem(400)), only_400), Verdict::Refused);
        assert_eq!(Verdict::of(&wrapped(problem(422)), only_400), Verdict::Ended);
        assert_eq!(Verdict::of(&wrapped(problem(403)), only_400), Verdict::NeedsPerson);
        assert_eq!(
            Verdict::of(&wrapped(UpstreamError::Timeout), only_400),
            Verdict::Unknown
        );
        assert_eq!(Verdict::of(&problem(422), any_but_404_408_409), Verdict::Refused);
        assert_eq!(
            Verdict::of(&UpstreamError::Status(400), any_but_404_408_409),
            Verdict::Ended,
            "a 400 without a problem document is no refusal of the sale"
        );
        assert_eq!(
            Verdict::of(&wrapped(UpstreamError::Status(400)), only_400),
            Verdict::Refused
        );
    }
}
