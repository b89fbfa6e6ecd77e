//! How `sluice consume` prints a record: a template with `{field}`
//! placeholders, or JSON lines. Pure formatting, no I/O, so every case is a
//! unit test.

use std::fmt::Write as _;
use std::str::FromStr;

use serde_json::{Value, json};

/// The record as the formatter sees it: borrowed bytes, no wire types.
#[derive(Debug, Clone, Copy)]
pub struct RecordView<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition index.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Key bytes, `None` for a null key.
    pub key: Option<&'a [u8]>,
    /// Value bytes, `None` for a tombstone.
    pub value: Option<&'a [u8]>,
    /// Headers in wire order.
    pub headers: &'a [(Vec<u8>, Option<Vec<u8>>)],
}

/// What null keys, values and header values print as in templates, as
/// `kafka-console-consumer` does.
const NULL_TEXT: &str = "null";

/// A record field a template can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Topic,
    Partition,
    Offset,
    Timestamp,
    Key,
    Value,
    Headers,
}

impl Field {
    const NAMES: [(&'static str, Field); 7] = [
        ("topic", Field::Topic),
        ("partition", Field::Partition),
        ("offset", Field::Offset),
        ("timestamp", Field::Timestamp),
        ("key", Field::Key),
        ("value", Field::Value),
        ("headers", Field::Headers),
    ];

    fn by_name(name: &str) -> Option<Field> {
        Field::NAMES
            .iter()
            .find(|(known, _)| *known == name)
            .map(|(_, field)| *field)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// The `--format` flag: `json`, or a template such as
/// `{partition}:{offset} {key}={value}` with `\n`/`\t`/`\\` escapes and
/// `{{`/`}}` for literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFormat {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// One JSON object per line.
    Json,
    /// Text and placeholders, in order.
    Template(Vec<Piece>),
}

impl FromStr for RecordFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let kind = if text == "json" {
            Kind::Json
        } else {
            Kind::Template(compile(text)?)
        };
        Ok(RecordFormat { kind })
    }
}

impl Default for RecordFormat {
    /// Just the value, like `kafka-console-consumer`.
    fn default() -> Self {
        RecordFormat {
            kind: Kind::Template(vec![Piece::Field(Field::Value)]),
        }
    }
}

impl RecordFormat {
    /// The record as one line, without the trailing newline.
    pub fn render(&self, record: &RecordView<'_>) -> String {
        match &self.kind {
            Kind::Json => json_line(record),
            Kind::Template(pieces) => {
                let mut line = String::new();
                for piece in pieces {
                    match piece {
                        Piece::Text(text) => line.push_str(text),
                        Piece::Field(field) => push_field(&mut line, *field, record),
                    }
                }
                line
            }
        }
    }
}

fn compile(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, chars.peek().copied()) {
            ('{', Some('{')) | ('}', Some('}')) => {
                chars.next();
                text.push(ch);
            }
            ('\\', Some(escaped @ ('n' | 't' | '\\'))) => {
                chars.next();
                text.push(match escaped {
                    'n' => '\n',
                    't' => '\t',
                    _ => '\\',
                });
            }
            ('{', _) => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let field = Field::by_name(&name).ok_or_else(|| unknown_field(&name))?;
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Field(field));
            }
            ('}', _) => return Err("unmatched `}` (write `}}` for a brace)".to_owned()),
            _ => text.push(ch),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn unknown_field(name: &str) -> String {
    let known: Vec<&str> = Field::NAMES.iter().map(|(name, _)| *name).collect();
    format!(
        "unknown field `{{{name}}}`; use {} or `json`",
        known.join(", ")
    )
}

