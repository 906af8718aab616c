//! The request log's stored form: rows packed into batches of up to
//! [`BATCH_BYTES`], one database row per batch.
//!
//! Why not one database row per request: at tens of thousands of requests a
//! second, the database's per-row work (B-tree inserts into the table and
//! its filter indexes, binding 17 values) cost more than everything else
//! telemetry does together (docs/benchmarks.md). A batch is one insert;
//! listing decodes batches newest first and filters in memory.
//!
//! A row's id is its batch's id and its index in the batch
//! ([`row_id`]), so ids grow with insertion order and stay put when older
//! rows of the same batch are pruned.
//!
//! Record layout, little-endian: `u16` index, `u16` body length (its top
//! bit set: the compact layout below), `i64` time (Unix ms), `u8` presence
//! bits, `u16` status — at fixed places, so filters read them in place —
//! then, in the compact layout ([`RequestLogFields::encode`]), a `u8` of packing bits,
//! LEB128 varints for attempts, latency, ttfb (when present), input and
//! output tokens and the ids present (zigzag), and the texts present as a
//! varint length and UTF-8 (request id — 16 raw bytes when it is 32
//! lowercase hex digits, as generated ones are —, service, client key, key
//! hint, client format, upstream format — one byte when a known name —,
//! model): ≈ 80 bytes for a typical request instead of ≈ 170. Records
//! written before it (top bit clear) keep their layout and are still read:
//! `u32` attempts, `u64` latency, ttfb, input and output tokens, `i64` ids,
//! then all seven texts as `u16` length and UTF-8.

use super::{first_chars as clip, RequestLogEntry};
use crate::time_fmt::{from_unix_millis, unix_millis};
use crate::{ClientKeyId, ConfigId, KeyId};

mod decode;
mod encode;

pub use decode::Labels;

/// A batch grows until it holds this many bytes (one more record may follow,
/// so a batch stays below MySQL's 64 KiB `BLOB`).
pub const BATCH_BYTES: usize = 32 * 1024;

/// Room for the record that takes a batch past [`BATCH_BYTES`] (most
/// records are a few hundred bytes; a longer one grows its batch once).
const BATCH_SLACK: usize = 1024;

/// Header bytes before the record's body: index and body length.
const HEADER: usize = 4;
/// The body length's bit that marks the compact layout.
const COMPACT: u16 = 1 << 15;
/// Body bytes before the varints, in the compact layout.
const COMPACT_FIXED: usize = 8 + 1 + 2 + 1;
/// Body bytes before the texts, in the layout before the compact one.
const LEGACY_FIXED: usize = 8 + 1 + 2 + 4 + 8 * 4 + 8 * 3;
/// Where the time sits in a record.
const TIME_AT: usize = HEADER;
/// Where the status sits in a record (after the time and the presence bits).
const STATUS_AT: usize = TIME_AT + 8 + 1;
/// Where the packing bits sit in a compact record.
const PACKING_AT: usize = STATUS_AT + 2;
/// Bytes a flush's records take on average, for reserving room ahead.
const TYPICAL_RECORD: usize = 80;

const HAS_SERVICE_ID: u8 = 1;
const HAS_CLIENT_KEY_ID: u8 = 1 << 1;
const HAS_KEY_ID: u8 = 1 << 2;
const HAS_KEY_HINT: u8 = 1 << 3;
const HAS_CLIENT_FORMAT: u8 = 1 << 4;
const HAS_UPSTREAM_FORMAT: u8 = 1 << 5;
const HAS_MODEL: u8 = 1 << 6;
const HAS_TTFB: u8 = 1 << 7;

/// Longest texts kept, in characters (the limits of the earlier
/// one-row-per-request table, which the console and API were built around).
const REQUEST_ID_CHARS: usize = 128;
/// A service slug's limit.
pub const SERVICE_CHARS: usize = 63;
const CLIENT_KEY_CHARS: usize = 100;
const SHORT_CHARS: usize = 32;
/// A model name's limit.
pub const MODEL_CHARS: usize = 128;

/// The id of row `index` of batch `batch_id`.
#[must_use]
pub fn row_id(batch_id: i64, index: u16) -> i64 {
    (batch_id << 16) | i64::from(index)
}

/// The batch id and index of row id `id`.
#[must_use]
pub fn split_row_id(id: i64) -> (i64, u16) {
    (id >> 16, (id & 0xFFFF) as u16)
}

