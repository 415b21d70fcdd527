//! The upload policy of CONTRACT §6, pure: which files are accepted and under which name.
//!
//! The edge reads the first [`SNIFF_LEN`] bytes of an upload, asks [`sniff`] what they are, and
//! asks [`check`] whether that content under that name is allowed. Accepted are images (JPEG,
//! PNG, GIF, WebP), PDF, Office documents (docx, xlsx, pptx and legacy doc, xls, ppt), plain text
//! and CSV, audio (MP3, WAV, WebM, Ogg, AAC, M4A) and video (MP4, WebM); the type comes from the
//! bytes, and the name's extension must agree with it. Refused are executables and scripts by
//! content even when renamed, any name with an executable or script extension anywhere
//! (`x.pdf.exe`, `x.exe.pdf`), and names with path characters, `..`, control or invisible
//! formatting characters, or more than 255 bytes. Each [`UploadRejection`] says which HTTP status
//! it is (400 for a bad name or an empty file, 415 for a type) and has a message for the user.

mod sniff;

use std::fmt::{self, Write as _};

pub use sniff::{Executable, Sniffed, sniff};

/// How many leading bytes of an upload [`sniff`] should see (all of a shorter file).
pub const SNIFF_LEN: usize = 64 * 1024;

/// The longest accepted file name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 255;

/// An upload that passed [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The MIME type to store and serve it as.
    pub mime_type: &'static str,
    /// Its extension, lower case, without the dot (`pdf`).
    pub extension: String,
    /// The name to store and offer on download: the given name trimmed, with the characters
    /// Windows cannot save (`: * ? " < > |`) replaced by `_`.
    pub safe_name: String,
}

/// Why an upload is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadRejection {
    /// The file name is empty (400).
    EmptyName,
    /// The file name is longer than [`MAX_NAME_BYTES`] (400).
    NameTooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// The file name holds something no file name may (400).
    UnsafeName {
        /// What, as a phrase (`a path separator`).
        reason: &'static str,
    },
    /// The file has no bytes (400).
    EmptyFile,
    /// The name carries an executable or script extension (415).
    ExecutableName {
        /// That extension, lower case.
        extension: String,
    },
    /// The name's final extension is not an allowed type, or there is none (415).
    ExtensionNotAllowed {
        /// The final extension, lower case, if any.
        extension: Option<String>,
    },
    /// The bytes are a program or script (415).
    ExecutableContent {
        /// Which kind.
        kind: Executable,
    },
    /// The bytes are no allowed type (415).
    UnknownContent,
    /// The bytes are an allowed type that the extension does not name (415).
    Mismatch {
        /// The name's extension, lower case.
        extension: String,
        /// What the bytes are.
        detected: Sniffed,
    },
}

impl UploadRejection {
    /// The HTTP status the edge answers with: 400 for a bad name or an empty file, 415
    /// (Unsupported Media Type) for a type that is not allowed or does not match.
    pub fn http_status(&self) -> u16 {
        match self {
            UploadRejection::EmptyName
            | UploadRejection::NameTooLong { .. }
            | UploadRejection::UnsafeName { .. }
            | UploadRejection::EmptyFile => 400,
            UploadRejection::ExecutableName { .. }
            | UploadRejection::ExtensionNotAllowed { .. }
            | UploadRejection::ExecutableContent { .. }
            | UploadRejection::UnknownContent
            | UploadRejection::Mismatch { .. } => 415,
        }
    }
}

impl fmt::Display for UploadRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadRejection::EmptyName => f.write_str("the file has no name"),
            UploadRejection::NameTooLong { bytes } => write!(
                f,
                "the file name is too long ({bytes} bytes, at most {MAX_NAME_BYTES})"
            ),
            UploadRejection::UnsafeName { reason } => {
                write!(f, "the file name contains {reason}")
            }
            UploadRejection::EmptyFile => f.write_str("the file is empty"),
            UploadRejection::ExecutableName { extension } => write!(
                f,
                "files named .{extension} are not accepted: programs and scripts cannot be uploaded"
            ),
            UploadRejection::ExtensionNotAllowed { extension: Some(e) } => write!(
                f,
                ".{e} files are not accepted; allowed are images, PDF, Office documents, text, \
                 CSV, audio and video"
            ),
            UploadRejection::ExtensionNotAllowed { extension: None } => f.write_str(
                "the file name has no extension; allowed are images, PDF, Office documents, \
                 text, CSV, audio and video",
            ),
            UploadRejection::ExecutableContent { .. } => {
                f.write_str("the file is a program or script, which cannot be uploaded")
            }
            UploadRejection::UnknownContent => f.write_str(
                "the file's content is not an accepted type; allowed are images, PDF, Office \
                 documents, text, CSV, audio and video",
            ),
            UploadRejection::Mismatch {
                extension,
                detected,
            } => write!(
                f,
                "the file's content is {}, which does not match its .{extension} extension",
                detected.describe()
            ),
        }
    }
}

impl std::error::Error for UploadRejection {}

/// Every extension an upload may end with.
pub const ALLOWED_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "png", "gif", "webp", "pdf", "docx", "xlsx", "pptx", "doc", "xls", "ppt", "txt",
    "csv", "mp3", "wav", "ogg", "oga", "opus", "aac", "m4a", "mp4", "webm",
];

