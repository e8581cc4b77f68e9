//! Checks on the text fields people type.

use flywheel_runtime::Violations;

/// A human code: 1..64 characters of `[A-Za-z0-9._-]`.
pub fn code(v: &mut Violations, field: &str, value: &str) {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    v.check(ok, field, "must be 1..64 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
}

/// A required name: 1..`max` characters, not blank, no control characters.
pub fn name(v: &mut Violations, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        v.add(field, "must not be empty");
    } else {
        optional(v, field, value, max);
    }
}

/// Optional free text: at most `max` characters, no control characters except newlines and tabs.
pub fn optional(v: &mut Violations, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        v.add(field, "must not contain control characters");
    }
}

/// A required server id given by the client (a reference to another resource).
pub fn id(v: &mut Violations, field: &str, value: &str) {
    v.check(!value.is_empty(), field, "is required");
    v.check(value.len() <= 64, field, "is not a valid id");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations(f: impl FnOnce(&mut Violations)) -> bool {
        let mut v = Violations::new();
        f(&mut v);
        !v.is_empty()
    }

    #[test]
    fn codes() {
        assert!(!violations(|v| code(v, "c", "canton-tower_1.a")));
        for bad in ["", "has space", "广州", &"x".repeat(65), "semi;colon"] {
            assert!(violations(|v| code(v, "c", bad)), "{bad:?}");
        }
    }

    #[test]
    fn names() {
        assert!(!violations(|v| name(v, "n", "广州塔 Canton Tower", 200)));
        assert!(violations(|v| name(v, "n", "   ", 200)));
        assert!(violations(|v| name(v, "n", "bell\u{7}", 200)));
        assert!(violations(|v| name(v, "n", &"é".repeat(201), 200)));
        assert!(!violations(|v| optional(v, "d", "line one\nline two", 200)));
    }
}
