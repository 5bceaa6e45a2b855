//! A strict parser of `multipart/form-data` bodies (RFC 7578 over RFC 2046), whole in memory.
//!
//! The body is `--BOUNDARY CRLF part (CRLF --BOUNDARY CRLF part)* CRLF --BOUNDARY--`, where each
//! part is header lines, an empty line and its bytes. A preamble before the first boundary line
//! and an epilogue after the last are ignored, as RFC 2046 says; anything else out of that
//! shape is refused: a boundary line not ending in CRLF, bare LF line endings, a part without
//! `Content-Disposition: form-data; name=...`, folded or nameless header lines, a transfer
//! encoding other than the identity, a body that never closes. The boundary comes from the
//! Content-Type's `boundary` parameter, quoted or not.
//!
//! A part's quoted `name` and `filename` are read as browsers write them (the HTML standard):
//! `"`, CR and LF come as `%22`, `%0D` and `%0A`, and `\` is a character like any other.

use thiserror::Error;

/// Parts beyond this many are refused: a form of a few fields and one file needs far fewer.
const MAX_PARTS: usize = 32;
/// A part's header section may be at most this long.
const MAX_HEADERS: usize = 8 * 1024;

/// One field of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub name: String,
    /// Set for a file.
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("malformed multipart/form-data: {0}")]
pub struct Malformed(String);

fn malformed<T>(reason: impl Into<String>) -> Result<T, Malformed> {
    Err(Malformed(reason.into()))
}

/// The boundary of a `multipart/form-data` Content-Type: 1 to 70 of RFC 2046's characters,
/// not ending in a space.
pub fn boundary(content_type: &str) -> Result<String, Malformed> {
    let (essence, rest) =
        content_type.split_at(content_type.find(';').unwrap_or(content_type.len()));
    if !essence.trim().eq_ignore_ascii_case("multipart/form-data") {
        return malformed(format!("{essence:?} is not multipart/form-data"));
    }
    let boundary = parameters(rest, Quoting::Escapes)?
        .into_iter()
        .find_map(|(name, value)| (name == "boundary").then_some(value))
        .ok_or_else(|| Malformed("the Content-Type has no boundary".into()))?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "'()+_,-./:=? ".contains(c);
    if !(1..=70).contains(&boundary.len())
        || !boundary.chars().all(allowed)
        || boundary.ends_with(' ')
    {
        return malformed(format!("{boundary:?} is not a valid boundary"));
    }
    Ok(boundary)
}

/// The parts of `body`, in order.
pub fn parse<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, Malformed> {
    let delimiter = format!("--{boundary}").into_bytes();
    // The first boundary line starts the body, or a line after the preamble; a line that only
    // starts with the boundary (`--BOUNDARYx`) is preamble.
    let mut at = match delimiter_at(body, &delimiter) {
        Some(after) => after,
        None => next_delimiter(body, &delimiter)
            .map(|(_, after)| after)
            .ok_or_else(|| Malformed("the body never opens with its boundary".into()))?,
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        let line = line_end(rest)
            .ok_or_else(|| Malformed("a boundary line does not end in CRLF".into()))?;
        if parts.len() == MAX_PARTS {
            return malformed(format!("more than {MAX_PARTS} parts"));
        }
        let (headers, content) = split_headers(&rest[line..])?;
        // An empty body may share the CRLF that ends the headers with the delimiter's:
        // `name="a"\r\n\r\n--BOUNDARY`.
        let (end, after) = match delimiter_at(content, &delimiter) {
            Some(after) => (0, after),
            None => next_delimiter(content, &delimiter)
                .ok_or_else(|| Malformed("the body never closes with its boundary".into()))?,
        };
        parts.push(part(headers, &content[..end])?);
        at = body.len() - content.len() + after;
    }
}