/// A request's log fields, borrowed: what the proxy hands the log without
/// allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLogFields<'a> {
    /// Arrival, Unix milliseconds.
    pub at_ms: i64,
    /// `X-Request-Id`.
    pub request_id: &'a str,
    /// The 16 bytes `request_id` spells in lowercase hex, when the caller
    /// made the id from them (the gateway's own ids): stored without reading
    /// the digits back. `None`: read from `request_id` when it is such an id.
    pub request_id_bytes: Option<[u8; 16]>,
    /// Service id.
    pub service_id: Option<ConfigId>,
    /// Service slug.
    pub service: &'a str,
    /// Client key id.
    pub client_key_id: Option<ClientKeyId>,
    /// Client key name.
    pub client_key: &'a str,
    /// Upstream key that answered.
    pub key_id: Option<KeyId>,
    /// Its masked hint.
    pub key_hint: Option<&'a str>,
    /// Client API format.
    pub client_format: Option<&'a str>,
    /// Upstream API format.
    pub upstream_format: Option<&'a str>,
    /// Model.
    pub model: Option<&'a str>,
    /// Status sent to the client.
    pub status: u16,
    /// Upstream calls made.
    pub attempts: u32,
    /// Milliseconds to the end of the answer.
    pub latency_ms: u64,
    /// Milliseconds to the answer's head.
    pub ttfb_ms: Option<u64>,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl RequestLogEntry {
    /// This entry's fields, borrowed.
    #[must_use]
    pub fn fields(&self) -> RequestLogFields<'_> {
        RequestLogFields {
            at_ms: unix_millis(&self.time),
            request_id: &self.request_id,
            request_id_bytes: None,
            service_id: self.service_id,
            service: &self.service,
            client_key_id: self.client_key_id,
            client_key: &self.client_key,
            key_id: self.key_id,
            key_hint: self.key_hint.as_deref(),
            client_format: self.client_format.as_deref(),
            upstream_format: self.upstream_format.as_deref(),
            model: self.model.as_deref(),
            status: self.status,
            attempts: self.attempts,
            latency_ms: self.latency_ms,
            ttfb_ms: self.ttfb_ms,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
        }
    }
}

/// A batch's bytes do not decode (a damaged row in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a packed request-log batch is damaged at byte {offset}")]
pub struct DamagedBatch {
    /// Where decoding stopped.
    pub offset: usize,
}

/// One record of a batch, undecoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its index in the batch.
    pub index: u16,
    /// Its time, Unix milliseconds.
    pub at_ms: i64,
    /// Its bytes, header included.
    pub bytes: &'a [u8],
}

/// The records of `bytes`, in order.
pub fn records(bytes: &[u8]) -> impl Iterator<Item = Result<Record<'_>, DamagedBatch>> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        if offset >= bytes.len() {
            return None;
        }
        let record = record_at(bytes, offset);
        offset = match &record {
            Ok(record) => offset + record.bytes.len(),
            Err(_) => bytes.len(), // nothing after a damaged record can be found
        };
        Some(record)
    })
}

fn record_at(bytes: &[u8], offset: usize) -> Result<Record<'_>, DamagedBatch> {
    let damaged = DamagedBatch { offset };
    let rest = bytes.get(offset..).ok_or(damaged)?;
    let index = u16::from_le_bytes(array(rest, 0).ok_or(damaged)?);
    let length = u16::from_le_bytes(array(rest, 2).ok_or(damaged)?);
    let body = usize::from(length & !COMPACT);
    let record = rest.get(..HEADER + body).ok_or(damaged)?;
    let fixed = if length & COMPACT == 0 {
        LEGACY_FIXED
    } else {
        COMPACT_FIXED
    };
    if body < fixed {
        return Err(damaged);
    }
    let at_ms = i64::from_le_bytes(array(record, TIME_AT).ok_or(damaged)?);
    Ok(Record {
        index,
        at_ms,
        bytes: record,
    })
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

impl Record<'_> {
    /// Whether the record has the compact layout.
    fn is_compact(&self) -> bool {
        array(self.bytes, 2).is_some_and(|length| u16::from_le_bytes(length) & COMPACT != 0)
    }
}

