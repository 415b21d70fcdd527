//! What a file is, from its first bytes ([`sniff`]): hand-written magic-byte signatures for the
//! types CONTRACT §6 allows, and for executables so they are refused whatever their name.
//!
//! Signatures are written here rather than taken from the `infer` crate because the caller has
//! only a prefix of the file ([`super::SNIFF_LEN`] bytes): `infer` tells legacy Office files apart
//! by parsing the whole OLE container, and knows neither plain text nor CSV. Here an Office
//! container whose distinguishing part lies beyond the prefix is reported as such
//! ([`Sniffed::OfficeOpenXml`], [`Sniffed::OfficeLegacy`]) and the extension decides.

/// What the first bytes of a file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Sniffed {
    /// No bytes at all.
    Empty,
    /// A program or script, refused whatever the file is called.
    Executable(Executable),
    /// A JPEG image.
    Jpeg,
    /// A PNG image.
    Png,
    /// A GIF image.
    Gif,
    /// A WebP image.
    Webp,
    /// A PDF document.
    Pdf,
    /// A Word document (Office Open XML).
    Docx,
    /// An Excel workbook (Office Open XML).
    Xlsx,
    /// A PowerPoint presentation (Office Open XML).
    Pptx,
    /// An Office Open XML package whose part names lie beyond the sniffed bytes.
    OfficeOpenXml,
    /// A legacy Word document (OLE compound file).
    Doc,
    /// A legacy Excel workbook (OLE compound file).
    Xls,
    /// A legacy PowerPoint presentation (OLE compound file).
    Ppt,
    /// An OLE compound file whose application could not be told from the sniffed bytes.
    OfficeLegacy,
    /// UTF-8 text without NUL or control characters (other than tab, line breaks, form feed).
    Text,
    /// MPEG audio (MP3), bare or behind an ID3 tag.
    Mp3,
    /// AAC audio in ADTS frames.
    Aac,
    /// WAV audio (RIFF).
    Wav,
    /// An Ogg container (Vorbis, Opus, FLAC audio).
    Ogg,
    /// ISO base media (`ftyp`): MP4 video or M4A audio share it.
    IsoMedia,
    /// A WebM container; `video` unless only audio tracks were seen.
    Webm {
        /// Whether it carries video.
        video: bool,
    },
}

/// The kind of program a file's bytes show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Executable {
    /// A DOS or Windows executable or library (`MZ`).
    Windows,
    /// An ELF executable or library (Linux, BSD, Android).
    Elf,
    /// A Mach-O executable (macOS, iOS), or a Java class (same magic as a universal binary).
    MachO,
    /// A script with an interpreter line (`#!`).
    Script,
    /// A Windows Installer package (an OLE file with the installer's class id).
    Installer,
}

impl Sniffed {
    /// A short description for messages (`a PNG image`).
    pub fn describe(self) -> &'static str {
        match self {
            Sniffed::Empty => "empty",
            Sniffed::Executable(_) => "a program",
            Sniffed::Jpeg => "a JPEG image",
            Sniffed::Png => "a PNG image",
            Sniffed::Gif => "a GIF image",
            Sniffed::Webp => "a WebP image",
            Sniffed::Pdf => "a PDF document",
            Sniffed::Docx => "a Word document",
            Sniffed::Xlsx => "an Excel workbook",
            Sniffed::Pptx => "a PowerPoint presentation",
            Sniffed::OfficeOpenXml => "an Office document",
            Sniffed::Doc => "a legacy Word document",
            Sniffed::Xls => "a legacy Excel workbook",
            Sniffed::Ppt => "a legacy PowerPoint presentation",
            Sniffed::OfficeLegacy => "a legacy Office document",
            Sniffed::Text => "plain text",
            Sniffed::Mp3 => "MP3 audio",
            Sniffed::Aac => "AAC audio",
            Sniffed::Wav => "WAV audio",
            Sniffed::Ogg => "Ogg audio",
            Sniffed::IsoMedia => "MP4 media",
            Sniffed::Webm { .. } => "WebM media",
        }
    }
}

