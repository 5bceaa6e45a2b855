//! The paging parameters every list route reads the same way: `limit` (1 to the route's
//! maximum) and `before` (the `nextBefore` cursor of an earlier page), each a clear 400 when
//! malformed.

use super::ApiError;

/// The default page, when a request names no `limit`.
pub const DEFAULT_LIMIT: u32 = 50;

/// Parses `limit` and `before` from their query-string texts.
pub fn parse(
    limit: Option<&str>,
    before: Option<&str>,
    max: u32,
) -> Result<(u32, Option<i64>), ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT.min(max),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("invalid_limit", format!("limit is 1 to {max}"))
            })?,
    };
    let before = before
        .map(|text| {
            text.parse::<i64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "before is the nextBefore of an earlier page",
                )
            })
        })
        .transpose()?;
    Ok((limit, before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert_eq!(parse(None, None, 200).unwrap(), (DEFAULT_LIMIT, None));
        assert_eq!(parse(Some("7"), Some("42"), 200).unwrap(), (7, Some(42)));
        for (limit, before, code) in [
            (Some("0"), None, "invalid_limit"),
            (Some("201"), None, "invalid_limit"),
            (Some("x"), None, "invalid_limit"),
            (None, Some("x"), "invalid_cursor"),
        ] {
            assert_eq!(parse(limit, before, 200).unwrap_err().code, code);
        }
    }
}
