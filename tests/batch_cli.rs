//! `calig batch` end to end on the tiny BERT fixture: one explanation per row, bad rows, kill -9
//! at random points then `--resume` (no lost, no duplicated rows), shards merged back into the
//! unsharded result, and the lock against two runs on one output.

mod common;

use common::{fails_with, fixture, stderr};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const WORDS: [&str; 8] = [
    "good", "bad", "movie", "plot", "dull", "witty", "long", "fun",
];

/// `n` rows of short texts, ids r0, r1, ….
fn rows(dir: &Path, n: usize) -> PathBuf {
    let p = dir.join("in.jsonl");
    let body: String = (0..n)
        .map(|i| {
            let text: Vec<&str> = (0..3 + i % 5).map(|j| WORDS[(i * 3 + j) % 8]).collect();
            format!("{{\"id\": \"r{i}\", \"text\": \"{}\"}}\n", text.join(" "))
        })
        .collect();
    std::fs::write(&p, body).unwrap();
    p
}

fn batch_cmd(input: &Path, output: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_calig"));
    c.args([
        "batch",
        "--model",
        fixture("bert").to_str().unwrap(),
        "--method",
        "calig",
    ])
    .args(["--steps", "20", "--input", input.to_str().unwrap()])
    .args(["--output", output.to_str().unwrap()])
    .args(extra);
    c
}

fn run_ok(mut c: Command) -> String {
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    stderr(&o)
}

/// The output's records without their timing, in file order.
fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("timing_ms");
            v
        })
        .collect()
}

#[test]
fn every_row_gets_its_explanation_with_line_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let input = rows(dir.path(), 5);
    let out = dir.path().join("out.jsonl");
    let err = run_ok(batch_cmd(&input, &out, &[]));
    assert!(err.contains("5 rows explained"), "{err}");
    let r = records(&out);
    assert_eq!(r.len(), 5);
    for (i, v) in r.iter().enumerate() {
        assert_eq!(v["line"], i + 1);
        assert_eq!(v["id"], format!("r{i}"));
        assert_eq!(v["method"], "calig");
        assert_eq!(v["schema"], 1);
    }
    // The same numbers as `calig explain` of the row's text.
    let o = common::calig(&[
        "explain",
        "--model",
        fixture("bert").to_str().unwrap(),
        "--steps",
        "20",
        "--format",
        "json",
        r[2]["input"]["text"].as_str().unwrap(),
    ]);
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(e["scores"], r[2]["scores"]);
    // A second run without --resume refuses to touch the results.
    let o = batch_cmd(&input, &out, &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--resume"), "{}", stderr(&o));
}