/// What `first_bytes` (the start of a file, ideally [`super::SNIFF_LEN`] bytes or all of a
/// shorter file) say the file is; `None` when it is nothing CONTRACT §6 allows nor an
/// executable. Total: any input gives an answer, never a panic.
pub fn sniff(first_bytes: &[u8]) -> Option<Sniffed> {
    let b = first_bytes;
    if b.is_empty() {
        return Some(Sniffed::Empty);
    }
    if let Some(kind) = executable(b) {
        return Some(Sniffed::Executable(kind));
    }
    let at = |offset: usize, sig: &[u8]| b.get(offset..offset + sig.len()) == Some(sig);
    let found = if at(0, b"\xFF\xD8\xFF") {
        Sniffed::Jpeg
    } else if at(0, b"\x89PNG\r\n\x1A\n") {
        Sniffed::Png
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        Sniffed::Gif
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Sniffed::Webp
    } else if at(0, b"RIFF") && at(8, b"WAVE") {
        Sniffed::Wav
    } else if at(0, b"%PDF-") {
        Sniffed::Pdf
    } else if at(0, b"PK\x03\x04") {
        office_open_xml(b)?
    } else if at(0, OLE_MAGIC) {
        ole(b)
    } else if at(0, b"OggS") {
        Sniffed::Ogg
    } else if at(4, b"ftyp") {
        iso_media(b)?
    } else if at(0, b"\x1A\x45\xDF\xA3") {
        webm(b)?
    } else if at(0, b"ID3") {
        after_id3(b)
    } else if let Some(audio) = audio_frame(b) {
        audio
    } else if is_text(b) {
        Sniffed::Text
    } else {
        return None;
    };
    Some(found)
}

const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

fn executable(b: &[u8]) -> Option<Executable> {
    let starts = |sig: &[u8]| b.starts_with(sig);
    // A real DOS or PE header holds NUL bytes within its first bytes, so text that happens to
    // start with "MZ" is not taken for a program.
    if starts(b"MZ") && !is_text(b) {
        Some(Executable::Windows)
    } else if starts(b"\x7FELF") {
        Some(Executable::Elf)
    } else if [
        b"\xFE\xED\xFA\xCE",
        b"\xFE\xED\xFA\xCF",
        b"\xCE\xFA\xED\xFE",
        b"\xCF\xFA\xED\xFE",
        b"\xCA\xFE\xBA\xBE",
    ]
    .iter()
    .any(|sig| starts(*sig))
    {
        Some(Executable::MachO)
    } else if starts(b"#!") || starts(b"\xEF\xBB\xBF#!") {
        Some(Executable::Script)
    } else {
        None
    }
}

fn u16_le(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 2)?;
    Some(usize::from(u16::from_le_bytes([s[0], s[1]])))
}

