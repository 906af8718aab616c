//! Reading records back, in both layouts (the module's doc has them): the
//! compact one and the one written before it, which stored batches may
//! still hold.

use super::encode::{CODED_CLIENT_FORMAT, CODED_UPSTREAM_FORMAT, FORMAT_NAMES, HEX_REQUEST_ID};
use super::{
    array, from_unix_millis, row_id, DamagedBatch, Record, RequestLogEntry, HAS_CLIENT_FORMAT,
    HAS_CLIENT_KEY_ID, HAS_KEY_HINT, HAS_KEY_ID, HAS_MODEL, HAS_SERVICE_ID, HAS_TTFB,
    HAS_UPSTREAM_FORMAT, HEADER, LEGACY_FIXED, PACKING_AT, STATUS_AT, TIME_AT,
};
use std::borrow::Cow;

/// Reads a record's fields in order.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

pub(super) fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], at: usize) -> Self {
        Self { bytes, at }
    }
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let value = array(self.bytes, self.at)?;
        self.at += N;
        Some(value)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_le_bytes)
    }
    pub(super) fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let [byte] = self.take()?;
            let bits = u64::from(byte & 0x7F);
            // A tenth byte may only hold the top bit of a u64.
            if shift == 63 && bits > 1 {
                return None;
            }
            n |= bits << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }
    fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let bytes = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(bytes)
    }
    fn str(&mut self, len: usize) -> Option<&'a str> {
        std::str::from_utf8(self.bytes(len)?).ok()
    }
    /// A text of the layout before the compact one (`u16` length).
    fn legacy_text(&mut self) -> Option<&'a str> {
        let len = usize::from(u16::from_le_bytes(self.take()?));
        self.str(len)
    }
    /// A text of the compact layout (varint length).
    fn text(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.varint()?).ok()?;
        self.str(len)
    }
    /// A compact record's request id, written as 16 bytes or as text.
    fn request_id(&mut self, packing: u8) -> Option<Cow<'a, str>> {
        if packing & HEX_REQUEST_ID == 0 {
            return self.text().map(Cow::Borrowed);
        }
        self.bytes(16).map(|raw| Cow::Owned(crate::hex::lower(raw)))
    }
    /// A compact record's format, one byte when it is a known name.
    fn format(&mut self, coded: bool) -> Option<&'a str> {
        if !coded {
            return self.text();
        }
        let [code] = self.take()?;
        FORMAT_NAMES.get(usize::from(code)).copied()
    }
}

/// A compact record's parts up to its texts.
struct CompactHead {
    present: u8,
    packing: u8,
    attempts: u64,
    latency_ms: u64,
    input_tokens: u64,
    output_tokens: u64,
    ttfb_ms: Option<u64>,
    service_id: Option<i64>,
    client_key_id: Option<i64>,
    key_id: Option<i64>,
}

impl CompactHead {
    /// Reads the head; `r` is left at the texts.
    fn read(bytes: &[u8], r: &mut Reader<'_>) -> Option<Self> {
        let present = *bytes.get(TIME_AT + 8)?;
        let packing = *bytes.get(PACKING_AT)?;
        let has = |bit: u8| present & bit != 0;
        let (attempts, latency_ms) = (r.varint()?, r.varint()?);
        let (input_tokens, output_tokens) = (r.varint()?, r.varint()?);
        let mut optional = |bit: u8| -> Option<Option<u64>> {
            if has(bit) {
                r.varint().map(Some)
            } else {
                Some(None)
            }
        };
        let ttfb_ms = optional(HAS_TTFB)?;
        let service_id = optional(HAS_SERVICE_ID)?.map(unzigzag);
        let client_key_id = optional(HAS_CLIENT_KEY_ID)?.map(unzigzag);
        let key_id = optional(HAS_KEY_ID)?.map(unzigzag);
        Some(Self {
            present,
            packing,
            attempts,
            latency_ms,
            input_tokens,
            output_tokens,
            ttfb_ms,
            service_id,
            client_key_id,
            key_id,
        })
    }
}

