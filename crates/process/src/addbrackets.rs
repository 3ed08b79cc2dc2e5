//! `ADDBRACKETS`: the agent's demo converter, `{` + record + `}` with no newline of its own
//! (the record's trailing `\n` ends up inside the braces).

use firetail_agent::utf8;

pub fn convert(input: &[u8], out: &mut Vec<u8>) {
    out.push(b'{');
    out.extend_from_slice(utf8::decode(input).as_bytes());
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    #[test]
    fn wraps_including_newline() {
        let mut out = Vec::new();
        super::convert(b"hello\n", &mut out);
        assert_eq!(out, b"{hello\n}");
    }
}
