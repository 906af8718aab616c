//! Writing a record in the compact layout (the module's doc has it): what
//! the proxy does once per request, so the bytes are few — the database
//! stores, copies and checksums each of them — and written without a
//! per-field allocation.

use super::{
    clip, RequestLogFields, CLIENT_KEY_CHARS, COMPACT, HAS_CLIENT_FORMAT, HAS_CLIENT_KEY_ID,
    HAS_KEY_HINT, HAS_KEY_ID, HAS_MODEL, HAS_SERVICE_ID, HAS_TTFB, HAS_UPSTREAM_FORMAT, HEADER,
    MODEL_CHARS, REQUEST_ID_CHARS, SERVICE_CHARS, SHORT_CHARS,
};

/// Packing bit: the request id is 16 raw bytes (32 lowercase hex digits).
pub(super) const HEX_REQUEST_ID: u8 = 1;
/// Packing bit: the client format is one byte, an index into [`FORMAT_NAMES`].
pub(super) const CODED_CLIENT_FORMAT: u8 = 1 << 1;
/// Packing bit: the upstream format is one byte, an index into [`FORMAT_NAMES`].
pub(super) const CODED_UPSTREAM_FORMAT: u8 = 1 << 2;

/// Format names written as their index. Stored records refer to them by
/// position: append only.
pub(super) const FORMAT_NAMES: [&str; 7] = [
    "openai",
    "openai_responses",
    "anthropic",
    "gemini",
    "openai_compatible",
    "anthropic_native",
    "gemini_native",
];

/// Most bytes a varint takes (a `u64`).
const VARINT_MAX: usize = 10;

fn put_varint(out: &mut Vec<u8>, n: u64) {
    let mut bytes = [0u8; VARINT_MAX];
    let len = write_varint(&mut bytes, 0, n);
    out.extend_from_slice(&bytes[..len]);
}

/// Writes `n` at `at` (which has room for [`VARINT_MAX`] bytes); returns
/// where it ends.
fn write_varint(bytes: &mut [u8], mut at: usize, mut n: u64) -> usize {
    while n >= 0x80 {
        bytes[at] = (n & 0x7F) as u8 | 0x80;
        n >>= 7;
        at += 1;
    }
    bytes[at] = n as u8;
    at + 1
}

/// Ids may be negative (nothing forbids it): zigzag keeps small ones short.
pub(super) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

#[inline]
fn put_text(out: &mut Vec<u8>, text: &str) {
    match u8::try_from(text.len()) {
        Ok(len) if len < 0x80 => out.push(len), // most texts: a one-byte varint
        _ => put_varint(out, text.len() as u64),
    }
    out.extend_from_slice(text.as_bytes());
}

/// The 16 bytes a 32-digit lowercase hex id stands for. Eight digits a
/// step (SWAR): a table lookup per digit cost more than what packing the id
/// saves the database.
fn hex_id(text: &str) -> Option<[u8; 16]> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = ONES * 0x80;
    /// High bit of each byte that lies in `lo..=hi` (all bytes below 0x80:
    /// the sums never carry into the next byte).
    fn in_range(word: u64, lo: u8, hi: u8) -> u64 {
        word.wrapping_add(ONES * u64::from(0x80 - lo))
            & !word.wrapping_add(ONES * u64::from(0x7F - hi))
            & HIGHS
    }
    let digits = text.as_bytes();
    if digits.len() != 32 {
        return None;
    }
    let mut raw = [0u8; 16];
    for (out, chunk) in raw.chunks_exact_mut(4).zip(digits.chunks_exact(8)) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        let letters = in_range(word, b'a', b'f');
        if word & HIGHS != 0 || (in_range(word, b'0', b'9') | letters) != HIGHS {
            return None;
        }
        // '0'..'9' are 0x30..0x39 and 'a'..'f' 0x61..0x66: the low nibble,
        // plus 9 for a letter.
        let values = (word & (ONES * 0x0F)) + (letters >> 7) * 9;
        // Pairs of digits into bytes (the first digit is the high nibble),
        // then the four bytes together.
        let pairs =
            ((values & 0x00FF_00FF_00FF_00FF) << 4) | ((values >> 8) & 0x00FF_00FF_00FF_00FF);
        let bytes = (pairs & 0xFF)
            | ((pairs >> 8) & 0xFF00)
            | ((pairs >> 16) & 0xFF_0000)
            | ((pairs >> 24) & 0xFF00_0000);
        out.copy_from_slice(&(bytes as u32).to_le_bytes());
    }
    Some(raw)
}

