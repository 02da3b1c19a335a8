//! `Name`: a stream name, event type or category as the store takes it — bytes, given
//! as `&str`, `String`, `&[u8]`, `Vec<u8>` or `Bytes` — and shown as text in errors.

use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

/// A stream name, an event type or a category: any bytes, usually UTF-8 text.
///
/// Store calls that keep a name (appends, filters) take `impl Into<Name>`: a `String`,
/// `Vec<u8>` or `Bytes` is moved in without a copy, a borrowed `&str` or `&[u8]` is
/// copied (names are short). Calls that only look a name up (reads) take
/// `impl AsRef<[u8]>` and copy nothing. `Debug` and `Display` show the name as text
/// (invalid UTF-8 is shown with escapes), so errors read `stream "order-42"`.
///
/// ```
/// use annal::Name;
///
/// let name = Name::from("order-42");
/// assert_eq!(name, "order-42");
/// assert_eq!(name.as_str(), Some("order-42"));
/// assert_eq!(format!("{name:?}"), "\"order-42\"");
/// assert_eq!(Name::from(vec![b'a', 0xff]).to_string(), "a\\xff");
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Bytes);

impl Name {
    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as text, if it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// A name from a string literal, without a copy or an allocation: an event type
    /// written in the code (`Name::from_static("OrderPlaced")`) costs an append nothing,
    /// where `Name::from("OrderPlaced")` copies it each time.
    ///
    /// ```
    /// use annal::{Name, NewEvent};
    ///
    /// const PLACED: Name = Name::from_static("OrderPlaced");
    /// let event = NewEvent::new(PLACED, "{}");
    /// assert_eq!(event.event_type, "OrderPlaced");
    /// ```
    pub const fn from_static(text: &'static str) -> Name {
        Name(Bytes::from_static(text.as_bytes()))
    }

    /// The name's bytes, without a copy.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Name {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Name {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(text) => f.write_str(text),
            None => self.0.escape_ascii().fmt(f),
        }
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(text) => text.fmt(f),
            None => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

impl From<Bytes> for Name {
    fn from(bytes: Bytes) -> Name {
        Name(bytes)
    }
}

impl From<&Bytes> for Name {
    fn from(bytes: &Bytes) -> Name {
        Name(bytes.clone())
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name(Bytes::from(text))
    }
}

impl From<&String> for Name {
    fn from(text: &String) -> Name {
        Name(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<Vec<u8>> for Name {
    fn from(bytes: Vec<u8>) -> Name {
        Name(Bytes::from(bytes))
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name(Bytes::copy_from_slice(text.as_bytes()))
    }
}

impl From<&[u8]> for Name {
    fn from(bytes: &[u8]) -> Name {
        Name(Bytes::copy_from_slice(bytes))
    }
}

impl<const N: usize> From<&[u8; N]> for Name {
    fn from(bytes: &[u8; N]) -> Name {
        Name(Bytes::copy_from_slice(bytes))
    }
}

impl From<&Name> for Name {
    fn from(name: &Name) -> Name {
        name.clone()
    }
}

impl From<Name> for Bytes {
    fn from(name: Name) -> Bytes {
        name.0
    }
}

impl From<Name> for Vec<u8> {
    fn from(name: Name) -> Vec<u8> {
        name.0.to_vec()
    }
}

impl PartialEq<[u8]> for Name {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Name {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl PartialEq<Vec<u8>> for Name {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_bytes() == other.as_slice()
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
