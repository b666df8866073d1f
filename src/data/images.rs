//! Image data sets: the idx files of MNIST and Fashion-MNIST (plain or gzipped, e.g. Debian's
//! `dataset-fashion-mnist` in /usr/share/datasets/fashion-mnist), and folders of images with
//! one sub-folder per class (torchvision's ImageFolder layout).

use super::{Example, ImageData};
use crate::error::{CaligError, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn invalid(path: &Path, reason: impl Into<String>) -> CaligError {
    CaligError::InvalidFile {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The bytes of `dir/name` or of `dir/name.gz`, decompressed.
fn read_maybe_gz(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>)> {
    let plain = dir.join(name);
    if plain.is_file() {
        let bytes = std::fs::read(&plain).map_err(|e| CaligError::io(&plain, e))?;
        return Ok((plain, bytes));
    }
    let gz = dir.join(format!("{name}.gz"));
    let file = std::fs::File::open(&gz).map_err(|e| CaligError::io(&gz, e))?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| invalid(&gz, format!("not a readable gzip file: {e}")))?;
    Ok((gz, bytes))
}

/// Parses an idx file: unsigned-byte data with `dims` dimensions. Returns (shape, data).
fn parse_idx(path: &Path, bytes: &[u8], dims: u8) -> Result<(Vec<usize>, Vec<u8>)> {
    let header = 4 + 4 * dims as usize;
    if bytes.len() < header || bytes[0] != 0 || bytes[1] != 0 {
        return Err(invalid(path, "not an idx file (bad magic number)"));
    }
    if bytes[2] != 0x08 || bytes[3] != dims {
        return Err(invalid(
            path,
            format!(
                "an idx file of type 0x{:02x} with {} dimensions; expected unsigned bytes with {dims}",
                bytes[2], bytes[3]
            ),
        ));
    }
    let shape: Vec<usize> = (0..dims as usize)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n: usize = shape.iter().product();
    if bytes.len() != header + n {
        return Err(invalid(
            path,
            format!(
                "the header announces {n} values ({shape:?}) but the file holds {}",
                bytes.len() - header
            ),
        ));
    }
    Ok((shape, bytes[header..].to_vec()))
}

/// An idx data set directory: `split` "test" reads `t10k-{images-idx3,labels-idx1}-ubyte[.gz]`,
/// "train" the `train-` pair. Examples are named `<split>:<index>`, `line` = index + 1.
pub fn read_idx(dir: &Path, split: &str) -> Result<Vec<Example>> {
    let prefix = match split {
        "test" => "t10k",
        "train" => "train",
        other => {
            return Err(CaligError::InvalidInput(format!(
                "split `{other}` of an idx data set: use test or train"
            )))
        }
    };
    let (ipath, ibytes) = read_maybe_gz(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let (lpath, lbytes) = read_maybe_gz(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let (shape, pixels) = parse_idx(&ipath, &ibytes, 3)?;
    let (lshape, labels) = parse_idx(&lpath, &lbytes, 1)?;
    if lshape[0] != shape[0] {
        return Err(invalid(
            &lpath,
            format!("{} labels for {} images", lshape[0], shape[0]),
        ));
    }
    let (h, w) = (shape[1], shape[2]);
    pixels
        .chunks(h * w)
        .zip(&labels)
        .enumerate()
        .map(|(i, (px, &label))| {
            let img = image::GrayImage::from_raw(w as u32, h as u32, px.to_vec())
                .ok_or_else(|| invalid(&ipath, format!("image {i} is short")))?;
            Ok(Example {
                id: format!("{split}:{i}"),
                text: format!("{}#{i}", ipath.display()),
                text_pair: None,
                label: label as usize,
                line: i + 1,
                evidence: vec![],
                image: Some(ImageData::Decoded(Arc::new(
                    image::DynamicImage::ImageLuma8(img),
                ))),
            })
        })
        .collect()
}

const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "bmp", "gif", "tif", "webp"];

/// A folder with one sub-folder per class, named by the model's labels (`label_of` maps a
/// folder name to a class); image files sorted by path. Examples are named by their path
/// relative to `dir`; files are decoded when explained.
pub fn read_image_folder(
    dir: &Path,
    label_of: &dyn Fn(&str) -> Option<usize>,
) -> Result<Vec<Example>> {
    let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| CaligError::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    if classes.is_empty() {
        return Err(invalid(
            dir,
            "no class sub-folders (expected DIR/<label>/<image files>)",
        ));
    }
    let mut out = Vec::new();
    for class in classes {
        let name = class
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let label = label_of(&name).ok_or_else(|| {
            invalid(
                &class,
                format!("folder `{name}` is not a class of the model"),
            )
        })?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&class)
            .map_err(|e| CaligError::io(&class, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            })
            .collect();
        files.sort();
        for f in files {
            let rel = f.strip_prefix(dir).unwrap_or(&f).display().to_string();
            out.push(Example {
                id: rel.clone(),
                text: rel,
                text_pair: None,
                label,
                line: out.len() + 1,
                evidence: vec![],
                image: Some(ImageData::File(f)),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn idx_pairs_read_plain_and_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        let images = idx(&[2, 2, 3], &[0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]);
        std::fs::write(dir.path().join("t10k-images-idx3-ubyte"), &images).unwrap();
        let labels = idx(&[2], &[7, 3]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &labels).unwrap();
        std::fs::write(
            dir.path().join("t10k-labels-idx1-ubyte.gz"),
            gz.finish().unwrap(),
        )
        .unwrap();
        let ex = read_idx(dir.path(), "test").unwrap();
        assert_eq!(ex.len(), 2);
        assert_eq!((ex[0].label, ex[1].label), (7, 3));
        let Some(ImageData::Decoded(img)) = &ex[1].image else {
            panic!()
        };
        assert_eq!((img.width(), img.height()), (3, 2));
        assert_eq!(img.to_luma8().into_raw(), vec![10, 11, 12, 13, 14, 15]);
        // A label file that disagrees, and a short image file, are named.
        std::fs::write(
            dir.path().join("t10k-images-idx3-ubyte"),
            &images[..images.len() - 1],
        )
        .unwrap();
        let e = read_idx(dir.path(), "test").unwrap_err().to_string();
        assert!(
            e.contains("t10k-images-idx3-ubyte") && e.contains("announces 12 values"),
            "{e}"
        );
        assert!(read_idx(dir.path(), "val").is_err());
    }

    #[test]
    fn image_folders_map_folders_to_classes() {
        let dir = tempfile::tempdir().unwrap();
        for (class, files) in [
            ("cat", vec!["b.png", "a.png", "notes.txt"]),
            ("dog", vec!["c.jpg"]),
        ] {
            std::fs::create_dir(dir.path().join(class)).unwrap();
            for f in files {
                std::fs::write(dir.path().join(class).join(f), b"x").unwrap();
            }
        }
        let label_of = |s: &str| ["cat", "dog"].iter().position(|c| *c == s);
        let ex = read_image_folder(dir.path(), &label_of).unwrap();
        let names: Vec<&str> = ex.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(names, ["cat/a.png", "cat/b.png", "dog/c.jpg"]);
        assert_eq!(ex[2].label, 1);
        let only_cat = |s: &str| (s == "cat").then_some(0);
        let e = read_image_folder(dir.path(), &only_cat)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`dog` is not a class"), "{e}");
    }
}
