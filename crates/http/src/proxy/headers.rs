//! Header and query-string handling shared by both proxies.

use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `X-Api-Key` (Anthropic's client key header). Header names are looked up
/// as constants: a name given as a string is parsed on every lookup.
pub const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// `X-Goog-Api-Key` (Gemini's client key header).
pub const X_GOOG_API_KEY: HeaderName = HeaderName::from_static("x-goog-api-key");
/// `Anthropic-Version`.
pub const ANTHROPIC_VERSION: HeaderName = HeaderName::from_static("anthropic-version");

/// The `Anthropic-Version` the gateway sends when the client sent none.
pub fn anthropic_version() -> (HeaderName, HeaderValue) {
    (ANTHROPIC_VERSION, HeaderValue::from_static("2023-06-01"))
}

/// Asks for an uncompressed answer (one the gateway reads as it passes):
/// the client's `Accept-Encoding` is replaced by `identity`.
pub fn ask_identity_encoding(headers: &mut Vec<(HeaderName, HeaderValue)>) {
    headers.retain(|(name, _)| *name != header::ACCEPT_ENCODING);
    headers.push((
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    ));
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and `Host`: never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "host",
];

/// Whether `name` must not cross the proxy, given the `Connection` header's
/// list of extra hop-by-hop names.
fn is_hop_by_hop(name: &HeaderName, connection_listed: &[String]) -> bool {
    let name = name.as_str();
    HOP_BY_HOP.contains(&name) || connection_listed.iter().any(|listed| listed == name)
}

fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

/// Headers to forward: everything but hop-by-hop headers, `Content-Length`
/// (the body carries its own size) and the names in `strip` (lower case).
/// Repeated headers stay separate and in order.
pub fn forwardable<'a>(
    headers: &'a HeaderMap,
    strip: &'a [&'a str],
) -> impl Iterator<Item = (&'a HeaderName, &'a actix_web::http::header::HeaderValue)> + 'a {
    let listed = connection_listed(headers);
    headers.iter().filter(move |(name, _)| {
        !is_hop_by_hop(name, &listed)
            && name.as_str() != "content-length"
            && !strip.contains(&name.as_str())
    })
}

/// The declared body length, if any.
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Whether a request carries a body (a length above zero, or chunked).
pub fn has_body(headers: &HeaderMap) -> bool {
    content_length(headers).is_some_and(|n| n > 0)
        || headers.contains_key(header::TRANSFER_ENCODING)
}

/// The query string without the parameters named `drop` (raw pairs keep
/// their encoding and order), plus `add` appended percent-encoded.
pub fn rewrite_query(query: &str, drop: &[&str], add: Option<(&str, &str)>) -> String {
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !drop
                .iter()
                .any(|d| *d == name || percent_decode(name).as_deref() == Some(*d))
        })
        .map(str::to_owned)
        .collect();
    if let Some((name, value)) = add {
        pairs.push(format!(
            "{}={}",
            percent_encode(name),
            percent_encode(value)
        ));
    }
    pairs.join("&")
}

/// The first value of query parameter `name`, decoded.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| percent_decode(value).unwrap_or_else(|| value.to_owned()))
    })
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    #[test]
    fn hop_by_hop_and_connection_listed_headers_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.append(
            HeaderName::from_static("connection"),
            HeaderValue::from_static("close, x-private"),
        );
        headers.append(
            HeaderName::from_static("x-private"),
            HeaderValue::from_static("1"),
        );
        headers.append(
            HeaderName::from_static("keep-alive"),
            HeaderValue::from_static("5"),
        );
        headers.append(
            HeaderName::from_static("host"),
            HeaderValue::from_static("gw"),
        );
        headers.append(
            HeaderName::from_static("x-multi"),
            HeaderValue::from_static("a"),
        );
        headers.append(
            HeaderName::from_static("x-multi"),
            HeaderValue::from_static("b"),
        );
        headers.append(
            HeaderName::from_static("x-proxy-key"),
            HeaderValue::from_static("secret"),
        );
        let kept: Vec<(String, String)> = forwardable(&headers, &["x-proxy-key"])
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            kept,
            vec![
                ("x-multi".into(), "a".into()),
                ("x-multi".into(), "b".into())
            ]
        );
    }

    #[test]
    fn query_rewrite_keeps_order_and_repeats() {
        assert_eq!(
            rewrite_query(
                "a=1&key=client&a=2&b=%20x",
                &["key"],
                Some(("key", "sk/1+2"))
            ),
            "a=1&a=2&b=%20x&key=sk%2F1%2B2"
        );
        assert_eq!(rewrite_query("", &[], Some(("appid", "k"))), "appid=k");
        assert_eq!(rewrite_query("x=1", &["y"], None), "x=1");
        assert_eq!(query_value("a=1&key=r%2Bk", "key").as_deref(), Some("r+k"));
        assert_eq!(query_value("a=1", "key"), None);
    }
}
