//! The command line: `lmtally report` and `lmtally serve`.

use crate::batch::{self, ServerSpec};
use crate::core::report::Snapshot;
use crate::core::{Model, Options, UserIdentity};
use crate::export::{self, Col};
use clap::{Parser, Subcommand, ValueEnum};
use lmtally_parsers::date::{parse_iso_day, Day};
use lmtally_parsers::UsageKind;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "lmtally",
    version,
    about = "Exact Realtime Users Count from FlexLM / FlexNet debug logs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read log files once and write the report body (what the endpoint returns).
    Report(ReportArgs),
    /// Run the daemon: read the configured logs and serve the report API.
    Serve(ServeArgs),
    /// Check a configuration file and this machine against it; exit 0 only when all is well.
    ///
    /// Besides every key and value, it checks that each log pattern's directory exists and can be
    /// read, the `listen` port is free, `tokens_file` can be read and `data_dir` written. Every
    /// problem is printed, one a line: FILE:LINE: `key`: message.
    CheckConfig(ServeArgs),
    /// Drop the daemon's stored aggregates and read every configured log again (after changing
    /// user_identity, fold_case or count_unsupported_as_denial). Stop the daemon first.
    Rebuild(RebuildArgs),
}

#[derive(clap::Args, Debug)]
pub struct RebuildArgs {
    /// The daemon's configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
    Xlsx,
}

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A license server and its log files: NAME=PATH[,PATH...] (repeatable; a PATH may be a
    /// glob pattern, quoted for the shell).
    #[arg(long = "server", value_name = "NAME=PATH[,PATH...]", required = true, value_parser = parse_server)]
    pub servers: Vec<ServerSpec>,
    /// Licensing model.
    #[arg(long, value_name = "2019|2013", value_parser = parse_model, default_value = "2019")]
    pub model: Model,
    /// First day (YYYY-MM-DD); default the earliest day with data.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub sd: Option<Day>,
    /// Last day (YYYY-MM-DD); default today.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub ed: Option<Day>,
    /// What "today" is, for the default last day; default the local date.
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub today: Option<Day>,
    /// What identifies a user.
    #[arg(long, value_name = "user|user@host", value_parser = parse_identity, default_value = "user")]
    pub user_identity: UserIdentity,
    /// Lower-case user and host names before comparing them.
    #[arg(long)]
    pub fold_case: bool,
    /// Count UNSUPPORTED lines as denials.
    #[arg(long)]
    pub count_unsupported: bool,
    #[arg(long, value_enum, default_value = "json")]
    pub format: Format,
    /// Write the body here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print per-file line counts on standard error.
    #[arg(long)]
    pub stats: bool,
}

fn parse_server(s: &str) -> Result<ServerSpec, String> {
    let (name, paths) = s
        .split_once('=')
        .ok_or_else(|| format!("'{s}' is not NAME=PATH[,PATH...]"))?;
    if name.is_empty() {
        return Err(format!("'{s}': the server name is empty"));
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in paths.split(',') {
        if pattern.is_empty() {
            return Err(format!("'{s}': an empty path"));
        }
        // A glob (`*`, `?`, `[`) gives its files in name order, as in the configuration.
        let matched = crate::config::expand(pattern);
        if matched.is_empty() {
            return Err(format!("'{pattern}' matches no file"));
        }
        files.extend(matched);
    }
    Ok(ServerSpec {
        name: name.to_string(),
        files,
    })
}

fn parse_model(s: &str) -> Result<Model, String> {
    Model::parse(s).ok_or_else(|| format!("'{s}' is not 2019 or 2013"))
}

fn parse_day(s: &str) -> Result<Day, String> {
    parse_iso_day(s).ok_or_else(|| format!("'{s}' is not a date YYYY-MM-DD that exists"))
}

fn parse_identity(s: &str) -> Result<UserIdentity, String> {
    match s {
        "user" => Ok(UserIdentity::User),
        "user@host" => Ok(UserIdentity::UserAtHost),
        _ => Err(format!("'{s}' is not user or user@host")),
    }
}

/// Today's date on this machine's clock, in its time zone.
pub fn local_today() -> Day {
    lmtally_parsers::date::day_of(crate::config::local_now(None))
}

/// Runs the command line; returns the exit status.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                };
            }
            // One line, naming the argument.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            eprintln!("lmtally: {}", first.trim_start_matches("error: "));
            return 2;
        }
    };
    match cli.command {
        Command::Report(args) => match report(&args) {
            Ok(()) => 0,
            Err(msg) => {
                eprintln!("lmtally: {msg}");
                2
            }
        },
        Command::Serve(args) => serve(&args),
        Command::CheckConfig(args) => check_config(&args),
        Command::Rebuild(args) => {
            init_logging();
            match rebuild(&args) {
                Ok(()) => 0,
                Err(msg) => {
                    eprintln!("lmtally: {msg}");
                    1
                }
            }
        }
    }
}

