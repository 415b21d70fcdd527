//! Unit tests of the upload policy: every allowed type sniffed and accepted, every rejection
//! with its status and message, and a property test that sniffing and checking are total.

mod fixtures;

use proptest::prelude::*;

use self::fixtures::{POWERPOINT, allowed, ebml, ftyp, office_clsid, ole, zip};
use super::*;

#[test]
fn every_allowed_type_is_sniffed_and_accepted() {
    for (bytes, name, mime) in allowed() {
        let sniffed = sniff(&bytes);
        let accepted = check(name, sniffed)
            .unwrap_or_else(|e| panic!("{name} ({sniffed:?}) should be accepted: {e}"));
        assert_eq!(accepted.mime_type, mime, "{name}");
        assert_eq!(accepted.safe_name, name);
        let ext = name.rsplit('.').next().unwrap().to_ascii_lowercase();
        assert_eq!(accepted.extension, ext);
        assert!(ALLOWED_EXTENSIONS.contains(&ext.as_str()));
    }
}

#[test]
fn office_containers_are_told_apart_when_the_prefix_shows_how() {
    assert_eq!(
        sniff(&zip(&["[Content_Types].xml", "word/x.xml"])),
        Some(Sniffed::Docx)
    );
    assert_eq!(sniff(&zip(&["xl/workbook.xml"])), Some(Sniffed::Xlsx));
    assert_eq!(
        sniff(&zip(&["[Content_Types].xml"])),
        Some(Sniffed::OfficeOpenXml)
    );
    assert_eq!(sniff(&ole(POWERPOINT)), Some(Sniffed::Ppt));
    assert_eq!(sniff(&ole([7; 16])), Some(Sniffed::OfficeLegacy));
    assert_eq!(sniff(&ole(POWERPOINT)[..600]), Some(Sniffed::OfficeLegacy));
    // A container whose part names are beyond the prefix fits any of its family.
    let undecided = sniff(&zip(&["[Content_Types].xml"]));
    for name in ["a.docx", "a.xlsx", "a.pptx"] {
        assert!(check(name, undecided).is_ok(), "{name}");
    }
    // ...but a decided one only its own extension.
    let docx = sniff(&zip(&["word/document.xml"]));
    assert_eq!(check("a.xlsx", docx).unwrap_err().http_status(), 415);
    let xls = sniff(&ole(office_clsid([0x20, 0x08, 0x02, 0x00])));
    assert_eq!(check("a.doc", xls).unwrap_err().http_status(), 415);
}

#[test]
fn other_containers_and_unknown_bytes_are_not_allowed() {
    for (what, bytes) in [
        ("a plain zip", zip(&["hello.txt"])),
        ("a jar", zip(&["META-INF/MANIFEST.MF", "A.class"])),
        ("an epub", zip(&["mimetype", "OEBPS/content.opf"])),
        ("matroska", ebml("matroska", &["V_MPEG4/ISO/AVC"])),
        ("HEIC", ftyp(b"heic")),
        ("AVI", b"RIFF\x24\x00\x00\x00AVI LIST".to_vec()),
        ("NUL in text", b"abc\0def".to_vec()),
        ("escape in text", b"abc\x1B[31mred".to_vec()),
        ("UTF-16", b"\xFF\xFEh\0i\0".to_vec()),
        ("invalid UTF-8", b"abc\xC3\x28def".to_vec()),
    ] {
        assert_eq!(sniff(&bytes), None, "{what}");
        assert_eq!(
            check("file.txt", sniff(&bytes)),
            Err(UploadRejection::UnknownContent),
            "{what}"
        );
    }
}

#[test]
fn executables_are_refused_by_content_whatever_their_name() {
    let cases: [(&[u8], Executable); 8] = [
        (b"MZ\x90\x00\x03\x00\x00\x00", Executable::Windows),
        (b"\x7FELF\x02\x01\x01\x00", Executable::Elf),
        (b"\xCF\xFA\xED\xFE\x07\x00\x00\x01", Executable::MachO),
        (b"\xFE\xED\xFA\xCE\x00\x00\x00\x07", Executable::MachO),
        (b"\xCA\xFE\xBA\xBE\x00\x00\x00\x34", Executable::MachO),
        (b"#!/bin/sh\nrm -rf /\n", Executable::Script),
        (b"#!/usr/bin/env python3\n", Executable::Script),
        (b"\xEF\xBB\xBF#!/bin/sh\n", Executable::Script),
    ];
    for (bytes, kind) in &cases {
        assert_eq!(sniff(bytes), Some(Sniffed::Executable(*kind)), "{bytes:?}");
        for name in ["invoice.pdf", "photo.jpg", "notes.txt"] {
            let err = check(name, sniff(bytes)).unwrap_err();
            assert_eq!(err, UploadRejection::ExecutableContent { kind: *kind });
            assert_eq!(err.http_status(), 415);
        }
    }
    let msi = ole(office_clsid([0x84, 0x10, 0x0C, 0x00]));
    assert_eq!(
        sniff(&msi),
        Some(Sniffed::Executable(Executable::Installer))
    );
    assert_eq!(
        check("setup.doc", sniff(&msi)),
        Err(UploadRejection::ExecutableContent {
            kind: Executable::Installer
        })
    );
}

