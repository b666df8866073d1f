//! Image inputs as users have them: grey, RGBA, 16-bit, palette (GIF), EXIF-rotated, other sizes,
//! empty and corrupt files. Each either explains (with the resizing reported) or fails with a
//! message naming the file, never a panic.

mod common;

use common::{calig, fails_with, fixture, stderr};
use image::{DynamicImage, ImageBuffer, Luma, Rgb, Rgba};
use std::path::Path;

fn explain_image(path: &Path) -> (serde_json::Value, String) {
    let o = calig(&[
        "explain",
        "--model",
        fixture("vit").to_str().unwrap(),
        "--method",
        "gxi",
        "--format",
        "json",
        "--image",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
    (serde_json::from_slice(&o.stdout).unwrap(), stderr(&o))
}

fn gradient(w: u32, h: u32) -> ImageBuffer<Rgb<u8>, Vec<u8>> {
    ImageBuffer::from_fn(w, h, |x, y| Rgb([(x * 6) as u8, (y * 6) as u8, 128]))
}

#[test]
fn every_colour_type_decodes_and_resizing_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let rgb = gradient(40, 28);
    let cases: Vec<(&str, DynamicImage)> = vec![
        (
            "grey.png",
            DynamicImage::ImageLuma8(ImageBuffer::from_fn(40, 28, |x, _| Luma([(x * 6) as u8]))),
        ),
        (
            "rgba.png",
            DynamicImage::ImageRgba8(ImageBuffer::from_fn(40, 28, |x, y| {
                Rgba([(x * 6) as u8, (y * 6) as u8, 9, 100])
            })),
        ),
        (
            "deep.png",
            DynamicImage::ImageRgb16(ImageBuffer::from_fn(40, 28, |x, y| {
                Rgb([(x * 1500) as u16, (y * 2000) as u16, 40000])
            })),
        ),
        ("palette.gif", DynamicImage::ImageRgb8(rgb.clone())),
        ("exact.png", DynamicImage::ImageRgb8(gradient(32, 32))),
    ];
    for (name, img) in &cases {
        let path = tmp.path().join(name);
        img.save(&path).unwrap();
        let (e, err) = explain_image(&path);
        assert_eq!(e["scores"].as_array().unwrap().len(), 16, "{name}");
        assert!(
            e["scores"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v.as_f64().unwrap().is_finite()),
            "{name}"
        );
        if *name == "exact.png" {
            assert!(e["input"].get("resized_from").is_none(), "{name}");
            assert!(!err.contains("resized"), "{name}: {err}");
        } else {
            assert_eq!(
                e["input"]["resized_from"],
                serde_json::json!([28, 40]),
                "{name}"
            );
            // The 40-wide, 28-high file, said as width × height.
            assert!(
                err.contains("resized from 40×28 to 32×32 pixels (width × height)"),
                "{name}: {err}"
            );
            assert_eq!(e["input"]["channels"], 3, "{name}");
        }
    }
}

/// A JPEG with an EXIF APP1 segment whose orientation tag is `orientation`.
fn jpeg_with_orientation(path: &Path, orientation: u16) {
    let mut jpeg = Vec::new();
    DynamicImage::ImageRgb8(gradient(40, 20))
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    // TIFF header (big endian), one IFD entry: 0x0112 Orientation, SHORT, count 1.
    let mut tiff = b"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01".to_vec();
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    let mut app1 = b"Exif\x00\x00".to_vec();
    app1.extend_from_slice(&tiff);
    let len = (app1.len() + 2) as u16;
    let mut out = jpeg[..2].to_vec(); // SOI
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn exif_orientation_is_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let upright = tmp.path().join("upright.jpg");
    let rotated = tmp.path().join("rotated.jpg");
    jpeg_with_orientation(&upright, 1);
    jpeg_with_orientation(&rotated, 6); // stored 40 wide, shown rotated 90° clockwise
    assert_eq!(
        explain_image(&upright).0["input"]["resized_from"],
        serde_json::json!([20, 40])
    );
    assert_eq!(
        explain_image(&rotated).0["input"]["resized_from"],
        serde_json::json!([40, 20])
    );
}

#[test]
fn empty_and_truncated_images_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.png");
    std::fs::write(&empty, b"").unwrap();
    let truncated = tmp.path().join("truncated.png");
    let mut bytes = Vec::new();
    DynamicImage::ImageRgb8(gradient(40, 28))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let vit = fixture("vit");
    for (path, name) in [(&empty, "empty.png"), (&truncated, "truncated.png")] {
        fails_with(
            &[
                "explain",
                "--model",
                vit.to_str().unwrap(),
                "--image",
                path.to_str().unwrap(),
            ],
            &[name],
        );
    }
}

#[test]
fn an_image_header_announcing_a_huge_size_is_refused_before_decoding() {
    // Found by fuzzing (fuzz/corpus/image/huge-dimensions.png): a valid PNG header of
    // 207 x 2,130,706,460 pixels made the decoder ask for 1.3 TB and abort the process.
    let png = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus/image/huge-dimensions.png");
    fails_with(
        &[
            "explain",
            "--model",
            fixture("vit").to_str().unwrap(),
            "--image",
            png.to_str().unwrap(),
        ],
        &["huge-dimensions.png", "beyond calig's limit"],
    );
}