/// Extensions of programs and scripts; a name carrying one anywhere after its first dot is
/// refused (`x.pdf.exe`, `x.exe.pdf`).
pub const EXECUTABLE_EXTENSIONS: &[&str] = &[
    "exe", "bat", "cmd", "com", "msi", "msp", "sh", "bash", "ps1", "psm1", "js", "mjs", "jse",
    "vbs", "vbe", "wsf", "hta", "jar", "scr", "pif", "cpl", "dll", "so", "dylib", "apk", "ipa",
    "app", "appx", "msix", "dmg", "deb", "rpm", "command", "lnk", "reg", "php", "py", "pl", "rb",
    "cgi", "jsp", "asp", "aspx", "html", "htm", "xhtml", "svg",
];

/// Whether a file with `sniffed` content may be stored under `name`, and as what.
///
/// Checks, in order: the name (400), executable extensions anywhere and the final extension
/// (415), then the content: none recognised (415), empty (400), a program (415), and the
/// extension's agreement with the content (415). `sniffed` is [`sniff`]'s answer for the file's
/// first bytes. Total: any name and content give an answer, never a panic.
pub fn check(name: &str, sniffed: Option<Sniffed>) -> Result<Accepted, UploadRejection> {
    let name = name.trim();
    check_name(name)?;
    let mut segments = name.split('.');
    let stem = segments.next().unwrap_or_default();
    let extensions: Vec<String> = segments.map(|s| s.trim().to_ascii_lowercase()).collect();
    if let Some(bad) = extensions
        .iter()
        .find(|e| EXECUTABLE_EXTENSIONS.contains(&e.as_str()))
    {
        return Err(UploadRejection::ExecutableName {
            extension: bad.clone(),
        });
    }
    let extension = extensions
        .last()
        .filter(|e| ALLOWED_EXTENSIONS.contains(&e.as_str()))
        .ok_or_else(|| UploadRejection::ExtensionNotAllowed {
            extension: extensions.last().filter(|e| !e.is_empty()).cloned(),
        })?
        .clone();
    if stem.trim().is_empty() {
        return Err(UploadRejection::UnsafeName {
            reason: "no name before the extension",
        });
    }
    let detected = match sniffed {
        None => return Err(UploadRejection::UnknownContent),
        Some(Sniffed::Empty) => return Err(UploadRejection::EmptyFile),
        Some(Sniffed::Executable(kind)) => {
            return Err(UploadRejection::ExecutableContent { kind });
        }
        Some(s) => s,
    };
    let mime_type = mime_type(&extension, detected).ok_or(UploadRejection::Mismatch {
        extension: extension.clone(),
        detected,
    })?;
    let safe_name = name
        .chars()
        .map(|c| match c {
            ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c => c,
        })
        .collect();
    Ok(Accepted {
        mime_type,
        extension,
        safe_name,
    })
}

/// The MIME type of content `detected` named with `extension`, when the two agree.
fn mime_type(extension: &str, detected: Sniffed) -> Option<&'static str> {
    use Sniffed as S;
    let mime = match (extension, detected) {
        ("jpg" | "jpeg", S::Jpeg) => "image/jpeg",
        ("png", S::Png) => "image/png",
        ("gif", S::Gif) => "image/gif",
        ("webp", S::Webp) => "image/webp",
        ("pdf", S::Pdf) => "application/pdf",
        ("docx", S::Docx | S::OfficeOpenXml) => {
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        }
        ("xlsx", S::Xlsx | S::OfficeOpenXml) => {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        }
        ("pptx", S::Pptx | S::OfficeOpenXml) => {
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
        }
        ("doc", S::Doc | S::OfficeLegacy) => "application/msword",
        ("xls", S::Xls | S::OfficeLegacy) => "application/vnd.ms-excel",
        ("ppt", S::Ppt | S::OfficeLegacy) => "application/vnd.ms-powerpoint",
        ("txt", S::Text) => "text/plain",
        ("csv", S::Text) => "text/csv",
        ("mp3", S::Mp3) => "audio/mpeg",
        ("wav", S::Wav) => "audio/wav",
        ("ogg" | "oga" | "opus", S::Ogg) => "audio/ogg",
        ("aac", S::Aac) => "audio/aac",
        ("m4a", S::IsoMedia) => "audio/mp4",
        ("mp4", S::IsoMedia) => "video/mp4",
        ("webm", S::Webm { video: true }) => "video/webm",
        ("webm", S::Webm { video: false }) => "audio/webm",
        _ => return None,
    };
    Some(mime)
}

/// A name's problems that make it unusable as a file name (all 400).
fn check_name(name: &str) -> Result<(), UploadRejection> {
    if name.is_empty() {
        return Err(UploadRejection::EmptyName);
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(UploadRejection::NameTooLong { bytes: name.len() });
    }
    let unsafe_name = |reason| Err(UploadRejection::UnsafeName { reason });
    if name.contains(['/', '\\']) {
        return unsafe_name("a path separator");
    }
    if name.contains("..") {
        return unsafe_name("\"..\"");
    }
    if name.chars().any(char::is_control) {
        return unsafe_name("a control character");
    }
    // Bidirectional overrides and zero-width characters make `exe.pdf` display as `fdp.exe`
    // (or hide a dot), so a person would not see the real name.
    if name.chars().any(|c| {
        matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
    }) {
        return unsafe_name("an invisible formatting character");
    }
    Ok(())
}

/// A `Content-Disposition` value that makes a browser download the file as `name`:
/// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded name>`
/// (RFC 6266 and RFC 8187), safe to put in a header whatever `name` holds.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(encoded, "%{byte:02X}");
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests;
