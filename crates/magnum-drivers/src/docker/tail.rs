//! A byte ring that keeps only the last `max` bytes of a stream: container logs and exec output
//! are returned bounded by `[docker] max_log_bytes` without ever holding the whole stream.

use std::collections::VecDeque;

/// The last `max` bytes pushed so far.
#[derive(Debug)]
pub(super) struct Tail {
    buf: VecDeque<u8>,
    max: usize,
}

impl Tail {
    /// An empty ring keeping at most `max` bytes.
    pub(super) fn new(max: usize) -> Tail {
        Tail {
            // Grows with the data; a short log never allocates `max` bytes.
            buf: VecDeque::with_capacity(max.min(64 * 1024)),
            max,
        }
    }

    /// Appends `bytes`, dropping the oldest bytes beyond `max`.
    pub(super) fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= self.max {
            self.buf.clear();
            self.buf.extend(&bytes[bytes.len() - self.max..]);
            return;
        }
        let overflow = (self.buf.len() + bytes.len()).saturating_sub(self.max);
        self.buf.drain(..overflow);
        self.buf.extend(bytes);
    }

    /// The kept bytes as text. A UTF-8 sequence cut by the ring at the start is dropped; other
    /// invalid bytes become U+FFFD.
    pub(super) fn into_string(self) -> String {
        let bytes = Vec::from(self.buf);
        let start = bytes
            .iter()
            .take(3)
            .take_while(|b| (**b & 0b1100_0000) == 0b1000_0000)
            .count();
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::Tail;

    #[test]
    fn keeps_only_the_last_bytes() {
        let mut tail = Tail::new(5);
        tail.push(b"abc");
        tail.push(b"defg");
        assert_eq!(tail.into_string(), "cdefg");
        let mut tail = Tail::new(3);
        tail.push(b"x");
        tail.push(b"0123456789");
        assert_eq!(tail.into_string(), "789");
    }

    #[test]
    fn short_streams_are_kept_whole() {
        let mut tail = Tail::new(100);
        tail.push(b"hi\n");
        tail.push(b"");
        assert_eq!(tail.into_string(), "hi\n");
        let mut zero = Tail::new(0);
        zero.push(b"abc");
        assert_eq!(zero.into_string(), "");
    }

    #[test]
    fn a_character_cut_at_the_start_is_dropped() {
        let mut tail = Tail::new(4);
        tail.push("é€x".as_bytes()); // c3 a9 e2 82 ac 78: the last 4 are whole characters
        assert_eq!(tail.into_string(), "€x");
        let mut tail = Tail::new(3);
        tail.push("€x".as_bytes()); // e2 82 ac 78 → 82 ac 78: the cut euro sign is dropped
        assert_eq!(tail.into_string(), "x");
    }
}
