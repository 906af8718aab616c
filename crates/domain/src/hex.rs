//! Lowercase hex, the one way ids and fingerprints are written: request ids
//! (made per request, so without `format!`), stored fingerprints, and
//! request ids read back from the request log's compact records.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// `bytes` as lowercase hex, two digits a byte.
#[must_use]
pub fn lower(bytes: &[u8]) -> String {
    // Digits written into place, not pushed one by one: a request id is
    // written per request.
    let mut out = vec![0u8; 2 * bytes.len()];
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xF)];
    }
    // Always ASCII: the fallback is never taken.
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::lower;

    #[test]
    fn bytes_are_two_lowercase_digits_each_high_nibble_first() {
        assert_eq!(lower(&[]), "");
        assert_eq!(lower(&[0x00, 0x0f, 0xa0, 0xff, 0x3c]), "000fa0ff3c");
        let all: Vec<u8> = (0..=255).collect();
        let expected: String = all.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(lower(&all), expected);
    }
}