/// Where the next boundary line of `data` starts (its CRLF) and where its boundary ends. A
/// line that starts with the boundary but goes on with other characters is content.
fn next_delimiter(data: &[u8], delimiter: &[u8]) -> Option<(usize, usize)> {
    let line = [&b"\r\n"[..], delimiter].concat();
    let mut from = 0;
    loop {
        let at = from + find(&data[from..], &line)?;
        if let Some(after) = delimiter_at(&data[at + 2..], delimiter) {
            return Some((at, at + 2 + after));
        }
        from = at + 1;
    }
}

/// Where the boundary ends when `data`, at the start of a line, is a boundary line: the
/// boundary, then `--` or the line's end.
fn delimiter_at(data: &[u8], delimiter: &[u8]) -> Option<usize> {
    let tail = data.strip_prefix(delimiter)?;
    (tail.starts_with(b"--") || line_end(tail).is_some()).then_some(delimiter.len())
}

/// The length of the transport padding and CRLF that `rest` starts with, if it does.
fn line_end(rest: &[u8]) -> Option<usize> {
    let padding = rest
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t'))
        .count();
    rest[padding..].starts_with(b"\r\n").then_some(padding + 2)
}

/// A part's header section (without its final CRLF) and what follows the empty line.
fn split_headers(part: &[u8]) -> Result<(&str, &[u8]), Malformed> {
    let (headers, content) = if let Some(content) = part.strip_prefix(b"\r\n") {
        (&part[..0], content)
    } else {
        let window = &part[..part.len().min(MAX_HEADERS)];
        let end = find(window, b"\r\n\r\n").ok_or_else(|| {
            Malformed(format!(
                "a part's headers do not end in an empty line within {MAX_HEADERS} bytes"
            ))
        })?;
        (&part[..end], &part[end + 4..])
    };
    let headers =
        std::str::from_utf8(headers).map_err(|_| Malformed("part headers are not UTF-8".into()))?;
    Ok((headers, content))
}

fn part<'a>(headers: &str, body: &'a [u8]) -> Result<Part<'a>, Malformed> {
    let mut disposition = None;
    let mut content_type = None;
    for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
        if line.contains('\n') || line.contains('\r') {
            return malformed("a part's header lines end in bare CR or LF");
        }
        if line.starts_with([' ', '\t']) {
            return malformed("folded header lines are not allowed");
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Malformed(format!("{line:?} is not a header line")))?;
        if name.is_empty() || !name.chars().all(is_token_char) {
            return malformed(format!("{name:?} is not a header name"));
        }
        let value = value.trim();
        let slot = match name.to_ascii_lowercase().as_str() {
            "content-disposition" => &mut disposition,
            "content-type" => &mut content_type,
            "content-transfer-encoding"
                if ["7bit", "8bit", "binary"]
                    .iter()
                    .any(|e| value.eq_ignore_ascii_case(e)) =>
            {
                continue;
            }
            "content-transfer-encoding" => {
                return malformed(format!(
                    "Content-Transfer-Encoding {value:?} is not supported"
                ));
            }
            _ => continue,
        };
        if slot.replace(value.to_owned()).is_some() {
            return malformed(format!("a part has {name} twice"));
        }
    }
    let disposition =
        disposition.ok_or_else(|| Malformed("a part has no Content-Disposition".into()))?;
    let (kind, rest) = disposition.split_at(disposition.find(';').unwrap_or(disposition.len()));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return malformed(format!("a part's disposition is {kind:?}, not form-data"));
    }
    let mut name = None;
    let mut filename = None;
    for (param, value) in parameters(rest, Quoting::Html)? {
        let slot = match param.as_str() {
            "name" => &mut name,
            "filename" => &mut filename,
            _ => continue,
        };
        if slot.replace(value).is_some() {
            return malformed(format!("a part's disposition has {param} twice"));
        }
    }
    Ok(Part {
        name: name.ok_or_else(|| Malformed("a part has no name".into()))?,
        filename,
        content_type,
        body,
    })
}

