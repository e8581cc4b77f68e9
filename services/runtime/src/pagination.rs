//! Cursor pagination (AIP-158): page sizes clamped to a documented maximum, and opaque page tokens
//! bound to the filters they were issued for.

use crate::error::Error;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 500;

/// The page size to use: the default for 0, clamped to the maximum; negative is invalid.
pub fn page_size(requested: i32) -> Result<u64, Error> {
    match requested {
        n if n < 0 => Err(Error::invalid("page_size", "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

/// A fingerprint of a request's filters (their display forms), so a token cannot be replayed
/// with other filters. FNV-1a: stable across builds, so any replica accepts any replica's token.
pub fn fingerprint(filters: &[&dyn std::fmt::Display]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in filters {
        for byte in part.to_string().bytes().chain([0x1f]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Encodes the position after `last_key` for the filters with this fingerprint.
pub fn encode_token(last_key: &str, filters: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{filters:016x}:{last_key}"))
}

/// The key to continue after, or `None` for the first page.
pub fn decode_token(token: &str, filters: u64) -> Result<Option<String>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    let bad = || Error::invalid("page_token", "not a token from this list with these filters");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (fp, key) = raw.split_once(':').ok_or_else(bad)?;
    if fp != format!("{filters:016x}") || key.is_empty() {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_and_clamp() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7).unwrap(), 7);
        assert_eq!(page_size(100_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }

    #[test]
    fn tokens_round_trip_only_with_the_same_filters() {
        let f = fingerprint(&[&"region-1", &3]);
        let token = encode_token("0190-abc", f);
        assert_eq!(decode_token(&token, f).unwrap().as_deref(), Some("0190-abc"));
        assert!(decode_token(&token, fingerprint(&[&"region-2", &3])).is_err());
        assert!(decode_token("%%%", f).is_err());
        assert_eq!(decode_token("", f).unwrap(), None);
    }
}