#[test]
fn bad_rows_fail_or_are_skipped_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"id\": \"a\", \"text\": \"good fun\"}\n{\"id\": \"b\", \"text\": \"  \"}\nnot json\n{\"id\": \"d\", \"text\": \"dull\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let o = batch_cmd(&input, &out, &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("line 2 (id b)"), "{}", stderr(&o));
    assert_eq!(records(&out).len(), 1, "rows before the bad one are kept");
    let err = run_ok(batch_cmd(&input, &out, &["--resume", "--on-error", "skip"]));
    assert!(err.contains("2 skipped"), "{err}");
    let lines: Vec<u64> = records(&out)
        .iter()
        .map(|v| v["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [1, 4]);
    let side = std::fs::read_to_string(format!("{}.errors.jsonl", out.display())).unwrap();
    assert!(
        side.contains("\"line\":2") && side.contains("\"line\":3"),
        "{side}"
    );
}

/// Kills the run at `points` pseudo-random moments (5–405 ms after each start, so every kill
/// lands mid-run: `n_rows` is sized for that), resuming each time, then finishes it; the result
/// must equal an uninterrupted run.
fn kill_and_resume(points: usize, n_rows: usize) {
    let dir = tempfile::tempdir().unwrap();
    let input = rows(dir.path(), n_rows);
    let clean = dir.path().join("clean.jsonl");
    run_ok(batch_cmd(&input, &clean, &[]));
    let out = dir.path().join("out.jsonl");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut killed = 0;
    for _ in 0..points {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut child = batch_cmd(&input, &out, &["--resume"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + state % 400));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    run_ok(batch_cmd(&input, &out, &["--resume"]));
    eprintln!("{killed} of {points} runs killed with SIGKILL before they finished");
    assert!(
        killed >= points / 2,
        "too few kills ({killed}) to test anything"
    );
    assert_eq!(records(&out), records(&clean), "after {killed} kills");
}

#[test]
fn kill_9_at_random_points_then_resume_loses_and_duplicates_nothing() {
    kill_and_resume(20, 300);
}

/// The longer version of the kill test (issue 10: at least 50 kill points); a command, not
/// part of the CI suite: `cargo test --test batch_cli -- --ignored`.
#[test]
#[ignore]
fn kill_9_at_fifty_random_points() {
    kill_and_resume(50, 700);
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = rows(dir.path(), 11);
    let whole = dir.path().join("whole.jsonl");
    run_ok(batch_cmd(&input, &whole, &[]));
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("shard{i}.jsonl"));
            run_ok(batch_cmd(&input, &p, &["--shard", &format!("{i}/3")]));
            p
        })
        .collect();
    let merged = dir.path().join("merged.jsonl");
    let mut args = vec!["batch", "--merge", "--output", merged.to_str().unwrap()];
    args.extend(shards.iter().map(|p| p.to_str().unwrap()));
    let o = common::calig(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(records(&merged), records(&whole));
    fails_with(
        &[
            "batch",
            "--merge",
            "--output",
            merged.to_str().unwrap(),
            shards[0].to_str().unwrap(),
            shards[0].to_str().unwrap(),
        ],
        &["input line 1 is also in"],
    );
}

#[test]
fn two_runs_on_one_output_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = rows(dir.path(), 400);
    let out = dir.path().join("out.jsonl");
    let mut first = batch_cmd(&input, &out, &[])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = PathBuf::from(format!("{}.lock", out.display()));
    for _ in 0..500 {
        if lock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(lock.exists(), "the first run never took its lock");
    let o = batch_cmd(&input, &out, &["--resume"]).output().unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("another calig run"), "{}", stderr(&o));
}

/// A row without its class under `--target-column` is a bad row, not an explanation of the
/// predicted class; a CSV whose last quote is never closed is refused, naming the line; an `id`
/// column is used without `--id-column` and a `text` column is found in a TSV.
#[test]
fn missing_targets_unclosed_quotes_and_default_columns() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(
        &input,
        "{\"text\": \"good fun\", \"label\": \"positive\"}\n{\"text\": \"dull\"}\n",
    )
    .unwrap();
    let out = dir.path().join("out.jsonl");
    let b = fixture("bert");
    let (i, o) = (input.to_str().unwrap(), out.to_str().unwrap());
    let m = b.to_str().unwrap();
    let base = [
        "batch", "--model", m, "--method", "gxi", "--input", i, "--output", o,
    ];
    fails_with(
        &[&base[..], &["--target-column", "label"]].concat(),
        &["line 2", "no target field `label`"],
    );
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "text,label\nfine,positive\n\"never closed,negative\n").unwrap();
    let args = [
        "batch",
        "--model",
        m,
        "--method",
        "gxi",
        "--input",
        csv.to_str().unwrap(),
        "--output",
        o,
    ];
    std::fs::remove_file(&out).ok();
    fails_with(&args, &["line 3", "never closed"]);
    let tsv = dir.path().join("in.tsv");
    std::fs::write(&tsv, "id\ttext\nrow-a\tgood fun\nrow-b\tdull\n").unwrap();
    std::fs::remove_file(&out).ok();
    let o2 = common::calig(&[
        "batch",
        "--model",
        m,
        "--method",
        "gxi",
        "--input",
        tsv.to_str().unwrap(),
        "--output",
        o,
    ]);
    assert!(o2.status.success(), "{}", stderr(&o2));
    let ids: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["row-a", "row-b"]);
}
