//! Looking at the report the way a person will: headless Chromium renders `report.html`
//! into `report.png` for whoever reads the run's output, and the page's DOM and console
//! are checked (one marker per fault, no console errors).

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Chromium, if installed (Debian's `chromium`, or `chromium-browser`).
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

fn headless(chromium: &Path, extra: &[String], page: &Path) -> Result<(String, String)> {
    let out = Command::new("timeout")
        .arg("120")
        .arg(chromium)
        .args(cluster_tests::HEADLESS_CHROMIUM_FLAGS)
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .with_context(|| format!("running {}", chromium.display()))?;
    if !out.status.success() {
        bail!(
            "{} exited with {}: {}",
            chromium.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Console messages Chromium logged for the page (its `CONSOLE` lines and uncaught errors).
pub fn console_errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains(":ERROR:CONSOLE"))
        .map(String::from)
        .collect()
}

/// What Chromium saw of the page: how many fault markers its DOM holds, and the console
/// errors it logged. Also writes `report.png` next to the page.
pub struct Look {
    pub markers: usize,
    pub console_errors: Vec<String>,
    pub screenshot: PathBuf,
}

pub fn look(chromium: &Path, page: &Path) -> Result<Look> {
    let page = std::fs::canonicalize(page)?;
    let dir = page.parent().unwrap_or(Path::new("."));
    let shot = dir.join("report.png");
    let (_, err1) = headless(
        chromium,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1400".into(),
            "--hide-scrollbars".into(),
        ],
        &page,
    )?;
    let (dom, err2) = headless(chromium, &["--dump-dom".into()], &page)?;
    if !shot.exists() {
        bail!("chromium wrote no screenshot at {}", shot.display());
    }
    let mut errors = console_errors(&err1);
    errors.extend(console_errors(&err2));
    Ok(Look {
        markers: dom.matches(r#"class="fault-marker""#).count(),
        console_errors: errors,
        screenshot: shot,
    })
}
