//! Public tracking codes: 8 characters of Crockford base32 (40 random bits), shown as "XXXX-XXXX".

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fresh code in its stored form (no dash).
pub fn generate() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let bits = bytes[..5].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    (0..8).rev().map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char).collect()
}

/// The code as residents see it: "7KQ4-MX2P".
pub fn display(stored: &str) -> String {
    match stored.get(..4).zip(stored.get(4..)) {
        Some((a, b)) => format!("{a}-{b}"),
        None => stored.to_owned(),
    }
}

/// The stored form of a typed code (dash optional, any case, Crockford's look-alikes accepted);
/// `None` when it cannot be a code.
pub fn normalise(typed: &str) -> Option<String> {
    let code: String = typed
        .trim()
        .chars()
        .filter(|c| *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (code.len() == 8 && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_eight_crockford_characters() {
        for _ in 0..100 {
            let code = generate();
            assert_eq!(normalise(&code).as_deref(), Some(code.as_str()));
        }
    }

    #[test]
    fn typed_codes_are_forgiving() {
        assert_eq!(normalise("7kq4-mx2p").as_deref(), Some("7KQ4MX2P"));
        assert_eq!(normalise("OIL4MX2P").as_deref(), Some("0114MX2P"));
        assert_eq!(display("7KQ4MX2P"), "7KQ4-MX2P");
        assert!(normalise("7KQ4-MX2").is_none());
        assert!(normalise("7KQ4-MX2U").is_none());
    }
}