/// A batch ready to be stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackedBatch {
    /// The records.
    pub bytes: Vec<u8>,
    /// How many.
    pub rows: u32,
    /// The oldest record's time, Unix milliseconds.
    pub first_at_ms: i64,
    /// The newest record's time, Unix milliseconds.
    pub last_at_ms: i64,
}

impl PackedBatch {
    fn push(&mut self, record: &Record<'_>) {
        if self.rows == 0 {
            self.first_at_ms = record.at_ms;
            self.last_at_ms = record.at_ms;
        }
        self.first_at_ms = self.first_at_ms.min(record.at_ms);
        self.last_at_ms = self.last_at_ms.max(record.at_ms);
        self.bytes.extend_from_slice(record.bytes);
        self.rows += 1;
    }

    /// The records of `bytes` kept by `keep`, with their indexes (what
    /// pruning leaves of a stored batch); `None` when none is kept.
    ///
    /// # Errors
    /// `bytes` does not decode.
    pub fn retain(
        bytes: &[u8],
        mut keep: impl FnMut(&Record<'_>) -> bool,
    ) -> Result<Option<Self>, DamagedBatch> {
        let mut batch = Self::default();
        for record in records(bytes) {
            let record = record?;
            if keep(&record) {
                batch.push(&record);
            }
        }
        Ok((batch.rows > 0).then_some(batch))
    }
}

/// Packs records written by [`RequestLogFields::encode`] (any number, back
/// to back, in one or more `parts`) into batches, in time order (records of
/// one flush come from several queue shards), numbering each batch's records
/// from 0. A batch's bytes come from `spare` while it has buffers (emptied
/// first): buffers reused from the last flush are memory already mapped,
/// where fresh ones cost a page fault every 4 KiB. Records after a damaged
/// one in its part are lost: the bytes come from this process, so that is a
/// bug, not input.
///
/// # Errors
/// The batches packed, without the damaged part's rest, and where the
/// damage was.
pub fn pack<'a>(
    parts: impl IntoIterator<Item = &'a [u8]>,
    spare: &mut Vec<Vec<u8>>,
) -> Result<Vec<PackedBatch>, (Vec<PackedBatch>, DamagedBatch)> {
    let mut in_order = Vec::new();
    let mut damage = None;
    for part in parts {
        // Room for as many records as the bytes could hold, and below for
        // each batch's bytes: grown by doubling, a batch was copied about
        // once more in all, which showed in what the request log costs per
        // request.
        in_order.reserve(part.len() / TYPICAL_RECORD);
        for record in records(part) {
            match record {
                Ok(record) => in_order.push(record),
                Err(at) => damage = Some(at),
            }
        }
    }
    in_order.sort_by_key(|record| record.at_ms); // stable: ties keep queue order
    let mut batches: Vec<PackedBatch> = Vec::new();
    let mut left: usize = in_order.iter().map(|r| r.bytes.len()).sum();
    for record in &in_order {
        let full = batches
            .last()
            .is_none_or(|b| b.bytes.len() >= BATCH_BYTES || b.rows >= u32::from(u16::MAX));
        if full {
            let room = left.min(BATCH_BYTES + BATCH_SLACK);
            let mut bytes = spare.pop().unwrap_or_default();
            bytes.clear();
            bytes.reserve(room);
            batches.push(PackedBatch {
                bytes,
                ..PackedBatch::default()
            });
        }
        left -= record.bytes.len();
        if let Some(batch) = batches.last_mut() {
            let index = u16::try_from(batch.rows).unwrap_or(u16::MAX);
            let start = batch.bytes.len();
            batch.push(record);
            batch.bytes[start..start + 2].copy_from_slice(&index.to_le_bytes());
        }
    }
    match damage {
        Some(at) => Err((batches, at)),
        None => Ok(batches),
    }
}

