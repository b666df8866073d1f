//! `calig serve [--model M]... [--run DIR]... [--port P] [--host H]`: a local HTTP server with
//! an interactive page and a run browser over a JSON API (docs/serve.md). Models are loaded once, at start; each
//! runs one job at a time on its own worker behind a bounded queue (queue.rs); the page and its
//! script are embedded in the binary (page.rs, assets/), and the page uses only the API
//! (api.rs, runs.rs for the `--run` directories).

mod api;
mod guard;
mod page;
mod queue;
mod run_example;
mod runs;
mod upload;

use super::RuntimeArgs;
use anyhow::{bail, Context, Result};
use calig::model::load::default_model;
use calig::model::LoadedModel;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// A model to serve (built-in name, checkpoint directory or cached hub id); repeat for
    /// several. Default: minilm-sst2.
    #[arg(long = "model")]
    models: Vec<String>,
    /// A `calig eval` output directory to browse at /runs; repeat for several. Requests never
    /// read files outside these directories.
    #[arg(long = "run", value_name = "DIR")]
    runs: Vec<PathBuf>,
    /// The port to listen on (0: any free port; the address is printed).
    #[arg(long, default_value = "8686")]
    port: u16,
    /// The address to bind. Anything but a loopback address makes the server reachable from
    /// other machines (it has no authentication): a warning says so.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Requests that may wait for each model while it runs another; one more is refused with
    /// 503 and Retry-After.
    #[arg(long, default_value = "4", value_parser = clap::value_parser!(u16).range(1..))]
    queue: u16,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// A loaded model, the name requests use for it, and its worker.
pub struct Served {
    pub name: String,
    pub model: Arc<LoadedModel>,
    pub worker: queue::Worker,
    /// The model's content hash (calig eval's cache key), computed when a run first needs it.
    pub hash: std::sync::OnceLock<Option<String>>,
}

/// What every request handler shares.
pub struct State {
    pub models: Vec<Served>,
    /// The `--run` directories, canonical: the only places a request may name a file in.
    pub roots: Vec<PathBuf>,
}

impl State {
    /// The served model called `name` (its command-line name or its source's name).
    pub fn model(&self, name: Option<&str>) -> Option<&Served> {
        match name {
            None => self.models.first(),
            Some(n) => self
                .models
                .iter()
                .find(|s| s.name == n || s.model.source.name() == n),
        }
    }
}

pub fn run(a: ServeArgs) -> Result<()> {
    let mut roots = Vec::new();
    for r in &a.runs {
        let c = r
            .canonicalize()
            .with_context(|| format!("--run {}: cannot open the directory", r.display()))?;
        if !c.is_dir() {
            bail!("--run {}: not a directory", r.display());
        }
        roots.push(c);
    }
    let names = if a.models.is_empty() {
        vec![default_model(true).to_string()]
    } else {
        a.models.clone()
    };
    let mut models = Vec::new();
    for name in &names {
        if models.iter().any(|s: &Served| &s.name == name) {
            bail!("--model {name} is given twice");
        }
        let model = Arc::new(a.runtime.load(name)?);
        let worker = queue::Worker::start(name, model.clone(), a.queue as usize)?;
        models.push(Served {
            name: name.clone(),
            model,
            worker,
            hash: Default::default(),
        });
    }
    let state = Arc::new(State { models, roots });
    let addr = SocketAddr::new(a.host, a.port);
    if !a.host.is_loopback() {
        eprintln!(
            "warning: binding {addr}: the server is reachable from other machines and has no \
             authentication; anyone who reaches it can run the models"
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        // Tests and scripts read this line for the port.
        println!("calig serve: listening on http://{local}/");
        use std::io::Write;
        std::io::stdout().flush()?;
        let mut app = api::routes()
            .merge(runs::routes())
            .merge(page::routes())
            .with_state(state);
        if local.ip().is_loopback() {
            let allowed = guard::loopback_hosts(local.port());
            app = app.layer(axum::middleware::from_fn(move |req, next| {
                guard::check_host(allowed.clone(), req, next)
            }));
        }
        axum::serve(listener, app).await?;
        Ok(())
    })
}