/// What the request log's filters test, read from a record in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels<'a> {
    /// Status sent to the client.
    pub status: u16,
    /// Service slug.
    pub service: &'a str,
    /// Client key name.
    pub client_key: &'a str,
}

impl<'a> Record<'a> {
    /// The record's status, service and client key, without decoding the
    /// rest (a filtered listing skips most rows: they cost no allocation);
    /// `None` when they do not decode.
    #[must_use]
    pub fn labels(&self) -> Option<Labels<'a>> {
        let status = u16::from_le_bytes(array(self.bytes, STATUS_AT)?);
        if !self.is_compact() {
            let mut r = Reader::new(self.bytes, HEADER + LEGACY_FIXED);
            r.legacy_text()?; // the request id
            return Some(Labels {
                status,
                service: r.legacy_text()?,
                client_key: r.legacy_text()?,
            });
        }
        let mut r = Reader::new(self.bytes, PACKING_AT + 1);
        let head = CompactHead::read(self.bytes, &mut r)?;
        if head.packing & HEX_REQUEST_ID == 0 {
            r.text()?;
        } else {
            r.bytes(16)?;
        }
        Some(Labels {
            status,
            service: r.text()?,
            client_key: r.text()?,
        })
    }
}

impl Record<'_> {
    /// The row, with id [`row_id`]`(batch_id, index)`.
    ///
    /// # Errors
    /// The record does not decode.
    pub fn decode(&self, batch_id: i64) -> Result<RequestLogEntry, DamagedBatch> {
        let entry = if self.is_compact() {
            self.read_compact(batch_id)
        } else {
            self.read_legacy(batch_id)
        };
        entry.ok_or(DamagedBatch { offset: 0 })
    }

    fn read_compact(&self, batch_id: i64) -> Option<RequestLogEntry> {
        let status = u16::from_le_bytes(array(self.bytes, STATUS_AT)?);
        let mut r = Reader::new(self.bytes, PACKING_AT + 1);
        let head = CompactHead::read(self.bytes, &mut r)?;
        let has = |bit: u8| head.present & bit != 0;
        let request_id = r.request_id(head.packing)?.into_owned();
        let service = r.text()?.to_owned();
        let client_key = r.text()?.to_owned();
        let key_hint = if has(HAS_KEY_HINT) {
            Some(r.text()?.to_owned())
        } else {
            None
        };
        let mut format = |bit: u8, coded: u8| -> Option<Option<String>> {
            if !has(bit) {
                return Some(None);
            }
            r.format(head.packing & coded != 0)
                .map(|f| Some(f.to_owned()))
        };
        let client_format = format(HAS_CLIENT_FORMAT, CODED_CLIENT_FORMAT)?;
        let upstream_format = format(HAS_UPSTREAM_FORMAT, CODED_UPSTREAM_FORMAT)?;
        let model = if has(HAS_MODEL) {
            Some(r.text()?.to_owned())
        } else {
            None
        };
        Some(RequestLogEntry {
            id: row_id(batch_id, self.index),
            time: from_unix_millis(self.at_ms),
            request_id,
            service_id: head.service_id,
            service,
            client_key_id: head.client_key_id,
            client_key,
            key_id: head.key_id,
            key_hint,
            client_format,
            upstream_format,
            model,
            status,
            attempts: u32::try_from(head.attempts).ok()?,
            latency_ms: head.latency_ms,
            ttfb_ms: head.ttfb_ms,
            input_tokens: head.input_tokens,
            output_tokens: head.output_tokens,
        })
    }

    fn read_legacy(&self, batch_id: i64) -> Option<RequestLogEntry> {
        let mut r = Reader::new(self.bytes, TIME_AT + 8);
        let [present] = r.take::<1>()?;
        let has = |bit: u8| present & bit != 0;
        let status = u16::from_le_bytes(r.take()?);
        let attempts = u32::from_le_bytes(r.take()?);
        let (latency_ms, ttfb_ms) = (r.u64()?, r.u64()?);
        let (input_tokens, output_tokens) = (r.u64()?, r.u64()?);
        let (service_id, client_key_id, key_id) = (r.i64()?, r.i64()?, r.i64()?);
        let request_id = r.legacy_text()?.to_owned();
        let service = r.legacy_text()?.to_owned();
        let client_key = r.legacy_text()?.to_owned();
        let mut optional = |bit: u8| -> Option<Option<String>> {
            let text = r.legacy_text()?;
            Some(has(bit).then(|| text.to_owned()))
        };
        let key_hint = optional(HAS_KEY_HINT)?;
        let client_format = optional(HAS_CLIENT_FORMAT)?;
        let upstream_format = optional(HAS_UPSTREAM_FORMAT)?;
        let model = optional(HAS_MODEL)?;
        Some(RequestLogEntry {
            id: row_id(batch_id, self.index),
            time: from_unix_millis(self.at_ms),
            request_id,
            service_id: has(HAS_SERVICE_ID).then_some(service_id),
            service,
            client_key_id: has(HAS_CLIENT_KEY_ID).then_some(client_key_id),
            client_key,
            key_id: has(HAS_KEY_ID).then_some(key_id),
            key_hint,
            client_format,
            upstream_format,
            model,
            status,
            attempts,
            latency_ms,
            ttfb_ms: has(HAS_TTFB).then_some(ttfb_ms),
            input_tokens,
            output_tokens,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{pack, records, RequestLogFields, COMPACT};
    use super::*;
    use crate::request_log::first_chars as clip;

    /// The layout written before the compact one, as it was written: stored
    /// batches may hold it.
    fn encode_legacy(fields: &RequestLogFields<'_>, out: &mut Vec<u8>) {
        let texts = [
            clip(fields.request_id, 128),
            clip(fields.service, 63),
            clip(fields.client_key, 100),
            clip(fields.key_hint.unwrap_or(""), 32),
            clip(fields.client_format.unwrap_or(""), 32),
            clip(fields.upstream_format.unwrap_or(""), 32),
            clip(fields.model.unwrap_or(""), 128),
        ];
        let start = out.len();
        out.extend_from_slice(&[0; HEADER]);
        out.extend_from_slice(&fields.at_ms.to_le_bytes());
        let present = fields.presence_bits();
        out.push(present);
        out.extend_from_slice(&fields.status.to_le_bytes());
        out.extend_from_slice(&fields.attempts.to_le_bytes());
        for n in [
            fields.latency_ms,
            fields.ttfb_ms.unwrap_or(0),
            fields.input_tokens,
            fields.output_tokens,
        ] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for id in [fields.service_id, fields.client_key_id, fields.key_id] {
            out.extend_from_slice(&id.unwrap_or(0).to_le_bytes());
        }
        for text in texts {
            out.extend_from_slice(&(text.len() as u16).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        let body = (out.len() - start - HEADER) as u16;
        out[start + 2..start + HEADER].copy_from_slice(&body.to_le_bytes());
    }

    fn entries() -> Vec<RequestLogEntry> {
        let base = RequestLogEntry {
            id: 0,
            time: from_unix_millis(1_700_000_000_000),
            request_id: "0123456789abcdef0123456789abcdef".into(),
            service_id: Some(3),
            service: "svc".into(),
            client_key_id: Some(-9),
            client_key: "team".into(),
            key_id: Some(i64::MAX),
            key_hint: Some("sk-a****yz".into()),
            client_format: Some("openai".into()),
            upstream_format: Some("anthropic_native".into()),
            model: Some("gpt-4o-mini".into()),
            status: 200,
            attempts: u32::MAX,
            latency_ms: u64::MAX,
            ttfb_ms: Some(7),
            input_tokens: 1 << 40,
            output_tokens: 0,
        };
        vec![
            base.clone(),
            RequestLogEntry {
                request_id: "Client-Chosen/ID".into(),
                service_id: None,
                client_key_id: None,
                key_id: None,
                key_hint: None,
                client_format: Some("a-format-from-later".into()),
                upstream_format: None,
                model: None,
                ttfb_ms: None,
                status: 502,
                ..base.clone()
            },
            RequestLogEntry {
                request_id: "0123456789ABCDEF0123456789abcdef".into(),
                service: "другой".into(),
                client_key: String::new(),
                model: Some(String::new()),
                key_id: Some(i64::MIN),
                ..base
            },
        ]
    }

    fn decode_all(bytes: &[u8]) -> Vec<RequestLogEntry> {
        records(bytes)
            .map(|r| r.and_then(|r| r.decode(1)))
            .collect::<Result<_, _>>()
            .unwrap_or_default()
    }

    #[test]
    fn both_layouts_decode_to_the_same_rows_and_labels() {
        let (mut compact, mut legacy) = (Vec::new(), Vec::new());
        for entry in entries() {
            entry.fields().encode(&mut compact);
            encode_legacy(&entry.fields(), &mut legacy);
        }
        let expected: Vec<RequestLogEntry> = entries()
            .into_iter()
            .map(|e| RequestLogEntry {
                id: row_id(1, 0),
                ..e
            })
            .collect();
        assert_eq!(decode_all(&compact), expected);
        assert_eq!(decode_all(&legacy), expected);
        let labels = |bytes: &[u8]| -> Vec<Option<(u16, String, String)>> {
            records(bytes)
                .flatten()
                .map(|r| {
                    r.labels()
                        .map(|l| (l.status, l.service.to_owned(), l.client_key.to_owned()))
                })
                .collect()
        };
        assert_eq!(labels(&compact), labels(&legacy));
        assert_eq!(labels(&compact)[2].as_ref().map(|l| l.0), Some(200));
        assert!(compact.len() < legacy.len());
        // A batch holding both (rows written before and after an upgrade).
        let mut mixed = legacy.clone();
        mixed.extend_from_slice(&compact);
        let batches = pack([mixed.as_slice()], &mut Vec::new()).unwrap_or_default();
        assert_eq!(decode_all(&batches[0].bytes).len(), 6);
    }

    #[test]
    fn a_typical_request_takes_under_half_the_bytes_it_did() {
        let typical = RequestLogEntry {
            client_key_id: Some(9),
            key_id: Some(17),
            attempts: 1,
            latency_ms: 230,
            ttfb_ms: Some(180),
            input_tokens: 1200,
            output_tokens: 300,
            ..entries()[0].clone()
        };
        let (mut compact, mut legacy) = (Vec::new(), Vec::new());
        typical.fields().encode(&mut compact);
        encode_legacy(&typical.fields(), &mut legacy);
        assert!(
            compact.len() < 90 && compact.len() * 2 < legacy.len(),
            "compact {} bytes, legacy {}",
            compact.len(),
            legacy.len()
        );
        assert_ne!(u16::from_le_bytes([compact[2], compact[3]]) & COMPACT, 0);
        assert_eq!(
            decode_all(&compact),
            [RequestLogEntry {
                id: row_id(1, 0),
                ..typical
            }]
        );
    }

    #[test]
    fn damaged_compact_records_are_errors_not_panics() {
        let mut bytes = Vec::new();
        for entry in entries() {
            entry.fields().encode(&mut bytes);
        }
        for cut in 0..bytes.len() {
            for record in records(&bytes[..cut]).flatten() {
                assert!(record.decode(1).is_ok());
            }
        }
        for at in HEADER..bytes.len() {
            for value in [0x00, 0x7F, 0x80, 0xFF] {
                let mut bad = bytes.clone();
                bad[at] = value;
                for record in records(&bad).flatten() {
                    let _ = (record.decode(1), record.labels());
                }
            }
        }
        let mut bad_code = Vec::new();
        entries()[0].fields().encode(&mut bad_code);
        let client_format_code = bad_code.len() - 12 - 2; // after it: the upstream code, the model text
        bad_code[client_format_code] = 200;
        let first = records(&bad_code).next().and_then(Result::ok);
        assert!(
            first.is_some_and(|r| r.decode(1).is_err()),
            "an unknown format code"
        );
    }
}
