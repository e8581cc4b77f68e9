//! LEB128 varints (7 bits a byte, low bits first) and zigzag for signed values, so the small
//! numbers that fill stored facts take one byte each.

use std::fmt;

/// Why stored bytes could not be read back; never a panic, whatever the bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DecodeError {}

pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads varints from the front of a byte slice.
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len()
    }

    pub fn byte(&mut self) -> Result<u8, DecodeError> {
        let (&b, rest) = self
            .bytes
            .split_first()
            .ok_or_else(|| DecodeError("truncated".into()))?;
        self.bytes = rest;
        Ok(b)
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            // The tenth byte may carry only the top bit.
            if shift == 63 && bits > 1 {
                return Err(DecodeError("varint overflows 64 bits".into()));
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError("varint longer than 10 bytes".into()))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let z = self.u64()?;
        Ok((z >> 1) as i64 ^ -((z & 1) as i64))
    }

    /// Fails unless every byte was read (trailing bytes mean a different or corrupt encoding).
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.bytes.len() {
            0 => Ok(()),
            n => Err(DecodeError(format!("{n} trailing bytes"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_small_ones_take_one_byte() {
        let values = [
            0,
            1,
            -1,
            63,
            -64,
            64,
            1_000_000,
            -1_000_000,
            i64::MAX,
            i64::MIN,
        ];
        let mut out = Vec::new();
        for v in values {
            put_i64(&mut out, v);
        }
        put_u64(&mut out, u64::MAX);
        let mut r = Reader::new(&out);
        for v in values {
            assert_eq!(r.i64().unwrap(), v);
        }
        assert_eq!(r.u64().unwrap(), u64::MAX);
        r.finish().unwrap();

        for v in [0, 1, -1, 63, -64] {
            let mut one = Vec::new();
            put_i64(&mut one, v);
            assert_eq!(one.len(), 1, "{v}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Reader::new(&[]).u64().is_err(), "empty");
        assert!(Reader::new(&[0x80, 0x80]).u64().is_err(), "truncated");
        assert!(Reader::new(&[0xff; 11]).u64().is_err(), "too long");
        assert!(
            Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
                .u64()
                .is_err(),
            "overflow"
        );
        let mut r = Reader::new(&[1, 2]);
        r.u64().unwrap();
        assert!(r.finish().is_err(), "trailing");
    }
}