/// `lmtally rebuild --config FILE`, with a progress bar when standard error is a terminal.
fn rebuild(args: &RebuildArgs) -> Result<(), String> {
    use std::io::IsTerminal;
    let config = crate::config::Config::load(&args.config).map_err(|errs| {
        errs.iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    let data_dir = config.data_dir.clone();
    let tty = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let mut last_draw = None::<std::time::Instant>;
    let mut last = (0u64, 0u64);
    crate::engine::rebuild(config, |done, total| {
        last = (done, total);
        if tty && last_draw.is_none_or(|t| t.elapsed().as_millis() >= 100) {
            last_draw = Some(std::time::Instant::now());
            eprint!(
                "\r{}",
                progress_bar(done, total, started.elapsed().as_secs_f64())
            );
        }
    })?;
    if tty {
        eprintln!(
            "\r{}",
            progress_bar(last.0, last.1, started.elapsed().as_secs_f64())
        );
    }
    eprintln!(
        "lmtally: rebuilt {} from {:.1} MiB of logs in {:.1} s",
        data_dir.display(),
        last.1 as f64 / 1048576.0,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `[#########...........]  45%  123.4/274.0 MiB  12.3 s`
fn progress_bar(done: u64, total: u64, secs: f64) -> String {
    const WIDTH: usize = 30;
    let frac = if total == 0 {
        1.0
    } else {
        done as f64 / total as f64
    };
    let filled = ((frac * WIDTH as f64) as usize).min(WIDTH);
    format!(
        "[{}{}] {:>3.0}%  {:.1}/{:.1} MiB  {:.1} s",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        frac * 100.0,
        done as f64 / 1048576.0,
        total as f64 / 1048576.0,
        secs
    )
}

/// `lmtally check-config`: problems and notes on standard error (`FILE:LINE: `key`: message`),
/// a summary on standard output when all is well; exit 0 when all is well, else 2.
fn check_config(args: &ServeArgs) -> i32 {
    let report = crate::check::check_file(&args.config);
    for p in &report.problems {
        eprintln!("{p}");
    }
    for n in &report.notes {
        let mut n = n.clone();
        n.msg = format!("note: {}", n.msg);
        eprintln!("{n}");
    }
    match (&report.config, report.ok()) {
        (Some(c), true) => {
            let files: usize = c.resolve_logs().iter().map(|s| s.files.len()).sum();
            println!(
                "{}: ok ({} license server(s), {} log file(s) now, listen {})",
                args.config.display(),
                c.servers.len(),
                files,
                c.listen
            );
            0
        }
        _ => {
            eprintln!(
                "lmtally: {}: {} problem(s)",
                args.config.display(),
                report.problems.len()
            );
            2
        }
    }
}

/// Logs on standard error, journald-friendly under systemd; the filter comes from `RUST_LOG`
/// (default `info`). See [`crate::logging`].
fn init_logging() {
    crate::logging::init();
}

/// Registers SIGINT and SIGTERM now (so that a signal that comes early is not lost, nor kills the
/// process); the future resolves on the first of them. Needs a runtime.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT: stopping"),
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        }
    })
}

