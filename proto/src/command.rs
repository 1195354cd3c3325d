//! RESP encoding of one command: an array of bulk strings, the only form a client sends
//! (and the form a replication stream, an AOF and MIGRATE's restore stream carry).

/// Appends `args` to `out` as one RESP command (`*<n>` then `$<len>` per argument).
pub fn encode<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    // One reservation up front (a header is at most 1 + 20 + 2 bytes): a primary with
    // replicas encodes every write here.
    out.reserve(23 + args.iter().map(|a| a.as_ref().len() + 25).sum::<usize>());
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(b.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// [`encode`] into a new buffer.
pub fn to_vec<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(args, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_an_array_of_bulk_strings() {
        assert_eq!(
            to_vec(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
        let mut out = b"x".to_vec();
        encode::<&[u8]>(&[], &mut out);
        assert_eq!(out, b"x*0\r\n");
        assert_eq!(to_vec(&[vec![0u8, 255]]), b"*1\r\n$2\r\n\x00\xff\r\n");
    }
}