#[test]
fn content_and_extension_must_agree() {
    let png = sniff(b"\x89PNG\r\n\x1A\n....");
    let err = check("photo.jpg", png).unwrap_err();
    assert_eq!(
        err,
        UploadRejection::Mismatch {
            extension: "jpg".into(),
            detected: Sniffed::Png
        }
    );
    assert_eq!(err.http_status(), 415);
    for name in ["fake.pdf", "fake.docx", "fake.mp3", "fake.png", "fake.webm"] {
        let err = check(name, sniff(b"just some text")).unwrap_err();
        assert!(
            matches!(err, UploadRejection::Mismatch { .. }),
            "{name}: {err:?}"
        );
    }
    assert!(check("clip.webm", sniff(&ftyp(b"isom"))).is_err());
    assert!(check("memo.m4a", sniff(&ebml("webm", &["A_OPUS"]))).is_err());
}

fn rejection(name: &str) -> UploadRejection {
    check(name, sniff(b"%PDF-1.4\n")).unwrap_err()
}

#[test]
fn bad_names_are_400() {
    let long = format!("{}.pdf", "é".repeat(126));
    assert_eq!(long.len(), 256);
    let cases = [
        ("", UploadRejection::EmptyName),
        ("   ", UploadRejection::EmptyName),
        (long.as_str(), UploadRejection::NameTooLong { bytes: 256 }),
        (
            "../etc/passwd.pdf",
            UploadRejection::UnsafeName {
                reason: "a path separator",
            },
        ),
        (
            "dir/a.pdf",
            UploadRejection::UnsafeName {
                reason: "a path separator",
            },
        ),
        (
            "C:\\a.pdf",
            UploadRejection::UnsafeName {
                reason: "a path separator",
            },
        ),
        ("a..pdf", UploadRejection::UnsafeName { reason: "\"..\"" }),
        (
            "a\0.pdf",
            UploadRejection::UnsafeName {
                reason: "a control character",
            },
        ),
        (
            "a\n.pdf",
            UploadRejection::UnsafeName {
                reason: "a control character",
            },
        ),
        (
            "invoice\u{202E}fdp.exe",
            UploadRejection::UnsafeName {
                reason: "an invisible formatting character",
            },
        ),
        (
            "a\u{200B}.pdf",
            UploadRejection::UnsafeName {
                reason: "an invisible formatting character",
            },
        ),
        (
            ".pdf",
            UploadRejection::UnsafeName {
                reason: "no name before the extension",
            },
        ),
    ];
    for (name, want) in cases {
        let got = rejection(name);
        assert_eq!(got, want, "{name:?}");
        assert_eq!(got.http_status(), 400, "{name:?}");
    }
    let fits = format!("{}.pdf", "é".repeat(125));
    assert_eq!(fits.len(), 254);
    assert!(check(&fits, sniff(b"%PDF-1.4\n")).is_ok());
    assert_eq!(check("a.pdf", sniff(b"")), Err(UploadRejection::EmptyFile));
    assert_eq!(UploadRejection::EmptyFile.http_status(), 400);
}

#[test]
fn executable_extensions_anywhere_and_unlisted_extensions_are_415() {
    for (name, ext) in [
        ("x.pdf.exe", "exe"),
        ("x.exe.pdf", "exe"),
        ("X.PDF.EXE", "exe"),
        ("x.exe .pdf", "exe"),
        ("x.exe.", "exe"),
        ("run.sh", "sh"),
        ("a.js.txt", "js"),
        ("page.html", "html"),
        ("logo.svg", "svg"),
        ("tool.py.csv", "py"),
        ("acme.com.pdf", "com"),
    ] {
        let got = rejection(name);
        assert_eq!(
            got,
            UploadRejection::ExecutableName {
                extension: ext.into()
            },
            "{name}"
        );
        assert_eq!(got.http_status(), 415);
    }
    // A stem is a name, not an extension: `app.pdf` and `exe notes.pdf` are fine.
    assert!(check("app.pdf", sniff(b"%PDF-1.4\n")).is_ok());
    assert!(check("exe notes.pdf", sniff(b"%PDF-1.4\n")).is_ok());
    for (name, ext) in [
        ("archive.zip", Some("zip")),
        ("README", None),
        ("x.pdf.", None),
        ("movie.mkv", Some("mkv")),
    ] {
        let got = rejection(name);
        let want = UploadRejection::ExtensionNotAllowed {
            extension: ext.map(str::to_owned),
        };
        assert_eq!(got, want, "{name}");
        assert_eq!(got.http_status(), 415);
    }
    assert_eq!(check("a.pdf", None), Err(UploadRejection::UnknownContent));
}

