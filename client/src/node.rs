//! Commands that talk to one running node: `ping`, `info`.

use crate::conn::Target;
use anyhow::{Context, Result};

pub fn ping(t: &Target) -> Result<()> {
    let mut con = t.connect()?;
    let reply: String = redis::cmd("PING")
        .query(&mut con)
        .with_context(|| format!("PING {}", t.addr()))?;
    println!("{reply}");
    Ok(())
}

pub fn info(t: &Target, section: Option<&str>) -> Result<()> {
    let mut con = t.connect()?;
    let mut cmd = redis::cmd("INFO");
    if let Some(s) = section {
        cmd.arg(s);
    }
    let text: String = cmd
        .query(&mut con)
        .with_context(|| format!("INFO on {}", t.addr()))?;
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(())
}
