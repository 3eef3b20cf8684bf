//! The firmware's GNU build id, from the bytes of its `.note.gnu.build-id` section (the C core's
//! `fw_gnu_build_id`).

/// The descriptor of the first NT_GNU_BUILD_ID note in `notes` (the bytes of a note section or
/// segment, in the target's byte order), or `None`. An ELF note is `namesz`, `descsz`, `type`
/// (u32 each), the name padded to 4 bytes, then the descriptor padded to 4 bytes.
///
/// ```
/// let note = [4, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, b'G', b'N', b'U', 0, 0xAB, 0xCD, 0, 0];
/// assert_eq!(firmwatch::gnu_build_id(&note), Some(&[0xAB, 0xCD][..]));
/// ```
pub fn gnu_build_id(mut notes: &[u8]) -> Option<&[u8]> {
    fn word(b: &[u8], i: usize) -> Option<usize> {
        let w = b.get(i..i.checked_add(4)?)?;
        Some(u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) as usize)
    }
    fn pad4(n: usize) -> Option<usize> {
        Some(n.checked_add(3)? & !3)
    }
    while notes.len() >= 12 {
        let (namesz, descsz, ty) = (word(notes, 0)?, word(notes, 4)?, word(notes, 8)?);
        let desc_at = pad4(namesz)?.checked_add(12)?;
        let desc = notes.get(desc_at..desc_at.checked_add(descsz)?)?;
        if ty == 3 && namesz == 4 && notes.get(12..16) == Some(b"GNU\0") {
            return Some(desc);
        }
        notes = notes.get(desc_at.checked_add(pad4(descsz)?)?..)?;
    }
    None
}