impl RequestLogFields<'_> {
    /// Which optional fields the row has, one bit each (both layouts).
    pub(super) fn presence_bits(&self) -> u8 {
        [
            (self.service_id.is_some(), HAS_SERVICE_ID),
            (self.client_key_id.is_some(), HAS_CLIENT_KEY_ID),
            (self.key_id.is_some(), HAS_KEY_ID),
            (self.key_hint.is_some(), HAS_KEY_HINT),
            (self.client_format.is_some(), HAS_CLIENT_FORMAT),
            (self.upstream_format.is_some(), HAS_UPSTREAM_FORMAT),
            (self.model.is_some(), HAS_MODEL),
            (self.ttfb_ms.is_some(), HAS_TTFB),
        ]
        .iter()
        .fold(0u8, |bits, &(on, bit)| if on { bits | bit } else { bits })
    }

    /// Appends this row's record to `out` (index 0: batches number their
    /// records when they are packed).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let request_id = clip(self.request_id, REQUEST_ID_CHARS);
        let service = clip(self.service, SERVICE_CHARS);
        let client_key = clip(self.client_key, CLIENT_KEY_CHARS);
        let key_hint = self.key_hint.map(|t| clip(t, SHORT_CHARS));
        let model = self.model.map(|t| clip(t, MODEL_CHARS));
        let texts = request_id.len() + service.len() + client_key.len();
        let optional = key_hint.map_or(0, str::len) + model.map_or(0, str::len) + 2 * SHORT_CHARS;
        // One reservation for the whole record: at most 9 varints and 7
        // text lengths.
        out.reserve(HEADER + super::COMPACT_FIXED + 16 * VARINT_MAX + texts + optional);
        let start = out.len();
        let present = self.presence_bits();
        // The fixed part, the varints and a packed request id are written
        // into an array and appended at once (no length check per byte).
        let mut head = [0u8; HEADER + super::COMPACT_FIXED + 9 * VARINT_MAX + 16];
        head[super::TIME_AT..super::TIME_AT + 8].copy_from_slice(&self.at_ms.to_le_bytes());
        head[super::TIME_AT + 8] = present;
        head[super::STATUS_AT..super::STATUS_AT + 2].copy_from_slice(&self.status.to_le_bytes());
        let mut at = HEADER + super::COMPACT_FIXED;
        for n in [
            u64::from(self.attempts),
            self.latency_ms,
            self.input_tokens,
            self.output_tokens,
        ] {
            at = write_varint(&mut head, at, n);
        }
        if let Some(ttfb) = self.ttfb_ms {
            at = write_varint(&mut head, at, ttfb);
        }
        for id in [self.service_id, self.client_key_id, self.key_id]
            .into_iter()
            .flatten()
        {
            at = write_varint(&mut head, at, zigzag(id));
        }
        let mut packing = 0;
        let hex = match self.request_id_bytes {
            Some(raw) => {
                debug_assert_eq!(hex_id(request_id), Some(raw), "the id spells its bytes");
                Some(raw)
            }
            None => hex_id(request_id),
        };
        if let Some(raw) = hex {
            packing |= HEX_REQUEST_ID;
            head[at..at + 16].copy_from_slice(&raw);
            at += 16;
        }
        out.extend_from_slice(&head[..at]);
        if hex.is_none() {
            put_text(out, request_id);
        }
        put_text(out, service);
        put_text(out, client_key);
        if let Some(hint) = key_hint {
            put_text(out, hint);
        }
        for (format, coded) in [
            (self.client_format, CODED_CLIENT_FORMAT),
            (self.upstream_format, CODED_UPSTREAM_FORMAT),
        ] {
            let Some(format) = format else { continue };
            match FORMAT_NAMES.iter().position(|&name| name == format) {
                Some(code) => {
                    packing |= coded;
                    out.push(code as u8);
                }
                None => put_text(out, clip(format, SHORT_CHARS)),
            }
        }
        if let Some(model) = model {
            put_text(out, model);
        }
        out[start + super::PACKING_AT] = packing;
        // Texts are clipped (at most ≈ 2 KiB in all): the body fits 15 bits.
        let body = u16::try_from(out.len() - start - HEADER).unwrap_or(!COMPACT) & !COMPACT;
        out[start + 2..start + HEADER].copy_from_slice(&(body | COMPACT).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_cover_the_extremes() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, n);
            assert!(out.len() <= VARINT_MAX);
            let mut reader = super::super::decode::Reader::new(&out, 0);
            assert_eq!(reader.varint(), Some(n), "{n}");
        }
        for n in [0, -1, 1, -4, i64::MIN, i64::MAX] {
            assert_eq!(super::super::decode::unzigzag(zigzag(n)), n);
        }
        assert!(zigzag(-1) < 2 && zigzag(1) < 3, "small ids stay small");
    }

    /// What [`hex_id`] computes, a digit at a time.
    fn hex_id_by_digit(text: &str) -> Option<[u8; 16]> {
        let digit = |b: u8| match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        };
        let digits = text.as_bytes();
        if digits.len() != 32 {
            return None;
        }
        let mut raw = [0u8; 16];
        for (byte, pair) in raw.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
        }
        Some(raw)
    }

    proptest::proptest! {
        /// Ids of 32 digits, some with one character swapped for a byte
        /// just outside the digits' ranges (or non-ASCII), some a digit
        /// short or long.
        #[test]
        fn hex_ids_are_read_as_a_digit_at_a_time_reads_them(
            digits in proptest::collection::vec(0usize..16, 32),
            swap in proptest::option::of((0usize..32, 0usize..12)),
            length in proptest::sample::select(vec![31usize, 32, 32, 32, 33]),
        ) {
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            const OUTSIDE: [char; 12] = ['/', ':', '`', 'g', 'A', 'F', '@', '\u{7f}', ' ', 'é', '\u{80}', 'z'];
            let mut chars: Vec<char> = digits.iter().map(|&d| char::from(DIGITS[d])).collect();
            if let Some((at, outside)) = swap {
                chars[at] = OUTSIDE[outside];
            }
            chars.resize(length, '0');
            let text: String = chars.into_iter().collect();
            proptest::prop_assert_eq!(hex_id(&text), hex_id_by_digit(&text), "{:?}", text);
        }
    }

    #[test]
    fn only_lowercase_32_digit_hex_ids_are_packed() {
        assert_eq!(
            hex_id("0123456789abcdef0f1e2d3c4b5a6978"),
            Some([
                0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
                0x69, 0x78
            ])
        );
        assert_eq!(hex_id("0123456789ABCDEF0123456789abcdef"), None);
        assert_eq!(hex_id("0123456789abcdef0123456789abcde"), None);
        assert_eq!(hex_id("0123456789abcdef0123456789abcdeg"), None);
    }
}
