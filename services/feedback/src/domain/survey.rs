//! Satisfaction surveys: one opens at each resolution, takes one answer, expires after the
//! configured time; a low rating or "not fixed" asks for the ticket to be reopened.

use flywheel_proto::flywheel::feedback::v1::{FixedAnswer, ResolutionRating, SurveyState};
use flywheel_runtime::{Error, Result, Violations};

use super::report::{MAX_COMMENT, text};

/// Ratings at or below this file a reopen request.
pub const LOW_RATING: i32 = 2;

/// The state a stored survey is in at `now_us`: an OPEN survey past its close time is EXPIRED.
pub fn effective_state(stored: i32, close_us: i64, now_us: i64) -> i32 {
    if stored == SurveyState::Open as i32 && now_us >= close_us { SurveyState::Expired as i32 } else { stored }
}

/// Checks an answer's fields.
pub fn validate_answer(a: &ResolutionRating) -> Result<()> {
    let mut v = Violations::new();
    v.check((1..=5).contains(&a.rating), "rating.rating", "must be within 1..5");
    v.check(
        FixedAnswer::try_from(a.fixed).is_ok_and(|f| f != FixedAnswer::Unspecified),
        "rating.fixed",
        "must be YES, NO or DONT_KNOW",
    );
    text(&mut v, "rating.comment", &a.comment, MAX_COMMENT);
    v.finish(())
}

/// Whether the survey (in its effective state) can take an answer; FAILED_PRECONDITION naming why not.
pub fn check_answerable(report_id: &str, state: Option<i32>) -> Result<()> {
    let (state, reason) = match state.and_then(|s| SurveyState::try_from(s).ok()) {
        Some(SurveyState::Open) => return Ok(()),
        None => ("NO_SURVEY", "no survey is open: the report has not been resolved yet"),
        Some(SurveyState::Answered) => ("ANSWERED", "the survey has already been answered"),
        Some(SurveyState::Expired) => ("EXPIRED", "the survey has expired"),
        Some(_) => ("SUPERSEDED", "the survey was superseded: the work was reopened"),
    };
    Err(Error::FailedPrecondition { kind: "survey", id: report_id.to_owned(), state: state.into(), reason: reason.into() })
}

/// Why an answer asks for a reopen: (low rating, not fixed).
pub fn reopen_reasons(a: &ResolutionRating) -> (bool, bool) {
    (a.rating <= LOW_RATING, a.fixed == FixedAnswer::No as i32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::violated_fields;

    fn answer(rating: i32, fixed: FixedAnswer) -> ResolutionRating {
        ResolutionRating { rating, fixed: fixed as i32, ..Default::default() }
    }

    #[test]
    fn an_open_survey_expires_at_its_close_time() {
        let open = SurveyState::Open as i32;
        assert_eq!(effective_state(open, 1000, 999), open);
        assert_eq!(effective_state(open, 1000, 1000), SurveyState::Expired as i32);
        assert_eq!(effective_state(SurveyState::Answered as i32, 1000, 5000), SurveyState::Answered as i32);
    }

    #[test]
    fn only_an_open_survey_takes_an_answer() {
        check_answerable("r", Some(SurveyState::Open as i32)).unwrap();
        for (state, name) in [
            (None, "NO_SURVEY"),
            (Some(SurveyState::Answered as i32), "ANSWERED"),
            (Some(SurveyState::Expired as i32), "EXPIRED"),
            (Some(SurveyState::Superseded as i32), "SUPERSEDED"),
        ] {
            let status = tonic::Status::from(check_answerable("r", state).unwrap_err());
            assert_eq!(status.code(), tonic::Code::FailedPrecondition);
            assert!(status.message().contains(name), "{}", status.message());
        }
    }

    #[test]
    fn answers_are_validated() {
        validate_answer(&answer(5, FixedAnswer::Yes)).unwrap();
        let bad = ResolutionRating { rating: 6, fixed: 0, comment: "x".repeat(MAX_COMMENT + 1), ..Default::default() };
        assert_eq!(violated_fields(validate_answer(&bad)), ["rating.rating", "rating.fixed", "rating.comment"]);
    }

    #[test]
    fn low_ratings_and_not_fixed_ask_for_a_reopen() {
        assert_eq!(reopen_reasons(&answer(2, FixedAnswer::Yes)), (true, false));
        assert_eq!(reopen_reasons(&answer(1, FixedAnswer::No)), (true, true));
        assert_eq!(reopen_reasons(&answer(5, FixedAnswer::No)), (false, true));
        assert_eq!(reopen_reasons(&answer(3, FixedAnswer::DontKnow)), (false, false));
    }
}