fn u32_le(b: &[u8], at: usize) -> Option<usize> {
    let s = b.get(at..at + 4)?;
    usize::try_from(u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok()
}

/// An Office Open XML package: a ZIP whose entry names show `[Content_Types].xml` and, when
/// within the prefix, the application's folder. Each local file header (`PK\3\4`) holds the
/// entry name at offset 30; headers are found by scanning, since entries written with a data
/// descriptor do not state their size up front. A ZIP of anything else is not allowed.
fn office_open_xml(b: &[u8]) -> Option<Sniffed> {
    let mut content_types = false;
    let mut from = 0;
    while let Some(pos) = find(&b[from..], b"PK\x03\x04").map(|p| p + from) {
        from = pos + 4;
        let Some(len) = u16_le(b, pos + 26) else {
            break;
        };
        let Some(name) = b.get(pos + 30..pos + 30 + len) else {
            break;
        };
        if name.starts_with(b"word/") {
            return Some(Sniffed::Docx);
        } else if name.starts_with(b"xl/") {
            return Some(Sniffed::Xlsx);
        } else if name.starts_with(b"ppt/") {
            return Some(Sniffed::Pptx);
        }
        content_types |= name == b"[Content_Types].xml";
    }
    content_types.then_some(Sniffed::OfficeOpenXml)
}

/// An OLE compound file, told apart by the class id of its root directory entry when that
/// entry lies within the prefix. The header gives the sector size (`1 << shift`, at 0x1E) and
/// the first directory sector (at 0x30); the root entry's class id is at 0x50 of it.
fn ole(b: &[u8]) -> Sniffed {
    const WORD: [u8; 4] = [0x06, 0x09, 0x02, 0x00];
    const EXCEL_5: [u8; 4] = [0x10, 0x08, 0x02, 0x00];
    const EXCEL_97: [u8; 4] = [0x20, 0x08, 0x02, 0x00];
    const OFFICE_TAIL: [u8; 12] = [0, 0, 0, 0, 0xC0, 0, 0, 0, 0, 0, 0, 0x46];
    const POWERPOINT: [u8; 16] = [
        0x10, 0x8D, 0x81, 0x64, 0x9B, 0x4F, 0xCF, 0x11, 0x86, 0xEA, 0x00, 0xAA, 0x00, 0xB9, 0x29,
        0xE8,
    ];
    let clsid = (|| {
        let shift = u16_le(b, 0x1E).filter(|s| (7..=16).contains(s))?;
        let sector = u32_le(b, 0x30)?;
        let root = sector.checked_add(1)?.checked_mul(1 << shift)?;
        b.get(root.checked_add(0x50)?..root.checked_add(0x60)?)
    })();
    let Some(clsid) = clsid else {
        return Sniffed::OfficeLegacy;
    };
    let (head, tail) = clsid.split_at(4);
    if clsid == POWERPOINT {
        Sniffed::Ppt
    } else if tail != OFFICE_TAIL {
        Sniffed::OfficeLegacy
    } else if head == WORD {
        Sniffed::Doc
    } else if head == EXCEL_5 || head == EXCEL_97 {
        Sniffed::Xls
    } else if head[1..] == [0x10, 0x0C, 0x00] && head[0] & 0xF0 == 0x80 {
        // 000C108x: Windows Installer package, patch, transform.
        Sniffed::Executable(Executable::Installer)
    } else {
        Sniffed::OfficeLegacy
    }
}

/// ISO base media: any `ftyp` brand but the still-image ones (HEIF, AVIF) and camera raw.
fn iso_media(b: &[u8]) -> Option<Sniffed> {
    let brand = b.get(8..12)?;
    let still = [
        b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"crx ",
    ];
    (!still.iter().any(|s| brand == *s)).then_some(Sniffed::IsoMedia)
}

/// EBML with the `webm` doc type (Matroska's other doc type, `matroska`, is not allowed); video
/// unless the track codecs within the prefix are all audio.
fn webm(b: &[u8]) -> Option<Sniffed> {
    find(&b[..b.len().min(64)], b"webm")?;
    let video = ["V_VP8", "V_VP9", "V_AV1", "V_MPEG"]
        .iter()
        .any(|c| find(b, c.as_bytes()).is_some());
    let audio = ["A_OPUS", "A_VORBIS"]
        .iter()
        .any(|c| find(b, c.as_bytes()).is_some());
    Some(Sniffed::Webm {
        video: video || !audio,
    })
}

/// Audio behind an ID3v2 tag: the frame after the tag when it is within the prefix (AAC files
/// carry ID3 tags too), else MP3.
fn after_id3(b: &[u8]) -> Sniffed {
    let size = b.get(6..10).map(|s| {
        s.iter()
            .fold(0_usize, |acc, byte| (acc << 7) | usize::from(byte & 0x7F))
    });
    let footer = b.get(5).is_some_and(|flags| flags & 0x10 != 0);
    let frame = size.map(|s| 10 + s + if footer { 10 } else { 0 });
    match frame.and_then(|at| b.get(at..)).and_then(audio_frame) {
        Some(Sniffed::Aac) => Sniffed::Aac,
        _ => Sniffed::Mp3,
    }
}

/// An MPEG audio frame header (MP3: layer III, or layer II) or an ADTS header (AAC) at the
/// start of `b`. Layer I is left out: its header is a UTF-16 byte-order mark (`FF FE`).
fn audio_frame(b: &[u8]) -> Option<Sniffed> {
    let [0xFF, b1, b2, ..] = *b else {
        return None;
    };
    if b1 & 0xF6 == 0xF0 && (b2 >> 2) & 0x0F < 13 {
        return Some(Sniffed::Aac);
    }
    let version = (b1 >> 3) & 0b11;
    let layer = (b1 >> 1) & 0b11;
    let bitrate = b2 >> 4;
    let rate = (b2 >> 2) & 0b11;
    (b1 & 0xE0 == 0xE0
        && version != 0b01
        && matches!(layer, 0b01 | 0b10)
        && bitrate != 0x0F
        && rate != 0b11)
        .then_some(Sniffed::Mp3)
}

/// UTF-8 without NUL or control characters other than tab, line feed, carriage return and form
/// feed. A multi-byte character cut by the end of the prefix is allowed.
fn is_text(b: &[u8]) -> bool {
    let valid = match std::str::from_utf8(b) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            // Only an incomplete sequence at the very end, which `valid_up_to` stops before.
            std::str::from_utf8(&b[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    valid
        .chars()
        .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0C'))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
