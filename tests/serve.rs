//! `calig serve` end to end: a real server on a loopback port (port 0, read back from its first
//! line), spoken to over plain HTTP/1.1. The API's answers equal `calig explain/predict --format
//! json` on the same input; bad requests get a 4xx with a message; a full queue answers 503 with
//! Retry-After and the server survives a burst; paths outside the --run directories are refused.

mod common;

use common::fixture;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `calig serve` process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_calig"))
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start calig serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(addr) = line
            .trim()
            .strip_prefix("calig serve: listening on http://")
            .map(|a| a.trim_end_matches('/').to_string())
        else {
            let mut err = String::new();
            let _ = child.kill();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("calig serve did not start: {line:?} {err}");
        };
        Self { child, addr }
    }

    /// One request; the status, the headers (lower-case names) and the body.
    fn request(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        self.request_to(&self.addr, method, path, body)
    }

    /// [`Server::request`] with `host` in its Host header.
    fn request_to(&self, host: &str, method: &str, path: &str, body: Option<&str>) -> Response {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
        let body = body.unwrap_or("");
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let mut lines = head.lines();
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
            .collect();
        Response {
            status,
            headers,
            body: body.to_string(),
        }
    }

    fn post(&self, path: &str, body: &Value) -> Response {
        self.request("POST", path, Some(&body.to_string()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Expects `status` and an error message holding every needle.
    fn refused(&self, status: u16, needles: &[&str]) {
        assert_eq!(self.status, status, "{}", self.body);
        let msg = self.json()["error"].as_str().unwrap().to_string();
        for n in needles {
            assert!(msg.contains(n), "`{n}` not in {msg:?}");
        }
    }
}

/// Explanation JSON as printed, without its run time (the only field two runs may differ in).
fn untimed(printed: &str) -> String {
    printed
        .lines()
        .filter(|l| !l.trim_start().starts_with("\"timing_ms\""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs calig, expects success and returns its stdout.
fn printed(args: &[&str]) -> String {
    let o = common::calig(args);
    assert!(o.status.success(), "calig {args:?}: {}", common::stderr(&o));
    common::stdout(&o)
}

/// What `calig explain --format json` prints for `methods` with 8 steps and `rest`.
fn explained_in_8_steps(model: &str, methods: &str, rest: &[&str]) -> String {
    let mut args = vec![
        "explain", "--model", model, "--method", methods, "--steps", "8", "--format", "json",
    ];
    args.extend_from_slice(rest);
    printed(&args)
}

const TEXT: &str = "a gorgeous , witty movie .";

#[test]
fn explain_and_predict_answer_what_the_cli_prints() {
    let dir = fixture("bert");
    let model = dir.to_str().unwrap();
    let server = Server::start(&["--model", model]);

    let r = server.request("GET", "/api/models", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let meta = r.json();
    assert_eq!(meta["models"][0]["name"], model);
    assert!(meta["methods"].as_array().unwrap().len() >= 10);
    assert!(meta["settings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "lambda"));

    // One method: one object, as the CLI prints it.
    let api = server.post(
        "/api/explain",
        &json!({"model": model, "text": TEXT, "methods": "calig", "settings": {"steps": 8, "lambda": "0.5"}}),
    );
    assert_eq!(api.status, 200, "{}", api.body);
    let cli = printed(&[
        "explain", "--model", model, "--method", "calig", "--steps", "8", "--lambda", "0.5",
        "--format", "json", TEXT,
    ]);
    assert!(api.json().is_object());
    // The same bytes but for the run time.
    assert_eq!(untimed(&api.body), untimed(&cli));

    // Several methods, a target and a pair: an array, as the CLI prints it.
    let api = server.post(
        "/api/explain",
        &json!({"text": "a gorgeous movie", "text_pair": "it is witty", "methods": ["ig", "gae"],
                "target": "0", "settings": {"steps": 8}}),
    );
    assert_eq!(api.status, 200, "{}", api.body);
    let cli = explained_in_8_steps(
        model,
        "ig,gae",
        &["--target", "0", "--pair", "a gorgeous movie", "it is witty"],
    );
    assert_eq!(api.json().as_array().map(Vec::len), Some(2));
    assert_eq!(untimed(&api.body), untimed(&cli));

    let api = server.post("/api/predict", &json!({"text": TEXT}));
    assert_eq!(api.status, 200, "{}", api.body);
    let cli = printed(&["predict", "--model", model, "--format", "json", TEXT]);
    assert_eq!(api.body, cli);

    // The page's own API call: the HTML report's fragment for an explanation.
    let e = server
        .post(
            "/api/explain",
            &json!({"text": TEXT, "settings": {"steps": 8}}),
        )
        .json();
    let r = server.post("/api/render", &json!({"explanations": e}));
    assert_eq!(r.status, 200, "{}", r.body);
    let html = r.json()["html"].as_str().unwrap().to_string();
    assert!(html.contains("calig-report-v1") && html.contains("gorgeous"));

    // The page and its assets come from the binary.
    let page = server.request("GET", "/", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<script src=\"/app.js\">"));
    for asset in ["/app.js", "/style.css"] {
        assert_eq!(server.request("GET", asset, None).status, 200, "{asset}");
    }
}

/// Explanation JSON as printed without its run time and the image's path (an upload's
/// `input.path` is the file's name, the CLI's the path it was given).
fn untimed_unplaced(printed: &str) -> String {
    untimed(printed)
        .lines()
        .filter(|l| !l.trim_start().starts_with("\"path\""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn an_uploaded_image_is_explained_as_the_cli_explains_the_file() {
    use base64::Engine;
    let dir = fixture("vit");
    let model = dir.to_str().unwrap();
    let image = dir.join("image.png");
    let encoded = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&image).unwrap());
    let server = Server::start(&["--model", model]);
    assert_eq!(
        server.request("GET", "/api/models", None).json()["models"][0]["input"],
        "image"
    );

    let api = server.post(
        "/api/explain",
        &json!({"image": encoded, "image_name": "C:\\photos\\image.png",
                "methods": ["calig", "gae"], "settings": {"steps": 8}}),
    );
    assert_eq!(api.status, 200, "{}", api.body);
    let cli = explained_in_8_steps(model, "calig,gae", &["--image", image.to_str().unwrap()]);
    assert_eq!(untimed_unplaced(&api.body), untimed_unplaced(&cli));
    // The upload's name without its folders; no path of the server's.
    assert_eq!(api.json()[0]["input"]["path"], "image.png");

    // Drawn over the uploaded image, as the HTML report draws it.
    let r = server.post(
        "/api/render",
        &json!({"explanations": api.json(), "image": encoded}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let html = r.json()["html"].as_str().unwrap().to_string();
    assert!(html.contains("map over the image") && html.contains("data:image/png;base64,"));
    assert!(!html.contains("could not be read"), "drawn on grey");
    // Without the upload it would read `input.path`: refused.
    server
        .post("/api/render", &json!({"explanations": api.json()}))
        .refused(403, &["`image`"]);

    let explain = |body: Value| server.post("/api/explain", &body);
    explain(json!({"text": TEXT})).refused(400, &["reads images", "`image`"]);
    explain(json!({})).refused(400, &["reads images"]);
    explain(json!({"image": "not base64!"})).refused(400, &["base64"]);
    explain(json!({"image": "AAEC"})).refused(400, &["cannot decode"]);
    // Over the upload limit: 413 with the limit in the message.
    let big = "A".repeat(11_200_000);
    explain(json!({ "image": big })).refused(413, &["at most 8 MiB"]);
    assert_eq!(server.request("GET", "/api/models", None).status, 200);

    // The page asks an image model for a file, not a text.
    if let Some(browser) = chromium() {
        let dom = dump_dom(&browser, &format!("http://{}/", server.addr));
        assert!(
            dom.contains("<label class=\"wide image-only\">")
                && dom.contains("<label class=\"wide text-only\" hidden=\"\">"),
            "{dom}"
        );
    }
}

#[test]
fn bad_requests_get_a_4xx_with_a_message() {
    let dir = fixture("bert");
    let server = Server::start(&["--model", dir.to_str().unwrap()]);
    let explain = |body: Value| server.post("/api/explain", &body);
    explain(json!({"text": TEXT, "model": "nope"})).refused(404, &["`nope`", "served models"]);
    explain(json!({"text": ""})).refused(400, &["nothing to explain"]);
    explain(json!({"text": TEXT, "methods": "calig,magic"})).refused(400, &["`magic`", "gae"]);
    explain(json!({"text": TEXT, "methods": []})).refused(400, &["at least one method"]);
    explain(json!({"text": TEXT, "settings": {"steps": -3}})).refused(400, &["settings.steps"]);
    explain(json!({"text": TEXT, "settings": {"lamda": 1}})).refused(400, &["`lamda`", "lambda"]);
    explain(json!({"text": TEXT, "settings": {"steps": [1]}})).refused(400, &["settings.steps"]);
    explain(json!({"text": TEXT, "target": "maybe"})).refused(400, &["`maybe`"]);
    explain(json!({"text": TEXT, "colour": "red"})).refused(422, &["colour"]);
    explain(json!({"words": TEXT})).refused(422, &["text"]);
    server
        .request("POST", "/api/explain", Some("{not json"))
        .refused(400, &["bad request body"]);
    server
        .post("/api/predict", &json!({"text": ""}))
        .refused(400, &["nothing to classify"]);
    server
        .request("GET", "/api/nothing", None)
        .refused(404, &["no such"]);
    // The server is still there.
    assert_eq!(server.request("GET", "/api/models", None).status, 200);
}

#[test]
fn paths_outside_the_run_directories_are_refused() {
    let dir = fixture("bert");
    let run = tempfile::tempdir().unwrap();
    let inside = run.path().join("refs.txt");
    std::fs::write(&inside, "a movie\nanother film\n").unwrap();
    let outside = fixture("sst2_dev_sample.json");
    let server = Server::start(&[
        "--model",
        dir.to_str().unwrap(),
        "--run",
        run.path().to_str().unwrap(),
    ]);
    let explain = |file: &std::path::Path| {
        server.post(
            "/api/explain",
            &json!({"text": TEXT, "methods": "ig",
                    "settings": {"steps": 4, "baseline": "expected:2", "reference_data": file}}),
        )
    };
    explain(&outside).refused(403, &["outside the directories"]);
    // `..` out of the root is resolved before the check.
    explain(&run.path().join("..").join("..").join("etc").join("passwd"))
        .refused(403, &["outside"]);
    // A file inside a --run directory is read (whatever the method then makes of it).
    assert_ne!(explain(&inside).status, 403);
    // The renderer would read an image report's file: refused.
    let mut e = server
        .post("/api/explain", &json!({"text": TEXT, "methods": "gxi"}))
        .json();
    e["input"] = json!({"kind": "image", "path": "/etc/passwd", "patch_grid": [1, 1]});
    server
        .post("/api/render", &json!({"explanations": e}))
        .refused(403, &["`image`", "reads no file"]);
}

#[test]
fn a_burst_at_a_full_queue_gets_answers_or_503_never_a_hang() {
    let dir = fixture("bert");
    let server = Server::start(&["--model", dir.to_str().unwrap(), "--queue", "1"]);
    // Slow enough that the burst finds the worker busy.
    let body = json!({"text": TEXT, "methods": "calig,lig,ig", "settings": {"steps": 256}});
    let barrier = std::sync::Barrier::new(20);
    let answers: Vec<(u16, Option<String>, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let r = server.post("/api/explain", &body);
                    (
                        r.status,
                        r.header("retry-after").map(str::to_string),
                        r.json(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = answers.iter().filter(|a| a.0 == 200).count();
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(
        ok + busy.len(),
        20,
        "only 200 and 503: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(
        ok >= 1 && !busy.is_empty(),
        "{ok} answered, {} refused",
        busy.len()
    );
    for (_, retry, v) in &busy {
        assert!(
            retry.as_deref().is_some_and(|r| r.parse::<u32>().is_ok()),
            "{retry:?}"
        );
        assert!(v["error"].as_str().unwrap().contains("busy"), "{v}");
    }
    // Served again once the queue has drained.
    let r = server.post("/api/explain", &json!({"text": TEXT, "methods": "gxi"}));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_remote_address_is_bound_with_a_warning() {
    let dir = fixture("bert");
    let mut child = Command::new(env!("CARGO_BIN_EXE_calig"))
        .args(["serve", "--port", "0", "--host", "0.0.0.0", "--model"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(line.contains("listening on http://0.0.0.0:"), "{line}");
    assert!(
        err.contains("warning") && err.contains("other machines"),
        "{err}"
    );
}

#[test]
fn serves_the_builtin_default_model() {
    assert!(
        calig::model::builtin::install_root()
            .join("minilm-sst2")
            .join("model.safetensors")
            .is_file(),
        "built-in `minilm-sst2` is not installed: run scripts/test.sh (it runs `calig models install`)"
    );
    // No --model: minilm-sst2, as `calig explain` without one.
    let server = Server::start(&[]);
    let meta = server.request("GET", "/api/models", None).json();
    assert_eq!(meta["models"][0]["name"], "minilm-sst2");
    let api = server.post(
        "/api/explain",
        &json!({"text": "a gorgeous, witty movie", "methods": "calig,gae", "settings": {"steps": 16}}),
    );
    assert_eq!(api.status, 200, "{}", api.body);
    let cli = printed(&[
        "explain",
        "--method",
        "calig,gae",
        "--steps",
        "16",
        "--format",
        "json",
        "a gorgeous, witty movie",
    ]);
    assert_eq!(untimed(&api.body), untimed(&cli));
    assert_eq!(server.request("GET", "/", None).status, 200);
}

fn chromium() -> Option<std::path::PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH")?
            .to_str()?
            .split(':')
            .map(|d| std::path::Path::new(d).join(name))
            .find(|p| p.is_file())
    })
}

/// The DOM of `url` once its scripts have run (headless Chromium with a fresh profile); fails on
/// a script error.
fn dump_dom(browser: &std::path::Path, url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let o = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--virtual-time-budget=30000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(url)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "chromium failed: {err}");
    assert!(!err.contains("Uncaught"), "console errors: {err}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The page in headless Chromium: a query URL fills the form, runs the explanation through the
/// API and shows the report's map and the layer view. Without a `chromium` binary the test says
/// so and checks the page's HTML only.
#[test]
fn the_page_explains_a_query_url_in_chromium() {
    let dir = fixture("bert");
    let server = Server::start(&["--model", dir.to_str().unwrap()]);
    let Some(browser) = chromium() else {
        eprintln!("chromium not found: checking the page's HTML only (apt-get install chromium)");
        let page = server.request("GET", "/", None);
        assert!(page.body.contains("id=\"report\""));
        return;
    };
    let dom = dump_dom(
        &browser,
        &format!(
            "http://{}/?text=a%20gorgeous%20%2C%20witty%20movie%20.&methods=calig,gxi&steps=8",
            server.addr
        ),
    );
    // The form took the query; the report's maps came back, coloured; the layer view shows
    // CA-LIG's parts with coloured tokens.
    for needle in [
        "calig-report-v1",
        "<h3>calig</h3>",
        "<h3>gxi</h3>",
        "class=\"tok\" style=\"background:rgba(",
        "r (layer IG)",
        "s (fused)",
        "class=\"ltok\" title=\"#1:",
        "done in",
    ] {
        assert!(dom.contains(needle), "`{needle}` not in the page:\n{dom}");
    }
}

/// A `calig eval` output of the BERT fixture on three sentences, in `dir/out`.
fn eval_run(dir: &std::path::Path) -> std::path::PathBuf {
    let data = dir.join("data.tsv");
    std::fs::write(
        &data,
        "sentence\tlabel\na gorgeous , witty movie .\t1\na dull and tedious film\t0\nthe acting is superb\t1\n",
    )
    .unwrap();
    let out = dir.join("out");
    eval_into(
        &fixture("bert"),
        &data,
        &out,
        "calig:steps=8,ig:steps=8,gae",
        "comprehensiveness,deletion",
    );
    out
}

/// Runs `calig eval` of `model` on `data` with these methods and metrics into `out`.
fn eval_into(
    model: &std::path::Path,
    data: &std::path::Path,
    out: &std::path::Path,
    methods: &str,
    metrics: &str,
) {
    printed(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        data.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--methods",
        methods,
        "--metrics",
        metrics,
    ]);
}

#[test]
fn the_run_browser_serves_an_eval_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = eval_run(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let server = Server::start(&[
        "--model",
        fixture("bert").to_str().unwrap(),
        "--run",
        out.to_str().unwrap(),
        "--run",
        empty.to_str().unwrap(),
    ]);
    let runs = server.request("GET", "/api/runs", None).json();
    let runs = runs["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["name"], "out");
    assert_eq!(runs[0]["n"], 3);
    assert_eq!(
        runs[0]["methods"],
        json!(["calig:steps=8", "ig:steps=8", "gae"])
    );
    // A directory that is no eval output says so, and the others still list.
    assert!(runs[1]["error"].as_str().unwrap().contains("results.json"));

    let run = server.request("GET", "/api/runs/0", None);
    assert_eq!(run.status, 200, "{}", run.body);
    let run = run.json();
    let results = common::read_json(&out.join("results.json"));
    assert_eq!(run["tables"], results["tables"]);
    let examples = run["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 3);
    // Every row of per_instance.csv is in its example's values.
    let csv = std::fs::read_to_string(out.join("per_instance.csv")).unwrap();
    let mut rows = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
        let e = examples.iter().find(|e| e["id"] == f[0]).unwrap();
        let v = e["values"][f[1]][f[2]].as_f64().unwrap();
        assert_eq!(v, f[3].parse::<f64>().unwrap(), "{line}");
        rows += 1;
    }
    assert!(rows >= 3 * 3 * 2, "{rows} rows");

    server
        .request("GET", "/api/runs/2", None)
        .refused(404, &["no run `2`", "has 2"]);
    server
        .request("GET", "/api/runs/..%2F..%2Fetc", None)
        .refused(404, &["no run"]);
    server
        .request("GET", "/api/runs/1", None)
        .refused(404, &["results.json"]);
    let page = server.request("GET", "/runs", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("src=\"/runs.js\""));
    assert_eq!(server.request("GET", "/runs.js", None).status, 200);

    if let Some(browser) = chromium() {
        let dom = dump_dom(
            &browser,
            &format!(
                "http://{}/runs?run=0&metric=deletion_auc&sort=gae&example=1",
                server.addr
            ),
        );
        for needle in [
            "deletion_auc (lower is better)",
            "<td>ig:steps=8</td>",
            "example 1 (line 3",
            "gae ▲",
        ] {
            assert!(dom.contains(needle), "`{needle}` not in the page:\n{dom}");
        }
    }
}

#[test]
fn a_run_that_is_not_a_directory_is_refused_at_start() {
    let o = common::calig(&["serve", "--port", "0", "--run", "/nonexistent/run"]);
    assert!(!o.status.success());
    assert!(
        common::stderr(&o).contains("--run /nonexistent/run"),
        "{}",
        common::stderr(&o)
    );
}

#[test]
fn the_status_shows_a_running_explanations_points() {
    let dir = fixture("bert");
    let server = Server::start(&["--model", dir.to_str().unwrap()]);
    let idle = server.request("GET", "/api/status", None).json();
    assert_eq!(idle["models"][0]["running"], Value::Null);
    assert_eq!(idle["models"][0]["waiting"], 0);
    assert_eq!(idle["models"][0]["capacity"], 4);
    let body = json!({"text": TEXT, "methods": "calig", "settings": {"steps": 4096}});
    std::thread::scope(|s| {
        let slow = s.spawn(|| server.post("/api/explain", &body).status);
        let started = std::time::Instant::now();
        let mut seen = None;
        while started.elapsed() < Duration::from_secs(60) && !slow.is_finished() {
            let st = server.request("GET", "/api/status", None).json();
            let r = &st["models"][0]["running"];
            if r["points_done"].as_u64().is_some_and(|d| d > 0) {
                seen = Some(r.clone());
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let r = seen.expect("the status showed the points of the running explanation");
        assert!(
            r["points_planned"].as_u64() >= r["points_done"].as_u64(),
            "{r}"
        );
        assert!(r["seconds"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(slow.join().unwrap(), 200);
    });
    // The worker marks itself idle before it delivers the answer.
    let after = server.request("GET", "/api/status", None).json();
    assert_eq!(after["models"][0]["running"], Value::Null);
}

#[test]
fn an_examples_maps_come_from_the_runs_cache() {
    let dir = tempfile::tempdir().unwrap();
    let out = eval_run(dir.path());
    let model = fixture("bert");
    let server = Server::start(&[
        "--model",
        model.to_str().unwrap(),
        "--run",
        out.to_str().unwrap(),
    ]);
    let r = server.request("GET", "/api/runs/0/examples/1", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["example"]["text"], "a dull and tedious film");
    assert_eq!(v["missing"], json!([]));
    let es = v["explanations"].as_array().unwrap();
    let names: Vec<&str> = es.iter().map(|e| e["method"].as_str().unwrap()).collect();
    assert_eq!(names, ["calig:steps=8", "ig:steps=8", "gae"]);
    // The cached scores are what `calig explain` gives for the class the run explained.
    let predicted = v["example"]["predicted"].to_string();
    let cli: Value = serde_json::from_str(&printed(&[
        "explain",
        "--model",
        model.to_str().unwrap(),
        "--method",
        "ig",
        "--steps",
        "8",
        "--target",
        &predicted,
        "--format",
        "json",
        "a dull and tedious film",
    ]))
    .unwrap();
    assert_eq!(es[1]["tokens"], cli["tokens"]);
    assert_eq!(es[1]["logits"], cli["logits"]);
    let (a, b) = (
        es[1]["scores"].as_array().unwrap(),
        cli["scores"].as_array().unwrap(),
    );
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.as_f64().unwrap() - y.as_f64().unwrap()).abs() < 1e-9,
            "{a:?} vs {b:?}"
        );
    }
    assert_eq!(es[2]["signed"], false);
    // Its removal curves as the run stored them, per method entry.
    let deletion = &v["curves"]["gae"]["deletion"];
    assert_eq!(deletion["x"].as_array().unwrap().len(), 11);
    assert_eq!(deletion["y"].as_array().unwrap().len(), 11);
    // The three examples' curves average to the run's mean curve (curves.csv).
    let ys: Vec<Vec<f64>> = (0..3)
        .map(|i| {
            let v = server
                .request("GET", &format!("/api/runs/0/examples/{i}"), None)
                .json();
            v["curves"]["gae"]["deletion"]["y"]
                .as_array()
                .unwrap()
                .iter()
                .map(|y| y.as_f64().unwrap())
                .collect()
        })
        .collect();
    let csv = std::fs::read_to_string(out.join("curves.csv")).unwrap();
    let means: Vec<f64> = csv
        .lines()
        .filter(|l| l.starts_with("deletion,\"gae\","))
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    assert_eq!(means.len(), 11, "{csv}");
    for (k, mean) in means.iter().enumerate() {
        let ours = ys.iter().map(|y| y[k]).sum::<f64>() / 3.0;
        assert!((ours - mean).abs() < 1e-9, "point {k}: {ours} vs {mean}");
    }
    // The page draws them with the report.
    let html = server.post("/api/render", &json!({"explanations": es}));
    assert_eq!(html.status, 200, "{}", html.body);
    server
        .request("GET", "/api/runs/0/examples/9", None)
        .refused(404, &["no example `9`"]);

    // A run whose model is not served says which to serve.
    let other = Server::start(&[
        "--model",
        fixture("roberta").to_str().unwrap(),
        "--run",
        out.to_str().unwrap(),
    ]);
    other
        .request("GET", "/api/runs/0/examples/1", None)
        .refused(404, &["is not served", "--model"]);

    if let Some(browser) = chromium() {
        let dom = dump_dom(
            &browser,
            &format!("http://{}/runs?run=0&example=1", server.addr),
        );
        for needle in [
            "calig-report-v1",
            "<h3>gae</h3>",
            "a dull and tedious film",
            "removal curves of this example",
            "<polyline",
        ] {
            assert!(dom.contains(needle), "`{needle}` not in the page:\n{dom}");
        }
    }
}

#[test]
fn a_loopback_server_answers_loopback_host_names_only() {
    let dir = fixture("bert");
    let server = Server::start(&["--model", dir.to_str().unwrap()]);
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    for host in ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"] {
        let r = server.request_to(&format!("{host}:{port}"), "GET", "/api/models", None);
        assert_eq!(r.status, 200, "{host}: {}", r.body);
    }
    // A page whose own name resolves to 127.0.0.1 (DNS rebinding) is refused.
    for host in [
        format!("evil.example:{port}"),
        "localhost".into(),
        "127.0.0.1:1".into(),
    ] {
        server
            .request_to(
                &host,
                "POST",
                "/api/explain",
                Some(&json!({"text": TEXT}).to_string()),
            )
            .refused(403, &["answers requests to", &host]);
    }
}

#[test]
fn an_eraser_examples_rationale_comes_with_its_maps() {
    let dir = tempfile::tempdir().unwrap();
    let root = common::eraser_dir(dir.path());
    let out = dir.path().join("out");
    eval_into(
        &fixture("bert"),
        &root,
        &out,
        "gae,gxi",
        "comprehensiveness,token-f1",
    );
    let server = Server::start(&[
        "--model",
        fixture("bert").to_str().unwrap(),
        "--run",
        out.to_str().unwrap(),
    ]);
    let r = server.request("GET", "/api/runs/0/examples/d2", None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["example"]["evidence"], json!([[0, 3]]));
    assert_eq!(v["example"]["words"][0], "dull");
    assert_eq!(v["explanations"].as_array().unwrap().len(), 2);
    if let Some(browser) = chromium() {
        let dom = dump_dom(
            &browser,
            &format!("http://{}/runs?run=0&example=d2", server.addr),
        );
        for needle in ["human rationale", "<mark>dull</mark>", "calig-report-v1"] {
            assert!(dom.contains(needle), "`{needle}` not in the page:\n{dom}");
        }
    }
}

#[test]
fn an_image_runs_examples_are_drawn_over_their_images() {
    // Four 32x32 grey images in an idx directory, evaluated with the ViT fixture.
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    std::fs::create_dir(&idx).unwrap();
    let pixels: Vec<u8> = (0..4 * 32 * 32)
        .map(|i| ((i * 37 + i / 97) % 251) as u8)
        .collect();
    common::idx_file(&idx.join("t10k-images-idx3-ubyte"), &[4, 32, 32], &pixels);
    common::idx_file(&idx.join("t10k-labels-idx1-ubyte"), &[4], &[0, 1, 2, 3]);
    let out = dir.path().join("out");
    let vit = fixture("vit");
    eval_into(&vit, &idx, &out, "gxi,random", "deletion");
    let server = Server::start(&[
        "--model",
        vit.to_str().unwrap(),
        "--run",
        out.to_str().unwrap(),
    ]);
    let run = server.request("GET", "/api/runs/0", None).json();
    assert_eq!(run["examples"].as_array().unwrap().len(), 4);
    assert!(run["tables"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["metric"] == "deletion_auc"));
    let id = run["examples"][1]["id"].as_str().unwrap().to_string();
    let r = server.request("GET", &format!("/api/runs/0/examples/{id}"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["missing"], json!([]), "{v}");
    let es = v["explanations"].clone();
    assert_eq!(es[0]["scores_cover"], "patches");
    assert_eq!(
        v["curves"]["gxi"]["deletion"]["y"]
            .as_array()
            .unwrap()
            .len(),
        11
    );
    // The image comes with the example, for the report to draw the maps over it.
    let image = v["image"]
        .as_str()
        .expect("the example's image")
        .to_string();
    let html = server.post("/api/render", &json!({"explanations": es, "image": image}));
    assert_eq!(html.status, 200, "{}", html.body);
    let html = html.json()["html"].as_str().unwrap().to_string();
    assert!(html.contains("map over the image") && !html.contains("could not be read"));
}
