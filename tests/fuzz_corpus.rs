//! A bounded fuzz smoke test on stable Rust: every file of fuzz/corpus/NAME/ and seeded
//! mutations of it (bit flips, truncation, duplicated and inserted bytes) go through the fuzz
//! entry points (src/fuzz_targets.rs). Any panic fails the test. The real fuzzing is
//! `cargo +nightly fuzz run NAME` (docs/robustness.md).

use std::path::Path;

fn corpus(name: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// xorshift64: reproducible mutations without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.truncate(rng.below(v.len() + 1)),
            2 if !v.is_empty() => {
                let (a, n) = (rng.below(v.len()), 1 + rng.below(16));
                let chunk: Vec<u8> = v[a..(a + n).min(v.len())].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            _ => {
                let at = rng.below(v.len() + 1);
                v.insert(at, rng.next() as u8);
            }
        }
    }
    v
}

fn smoke(name: &str, target: fn(&[u8]), mutations: usize) {
    let seeds = corpus(name);
    assert!(!seeds.is_empty(), "{name}: empty corpus");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    for s in &seeds {
        target(s);
    }
    for _ in 0..mutations {
        let s = &seeds[rng.below(seeds.len())];
        target(&mutate(s, &mut rng));
    }
}

#[test]
fn config_parsing_survives_its_corpus_and_mutations() {
    smoke("config", calig::fuzz_targets::config, 2000);
}

#[test]
fn safetensors_loading_survives_its_corpus_and_mutations() {
    smoke("safetensors", calig::fuzz_targets::safetensors, 150);
}

#[test]
fn image_decoding_survives_its_corpus_and_mutations() {
    smoke("image", calig::fuzz_targets::image, 500);
}

#[test]
fn batch_row_parsing_survives_its_corpus_and_mutations() {
    smoke("batch_rows", calig::fuzz_targets::batch_rows, 500);
}

#[test]
fn text_explanations_survive_their_corpus_and_mutations() {
    smoke("text", calig::fuzz_targets::text, 150);
}

#[test]
fn saved_explanations_survive_their_corpus_and_mutations() {
    smoke("saved", calig::fuzz_targets::saved, 400);
}

/// Every integer (indices, offsets, sizes) and every tenth float of each saved-explanation
/// seed replaced by edge values, and every array cut short by one: what parses must render (or
/// be refused) without a panic.
#[test]
fn saved_explanations_survive_structured_mutations() {
    use serde_json::Value;
    fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, bool)>) {
        match v {
            Value::Number(n) if n.is_u64() || out.len() % 10 == 0 => {
                out.push((path.clone(), false))
            }
            Value::Number(_) => {}
            Value::Array(a) => {
                out.push((path.clone(), true));
                for (i, x) in a.iter().enumerate() {
                    path.push(i.to_string());
                    leaves(x, path, out);
                    path.pop();
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    path.push(k.clone());
                    leaves(x, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    fn at<'a>(v: &'a mut Value, path: &[String]) -> &'a mut Value {
        path.iter().fold(v, |v, k| match v {
            Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
            other => &mut other[k.as_str()],
        })
    }
    let mut tried = 0;
    for seed in corpus("saved") {
        let Ok(root) = serde_json::from_slice::<Value>(&seed) else {
            continue;
        };
        let mut found = Vec::new();
        leaves(&root, &mut Vec::new(), &mut found);
        for (path, is_array) in found {
            let edits: Vec<Value> = if is_array {
                let mut a = at(&mut root.clone(), &path).as_array().unwrap().clone();
                a.pop();
                vec![Value::Array(a)]
            } else {
                [0.0, 1.0, 7.0, 1e9, -1.0, 0.5, 1e300]
                    .iter()
                    .map(|&x| serde_json::json!(x))
                    .chain([serde_json::json!(0), serde_json::json!(4_000_000_000u64)])
                    .collect()
            };
            for edit in edits {
                let mut v = root.clone();
                *at(&mut v, &path) = edit;
                calig::fuzz_targets::saved(v.to_string().as_bytes());
                tried += 1;
            }
        }
    }
    assert!(tried > 500, "{tried} mutations");
}