/// How a quoted parameter value carries a `"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// RFC 2045 (and HTTP's RFC 9110): `\` escapes the character after it.
    Escapes,
    /// What browsers send in a part's Content-Disposition (the HTML standard's form
    /// encoding): `"`, CR and LF as `%22`, `%0D` and `%0A`, and `\` as itself, so that a
    /// name such as `C:\dir\` arrives whole.
    Html,
}

/// `; name=value` pairs (RFC 2045) from the first `;` on, a value a token or a quoted string
/// (as `quoting` says); names lowercase.
fn parameters(mut rest: &str, quoting: Quoting) -> Result<Vec<(String, String)>, Malformed> {
    let mut found = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(found);
        }
        rest = rest
            .strip_prefix(';')
            .ok_or_else(|| Malformed(format!("expected ';' before {rest:?}")))?
            .trim_start();
        if rest.is_empty() {
            return Ok(found);
        }
        let name_len = rest.find(|c| !is_token_char(c)).unwrap_or(rest.len());
        let (name, after) = rest.split_at(name_len);
        let after = after
            .trim_start()
            .strip_prefix('=')
            .filter(|_| !name.is_empty())
            .ok_or_else(|| Malformed(format!("{rest:?} is not name=value")))?
            .trim_start();
        let (value, after) = if let Some(quoted) = after.strip_prefix('"') {
            quoted_string(quoted, quoting)?
        } else {
            let len = after.find(|c| !is_token_char(c)).unwrap_or(after.len());
            if len == 0 {
                return malformed(format!("the parameter {name} has no value"));
            }
            (after[..len].to_owned(), &after[len..])
        };
        found.push((name.to_ascii_lowercase(), value));
        rest = after;
    }
}

/// The value of a quoted string whose opening quote is gone, and what follows its closing one.
fn quoted_string(text: &str, quoting: Quoting) -> Result<(String, &str), Malformed> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if quoting == Quoting::Html => {
                return Ok((percent_decoded(&value), &text[i + 1..]));
            }
            '"' => return Ok((value, &text[i + 1..])),
            '\\' if quoting == Quoting::Escapes => match chars.next() {
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            c if c.is_control() => return malformed("a control character in a quoted string"),
            c => value.push(c),
        }
    }
    malformed("a quoted string never ends")
}

