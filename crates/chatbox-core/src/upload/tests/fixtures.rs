//! Byte fixtures for the upload policy tests: minimal files of every allowed type, built from
//! their signatures (a ZIP's local headers, an OLE header and root entry, EBML, `ftyp`, ID3).

/// A ZIP whose local file headers name `entries` (sizes zero, a little data after each).
pub fn zip(entries: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for name in entries {
        out.extend_from_slice(b"PK\x03\x04");
        out.extend_from_slice(&[0x14, 0, 0x08, 0, 0x08, 0]);
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&u16::try_from(name.len()).unwrap().to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\x8d\x8e compressed data \x01\x02");
    }
    out
}

/// An OLE compound file with 512-byte sectors whose root directory entry (sector 0) has the
/// class id `clsid`.
pub fn ole(clsid: [u8; 16]) -> Vec<u8> {
    let mut out = vec![0_u8; 1024];
    out[..8].copy_from_slice(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
    out[0x1E] = 9;
    out[512..522].copy_from_slice(b"R\0o\0o\0t\0 \0");
    out[512 + 0x50..512 + 0x60].copy_from_slice(&clsid);
    out
}

pub fn office_clsid(head: [u8; 4]) -> [u8; 16] {
    let mut id = [0, 0, 0, 0, 0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46];
    id[..4].copy_from_slice(&head);
    id
}

pub const POWERPOINT: [u8; 16] = [
    0x10, 0x8D, 0x81, 0x64, 0x9B, 0x4F, 0xCF, 0x11, 0x86, 0xEA, 0x00, 0xAA, 0x00, 0xB9, 0x29, 0xE8,
];

pub fn ebml(doc_type: &str, codecs: &[&str]) -> Vec<u8> {
    let mut out = b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84".to_vec();
    out.extend_from_slice(doc_type.as_bytes());
    out.extend_from_slice(b"\x18\x53\x80\x67\x01\x00\x00\x00");
    for c in codecs {
        out.extend_from_slice(b"\x86\x85");
        out.extend_from_slice(c.as_bytes());
    }
    out
}

pub fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
    let mut out = b"\x00\x00\x00\x20ftyp".to_vec();
    out.extend_from_slice(brand);
    out.extend_from_slice(b"\x00\x00\x02\x00isomiso2mp41\x00\x00\x00\x08free");
    out
}

pub fn id3(then: &[u8]) -> Vec<u8> {
    let mut out = b"ID3\x04\x00\x00\x00\x00\x00\x0A".to_vec();
    out.extend_from_slice(&[0; 10]);
    out.extend_from_slice(then);
    out
}

/// Every allowed type: its content, a name for it, and the MIME type it is accepted as.
pub fn allowed() -> Vec<(Vec<u8>, &'static str, &'static str)> {
    let mp3 = b"\xFF\xFB\x90\x64\x00\x00".to_vec();
    let adts = b"\xFF\xF1\x50\x80\x02\x1F\xFC".to_vec();
    vec![
        (
            b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00".to_vec(),
            "photo.jpg",
            "image/jpeg",
        ),
        (
            b"\xFF\xD8\xFF\xE1\x00\x10Exif\x00".to_vec(),
            "Photo.JPEG",
            "image/jpeg",
        ),
        (
            b"\x89PNG\r\n\x1A\n\x00\x00\x00\x0DIHDR".to_vec(),
            "a.png",
            "image/png",
        ),
        (b"GIF89a\x01\x00\x01\x00".to_vec(), "a.gif", "image/gif"),
        (b"GIF87a\x01\x00\x01\x00".to_vec(), "old.gif", "image/gif"),
        (
            b"RIFF\x24\x00\x00\x00WEBPVP8 ".to_vec(),
            "a.webp",
            "image/webp",
        ),
        (
            b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n".to_vec(),
            "report.v2.pdf",
            "application/pdf",
        ),
        (
            zip(&["[Content_Types].xml", "_rels/.rels", "word/document.xml"]),
            "letter.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            zip(&["[Content_Types].xml", "xl/workbook.xml"]),
            "sheet.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            zip(&["[Content_Types].xml", "ppt/presentation.xml"]),
            "deck.pptx",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        (
            zip(&["[Content_Types].xml", "docProps/thumbnail.jpeg"]),
            "cut.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            ole(office_clsid([0x06, 0x09, 0x02, 0x00])),
            "old.doc",
            "application/msword",
        ),
        (
            ole(office_clsid([0x20, 0x08, 0x02, 0x00])),
            "old.xls",
            "application/vnd.ms-excel",
        ),
        (
            ole(office_clsid([0x10, 0x08, 0x02, 0x00])),
            "xl5.xls",
            "application/vnd.ms-excel",
        ),
        (ole(POWERPOINT), "old.ppt", "application/vnd.ms-powerpoint"),
        (
            ole(POWERPOINT)[..512].to_vec(),
            "cut.ppt",
            "application/vnd.ms-powerpoint",
        ),
        (b"hello\r\n\tworld\x0C".to_vec(), "notes.txt", "text/plain"),
        (
            "naïve café, ünïcödé ✓\n".as_bytes().to_vec(),
            "u.txt",
            "text/plain",
        ),
        (b"name,qty\nann,2\n".to_vec(), "orders.csv", "text/csv"),
        (
            "cut: \u{2713}".as_bytes()[..7].to_vec(),
            "cut.txt",
            "text/plain",
        ),
        (b"MZ,Mozambique\n".to_vec(), "countries.csv", "text/csv"),
        (mp3.clone(), "song.mp3", "audio/mpeg"),
        (id3(&mp3), "tagged.mp3", "audio/mpeg"),
        (id3(b""), "tag-only.mp3", "audio/mpeg"),
        (adts.clone(), "voice.aac", "audio/aac"),
        (id3(&adts), "tagged.aac", "audio/aac"),
        (
            b"RIFF\x24\x08\x00\x00WAVEfmt ".to_vec(),
            "a.wav",
            "audio/wav",
        ),
        (b"OggS\x00\x02\x00\x00".to_vec(), "a.ogg", "audio/ogg"),
        (
            b"OggS\x00\x02\x00\x00OpusHead".to_vec(),
            "a.opus",
            "audio/ogg",
        ),
        (ftyp(b"M4A "), "memo.m4a", "audio/mp4"),
        (ftyp(b"isom"), "memo-as-video.mp4", "video/mp4"),
        (ftyp(b"isom"), "audio-in-mp4.m4a", "audio/mp4"),
        (ftyp(b"mp42"), "clip.mp4", "video/mp4"),
        (
            ebml("webm", &["V_VP9", "A_OPUS"]),
            "clip.webm",
            "video/webm",
        ),
        (ebml("webm", &["A_OPUS"]), "voice.webm", "audio/webm"),
        (ebml("webm", &[]), "unknown-tracks.webm", "video/webm"),
    ]
}