fn push_field(line: &mut String, field: Field, record: &RecordView<'_>) {
    // Writing to a String cannot fail.
    let _ = match field {
        Field::Topic => write!(line, "{}", record.topic),
        Field::Partition => write!(line, "{}", record.partition),
        Field::Offset => write!(line, "{}", record.offset),
        Field::Timestamp => write!(line, "{}", record.timestamp_ms),
        Field::Key => write!(line, "{}", text_or_null(record.key)),
        Field::Value => write!(line, "{}", text_or_null(record.value)),
        Field::Headers => write!(line, "{}", headers_text(record.headers)),
    };
}

fn text_or_null(bytes: Option<&[u8]>) -> String {
    bytes.map_or_else(
        || NULL_TEXT.to_owned(),
        |b| String::from_utf8_lossy(b).into_owned(),
    )
}

/// `key=value` pairs joined by commas, as `kafka-console-consumer` prints them.
fn headers_text(headers: &[(Vec<u8>, Option<Vec<u8>>)]) -> String {
    headers
        .iter()
        .map(|(key, value)| {
            format!(
                "{}={}",
                String::from_utf8_lossy(key),
                text_or_null(value.as_deref())
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn json_text(bytes: Option<&[u8]>) -> Value {
    bytes.map_or(Value::Null, |b| {
        Value::String(String::from_utf8_lossy(b).into_owned())
    })
}

fn json_line(record: &RecordView<'_>) -> String {
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|(key, value)| {
            json!({"key": String::from_utf8_lossy(key), "value": json_text(value.as_deref())})
        })
        .collect();
    json!({
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "key": json_text(record.key),
        "value": json_text(record.value),
        "headers": headers,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers() -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        vec![
            (b"source".to_vec(), Some(b"app".to_vec())),
            (b"trace".to_vec(), None),
        ]
    }

    fn record(headers: &[(Vec<u8>, Option<Vec<u8>>)]) -> RecordView<'_> {
        RecordView {
            topic: "events",
            partition: 2,
            offset: 41,
            timestamp_ms: 1_700_000_000_000,
            key: Some(b"user-1"),
            value: Some(b"hello"),
            headers,
        }
    }

    fn render(format: &str, record: &RecordView<'_>) -> String {
        format
            .parse::<RecordFormat>()
            .expect("the test's format is valid")
            .render(record)
    }

    #[test]
    fn default_format_prints_the_value() {
        assert_eq!(RecordFormat::default().render(&record(&[])), "hello");
    }

    #[test]
    fn template_fills_every_placeholder() {
        let headers = headers();
        assert_eq!(
            render(
                "{topic}/{partition}@{offset} {timestamp} {key}={value} [{headers}]",
                &record(&headers)
            ),
            "events/2@41 1700000000000 user-1=hello [source=app,trace=null]"
        );
    }

    #[test]
    fn template_understands_escapes_and_doubled_braces() {
        assert_eq!(
            render("{{{key}}}\\t{value}\\\\", &record(&[])),
            "{user-1}\thello\\"
        );
    }

    #[test]
    fn null_key_and_value_print_as_null() {
        let tombstone = RecordView {
            key: None,
            value: None,
            ..record(&[])
        };
        assert_eq!(render("{key}:{value}", &tombstone), "null:null");
    }

    #[test]
    fn unknown_placeholder_is_rejected_with_the_known_names() {
        let error = "{size}"
            .parse::<RecordFormat>()
            .expect_err("size is not a field");
        assert!(
            error.contains("{size}") && error.contains("offset"),
            "{error}"
        );
    }

    #[test]
    fn lone_closing_brace_is_rejected() {
        assert!("value}".parse::<RecordFormat>().is_err());
    }

    #[test]
    fn json_lines_carry_every_field_and_nulls() {
        let headers = headers();
        let line = render("json", &record(&headers));
        let parsed: Value = serde_json::from_str(&line).expect("the line is JSON");
        assert_eq!(
            parsed,
            json!({
                "topic": "events", "partition": 2, "offset": 41,
                "timestamp": 1_700_000_000_000_i64, "key": "user-1", "value": "hello",
                "headers": [{"key": "source", "value": "app"}, {"key": "trace", "value": null}]
            })
        );
    }
}