#[test]
fn safe_names_are_trimmed_and_replace_what_windows_cannot_save() {
    let ok = check("  Q3: \"final\" <draft>?.pdf  ", sniff(b"%PDF-1.4\n")).unwrap();
    assert_eq!(ok.safe_name, "Q3_ _final_ _draft__.pdf");
    assert_eq!(ok.extension, "pdf");
}

#[test]
fn messages_say_what_is_wrong() {
    let all = [
        UploadRejection::EmptyName,
        UploadRejection::NameTooLong { bytes: 300 },
        UploadRejection::UnsafeName {
            reason: "a path separator",
        },
        UploadRejection::EmptyFile,
        UploadRejection::ExecutableName {
            extension: "exe".into(),
        },
        UploadRejection::ExtensionNotAllowed {
            extension: Some("zip".into()),
        },
        UploadRejection::ExtensionNotAllowed { extension: None },
        UploadRejection::ExecutableContent {
            kind: Executable::Elf,
        },
        UploadRejection::UnknownContent,
        UploadRejection::Mismatch {
            extension: "jpg".into(),
            detected: Sniffed::Png,
        },
    ];
    let text: Vec<String> = all
        .iter()
        .map(|r| format!("{} {r}", r.http_status()))
        .collect();
    expect_test::expect![[r#"
        400 the file has no name
        400 the file name is too long (300 bytes, at most 255)
        400 the file name contains a path separator
        400 the file is empty
        415 files named .exe are not accepted: programs and scripts cannot be uploaded
        415 .zip files are not accepted; allowed are images, PDF, Office documents, text, CSV, audio and video
        415 the file name has no extension; allowed are images, PDF, Office documents, text, CSV, audio and video
        415 the file is a program or script, which cannot be uploaded
        415 the file's content is not an accepted type; allowed are images, PDF, Office documents, text, CSV, audio and video
        415 the file's content is a PNG image, which does not match its .jpg extension"#]].assert_eq(&text.join("\n"));
}

#[test]
fn content_disposition_is_header_safe_and_keeps_the_unicode_name() {
    assert_eq!(
        content_disposition("Résumé \"v2\" 100%.pdf"),
        "attachment; filename=\"R_sum_ _v2_ 100_.pdf\"; \
         filename*=UTF-8''R%C3%A9sum%C3%A9%20%22v2%22%20100%25.pdf"
    );
    assert_eq!(
        content_disposition("a\r\nb.txt"),
        "attachment; filename=\"a__b.txt\"; filename*=UTF-8''a%0D%0Ab.txt"
    );
}

/// Byte strings that start like the formats the sniffer parses, so the properties reach its
/// parsers, not just its first comparison.
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    let prefixes: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"PK\x03\x04".to_vec(),
        b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec(),
        b"ID3".to_vec(),
        b"\xFF".to_vec(),
        b"\x1A\x45\xDF\xA3".to_vec(),
        b"\x00\x00\x00\x20ftyp".to_vec(),
        b"MZ".to_vec(),
        b"RIFF".to_vec(),
    ];
    (
        proptest::sample::select(prefixes),
        proptest::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(|(mut p, tail)| {
            p.extend(tail);
            p
        })
}

proptest! {
    #[test]
    fn sniff_and_check_never_panic(name in any::<String>(), bytes in bytes()) {
        if let Ok(ok) = check(&name, sniff(&bytes)) {
            prop_assert!(ALLOWED_EXTENSIONS.contains(&ok.extension.as_str()));
            prop_assert!(ok.safe_name.len() <= MAX_NAME_BYTES);
            prop_assert!(!ok.safe_name.contains(['/', '\\']));
            prop_assert!(!ok.safe_name.chars().any(char::is_control));
            prop_assert!(!content_disposition(&ok.safe_name).chars().any(char::is_control));
        }
    }

    #[test]
    fn names_with_an_executable_extension_are_never_accepted(
        stem in proptest::collection::vec(b'a'..=b'z', 1..8).prop_map(|s| String::from_utf8_lossy(&s).into_owned()),
        inner in proptest::sample::select(EXECUTABLE_EXTENSIONS),
        outer in proptest::sample::select(ALLOWED_EXTENSIONS),
        bytes in bytes(),
    ) {
        let sniffed = sniff(&bytes);
        let inside = format!("{stem}.{inner}.{outer}");
        let last = format!("{stem}.{outer}.{inner}");
        prop_assert!(check(&inside, sniffed).is_err());
        prop_assert!(check(&last, sniffed).is_err());
    }
}