/// `lmtally serve`: configuration and tokens first (every problem printed, exit 2), then the
/// listener is bound (so `/api/v1/status` answers `caught_up: false` while the logs are read),
/// the store is opened, systemd is told `READY=1`, then the logs are read. Stops cleanly on SIGINT/SIGTERM (exit 0);
/// SIGHUP reloads the tokens and the server list (see [`reload`]).
///
/// Under systemd (`Type=notify`): `READY=1` once the listener is bound and the store is open,
/// `STATUS=` with the
/// catch-up progress, `WATCHDOG=1` at half of `WATCHDOG_USEC` while the shared state is sound,
/// `RELOADING=1`/`READY=1` around a reload, `STOPPING=1` on the way out.
fn serve(args: &ServeArgs) -> i32 {
    use crate::notify::Manager;
    use crate::server::{auth, Ctx, Server};
    use std::sync::Arc;
    init_logging();
    let config = match crate::config::Config::load(&args.config) {
        Ok(c) => c,
        Err(errors) => {
            for e in errors {
                eprintln!("{}lmtally: {e}", crate::logging::error_prefix());
            }
            return 2;
        }
    };
    let (tokens, origin) = match auth::load(&config) {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("{}lmtally: {msg}", crate::logging::error_prefix());
            return 2;
        }
    };
    log_token_origin(tokens.len(), &origin);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "{}lmtally: cannot start the runtime: {e}",
                crate::logging::error_prefix()
            );
            return 1;
        }
    };
    let manager = Arc::new(Manager::from_env());
    let listen = config.listen;
    let state = Arc::new(crate::state::AppState::new(config));
    let ctx = Arc::new(Ctx::new(state.clone(), tokens));
    let config_path = args.config.clone();
    let code = runtime.block_on(async move {
        let stop = match stop_signal() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot watch for SIGINT/SIGTERM: {e}");
                return 1;
            }
        };
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot watch for SIGHUP: {e}");
                return 1;
            }
        };
        let server = match Server::bind(listen, ctx.clone()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("cannot listen on {listen}: {e}");
                return 1;
            }
        };
        tracing::info!("listening on http://{}", server.local_addr());
        // Why the last reading of the logs failed, for STATUS=.
        let failed: Arc<std::sync::Mutex<Option<String>>> = Arc::default();

        // The reader: the live engine loads the store under data_dir, then follows the logs
        // (a reload only asks it to look at the new server list). If it fails (a store it cannot
        // read or write), the daemon stops with status 1; a signal stops the engine last, after
        // its final commit.
        let (reload_tx, mut reload_rx) = tokio::sync::watch::channel(0u64);
        let (engine_tx, engine_rx) = tokio::sync::watch::channel(None::<crate::engine::Stopper>);
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        {
            let (st, reader_failed) = (state.clone(), failed.clone());
            let ready = manager.clone();
            tokio::task::spawn_blocking(move || {
                let handle = match crate::engine::start(st.clone()) {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::error!("the log reader cannot start: {e}");
                        *reader_failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                        let _ = ended_tx.send(Err(e));
                        return;
                    }
                };
                // The listener is bound and the store is open: ready.
                ready.notify(&format!(
                    "READY=1\n{}",
                    crate::notify::status_message(&progress(&st, None))
                ));
                tracing::info!("following the logs");
                let _ = engine_tx.send(Some(handle.stopper()));
                let result = handle.wait();
                if let Err(e) = &result {
                    tracing::error!("the log reader failed: {e}");
                    *reader_failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                }
                let _ = ended_tx.send(result);
            });
        }
        {
            let engine_rx = engine_rx.clone();
            tokio::spawn(async move {
                while reload_rx.changed().await.is_ok() {
                    if let Some(e) = engine_rx.borrow().as_ref() {
                        e.look();
                    }
                }
            });
        }

        // STATUS= when the progress changes.
        if manager.is_active() {
            let (st, m, failed) = (state.clone(), manager.clone(), failed.clone());
            tokio::spawn(async move {
                let mut last = String::new();
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let s2 = st.clone();
                    let error = failed.lock().unwrap_or_else(|p| p.into_inner()).clone();
                    let work = move || progress(&s2, error.as_deref());
                    let Ok(text) = tokio::task::spawn_blocking(work).await else {
                        continue;
                    };
                    if text != last {
                        m.notify(&crate::notify::status_message(&text));
                        last = text;
                    }
                }
            });
        }

        // WATCHDOG=1 while the runtime runs and the shared state is sound.
        if let (true, Some(every)) = (manager.is_active(), crate::notify::watchdog_from_env()) {
            let (st, m) = (state.clone(), manager.clone());
            tracing::info!("systemd watchdog: a ping every {} ms", every.as_millis());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                let mut sick = false;
                loop {
                    tick.tick().await;
                    if st.tally.is_poisoned() || st.files.is_poisoned() {
                        if !sick {
                            tracing::error!(
                                "the log reader died holding the shared state: no more watchdog \
                                 pings, so that systemd restarts lmtally"
                            );
                            sick = true;
                        }
                        continue;
                    }
                    m.notify("WATCHDOG=1");
                }
            });
        }

        // SIGHUP: reload.
        {
            let (ctx, m) = (ctx.clone(), manager.clone());
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    m.notify(&crate::notify::reloading_message());
                    let (c, p) = (ctx.clone(), config_path.clone());
                    let reloaded = tokio::task::spawn_blocking(move || reload(&p, &c))
                        .await
                        .unwrap_or(false);
                    if reloaded {
                        reload_tx.send_modify(|n| *n += 1);
                    }
                    m.notify("READY=1");
                }
            });
        }

        let m = manager.clone();
        let code = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let code2 = code.clone();
        server
            .run(async move {
                let mut ended_rx = ended_rx;
                tokio::select! {
                    _ = stop => {
                        m.notify("STOPPING=1");
                        // The engine (once its store is loaded) commits what it read, then ends.
                        let mut engine_rx = engine_rx;
                        let stopper = tokio::select! {
                            r = engine_rx.wait_for(Option::is_some) => r.ok().and_then(|s| s.clone()),
                            r = &mut ended_rx => {
                                if !matches!(r, Ok(Ok(()))) {
                                    code2.store(1, std::sync::atomic::Ordering::SeqCst);
                                }
                                None
                            }
                        };
                        if let Some(e) = stopper {
                            e.stop();
                            if !matches!(ended_rx.await, Ok(Ok(()))) {
                                code2.store(1, std::sync::atomic::Ordering::SeqCst);
                            }
                        }
                    }
                    r = &mut ended_rx => {
                        m.notify("STOPPING=1");
                        if !matches!(r, Ok(Ok(()))) {
                            code2.store(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                }
            })
            .await;
        tracing::info!("stopped");
        code.load(std::sync::atomic::Ordering::SeqCst)
    });
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

fn log_token_origin(n: usize, origin: &crate::server::auth::Origin) {
    use crate::server::auth::Origin;
    match origin {
        Origin::Configured => tracing::info!("{n} API token(s) configured"),
        Origin::Existing(p) => {
            tracing::info!("no token configured: using the token in {}", p.display())
        }
        Origin::Generated(p) => tracing::info!(
            "no token configured: wrote a new random token to {} (mode 0600)",
            p.display()
        ),
    }
}

/// The catch-up progress of `state` for systemd's `STATUS=` (looks at the files' sizes), or why
/// the last reading failed.
fn progress(state: &crate::state::AppState, failed: Option<&str>) -> String {
    if let Some(e) = failed {
        return format!("reading the logs failed: {e} (systemctl reload lmtally to try again)");
    }
    let problem = state
        .problem
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if let Some(e) = problem {
        return format!("reading the logs failed: {e} (lmtally reads it as soon as it can)");
    }
    let caught_up = state.caught_up.load(std::sync::atomic::Ordering::SeqCst);
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let files: Vec<(u64, u64)> = match state.files.read() {
        Ok(files) => files
            .iter()
            .map(|f| (f.bytes_read, size(&f.path).max(f.bytes_read)))
            .collect(),
        Err(_) => return "the log reader failed".to_string(),
    };
    let specs = state.resolve_logs();
    let listed = if files.is_empty() {
        let paths: Vec<&std::path::PathBuf> = specs.iter().flat_map(|s| &s.files).collect();
        (paths.len(), paths.iter().map(|p| size(p)).sum())
    } else {
        (0, 0)
    };
    crate::notify::progress_text(caught_up, &files, listed, specs.len())
}

/// SIGHUP: reads the configuration file again and, if it is valid and its tokens can be
/// loaded, applies the new tokens at once and the new server list (the reader then reads the
/// logs again; the report keeps its data until the new reading is done). Anything else that
/// changed is logged as needing a restart. A bad file changes nothing: every problem is logged.
/// Returns whether the reload was applied.
pub fn reload(path: &std::path::Path, ctx: &crate::server::Ctx) -> bool {
    use crate::server::auth;
    tracing::info!("SIGHUP: reloading {}", path.display());
    let new = match crate::config::Config::load(path) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                tracing::error!("{e}");
            }
            tracing::error!(
                "SIGHUP: {} problem(s) in {}: nothing reloaded, the running configuration stays",
                errors.len(),
                path.display()
            );
            return false;
        }
    };
    let (tokens, origin) = match auth::load(&new) {
        Ok(t) => t,
        Err(msg) => {
            tracing::error!("{msg}");
            tracing::error!("SIGHUP: nothing reloaded, the running configuration stays");
            return false;
        }
    };
    log_token_origin(tokens.len(), &origin);
    ctx.set_tokens(tokens);
    let changed = ctx.state.set_servers(new.servers.clone());
    tracing::info!(
        "SIGHUP: tokens reloaded; {} license server(s){}; reading the logs again",
        new.servers.len(),
        if changed { " (changed)" } else { "" }
    );
    let restart = ctx.state.config.restart_only_changes(&new);
    if !restart.is_empty() {
        tracing::warn!(
            "SIGHUP: {} changed: not applied until lmtally is restarted",
            restart.join(", ")
        );
    }
    true
}

