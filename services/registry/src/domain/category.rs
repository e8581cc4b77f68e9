//! The service catalog: every kind of work sits in one cell of the scenario matrix and carries
//! response targets for each priority.

use super::text;
use flywheel_proto::flywheel::common::v1::{Dimension, Perspective, Priority};
use flywheel_proto::flywheel::registry::v1::{Category, SlaTarget};
use flywheel_runtime::{Result, Violations};

pub const UPDATABLE: &[&str] =
    &["name", "description", "cell", "default_priority", "sla_targets", "required_skills"];

const MAX_ACKNOWLEDGE_S: i64 = 30 * 24 * 3600;
const MAX_RESOLVE_S: i64 = 365 * 24 * 3600;
const MAX_SKILLS: usize = 16;

/// Checks a category; `only` limits the check to the fields an update names.
pub fn validate(category: &Category, only: Option<&[String]>) -> Result<()> {
    let wants = |f: &str| only.is_none_or(|paths| paths.iter().any(|p| p == f));
    let mut v = Violations::new();
    if only.is_none() {
        text::code(&mut v, "category.code", &category.code);
    } else {
        text::id(&mut v, "category.id", &category.id);
    }
    if wants("name") {
        text::name(&mut v, "category.name", &category.name, 200);
    }
    if wants("description") {
        text::optional(&mut v, "category.description", &category.description, 2000);
    }
    if wants("cell") {
        match &category.cell {
            None => v.add("category.cell", "is required"),
            Some(cell) => {
                v.check(
                    Dimension::try_from(cell.dimension).is_ok_and(|d| d != Dimension::Unspecified),
                    "category.cell.dimension",
                    "must be SAFETY, IMAGE or ASSETS",
                );
                v.check(
                    Perspective::try_from(cell.perspective).is_ok_and(|p| p != Perspective::Unspecified),
                    "category.cell.perspective",
                    "must be PRODUCTION, LIVING or ECOLOGY",
                );
            }
        }
    }
    if wants("default_priority") {
        v.check(is_priority(category.default_priority), "category.default_priority", "must be P1..P4");
    }
    if wants("sla_targets") {
        check_targets(&mut v, &category.sla_targets);
    }
    if wants("required_skills") {
        check_skills(&mut v, &category.required_skills);
    }
    v.finish(())
}

fn is_priority(p: i32) -> bool {
    Priority::try_from(p).is_ok_and(|p| p != Priority::Unspecified)
}

fn seconds(d: &Option<prost_types::Duration>) -> Option<i64> {
    d.as_ref()
        .filter(|d| (0..1_000_000_000).contains(&d.nanos))
        .and_then(|d| d.seconds.checked_add(i64::from(d.nanos > 0)))
}

fn check_targets(v: &mut Violations, targets: &[SlaTarget]) {
    let mut seen = [false; 5];
    for (i, t) in targets.iter().enumerate() {
        let field = |f: &str| format!("category.sla_targets[{i}].{f}");
        if !is_priority(t.priority) {
            v.add(field("priority"), "must be P1..P4");
        } else if std::mem::replace(&mut seen[t.priority as usize], true) {
            v.add(field("priority"), "has a target already");
        }
        let ack = seconds(&t.acknowledge_within);
        let resolve = seconds(&t.resolve_within);
        v.check(
            ack.is_some_and(|s| s > 0 && s <= MAX_ACKNOWLEDGE_S),
            field("acknowledge_within"),
            "must be more than 0 and at most 30 days",
        );
        v.check(
            resolve.is_some_and(|s| s > 0 && s <= MAX_RESOLVE_S),
            field("resolve_within"),
            "must be more than 0 and at most 365 days",
        );
        if let (Some(a), Some(r)) = (ack.filter(|s| *s > 0), resolve.filter(|s| *s > 0)) {
            v.check(r >= a, field("resolve_within"), "must not be shorter than acknowledge_within");
        }
    }
    if seen[1..].iter().any(|s| !s) {
        v.add("category.sla_targets", "must hold exactly one target for each of P1, P2, P3 and P4");
    }
}

fn check_skills(v: &mut Violations, skills: &[String]) {
    v.check(skills.len() <= MAX_SKILLS, "category.required_skills", format!("at most {MAX_SKILLS}"));
    for (i, s) in skills.iter().enumerate() {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
        v.check(ok, format!("category.required_skills[{i}]"), "must be 1..64 characters of a-z, 0-9, '_' or '-'");
        v.check(!skills[..i].contains(s), format!("category.required_skills[{i}]"), "is listed twice");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_proto::flywheel::common::v1::ScenarioCell;
    use prost_types::Duration;

    fn hours(h: i64) -> Option<Duration> {
        Some(Duration { seconds: h * 3600, nanos: 0 })
    }

    fn targets() -> Vec<SlaTarget> {
        (1..=4)
            .map(|p| SlaTarget { priority: p, acknowledge_within: hours(p.into()), resolve_within: hours(i64::from(p) * 8) })
            .collect()
    }

    fn light() -> Category {
        Category {
            code: "street-light-out".into(),
            name: "Broken street light".into(),
            cell: Some(ScenarioCell { dimension: Dimension::Assets as i32, perspective: Perspective::Living as i32 }),
            default_priority: Priority::P3 as i32,
            sla_targets: targets(),
            required_skills: vec!["electrical".into()],
            ..Default::default()
        }
    }

    fn fields(c: &Category) -> Vec<String> {
        crate::domain::violated_fields(validate(c, None))
    }

    #[test]
    fn a_good_category_passes() {
        assert!(validate(&light(), None).is_ok());
    }

    #[test]
    fn sla_targets_must_cover_each_priority_once_and_make_sense() {
        let mut c = light();
        c.sla_targets[1].priority = 1;
        c.sla_targets[2].resolve_within = hours(0);
        c.sla_targets[3].acknowledge_within = hours(100);
        assert_eq!(
            fields(&c),
            [
                "category.sla_targets[1].priority",
                "category.sla_targets[2].resolve_within",
                "category.sla_targets[3].resolve_within",
                "category.sla_targets",
            ]
        );
    }

    #[test]
    fn cell_priority_and_skills() {
        let mut c = light();
        c.cell = Some(ScenarioCell { dimension: 0, perspective: 9 });
        c.default_priority = 0;
        c.required_skills = vec!["Electrical".into(), "x".into(), "x".into()];
        assert_eq!(
            fields(&c),
            [
                "category.cell.dimension",
                "category.cell.perspective",
                "category.default_priority",
                "category.required_skills[0]",
                "category.required_skills[2]",
            ]
        );
    }
}