/// Packs whole entries (tests, imports).
#[must_use]
pub fn pack_entries(entries: &[RequestLogEntry]) -> Vec<PackedBatch> {
    let mut encoded = Vec::new();
    for entry in entries {
        entry.fields().encode(&mut encoded);
    }
    // Freshly encoded records always decode.
    pack([encoded.as_slice()], &mut Vec::new()).unwrap_or_else(|(batches, _)| batches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> RequestLogEntry {
        RequestLogEntry {
            id: 0,
            time: from_unix_millis(1_700_000_000_000 + i64::from(n)),
            request_id: format!("req-{n}"),
            service_id: Some(3),
            service: "svc".into(),
            client_key_id: n.is_multiple_of(2).then_some(9),
            client_key: "team".into(),
            key_id: Some(-4),
            key_hint: Some("sk-a****yz".into()),
            client_format: Some("openai".into()),
            upstream_format: None,
            model: Some(String::new()),
            status: 429,
            attempts: 3,
            latency_ms: u64::MAX,
            ttfb_ms: n.is_multiple_of(3).then_some(7),
            input_tokens: 11,
            output_tokens: 0,
        }
    }

    /// Where `text` starts in `bytes`.
    fn text_at(bytes: &[u8], text: &[u8]) -> usize {
        bytes
            .windows(text.len())
            .position(|w| w == text)
            .unwrap_or(0)
    }

    fn decoded(batch: &PackedBatch, batch_id: i64) -> Vec<RequestLogEntry> {
        records(&batch.bytes)
            .map(|r| r.and_then(|r| r.decode(batch_id)))
            .collect::<Result<_, _>>()
            .unwrap_or_default()
    }

    #[test]
    fn every_field_survives_packing() {
        let entries: Vec<RequestLogEntry> = (0..6).map(entry).collect();
        let batches = pack_entries(&entries);
        assert_eq!(batches.len(), 1);
        let rows = decoded(&batches[0], 5);
        let expected: Vec<RequestLogEntry> = entries
            .iter()
            .zip(0u16..)
            .map(|(e, i)| RequestLogEntry {
                id: row_id(5, i),
                ..e.clone()
            })
            .collect();
        assert_eq!(rows, expected);
        assert_eq!(batches[0].rows, 6);
        assert_eq!(batches[0].first_at_ms, 1_700_000_000_000);
        assert_eq!(batches[0].last_at_ms, 1_700_000_000_005);
    }

    #[test]
    fn a_generated_id_given_as_bytes_is_stored_as_its_digits_would_be() {
        let mut generated = entry(1);
        generated.request_id = "00ff10a0b1c2d3e4f5061728394a5b6c".into();
        let raw = [
            0x00, 0xff, 0x10, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5, 0x06, 0x17, 0x28, 0x39, 0x4a,
            0x5b, 0x6c,
        ];
        let (mut from_digits, mut from_bytes) = (Vec::new(), Vec::new());
        generated.fields().encode(&mut from_digits);
        RequestLogFields {
            request_id_bytes: Some(raw),
            ..generated.fields()
        }
        .encode(&mut from_bytes);
        assert_eq!(from_bytes, from_digits);
        let mut text = entry(1);
        text.request_id = "z".repeat(32);
        let mut from_text = Vec::new();
        text.fields().encode(&mut from_text);
        assert_eq!(
            from_text.len() - from_digits.len(),
            17,
            "16 bytes instead of a length and 32 characters"
        );
    }

    #[test]
    fn labels_are_read_in_place_as_decoding_reads_them() {
        let mut entries: Vec<RequestLogEntry> = (0..4).map(entry).collect();
        entries[1].service = "другой".into();
        entries[2].client_key = String::new();
        entries[3].status = 502;
        let batch = &pack_entries(&entries)[0];
        for (record, row) in records(&batch.bytes).flatten().zip(decoded(batch, 1)) {
            let labels = record.labels();
            assert_eq!(
                labels,
                Some(Labels {
                    status: row.status,
                    service: &row.service,
                    client_key: &row.client_key,
                })
            );
        }
        let statuses: Vec<u16> = records(&batch.bytes)
            .flatten()
            .filter_map(|r| r.labels().map(|l| l.status))
            .collect();
        assert_eq!(statuses, [429, 429, 429, 502]);
        let mut bad_text = batch.bytes.clone();
        bad_text[text_at(&batch.bytes, b"req-0")] = 0xFF; // the request id is not UTF-8
        let first = records(&bad_text).next().and_then(Result::ok);
        assert!(first.is_some_and(|r| r.labels().is_none()));
    }

    #[test]
    fn long_texts_are_clipped_by_characters() {
        let mut long = entry(1);
        long.model = Some("é".repeat(300));
        long.request_id = "r".repeat(500);
        let rows = decoded(&pack_entries(&[long])[0], 1);
        assert_eq!(rows[0].model.as_deref(), Some("é".repeat(128).as_str()));
        assert_eq!(rows[0].request_id.len(), 128);
    }

    #[test]
    fn batches_close_at_their_size_and_number_from_zero() {
        let entries: Vec<RequestLogEntry> = (0..1000).map(entry).collect();
        let batches = pack_entries(&entries);
        assert!(batches.len() > 1);
        assert!(batches.iter().all(|b| b.bytes.len() < 64 * 1024));
        let total: u32 = batches.iter().map(|b| b.rows).sum();
        assert_eq!(total, 1000);
        let second = decoded(&batches[1], 2);
        assert_eq!(second[0].id, row_id(2, 0));
        assert_eq!(second[0].request_id, format!("req-{}", batches[0].rows));
    }

    #[test]
    fn retained_records_keep_their_indexes() {
        let batch = &pack_entries(&(0..5).map(entry).collect::<Vec<_>>())[0];
        let kept = PackedBatch::retain(&batch.bytes, |r| r.index % 2 == 1)
            .ok()
            .flatten()
            .unwrap_or_default();
        let ids: Vec<i64> = decoded(&kept, 1).iter().map(|e| e.id).collect();
        assert_eq!(ids, [row_id(1, 1), row_id(1, 3)]);
        assert_eq!(kept.first_at_ms, 1_700_000_000_001);
        assert_eq!(PackedBatch::retain(&batch.bytes, |_| false), Ok(None));
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let batch = &pack_entries(&[entry(1), entry(2)])[0];
        for cut in 0..batch.bytes.len() {
            let bytes = &batch.bytes[..cut];
            let complete = records(bytes).filter(Result::is_ok).count();
            assert!(complete <= 1);
            for record in records(bytes).flatten() {
                assert!(record.decode(1).is_ok());
            }
        }
        let mut bad = batch.bytes.clone();
        bad[2] = 1; // a body shorter than its fixed part
        assert_eq!(records(&bad).next(), Some(Err(DamagedBatch { offset: 0 })));
        let mut bad_text = batch.bytes.clone();
        bad_text[text_at(&batch.bytes, b"req-1")] = 0xFF; // not UTF-8
        let first = records(&bad_text).next().and_then(Result::ok);
        assert!(first.is_some_and(|r| r.decode(1).is_err()));
    }

    #[test]
    fn records_are_numbered_in_time_order() {
        let mut encoded = Vec::new();
        for (position, n) in [3, 1, 2, 1].into_iter().enumerate() {
            let mut e = entry(n);
            e.request_id = format!("{n}-{position}");
            e.fields().encode(&mut encoded);
        }
        let batches = pack([encoded.as_slice()], &mut Vec::new()).unwrap_or_default();
        let rows = decoded(&batches[0], 1);
        let times: Vec<i64> = rows.iter().map(|r| unix_millis(&r.time)).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        let ids: Vec<&str> = rows.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids, ["1-1", "1-3", "2-2", "3-0"], "ties keep queue order");
    }

    #[test]
    fn parts_are_packed_together_into_spare_buffers() {
        let mut parts = [Vec::new(), Vec::new()];
        for n in 0..6u32 {
            entry(n).fields().encode(&mut parts[(n % 2) as usize]);
        }
        let mut spare = vec![b"stale bytes".to_vec()];
        let batches = pack(parts.iter().map(Vec::as_slice), &mut spare).unwrap_or_default();
        assert!(spare.is_empty(), "the spare buffer was taken");
        assert_eq!(batches.len(), 1);
        let ids: Vec<String> = decoded(&batches[0], 1)
            .into_iter()
            .map(|e| e.request_id)
            .collect();
        assert_eq!(
            ids,
            ["req-0", "req-1", "req-2", "req-3", "req-4", "req-5"],
            "in time order across parts, the spare's old bytes gone"
        );
        // Reserving may move a small buffer; a large enough one stays put.
        let mut spare = vec![Vec::with_capacity(BATCH_BYTES + BATCH_SLACK)];
        let reused_large = spare[0].as_ptr();
        let batches = pack(parts.iter().map(Vec::as_slice), &mut spare).unwrap_or_default();
        assert_eq!(batches[0].bytes.as_ptr(), reused_large);
    }

    #[test]
    fn row_ids_order_by_batch_then_index() {
        assert!(row_id(2, 0) > row_id(1, u16::MAX));
        assert_eq!(split_row_id(row_id(77, 513)), (77, 513));
    }
}