/// `value` with the three escapes of [`Quoting::Html`] decoded; any other `%` is itself.
fn percent_decoded(value: &str) -> String {
    let mut decoded = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        decoded.push_str(&rest[..at]);
        let escape = rest.get(at + 1..at + 3).unwrap_or_default();
        let escaped = match escape.to_ascii_uppercase().as_str() {
            "22" => Some('"'),
            "0D" => Some('\r'),
            "0A" => Some('\n'),
            _ => None,
        };
        match escaped {
            Some(c) => {
                decoded.push(c);
                rest = &rest[at + 3..];
            }
            None => {
                decoded.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

/// RFC 2045's token characters: visible ASCII but `()<>@,;:\"/[]?=`.
fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = haystack.get(from..)?.iter().position(|&b| b == needle[0]) {
        let at = from + i;
        if haystack[at..].starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] = b"--XyZ\r\n\
        Content-Disposition: form-data; name=\"phoneNumber\"\r\n\
        \r\n\
        5215512345678\r\n\
        --XyZ\r\n\
        Content-Disposition: form-data; name=\"file\"; filename=\"fac%22tura;1.pdf\"\r\n\
        Content-Type: application/pdf\r\n\
        \r\n\
        %PDF-1.4\r\n--XyZ-not-yet\r\nbinary\0\xff\r\n\
        --XyZ--\r\n";

    #[test]
    fn the_boundary_comes_quoted_or_not() {
        assert_eq!(
            boundary("multipart/form-data; boundary=XyZ").unwrap(),
            "XyZ"
        );
        assert_eq!(
            boundary("Multipart/Form-Data;boundary=\"a b'()+_,-./:=?\"").unwrap(),
            "a b'()+_,-./:=?"
        );
        assert_eq!(
            boundary("multipart/form-data; charset=utf-8; BOUNDARY=x1").unwrap(),
            "x1"
        );
        for bad in [
            "multipart/form-data",
            "multipart/mixed; boundary=x",
            "multipart/form-data; boundary=",
            "multipart/form-data; boundary=\"\"",
            "multipart/form-data; boundary=\"ends with space \"",
            "multipart/form-data; boundary=\"no;semicolons\"",
            "multipart/form-data; boundary=\"unterminated",
            &format!("multipart/form-data; boundary={}", "x".repeat(71)),
            "multipart/form-data; boundary x",
        ] {
            assert!(boundary(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_and_files_are_read_whole() {
        let parts = parse(FORM, "XyZ").unwrap();
        assert_eq!(
            parts,
            [
                Part {
                    name: "phoneNumber".into(),
                    filename: None,
                    content_type: None,
                    body: b"5215512345678",
                },
                Part {
                    name: "file".into(),
                    filename: Some("fac\"tura;1.pdf".into()),
                    content_type: Some("application/pdf".into()),
                    body: b"%PDF-1.4\r\n--XyZ-not-yet\r\nbinary\0\xff",
                },
            ]
        );
    }

    #[test]
    fn a_preamble_an_epilogue_padding_and_empty_parts_are_fine() {
        let body = b"this is a preamble\r\n--b \t\r\n\
            content-disposition: FORM-DATA; name=caption\r\n\r\n\
            \r\n--b\r\n\
            Content-Disposition: form-data; name=\"file\"; filename=\"\"\r\n\r\n\
            x\r\n--b--\r\nthe epilogue\r\n";
        let parts = parse(body, "b").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].body),
            ("caption", &b""[..])
        );
        assert_eq!(parts[1].filename.as_deref(), Some(""));
        assert_eq!(parts[1].body, b"x");
        assert_eq!(parse(b"--b--", "b").unwrap(), []);
    }

    #[test]
    fn an_empty_body_may_share_its_crlf_with_the_delimiter() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n--b\r\n\
            Content-Disposition: form-data; name=\"c\"\r\n\r\nv\r\n--b\r\n\
            Content-Disposition: form-data; name=\"z\"\r\n\r\n--b--";
        let parts = parse(body, "b").unwrap();
        let fields: Vec<_> = parts.iter().map(|p| (p.name.as_str(), p.body)).collect();
        assert_eq!(fields, [("a", &b""[..]), ("c", b"v"), ("z", b"")]);
        assert!(
            parse(
                b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n--bx\r\n--b--",
                "b"
            )
            .is_ok_and(|p| p[0].body == b"--bx"),
            "a line that only starts with the boundary is content"
        );
    }

    #[test]
    fn a_preamble_line_may_start_with_the_boundary() {
        let body = b"--bx\r\n--b-not\r\n--b\r\n\
            Content-Disposition: form-data; name=a\r\n\r\nv\r\n--b--";
        let parts = parse(body, "b").unwrap();
        assert_eq!(
            (parts.len(), parts[0].name.as_str(), parts[0].body),
            (1, "a", &b"v"[..])
        );
        let all_preamble = b"--bx\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--";
        assert_eq!(parse(all_preamble, "b").unwrap(), []);
        assert!(parse(b"--bx\r\nv\r\n", "b").is_err(), "never a boundary");
    }

    #[test]
    fn names_are_read_as_browsers_write_them() {
        let filename = |quoted: &str| {
            let body = format!(
                "--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"{quoted}\"\r\n\r\nv\r\n--b--"
            );
            parse(body.as_bytes(), "b").map(|p| p[0].filename.clone().unwrap_or_default())
        };
        assert_eq!(filename("a%22b%22.pdf").unwrap(), "a\"b\".pdf");
        assert_eq!(
            filename("line%0D%0Abreak%0d%0a").unwrap(),
            "line\r\nbreak\r\n"
        );
        assert_eq!(filename("C:\\dir\\x.pdf").unwrap(), "C:\\dir\\x.pdf");
        assert_eq!(
            filename("ends in \\").unwrap(),
            "ends in \\",
            "a trailing \\"
        );
        assert_eq!(filename("\\").unwrap(), "\\");
        assert_eq!(filename("100%.txt").unwrap(), "100%.txt");
        assert_eq!(filename("%2522 %4 %").unwrap(), "%2522 %4 %");
        assert_eq!(filename("a%22").unwrap(), "a\"");
        assert_eq!(filename("ñ%22ñ").unwrap(), "ñ\"ñ");
        assert!(
            filename("a\\\"b").is_err(),
            "a \\ escapes nothing: the quote ends it"
        );
        let named = parse(
            b"--b\r\nContent-Disposition: form-data; name=\"x%22y\\\"\r\n\r\nv\r\n--b--",
            "b",
        )
        .unwrap();
        assert_eq!(named[0].name, "x\"y\\");
    }

    #[test]
    fn anything_out_of_shape_is_refused() {
        let ok = |name: &str| {
            format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\nv\r\n--b--")
        };
        assert!(parse(ok("a").as_bytes(), "b").is_ok());
        for (bad, why) in [
            (String::new(), "empty"),
            (ok("a").replace("--b", "--c"), "another boundary"),
            (ok("a").replace("\r\n", "\n"), "bare LF"),
            (ok("a").replace("--b--", "--b"), "never closed"),
            (ok("a").replace("--b--", ""), "no closing boundary"),
            (ok("a").replace("form-data", "attachment"), "not form-data"),
            (ok("a").replace("; name=\"a\"", ""), "no name"),
            (
                ok("a").replace("name=\"a\"", "name=\"a"),
                "unterminated quote",
            ),
            (ok("a").replace("name=\"a\"", "name="), "no value"),
            (
                ok("a").replace("Content-Disposition", "Content Disposition"),
                "bad header name",
            ),
            (
                ok("a").replace("Content-Disposition:", "Content-Disposition"),
                "no colon",
            ),
            (
                ok("a").replace(
                    "\r\n\r\n",
                    "\r\nContent-Disposition: form-data; name=b\r\n\r\n",
                ),
                "two dispositions",
            ),
            (
                ok("a").replace("\r\n\r\n", "\r\n filename=x\r\n\r\n"),
                "a folded line",
            ),
            (
                ok("a").replace("\r\n\r\n", "\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
                "base64 transfer encoding",
            ),
            (
                ok("a").replace("name=\"a\"", "name=\"a\"; name=\"b\""),
                "two names",
            ),
            ("--b\r\n\r\nv\r\n--b--".to_owned(), "no headers"),
            (
                format!(
                    "--b\r\nX-Long: {}\r\n\r\nv\r\n--b--",
                    "x".repeat(MAX_HEADERS)
                ),
                "headers too long",
            ),
            (
                format!(
                    "{}--b--",
                    ok("a").replace("--b--", "").repeat(MAX_PARTS + 1)
                ),
                "too many parts",
            ),
        ] {
            assert!(parse(bad.as_bytes(), "b").is_err(), "{why}: {bad:?}");
        }
        assert!(
            parse(
                b"--b\r\nContent-Disposition: form-data; name=\xff\r\n\r\nv\r\n--b--",
                "b"
            )
            .is_err()
        );
        assert!(
            parse(
                b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX: 1\rY\r\n\r\nv\r\n--b--",
                "b"
            )
            .is_err()
        );
        assert!(
            parse(
                b"--b\r\nContent-Transfer-Encoding: binary\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--b--",
                "b"
            )
            .is_ok()
        );
    }
}
