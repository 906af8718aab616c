//! Masking of secrets for display and logs.

/// Number of leading characters a masked secret keeps.
const VISIBLE_PREFIX: usize = 6;
/// Number of trailing characters a masked secret keeps.
const VISIBLE_SUFFIX: usize = 3;
/// Below this length a secret is masked completely: showing 9 characters of a
/// short secret would reveal most of it.
const MIN_LEN_FOR_HINT: usize = 16;
const MASK: &str = "*****";

/// Masks a secret as `first 6 + ***** + last 3`; secrets shorter than 16
/// characters become `*****`.
///
/// ```
/// assert_eq!(domain::mask_secret("sk-abcdefghijklmnopxyz"), "sk-abc*****xyz");
/// assert_eq!(domain::mask_secret("short"), "*****");
/// ```
#[must_use]
pub fn mask_secret(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < MIN_LEN_FOR_HINT {
        return MASK.to_owned();
    }
    let head: String = chars[..VISIBLE_PREFIX].iter().collect();
    let tail: String = chars[chars.len() - VISIBLE_SUFFIX..].iter().collect();
    format!("{head}{MASK}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_secret_keeps_six_and_three() {
        assert_eq!(mask_secret("sk-abc1234567890xyz"), "sk-abc*****xyz");
    }

    #[test]
    fn short_secret_is_fully_masked() {
        assert_eq!(mask_secret(""), "*****");
        assert_eq!(mask_secret("123456789012345"), "*****");
    }

    #[test]
    fn multibyte_secret_does_not_panic() {
        let masked = mask_secret("ключключключключключ");
        assert_eq!(masked, "ключкл*****люч");
    }
}
