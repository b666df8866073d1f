//! Uploaded images: the file's bytes in a JSON field as base64 (a `data:` URL's prefix is
//! allowed), decoded with calig's own decoder (model::image::decode_bytes: the same limits and
//! EXIF orientation as `calig explain --image FILE`, so the same file gives the same pixels).
//! A request never names a file on the server. An upload over [`MAX_IMAGE_BYTES`] is refused with
//! 413, and so is any body over [`BODY_LIMIT`].

use super::api::ApiError;
use axum::http::StatusCode;
use base64::Engine;
use std::path::Path;
use std::sync::Arc;

/// The largest image file a request may upload.
pub const MAX_IMAGE_BYTES: usize = 8 << 20;
/// base64 characters for [`MAX_IMAGE_BYTES`].
const MAX_ENCODED: usize = MAX_IMAGE_BYTES.div_ceil(3) * 4;
/// The largest request body: an upload at the limit and room for the other fields.
pub const BODY_LIMIT: usize = MAX_ENCODED + (1 << 20);

/// The 413 message, for an upload or a body over the limits.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the upload is too large: an image file may be at most {} MiB (a request body at \
             most {} MiB)",
            MAX_IMAGE_BYTES >> 20,
            BODY_LIMIT >> 20
        ),
    )
}

/// What `input.path` says for an upload: the file's name as the client gives it without any
/// folder (a client's path is not a path here), or `upload`.
pub fn display_name(name: Option<&str>) -> String {
    name.and_then(|n| n.rsplit(['/', '\\']).next())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("upload")
        .to_string()
}

/// The uploaded file's bytes from base64 (standard alphabet, padded; a `data:...;base64,`
/// prefix is taken off).
fn bytes(encoded: &str) -> Result<Vec<u8>, ApiError> {
    let data = match encoded.strip_prefix("data:") {
        Some(url) => url.split_once(',').map_or(url, |(_, d)| d),
        None => encoded,
    };
    if data.len() > MAX_ENCODED {
        return Err(too_large());
    }
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ApiError::bad(format!("`image` is not base64: {e}")))
}

/// The uploaded image decoded; `name` stands for its path in errors.
pub fn decode(encoded: &str, name: &str) -> Result<Arc<image::DynamicImage>, ApiError> {
    let raw = bytes(encoded)?;
    if raw.is_empty() {
        return Err(ApiError::bad("`image` is empty: upload an image file"));
    }
    // A file that is not an image is the client's error, not the server's.
    let img = calig::model::image::decode_bytes(&raw, Path::new(name))
        .map_err(|e| ApiError::bad(e.to_string()))?;
    Ok(Arc::new(img))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_folders_and_oversize_uploads_are_413() {
        assert_eq!(display_name(Some("C:\\pics\\shirt.png")), "shirt.png");
        assert_eq!(display_name(Some("/etc/x.png")), "x.png");
        assert_eq!(display_name(None), "upload");
        let big = "A".repeat(MAX_ENCODED + 4);
        let e = bytes(&big).unwrap_err();
        assert!(e.message().contains("at most 8 MiB"));
        assert_eq!(bytes("data:image/png;base64,AAEC").unwrap(), vec![0, 1, 2]);
    }
}