/// `--server` options naming the same server add files to it, in order.
fn merge_servers(specs: &[ServerSpec]) -> Vec<ServerSpec> {
    let mut out: Vec<ServerSpec> = Vec::new();
    for s in specs {
        match out.iter_mut().find(|o| o.name == s.name) {
            Some(o) => o.files.extend(s.files.iter().cloned()),
            None => out.push(s.clone()),
        }
    }
    out
}

/// Checks that no file is listed twice, then runs the report.
fn report(args: &ReportArgs) -> Result<(), String> {
    let servers = merge_servers(&args.servers);
    let mut seen = std::collections::HashSet::new();
    for s in &servers {
        for f in &s.files {
            let canon = std::fs::canonicalize(f).map_err(|e| format!("{}: {e}", f.display()))?;
            if !seen.insert(canon) {
                return Err(format!(
                    "{}: listed more than once (each file belongs to one server)",
                    f.display()
                ));
            }
        }
    }
    let opts = Options {
        user_identity: args.user_identity,
        fold_case: args.fold_case,
        count_unsupported_as_denial: args.count_unsupported,
    };
    let (tally, runs) = batch::tally(&servers, opts).map_err(|e| e.to_string())?;
    if args.stats {
        let mut err = std::io::stderr().lock();
        for run in &runs {
            let s = &run.ingest.stats;
            let _ = write!(
                err,
                "{} (server {}): lines {}",
                run.path.display(),
                servers[run.server].name,
                s.lines
            );
            for k in UsageKind::ALL {
                let _ = write!(err, ", {} {}", k.name(), s.kind(k));
            }
            let _ = writeln!(
                err,
                ", skipped {}, malformed {}, undated {}, anchors {}, resets {}",
                s.skipped,
                s.malformed,
                run.ingest.undated(),
                s.anchors,
                s.resets
            );
        }
    }
    let today = args.today.unwrap_or_else(local_today);
    let rows = Snapshot::new(&tally.agg)
        .rows(args.model, args.sd, args.ed, today)
        .map_err(|e| e.to_string())?;
    let body = match args.format {
        Format::Json => export::json_body(&rows, rows.len()).into_bytes(),
        Format::Csv => export::csv_body(&rows, &Col::ALL),
        Format::Xlsx => export::xlsx_body(&rows, &Col::ALL, "Realtime Users Count")?,
    };
    match &args.output {
        Some(path) => std::fs::write(path, &body).map_err(|e| format!("{}: {e}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&body)
                .and_then(|_| out.flush())
                .map_err(|e| format!("standard output: {e}"))
        }
    }
}
